"""Packing per-row outputs into ConfigMap-sized chunks as they come (the worker's ResultsWriter), and
inlining small ones into the status."""

from __future__ import annotations

import itertools
import json

import pytest

from wallaroo_operator.data.results import CHUNK_BYTES, ResultChunk, ResultsTooLarge, inline_outputs
from wallaroo_operator.worker.results import ResultsWriter


def outputs_of(count: int, width: int = 3) -> list[dict[str, list[float]]]:
    return [{"out": [round(row + i / 10, 2) for i in range(width)]} for row in range(count)]


def chunk_results(outputs: list, *, max_chunks: int, chunk_bytes: int = CHUNK_BYTES) -> list[ResultChunk]:
    """The chunks a ResultsWriter stores for `outputs`, added in two calls as batches come."""
    stored: list[ResultChunk] = []
    writer = ResultsWriter(
        lambda chunk: stored.append(chunk) or f"part-{chunk.index}",
        max_chunks=max_chunks,
        inline_limit_bytes=0,
        chunk_bytes=chunk_bytes,
    )
    half = len(outputs) // 2
    writer.add(0, outputs[:half])
    writer.add(half, outputs[half:])
    record = writer.finish()
    assert record["resultConfigMaps"] == [f"part-{chunk.index}" for chunk in stored]
    return stored


def rows_of(chunks: list[ResultChunk]) -> list[dict]:
    return [row for chunk in chunks for row in json.loads(chunk.payload)]


# ---- chunking ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [60, 100, 257, 1024, CHUNK_BYTES])
@pytest.mark.parametrize("count", [1, 2, 7, 50])
def test_chunks_keep_every_row_in_order_with_its_row_number(chunk_bytes: int, count: int) -> None:
    outputs = outputs_of(count)

    chunks = chunk_results(outputs, max_chunks=1000, chunk_bytes=chunk_bytes)

    assert rows_of(chunks) == [{"row": index, **row} for index, row in enumerate(outputs)]


@pytest.mark.parametrize("chunk_bytes", [60, 100, 257, 1024])
def test_every_chunk_is_valid_json_within_the_size_limit(chunk_bytes: int) -> None:
    chunks = chunk_results(outputs_of(200, width=2), max_chunks=1000, chunk_bytes=chunk_bytes)

    assert len(chunks) > 1
    for chunk in chunks:
        assert isinstance(json.loads(chunk.payload), list)
        assert len(chunk.payload.encode()) <= chunk_bytes


@pytest.mark.parametrize("chunk_bytes", [60, 100, 257, 1024])
def test_first_row_and_row_count_cover_all_rows_without_gaps(chunk_bytes: int) -> None:
    chunks = chunk_results(outputs_of(123), max_chunks=1000, chunk_bytes=chunk_bytes)

    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    expected_first = 0
    for chunk in chunks:
        rows = json.loads(chunk.payload)
        assert chunk.first_row == expected_first
        assert chunk.row_count == len(rows) >= 1
        assert [row["row"] for row in rows] == list(range(chunk.first_row, chunk.first_row + chunk.row_count))
        expected_first += chunk.row_count
    assert expected_first == 123


def test_chunks_are_filled_before_a_new_one_starts() -> None:
    outputs = outputs_of(40)
    chunk_bytes = 200

    chunks = chunk_results(outputs, max_chunks=1000, chunk_bytes=chunk_bytes)

    for chunk, following in itertools.pairwise(chunks):
        next_row = json.dumps({"row": following.first_row, **outputs[following.first_row]}, separators=(",", ":"))
        assert len(chunk.payload) + 1 + len(next_row) >= chunk_bytes  # the next row did not fit (1 byte slack)


def test_small_outputs_fit_one_chunk_with_compact_json() -> None:
    chunks = chunk_results([{"a": [1.5], "b": [2.0, 3.0]}, {"a": [4.0], "b": [5.0, 6.0]}], max_chunks=1)

    assert chunks == [
        ResultChunk(0, 0, 2, '[{"row":0,"a":[1.5],"b":[2.0,3.0]},{"row":1,"a":[4.0],"b":[5.0,6.0]}]', last=True)
    ]


def test_empty_outputs_make_one_empty_chunk() -> None:
    assert chunk_results([], max_chunks=1) == [ResultChunk(0, 0, 0, "[]", last=True)]


@pytest.mark.parametrize("count", [1, 50])
def test_only_the_last_chunk_is_marked_last(count: int) -> None:
    chunks = chunk_results(outputs_of(count), max_chunks=1000, chunk_bytes=100)

    assert [chunk.last for chunk in chunks] == [False] * (len(chunks) - 1) + [True]


