"""Backoff (capped, jittered, exponential), Retry-After parsing and the retry budget."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from wallaroo_operator.wallaroo import RetryPolicy, parse_retry_after
from wallaroo_operator.wallaroo.retry import RetryBudget

NOW = datetime(2024, 7, 22, 12, 0, 0, tzinfo=UTC)


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=5.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.backoff(10_000) == 5.0  # no overflow for absurd retry numbers


def test_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=8.0, jitter=0.5)
    rng = random.Random(7)
    for n in range(8):
        ceiling = min(8.0, 2.0**n)
        delays = [policy.backoff(n, rng) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 100  # really spread out


def test_retry_after_replaces_backoff_and_is_capped() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_retry_after=10.0)
    assert policy.delay(3, retry_after=2.0) == 2.0
    assert policy.delay(0, retry_after=3600.0) == 10.0
    assert policy.delay(0, retry_after=-5.0) == 0.0
    assert 0.5 <= policy.delay(0, retry_after=None) <= 1.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("Mon, 22 Jul 2024 12:00:45 GMT", 45.0),
        (format_datetime(NOW - timedelta(minutes=5), usegmt=True), 0.0),  # already past
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
        ("1.5", None),  # not valid delta-seconds
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        RetryPolicy(budget=-1)
    with pytest.raises(ValueError):
        RetryPolicy(initial_backoff=-1)


def test_budget_is_shared_safely_between_threads() -> None:
    budget = RetryBudget(100)
    granted: list[bool] = []

    def spend() -> None:
        for _ in range(50):
            granted.append(budget.try_spend())

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 100 and budget.used == 100
    assert not budget.try_spend()
