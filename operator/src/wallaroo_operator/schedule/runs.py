"""Run ids and run history.

Run ids are deterministic so that the id itself is the lock: a restarted operator recomputes the
same id for the same slot and finds the run (its ConfigMaps) instead of starting it twice. All ids
are short RFC 1123 labels (under 20 characters in practice), so `{job name}-{run id}` stays a valid object name.

  * scheduled run: the slot's Unix time in minutes, like a CronJob's Job name suffix
    (`{cronjob}-{minutes}`); e.g. 2024-03-10T07:00:00Z -> "28500900".
  * run-now (annotation value): "manual-" + the first 10 hex digits of the SHA-256 of the value,
    stripped of surrounding whitespace; one run per distinct value.
  * one-shot run of a job without a schedule: "gen-" + metadata.generation; one run per spec change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from wallaroo_operator.rfc3339 import ensure_utc, from_rfc3339

RUN_ID_PATTERN = r"^([0-9]+|manual-[0-9a-f]{10}|gen-[0-9]+)$"
_MANUAL_PREFIX, _GENERATION_PREFIX = "manual-", "gen-"


def run_id_for_slot(slot: datetime) -> str:
    """Same slot, same id; slots are whole minutes, so different slots give different ids."""
    return str(int(ensure_utc(slot, "slot").timestamp() // 60))


def run_id_for_manual(value: str) -> str:
    """Run id for a run-now annotation value; the value itself may be anything (a timestamp, a word)."""
    normalized = value.strip()
    if not normalized:
        raise ValueError("a run-now annotation value must not be empty")
    return _MANUAL_PREFIX + hashlib.sha256(normalized.encode()).hexdigest()[:10]


def run_id_for_generation(generation: int) -> str:
    if generation < 1:
        raise ValueError(f"generation must be positive, got {generation}")
    return f"{_GENERATION_PREFIX}{generation}"


class RunState(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"  # by Replace, a deadline or deletion: partial, so kept as a failure


_FAILED_STATES = frozenset({RunState.FAILED, RunState.CANCELLED})


class HistoryEntry(Protocol):
    """What prune_history needs from a run; the status model's RunRecord fits as is."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def start_time(self) -> datetime | str | None: ...


@dataclass(frozen=True)
class RunSummary:
    id: str
    state: RunState
    start_time: datetime | None = None


RunT = TypeVar("RunT", bound=HistoryEntry)


def _age_key(run: HistoryEntry) -> tuple[int, datetime, str]:
    # CronJob sorts by start time, runs without one count as newest, and the name breaks ties.
    start = run.start_time
    if start is None:
        return (1, datetime.min.replace(tzinfo=UTC), run.id)
    moment = from_rfc3339(start) if isinstance(start, str) else ensure_utc(start, "start_time")
    return (0, moment, run.id)


def _oldest_beyond(runs: Sequence[RunT], limit: int | None) -> list[RunT]:
    if limit is None:
        return []
    if limit < 0:
        raise ValueError(f"history limits must not be negative, got {limit}")
    by_age = sorted(runs, key=_age_key)
    return by_age[: max(0, len(by_age) - limit)]


def prune_history(
    runs: Sequence[RunT], successful_limit: int | None = 3, failed_limit: int | None = 1
) -> tuple[tuple[RunT, ...], tuple[RunT, ...]]:
    """Split runs into (kept, dropped), both in input order, like CronJob's history limits.

    Keeps the newest `successful_limit` Succeeded runs and the newest `failed_limit` Failed or
    Cancelled runs (None = keep all). Runs in any other state (Pending, Running) are active and never
    dropped. The caller deletes the results of the dropped runs.
    """
    succeeded = [run for run in runs if run.state == RunState.SUCCEEDED]
    failed = [run for run in runs if run.state in _FAILED_STATES]
    drop = {id(run) for run in _oldest_beyond(succeeded, successful_limit) + _oldest_beyond(failed, failed_limit)}
    kept = tuple(run for run in runs if id(run) not in drop)
    dropped = tuple(run for run in runs if id(run) in drop)
    return kept, dropped
