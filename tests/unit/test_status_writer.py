"""The status writer: one patch carries everything pending, an unchanged status is not written, a 409
is re-read and recomputed, and a write that keeps failing ends only when the operator stops."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kubernetes
import pytest

from wallaroo_operator.controller import status_writer
from wallaroo_operator.controller.status_writer import StatusNotWritten, StatusWriter


class Body(dict[str, Any]):
    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status=status)
        self.metadata = {"namespace": "ns", "name": "job", "resourceVersion": "1"}


class FakeServer:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}
        self.version = 1
        self.patches: list[dict[str, Any]] = []
        self.conflicts = 0
        self.failures = 0
        self.gate: asyncio.Event | None = None

    async def call(self, function: Any, *args: Any) -> dict[str, Any]:
        if function is status_writer.read_object:
            return {"status": dict(self.status), "metadata": {"resourceVersion": str(self.version)}}
        patch, version = args[3], args[4]
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise kubernetes.client.ApiException(status=503, reason="Service Unavailable")
        if self.conflicts or version != str(self.version):
            self.conflicts = max(0, self.conflicts - 1)
            raise kubernetes.client.ApiException(status=409, reason="Conflict")
        self.patches.append(patch)
        self.status.update({k: v for k, v in patch.items() if v is not None})
        self.version += 1
        return {"status": dict(self.status), "metadata": {"resourceVersion": str(self.version)}}


def compose(
    server: dict[str, Any], pending: dict[str, Any], finished: list[dict[str, Any]], ready: Any
) -> tuple[dict[str, Any], list[str]]:
    return {**server, **pending}, []


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer()
    monkeypatch.setattr(status_writer.client, "call", fake.call)
    monkeypatch.setattr(status_writer.kopf, "warn", lambda *a, **k: None)
    monkeypatch.setattr(status_writer.kopf, "info", lambda *a, **k: None)
    return fake


def writer(stopping: asyncio.Event | None = None) -> StatusWriter:
    return StatusWriter(
        Body({}),
        logging.getLogger("test"),
        compose,
        stopping or asyncio.Event(),  # type: ignore[arg-type]
        retry_cap_seconds=0.01,
    )


def test_an_unchanged_status_is_not_written(server: FakeServer) -> None:
    async def scenario() -> None:
        w = writer()
        await w.write({"phase": "Running"})
        await w.write({})
        await w.write({"phase": "Running"})

    asyncio.run(scenario())
    assert server.patches == [{"phase": "Running"}]


def test_changes_that_arrive_during_a_write_go_together_in_the_next(server: FakeServer) -> None:
    async def scenario() -> None:
        w = writer()
        server.gate = asyncio.Event()
        first = asyncio.create_task(w.write({"a": 1}))
        await asyncio.sleep(0)
        second = asyncio.create_task(w.write({"b": 2}))
        third = asyncio.create_task(w.write({"c": 3}))
        await asyncio.sleep(0)
        server.gate.set()
        await asyncio.gather(first, second, third)

    asyncio.run(scenario())
    assert server.patches[0] == {"a": 1}
    assert server.patches[1:] == [{"b": 2, "c": 3}]  # one write for both, not one each


def test_a_conflict_is_re_read_and_written_on_top(server: FakeServer) -> None:
    server.status, server.version = {"history": ["someone else's"]}, 5

    async def scenario() -> None:
        await writer().write({"a": 1})

    asyncio.run(scenario())
    assert server.status == {"history": ["someone else's"], "a": 1}


def test_failures_are_retried_until_the_write_lands(server: FakeServer) -> None:
    server.failures = 3

    async def scenario() -> None:
        await writer().write({"a": 1})

    asyncio.run(scenario())
    assert server.patches == [{"a": 1}]


def test_a_stopping_operator_ends_the_retries(server: FakeServer) -> None:
    server.failures = 10**6

    async def scenario() -> None:
        stopping = asyncio.Event()
        stopping.set()
        await writer(stopping).write({"a": 1})

    with pytest.raises(StatusNotWritten):
        asyncio.run(scenario())
    assert server.patches == []


def test_a_failed_write_hands_its_finished_runs_to_the_hook_once(server: FakeServer) -> None:
    server.failures = 3
    seen: list[list[str]] = []

    async def hook(records: list[dict[str, Any]]) -> None:
        seen.append([r["id"] for r in records])
        for record in records:
            record["resultConfigMaps"] = ["stored"]  # what the hook adds goes with the write

    async def scenario() -> None:
        w = StatusWriter(
            Body({}), logging.getLogger("test"), compose_with_history, asyncio.Event(), 0.01, on_failed_write=hook
        )
        await w.write({}, finished={"id": "gen-1", "state": "Succeeded"})

    asyncio.run(scenario())
    assert seen == [["gen-1"]]
    assert server.patches == [{"history": [{"id": "gen-1", "state": "Succeeded", "resultConfigMaps": ["stored"]}]}]


def test_a_write_that_lands_at_once_does_not_call_the_hook(server: FakeServer) -> None:
    seen: list[Any] = []

    async def hook(records: list[dict[str, Any]]) -> None:
        seen.append(records)

    async def scenario() -> None:
        w = StatusWriter(
            Body({}), logging.getLogger("test"), compose_with_history, asyncio.Event(), 0.01, on_failed_write=hook
        )
        await w.write({}, finished={"id": "gen-1", "state": "Succeeded"})

    asyncio.run(scenario())
    assert seen == [] and len(server.patches) == 1


def compose_with_history(
    server: dict[str, Any], pending: dict[str, Any], finished: list[dict[str, Any]], ready: Any
) -> tuple[dict[str, Any], list[str]]:
    return {**server, **pending, **({"history": [dict(r) for r in finished]} if finished else {})}, []
