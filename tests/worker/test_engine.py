"""The worker's engine against the simulator (a real HTTP server), with its Kubernetes I/O as plain
functions: shards reproduce the single-shard outputs in order, results are written as they fill, and
limits fail with a clear reason before the rows are sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from tests.support.data import aloha_rows
from wallaroo_operator.data.inputs import InputError, InputPart
from wallaroo_operator.data.results import ResultChunk, ResultsTooLarge
from wallaroo_operator.wallaroo import Credentials, WallarooApi, token_cache
from wallaroo_operator.worker.engine import WorkerIO, run_shard
from wallaroo_operator.worker.limits import WorkerLimits
from wallaroo_operator.worker.manifest import RunManifest
from wallaroo_operator.worker.results import merge_shard_records
from wallaroo_simulator import run_simulator

MiB = 2**20


@pytest.fixture(scope="module")
def sim():
    with run_simulator() as running:
        yield running


@dataclass
class Recorder:
    parts: list[InputPart]
    chunks: list[ResultChunk] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)

    def io(self) -> WorkerIO:
        return WorkerIO(input_parts=lambda: iter(self.parts), store_chunk=self.store, report=self.reports.append)

    def store(self, chunk: ResultChunk) -> str:
        self.chunks.append(chunk)
        return f"chunk-{len(self.chunks) - 1}"

    def rows(self) -> list[dict]:
        return [row for chunk in self.chunks for row in json.loads(chunk.payload)]


def manifest(sim, *, shards: int = 1, **spec) -> RunManifest:
    tokens = token_cache.provider_for(
        sim.token_url, Credentials(sim.client, sim.secret, "password", sim.username, sim.password), sim.verify
    )
    api = WallarooApi(sim.api_url, tokens, verify=sim.verify)
    workspace_id = api.workspace_id("urldemoworkspace")
    return RunManifest(
        namespace="ns",
        job_name="job",
        job_uid="uid",
        run_id="gen-1",
        spec={
            "connectionRef": {"name": "w"},
            "workspace": "urldemoworkspace",
            "pipeline": "urldemopipeline",
            "input": {"configMaps": [{"name": "in"}]},
            **spec,
        },
        input_parts=[("in", "data.json")],
        workspace_id=workspace_id,
        inference_url=api.external_url(workspace_id, "urldemopipeline"),
        api_url=sim.api_url,
        token_url=sim.token_url,
        client_id=sim.client,
        grant="password",
        progress_config_map="progress",
        shards=shards,
    ), tokens


def run(sim, recorder: Recorder, *, shard: int = 0, shards: int = 1, memory: int = 256 * MiB, **spec) -> dict:
    run_manifest, tokens = manifest(sim, shards=shards, **spec)
    return run_shard(run_manifest, shard, recorder.io(), WorkerLimits(memory), tokens=tokens, verify=sim.verify)


def parts_of(rows: list, per_part: int = 400) -> list[InputPart]:
    return [
        InputPart(f"in-{i}/data.json", text=json.dumps({"text_input": rows[i : i + per_part]}))
        for i in range(0, len(rows), per_part)
    ]


def test_four_shards_concatenated_equal_one_shard(sim):
    rows = aloha_rows(2000)
    single = Recorder(parts_of(rows))
    whole = run(sim, single, inference={"batchSize": 150})
    assert whole["rows"] == 2000 and [r["row"] for r in single.rows()] == list(range(2000))

    records, sharded_rows = [], []
    for shard in range(4):
        recorder = Recorder(parts_of(rows))
        records.append(run(sim, recorder, shard=shard, shards=4, inference={"batchSize": 150}))
        sharded_rows += recorder.rows()
    assert sharded_rows == single.rows()
    assert [r["firstRow"] for r in records] == [0, 500, 1000, 1500]
    merged, alone = merge_shard_records(records, 4096), merge_shard_records([whole], 4096)
    assert merged["rows"] == alone["rows"] == 2000
    for name, stats in alone["summary"].items():
        assert merged["summary"][name]["count"] == stats["count"]
        assert merged["summary"][name]["mean"] == pytest.approx(stats["mean"])


def test_results_are_written_chunk_by_chunk_while_rows_are_sent(sim, monkeypatch):
    monkeypatch.setattr("wallaroo_operator.worker.engine.PROGRESS_INTERVAL_SECONDS", 0)
    recorder = Recorder(parts_of(aloha_rows(6000), 3000))
    chunks_stored_at_each_report = []
    io = recorder.io()
    io.report = lambda state: chunks_stored_at_each_report.append((state["rowsDone"], len(recorder.chunks)))
    run_manifest, tokens = manifest(sim, inference={"batchSize": 500})

    outcome = run_shard(run_manifest, 0, io, WorkerLimits(256 * MiB), tokens=tokens, verify=sim.verify)

    assert len(outcome["resultConfigMaps"]) == len(recorder.chunks) > 1
    assert any(chunks and done < 6000 for done, chunks in chunks_stored_at_each_report), (
        chunks_stored_at_each_report
    )  # chunks were stored before the last rows came back
    assert [r["row"] for r in recorder.rows()] == list(range(6000))


def test_results_too_large_is_found_after_the_first_batch(sim):
    sim.admin.reset_counters()
    with pytest.raises(ResultsTooLarge, match="maxConfigMaps=1"):
        run(
            sim,
            Recorder(parts_of(aloha_rows(20_000), 5000)),
            inference={"batchSize": 1000},
            results={"maxConfigMaps": 1},
        )
    assert sim.admin.counters()["requests"]["infer"] == 1  # the first batch only, not the 19 others


def test_too_little_memory_for_the_batches_fails_before_sending(sim):
    with pytest.raises(InputError) as caught:
        run(
            sim, Recorder(parts_of(aloha_rows(10))), memory=64 * MiB, inference={"batchSize": 100_000, "parallelism": 8}
        )
    assert caught.value.reason == "InsufficientWorkerMemory"
    assert "limits.memory" in str(caught.value)


def test_bad_row_anywhere_fails_before_any_request(sim):
    rows = aloha_rows(1000)
    rows[999] = [1, 2]
    sim.admin.reset_counters()
    with pytest.raises(InputError, match=r"in-800/data\.json: row 199 of"):
        run(sim, Recorder(parts_of(rows)))
    assert not sim.admin.counters()["requests"].get("infer")
