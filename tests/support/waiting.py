"""Tests never sleep to synchronise: they wait for a condition, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    pass


def wait_for(probe: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> T:
    """Call `probe` until it returns something truthy (returned), or fail after `timeout` seconds.

    Exceptions from `probe` count as "not yet" (an object may not exist yet); the last one is shown.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value = None
    while True:
        try:
            last_value = probe()
            if last_value:
                return last_value
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error!r}" if last_error else f"; last value: {last_value!r}"
            raise Timeout(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)
