"""Slots: when a schedule fires, in its time zone, including DST changes and month ends."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
from croniter import croniter

from wallaroo_operator.schedule import (
    from_rfc3339,
    iter_slots,
    next_slot,
    parse_schedule,
    previous_slot,
    to_rfc3339,
    zone_info,
)


def utc(text: str) -> datetime:
    return from_rfc3339(text)


def local(moment: datetime, zone: str) -> str:
    return moment.astimezone(zone_info(zone)).isoformat()


def slots(schedule: str, zone: str, after: str, count: int) -> list[datetime]:
    found, moment = [], utc(after)
    for _ in range(count):
        moment = next_slot(schedule, zone, moment)
        found.append(moment)
    return found


def brute_force(schedule: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Reference: every UTC minute in (start, end] whose wall time in the zone matches."""
    fields, tz = parse_schedule(schedule), zone_info(zone)
    found, moment = [], start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment <= end:
        if fields.matches(moment.astimezone(tz).replace(tzinfo=None)):
            found.append(moment)
        moment += timedelta(minutes=1)
    return found


# --- DST in America/New_York: spring-forward 2024-03-10 02:00 EST -> 03:00 EDT ---------------


def test_new_york_spring_forward_skips_a_slot_inside_the_missing_hour() -> None:
    # 02:30 does not exist on 2024-03-10: like Kubernetes (robfig/cron), the slot is skipped, not moved.
    found = slots("30 2 * * *", "America/New_York", "2024-03-09T00:00:00Z", 3)
    assert [local(s, "America/New_York") for s in found] == [
        "2024-03-09T02:30:00-05:00",
        "2024-03-11T02:30:00-04:00",
        "2024-03-12T02:30:00-04:00",
    ]


def test_new_york_spring_forward_hourly_fires_every_real_hour() -> None:
    found = slots("0 * * * *", "America/New_York", "2024-03-10T05:30:00Z", 3)
    assert [to_rfc3339(s) for s in found] == ["2024-03-10T06:00:00Z", "2024-03-10T07:00:00Z", "2024-03-10T08:00:00Z"]
    assert [local(s, "America/New_York") for s in found] == [
        "2024-03-10T01:00:00-05:00",
        "2024-03-10T03:00:00-04:00",
        "2024-03-10T04:00:00-04:00",
    ]


def test_new_york_daily_slot_keeps_its_wall_time_across_dst() -> None:
    found = slots("0 9 * * *", "America/New_York", "2024-03-09T00:00:00Z", 2)
    assert [to_rfc3339(s) for s in found] == ["2024-03-09T14:00:00Z", "2024-03-10T13:00:00Z"]


# --- DST in America/New_York: fall-back 2024-11-03 02:00 EDT -> 01:00 EST ---------------------


def test_new_york_fall_back_fires_twice_inside_the_repeated_hour() -> None:
    found = slots("30 1 * * *", "America/New_York", "2024-11-03T00:00:00Z", 3)
    assert [local(s, "America/New_York") for s in found] == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T01:30:00-05:00",
        "2024-11-04T01:30:00-05:00",
    ]
    assert found[1] - found[0] == timedelta(hours=1)


def test_new_york_fall_back_from_inside_the_repeated_hour() -> None:
    # 01:45 EDT: the next 01:30 is the second occurrence, an hour of wall time "earlier".
    after = utc("2024-11-03T05:45:00Z")
    assert local(after, "America/New_York") == "2024-11-03T01:45:00-04:00"
    assert local(next_slot("30 1 * * *", "America/New_York", after), "America/New_York") == "2024-11-03T01:30:00-05:00"
    assert previous_slot("30 1 * * *", "America/New_York", utc("2024-11-03T06:29:00Z")) == utc("2024-11-03T05:30:00Z")


def test_new_york_fall_back_every_half_hour() -> None:
    found = slots("*/30 * * * *", "America/New_York", "2024-11-03T04:45:00Z", 5)
    assert [to_rfc3339(s) for s in found] == [
        "2024-11-03T05:00:00Z",
        "2024-11-03T05:30:00Z",
        "2024-11-03T06:00:00Z",
        "2024-11-03T06:30:00Z",
        "2024-11-03T07:00:00Z",
    ]


# --- DST in Europe/Berlin: 2024-03-31 02:00 CET -> 03:00 CEST, 2024-10-27 03:00 CEST -> 02:00 CET


def test_berlin_spring_forward_skips_and_fall_back_repeats() -> None:
    spring = slots("30 2 * * *", "Europe/Berlin", "2024-03-30T00:00:00Z", 2)
    assert [local(s, "Europe/Berlin") for s in spring] == ["2024-03-30T02:30:00+01:00", "2024-04-01T02:30:00+02:00"]
    autumn = slots("30 2 * * *", "Europe/Berlin", "2024-10-26T12:00:00Z", 3)
    assert [to_rfc3339(s) for s in autumn] == ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z", "2024-10-28T01:30:00Z"]


