"""A worker shard's results written to the real S3 server as they come: parts of rowsPerPart rows, smaller
when that many would not fit the worker's memory; the shard's record names its parts, not its outputs."""

from __future__ import annotations

import gzip
import json

from wallaroo_operator.objectstore import ObjectStore, PartInfo, ResultSink, RunIdentity
from wallaroo_operator.worker.limits import WorkerLimits
from wallaroo_operator.worker.store_results import ObjectStoreResultsWriter

RUN = RunIdentity("team-a", "aloha", "gen-1", "uid-1")


def rows(count: int, start: int = 0) -> list[dict[str, list[float]]]:
    return [{"output_0": [float(i)], "output_1": [0.5, float(-i)]} for i in range(start, start + count)]


def test_parts_of_rows_per_part_then_the_rest(store: ObjectStore) -> None:
    writer = ObjectStoreResultsWriter(ResultSink(store, RUN, prefix="out"), 1, rows_per_part=40, max_values=10**6)
    for start in range(0, 100, 30):  # batches that do not line up with parts
        writer.add(start, rows(min(30, 100 - start), start))
    record = writer.finish()
    parts = [PartInfo(**part) for part in record["resultParts"]]
    assert [(p.shard, p.rows) for p in parts] == [(1, 40), (1, 40), (1, 20)]
    assert [p.key.rsplit("/", 1)[1] for p in parts] == [f"part-00001-0000{i}.jsonl.gz" for i in range(3)]
    read = [
        json.loads(line)
        for p in parts
        for line in gzip.decompress(store.client.get_object(Bucket=store.bucket, Key=p.key)["Body"].read()).splitlines()
    ]
    assert read == rows(100)
    assert record["resultColumns"] == {"output_0": 1, "output_1": 2}
    assert record["summary"]["output_0"] == {"count": 100, "min": 0.0, "max": 99.0, "sum": 4950.0}
    assert "outputs" not in record  # the data stays in the store


def test_a_part_too_large_for_the_workers_memory_is_written_smaller(store: ObjectStore) -> None:
    limits = WorkerLimits(memory_bytes=64 * 2**20)
    writer = ObjectStoreResultsWriter(
        ResultSink(store, RUN, prefix="out"), 0, rows_per_part=1_000_000, max_values=limits.max_part_values
    )
    first = -(-limits.max_part_values // 3)  # 3 values a row: a part is full once it holds max_part_values
    writer.add(0, rows(first + 10))
    parts = writer.finish()["resultParts"]
    assert [p["rows"] for p in parts] == [first, 10]


def test_a_shard_without_rows_writes_no_part(store: ObjectStore) -> None:
    record = ObjectStoreResultsWriter(ResultSink(store, RUN, prefix="out"), 3, 10, 1000).finish()
    assert record["resultParts"] == [] and not store.list_objects("out/")
