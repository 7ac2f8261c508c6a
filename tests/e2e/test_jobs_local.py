"""The worker end to end with the local executor (a child process of the operator, the tests' default):
shards, progress in status, memory limits and never-clobbered results, against the real API server."""

from __future__ import annotations

import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    condition,
    create_input,
    create_job,
    create_split_input,
    phase_is,
    read_results,
    result_config_maps,
    wait_for_job,
)

pytestmark = pytest.mark.cluster


def test_four_shards_give_the_same_outputs_in_order_as_one(kube: Kube, namespace, simulator, connection, operator):
    selector = create_split_input(kube, namespace, aloha_rows(6_000), label="tutorial", rows_per_part=1_500)
    create_job(kube, namespace, "one", input=selector)
    create_job(kube, namespace, "four", input=selector, execution={"shards": 4})
    one = wait_for_job(kube, namespace, "one", phase_is("Succeeded", "Failed"), timeout=300)
    four = wait_for_job(kube, namespace, "four", phase_is("Succeeded", "Failed"), timeout=300)
    assert (one["status"]["phase"], four["status"]["phase"]) == ("Succeeded", "Succeeded"), four["status"]
    single, sharded = read_results(kube, namespace, one), read_results(kube, namespace, four)
    assert [r["row"] for r in sharded] == list(range(6_000))
    assert sharded == single
    assert four["status"]["lastRun"]["rows"] == 6_000
    single_summary, sharded_summary = one["status"]["lastRun"]["summary"], four["status"]["lastRun"]["summary"]
    assert sharded_summary.keys() == single_summary.keys()
    for name, stats in single_summary.items():
        assert sharded_summary[name] == pytest.approx(stats)


def test_progress_shows_rows_done_and_total_while_running(kube: Kube, namespace, simulator, connection, operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.3)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(600)})
    create_job(kube, namespace, "slow", inference={"batchSize": 20, "parallelism": 1})

    def moving(job: dict) -> bool:
        progress = ((job.get("status") or {}).get("lastRun") or {}).get("progress") or {}
        return 0 < progress.get("rowsDone", 0) < 600 and progress.get("rowsTotal") == 600

    running = wait_for_job(kube, namespace, "slow", moving, timeout=120, what="rows done between 0 and 600")
    assert running["status"]["phase"] == "Running"
    assert "etaSeconds" in running["status"]["lastRun"]["progress"]
    simulator.admin.clear_faults()
    done = wait_for_job(kube, namespace, "slow", phase_is("Succeeded", "Failed"), timeout=120)
    assert done["status"]["lastRun"]["rows"] == 600 and "progress" not in done["status"]["lastRun"]


def test_batches_too_large_for_the_workers_memory_fail_before_sending(
    kube: Kube, namespace, simulator, connection, operator
):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(10)})
    create_job(
        kube,
        namespace,
        "greedy",
        inference={"batchSize": 100_000, "parallelism": 8},
        execution={"resources": {"limits": {"memory": "64Mi"}}},
    )
    failed = wait_for_job(kube, namespace, "greedy", phase_is("Failed"))
    ready = condition(failed, "Ready")
    assert ready["reason"] == "InsufficientWorkerMemory" and "limits.memory" in ready["message"]
    assert simulator.admin.counters()["requests"].get("infer", 0) == 0


def test_a_results_config_map_that_is_not_this_runs_is_never_replaced(
    kube: Kube, namespace, simulator, connection, operator
):
    kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "taken-gen-1-0"}, "data": {"results.json": "mine"}}
    )
    create_input(kube, namespace, "input", {"text_input": aloha_rows(3)})
    create_job(kube, namespace, "taken", backoffLimit=0, results={"configMaps": "Always"})
    failed = wait_for_job(kube, namespace, "taken", phase_is("Failed"))
    assert condition(failed, "Ready")["reason"] == "ResultsConflict"
    assert "taken-gen-1-0" in condition(failed, "Ready")["message"]
    assert kube.core.read_namespaced_config_map("taken-gen-1-0", namespace).data == {"results.json": "mine"}
    assert not result_config_maps(kube, namespace, "taken")  # the user's ConfigMap carries no job label
