"""Fault injection: latency, error answers, hangs, dropped connections and payload limits per target."""

from __future__ import annotations

import asyncio
import random
from http import HTTPStatus
from typing import Literal

from .config import ErrorShape, FaultSpec
from .errors import (
    DEFAULT_MESSAGES,
    INFERENCE_SHAPE_BY_STATUS,
    DropConnection,
    ErrorAnswer,
    error_response,
    load_balancer_unavailable,
)

TargetKind = Literal["inference", "mlops", "keycloak"]


class FaultState:
    """A ``FaultSpec`` plus what it uses up at run time: the ``fail_next`` budget and a seeded generator."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.remaining_failures = spec.fail_next
        self._random = random.Random(spec.seed)

    def next_request_fails(self) -> bool:
        if self.remaining_failures > 0:
            self.remaining_failures -= 1
            return True
        return self.spec.rate > 0 and self._random.random() < self.spec.rate

    def describe(self) -> dict[str, object]:
        return {**self.spec.model_dump(), "remaining_failures": self.remaining_failures}


def check_payload_size(faults: FaultState | None, size: int) -> None:
    """The load balancer's 503 for bodies over the limit (seen for a 4.8 MB, 25k-row upload)."""
    limit = faults.spec.max_payload_bytes if faults else None
    if limit is not None and size > limit:
        raise load_balancer_unavailable()


async def inject_failure(faults: FaultState | None, kind: TargetKind) -> None:
    """Raise an error answer, drop the connection or hang, when this request is one that fails."""
    if faults is None or not faults.next_request_fails():
        return
    spec = faults.spec
    if spec.failure == "drop":
        raise DropConnection()
    if spec.failure == "hang":
        await asyncio.sleep(spec.hang_seconds)
        return
    headers = {"Retry-After": str(spec.retry_after)} if spec.retry_after is not None else None
    shape = spec.body or default_shape(kind, spec.status)
    raise ErrorAnswer(error_response(shape, spec.status, spec.message or default_message(kind, spec.status), headers))


async def add_latency(faults: FaultState | None, rows: int = 0) -> None:
    if faults is None:
        return
    delay = faults.spec.latency_seconds + faults.spec.latency_per_row_seconds * rows
    if delay > 0:
        await asyncio.sleep(delay)


def default_shape(kind: TargetKind, status: int) -> ErrorShape:
    if kind == "inference":
        return INFERENCE_SHAPE_BY_STATUS.get(status, "platform")
    return kind


def default_message(kind: TargetKind, status: int) -> str:
    if kind == "inference" and status in DEFAULT_MESSAGES:
        return DEFAULT_MESSAGES[status]
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
