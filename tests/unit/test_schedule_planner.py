"""The planner: the CronJob controller's decisions, driven by a clock the test controls."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from wallaroo_operator.schedule import (
    TOO_MANY_MISSED,
    WAKE_UP_PADDING_SECONDS,
    ConcurrencyPolicy,
    InvalidSchedule,
    ScheduleDecision,
    ScheduleSpec,
    from_rfc3339,
    plan_schedule,
    run_id_for_slot,
)

HOURLY = ScheduleSpec("@hourly")
CREATED = from_rfc3339("2024-05-01T10:05:00Z")


def at(text: str) -> datetime:
    return from_rfc3339(text)


def plan(
    spec: ScheduleSpec = HOURLY,
    now: str = "2024-05-01T10:30:00Z",
    *,
    created: datetime = CREATED,
    last: str | None = None,
    active: tuple[str, ...] = (),
    skipped: str | None = None,
) -> ScheduleDecision:
    return plan_schedule(
        spec,
        now=at(now),
        created_at=created,
        last_schedule_time=at(last) if last else None,
        active_run_ids=active,
        last_skipped_time=at(skipped) if skipped else None,
    )


def reasons(decision: ScheduleDecision) -> list[str]:
    return [event.reason for event in decision.events]


# --- on time --------------------------------------------------------------------------------------


def test_before_the_first_slot_nothing_starts_and_the_timer_sleeps_until_it() -> None:
    decision = plan(now="2024-05-01T10:30:00Z")
    assert decision.due_slot is None and decision.start_slot is None
    assert decision.next_slot == at("2024-05-01T11:00:00Z")
    assert decision.sleep_seconds == pytest.approx(30 * 60 + WAKE_UP_PADDING_SECONDS)
    assert decision.skipped_count == 0 and decision.events == ()
    assert decision.last_schedule_time is None


def test_a_slot_starts_when_the_timer_fires() -> None:
    decision = plan(now="2024-05-01T11:00:00.100000Z")
    assert decision.start_slot == decision.due_slot == at("2024-05-01T11:00:00Z")
    assert decision.start_run_id == run_id_for_slot(at("2024-05-01T11:00:00Z"))
    assert decision.last_schedule_time == at("2024-05-01T11:00:00Z")
    assert decision.next_slot == at("2024-05-01T12:00:00Z")
    assert decision.skipped_count == 0 and not decision.too_many_missed and decision.events == ()


def test_planning_again_after_starting_is_a_no_op() -> None:
    decision = plan(
        now="2024-05-01T11:00:05Z", last="2024-05-01T11:00:00Z", active=(run_id_for_slot(at("2024-05-01T11:00:00Z")),)
    )
    assert decision.start_slot is None and decision.due_slot is None
    assert decision.last_schedule_time == at("2024-05-01T11:00:00Z")


def test_a_slot_at_the_creation_time_is_not_run() -> None:
    # CronJob looks for slots strictly after the creation time.
    decision = plan(now="2024-05-01T11:00:30Z", created=at("2024-05-01T11:00:00Z"))
    assert decision.start_slot is None and decision.next_slot == at("2024-05-01T12:00:00Z")


def test_decisions_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan().start_slot = at("2024-05-01T11:00:00Z")  # type: ignore[misc]


# --- missed slots and startingDeadlineSeconds -----------------------------------------------------


def test_after_downtime_only_the_most_recent_missed_slot_runs() -> None:
    decision = plan(now="2024-05-01T15:30:00Z", last="2024-05-01T11:00:00Z")
    assert decision.start_slot == at("2024-05-01T15:00:00Z")
    assert (decision.skipped_count, decision.skipped_count_exact) == (3, True)
    assert (decision.skipped_from, decision.skipped_through) == (at("2024-05-01T12:00:00Z"), at("2024-05-01T14:00:00Z"))
    assert reasons(decision) == ["MissSchedule"]
    message = decision.events[0].message
    assert "Skipped 3 missed schedule slots (2024-05-01T12:00:00Z to 2024-05-01T14:00:00Z)" in message
    assert decision.next_slot == at("2024-05-01T16:00:00Z")


def test_missed_slot_past_the_deadline_is_skipped_not_started() -> None:
    spec = ScheduleSpec("@hourly", starting_deadline_seconds=600)
    decision = plan(spec, now="2024-05-01T15:30:00Z", last="2024-05-01T11:00:00Z")
    assert decision.start_slot is None and decision.due_slot is None
    assert decision.skipped_count == 4 and decision.skipped_through == at("2024-05-01T15:00:00Z")
    assert "startingDeadlineSeconds (600s)" in decision.events[0].message
    assert decision.last_schedule_time == at("2024-05-01T11:00:00Z")  # unchanged, as in CronJob
    assert decision.next_slot == at("2024-05-01T16:00:00Z")


def test_missed_slot_within_the_deadline_starts_late() -> None:
    spec = ScheduleSpec("@hourly", starting_deadline_seconds=3600)
    decision = plan(spec, now="2024-05-01T15:30:00Z", last="2024-05-01T11:00:00Z")
    assert decision.start_slot == at("2024-05-01T15:00:00Z") and decision.skipped_count == 3


def test_deadline_boundary_the_slot_must_be_newer_than_now_minus_deadline() -> None:
    spec = ScheduleSpec("@hourly", starting_deadline_seconds=60)
    assert plan(spec, now="2024-05-01T11:01:00Z").start_slot is None
    assert plan(spec, now="2024-05-01T11:00:59Z").start_slot == at("2024-05-01T11:00:00Z")


def test_zero_deadline_never_starts_anything_late() -> None:
    spec = ScheduleSpec("@hourly", starting_deadline_seconds=0)
    assert plan(spec, now="2024-05-01T11:00:00.100000Z").start_slot is None


def test_skipped_slots_are_reported_once_when_the_caller_feeds_them_back() -> None:
    spec = ScheduleSpec("@hourly", starting_deadline_seconds=600)
    first = plan(spec, now="2024-05-01T15:30:00Z", last="2024-05-01T11:00:00Z")
    again = plan(
        spec, now="2024-05-01T15:45:00Z", last="2024-05-01T11:00:00Z", skipped=first.skipped_through.isoformat()
    )  # type: ignore[union-attr]
    assert again.skipped_count == 0 and again.events == ()
    on_time = plan(
        spec, now="2024-05-01T16:00:00.100000Z", last="2024-05-01T11:00:00Z", skipped=first.skipped_through.isoformat()
    )  # type: ignore[union-attr]
    assert on_time.start_slot == at("2024-05-01T16:00:00Z") and on_time.skipped_count == 0


def test_more_than_100_missed_slots_warn_and_still_start_the_most_recent() -> None:
    spec = ScheduleSpec("* * * * *")
    decision = plan(spec, now="2024-05-01T13:00:10Z", last="2024-05-01T10:00:00Z")
    assert decision.too_many_missed
    assert decision.start_slot == at("2024-05-01T13:00:00Z")
    assert decision.skipped_count == 179 and not decision.skipped_count_exact  # extrapolated, here exactly
    assert reasons(decision) == ["TooManyMissedTimes", "MissSchedule"]
    assert "Set or decrease .spec.startingDeadlineSeconds" in decision.events[0].message
    assert "about 179" in decision.events[1].message


def test_exactly_100_missed_slots_do_not_warn_but_101_do() -> None:
    spec = ScheduleSpec("* * * * *")
    assert not plan(spec, now="2024-05-01T11:40:00Z", last="2024-05-01T10:00:00Z").too_many_missed
    decision = plan(spec, now="2024-05-01T11:41:00Z", last="2024-05-01T10:00:00Z")
    assert decision.too_many_missed and decision.skipped_count == TOO_MANY_MISSED and decision.skipped_count_exact


def test_the_deadline_bounds_the_too_many_missed_warning() -> None:
    # As in CronJob, the count is taken within the deadline window: a short deadline silences it.
    short = plan(
        ScheduleSpec("* * * * *", starting_deadline_seconds=600),
        now="2024-05-01T13:00:10Z",
        last="2024-05-01T10:00:00Z",
    )
    assert not short.too_many_missed and short.start_slot == at("2024-05-01T13:00:00Z")
    assert short.skipped_count == 179 and reasons(short) == ["MissSchedule"]
    long = plan(
        ScheduleSpec("* * * * *", starting_deadline_seconds=7200),
        now="2024-05-01T13:00:10Z",
        last="2024-05-01T10:00:00Z",
    )
    assert long.too_many_missed


def test_years_of_missed_minutes_are_cheap_and_estimated() -> None:
    decision = plan(ScheduleSpec("* * * * *"), now="2024-05-01T00:00:00Z", created=at("2023-05-01T00:00:00Z"))
    assert decision.start_slot == at("2024-05-01T00:00:00Z")
    assert decision.skipped_count == 366 * 24 * 60 - 1 and not decision.skipped_count_exact


def test_clock_skew_creation_in_the_future_starts_nothing() -> None:
    decision = plan(now="2024-05-01T10:30:00Z", created=at("2024-05-01T12:10:00Z"))
    assert decision.start_slot is None and decision.next_slot == at("2024-05-01T13:00:00Z")


# --- concurrency policies -------------------------------------------------------------------------

OTHER_RUN = run_id_for_slot(at("2024-05-01T10:00:00Z"))


def test_allow_starts_alongside_active_runs() -> None:
    decision = plan(
        ScheduleSpec("@hourly", concurrency_policy="Allow"),
        now="2024-05-01T11:00:01Z",
        active=(OTHER_RUN, "manual-0123456789"),
    )
    assert decision.start_slot == at("2024-05-01T11:00:00Z")
    assert decision.cancel_run_ids == () and not decision.forbidden


def test_forbid_holds_the_slot_back_while_a_run_is_active() -> None:
    spec = ScheduleSpec("@hourly", concurrency_policy=ConcurrencyPolicy.FORBID)
    decision = plan(spec, now="2024-05-01T11:00:01Z", active=(OTHER_RUN,))
    assert decision.forbidden and decision.start_slot is None
    assert decision.due_slot == at("2024-05-01T11:00:00Z")
    assert decision.last_schedule_time is None  # not recorded: the slot is still unmet
    assert reasons(decision) == ["JobAlreadyActive"] and OTHER_RUN in decision.events[0].message
    assert decision.next_slot == at("2024-05-01T12:00:00Z")


def test_forbid_starts_the_held_back_slot_when_the_run_ends_within_the_deadline() -> None:
    # CronJob re-syncs when a Job finishes and then starts the slot it skipped, if still in time.
    spec = ScheduleSpec("@hourly", concurrency_policy="Forbid", starting_deadline_seconds=1800)
    assert plan(spec, now="2024-05-01T11:20:00Z").start_slot == at("2024-05-01T11:00:00Z")
    late = plan(spec, now="2024-05-01T11:40:00Z")
    assert late.start_slot is None and late.skipped_through == at("2024-05-01T11:00:00Z")


def test_forbid_without_active_runs_starts() -> None:
    decision = plan(ScheduleSpec("@hourly", concurrency_policy="Forbid"), now="2024-05-01T11:00:01Z")
    assert decision.start_slot == at("2024-05-01T11:00:00Z") and not decision.forbidden


def test_forbid_with_a_long_run_skips_the_older_slots() -> None:
    spec = ScheduleSpec("@hourly", concurrency_policy="Forbid")
    decision = plan(spec, now="2024-05-01T14:00:01Z", last="2024-05-01T10:00:00Z", active=(OTHER_RUN,))
    assert decision.forbidden and decision.due_slot == at("2024-05-01T14:00:00Z")
    assert decision.skipped_count == 3 and reasons(decision) == ["MissSchedule", "JobAlreadyActive"]


def test_replace_cancels_the_active_runs_and_starts() -> None:
    spec = ScheduleSpec("@hourly", concurrency_policy="Replace")
    decision = plan(spec, now="2024-05-01T11:00:01Z", active=(OTHER_RUN, "gen-2"))
    assert decision.start_slot == at("2024-05-01T11:00:00Z")
    assert decision.cancel_run_ids == (OTHER_RUN, "gen-2")  # sorted, deterministic
    assert reasons(decision) == ["ReplacingRun"]


def test_replace_cancels_nothing_when_nothing_starts() -> None:
    spec = ScheduleSpec("@hourly", concurrency_policy="Replace")
    assert plan(spec, now="2024-05-01T11:30:00Z", last="2024-05-01T11:00:00Z", active=(OTHER_RUN,)).cancel_run_ids == ()
    assert plan(spec, now="2024-05-01T11:00:01Z").cancel_run_ids == ()


@pytest.mark.parametrize("policy", list(ConcurrencyPolicy))
def test_a_slot_whose_run_already_exists_is_recorded_not_restarted(policy: ConcurrencyPolicy) -> None:
    # The operator created the run, then died before writing lastScheduleTime.
    slot = at("2024-05-01T11:00:00Z")
    decision = plan(
        ScheduleSpec("@hourly", concurrency_policy=policy), now="2024-05-01T11:00:30Z", active=(run_id_for_slot(slot),)
    )
    assert decision.start_slot is None and decision.last_schedule_time == slot
    assert not decision.forbidden and decision.cancel_run_ids == ()


# --- suspend and resume ---------------------------------------------------------------------------


def test_suspended_nothing_starts_and_no_timer_is_needed() -> None:
    decision = plan(ScheduleSpec("@hourly", suspend=True), now="2024-05-01T11:00:01Z")
    assert decision.suspended and decision.start_slot is None
    assert decision.due_slot == at("2024-05-01T11:00:00Z")
    assert decision.next_slot is None and decision.sleep_seconds is None


def test_resume_without_deadline_starts_the_most_recent_missed_slot_at_once() -> None:
    decision = plan(ScheduleSpec("@hourly", suspend=False), now="2024-05-01T15:20:00Z", last="2024-05-01T11:00:00Z")
    assert decision.start_slot == at("2024-05-01T15:00:00Z") and decision.skipped_count == 3


def test_resume_with_deadline_follows_the_same_rules() -> None:
    spec = ScheduleSpec("@hourly", starting_deadline_seconds=900)
    in_time = plan(spec, now="2024-05-01T15:10:00Z", last="2024-05-01T11:00:00Z")
    assert in_time.start_slot == at("2024-05-01T15:00:00Z")
    too_late = plan(spec, now="2024-05-01T15:20:00Z", last="2024-05-01T11:00:00Z")
    assert too_late.start_slot is None and too_late.skipped_count == 4


# --- time zones -----------------------------------------------------------------------------------


def test_daily_slot_in_a_skipped_hour_does_not_run_that_day() -> None:
    spec = ScheduleSpec("0 2 * * *", time_zone="Europe/Berlin")
    decision = plan(spec, now="2024-03-31T01:30:00Z", last="2024-03-30T01:00:00Z")  # 03:30 CEST
    assert decision.start_slot is None and decision.skipped_count == 0
    assert decision.next_slot == at("2024-04-01T00:00:00Z")  # 02:00 CEST


def test_repeated_hour_gives_two_runs_with_distinct_ids() -> None:
    spec = ScheduleSpec("30 1 * * *", time_zone="America/New_York")
    first = plan(spec, now="2024-11-03T05:30:01Z", last="2024-11-02T05:30:00Z")
    assert first.last_schedule_time is not None
    second = plan(spec, now="2024-11-03T06:30:01Z", last=first.last_schedule_time.isoformat())
    assert (first.start_slot, second.start_slot) == (at("2024-11-03T05:30:00Z"), at("2024-11-03T06:30:00Z"))
    assert first.start_run_id != second.start_run_id
    assert second.next_slot == at("2024-11-04T06:30:00Z")


def test_yearly_and_month_end_schedules() -> None:
    yearly = plan(ScheduleSpec("@yearly"), now="2025-01-01T00:00:30Z", created=at("2024-06-01T00:00:00Z"))
    assert yearly.start_slot == at("2025-01-01T00:00:00Z") and yearly.next_slot == at("2026-01-01T00:00:00Z")
    month_end = plan(ScheduleSpec("0 0 31 * *"), now="2024-05-31T00:00:10Z", created=at("2024-04-01T00:00:00Z"))
    assert month_end.start_slot == at("2024-05-31T00:00:00Z") and month_end.next_slot == at("2024-07-31T00:00:00Z")


# --- inputs ---------------------------------------------------------------------------------------


def test_bad_spec_values_are_refused() -> None:
    with pytest.raises(ValueError):
        ScheduleSpec("@daily", concurrency_policy="Sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="startingDeadlineSeconds"):
        ScheduleSpec("@daily", starting_deadline_seconds=-1)
    with pytest.raises(InvalidSchedule, match="unknown timeZone"):
        plan(ScheduleSpec("@daily", time_zone="Nowhere/Land"))
    with pytest.raises(InvalidSchedule, match="invalid schedule"):
        plan(ScheduleSpec("61 * * * *"))
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_schedule(HOURLY, now=datetime(2024, 5, 1, 11), created_at=CREATED)


def test_sleep_is_always_until_the_next_slot() -> None:
    for minutes in range(0, 180, 7):
        now = at("2024-05-01T10:06:00Z") + timedelta(minutes=minutes, seconds=13)
        decision = plan_schedule(HOURLY, now=now, created_at=CREATED)
        assert decision.next_slot is not None and decision.next_slot > now
        assert decision.sleep_seconds == pytest.approx((decision.next_slot - now).total_seconds() + 0.1)
