"""A run in progress: its record (what status shows), its context (what its worker thread sees), and
how to cancel it or let it sleep until woken."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wallaroo_operator.controller.run import RunContext
from wallaroo_operator.rfc3339 import to_rfc3339


@dataclass
class ActiveRun:
    record: dict[str, Any]  # camelCase RunRecord fields
    context: RunContext
    task: asyncio.Task[None] | None = None
    cancel_reason: str | None = None
    waits: int = 0  # looks for a missing Secret/ConfigMap/connection so far
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return str(self.record["id"])

    def is_cancelled(self) -> bool:
        """Asked to stop (read anew each time: another task may cancel it while this one waits)."""
        return self.cancel_reason is not None

    def cancel(self, reason: str) -> None:
        """Ask the run to stop; the first reason given is the one recorded."""
        if not self.cancel_reason:
            self.cancel_reason = reason
            self.context.cancel.set()
            self.wake.set()

    def stop_for_operator(self) -> None:
        """The operator stops: the run ends without an outcome (a successor resumes it)."""
        self.cancel_reason = self.cancel_reason or "OperatorStopping"
        self.context.operator_stopping = self.cancel_reason == "OperatorStopping"
        self.context.cancel.set()
        self.wake.set()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is cancelled."""
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=seconds)


def new_record(
    trigger: str,
    run_id: str,
    *,
    now: datetime,
    generation: int | None,
    scheduled_time: datetime | None = None,
    attempt: int = 1,
    restarted: bool = False,
    adopted: bool = False,
) -> dict[str, Any]:
    """The record of a run that starts now. It is Running at once: the status write that announces it
    is then the only one until its outcome (a wait or a retry turns it Pending, with the reason)."""
    record: dict[str, Any] = {
        "id": run_id,
        "trigger": trigger,
        "state": "Running",
        "attempt": attempt,
        "startTime": to_rfc3339(now),
        "generation": generation,
    }
    if scheduled_time:
        record["scheduledTime"] = to_rfc3339(scheduled_time)
    if restarted:
        record["restarted"] = True
    if adopted:
        record["adopted"] = True
    return record
