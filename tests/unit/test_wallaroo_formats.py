"""Request bodies and output parsing for the legacy and pandas-records formats.

Response data is generated in the shapes of the recorded responses (reference §4).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pyarrow as pa
import pytest

from wallaroo_operator.wallaroo import UnexpectedResponse
from wallaroo_operator.wallaroo.formats import (
    PANDAS_RECORDS_PARAMS,
    decode_arrow_table,
    encode_arrow_table,
    encode_batch,
    legacy_output_name,
    parse_legacy,
    parse_outputs,
    parse_pandas_records,
)

ROWS = [[1, 2, 3], [4, 5, 6]]


def legacy_result(columns: list[list[list[float]]], type_name: str = "Float") -> dict[str, Any]:
    """One InferenceResult; ``columns[i][row]`` is output i's values for a row."""
    outputs = [
        {type_name: {"v": 1, "dim": [len(column), len(column[0])], "data": [value for row in column for value in row]}}
        for column in columns
    ]
    return {
        "model_name": "urldemomodel",
        "model_version": "v",
        "pipeline_name": "urldemopipeline",
        "outputs": outputs,
        "elapsed": 290668215,
        "time": 1671118700064,
        "original_data": None,
        "check_failures": [],
        "shadow_data": {},
    }


def pandas_record(outputs: dict[str, list[float]], flattened: bool) -> dict[str, Any]:
    record = {
        "time": 1721686245906,
        "in": {"tensor": [1.0, 2.0]},
        "out": outputs,
        "anomaly": {"count": 0},
        "metadata": {"last_model": json.dumps({"model_name": "ccfraud"}), "elapsed": [1, 2]},
    }
    if not flattened:
        return record
    flat = {"time": record["time"], "in.tensor": [1.0, 2.0], "anomaly.count": 0}
    return flat | {f"out.{name}": values for name, values in outputs.items()}


# ---- requests ------------------------------------------------------------------------------


def test_legacy_body_is_the_seed_format() -> None:
    request = encode_batch(ROWS, "text_input", "legacy")
    assert json.loads(request.body) == {"text_input": ROWS}
    assert request.headers == {"Content-Type": "application/json"}
    assert request.params == ()


def test_pandas_records_body_has_one_object_per_row_and_the_sdk_query() -> None:
    request = encode_batch(ROWS, "tensor", "pandas-records")
    assert json.loads(request.body) == [{"tensor": [1, 2, 3]}, {"tensor": [4, 5, 6]}]
    assert request.headers == {"Content-Type": "application/json; format=pandas-records"}
    assert (
        dict(request.params)
        == dict(PANDAS_RECORDS_PARAMS)
        == {"dataset[]": "*", "dataset.exclude[]": "metadata", "dataset.separator": "."}
    )


def test_unknown_format_and_nan_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_batch(ROWS, "x", "protobuf")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode_batch([[float("nan")]], "x", "legacy")


# ---- legacy responses ----------------------------------------------------------------------


def test_legacy_batch_with_one_output_is_split_per_row() -> None:
    rng = random.Random(1)
    values = [[rng.random()] for _ in range(1000)]
    rows = parse_legacy([legacy_result([values])], 1000)
    assert len(rows) == 1000
    assert rows[0] == {"output_0": values[0]} and rows[-1] == {"output_0": values[-1]}


def test_legacy_aloha_single_row_with_fifteen_outputs() -> None:
    columns = [[[i / 100]] for i in range(15)]
    (row,) = parse_legacy([legacy_result(columns)], 1)
    assert list(row) == [f"output_{i:02d}" for i in range(15)]
    assert row["output_14"] == [0.14] and row["output_02"] == [0.02]
    assert sorted(row) == list(row)  # text order is numeric order, as the API server stores the keys


def test_legacy_output_names_are_padded_only_as_wide_as_needed() -> None:
    assert [legacy_output_name(i, 10) for i in (0, 9)] == ["output_0", "output_9"]
    assert [legacy_output_name(i, 11) for i in (0, 10)] == ["output_00", "output_10"]
    assert legacy_output_name(7, 101) == "output_007"
    assert legacy_output_name(0, 1) == "output_0"


