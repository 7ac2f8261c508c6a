"""The tutorial's flow as a Kubernetes resource: the real operator, the real API server, the simulator."""

from __future__ import annotations

import math

import pytest
from prometheus_client import REGISTRY

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    ccfraud_rows,
    condition,
    create_input,
    create_job,
    create_split_input,
    events_for,
    get_job,
    phase_is,
    read_results,
    result_config_maps,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_simulator import expected_outputs

pytestmark = pytest.mark.cluster


def assert_results_match(sim, pipeline: str, rows: list, results: list[dict]) -> None:
    """Every output value of every row equals the simulator's documented function of that row."""
    config = sim.config.pipeline(pipeline)
    assert [r["row"] for r in results] == list(range(len(rows)))
    for row, result in zip(rows, results, strict=True):
        expected = expected_outputs(config, row)
        got = [v for k, v in result.items() if k != "row"]
        assert len(got) == len(expected)
        for got_values, expected_values in zip(got, expected.values(), strict=True):
            assert all(
                math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
                for a, b in zip(got_values, expected_values, strict=True)
            )


@pytest.mark.parametrize("request_format", ["legacy", "pandas-records"])
def test_tutorial_single_row_runs_once_and_writes_results_back(
    kube: Kube, namespace, simulator, connection, operator, request_format
):
    rows = aloha_rows(1)
    create_input(kube, namespace, "input", {"text_input": rows})
    create_job(kube, namespace, "one-row", inference={"format": request_format})

    job = wait_for_job(kube, namespace, "one-row", phase_is("Succeeded"), what="the run to succeed")

    status = job["status"]
    assert status["observedGeneration"] == job["metadata"]["generation"] == 1  # the operator never wrote spec
    assert condition(job, "Ready")["status"] == "True"
    assert condition(job, "Succeeded")["reason"] == "RunSucceeded"
    assert condition(job, "Running")["status"] == "False"
    assert status["workspaceId"] == 16
    assert "/v1/api/pipelines/infer/urldemopipeline-" in status["inferenceUrl"]
    last = status["lastRun"]
    assert (last["rows"], last["batches"], last["state"], last["trigger"]) == (1, 1, "Succeeded", "Spec")
    assert last["outputs"] and len(last["outputs"]) == 1  # small: written into the status itself...
    assert last["resultConfigMaps"] == [] and not result_config_maps(kube, namespace, "one-row")  # ...and only there
    assert_results_match(simulator, "urldemopipeline", rows, read_results(kube, namespace, job))
    assert (
        REGISTRY.get_sample_value("wallaroo_operator_runs_total", {"namespace": namespace, "outcome": "Succeeded"}) == 1
    )
    assert REGISTRY.get_sample_value("wallaroo_operator_rows_total", {"namespace": namespace}) == 1
    wait_for(
        lambda: (
            {"RunStarted", "Resolved", "RunSucceeded"} <= {e.reason for e in events_for(kube, namespace, "one-row")}
        ),
        timeout=30,
        what="the run's events",
    )


def test_small_outputs_are_also_stored_in_a_config_map_when_asked(
    kube: Kube, namespace, simulator, connection, operator
):
    rows = aloha_rows(2)
    create_input(kube, namespace, "input", {"text_input": rows})
    create_job(kube, namespace, "kept", results={"configMaps": "Always"})

    job = wait_for_job(kube, namespace, "kept", phase_is("Succeeded"), what="the run to succeed")

    last = job["status"]["lastRun"]
    assert len(last["outputs"]) == 2
    assert last["resultConfigMaps"] == [cm.metadata.name for cm in result_config_maps(kube, namespace, "kept")]
    assert_results_match(simulator, "urldemopipeline", rows, read_results(kube, namespace, job))


@pytest.mark.parametrize("request_format", ["legacy", "pandas-records"])
def test_thousand_rows_in_batches_in_both_formats(
    kube: Kube, namespace, simulator, connection, operator, request_format
):
    rows = aloha_rows(1000)
    create_input(kube, namespace, "input", {"text_input": rows})
    create_job(kube, namespace, "thousand", inference={"format": request_format, "batchSize": 128, "parallelism": 3})

    job = wait_for_job(kube, namespace, "thousand", phase_is("Succeeded", "Failed"), what="the run to finish")

    assert job["status"]["phase"] == "Succeeded", job["status"]
    last = job["status"]["lastRun"]
    assert (last["rows"], last["batches"]) == (1000, 8)
    assert "outputs" not in last  # too large for the status; the ConfigMaps hold them
    summary = next(iter(last["summary"].values()))
    assert summary["count"] == 1000 and summary["min"] <= summary["mean"] <= summary["max"]
    assert_results_match(simulator, "urldemopipeline", rows, read_results(kube, namespace, job))


