"""The Arrow request format at the HTTP level: an Arrow IPC file in, one out, with Wallaroo's columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.support.data import ccfraud_rows
from wallaroo_operator.wallaroo.formats import decode_arrow_table, encode_arrow_table
from wallaroo_simulator import RunningSimulator, expected_outputs

from .test_inference import SDK_QUERY, engine_400, infer

ARROW = "application/vnd.apache.arrow.file"


def arrow_body(rows: list[list[float]], name: str = "tensor") -> bytes:
    # The SDK's tutorials send fixed_size_list<float>[29] tables; any list type is accepted.
    return encode_arrow_table(pa.table({name: pa.array(rows, pa.list_(pa.float32(), 29))}))


def test_answer_has_wallaroos_flattened_columns(sim: RunningSimulator, auth: dict[str, str]) -> None:
    rows = ccfraud_rows(3)
    response = infer(sim, auth, "ccfraudpipeline", arrow_body(rows), ARROW, SDK_QUERY)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == ARROW
    table = decode_arrow_table(response.content)
    assert table.column_names == ["time", "in.tensor", "out.dense_1", "anomaly.count"]
    assert table.schema.field("time").type == pa.timestamp("ms")
    assert table.schema.field("out.dense_1").type == pa.list_(pa.float32())
    assert table.schema.field("anomaly.count").type == pa.uint32()
    pipeline = sim.config.pipeline("ccfraudpipeline")
    assert table.column("out.dense_1").to_pylist() == [
        pytest.approx(expected_outputs(pipeline, row)["dense_1"], rel=1e-6)
        for row in pa.array(rows, pa.list_(pa.float32(), 29)).to_pylist()
    ]
    assert table.column("in.tensor").to_pylist() == pa.array(rows, pa.list_(pa.float32(), 29)).to_pylist()


def test_without_separator_columns_are_nested(sim: RunningSimulator, auth: dict[str, str]) -> None:
    response = infer(sim, auth, "ccfraudpipeline", arrow_body(ccfraud_rows(2)), ARROW)
    table = decode_arrow_table(response.content)
    assert table.column_names == ["time", "in", "out", "anomaly", "metadata"]
    assert pa.types.is_struct(table.schema.field("out").type)
    assert table.column("metadata").to_pylist()[0]["last_model"].startswith('{"model_name":"ccfraud"')


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not arrow at all", None),
        (arrow_body(ccfraud_rows(1), name="features"), 'input "tensor" not found in the request'),
        (
            encode_arrow_table(pa.table({"tensor": pa.array([[1.0, 2.0]])})),
            '"tensor" row 0 has 2 values; the model expects 29',
        ),
    ],
)
def test_engine_refuses_arrow_that_does_not_fit(
    sim: RunningSimulator, auth: dict[str, str], body: bytes, error: str | None
) -> None:
    response = infer(sim, auth, "ccfraudpipeline", body, ARROW, SDK_QUERY)
    assert response.status_code == 400
    assert response.json() == engine_400(error or response.json()["error"])
    assert error or response.json()["error"].startswith("failed to read the request body as an Arrow IPC file")
