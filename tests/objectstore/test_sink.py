"""Results to the real S3 server: parts in both formats, the manifest last, idempotent per run id, never
overwriting another run's objects, pruning only when asked and only what the run wrote."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest

from tests.objectstore.data import put
from wallaroo_operator.objectstore import MANIFEST, ObjectStore, ResultSink, RunIdentity
from wallaroo_operator.objectstore import errors as e

RUN = RunIdentity(namespace="team-a", job="aloha", run_id="g1", job_uid="uid-1")
STARTED, FINISHED = "2026-11-30T06:00:00Z", "2026-11-30T06:01:00Z"


def outputs(count: int, start: int = 0) -> list[dict[str, list[float]]]:
    return [{"output_0": [i / 1000], "output_1": [1 - i / 1000, 0.5]} for i in range(start, start + count)]


def read_jsonl_gz(data: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]


def read_parquet(data: bytes) -> list[dict]:
    return pq.read_table(io.BytesIO(data)).to_pylist()


def body(store: ObjectStore, key: str) -> bytes:
    return store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()


def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key for info in store.list_objects(prefix)]


@pytest.mark.parametrize(("fmt", "decode"), [("jsonl.gz", read_jsonl_gz), ("parquet", read_parquet)])
def test_two_shards_write_parts_then_the_manifest(store: ObjectStore, fmt: str, decode) -> None:
    sink = ResultSink(store, RUN, prefix="results/", format=fmt, rows_per_part=400)
    assert sink.prefix == "results/team-a/aloha/g1/"
    shard_rows = [outputs(1000), outputs(500, start=1000)]
    for shard, rows in enumerate(shard_rows):
        sink.write_shard(shard, rows)
    assert store.list_objects(sink.manifest_key) == []  # not complete until finished
    manifest = sink.finish(started=STARTED, finished=FINISHED)

    assert sink.manifest_key in keys(store)
    parts = manifest["parts"]
    assert [p["key"].rsplit("/", 1)[1] for p in parts] == [f"part-00000-0000{i}.{fmt}" for i in range(3)] + [
        f"part-00001-0000{i}.{fmt}" for i in range(2)
    ]
    assert [p["rows"] for p in parts] == [400, 400, 200, 400, 100]
    assert [p["firstRow"] for p in parts] == [0, 400, 800, 1000, 1400]
    assert (manifest["rows"], manifest["runId"], manifest["jobUid"], manifest["format"]) == (1500, "g1", "uid-1", fmt)
    assert (manifest["startedAt"], manifest["finishedAt"]) == (STARTED, FINISHED)
    assert manifest["schema"]["columns"] == [
        {"name": "output_0", "type": "list<double>", "width": 1},
        {"name": "output_1", "type": "list<double>", "width": 2},
    ]
    read_back = []
    for part in parts:
        data = body(store, part["key"])
        assert hashlib.sha256(data).hexdigest() == part["sha256"] and len(data) == part["bytes"]
        read_back += decode(data)
    assert read_back == shard_rows[0] + shard_rows[1]
    assert json.loads(body(store, sink.manifest_key)) == manifest


def test_writing_a_run_again_changes_nothing(store: ObjectStore) -> None:
    first = ResultSink(store, RUN, format="jsonl.gz")
    first.write_shard(0, outputs(300))
    manifest = first.finish(started=STARTED, finished=FINISHED)
    etags = {info.key: info.etag for info in store.list_objects("")}

    again = ResultSink(store, RUN, format="jsonl.gz")  # the same run after an operator restart
    assert again.manifest() == manifest
    assert again.write_shard(0, outputs(300)) == []
    assert again.finish(started="later", finished="later") == manifest
    assert {info.key: info.etag for info in store.list_objects("")} == etags
    assert store.calls["PutObject"] == 2  # the first writing's part and manifest: nothing written again


def test_a_retried_shard_keeps_identical_parts_and_replaces_its_own_earlier_attempt(store: ObjectStore) -> None:
    sink = ResultSink(store, RUN, rows_per_part=100)
    sink.write_shard(0, outputs(200))
    etags = {info.key: info.etag for info in store.list_objects("")}
    sink.write_shard(0, outputs(200))  # the shard's Pod ran again: same rows
    assert {info.key: info.etag for info in store.list_objects("")} == etags
    sink.write_shard(0, outputs(200, start=5))  # an earlier attempt of this run wrote other values
    manifest = sink.finish(started=STARTED, finished=FINISHED)
    assert [row["output_0"][0] for part in manifest["parts"] for row in read_jsonl_gz(body(store, part["key"]))] == [
        i / 1000 for i in range(5, 205)
    ]


def test_another_jobs_objects_are_never_overwritten(store: ObjectStore) -> None:
    ResultSink(store, RUN).write_shard(0, outputs(10))
    ResultSink(store, RUN).finish(started=STARTED, finished=FINISHED)
    before = {info.key: info.etag for info in store.list_objects("")}
    recreated = RunIdentity(RUN.namespace, RUN.job, RUN.run_id, job_uid="uid-2")  # deleted and created again
    sink = ResultSink(store, recreated)
    with pytest.raises(e.ResultsConflict, match=r"s3://t-\w+/team-a/aloha/g1/_manifest.json exists and was not"):
        sink.write_shard(0, outputs(10))
    with pytest.raises(e.ResultsConflict):
        sink.finish(started=STARTED, finished=FINISHED)
    assert {info.key: info.etag for info in store.list_objects("")} == before


def test_a_foreign_object_where_a_part_goes_is_kept(store: ObjectStore) -> None:
    put(store, "team-a/aloha/g1/part-00000-00000.jsonl.gz", b"someone else's")
    with pytest.raises(e.ResultsConflict) as raised:
        ResultSink(store, RUN).write_shard(0, outputs(10))
    assert raised.value.reason == "ResultsConflict"
    assert body(store, "team-a/aloha/g1/part-00000-00000.jsonl.gz") == b"someone else's"


def test_prune_deletes_only_the_runs_own_objects(store: ObjectStore) -> None:
    sink = ResultSink(store, RUN, rows_per_part=5)
    sink.write_shard(0, outputs(12))
    sink.finish(started=STARTED, finished=FINISHED)
    other = ResultSink(store, RunIdentity(RUN.namespace, RUN.job, "g2", RUN.job_uid))
    other.write_shard(0, outputs(3))
    put(store, "team-a/aloha/g1/notes.txt", b"a user's file")
    deleted = sink.prune()
    assert sorted(deleted) == sorted(
        [f"team-a/aloha/g1/part-00000-0000{i}.jsonl.gz" for i in range(3)] + [f"team-a/aloha/g1/{MANIFEST}"]
    )
    assert keys(store) == ["team-a/aloha/g1/notes.txt", "team-a/aloha/g2/part-00000-00000.jsonl.gz"]