def test_legacy_wide_outputs_keep_their_width() -> None:
    column = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    rows = parse_legacy([legacy_result([column, [[7.0], [8.0]]], "Double")], 2)
    assert rows == [{"output_0": [1.0, 2.0, 3.0], "output_1": [7.0]}, {"output_0": [4.0, 5.0, 6.0], "output_1": [8.0]}]


def test_legacy_one_element_per_row_is_concatenated() -> None:
    results = [legacy_result([[[float(i)]]]) for i in range(3)]
    assert parse_legacy(results, 3) == [{"output_0": [0.0]}, {"output_0": [1.0]}, {"output_0": [2.0]}]


def test_legacy_multi_step_pipeline_uses_the_final_step() -> None:
    results = [legacy_result([[[1.0], [2.0]]]), legacy_result([[[3.0], [4.0]]])]
    assert parse_legacy(results, 2) == [{"output_0": [3.0]}, {"output_0": [4.0]}]


def test_legacy_integer_and_bool_outputs_become_floats() -> None:
    (row,) = parse_legacy([legacy_result([[[3]]], "Int64")], 1)
    assert row == {"output_0": [3.0]}
    assert isinstance(row["output_0"][0], float)
    assert parse_legacy([legacy_result([[[True]]], "Bool")], 1) == [{"output_0": [1.0]}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "non-empty list"),
        ({"outputs": []}, "non-empty list"),
        ([{"outputs": []}], "without outputs"),
        ([{"outputs": [{"String": {"dim": [1, 1], "data": ["x"]}}]}], "only numeric"),
        ([{"outputs": [{"Float": {"dim": [2, 1], "data": [0.1]}}]}], "needs 2"),
        ([{"outputs": [{"Float": {"dim": [1, 1], "data": [None]}}]}], "non-numeric"),
        (
            [{"outputs": [{"Float": {"dim": [1, 1], "data": [0.1]}}, {"Float": {"dim": [2, 1], "data": [0.1, 0.2]}}]}],
            "disagree",
        ),
    ],
)
def test_legacy_malformed_responses(body: Any, message: str) -> None:
    with pytest.raises(UnexpectedResponse, match=message):
        parse_legacy(body, 1)


def test_legacy_row_count_mismatch() -> None:
    with pytest.raises(UnexpectedResponse, match="answered 2 rows for a batch of 3"):
        parse_legacy([legacy_result([[[1.0], [2.0]]])], 3)


# ---- pandas-records responses --------------------------------------------------------------


@pytest.mark.parametrize("flattened", [False, True])
def test_pandas_records_outputs_nested_or_flattened(flattened: bool) -> None:
    records = [pandas_record({"dense_1": [i / 10]}, flattened) for i in range(4)]
    assert parse_pandas_records(records, 4) == [{"dense_1": [i / 10]} for i in range(4)]


def test_pandas_records_several_and_nested_list_outputs() -> None:
    record = pandas_record({"scores": [[0.1, 0.2], [0.3, 0.4]], "label": 1}, flattened=False)
    assert parse_pandas_records([record], 1) == [{"scores": [0.1, 0.2, 0.3, 0.4], "label": [1.0]}]


def test_pandas_records_count_and_shape_errors() -> None:
    with pytest.raises(UnexpectedResponse, match="1 records for a batch of 2"):
        parse_pandas_records([pandas_record({"dense_1": [0.1]}, True)], 2)
    with pytest.raises(UnexpectedResponse, match="without outputs"):
        parse_pandas_records([{"time": 1, "in": {"tensor": [1]}}], 1)
    with pytest.raises(UnexpectedResponse, match="not a list"):
        parse_pandas_records({"out": {}}, 1)


def test_parse_outputs_dispatches_on_format() -> None:
    assert parse_outputs([legacy_result([[[0.5]]])], "legacy", 1) == [{"output_0": [0.5]}]
    assert parse_outputs([pandas_record({"d": [0.5]}, False)], "pandas-records", 1) == [{"d": [0.5]}]