@pytest.mark.parametrize("request_format", ["legacy", "pandas-records"])
def test_25k_rows_split_across_configmaps_gzipped(
    kube: Kube, namespace, simulator, connection, operator, request_format
):
    rows = aloha_rows(25_000)
    create_job(
        kube,
        namespace,
        "big",
        input=create_split_input(kube, namespace, rows, label="big"),
        inference={"batchSize": 2500, "parallelism": 4, "format": request_format},
    )

    job = wait_for_job(kube, namespace, "big", phase_is("Succeeded", "Failed"), timeout=180, what="25k rows")

    assert job["status"]["phase"] == "Succeeded", job["status"]
    last = job["status"]["lastRun"]
    assert last["rows"] == 25_000 and len(last["resultConfigMaps"]) >= 2
    assert_results_match(simulator, "urldemopipeline", rows, read_results(kube, namespace, job))


def test_ccfraud_pandas_records_input(kube: Kube, namespace, simulator, connection, operator):
    workspace, ccfraud = next(
        (w, p) for w in simulator.config.workspaces for p in w.pipelines if p.input.name == "tensor"
    )
    rows = ccfraud_rows(300)
    create_input(kube, namespace, "input", [{"tensor": row} for row in rows])
    create_job(
        kube,
        namespace,
        "fraud",
        workspace=workspace.name,
        pipeline=ccfraud.name,
        inference={"format": "pandas-records", "batchSize": 100},
    )

    job = wait_for_job(kube, namespace, "fraud", phase_is("Succeeded", "Failed"), what="the ccfraud run")

    assert job["status"]["phase"] == "Succeeded", job["status"]
    results = read_results(kube, namespace, job)
    assert set(results[0]) == {"row", *[o.name for o in ccfraud.outputs]}
    assert_results_match(simulator, ccfraud.name, rows, results)


def test_spec_change_runs_again_and_status_changes_do_not(kube: Kube, namespace, simulator, connection, operator):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(10)})
    create_job(kube, namespace, "rerun")
    first = wait_for_job(kube, namespace, "rerun", phase_is("Succeeded"))
    inference_requests = simulator.admin.counters()

    from wallaroo_operator import constants as c

    kube.custom.patch_namespaced_custom_object(
        c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, "rerun", {"spec": {"inference": {"batchSize": 3}}}
    )
    second = wait_for_job(
        kube,
        namespace,
        "rerun",
        lambda j: (
            j["status"].get("lastRun", {}).get("id") != first["status"]["lastRun"]["id"]
            and j["status"]["phase"] == "Succeeded"
        ),
        what="a second run",
    )
    assert second["status"]["lastRun"]["batches"] == 4
    assert second["status"]["observedGeneration"] == second["metadata"]["generation"] == 2
    assert [h["id"] for h in second["status"]["history"]] == ["gen-2", "gen-1"]
    assert inference_requests  # counters are served
    # The run's own status writes did not start a third run.
    assert get_job(kube, namespace, "rerun")["status"]["lastRun"]["id"] == "gen-2"


def test_last_run_never_keeps_fields_of_the_previous_run(kube: Kube, namespace, simulator, connection, operator):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(3)})
    create_job(kube, namespace, "fresh")
    first = wait_for_job(kube, namespace, "fresh", phase_is("Succeeded"))
    assert first["status"]["lastRun"]["outputs"]

    from wallaroo_operator import constants as c

    kube.custom.patch_namespaced_custom_object(
        c.GROUP,
        c.VERSION,
        namespace,
        c.JOB_PLURAL,
        "fresh",
        {"spec": {"results": {"inlineLimitBytes": 0}, "successfulRunsHistoryLimit": 0}},
    )
    second = wait_for_job(
        kube,
        namespace,
        "fresh",
        lambda j: j["status"]["lastRun"]["id"] == "gen-2" and j["status"]["lastRun"]["state"] == "Succeeded",
    )
    last = second["status"]["lastRun"]
    assert "outputs" not in last and "error" not in last  # a merge patch would have kept gen-1's
    assert "resultConfigMaps" not in last  # a zero history limit keeps no results...
    assert second["status"]["phase"] == "Succeeded"  # ...and the job still says how its run went
    assert "history" not in second["status"]
