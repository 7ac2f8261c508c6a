"""Schedule and time zone validation: Kubernetes CronJob's syntax, with user-facing messages."""

from __future__ import annotations

import re

import pytest

from wallaroo_operator.schedule import (
    MACROS,
    SCHEDULE_PATTERN,
    TIME_ZONE_PATTERN,
    InvalidSchedule,
    parse_schedule,
    validate_schedule,
    validate_time_zone,
)

VALID_SCHEDULES = [
    "* * * * *",
    "0 0 * * *",
    "*/15 * * * *",
    "5/15 * * * *",
    "0 9-17 * * MON-FRI",
    "0 9-17 * * mon-fri",
    "0 0 1,15 * *",
    "0 0 * JAN,jul *",
    "30 6-16/4 * * 1-5",
    "? ? ? ? ?",
    "0 0 31 * *",
    "0 0 29 2 *",
    "0 0 * * SUN",
    "59 23 31 12 6",
    "*/1 * * * *",
    "0 0 1-31/2 * *",
    "0,30 */2 * * 0,6",
    "  0 0 * * *  ",
    "0\t0 * * *",
    "0 0 13 * 5",
    *MACROS,
]

INVALID_SCHEDULES = [
    ("", "the schedule is empty"),
    ("   ", "the schedule is empty"),
    ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
    ("0 * * * * *", "found 6; seconds and years are not supported"),
    ("0 0 12 * * ? 2024", "found 7; seconds and years are not supported"),
    ("@reboot", '"@reboot" is not supported; use one of @yearly'),
    ("@every 5m", '"@every" is not supported'),
    ("@DAILY", '"@DAILY" is not supported'),
    ("TZ=UTC 0 * * * *", "TZ= and CRON_TZ= are not supported in the schedule; set timeZone instead"),
    ("CRON_TZ=Europe/Berlin 0 * * * *", "set timeZone instead"),
    ("60 * * * *", 'minute field "60": 60 is out of range 0-59'),
    ("0 24 * * *", 'hour field "24": 24 is out of range 0-23'),
    ("0 0 0 * *", 'day-of-month field "0": 0 is out of range 1-31'),
    ("0 0 * 13 *", 'month field "13": 13 is out of range 1-12'),
    ("0 0 * * 7", 'day-of-week field "7": 7 is out of range 0-6 (use 0 for Sunday)'),
    ("0 0 L * *", 'day-of-month field "L": "L" is not a number'),
    ("0 0 15W * *", '"15W" is not a number'),
    ("0 0 * * 1#2", '"1#2" is not a number or a name'),
    ("0 0 * FOO *", '"FOO" is not a number or a name'),
    ("a * * * *", '"a" is not a number'),
    ("-1 * * * *", 'minute field "-1"'),
    ("*/0 * * * *", 'step "0" in "*/0" must be a positive number'),
    ("1-2-3 * * * *", 'has more than one "-"'),
    ("1/2/3 * * * *", 'has more than one "/"'),
    ("*-5 * * * *", "a range cannot start with *"),
    ("5-1 * * * *", 'range "5-1" starts after it ends'),
    ("1,,2 * * * *", "empty item in the list"),
    ("0 0 30 2 *", "never runs"),
    ("0 0 31 4,6,9,11 *", "never runs"),
]


@pytest.mark.parametrize("schedule", VALID_SCHEDULES)
def test_valid_schedules_pass_validation_and_the_openapi_pattern(schedule: str) -> None:
    validate_schedule(schedule, "UTC")
    assert re.fullmatch(SCHEDULE_PATTERN, schedule)


@pytest.mark.parametrize(("schedule", "expected"), INVALID_SCHEDULES)
def test_invalid_schedules_explain_the_problem_and_show_the_value(schedule: str, expected: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule(schedule, "UTC")
    message = str(caught.value)
    assert message.startswith(f'invalid schedule "{schedule}": ')
    assert expected in message
    assert (caught.value.field, caught.value.value, caught.value.reason) == ("schedule", schedule, "InvalidSchedule")


@pytest.mark.parametrize(
    "schedule",
    [
        "",
        "* * * *",
        "0 * * * * *",
        "@reboot",
        "@every 5m",
        "@DAILY",
        "TZ=UTC 0 * * *",
        "CRON_TZ=UTC 0 * * * *",
        "0 0 * * 1#2",
        "daily",
    ],
)
def test_the_openapi_pattern_rejects_obviously_wrong_schedules(schedule: str) -> None:
    assert not re.fullmatch(SCHEDULE_PATTERN, schedule)


def test_macros_mean_what_cron_says() -> None:
    assert parse_schedule("@yearly") == parse_schedule("@annually") == parse_schedule("0 0 1 1 *")
    assert parse_schedule("@monthly") == parse_schedule("0 0 1 * *")
    assert parse_schedule("@weekly") == parse_schedule("0 0 * * 0")
    assert parse_schedule("@daily") == parse_schedule("@midnight") == parse_schedule("0 0 * * *")
    assert parse_schedule("@hourly") == parse_schedule("0 * * * *")


def test_field_syntax_follows_kubernetes() -> None:
    assert parse_schedule("5/15 * * * *").minutes == (5, 20, 35, 50)  # n/step means n-max/step
    assert parse_schedule("0 0 * * MON-FRI").days_of_week == (1, 2, 3, 4, 5)
    assert parse_schedule("0 0 * jan,Jul *").months == (1, 7)
    assert parse_schedule("0 0-23/6 * * *").hours == (0, 6, 12, 18)
    # Star flags decide whether the two day fields are AND-ed or OR-ed (Vixie cron, robfig).
    assert parse_schedule("0 0 * * 1").dom_star and not parse_schedule("0 0 * * 1").dow_star
    assert not parse_schedule("0 0 */2 * 1").dom_star
    assert parse_schedule("0 0 ? * 1").dom_star


@pytest.mark.parametrize(
    "zone",
    [
        "UTC",
        "Etc/UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "America/Argentina/Buenos_Aires",
        "America/Port-au-Prince",
        "Etc/GMT+5",
    ],
)
def test_iana_time_zones_are_accepted(zone: str) -> None:
    validate_time_zone(zone)
    validate_schedule("@daily", zone)
    assert re.fullmatch(TIME_ZONE_PATTERN, zone)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("", 'invalid timeZone "": give an IANA time zone name'),
        ("Local", 'invalid timeZone "Local": give an explicit IANA time zone name'),
        ("local", 'invalid timeZone "local"'),
        ("Mars/Olympus", 'unknown timeZone "Mars/Olympus": not an IANA time zone name'),
        ("America", 'unknown timeZone "America"'),
        ("../etc/passwd", 'unknown timeZone "../etc/passwd"'),
        ("/etc/localtime", 'unknown timeZone "/etc/localtime"'),
        ("Europe/Berlin ", 'unknown timeZone "Europe/Berlin "'),
        ("Europe//Berlin", 'unknown timeZone "Europe//Berlin"'),
        ("CET+1 whatever", "unknown timeZone"),
    ],
)
def test_unknown_time_zones_are_rejected_with_the_value(zone: str, expected: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule("@daily", zone)
    assert expected in str(caught.value)
    assert '(examples: "UTC", "Europe/Berlin", "America/New_York")' in str(caught.value)
    assert (caught.value.field, caught.value.reason) == ("timeZone", "UnknownTimeZone")


def test_invalid_schedule_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_schedule("nope", "UTC")