# ---- arrow ----------------------------------------------------------------------------------


def test_arrow_body_is_an_ipc_file_with_the_input_column_and_the_sdk_query() -> None:
    request = encode_batch(ROWS, "tensor", "arrow")
    assert request.headers == {
        "Content-Type": "application/vnd.apache.arrow.file",
        "Accept": "application/vnd.apache.arrow.file",
    }
    assert dict(request.params) == dict(PANDAS_RECORDS_PARAMS)
    assert decode_arrow_table(request.body).to_pydict() == {"tensor": [[1, 2, 3], [4, 5, 6]]}


@pytest.mark.parametrize(
    "table",
    [
        pa.table(
            {
                "time": pa.array([1, 2], pa.timestamp("ms")),
                "out.dense_1": pa.array([[0.25], [0.5]], pa.list_(pa.float32())),
                "anomaly.count": pa.array([0, 0], pa.uint32()),
            }
        ),
        pa.table({"out": pa.StructArray.from_arrays([pa.array([[0.25], [0.5]])], names=["dense_1"])}),
    ],
)
def test_arrow_answers_flattened_or_nested_give_rows(table: pa.Table) -> None:
    assert parse_outputs(encode_arrow_table(table), "arrow", 2) == [{"dense_1": [0.25]}, {"dense_1": [0.5]}]


@pytest.mark.parametrize(
    ("body", "rows", "message"),
    [
        (b"not arrow", 1, "not an Arrow IPC file"),
        (encode_arrow_table(pa.table({"out.dense_1": pa.array([[0.5]])})), 2, "answered 1 rows for a batch of 2"),
        (encode_arrow_table(pa.table({"in.tensor": pa.array([[0.5]])})), 1, "without out.* columns"),
        (encode_arrow_table(pa.table({"out.dense_1": pa.array([[None]], pa.list_(pa.float64()))})), 1, "non-numeric"),
    ],
)
def test_arrow_answers_that_cannot_be_read(body: bytes, rows: int, message: str) -> None:
    with pytest.raises(UnexpectedResponse, match=message):
        parse_outputs(body, "arrow", rows)


# orjson writes request bodies and reads answers; the bytes sent and the values read must be json's.
BODY_CASES = [
    [[1, 2, 3], [4, 5, 6]],
    [[0.1, 1e16, 1e-05, -0.0, 123456.789]],
    [[2**70, 1]],  # beyond 64 bits: json writes it
    [[1.5, 2.5]] * 3,
]


@pytest.mark.parametrize("rows", BODY_CASES)
@pytest.mark.parametrize("fmt", ["legacy", "pandas-records"])
def test_request_bodies_are_the_same_as_jsons(rows, fmt):
    from wallaroo_operator.wallaroo.formats import encode_batch

    body = encode_batch(rows, "text_input", fmt).body
    payload = {"text_input": rows} if fmt == "legacy" else [{"text_input": r} for r in rows]
    assert json.loads(body) == json.loads(json.dumps(payload, separators=(",", ":"), allow_nan=False))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_request_body_with_nan_is_refused_as_json_refuses_it(value):
    from wallaroo_operator.wallaroo.formats import encode_batch

    with pytest.raises(ValueError):
        encode_batch([[value, 1.0]], "text_input", "legacy")


@pytest.mark.parametrize(
    "text",
    ['{"a": [1.5, 2]}', '{"a": NaN}', '{"a": 123456789012345678901234567890}', "[" * 2000 + "]" * 2000, '"\\ud800"'],
)
def test_answers_read_as_json_reads_them(text):
    import math

    from wallaroo_operator.wallaroo.http import decode_json

    try:
        expected = json.loads(text)
    except RecursionError:
        with pytest.raises(ValueError):
            decode_json(text)
        return
    got = decode_json(text)
    if isinstance(expected, dict) and isinstance(expected.get("a"), float) and math.isnan(expected["a"]):
        assert math.isnan(got["a"])
    else:
        assert got == expected and type(got) is type(expected)
