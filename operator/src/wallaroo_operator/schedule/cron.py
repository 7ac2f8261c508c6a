"""Cron syntax and time zones exactly as Kubernetes CronJob accepts them.

Kubernetes parses `spec.schedule` with robfig/cron v3 `ParseStandard`: five fields (minute, hour,
day of month, month, day of week) or a macro. We mirror that grammar instead of using croniter's
parser, which also accepts things the API server rejects (`L`, `W`, `#`, day-of-week 7, seconds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS: Mapping[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# For an OpenAPI `pattern` (RE2 and ECMA-262 compatible): five whitespace-separated fields made of
# cron characters, or a macro. Catches typos server-side; validate_schedule() catches the rest.
SCHEDULE_PATTERN = (
    r"^\s*(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|[0-9A-Za-z*?,/-]+(\s+[0-9A-Za-z*?,/-]+){4})\s*$"
)

# Kubernetes' own rule for timeZone name components (pkg/apis/batch/validation).
TIME_ZONE_PATTERN = r"^[A-Za-z0-9._+-]{1,14}(/[A-Za-z0-9._+-]{1,14})*$"

_FIELDS_HELP = "minute hour day-of-month month day-of-week"
_SYNTAX_HELP = "use numbers, names (JAN, MON), *, ?, ranges a-b, steps */n or a-b/n, and lists a,b"


class InvalidSchedule(ValueError):
    """A schedule or time zone the operator cannot use. The message is fit for a status condition."""

    def __init__(self, message: str, *, field: str, value: str, reason: str) -> None:
        super().__init__(message)
        self.field = field  # "schedule" or "timeZone"
        self.value = value
        self.reason = reason  # CamelCase, for a condition or event reason


@dataclass(frozen=True)
class _Bounds:
    label: str
    low: int
    high: int
    names: Mapping[str, int] | None = None


_MINUTE = _Bounds("minute", 0, 59)
_HOUR = _Bounds("hour", 0, 23)
_DOM = _Bounds("day-of-month", 1, 31)
_MONTH = _Bounds(
    "month",
    1,
    12,
    {
        m: i + 1
        for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
    },
)
# 0-6 only, as in Kubernetes: 7 is rejected there, so it is here.
_DOW = _Bounds("day-of-week", 0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))})


@dataclass(frozen=True)
class CronFields:
    """A parsed schedule: the allowed values of each field (sorted), plus robfig's "star" flags."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]  # 0 = Sunday
    # Vixie cron rule kept by robfig: when both day fields are restricted (neither starts with * or ?),
    # a day matches if EITHER matches; otherwise both must match.
    dom_star: bool
    dow_star: bool

    def day_matches(self, day: date) -> bool:
        dom_ok = day.day in self.days_of_month
        dow_ok = day.isoweekday() % 7 in self.days_of_week
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def matches(self, wall: datetime) -> bool:
        """Whether a naive wall-clock time (minute precision) is a slot."""
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and self.day_matches(wall.date())
        )


def _fail(schedule: str, problem: str) -> InvalidSchedule:
    return InvalidSchedule(
        f'invalid schedule "{schedule}": {problem}', field="schedule", value=schedule, reason="InvalidSchedule"
    )


def _number(token: str, bounds: _Bounds) -> int:
    if bounds.names and token.lower() in bounds.names:
        return bounds.names[token.lower()]
    if not token.isascii() or not token.isdigit():
        kind = "a number or a name" if bounds.names else "a number"
        raise ValueError(f'"{token}" is not {kind}; {_SYNTAX_HELP}')
    return int(token)


def _parse_range(part: str, bounds: _Bounds) -> tuple[set[int], bool]:
    """One list item: *, ?, n, a-b, with an optional /step. Returns (values, is_star)."""
    range_text, *steps = part.split("/")
    if len(steps) > 1:
        raise ValueError(f'"{part}" has more than one "/"')
    step = 1
    if steps:
        if not steps[0].isascii() or not steps[0].isdigit() or int(steps[0]) == 0:
            raise ValueError(f'step "{steps[0]}" in "{part}" must be a positive number')
        step = int(steps[0])
    ends = range_text.split("-")
    if ends[0] in ("*", "?"):
        if len(ends) > 1:
            raise ValueError(f'"{part}": a range cannot start with {ends[0]}')
        return set(range(bounds.low, bounds.high + 1, step)), step == 1
    if len(ends) > 2:
        raise ValueError(f'"{part}" has more than one "-"')
    start = _number(ends[0], bounds)
    # robfig: "n/step" means n through the maximum.
    end = _number(ends[1], bounds) if len(ends) == 2 else (bounds.high if steps else start)
    for value in (start, end):
        if not bounds.low <= value <= bounds.high:
            hint = " (use 0 for Sunday)" if bounds is _DOW and value == 7 else ""
            raise ValueError(f"{value} is out of range {bounds.low}-{bounds.high}{hint}")
    if start > end:
        raise ValueError(f'range "{part}" starts after it ends')
    return set(range(start, end + 1, step)), False


