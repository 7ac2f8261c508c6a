"""Wallaroo's Arrow request format (reference section 4): an Arrow IPC *file* in, an Arrow IPC file out.

The answer has the pandas-records columns, as Wallaroo's SDK notebooks show them: ``time: timestamp[ms]``,
``in.<input>`` (the request's column, echoed), ``out.<output>: list<float>`` (``list<double>`` for Double
outputs), ``anomaly.count: uint32`` and the ``metadata.*`` columns; flattened with ``dataset.separator``,
nested as struct columns without it.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.ipc
from aiohttp import web

from .config import InputSpec
from .errors import engine_bad_request
from .world import PipelineState

ARROW_CONTENT_TYPE = "application/vnd.apache.arrow.file"
_OUTPUT_TYPES = {"Float": pa.float32(), "Double": pa.float64()}


def arrow_rows(body: bytes, spec: InputSpec) -> tuple[list[Any], pa.ChunkedArray]:
    """The input column's rows (for validation and the model) and the column itself (echoed as in.<input>)."""
    try:
        table = pa.ipc.open_file(pa.BufferReader(body)).read_all()
    except (pa.ArrowException, OSError, ValueError) as error:
        raise engine_bad_request(f"failed to read the request body as an Arrow IPC file: {error}") from None
    if spec.name not in table.column_names:
        raise engine_bad_request(f'input "{spec.name}" not found in the request')
    column = table.column(spec.name)
    return column.to_pylist(), column


def arrow_response(
    pipeline: PipelineState,
    input_column: pa.ChunkedArray,
    columns: dict[str, list[float]],
    selection: tuple[list[str], str | None],
    metadata: dict[str, Any],
) -> web.Response:
    keep, separator = selection
    rows = len(input_column)
    config = pipeline.config
    top: dict[str, Any] = {
        "time": pa.array([int(time.time() * 1000)] * rows, pa.timestamp("ms")),
        "in": {config.input.name: input_column.combine_chunks()},
        "out": {o.name: _lists(columns[o.name], o.width, rows, _OUTPUT_TYPES[o.type]) for o in config.outputs},
        "anomaly": {"count": pa.array([0] * rows, pa.uint32())},
        "metadata": {name: pa.array([value] * rows) for name, value in metadata.items()},
    }
    arrays: dict[str, pa.Array] = {}
    for name in keep:
        value = top[name]
        if not isinstance(value, dict):
            arrays[name] = value
        elif separator is None:
            arrays[name] = pa.StructArray.from_arrays(list(value.values()), names=list(value))
        else:
            arrays.update({f"{name}{separator}{key}": array for key, array in value.items()})
    table = pa.table(arrays)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return web.Response(body=sink.getvalue().to_pybytes(), content_type=ARROW_CONTENT_TYPE)


def _lists(values: list[float], width: int, rows: int, value_type: pa.DataType) -> pa.Array:
    """Row-major values (``dim [N, k]``) as one list of k values per row."""
    offsets = pa.array(range(0, rows * width + 1, width), pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(values, value_type))
