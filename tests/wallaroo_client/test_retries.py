"""Retries of transient failures (5xx, 429, timeouts, dropped connections), budgets, and what is never retried."""

from __future__ import annotations

import time

import pytest

from wallaroo_operator.wallaroo import (
    InvalidInput,
    PipelineNotDeployed,
    RetryBudgetExhausted,
    RetryPolicy,
    ServerError,
    Unreachable,
    WallarooApi,
    run_inference,
)
from wallaroo_simulator import RunningSimulator

from .conftest import (
    ALOHA,
    FAST_RETRY,
    aloha_rows,
    expected,
    requests_to,
    resolver_for,
    statuses_of,
)

PIPELINE = ALOHA[1]


def infer(api: WallarooApi, rows: int = 6, retry: RetryPolicy = FAST_RETRY, **options):
    """Resolve first, so the faults set afterwards hit inference only."""
    resolver = resolver_for(api, ALOHA)
    resolver()
    options = {"batch_size": 2, "parallelism": 1} | options
    return run_inference(resolver, aloha_rows(rows), input_name="text_input", tokens=api.tokens, retry=retry, **options)


@pytest.mark.parametrize(("status", "body"), [(503, "load-balancer"), (429, "platform")])
def test_retry_after_is_honoured(sim: RunningSimulator, api: WallarooApi, status: int, body: str) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, fail_next=2, status=status, body=body, retry_after=1)
    started = time.monotonic()
    outcome = infer(api)
    assert time.monotonic() - started >= 2.0  # FAST_RETRY alone would wait ~0.03 s
    assert outcome.retries == 2 and outcome.outputs == expected(sim, PIPELINE, aloha_rows(6), legacy=True)
    assert statuses_of(sim, "infer") == {str(status): 2, "200": 3}


@pytest.mark.parametrize("body", ["engine-500", "legacy-engine", "platform"])
def test_5xx_error_shapes_are_retried_with_backoff(sim: RunningSimulator, api: WallarooApi, body: str) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, fail_next=3, status=500, body=body)
    outcome = infer(api)
    assert outcome.retries == 3


def test_budget_is_shared_by_all_batches_of_a_run(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, fail_next=100, status=503)
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, budget=5, max_retries_per_request=100)
    with pytest.raises(RetryBudgetExhausted, match=r"budget of 5 retries; last failure: .*HTTP 503") as caught:
        infer(api, rows=8, retry=policy)
    assert caught.value.retryable and caught.value.reason == "RetryBudgetExhausted"
    assert requests_to(sim, "infer") == 1 + 5  # the first attempt and every retry the budget allowed


def test_each_request_has_a_retry_limit(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, fail_next=100, status=502)
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_retries_per_request=2)
    with pytest.raises(ServerError, match=r"HTTP 502.*gave up after 2 retries"):
        infer(api, retry=policy)
    assert requests_to(sim, "infer") == 3


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1] * 49], "row 0 has 49 values; the model expects 50"),
        ([[None] * 50], "tensor values may not be null"),
    ],
)
def test_bad_input_is_never_retried(sim: RunningSimulator, api: WallarooApi, rows, message: str) -> None:
    resolver = resolver_for(api, ALOHA)
    with pytest.raises(InvalidInput, match=message) as caught:
        run_inference(resolver, rows, input_name="text_input", tokens=api.tokens, retry=FAST_RETRY)
    assert caught.value.status == 400 and not caught.value.retryable
    assert requests_to(sim, "infer") == 1


def test_wrong_input_name_is_invalid_input(api: WallarooApi) -> None:
    with pytest.raises(InvalidInput, match='input "text_input" not found'):
        run_inference(resolver_for(api, ALOHA), aloha_rows(2), input_name="tensor", tokens=api.tokens)


def test_slow_answers_time_out_and_are_retried(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, fail_next=1, failure="hang", hang_seconds=3)
    outcome = infer(api, request_timeout=(2.0, 0.5))
    assert outcome.retries == 1


def test_a_server_that_never_answers_is_unreachable(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, fail_next=100, failure="hang", hang_seconds=3)
    policy = RetryPolicy(initial_backoff=0.01, max_retries_per_request=1)
    with pytest.raises(Unreachable, match=r"timed out.*gave up after 1 retries") as caught:
        infer(api, retry=policy, request_timeout=(2.0, 0.3))
    assert caught.value.retryable


def test_dropped_connections_are_retried(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, fail_next=2, failure="drop")
    assert infer(api).retries == 2


def test_nothing_listening_is_unreachable(api: WallarooApi) -> None:
    dead_url = "http://127.0.0.1:9/v1/api/pipelines/infer/urldemopipeline-5"  # discard port: refused
    policy = RetryPolicy(initial_backoff=0.01, max_retries_per_request=1)
    with pytest.raises(Unreachable, match="connection failed"):
        run_inference(
            lambda force=False: dead_url, aloha_rows(1), input_name="text_input", tokens=api.tokens, retry=policy
        )


def test_oversized_batches_get_the_load_balancer_503_and_a_hint(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver_for(api, ALOHA)()
    sim.admin.set_faults(PIPELINE, max_payload_bytes=2000)
    policy = RetryPolicy(initial_backoff=0.01, max_retries_per_request=1)
    with pytest.raises(ServerError, match="smaller batch size"):
        infer(api, rows=40, retry=policy, batch_size=40)
    assert infer(api, rows=40, batch_size=5).rows == 40


def test_redeployed_pipeline_is_re_resolved_once(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    old_url = resolver()
    sim.admin.redeploy(PIPELINE)
    data = aloha_rows(20)
    outcome = run_inference(resolver, data, input_name="text_input", batch_size=2, parallelism=4, tokens=api.tokens)
    assert outcome.url_resolutions == 1 and resolver() != old_url
    assert resolver() == sim.admin.external_url(PIPELINE)
    assert outcome.outputs == expected(sim, PIPELINE, data, legacy=True)
    assert requests_to(sim, "admin/get_pipeline_external_url") == 2


def test_redeploy_in_the_middle_of_a_run(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    redeployed = []

    def redeploy_once(progress) -> None:
        if progress.batches_done == 3 and not redeployed:
            redeployed.append(sim.admin.redeploy(PIPELINE, starting_seconds=0.3))

    data = aloha_rows(20)
    patient = RetryPolicy(initial_backoff=0.05, max_backoff=0.1, max_retries_per_request=20)
    outcome = run_inference(
        resolver,
        data,
        input_name="text_input",
        batch_size=2,
        parallelism=1,
        tokens=api.tokens,
        retry=patient,
        on_batch_done=redeploy_once,
    )
    assert outcome.outputs == expected(sim, PIPELINE, data, legacy=True)
    assert outcome.url_resolutions == 1
    assert outcome.retries >= 1  # the new deployment answered 503 while "Starting"


def test_undeployed_pipeline(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    sim.admin.undeploy(PIPELINE)
    with pytest.raises(PipelineNotDeployed, match=r"Deployment not found.*is the pipeline deployed") as caught:
        run_inference(resolver, aloha_rows(2), input_name="text_input", tokens=api.tokens)
    assert caught.value.retryable
    assert statuses_of(sim, "infer") == {"404": 2}