def _parse_field(text: str, bounds: _Bounds) -> tuple[tuple[int, ...], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        if not part:
            raise ValueError("empty item in the list")
        part_values, part_star = _parse_range(part, bounds)
        values |= part_values
        star = star or part_star
    return tuple(sorted(values)), star


def _never_fires(fields: CronFields) -> bool:
    """True for grammatically valid but impossible dates such as `0 0 30 2 *`."""
    if not fields.dow_star or fields.dom_star:
        return False  # every month has every weekday, and OR-ed day fields always match some day
    longest = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}
    return not any(day <= longest.get(month, 31) for month in fields.months for day in fields.days_of_month)


@lru_cache(maxsize=4096)
def parse_schedule(schedule: str) -> CronFields:
    """Parse a schedule, raising InvalidSchedule with a user-facing message."""
    text = schedule.strip()
    if not text:
        raise _fail(schedule, f"the schedule is empty; give 5 fields ({_FIELDS_HELP}) or a macro such as @daily")
    if re.match(r"(CRON_)?TZ=", text, re.IGNORECASE):
        raise _fail(schedule, "TZ= and CRON_TZ= are not supported in the schedule; set timeZone instead")
    if text.startswith("@"):
        if text not in MACROS:
            raise _fail(
                schedule,
                f'"{text.split()[0]}" is not supported; use one of {", ".join(MACROS)} or 5 fields ({_FIELDS_HELP})',
            )
        text = MACROS[text]
    parts = text.split()
    if len(parts) != 5:
        extra = "; seconds and years are not supported" if len(parts) > 5 else ""
        raise _fail(schedule, f"expected 5 fields ({_FIELDS_HELP}), found {len(parts)}{extra}")
    parsed = []
    for part, bounds in zip(parts, (_MINUTE, _HOUR, _DOM, _MONTH, _DOW), strict=True):
        try:
            parsed.append(_parse_field(part, bounds))
        except ValueError as error:
            raise _fail(schedule, f'{bounds.label} field "{part}": {error}') from None
    (minutes, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = parsed
    fields = CronFields(minutes, hours, doms, months, dows, dom_star, dow_star)
    if _never_fires(fields):
        raise _fail(schedule, "this day of month never occurs in the given month(s), so it never runs")
    return fields


@lru_cache(maxsize=1024)
def zone_info(time_zone: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, with Kubernetes' rules; raises InvalidSchedule."""
    examples = '(examples: "UTC", "Europe/Berlin", "America/New_York")'
    if not time_zone:
        raise InvalidSchedule(
            f'invalid timeZone "": give an IANA time zone name {examples} or leave it unset for UTC',
            field="timeZone",
            value=time_zone,
            reason="UnknownTimeZone",
        )
    if time_zone.lower() == "local":
        raise InvalidSchedule(
            f'invalid timeZone "{time_zone}": give an explicit IANA time zone name {examples}',
            field="timeZone",
            value=time_zone,
            reason="UnknownTimeZone",
        )
    unknown = InvalidSchedule(
        f'unknown timeZone "{time_zone}": not an IANA time zone name {examples}',
        field="timeZone",
        value=time_zone,
        reason="UnknownTimeZone",
    )
    if not re.fullmatch(TIME_ZONE_PATTERN, time_zone) or any(
        p in (".", "..") or p.startswith("-") for p in time_zone.split("/")
    ):
        raise unknown
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as "America"
        raise unknown from None


def validate_time_zone(time_zone: str) -> None:
    zone_info(time_zone)


def validate_schedule(schedule: str, time_zone: str = "UTC") -> None:
    """Raise InvalidSchedule (field, value, reason, message) if the schedule or time zone is unusable."""
    parse_schedule(schedule)
    zone_info(time_zone)