def test_a_row_filling_a_chunk_exactly_is_accepted() -> None:
    row = {"out": [1.0]}
    exact = len(json.dumps({"row": 0, **row}, separators=(",", ":"))) + 2

    chunks = chunk_results([row], max_chunks=1, chunk_bytes=exact)

    assert len(chunks[0].payload) == exact


# ---- too large ----------------------------------------------------------------------------------


def test_needing_more_than_max_chunks_is_results_too_large() -> None:
    outputs = outputs_of(50)
    needed = len(chunk_results(outputs, max_chunks=1000, chunk_bytes=200))
    assert needed > 2

    assert len(chunk_results(outputs, max_chunks=needed, chunk_bytes=200)) == needed
    with pytest.raises(ResultsTooLarge) as caught:
        chunk_results(outputs, max_chunks=needed - 1, chunk_bytes=200)

    assert caught.value.reason == "ResultsTooLarge"
    assert f"results.maxConfigMaps={needed - 1}" in str(caught.value)


def test_results_too_large_message_names_the_setting_for_the_default_chunk_size() -> None:
    big = [{"out": [0.123456789] * 10_000} for _ in range(300)]  # about 3 MB of JSON

    with pytest.raises(ResultsTooLarge, match=r"results\.maxConfigMaps=2 ConfigMaps of 900 KiB"):
        chunk_results(big, max_chunks=2)


def test_a_single_row_larger_than_a_chunk_is_results_too_large() -> None:
    outputs = [{"out": [1.0]}, {"out": [0.5] * 100}, {"out": [2.0]}]

    with pytest.raises(ResultsTooLarge) as caught:
        chunk_results(outputs, max_chunks=100, chunk_bytes=100)

    assert caught.value.reason == "ResultsTooLarge"
    assert "row 1 alone" in str(caught.value)


def test_results_too_large_is_a_value_error() -> None:
    assert issubclass(ResultsTooLarge, ValueError)


# ---- inline outputs ----------------------------------------------------------------------------


def test_outputs_below_the_limit_are_inlined_as_they_are() -> None:
    outputs = outputs_of(3)
    size = len(json.dumps(outputs, separators=(",", ":")))

    assert inline_outputs(outputs, size + 100) == outputs
    assert inline_outputs(outputs, size) == outputs  # the limit is inclusive


def test_outputs_above_the_limit_are_not_inlined() -> None:
    outputs = outputs_of(3)
    size = len(json.dumps(outputs, separators=(",", ":")))

    assert inline_outputs(outputs, size - 1) is None


@pytest.mark.parametrize("outputs", [[], [{"out": [1.0]}]], ids=["empty", "one-row"])
def test_a_zero_limit_disables_inlining(outputs: list) -> None:
    assert inline_outputs(outputs, 0) is None


def test_empty_outputs_inline_within_a_positive_limit() -> None:
    assert inline_outputs([], 2) == []


def test_one_row_outputs_type() -> None:
    """The client, the result chunking and the status model share one definition of a row's outputs."""
    from wallaroo_operator import wallaroo
    from wallaroo_operator.data import results
    from wallaroo_operator.models.job import RunRecord

    assert results.RowOutputs is wallaroo.RowOutputs
    assert RunRecord.model_fields["outputs"].annotation == list[wallaroo.RowOutputs] | None


# ---- results.configMaps: IfNotInline ------------------------------------------------------------


def inline_only_writer(stored: list[ResultChunk], inline_limit_bytes: int = 4096) -> ResultsWriter:
    return ResultsWriter(
        lambda chunk: stored.append(chunk) or f"part-{chunk.index}",
        max_chunks=5,
        inline_limit_bytes=inline_limit_bytes,
        inline_only_if_fits=True,
    )


def test_outputs_that_fit_inline_store_no_chunk_when_inline_only() -> None:
    stored: list[ResultChunk] = []
    writer = inline_only_writer(stored)
    writer.add(0, outputs_of(3))
    record = writer.finish()
    assert stored == [] and record["resultConfigMaps"] == []
    assert record["outputs"] == outputs_of(3)


@pytest.mark.parametrize(
    ("outputs", "limit"),
    [(outputs_of(200), 4096), ([{"out": [float("nan")]}], 4096), (outputs_of(1), 0)],
    ids=["too-large-for-status", "nan-not-valid-in-status", "inlining-disabled"],
)
def test_outputs_that_cannot_go_inline_are_stored_even_when_inline_only(outputs: list, limit: int) -> None:
    stored: list[ResultChunk] = []
    writer = inline_only_writer(stored, limit)
    writer.add(0, outputs)
    record = writer.finish()
    assert sum(chunk.row_count for chunk in stored) == len(outputs)
    assert record["resultConfigMaps"] == [f"part-{c.index}" for c in stored] and stored[-1].last
