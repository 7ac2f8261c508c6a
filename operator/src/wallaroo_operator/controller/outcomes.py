"""The record of a finished run, from the record of the run in progress: pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wallaroo_operator.controller.errors import RunError
from wallaroo_operator.kube.recovery import RunResults
from wallaroo_operator.rfc3339 import to_rfc3339


def _finished(record: dict[str, Any], state: str, now: datetime, *drop: str, **fields: Any) -> dict[str, Any]:
    finished = {**record, "state": state, "completionTime": to_rfc3339(now), **fields}
    for key in ("progress", *drop):  # progress is only for runs in progress
        finished.pop(key, None)
    return finished


def succeeded(record: dict[str, Any], outcome: dict[str, Any], now: datetime) -> dict[str, Any]:
    """`outcome`: the RunRecord fields the workers' reports fill in (rows, batches, results, ...)."""
    return _finished(record, "Succeeded", now, "reason", "error", **outcome)


def recovered(record: dict[str, Any], results: RunResults, now: datetime) -> dict[str, Any]:
    """A run that finished while its status could not be written, recorded from its results."""
    finished = _finished(
        record,
        "Succeeded",
        now,
        "reason",
        "error",
        "restarted",
        rows=results.rows,
        resultConfigMaps=results.config_maps,
        recovered=True,
    )
    finished["completionTime"] = results.written_at or finished["completionTime"]
    return finished


def failed(record: dict[str, Any], error: RunError, now: datetime) -> dict[str, Any]:
    return _finished(record, "Failed", now, reason=error.reason, error=error.message)


def cancelled(record: dict[str, Any], reason: str, rows_done: int, now: datetime) -> dict[str, Any]:
    return _finished(
        record,
        "Cancelled",
        now,
        reason=reason,
        partial=True,
        error=f"cancelled ({reason}) after {rows_done} rows; no results were stored for this run",
    )
