"""Progress of a local run: a bar redrawn in place on a terminal, plain periodic lines otherwise.

Rows done out of the total, the rate since the start and the time left at that rate. The bar goes to
standard error, so standard output keeps only the summary (and can be piped).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from typing import TextIO

PLAIN_INTERVAL_SECONDS = 10.0  # without a terminal: one line at most this often (and one at the end)
BAR_REDRAW_SECONDS = 0.1


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`: short enough for a status line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Call `update(done, total)` as often as you like; it draws at most every few moments."""

    def __init__(
        self,
        stream: TextIO,
        *,
        terminal: bool | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.clock = stream, clock
        self.terminal = wants_bar(stream) if terminal is None else terminal
        self.interval = (
            interval if interval is not None else (BAR_REDRAW_SECONDS if self.terminal else PLAIN_INTERVAL_SECONDS)
        )
        self.started = clock()
        self.done, self.total = 0, 0
        self._drawn = -math.inf
        self._shown: tuple[int, int] | None = None  # (done, total) last drawn
        self._open_line = False  # a bar is on screen and the cursor is at its end

    def update(self, done: int, total: int, *, force: bool = False) -> None:
        self.done, self.total = done, total
        now = self.clock()
        if force or now - self._drawn >= self.interval:
            self._draw(now)

    def finish(self) -> None:
        """The last state drawn (if any was counted and it is not on screen yet), and the line ended."""
        if self._drawn > -math.inf and self._shown != (self.done, self.total):
            self._draw(self.clock())
        self.close()

    def close(self) -> None:
        """End the bar's line, so that what follows (an error, the summary) starts on a line of its own."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False

    def line(self) -> str:
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"{self.done:,}/{self.total:,} rows" if self.total else f"{self.done:,} rows"
        if self.total:
            text += f" ({100 * self.done // self.total}%)"
        text += f"  {rate:,.0f} rows/s"
        if 0 < self.done < self.total and rate > 0:
            text += f"  ETA {duration((self.total - self.done) / rate)}"
        return text + f"  elapsed {duration(elapsed)}"

    def _draw(self, now: float) -> None:
        self._drawn, self._shown = now, (self.done, self.total)
        if self.terminal:
            width = shutil.get_terminal_size((80, 24)).columns
            text = self.line()
            bar_width = max(10, min(40, width - len(text) - 4))
            filled = bar_width * self.done // self.total if self.total else 0
            bar = "#" * filled + "." * (bar_width - filled)
            self.stream.write(f"\r[{bar}] {text}"[: width + 1] + "\033[K")
            self._open_line = True
        else:
            self.stream.write(f"progress: {self.line()}\n")
        self.stream.flush()


def wants_bar(stream: TextIO) -> bool:
    """A bar only on a terminal that can redraw a line (not TERM=dumb)."""
    return stream.isatty() and os.environ.get("TERM") != "dumb"
