"""RFC 3339 timestamps as Kubernetes writes them (metav1.Time): UTC, whole seconds, trailing Z.

The one formatter and parser for every time the operator writes into status, conditions and events.
"""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def ensure_utc(moment: datetime, name: str = "time") -> datetime:
    """The same instant in UTC; a naive datetime is a bug (whose local time would it be?)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


def to_rfc3339(moment: datetime) -> str:
    """`2024-05-01T12:30:00Z`: converted to UTC, fractions of a second dropped."""
    return ensure_utc(moment).replace(microsecond=0).strftime(_FORMAT)


def now_rfc3339(now: datetime | None = None) -> str:
    """`now` (default: the current time) as RFC 3339."""
    return to_rfc3339(now if now is not None else datetime.now(UTC))


def compact_utc(now: datetime | None = None) -> str:
    """`20240501-123000`: the same UTC second in a form allowed in object names (no colons)."""
    return ensure_utc(now if now is not None else datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def from_rfc3339(text: str) -> datetime:
    """Any RFC 3339 timestamp (Z or an offset, with or without fractions) as an aware UTC datetime."""
    return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))