def test_berlin_midnight_moves_in_utc_with_the_offset() -> None:
    found = slots("@daily", "Europe/Berlin", "2024-03-30T12:00:00Z", 2)
    assert [to_rfc3339(s) for s in found] == ["2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z"]


@pytest.mark.parametrize(
    ("zone", "around"),
    [
        ("America/New_York", "2024-03-10T07:00:00Z"),
        ("America/New_York", "2024-11-03T06:00:00Z"),
        ("Europe/Berlin", "2024-03-31T01:00:00Z"),
        ("Europe/Berlin", "2024-10-27T01:00:00Z"),
        ("Australia/Lord_Howe", "2024-04-06T15:00:00Z"),  # 30-minute DST
        ("Australia/Lord_Howe", "2024-10-05T15:30:00Z"),
        ("America/Sao_Paulo", "2018-11-04T03:00:00Z"),  # midnight did not exist
        ("America/Sao_Paulo", "2019-02-17T02:00:00Z"),  # midnight happened twice
        ("Pacific/Apia", "2011-12-30T10:00:00Z"),  # a whole day skipped (date line)
        ("Pacific/Chatham", "2024-04-06T14:00:00Z"),  # +13:45 -> +12:45
        ("Asia/Kolkata", "2024-03-10T07:00:00Z"),  # +05:30, no DST
    ],
)
@pytest.mark.parametrize(
    "schedule",
    [
        "* * * * *",
        "*/7 * * * *",
        "0 * * * *",
        "30 1 * * *",
        "30 2 * * *",
        "45 1,2 * * *",
        "@daily",
        "59 23 * * *",
        "15,45 0-3 * * *",
        "0 0 * * 0",
        "0 12 * * *",
    ],
)
def test_slots_match_a_minute_by_minute_reference_around_transitions(zone: str, around: str, schedule: str) -> None:
    start, end = utc(around) - timedelta(days=2), utc(around) + timedelta(days=2)
    expected = brute_force(schedule, zone, start, end)
    assert list(iter_slots(schedule, zone, start, end)) == expected
    # Walking backwards finds the same slots.
    for earlier, later in itertools.pairwise(expected):
        assert previous_slot(schedule, zone, later) == later
        assert previous_slot(schedule, zone, later - timedelta(seconds=1)) == earlier


def test_apia_skipped_day_has_no_slots() -> None:
    # 2011-12-30 never happened in Pacific/Apia.
    found = slots("0 12 * * *", "Pacific/Apia", "2011-12-29T00:00:00Z", 2)  # Dec 28, 14:00 local
    assert [local(s, "Pacific/Apia") for s in found] == ["2011-12-29T12:00:00-10:00", "2011-12-31T12:00:00+14:00"]


# --- month ends, leap days, yearly --------------------------------------------------------------


def test_day_31_only_fires_in_long_months() -> None:
    found = slots("0 0 31 * *", "UTC", "2024-01-31T00:00:00Z", 7)
    assert [s.date().isoformat() for s in found] == [
        "2024-03-31",
        "2024-05-31",
        "2024-07-31",
        "2024-08-31",
        "2024-10-31",
        "2024-12-31",
        "2025-01-31",
    ]


def test_day_30_skips_february() -> None:
    found = slots("0 6 30 * *", "Europe/Berlin", "2024-01-30T12:00:00Z", 2)
    assert [local(s, "Europe/Berlin") for s in found] == ["2024-03-30T06:00:00+01:00", "2024-04-30T06:00:00+02:00"]


def test_leap_day_fires_every_leap_year_and_skips_2100() -> None:
    assert [s.date().isoformat() for s in slots("0 0 29 2 *", "UTC", "2023-06-01T00:00:00Z", 2)] == [
        "2024-02-29",
        "2028-02-29",
    ]
    assert next_slot("0 0 29 2 *", "UTC", utc("2096-03-01T00:00:00Z")) == utc("2104-02-29T00:00:00Z")
    assert previous_slot("0 0 29 2 *", "UTC", utc("2104-02-28T00:00:00Z")) == utc("2096-02-29T00:00:00Z")


