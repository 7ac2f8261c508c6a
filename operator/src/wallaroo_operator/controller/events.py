"""The Events a job's runs post: what `kubectl describe` and `kubectl get events` show.

At most one event per run outcome. A run's start is posted only when someone waits for it (a spec
change or run-now) or when it is unusual (restarted, adopted); a scheduled run shows its start in
status (`active`, `lastScheduleTime`), as a CronJob's does, and posts only its outcome. `Resolved` is
posted when the workspace id or URL changes, at the moment it is resolved. Schedule reasons are the
CronJob controller's where the meaning is the same (schedule/planner.py)."""

from __future__ import annotations

from typing import Any

import kopf

from wallaroo_operator.controller.errors import RunError
from wallaroo_operator.models.job import InferenceJobSpec

AWAITED_TRIGGERS = ("Spec", "Manual")


def run_started(body: kopf.Body, record: dict[str, Any], spec: InferenceJobSpec) -> None:
    run_id = record["id"]
    if record.get("adopted"):  # the Job executor: its worker ran on without us
        kopf.info(
            body, reason="RunAdopted", message=f"the operator restarted during run {run_id}; following its worker"
        )
    elif record.get("restarted"):
        kopf.warn(
            body,
            reason="RunRestarted",
            message=f"the operator stopped during run {run_id}; starting it "
            f"again from the first row: pipeline {spec.pipeline!r} in workspace {spec.workspace!r}",
        )
    elif record["trigger"] in AWAITED_TRIGGERS:
        kopf.info(
            body,
            reason="RunStarted",
            message=f"run {run_id} ({record['trigger'].lower()}) started: "
            f"pipeline {spec.pipeline!r} in workspace {spec.workspace!r}",
        )


def resolved(body: kopf.Body, workspace: str, workspace_id: int, url: str) -> None:
    kopf.info(body, reason="Resolved", message=f"workspace {workspace!r} is id {workspace_id}; inference URL {url}")


def run_finished(body: kopf.Body, record: dict[str, Any]) -> None:
    """The one event of a run's outcome."""
    run_id, state = record["id"], record["state"]
    if state == "Succeeded" and record.get("recovered"):
        kopf.info(
            body,
            reason="RunSucceeded",
            message=f"run {run_id}: {record['rows']} rows, recorded from its "
            f"results{_where(record)} (it finished while its status could not be written)",
        )
    elif state == "Succeeded":
        kopf.info(
            body,
            reason="RunSucceeded",
            message=f"run {run_id}: {record['rows']} rows in "
            f"{record.get('batches', 0)} batches, {record.get('retries', 0)} retries{_where(record)}",
        )
    elif state == "Failed":
        kopf.warn(body, reason="RunFailed", message=f"run {run_id}: {record['reason']}: {record['error']}")
    else:
        kopf.warn(body, reason="RunCancelled", message=f"run {run_id}: {record['error']}")


def _where(record: dict[str, Any]) -> str:
    where = record.get("resultsUri") or ", ".join(record.get("resultConfigMaps") or [])  # S3 or ConfigMaps
    return f" in {where}" if where else ""


def run_retrying(body: kopf.Body, run_id: str, error: RunError, attempt: int, delay: float) -> None:
    kopf.warn(
        body,
        reason="RunRetrying",
        message=f"run {run_id} failed ({error.reason}: {error.message}); retry {attempt} in {delay:.0f} s",
    )


def waiting(body: kopf.Body, error: RunError) -> None:
    kopf.warn(body, reason=error.reason, message=f"{error.message}; waiting for it to appear")


def invalid_spec(body: kopf.Body, error: RunError) -> None:
    kopf.warn(body, reason=error.reason, message=error.message)


class OncePerMessage:
    """The loop reconciles on every wake; a held-back slot must not post its event each time."""

    def __init__(self, body: kopf.Body, limit: int = 1000) -> None:
        self._body, self._limit = body, limit
        self._posted: set[tuple[str, str]] = set()

    def post(self, type_: str, reason: str, message: str) -> None:
        if (reason, message) in self._posted:
            return
        if len(self._posted) > self._limit:
            self._posted.clear()
        self._posted.add((reason, message))
        kopf.event(self._body, type=type_, reason=reason, message=message)
