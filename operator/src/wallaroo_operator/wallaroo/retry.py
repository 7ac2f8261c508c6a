"""Backoff policy, ``Retry-After`` parsing and the per-run retry budget."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Capped, jittered exponential backoff with a per-run budget.

    The n-th retry of a request waits ``min(max_backoff, initial_backoff * multiplier**n)``
    scaled by a random factor in ``[1 - jitter, 1]`` ("equal"-style jitter keeps a
    minimum wait while spreading parallel batches apart). A server's ``Retry-After``
    replaces the computed wait, capped at ``max_retry_after``.
    """

    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_retries_per_request: int = 5
    budget: int = 30  # retries across all batches of one run
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")
        if min(self.initial_backoff, self.max_backoff, self.max_retry_after) < 0:
            raise ValueError("backoff durations must not be negative")
        if self.max_retries_per_request < 0 or self.budget < 0:
            raise ValueError("retry counts must not be negative")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (0 for the first retry)."""
        exponent = min(retry_number, 64)  # avoid float overflow on absurd counts
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier**exponent)
        factor = 1.0 - self.jitter * (rng or random).random()
        return ceiling * factor

    def delay(self, retry_number: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """The wait before a retry, honouring the server's ``Retry-After`` when given."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(retry_number, rng)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date. None if unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() too
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


class RetryBudget:
    """A thread-safe count of the retries a run may still make."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._lock = threading.Lock()

    def try_spend(self) -> bool:
        with self._lock:
            if self._used >= self.total:
                return False
            self._used += 1
            return True

    @property
    def used(self) -> int:
        with self._lock:
            return self._used
