"""What a scheduled InferenceJob should do now: the CronJob controller's decision, as a pure function.

Mirrors kubernetes pkg/controller/cronjob (controller v2): the candidate is the most recent unmet
slot after lastScheduleTime (or the creation time); it starts only if it is newer than
now - startingDeadlineSeconds; all older unmet slots are skipped; more than 100 unmet slots inside
the deadline window raise the TooManyMissedTimes warning; Forbid holds the slot back while a run is
active and Replace cancels the active runs first.

Caller contract (one timer per job, no polling):
  * call plan_schedule() when the timer fires, when the spec changes, and when an active run ends
    (so a slot held back by Forbid or suspend starts late if still within its deadline, as CronJob);
  * start `start_slot` under run id `start_run_id` idempotently (the id is the lock), cancel
    `cancel_run_ids` first, write `last_schedule_time`, post `events`;
  * persist `skipped_through` and pass it back as `last_skipped_time`, so skipped slots are
    reported once (CronJob re-reports them on every sync; see its TODO about LastMissedTime);
  * sleep `sleep_seconds` (None while suspended: wait for a spec change instead).

Event reasons are CronJob's where the meaning is the same (TooManyMissedTimes, MissSchedule,
JobAlreadyActive), so alert rules written for CronJobs carry over. ReplacingRun has no CronJob
counterpart (CronJob only posts SuccessfulDelete for the Job it deletes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Literal

from wallaroo_operator.rfc3339 import ensure_utc, to_rfc3339
from wallaroo_operator.schedule.cron import validate_schedule
from wallaroo_operator.schedule.runs import run_id_for_slot
from wallaroo_operator.schedule.slots import iter_slots, next_slot, previous_slot

# CronJob's threshold: "more than 80 (a long weekend of hourly runs) but less than lots".
TOO_MANY_MISSED = 100
# CronJob wakes 100 ms after the slot so NTP skew cannot make it wake just before it.
WAKE_UP_PADDING_SECONDS = 0.1


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


@dataclass(frozen=True)
class ScheduleSpec:
    schedule: str
    time_zone: str = "UTC"
    suspend: bool = False
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    starting_deadline_seconds: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "concurrency_policy", ConcurrencyPolicy(self.concurrency_policy))
        if self.starting_deadline_seconds is not None and self.starting_deadline_seconds < 0:
            raise ValueError(f"startingDeadlineSeconds must not be negative, got {self.starting_deadline_seconds}")


@dataclass(frozen=True)
class ScheduleEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class ScheduleDecision:
    now: datetime
    # The most recent unmet slot that is still within startingDeadlineSeconds, started or not.
    due_slot: datetime | None
    # The slot to start now (== due_slot unless suspended, held back by Forbid, or already active).
    start_slot: datetime | None
    start_run_id: str | None
    suspended: bool
    forbidden: bool  # due_slot held back because runs are active and the policy is Forbid
    cancel_run_ids: tuple[str, ...]  # Replace: cancel these before starting start_slot
    # Unmet slots that will never run (older than the newest, or past the deadline).
    skipped_count: int  # exact up to 100, estimated from the slot rate above that
    skipped_count_exact: bool
    skipped_from: datetime | None
    skipped_through: datetime | None
    too_many_missed: bool  # > 100 unmet slots inside the deadline window: TooManyMissedTimes
    last_schedule_time: datetime | None  # what status.lastScheduleTime should now say
    next_slot: datetime | None  # None while suspended
    sleep_seconds: float | None  # until next_slot (plus padding); None while suspended
    events: tuple[ScheduleEvent, ...]


@dataclass(frozen=True)
class _Unmet:
    count: int
    exact: bool
    first: datetime | None


def _count_unmet(spec: ScheduleSpec, after: datetime, until: datetime) -> _Unmet:
    """Slots in (after, until]: exact up to TOO_MANY_MISSED + 1, then extrapolated at the seen rate."""
    sample = list(islice(iter_slots(spec.schedule, spec.time_zone, after, until), TOO_MANY_MISSED + 1))
    if len(sample) <= TOO_MANY_MISSED or next_slot(spec.schedule, spec.time_zone, sample[-1]) > until:
        return _Unmet(len(sample), True, sample[0] if sample else None)
    # Counting every missed minute of a long outage would cost as much as the outage was long.
    rate = (sample[-1] - sample[0]) / (len(sample) - 1)
    return _Unmet(len(sample) + max(1, int((until - sample[-1]) / rate)), False, sample[0])


def _skipped_event(count: int, exact: bool, first: datetime, last: datetime, deadline: int | None) -> ScheduleEvent:
    amount = f"{count}" if exact else f"about {count}"
    plural = "slot" if count == 1 else "slots"
    window = f"{to_rfc3339(first)}" if first == last else f"{to_rfc3339(first)} to {to_rfc3339(last)}"
    rule = (
        f"only the most recent missed slot runs, and only within startingDeadlineSeconds ({deadline}s)"
        if deadline is not None
        else "only the most recent missed slot runs"
    )
    return ScheduleEvent("Warning", "MissSchedule", f"Skipped {amount} missed schedule {plural} ({window}): {rule}")


@dataclass(frozen=True)
class _Missed:
    due: datetime | None  # newest unmet slot, if within the deadline
    skipped: _Unmet  # unmet slots that will never run; count excludes `due`
    skipped_through: datetime | None
    too_many: bool


def _missed(spec: ScheduleSpec, base: datetime, now: datetime) -> _Missed:
    """CronJob's mostRecentScheduleTime: only the newest unmet slot may run, and only within the deadline."""
    deadline = spec.starting_deadline_seconds
    window_start = base if deadline is None else max(base, now - timedelta(seconds=deadline))
    newest = previous_slot(spec.schedule, spec.time_zone, now)
    if newest is None or newest <= base:
        return _Missed(None, _Unmet(0, True, None), None, False)
    due = newest if newest > window_start else None
    unmet = _count_unmet(spec, base, now)
    # Like CronJob, the > 100 warning counts only inside the deadline window.
    in_window = unmet if window_start == base or due is None else _count_unmet(spec, window_start, now)
    if due is None:
        return _Missed(None, unmet, newest, in_window.count > TOO_MANY_MISSED)
    skipped = _Unmet(unmet.count - 1, unmet.exact, unmet.first if unmet.count > 1 else None)
    through = previous_slot(spec.schedule, spec.time_zone, due - timedelta(minutes=1)) if skipped.count else None
    return _Missed(due, skipped, through, in_window.count > TOO_MANY_MISSED)


