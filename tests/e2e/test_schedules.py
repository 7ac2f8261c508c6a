"""Scheduled InferenceJobs with CronJob semantics, on the production path (planner, timers, status).

The operator's test-only clock runs 60x fast here: `* * * * *` fires every real second.
"""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support.kube import Kube
from tests.support.node import JOB_EXECUTOR
from tests.support.operator import (
    aloha_rows,
    annotate_run_now,
    create_input,
    create_job,
    events_for,
    get_job,
    patch_job_spec,
    result_config_maps,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_operator.controller.clock import SPEEDUP_VARIABLE

pytestmark = pytest.mark.cluster
EVERY_MINUTE = "* * * * *"
SPEEDUP = 60
# The core cases run with each executor: child processes, and a Job per run on the real node (marker node).
# Not the slot-by-slot one: at 60x a slot comes every second, faster than this 2-core machine starts Pods
# (docs/execution.md), so under Allow the Pods pile up.
BOTH_EXECUTORS = pytest.mark.parametrize("executor", ["local", JOB_EXECUTOR], indirect=True)


@pytest.fixture
def fast_clock(monkeypatch):
    monkeypatch.setenv(SPEEDUP_VARIABLE, str(SPEEDUP))


@pytest.fixture
def operator(namespace, fast_clock):
    with running_operator(namespace) as runner:
        yield runner


@pytest.fixture
def small_input(kube: Kube, namespace):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(3)})


def history(job: dict) -> list[dict]:
    return (job.get("status") or {}).get("history") or []


def runs_served(sim) -> int:
    return sim.admin.counters()["pipelines"].get("urldemopipeline", {}).get("requests", 0)


def has_event(kube: Kube, namespace: str, name: str, reason: str) -> bool:
    return any(e.reason == reason for e in events_for(kube, namespace, name))


def test_schedule_fires_at_each_slot_and_prunes_history(
    kube: Kube, namespace, simulator, connection, small_input, operator
):
    create_job(kube, namespace, "nightly", schedule=EVERY_MINUTE, successfulRunsHistoryLimit=2)

    job = wait_for_job(
        kube,
        namespace,
        "nightly",
        lambda j: runs_served(simulator) >= 4 and len(history(j)) == 2,
        timeout=60,
        what="four scheduled runs, two kept",
    )

    status = job["status"]
    assert all(h["trigger"] == "Schedule" and h["id"].isdigit() and h["state"] == "Succeeded" for h in history(job))
    assert int(history(job)[0]["id"]) > int(history(job)[1]["id"])  # newest first, one slot = one id
    assert status["lastScheduleTime"] and status["nextScheduleTime"] > status["lastScheduleTime"]

    def only_kept_results() -> bool:
        job = get_job(kube, namespace, "nightly")
        kept = {h["id"] for h in history(job)} | {r["id"] for r in job["status"].get("active") or []}
        return {cm.metadata.labels[c.RUN_LABEL] for cm in result_config_maps(kube, namespace, "nightly")} <= kept

    wait_for(only_kept_results, timeout=30, what="results of pruned runs to be deleted")


def test_suspend_and_resume(kube: Kube, namespace, simulator, connection, small_input, operator):
    create_job(kube, namespace, "paused", schedule=EVERY_MINUTE, suspend=True, startingDeadlineSeconds=30)
    job = wait_for_job(kube, namespace, "paused", lambda j: j.get("status", {}).get("phase") == "Suspended")
    assert "nextScheduleTime" not in job["status"]

    # Slots pass while suspended (the behaviour under test is time passing, so the wait is on the clock);
    # on resume the old ones are past the deadline: skipped and reported.
    suspended_at = time.monotonic()
    wait_for(lambda: time.monotonic() - suspended_at >= 3 * 60 / SPEEDUP, timeout=30, what="three slots to pass")
    assert runs_served(simulator) == 0
    patch_job_spec(kube, namespace, "paused", {"suspend": False})

    wait_for_job(
        kube,
        namespace,
        "paused",
        lambda j: any(h["state"] == "Succeeded" for h in history(j)),
        timeout=30,
        what="a run after resuming",
    )
    wait_for(
        lambda: has_event(kube, namespace, "paused", "MissSchedule"),
        timeout=30,
        what="the slots missed while suspended to be reported",
    )


