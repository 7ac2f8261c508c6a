"""What a run's lifecycle needs from the controller of its job (loop.py), as a protocol: the modules that
drive a run (lifecycle.py, waits.py) depend on this, not on the controller class."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Protocol

import kopf

from wallaroo_operator.controller.clock import OperatorClock
from wallaroo_operator.settings import Settings

if TYPE_CHECKING:
    from wallaroo_operator.controller.active import ActiveRun


class JobHost(Protocol):
    body: kopf.Body
    logger: logging.Logger | logging.LoggerAdapter[Any]
    executor: Executor  # the threads runs execute in
    clock: OperatorClock
    settings: Settings
    last_wait_reason: str | None  # the reason of the last wait event posted (one per reason)

    def cancel(self, run_id: str, reason: str) -> None: ...

    def announce(self, workspace: str, workspace_id: int, url: str) -> None:
        """The workspace id and inference URL a run resolved: a Resolved event when they changed."""

    async def update_active(self) -> None:
        """Write the runs in progress into status (nothing when unchanged)."""

    async def finish(self, run: ActiveRun, record: dict[str, Any], changes: dict[str, Any]) -> None:
        """Record a finished run (status, history, metrics) and post its one outcome event."""

    def run_ended(self, run: ActiveRun) -> None:
        """The run's task ends, recorded or not."""
