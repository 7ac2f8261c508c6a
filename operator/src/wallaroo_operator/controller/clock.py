"""The operator's clock. Production uses real time; tests may speed it up so that a `* * * * *`
schedule fires every second while the same planner, timers and status code run."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from wallaroo_operator.settings import Settings

SPEEDUP_VARIABLE = Settings.variable("test_clock_speedup")  # test-only: never set in production


class OperatorClock:
    def __init__(self, speedup: float = 1.0):
        if speedup <= 0:
            raise ValueError(f"{SPEEDUP_VARIABLE} must be positive, got {speedup}")
        self.speedup = speedup
        self._epoch = time.time()

    def now(self) -> datetime:
        real = time.time()
        return datetime.fromtimestamp(self._epoch + (real - self._epoch) * self.speedup, UTC)

    def real_seconds(self, clock_seconds: float) -> float:
        """How long to really sleep for `clock_seconds` of this clock's time."""
        return clock_seconds / self.speedup


def clock_from_environment() -> OperatorClock:
    """Read at each operator startup (not cached): tests start operators with different speedups."""
    return OperatorClock(Settings.from_environment().test_clock_speedup)