@dataclass(frozen=True)
class _Admission:
    start: datetime | None
    forbidden: bool
    already_active: bool
    blocking: tuple[str, ...]  # other active runs
    cancel: tuple[str, ...]


def _admit(spec: ScheduleSpec, due: datetime | None, active_run_ids: Iterable[str]) -> _Admission:
    """Apply suspend and the concurrency policy to the due slot."""
    due_id = run_id_for_slot(due) if due is not None else None
    active = sorted(set(active_run_ids))
    others = tuple(run_id for run_id in active if run_id != due_id)
    already_active = due_id is not None and due_id in active  # created, but status not yet written
    runnable = due is not None and not spec.suspend and not already_active
    forbidden = runnable and spec.concurrency_policy is ConcurrencyPolicy.FORBID and bool(others)
    start = due if runnable and not forbidden else None
    cancel = others if start is not None and spec.concurrency_policy is ConcurrencyPolicy.REPLACE else ()
    return _Admission(start, forbidden, already_active, others, cancel)


def _events(spec: ScheduleSpec, missed: _Missed, admission: _Admission) -> tuple[ScheduleEvent, ...]:
    events: list[ScheduleEvent] = []
    if missed.too_many:
        events.append(
            ScheduleEvent(
                "Warning",
                "TooManyMissedTimes",
                "too many missed start times (> 100). "
                "Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            )
        )
    skipped = missed.skipped
    if skipped.count and skipped.first is not None and missed.skipped_through is not None:
        events.append(
            _skipped_event(
                skipped.count, skipped.exact, skipped.first, missed.skipped_through, spec.starting_deadline_seconds
            )
        )
    if admission.forbidden and missed.due is not None:
        events.append(
            ScheduleEvent(
                "Normal",
                "JobAlreadyActive",
                f"Not starting the run for {to_rfc3339(missed.due)}: "
                f"{', '.join(admission.blocking)} still active and concurrencyPolicy is Forbid",
            )
        )
    if admission.cancel and missed.due is not None:
        events.append(
            ScheduleEvent(
                "Normal",
                "ReplacingRun",
                f"Cancelling {', '.join(admission.cancel)} to start "
                f"the run for {to_rfc3339(missed.due)}: concurrencyPolicy is Replace",
            )
        )
    return tuple(events)


def plan_schedule(
    spec: ScheduleSpec,
    *,
    now: datetime,
    created_at: datetime,
    last_schedule_time: datetime | None = None,
    active_run_ids: Iterable[str] = (),
    last_skipped_time: datetime | None = None,
) -> ScheduleDecision:
    """Decide what to do at `now`. `active_run_ids` are the runs the concurrency policy applies to.

    Raises InvalidSchedule if the schedule or time zone is invalid (validate the spec first).
    """
    validate_schedule(spec.schedule, spec.time_zone)
    now = ensure_utc(now, "now")
    last = ensure_utc(last_schedule_time, "last_schedule_time") if last_schedule_time is not None else None
    # CronJob counts from lastScheduleTime, else the creation time; we also skip already-reported slots.
    base = last or ensure_utc(created_at, "created_at")
    if last_skipped_time is not None:
        base = max(base, ensure_utc(last_skipped_time, "last_skipped_time"))

    missed = _missed(spec, base, now)
    admission = _admit(spec, missed.due, active_run_ids)
    upcoming = None if spec.suspend else next_slot(spec.schedule, spec.time_zone, max(now, base))
    sleep = None if upcoming is None else max(0.0, (upcoming - now).total_seconds()) + WAKE_UP_PADDING_SECONDS
    recorded = missed.due if admission.start is not None or admission.already_active else last
    return ScheduleDecision(
        now=now,
        due_slot=missed.due,
        start_slot=admission.start,
        start_run_id=run_id_for_slot(admission.start) if admission.start is not None else None,
        suspended=spec.suspend,
        forbidden=admission.forbidden,
        cancel_run_ids=admission.cancel,
        skipped_count=missed.skipped.count,
        skipped_count_exact=missed.skipped.exact,
        skipped_from=missed.skipped.first,
        skipped_through=missed.skipped_through,
        too_many_missed=missed.too_many,
        last_schedule_time=recorded,
        next_slot=upcoming,
        sleep_seconds=sleep,
        events=_events(spec, missed, admission),
    )