@BOTH_EXECUTORS
def test_run_now_runs_once_per_distinct_value(kube: Kube, namespace, simulator, connection, small_input, operator):
    create_job(kube, namespace, "adhoc", successfulRunsHistoryLimit=10)
    wait_for_job(kube, namespace, "adhoc", lambda j: len(history(j)) == 1)

    annotate_run_now(kube, namespace, "adhoc", "2026-11-26T10:00:00Z")
    job = wait_for_job(kube, namespace, "adhoc", lambda j: len(history(j)) == 2)
    manual = history(job)[0]
    assert manual["trigger"] == "Manual" and manual["id"].startswith("manual-")
    assert job["status"]["handledRunNow"] == "2026-11-26T10:00:00Z"

    patch_job_spec(kube, namespace, "adhoc", {"inference": {"batchSize": 2}})  # a new generation: one more run
    job = wait_for_job(kube, namespace, "adhoc", lambda j: len(history(j)) == 3)
    assert [h["trigger"] for h in history(job)] == ["Spec", "Manual", "Spec"]  # the same value did not re-run

    annotate_run_now(kube, namespace, "adhoc", "2026-11-26T11:00:00Z")
    job = wait_for_job(kube, namespace, "adhoc", lambda j: len(history(j)) == 4)
    assert history(job)[0]["trigger"] == "Manual" and history(job)[0]["id"] != manual["id"]

    annotate_run_now(kube, namespace, "adhoc", "2026-11-26T10:00:00Z")  # a value seen before (a Git revert)
    wait_for_job(kube, namespace, "adhoc", lambda j: j["status"]["handledRunNow"] == "2026-11-26T10:00:00Z")
    annotate_run_now(kube, namespace, "adhoc", "2026-11-26T12:00:00Z")
    job = wait_for_job(kube, namespace, "adhoc", lambda j: len(history(j)) == 5)
    assert [h["id"] for h in history(job)].count(manual["id"]) == 1  # the repeated value did not run again


@BOTH_EXECUTORS
def test_forbid_skips_slots_while_a_run_is_active(kube: Kube, namespace, simulator, connection, small_input, operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=2.5)  # each run spans ~2.5 slots
    create_job(
        kube,
        namespace,
        "exclusive",
        schedule=EVERY_MINUTE,
        concurrencyPolicy="Forbid",
        startingDeadlineSeconds=30,
        successfulRunsHistoryLimit=10,
    )

    job = wait_for_job(kube, namespace, "exclusive", lambda j: len(history(j)) >= 2, timeout=60)

    runs = sorted(history(job), key=lambda h: h["startTime"])
    for earlier, later in itertools.pairwise(runs):
        assert later["startTime"] >= earlier["completionTime"]  # never two at once
    wait_for(
        lambda: has_event(kube, namespace, "exclusive", "JobAlreadyActive"),
        timeout=30,
        what="an event for the slot skipped under Forbid",
    )


