"""Schedule slots: the instants at which a cron schedule fires in its time zone.

A slot is a whole UTC minute whose wall-clock time in the job's time zone matches the five fields.
That is what Kubernetes (robfig/cron) computes, and it settles daylight saving time:
  * a wall time that does not exist (skipped by spring-forward, e.g. 02:30 on 2024-03-10 in
    America/New_York) never fires that day: the slot is skipped, not moved to 03:00;
  * a wall time that happens twice (repeated by fall-back, e.g. 01:30 on 2024-11-03 in New York)
    fires twice, once per occurrence, one hour apart;
  * slots that don't name the changing hour (e.g. `0 9 * * *`) keep their wall time, so their UTC
    time moves by the offset change; hourly schedules simply fire every real hour.
To schedule safely around DST, pick a time outside the zone's transition hours or use UTC.

Pure functions: the caller passes the time; all datetimes returned are aware and in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo

from wallaroo_operator.rfc3339 import ensure_utc, from_rfc3339, to_rfc3339
from wallaroo_operator.schedule.cron import CronFields, parse_schedule, zone_info

__all__ = ["ensure_utc", "from_rfc3339", "iter_slots", "next_slot", "previous_slot", "to_rfc3339"]

_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)
# A Feb 29 schedule fires every 4 years, 8 across a skipped century leap day (2096 -> 2104).
_SEARCH_LIMIT = timedelta(days=9 * 366)
# Never jump over two UTC offset changes at once (they could cancel out unseen, hiding a repeated
# hour). Across all tzdata zones from 1990 to 2045 changes are at least 7 days apart (Asia/Gaza).
_MAX_STEP = timedelta(days=3)


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _ceil_minute(moment: datetime) -> datetime:
    floor = _floor_minute(moment)
    return floor if floor == moment else floor + _MINUTE


def _wall(moment: datetime, zone: tzinfo) -> datetime:
    """Naive local wall-clock time of an instant, to the minute."""
    return _floor_minute(moment.astimezone(zone).replace(tzinfo=None, fold=0))


def _offset(moment: datetime, zone: tzinfo) -> timedelta | None:
    return moment.astimezone(zone).utcoffset()


def _offset_change(zone: tzinfo, early: datetime, late: datetime) -> datetime:
    """First whole second in (early, late] whose UTC offset differs from early's (one change assumed).

    Bisects whole seconds (early is a whole minute): a fractional result could round a slot that
    falls exactly on the change out of the search.
    """
    before = _offset(early, zone)
    low, high = 0, int((late - early).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(early + timedelta(seconds=middle), zone) == before:
            low = middle
        else:
            high = middle
    return early + timedelta(seconds=high)


def _later_wall(fields: CronFields, wall: datetime) -> datetime:
    """Smallest wall time after `wall` (which doesn't match) that could match."""
    if wall.month not in fields.months:
        return (wall.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
    if not fields.day_matches(wall.date()):
        return wall.replace(hour=0, minute=0) + timedelta(days=1)
    if wall.hour not in fields.hours:
        hour = next((h for h in fields.hours if h > wall.hour), None)
        if hour is not None:
            return wall.replace(hour=hour, minute=0)
        return wall.replace(hour=0, minute=0) + timedelta(days=1)
    minute = next((m for m in fields.minutes if m > wall.minute), None)
    return wall.replace(minute=minute) if minute is not None else wall.replace(minute=0) + timedelta(hours=1)


def _earlier_wall(fields: CronFields, wall: datetime) -> datetime:
    """Largest wall time before `wall` (which doesn't match) that could match."""
    if wall.month not in fields.months:
        return wall.replace(day=1, hour=0, minute=0) - _MINUTE
    if not fields.day_matches(wall.date()):
        return wall.replace(hour=0, minute=0) - _MINUTE
    if wall.hour not in fields.hours:
        hour = next((h for h in reversed(fields.hours) if h < wall.hour), None)
        return wall.replace(hour=hour, minute=59) if hour is not None else wall.replace(hour=0, minute=0) - _MINUTE
    minute = next((m for m in reversed(fields.minutes) if m < wall.minute), None)
    return wall.replace(minute=minute) if minute is not None else wall.replace(minute=0) - _MINUTE


def _next(fields: CronFields, zone: tzinfo, after: datetime) -> datetime | None:
    # Walk forward in real time; while the offset is constant, wall time advances with it, so we
    # may jump straight to the next candidate wall time, stopping at any offset change.
    moment, limit = _floor_minute(after) + _MINUTE, after + _SEARCH_LIMIT
    while moment <= limit:
        wall = _wall(moment, zone)
        if fields.matches(wall):
            return moment
        target = min(moment + (_later_wall(fields, wall) - wall), moment + _MAX_STEP)
        if _offset(target, zone) != _offset(moment, zone):
            target = _ceil_minute(_offset_change(zone, moment, target))
        moment = max(_floor_minute(target), moment + _MINUTE)
    return None


def _previous(fields: CronFields, zone: tzinfo, at_or_before: datetime) -> datetime | None:
    moment, limit = _floor_minute(at_or_before), at_or_before - _SEARCH_LIMIT
    while moment >= limit:
        wall = _wall(moment, zone)
        if fields.matches(wall):
            return moment
        target = max(moment - (wall - _earlier_wall(fields, wall)), moment - _MAX_STEP)
        if _offset(target, zone) != _offset(moment, zone):
            # Resume at the last minute before the change: walls there continue the other offset.
            target = _floor_minute(_offset_change(zone, target, moment) - _SECOND)
        moment = min(_floor_minute(target), moment - _MINUTE)
    return None


def next_slot(schedule: str, time_zone: str, after: datetime) -> datetime:
    """The first slot strictly after `after`. Raises InvalidSchedule for a bad schedule or zone."""
    slot = _next(parse_schedule(schedule), zone_info(time_zone), ensure_utc(after, "after"))
    if slot is None:  # unreachable for validated schedules; kept so a bug cannot spin a timer
        raise ValueError(f'schedule "{schedule}" has no slot within {_SEARCH_LIMIT.days} days after {after}')
    return slot


def previous_slot(schedule: str, time_zone: str, at_or_before: datetime) -> datetime | None:
    """The most recent slot at or before `at_or_before`, or None if none in the search window."""
    return _previous(parse_schedule(schedule), zone_info(time_zone), ensure_utc(at_or_before, "at_or_before"))


def iter_slots(schedule: str, time_zone: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """Slots in (after, until], oldest first. Lazy: stop consuming to bound the work."""
    fields, zone = parse_schedule(schedule), zone_info(time_zone)
    moment, until = ensure_utc(after, "after"), ensure_utc(until, "until")
    while (slot := _next(fields, zone, moment)) is not None and slot <= until:
        yield slot
        moment = slot
