"""Cron schedules with the semantics of Kubernetes batch/v1 CronJob, as pure functions of time.

Nothing here reads the clock or talks to Kubernetes: callers pass `now` and the job's state.
"""

from wallaroo_operator.schedule.cron import (
    MACROS,
    SCHEDULE_PATTERN,
    TIME_ZONE_PATTERN,
    CronFields,
    InvalidSchedule,
    parse_schedule,
    validate_schedule,
    validate_time_zone,
    zone_info,
)
from wallaroo_operator.schedule.planner import (
    TOO_MANY_MISSED,
    WAKE_UP_PADDING_SECONDS,
    ConcurrencyPolicy,
    ScheduleDecision,
    ScheduleEvent,
    ScheduleSpec,
    plan_schedule,
)
from wallaroo_operator.schedule.runs import (
    RUN_ID_PATTERN,
    HistoryEntry,
    RunState,
    RunSummary,
    prune_history,
    run_id_for_generation,
    run_id_for_manual,
    run_id_for_slot,
)
from wallaroo_operator.schedule.slots import (
    ensure_utc,
    from_rfc3339,
    iter_slots,
    next_slot,
    previous_slot,
    to_rfc3339,
)

__all__ = [
    "MACROS",
    "RUN_ID_PATTERN",
    "SCHEDULE_PATTERN",
    "TIME_ZONE_PATTERN",
    "TOO_MANY_MISSED",
    "WAKE_UP_PADDING_SECONDS",
    "ConcurrencyPolicy",
    "CronFields",
    "HistoryEntry",
    "InvalidSchedule",
    "RunState",
    "RunSummary",
    "ScheduleDecision",
    "ScheduleEvent",
    "ScheduleSpec",
    "ensure_utc",
    "from_rfc3339",
    "iter_slots",
    "next_slot",
    "parse_schedule",
    "plan_schedule",
    "previous_slot",
    "prune_history",
    "run_id_for_generation",
    "run_id_for_manual",
    "run_id_for_slot",
    "to_rfc3339",
    "validate_schedule",
    "validate_time_zone",
    "zone_info",
]