def test_yearly_fires_at_new_year_in_the_job_time_zone() -> None:
    assert [to_rfc3339(s) for s in slots("@yearly", "UTC", "2024-01-01T00:00:00Z", 2)] == [
        "2025-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    ]
    assert [to_rfc3339(s) for s in slots("@annually", "Europe/Berlin", "2024-06-01T00:00:00Z", 2)] == [
        "2024-12-31T23:00:00Z",
        "2025-12-31T23:00:00Z",
    ]
    assert [to_rfc3339(s) for s in slots("@yearly", "America/New_York", "2024-06-01T00:00:00Z", 1)] == [
        "2025-01-01T05:00:00Z"
    ]


def test_monthly_and_weekly_macros() -> None:
    assert [s.date().isoformat() for s in slots("@monthly", "UTC", "2024-01-15T00:00:00Z", 2)] == [
        "2024-02-01",
        "2024-03-01",
    ]
    assert [s.date().isoformat() for s in slots("@weekly", "UTC", "2024-05-01T00:00:00Z", 2)] == [
        "2024-05-05",
        "2024-05-12",
    ]  # Sundays


# --- general properties -------------------------------------------------------------------------


def test_next_slot_is_strictly_after_and_minute_aligned() -> None:
    assert next_slot("@hourly", "UTC", utc("2024-05-01T10:00:00Z")) == utc("2024-05-01T11:00:00Z")
    assert next_slot("* * * * *", "UTC", utc("2024-05-01T10:00:30Z")) == utc("2024-05-01T10:01:00Z")
    assert next_slot("* * * * *", "UTC", utc("2024-05-01T10:00:00.500000Z")) == utc("2024-05-01T10:01:00Z")


def test_previous_slot_includes_its_argument() -> None:
    assert previous_slot("@hourly", "UTC", utc("2024-05-01T11:00:00Z")) == utc("2024-05-01T11:00:00Z")
    assert previous_slot("@hourly", "UTC", utc("2024-05-01T10:59:59Z")) == utc("2024-05-01T10:00:00Z")


def test_results_are_utc_whatever_the_input_offset() -> None:
    berlin_noon = datetime(2024, 5, 1, 12, 0, tzinfo=zone_info("Europe/Berlin"))
    slot = next_slot("@hourly", "UTC", berlin_noon)
    assert slot == utc("2024-05-01T11:00:00Z") and slot.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot("@hourly", "UTC", datetime(2024, 5, 1, 12, 0))


def test_day_of_month_and_day_of_week_are_or_ed_when_both_restricted() -> None:
    # The 13th of each month or any Friday (cron and Kubernetes), not Friday the 13th.
    found = [s.date().isoformat() for s in slots("0 0 13 * 5", "UTC", "2024-09-01T00:00:00Z", 4)]
    assert found == ["2024-09-06", "2024-09-13", "2024-09-20", "2024-09-27"]
    # With a star in one of them, both must match.
    assert [s.date().isoformat() for s in slots("0 0 * * 5", "UTC", "2024-09-01T00:00:00Z", 1)] == ["2024-09-06"]


@pytest.mark.parametrize(
    "schedule",
    [
        "*/15 * * * *",
        "0 9-17 * * 1-5",
        "30 6-16/4 * * 1-5",
        "0 0 1,15 * *",
        "0 0 13 * 5",
        "0 12 * 1,7 *",
        "0 0 31 * *",
        "15 14 1 * *",
        "0 22 * * 1-5",
        "23 0-20/2 * * *",
        "5 4 * * 0",
        "0 0 1 1 *",
    ],
)
def test_utc_slots_agree_with_croniter(schedule: str) -> None:
    start = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    expected = [t for t in islice(croniter(schedule, start).all_next(datetime), 60)]
    assert slots(schedule, "UTC", to_rfc3339(start), 60) == expected


def test_rfc3339_round_trip() -> None:
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert to_rfc3339(moment) == "2024-05-01T12:30:00Z"
    assert from_rfc3339("2024-05-01T12:30:00Z") == moment
    assert from_rfc3339("2024-05-01T14:30:00+02:00") == moment


def _random_field(rng: random.Random, low: int, high: int) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return "*"
    if kind == 1:
        return f"*/{rng.randint(2, max(2, (high - low) // 2))}"
    if kind == 2:
        start = rng.randint(low, high)
        return f"{start}-{rng.randint(start, high)}"
    return ",".join(str(v) for v in sorted(rng.sample(range(low, high + 1), rng.randint(1, 3))))


@pytest.mark.parametrize("seed", range(40))
def test_random_schedules_match_the_reference_across_dst(seed: int) -> None:
    rng = random.Random(seed)
    zone, around = rng.choice(
        [
            ("America/New_York", "2024-03-10T07:00:00Z"),
            ("America/New_York", "2024-11-03T06:00:00Z"),
            ("Europe/Berlin", "2024-03-31T01:00:00Z"),
            ("Europe/Berlin", "2024-10-27T01:00:00Z"),
            ("Australia/Lord_Howe", "2024-04-06T15:00:00Z"),
            ("America/Santiago", "2024-04-07T03:00:00Z"),
        ]
    )
    day_of_week = rng.choice(["*", "0-6", "1-5"])
    schedule = " ".join([_random_field(rng, 0, 59), _random_field(rng, 0, 23), "*", "*", day_of_week])
    start = utc(around) - timedelta(hours=rng.randint(1, 40))
    end = start + timedelta(days=3)
    assert list(iter_slots(schedule, zone, start, end)) == brute_force(schedule, zone, start, end), schedule
