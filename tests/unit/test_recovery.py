"""Which results ConfigMaps prove that a run finished (so it is recorded from them, not run again): the parts
as the one results writer (kube/results_store.py) makes them, complete only with every shard's last part."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes.client import V1ConfigMap, V1ObjectMeta

from wallaroo_operator.data.results import ResultChunk
from wallaroo_operator.kube.recovery import RunResults, complete_results
from wallaroo_operator.kube.results_store import PARTS_ANNOTATION, ROW_COUNT_ANNOTATION, RunResultsTarget, part_body

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def part(
    index: int,
    *,
    last: bool = False,
    rows: int = 3,
    shard: int = 0,
    shards: int = 1,
    second: int = 0,
    **annotations: str,
) -> V1ConfigMap:
    target = RunResultsTarget("ns", "job", "uid-1", "gen-1", shards)
    body = part_body(target, shard, ResultChunk(index, index * rows, rows, "[]", last=last))
    meta = body["metadata"]
    return V1ConfigMap(
        metadata=V1ObjectMeta(
            name=meta["name"],
            labels=meta["labels"],
            annotations={**meta["annotations"], **annotations},
            creation_timestamp=T0.replace(second=second),
        )
    )


def test_every_part_present_is_a_finished_run_in_part_order() -> None:
    assert complete_results([part(1, last=True, second=9), part(0, second=3)]) == RunResults(
        ["job-gen-1-0", "job-gen-1-1"], 6, "2024-05-01T12:00:09Z"
    )


def test_a_run_without_rows_has_one_empty_last_part() -> None:
    assert complete_results([part(0, last=True, rows=0)]) == RunResults(["job-gen-1-0"], 0, "2024-05-01T12:00:00Z")


def test_shards_are_complete_each_and_ordered_by_shard_then_part() -> None:
    parts = [part(0, shard=1, shards=2, last=True), part(1, shard=0, shards=2, last=True), part(0, shard=0, shards=2)]

    assert complete_results(parts) == RunResults(
        ["job-gen-1-s0-0", "job-gen-1-s0-1", "job-gen-1-s1-0"], 9, "2024-05-01T12:00:00Z"
    )


@pytest.mark.parametrize(
    "parts",
    [
        [],
        [part(0)],  # the worker stopped before its last part
        [part(1, last=True)],  # part 0 is missing
        [part(0, shards=2), part(1, shards=2, last=True)],  # shard 1 wrote nothing yet
        [part(0, shard=0, shards=2, last=True), part(0, shard=1, shards=2)],  # shard 1 has no last part
        [part(0), part(1, last=True, **{PARTS_ANNOTATION: "3"})],  # claims a part that is not there
        [part(0), part(1, last=True, **{ROW_COUNT_ANNOTATION: "many"})],  # not as we write them
        [part(0, last=True, **{PARTS_ANNOTATION: "x"})],
    ],
    ids=[
        "none",
        "no-last-part",
        "missing-part",
        "missing-shard",
        "unfinished-shard",
        "disagreeing",
        "bad-rows",
        "bad-count",
    ],
)
def test_anything_less_is_not_trusted(parts: list) -> None:
    assert complete_results(parts) is None
