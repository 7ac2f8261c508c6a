"""A scheduled job's next step: the CronJob planner (schedule/planner.py) asked with the job's state,
and its decision turned into status fields. Pure: the loop applies the decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.rfc3339 import from_rfc3339, to_rfc3339
from wallaroo_operator.schedule import ConcurrencyPolicy, ScheduleDecision, ScheduleSpec, plan_schedule


def schedule_spec(spec: InferenceJobSpec) -> ScheduleSpec:
    assert spec.schedule is not None
    return ScheduleSpec(
        schedule=spec.schedule,
        time_zone=spec.time_zone,
        suspend=spec.suspend,
        concurrency_policy=ConcurrencyPolicy(spec.concurrency_policy),
        starting_deadline_seconds=spec.starting_deadline_seconds,
    )


def decide(
    spec: InferenceJobSpec, status: dict[str, Any], *, created_at: str, now: datetime, scheduled_active: list[str]
) -> tuple[ScheduleDecision, dict[str, Any]]:
    """The planner's decision now, and the status fields it changes."""
    decision = plan_schedule(
        schedule_spec(spec),
        now=now,
        created_at=from_rfc3339(created_at),
        last_schedule_time=_parse(status.get("lastScheduleTime")),
        active_run_ids=scheduled_active,
        last_skipped_time=_parse(status.get("lastSkippedTime")),
    )
    changes: dict[str, Any] = {"nextScheduleTime": to_rfc3339(decision.next_slot) if decision.next_slot else None}
    if decision.last_schedule_time is not None:
        changes["lastScheduleTime"] = to_rfc3339(decision.last_schedule_time)
    if decision.skipped_through is not None:
        changes["lastSkippedTime"] = to_rfc3339(decision.skipped_through)
    return decision, changes


def _parse(value: str | None) -> datetime | None:
    return from_rfc3339(value) if value else None
