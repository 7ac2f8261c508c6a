"""The operator's clock. Production uses real time; tests may speed it up so that a `* * * * *`
schedule fires every second while the same planner, timers and status code run."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

SPEEDUP_VARIABLE = "WALLAROO_OPERATOR_TEST_CLOCK_SPEEDUP"  # test-only: never set in production


class OperatorClock:
    def __init__(self, speedup: float = 1.0):
        if speedup <= 0:
            raise ValueError(f"{SPEEDUP_VARIABLE} must be positive, got {speedup}")
        self.speedup = speedup
        self._epoch = time.time()

    def now(self) -> datetime:
        real = time.time()
        return datetime.fromtimestamp(self._epoch + (real - self._epoch) * self.speedup, timezone.utc)

    def real_seconds(self, clock_seconds: float) -> float:
        """How long to really sleep for `clock_seconds` of this clock's time."""
        return clock_seconds / self.speedup


def clock_from_environment() -> OperatorClock:
    return OperatorClock(float(os.environ.get(SPEEDUP_VARIABLE, "1")))