@BOTH_EXECUTORS
def test_replace_cancels_the_running_run(kube: Kube, namespace, simulator, connection, small_input, operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.6)
    create_input(kube, namespace, "slow-input", {"text_input": aloha_rows(20)})
    create_job(
        kube,
        namespace,
        "newest-wins",
        schedule=EVERY_MINUTE,
        concurrencyPolicy="Replace",
        inputs=["slow-input"],
        inference={"batchSize": 1, "parallelism": 1},
        failedRunsHistoryLimit=5,
    )

    job = wait_for_job(
        kube, namespace, "newest-wins", lambda j: any(h["state"] == "Cancelled" for h in history(j)), timeout=60
    )

    cancelled = next(h for h in history(job) if h["state"] == "Cancelled")
    assert cancelled["reason"] == "Replaced" and cancelled["partial"] is True
    assert "resultConfigMaps" not in cancelled
    assert not [
        cm
        for cm in result_config_maps(kube, namespace, "newest-wins")
        if cm.metadata.labels[c.RUN_LABEL] == cancelled["id"]
    ]  # partial outputs never stored
    wait_for(lambda: has_event(kube, namespace, "newest-wins", "RunCancelled"), timeout=30, what="RunCancelled")


def test_operator_restart_during_a_scheduled_run_neither_loses_nor_repeats_the_slot(
    kube: Kube, namespace, simulator, connection, fast_clock
):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.5)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(12)})
    create_job(
        kube,
        namespace,
        "hourly",
        schedule=EVERY_MINUTE,
        concurrencyPolicy="Forbid",
        inference={"batchSize": 1, "parallelism": 1},
        successfulRunsHistoryLimit=20,
    )

    with running_operator(namespace):
        running = wait_for_job(
            kube,
            namespace,
            "hourly",
            lambda j: (j.get("status") or {}).get("active") and j["status"]["active"][0]["state"] == "Running",
        )
    slot_id = running["status"]["active"][0]["id"]

    simulator.admin.clear_faults()
    with running_operator(namespace):
        job = wait_for_job(kube, namespace, "hourly", lambda j: any(h["id"] == slot_id for h in history(j)), timeout=60)
    ids = [h["id"] for h in history(job)]
    assert len(ids) == len(set(ids))  # no slot ran twice
    record = next(h for h in history(job) if h["id"] == slot_id)
    assert record["state"] == "Succeeded"
    # Run again by the new operator, or, when the stopping operator's worker finished first (a slow stop on a
    # loaded machine), recorded from the results it wrote: either way once, and not lost.
    assert (record.get("restarted") is True and record["attempt"] == 2) or record.get("recovered") is True, record


def test_invalid_schedule_and_time_zone_get_a_condition(
    kube: Kube, namespace, simulator, connection, small_input, operator
):
    create_job(kube, namespace, "bad-cron", schedule="61 * * * *")
    create_job(kube, namespace, "bad-zone", schedule="@daily", timeZone="Mars/Olympus_Mons")

    for name, text in (("bad-cron", "61"), ("bad-zone", "Mars/Olympus_Mons")):
        job = wait_for_job(kube, namespace, name, lambda j: (j.get("status") or {}).get("phase") == "Failed")
        ready = next(x for x in job["status"]["conditions"] if x["type"] == "Ready")
        assert ready["reason"] == "InvalidSchedule" and text in ready["message"]
        wait_for(lambda name=name: has_event(kube, namespace, name, "InvalidSchedule"), timeout=30, what="an event")
    assert runs_served(simulator) == 0


def test_allow_runs_overlapping_slots_concurrently(kube: Kube, namespace, simulator, connection, small_input, operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=2.5)  # each run spans ~2.5 slots
    create_job(
        kube, namespace, "overlapping", schedule=EVERY_MINUTE, concurrencyPolicy="Allow", successfulRunsHistoryLimit=10
    )

    wait_for_job(
        kube,
        namespace,
        "overlapping",
        lambda j: len((j.get("status") or {}).get("active") or []) >= 2,
        timeout=30,
        what="two runs in progress at once",
    )
    job = wait_for_job(kube, namespace, "overlapping", lambda j: len(history(j)) >= 2, timeout=30)
    runs = sorted(history(job), key=lambda h: h["startTime"])
    assert any(later["startTime"] < earlier["completionTime"] for earlier, later in itertools.pairwise(runs))
    assert len({h["id"] for h in history(job)}) == len(history(job))
