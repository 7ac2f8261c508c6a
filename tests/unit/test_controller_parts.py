"""The controller's pure parts: the status a run's start and end write, history order and content,
outcome records, which events a run posts, and the connection cache."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from wallaroo_operator.controller import connection, events, outcomes
from wallaroo_operator.controller.active import new_record
from wallaroo_operator.controller.errors import Disposition, RunError
from wallaroo_operator.controller.history import history_with
from wallaroo_operator.controller.job_status import JobView, desired_status
from wallaroo_operator.kube.status import merge_patch
from wallaroo_operator.models.job import InferenceJobSpec

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC = InferenceJobSpec.model_validate(
    {"connectionRef": {"name": "w"}, "workspace": "ws", "pipeline": "p", "input": {"configMaps": [{"name": "in"}]}}
)


def view(active: list[dict[str, Any]], latest: str | None, **spec: Any) -> JobView:
    return JobView(
        spec={"workspace": "ws", **spec},
        generation=1,
        active=active,
        latest_run_id=latest,
        successful_limit=3,
        failed_limit=1,
        now=NOW,
    )


def test_a_run_starts_running_and_its_start_is_one_write_with_lastrun() -> None:
    record = new_record("Spec", "gen-1", now=NOW, generation=1)
    assert record["state"] == "Running" and record["startTime"] == "2024-05-01T12:00:00Z"

    status, dropped = desired_status({}, {"observedGeneration": 1}, [], None, view([record], "gen-1"))

    assert dropped == []
    assert status["active"] == [record] and status["lastRun"] == record and status["phase"] == "Running"
    # Asked again with nothing new (the run's own first update): nothing to send.
    again, _ = desired_status(status, {}, [], None, view([record], "gen-1"))
    assert merge_patch(status, again) == {}


def test_the_end_is_one_write_leaving_active_for_history() -> None:
    record = new_record("Spec", "gen-1", now=NOW, generation=1)
    started, _ = desired_status({}, {"observedGeneration": 1}, [], None, view([record], "gen-1"))
    done = outcomes.succeeded(
        record, {"rows": 1, "batches": 1, "retries": 0, "summary": {"x": {"count": 1}}, "outputs": [{"x": [1.0]}]}, NOW
    )

    status, _ = desired_status(started, {}, [done], None, view([], "gen-1"))

    assert "active" not in {k for k, v in status.items() if v is not None}
    assert status["lastRun"]["state"] == "Succeeded" and status["lastRun"]["outputs"] == [{"x": [1.0]}]
    # kubectl describe shows lastRun and history: the summary and outputs once, in lastRun.
    assert status["history"] == [{k: v for k, v in done.items() if k not in ("summary", "outputs")}]


def run(run_id: str, start: str, state: str = "Succeeded") -> dict[str, Any]:
    return {"id": run_id, "trigger": "Schedule", "state": state, "startTime": start}


def test_history_is_newest_start_first_whatever_order_runs_finish_in() -> None:
    later = run("2", "2024-05-01T12:02:00Z")
    earlier = run("1", "2024-05-01T12:01:00Z")
    history, dropped = history_with([later], earlier, successful_limit=3, failed_limit=1)
    assert [h["id"] for h in history] == ["2", "1"] and dropped == []

    history, dropped = history_with(history, run("3", "2024-05-01T12:03:00Z"), successful_limit=2, failed_limit=1)
    assert [h["id"] for h in history] == ["3", "2"] and dropped == ["1"]


def test_outcome_records() -> None:
    record = {
        **new_record("Manual", "manual-x", now=NOW, generation=2),
        "progress": {"rowsDone": 5},
        "reason": "SecretNotFound",
        "error": "waiting",
    }
    failed = outcomes.failed(record, RunError("Unreachable", "no route", Disposition.RETRY), NOW)
    assert (failed["state"], failed["reason"], failed["error"]) == ("Failed", "Unreachable", "no route")
    assert "progress" not in failed and failed["completionTime"] == "2024-05-01T12:00:00Z"

    cancelled = outcomes.cancelled(record, "DeadlineExceeded", 5, NOW)
    assert cancelled["partial"] is True and "after 5 rows" in cancelled["error"]
    succeeded = outcomes.succeeded(record, {"rows": 9}, NOW)
    assert "reason" not in succeeded and "error" not in succeeded and succeeded["rows"] == 9


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reasons: list[str] = []
    monkeypatch.setattr(events.kopf, "info", lambda body, reason, message: reasons.append(reason))
    monkeypatch.setattr(events.kopf, "warn", lambda body, reason, message: reasons.append(reason))
    return reasons


@pytest.mark.parametrize(
    ("trigger", "flags", "expected"),
    [
        ("Spec", {}, ["RunStarted"]),
        ("Manual", {}, ["RunStarted"]),
        ("Schedule", {}, []),  # a CronJob's run shows its start in status; its outcome is its event
        ("Spec", {"restarted": True}, ["RunRestarted"]),  # one event, not RunRestarted and RunStarted
        ("Schedule", {"adopted": True}, ["RunAdopted"]),
    ],
)
def test_which_start_events_a_run_posts(
    posted: list[str], trigger: str, flags: dict[str, bool], expected: list[str]
) -> None:
    events.run_started(None, new_record(trigger, "r", now=NOW, generation=1, **flags), SPEC)  # type: ignore[arg-type]
    assert posted == expected


@pytest.mark.parametrize(
    ("state", "reason"), [("Succeeded", "RunSucceeded"), ("Failed", "RunFailed"), ("Cancelled", "RunCancelled")]
)
def test_one_event_per_outcome(posted: list[str], state: str, reason: str) -> None:
    record = {"id": "r", "state": state, "rows": 1, "batches": 1, "retries": 0, "reason": "X", "error": "e"}
    events.run_finished(None, record)  # type: ignore[arg-type]
    assert posted == [reason]


def test_the_connection_is_reused_until_it_changes_or_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    monkeypatch.setattr(
        connection.references,
        "read_connection",
        lambda namespace, name: reads.append(name) or {"metadata": {"name": name}},
    )
    monkeypatch.setattr(connection, "resolve_connection", lambda namespace, obj: f"resolved {len(reads)}")
    cache = connection.ConnectionCache(ttl_seconds=60)

    assert cache.get("ns", "w")[1] == cache.get("ns", "w")[1] == "resolved 1"
    cache.forget("ns", "w")  # a watch event of the connection
    assert cache.get("ns", "w")[1] == "resolved 2"
    assert reads == ["w", "w"]

    uncached = connection.ConnectionCache(ttl_seconds=0)
    uncached.get("ns", "w")
    uncached.get("ns", "w")
    assert len(reads) == 4


def test_a_failed_resolution_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    from wallaroo_operator.kube.references import MissingReference

    def missing(namespace: str, name: str) -> dict[str, Any]:
        raise MissingReference("SecretNotFound", "no Secret")

    monkeypatch.setattr(connection.references, "read_connection", missing)
    cache = connection.ConnectionCache(ttl_seconds=60)
    for _ in range(2):
        with pytest.raises(MissingReference):
            cache.get("ns", "w")


def test_a_workspace_id_is_looked_up_once_per_resolution_of_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from wallaroo_operator.wallaroo import Credentials

    lookups: list[str] = []

    class Api:
        def workspace_id(self, name: str) -> int:
            lookups.append(name)
            return 16

    monkeypatch.setattr(connection.ResolvedConnection, "api", lambda self: Api())

    def resolved() -> connection.ResolvedConnection:
        return connection.ResolvedConnection(
            "https://api", "https://kc", Credentials("c", "s", "client_credentials"), True, 5.0
        )

    first = resolved()
    assert [first.workspace_id("ws") for _ in range(3)] == [16, 16, 16]
    assert first.workspace_id("other") == 16
    assert resolved().workspace_id("ws") == 16  # resolved again (TTL over, a failed run, a changed connection)
    assert lookups == ["ws", "other", "ws"]


def test_one_row_outputs_type() -> None:
    """Every module that handles per-row outputs names the same type (wallaroo/formats.py)."""
    import re
    from pathlib import Path

    package = Path(connection.__file__).parents[1]
    definitions = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^RowOutputs\s*=", path.read_text(), re.MULTILINE)
    ]
    assert definitions == ["wallaroo/formats.py"]
