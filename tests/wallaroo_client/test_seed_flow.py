"""The seed tutorial's flow, automated: token → workspace → external URL → batched inference."""

from __future__ import annotations

import re
import threading
import time

import pytest

from wallaroo_operator.wallaroo import (
    AmbiguousWorkspace,
    BatchProgress,
    InferenceCancelled,
    PipelineNotFound,
    RequestRejected,
    TokenCache,
    WallarooApi,
    WorkspaceNotFound,
    connection_urls,
    deployment_name_from_url,
    run_inference,
    token_url_for,
)
from wallaroo_operator.wallaroo.http import new_session
from wallaroo_simulator import RunningSimulator, default_config, run_simulator

from .conftest import (
    ALOHA,
    CCFRAUD,
    FAST_RETRY,
    aloha_rows,
    ccfraud_rows,
    credentials_for,
    expected,
    grants,
    provider_for,
    requests_to,
    resolver_for,
)


@pytest.mark.parametrize("rows", [1, 1000])
def test_seed_flow_legacy_format(sim: RunningSimulator, api: WallarooApi, rows: int) -> None:
    """data-1.json and data-1k.json shaped input, as the tutorial posts it."""
    data = aloha_rows(rows)
    resolver = resolver_for(api, ALOHA)
    assert resolver().endswith("/v1/api/pipelines/infer/urldemopipeline-5")
    outcome = run_inference(
        resolver,
        data,
        input_name="text_input",
        batch_size=100,
        parallelism=4,
        tokens=api.tokens,
        verify=sim.verify,
        retry=FAST_RETRY,
    )
    assert outcome.outputs == expected(sim, "urldemopipeline", data, legacy=True)
    assert (outcome.rows, outcome.batches, outcome.retries, outcome.relogins) == (rows, -(-rows // 100), 0, 0)
    assert len(outcome.outputs[0]) == 15
    assert sim.admin.counters()["pipelines"]["urldemopipeline"]["rows"] == rows


@pytest.mark.parametrize(
    ("target", "input_name", "make_rows"), [(ALOHA, "text_input", aloha_rows), (CCFRAUD, "tensor", ccfraud_rows)]
)
def test_pandas_records_format(
    sim: RunningSimulator, api: WallarooApi, target: tuple[str, str], input_name: str, make_rows
) -> None:
    data = make_rows(250)
    outcome = run_inference(
        resolver_for(api, target),
        data,
        input_name=input_name,
        request_format="pandas-records",
        batch_size=64,
        parallelism=3,
        tokens=api.tokens,
        verify=sim.verify,
    )
    assert outcome.outputs == expected(sim, target[1], data, legacy=False)


def test_current_url_form_legacy_format(sim: RunningSimulator, api: WallarooApi) -> None:
    data = ccfraud_rows(10)
    resolver = resolver_for(api, CCFRAUD)
    assert resolver().endswith("/infer/ccfraudpipeline-14/ccfraudpipeline")
    assert deployment_name_from_url(resolver()) == "ccfraudpipeline-14"
    outcome = run_inference(resolver, data, input_name="tensor", batch_size=3, tokens=api.tokens)
    assert outcome.outputs == expected(sim, "ccfraudpipeline", data, legacy=True)
    summary = outcome.summary()["output_0"]
    values = [row["output_0"][0] for row in outcome.outputs]
    assert (summary.count, summary.min, summary.max) == (10, min(values), max(values))


def test_same_host_token_endpoint_of_2024_installs(sim: RunningSimulator) -> None:
    assert token_url_for(sim.api_url) == sim.token_url
    api = WallarooApi(sim.api_url, provider_for(sim, token_url_for(sim.api_url)))
    assert api.workspace_id("urldemoworkspace") == 16
    assert requests_to(sim, "token") == 1 and requests_to(sim, "keycloak_token") == 0


def test_seed_era_urls_are_derived_from_prefix_and_suffix() -> None:
    assert connection_urls("p", "example.test")[0] == "https://p.api.example.test/v1/api"


def test_one_login_serves_many_calls_and_runs(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    for _ in range(5):
        api.list_workspaces()
        run_inference(resolver, aloha_rows(40), input_name="text_input", batch_size=5, parallelism=8, tokens=api.tokens)
    assert grants(sim) == {"password": 1}
    assert api.tokens.stats().logins == 1
    assert requests_to(sim, "admin/get_pipeline_external_url") == 1  # the URL is cached too


def test_token_cache_shares_one_token_between_jobs(sim: RunningSimulator) -> None:
    cache = TokenCache()
    jobs = [cache.provider_for(sim.keycloak_token_url, credentials_for(sim), sim.verify) for _ in range(3)]
    assert all(job is jobs[0] for job in jobs)
    threads = [threading.Thread(target=WallarooApi(sim.api_url, job).list_workspaces) for job in jobs * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert grants(sim) == {"password": 1}


def test_client_credentials_grant_infers_but_sees_no_workspaces(sim: RunningSimulator, api: WallarooApi) -> None:
    url = resolver_for(api, ALOHA)()
    service = provider_for(sim, grant="client_credentials", username=None, password=None)
    outcome = run_inference(lambda force=False: url, aloha_rows(3), input_name="text_input", tokens=service)
    assert outcome.rows == 3
    with pytest.raises(WorkspaceNotFound, match="0 workspaces are visible to client 'api-client'"):
        WallarooApi(sim.api_url, service).workspace_id("urldemoworkspace")


def test_unknown_workspace_and_pipeline(api: WallarooApi) -> None:
    with pytest.raises(WorkspaceNotFound, match=re.escape("3 workspaces are visible to user 'demo.user@example.com'")):
        api.workspace_id("urlworkspace")
    with pytest.raises(PipelineNotFound, match="'nopipeline'"):
        api.external_url(16, "nopipeline")


def test_two_workspaces_with_the_same_name() -> None:
    config = default_config()
    config.workspaces[1].name = "urldemoworkspace"
    with run_simulator(config) as sim, pytest.raises(AmbiguousWorkspace) as caught:
        WallarooApi(sim.api_url, provider_for(sim)).workspace_id("urldemoworkspace")
    assert caught.value.ids == (16, 17)


def test_external_urls_disabled_by_the_administrator() -> None:
    config = default_config()
    config.external_urls_enabled = False
    disabled = "HTTP 403: External inference endpoints are not enabled"
    with run_simulator(config) as sim, pytest.raises(RequestRejected, match=disabled):
        WallarooApi(sim.api_url, provider_for(sim)).external_url(16, "urldemopipeline")


def test_parallelism_overlaps_requests_up_to_its_limit(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    sim.admin.set_faults("urldemopipeline", latency_seconds=0.3)
    started = time.monotonic()
    run_inference(
        resolver,
        aloha_rows(8),
        input_name="text_input",
        batch_size=1,
        parallelism=4,
        tokens=api.tokens,
        session=new_session(4),
    )
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 1.5  # two waves of four, not one of eight nor eight in turn


def test_cancel_stops_scheduling_and_reports_completed_rows(sim: RunningSimulator, api: WallarooApi) -> None:
    cancel = threading.Event()
    progress: list[BatchProgress] = []

    def after_batch(done: BatchProgress) -> None:
        progress.append(done)
        if done.batches_done == 3:
            cancel.set()

    with pytest.raises(InferenceCancelled) as caught:
        run_inference(
            resolver_for(api, ALOHA),
            aloha_rows(100),
            input_name="text_input",
            batch_size=10,
            parallelism=1,
            tokens=api.tokens,
            cancel=cancel,
            on_batch_done=after_batch,
        )
    assert (caught.value.rows_completed, caught.value.rows_total) == (30, 100)
    assert [p.rows_done for p in progress] == [10, 20, 30]
    assert requests_to(sim, "infer") == 3


def test_cancel_interrupts_a_backoff_wait(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    sim.admin.set_faults("urldemopipeline", fail_next=100, status=503, retry_after=30)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(InferenceCancelled):
        run_inference(
            resolver,
            aloha_rows(4),
            input_name="text_input",
            batch_size=1,
            parallelism=2,
            tokens=api.tokens,
            cancel=cancel,
        )
    assert time.monotonic() - started < 5
