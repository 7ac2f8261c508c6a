"""The one RFC 3339 formatter and parser: what Kubernetes writes (metav1.Time) and what it reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from wallaroo_operator import rfc3339
from wallaroo_operator.kube import conditions
from wallaroo_operator.rfc3339 import from_rfc3339, now_rfc3339, to_rfc3339
from wallaroo_operator.schedule import slots

MOMENT = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def test_whole_seconds_in_utc_with_z() -> None:
    assert to_rfc3339(MOMENT.replace(microsecond=999999)) == "2024-05-01T12:30:00Z"
    assert to_rfc3339(MOMENT.astimezone(timezone(timedelta(hours=-7)))) == "2024-05-01T12:30:00Z"


def test_parses_z_offsets_and_fractions() -> None:
    assert from_rfc3339("2024-05-01T12:30:00Z") == MOMENT
    assert from_rfc3339("2024-05-01t12:30:00z") == MOMENT
    assert from_rfc3339("2024-05-01T14:30:00+02:00") == MOMENT
    assert from_rfc3339("2024-05-01T12:30:00.250Z") == MOMENT + timedelta(milliseconds=250)
    assert from_rfc3339("2024-05-01T12:30:00Z").tzinfo is UTC


def test_round_trip() -> None:
    assert from_rfc3339(to_rfc3339(MOMENT)) == MOMENT


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_rfc3339(datetime(2024, 5, 1, 12, 30))
    with pytest.raises(ValueError, match="timezone-aware"):
        from_rfc3339("2024-05-01T12:30:00")


def test_now_is_the_current_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = from_rfc3339(now_rfc3339())
    assert before <= stamp <= datetime.now(UTC)
    assert now_rfc3339(MOMENT) == "2024-05-01T12:30:00Z"


def test_there_is_one_formatter() -> None:
    """The schedule and condition code use this module's functions, not copies."""
    assert slots.to_rfc3339 is rfc3339.to_rfc3339 and slots.from_rfc3339 is rfc3339.from_rfc3339
    assert conditions.now_rfc3339 is rfc3339.now_rfc3339


def test_no_other_module_formats_or_parses_timestamps_itself() -> None:
    package = Path(rfc3339.__file__).parent
    modules = [path for path in sorted(package.rglob("*.py")) if path.name != "rfc3339.py"]
    copies = [
        f"{path.relative_to(package)}:{number}"
        for path in modules
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.(strftime|isoformat|fromisoformat|strptime)\(", line)
    ]
    assert copies == []
