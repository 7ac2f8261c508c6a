"""The events a job's runs post, as `kubectl describe` shows them: Resolved when the URL is resolved, one
event per run outcome, and a scheduled run's start in status instead of an event (as a CronJob's)."""

from __future__ import annotations

import re

import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    create_input,
    create_job,
    events_for,
    get_job,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator.controller.clock import SPEEDUP_VARIABLE

pytestmark = pytest.mark.cluster


def reasons(kube: Kube, namespace: str, name: str) -> list[str]:
    return [e.reason for e in events_for(kube, namespace, name) for _ in range(e.count or 1)]


def test_resolved_is_posted_when_the_run_starts_not_when_it_ends(
    kube: Kube, namespace, simulator, connection, operator
):
    simulator.admin.set_faults("urldemopipeline", failure="hang", hang_seconds=60, rate=1.0)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(1)})
    create_job(kube, namespace, "slow", backoffLimit=0)

    wait_for(lambda: "Resolved" in reasons(kube, namespace, "slow"), timeout=60, what="a Resolved event")

    job = get_job(kube, namespace, "slow")
    assert [r["id"] for r in job["status"].get("active") or []] == ["gen-1"]  # still running
    assert "RunSucceeded" not in reasons(kube, namespace, "slow")
    assert reasons(kube, namespace, "slow").count("RunStarted") == 1
    assert str(job["status"]["lastRun"]["state"]) == "Running"


def test_a_scheduled_run_posts_its_outcome_once_and_no_start(kube: Kube, namespace, simulator, connection, monkeypatch):
    monkeypatch.setenv(SPEEDUP_VARIABLE, "60")
    create_input(kube, namespace, "input", {"text_input": aloha_rows(1)})
    with running_operator(namespace):
        create_job(
            kube, namespace, "minutely", schedule="* * * * *", concurrencyPolicy="Forbid", successfulRunsHistoryLimit=5
        )
        job = wait_for_job(
            kube,
            namespace,
            "minutely",
            lambda j: len((j.get("status") or {}).get("history") or []) >= 3,
            timeout=60,
            what="three scheduled runs",
        )
        finished = {h["id"] for h in job["status"]["history"]}

        def succeeded_events() -> dict[str, int]:
            events = [e for e in events_for(kube, namespace, "minutely") if e.reason == "RunSucceeded"]
            counts: dict[str, int] = {}
            for event in events:
                run_id = re.match(r"run (\S+):", event.message or "")
                if run_id:
                    counts[run_id.group(1)] = counts.get(run_id.group(1), 0) + (event.count or 1)
            return counts

        def all_posted() -> dict[str, int] | None:
            counts = succeeded_events()
            return counts if finished <= set(counts) else None

        counts = wait_for(all_posted, timeout=30, what="a RunSucceeded event for each finished run")
    assert all(counts[run_id] == 1 for run_id in finished), counts
    assert "RunStarted" not in reasons(kube, namespace, "minutely")
    assert reasons(kube, namespace, "minutely").count("Resolved") == 1  # the URL did not change
