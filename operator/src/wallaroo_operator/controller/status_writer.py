"""Writing a job's status: what the API server has, what the controller wants on top of it, and a
write with a resourceVersion precondition, retried until it lands.

A write carries everything pending at that moment; changes that arrive while it is in flight go with
the next one, and a write whose patch is empty is not sent. So a run costs one write when it starts and
one when it ends, however many parts of the controller asked for a write in between."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from wallaroo_operator import constants as c
from wallaroo_operator.controller.job_status import Ready
from wallaroo_operator.kube import client
from wallaroo_operator.kube.status import (
    describe_failure,
    is_conflict,
    is_gone,
    merge_patch,
    patch_status_if_unchanged,
    read_object,
)

# (the server's status, pending field changes, finished runs, Ready if given) -> (status, runs pruned)
Compose = Callable[
    [dict[str, Any], dict[str, Any], list[dict[str, Any]], Ready | None], tuple[dict[str, Any], list[str]]
]


class StatusNotWritten(Exception):
    """The operator is stopping (or the job is gone) before a status write could land."""


class StatusWriter:
    def __init__(
        self,
        body: kopf.Body,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        compose: Compose,
        stopping: asyncio.Event,
        retry_cap_seconds: float,
        on_failed_write: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None,
    ) -> None:
        self._body, self._logger, self._compose = body, logger, compose
        # Called with the finished runs pending when a write first fails: they may wait a while in memory.
        self._on_failed_write = on_failed_write
        self._stopping, self._retry_cap = stopping, retry_cap_seconds
        # What the API server has (as of `_resource_version`), and what the controller wants on top of it
        # and has not written yet: field changes and finished runs, kept until a write lands.
        self._server: dict[str, Any] = dict(body.get("status") or {})
        self._resource_version: str = body.metadata.get("resourceVersion", "")
        self._pending: dict[str, Any] = {}
        self._pending_finished: dict[str, dict[str, Any]] = {}
        self.status: dict[str, Any] = dict(self._server)  # the server's status with ours applied
        self._lock = asyncio.Lock()

    async def write(
        self, changes: dict[str, Any], *, ready: Ready | None = None, finished: dict[str, Any] | None = None
    ) -> list[str]:
        """Apply `changes` (and a `finished` run), recompute, and patch what differs, retrying until it
        lands. Returns the ids of the runs pruned from the history. Raises StatusNotWritten only when the
        operator stops (or the job is deleted) first."""
        # Recorded before waiting for the lock: a write in progress picks them up on its next attempt.
        self._pending.update(changes)
        if finished:
            self._pending_finished[finished["id"]] = finished
        async with self._lock:
            return await self._write_until_landed(ready)

    async def _write_until_landed(self, ready: Ready | None) -> list[str]:
        failures = 0
        while True:
            included, included_finished = dict(self._pending), list(self._pending_finished)
            status, dropped = self._compose(self._server, self._pending, list(self._pending_finished.values()), ready)
            self.status = {k: v for k, v in status.items() if v is not None}
            patch = merge_patch(self._server, status)
            if not patch:
                self._landed(included, included_finished)
                return dropped
            metadata = self._body.metadata
            try:
                written = await client.call(
                    patch_status_if_unchanged,
                    c.JOB_PLURAL,
                    metadata["namespace"],
                    metadata["name"],
                    patch,
                    self._resource_version,
                )
            except Exception as error:
                if is_gone(error):
                    raise StatusNotWritten("the job is gone") from None
                if is_conflict(error) and await self._reread():
                    continue  # someone else wrote: recompute on top of what they wrote
                failures += 1
                if failures == 1 and self._pending_finished and self._on_failed_write:
                    await self._on_failed_write(list(self._pending_finished.values()))
                await self._before_retrying(error, failures)
                continue
            self._server = dict(written.get("status") or {})
            self._resource_version = written["metadata"]["resourceVersion"]
            self._landed(included, included_finished)
            if failures:
                kopf.info(
                    self._body,
                    reason="StatusWritten",
                    message=f"the status was written after {failures} failed attempts; nothing was lost",
                )
            return dropped

    def _landed(self, included: dict[str, Any], included_finished: list[str]) -> None:
        """Forget what the write that just landed carried; keep what arrived while it was in flight."""
        for key, value in included.items():
            if key in self._pending and self._pending[key] is value:
                del self._pending[key]
        for run_id in included_finished:
            self._pending_finished.pop(run_id, None)

    async def _reread(self) -> bool:
        """After a 409 Conflict: the object as the server has it now. False when it cannot be read."""
        metadata = self._body.metadata
        try:
            current = await client.call(read_object, c.JOB_PLURAL, metadata["namespace"], metadata["name"])
        except Exception as error:
            if is_gone(error):
                raise StatusNotWritten("the job is gone") from None
            return False
        self._server = dict(current.get("status") or {})
        self._resource_version = current["metadata"]["resourceVersion"]
        return True

    async def _before_retrying(self, error: BaseException, failures: int) -> None:
        delay = min(self._retry_cap, 0.5 * 2 ** min(failures - 1, 16))
        if failures == 1 or failures % 10 == 0:
            self._logger.warning(
                "status write failed (%s, attempt %d); retrying in %.1f s until it lands",
                describe_failure(error),
                failures,
                delay,
            )
        if failures == 1:
            kopf.warn(
                self._body,
                reason="StatusWriteRetrying",
                message=f"writing the status failed ({describe_failure(error)}); retrying until it lands, "
                "nothing is lost",
            )
        if self._stopping.is_set():
            raise StatusNotWritten("the operator is stopping")
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        except TimeoutError:
            return
        raise StatusNotWritten("the operator is stopping")
