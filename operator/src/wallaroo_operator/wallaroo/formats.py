"""Request bodies and response parsing for the three inference formats.

* ``legacy``: ``{"<input>": [[row], ...]}`` answered by a list of InferenceResults whose
  ``outputs[i]`` hold ``{"<Type>": {"dim": [N, w...], "data": [...]}}`` for all N rows.
* ``pandas-records``: ``[{"<input>": [row]}, ...]`` answered by one record per row whose
  outputs are under ``out`` (nested) or ``out.<name>`` keys (flattened).
* ``arrow``: an Arrow IPC file with one column named after the input (one list per row), answered by an
  Arrow IPC file with the pandas-records columns (``time``, ``in.<input>``, ``out.<name>``, ``anomaly.count``),
  flattened with "." or nested as structs.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import orjson

from wallaroo_operator.lazy import LazyModule

from .errors import UnexpectedResponse

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = LazyModule("pyarrow")  # the Arrow format only

RequestFormat = Literal["legacy", "pandas-records", "arrow"]
REQUEST_FORMATS: tuple[RequestFormat, ...] = ("legacy", "pandas-records", "arrow")
ARROW_CONTENT_TYPE = "application/vnd.apache.arrow.file"

# One row's outputs: output name -> its values for that row.
RowOutputs = dict[str, list[float]]

# As the SDK: every top-level column but metadata, nested keys flattened with ".".
PANDAS_RECORDS_PARAMS: tuple[tuple[str, str], ...] = (
    ("dataset[]", "*"),
    ("dataset.exclude[]", "metadata"),
    ("dataset.separator", "."),
)
_CONTENT_TYPES: dict[RequestFormat, str] = {
    "legacy": "application/json",
    "pandas-records": "application/json; format=pandas-records",
    "arrow": ARROW_CONTENT_TYPE,
}
# Legacy output types whose values are numbers (reference §4a); others cannot be summarised.
NUMERIC_TYPES = frozenset(
    ["Float", "Double", "Half", "Bool", "Compact"]
    + [f"{sign}{bits}" for sign in ("Int", "Uint") for bits in (8, 16, 32, 64)]
)


@dataclass(frozen=True)
class EncodedRequest:
    body: bytes
    headers: dict[str, str]
    params: tuple[tuple[str, str], ...]


def encode_batch(rows: Sequence[Any], input_name: str, fmt: RequestFormat) -> EncodedRequest:
    if fmt == "arrow":
        headers = {"Content-Type": ARROW_CONTENT_TYPE, "Accept": ARROW_CONTENT_TYPE}
        return EncodedRequest(
            encode_arrow_table(pa.table({input_name: pa.array(list(rows))})), headers, PANDAS_RECORDS_PARAMS
        )
    if fmt == "legacy":
        payload: Any = {input_name: list(rows)}
        params: tuple[tuple[str, str], ...] = ()
    elif fmt == "pandas-records":
        payload = [{input_name: row} for row in rows]
        params = PANDAS_RECORDS_PARAMS
    else:
        raise ValueError(f"unknown request format {fmt!r}; use one of {REQUEST_FORMATS}")
    return EncodedRequest(_json_body(payload), {"Content-Type": _CONTENT_TYPES[fmt]}, params)


def _json_body(payload: Any) -> bytes:
    """Compact JSON, as json.dumps with separators (",", ":") and allow_nan=False writes it, by orjson (several
    times faster); json says what is wrong with what orjson refuses, and refuses NaN, which orjson would
    write as null (validated input has none)."""
    try:
        body = orjson.dumps(payload)
    except TypeError:  # e.g. an integer beyond 64 bits: json writes it, or says why not
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    if b"null" in body:  # NaN or infinity became null, or a null was sent: let json decide
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return body


def parse_outputs(body: Any, fmt: RequestFormat, expected_rows: int) -> list[RowOutputs]:
    """Per-row outputs of one batch, in the batch's row order (`body`: parsed JSON, or bytes for arrow)."""
    try:
        if fmt == "legacy":
            return parse_legacy(body, expected_rows)
        if fmt == "arrow":
            return parse_arrow(body, expected_rows)
        return parse_pandas_records(body, expected_rows)
    except RecursionError:  # nesting near the decoder's own limit
        raise UnexpectedResponse("inference response nested too deeply") from None


# ---- legacy -------------------------------------------------------------------------------


def parse_legacy(results: Any, expected_rows: int) -> list[RowOutputs]:
    """Rows of a legacy InferenceResult list.

    Usually one element covers the whole batch (``dim [N, w]``); older engines may
    answer with one element per row, so elements are concatenated. If the elements
    do not add up to the batch but the last one alone does, it is the pipeline's
    final step and is used.
    """
    if not isinstance(results, list) or not results:
        raise UnexpectedResponse("legacy inference response is not a non-empty list")
    per_element = [_legacy_element_rows(element) for element in results]
    rows: Sequence[RowOutputs] = (
        per_element[0] if len(per_element) == 1 else [row for element_rows in per_element for row in element_rows]
    )
    if len(rows) != expected_rows and len(per_element[-1]) == expected_rows:
        rows = per_element[-1]
    if len(rows) != expected_rows:
        raise UnexpectedResponse(f"inference answered {len(rows)} rows for a batch of {expected_rows}")
    return rows  # type: ignore[return-value]  # an OutputColumns is a sequence of rows


def _legacy_element_rows(element: Any) -> OutputColumns:
    outputs = element.get("outputs") if isinstance(element, dict) else None
    if not isinstance(outputs, list) or not outputs:
        raise UnexpectedResponse("legacy inference result without outputs")
    columns = [_legacy_output_column(i, output) for i, output in enumerate(outputs)]
    row_counts = {rows for _, rows, _ in columns}
    if len(row_counts) != 1:
        raise UnexpectedResponse(f"legacy outputs disagree on the row count: {sorted(row_counts)}")
    return OutputColumns(
        [legacy_output_name(i, len(columns)) for i in range(len(columns))],
        [values for values, _, _ in columns],
        [width for _, _, width in columns],
        row_counts.pop(),
    )


def legacy_output_name(index: int, count: int) -> str:
    """The name of a legacy answer's output `index` of `count`: the answer carries no names, and neither does
    any pipeline metadata the API is known to return (reference §3, §4a), so outputs are named by position,
    zero-padded to one width (`output_00` .. `output_14`) so that sorting as text, as the API server, kubectl
    and `jq -S` do with map keys, is also sorting by number."""
    return f"output_{index:0{len(str(max(count - 1, 0)))}d}"


def _legacy_output_column(index: int, output: Any) -> tuple[list[float], int, int]:
    """One ``{"<Type>": {"dim": [N, ...], "data": [...]}}``: its values (row-major), N and the row width."""
    if not isinstance(output, dict) or len(output) != 1:
        raise UnexpectedResponse(f"output_{index} is not a single typed tensor")
    ((type_name, tensor),) = output.items()
    if type_name not in NUMERIC_TYPES:
        raise UnexpectedResponse(f"output_{index} has type {type_name!r}; only numeric outputs are supported")
    dim = tensor.get("dim") if isinstance(tensor, dict) else None
    data = tensor.get("data") if isinstance(tensor, dict) else None
    if not (isinstance(dim, list) and dim and isinstance(data, list)):
        raise UnexpectedResponse(f"output_{index} lacks dim or data")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dim):
        raise UnexpectedResponse(f"output_{index} has dim {dim}, not sizes")
    rows, width = dim[0], math.prod(dim[1:])
    if width == 0 and rows > 0:  # rows of nothing: a row count no data backs
        raise UnexpectedResponse(f"output_{index} has dim {dim} with no values per row")
    if rows * width != len(data):
        raise UnexpectedResponse(f"output_{index} has {len(data)} values, but dim {dim} needs {rows * width}")
    return _as_floats(data, f"output_{index}"), rows, width


class OutputColumns(Sequence[RowOutputs]):
    """A batch's outputs kept by column, as the legacy answer carries them: a sequence of per-row dicts
    built only when a row is asked for. The results writer reads the columns and the rows' JSON directly,
    so a batch costs no dict and no list per row (they were half of the worker's CPU)."""

    __slots__ = ("_columns", "_names", "_rows", "_widths")

    def __init__(self, names: list[str], columns: list[list[float]], widths: list[int], rows: int):
        self._names, self._columns, self._widths, self._rows = names, columns, widths, rows

    def __len__(self) -> int:
        return self._rows

    @overload
    def __getitem__(self, index: int) -> RowOutputs: ...

    @overload
    def __getitem__(self, index: slice) -> list[RowOutputs]: ...

    def __getitem__(self, index: int | slice) -> RowOutputs | list[RowOutputs]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._rows))]
        row = index + self._rows if index < 0 else index
        if not 0 <= row < self._rows:
            raise IndexError("row index out of range")
        return {
            name: column[row * width : (row + 1) * width]
            for name, column, width in zip(self._names, self._columns, self._widths, strict=True)
        }

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(other) == self._rows and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable contents, like a list

    def __repr__(self) -> str:
        return f"OutputColumns({list(self)!r})"

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def column(self, name: str) -> list[float]:
        """Every value of one output, row after row."""
        return self._columns[self._names.index(name)]

    def rows_json(self, first_row: int) -> list[str]:
        """Each row as ``{"row": n, "<output>": [...], ...}``, the same text as json.dumps with separators
        (",", ":") gives for ``{"row": n, **row}``, numbered from `first_row`."""
        if "row" in self._names:  # an output named "row" replaces the number: let json say how
            return [_COMPACT.encode({"row": first_row + i, **row}) for i, row in enumerate(self)]
        template = (
            "{" + ",".join(['"row":%d', *(f"{_COMPACT.encode(n).replace('%', '%%')}:[%s]" for n in self._names)]) + "}"
        )
        cells = [
            _row_texts(column, width, self._rows) for column, width in zip(self._columns, self._widths, strict=True)
        ]
        return (
            [template % (first_row + i, *row) for i, row in enumerate(zip(*cells, strict=True))]
            if cells
            else [template % (first_row + i) for i in range(self._rows)]
        )


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _row_texts(values: list[float], width: int, rows: int) -> list[str]:
    """Each row's values of one output as JSON text without the brackets: json's text for every value
    (float.__repr__), written by orjson when all are finite and its text is the same as json's; json
    writes NaN and infinities (which orjson would write as null) and the rest."""
    try:
        finite = math.isfinite(math.fsum(values))
    except (OverflowError, ValueError):  # a finite sum too large, or inf + -inf
        finite = False
    texts = _float_texts(values) if finite else [_COMPACT.encode(v) for v in values]
    if width == 1:
        return texts
    return [",".join(texts[r * width : (r + 1) * width]) for r in range(rows)]


def _float_texts(values: list[float]) -> list[str]:
    """float.__repr__ of each value. orjson writes the same shortest round-trip digits, but not always
    repr's notation: its exponents lack "+" and padding ("1e16" for "1e+16"), and it writes 1e-5 to 1e-4 as
    decimals ("0.00001" for "1e-05"). Those few are written by repr (a test compares them all)."""
    text = orjson.dumps(values)[1:-1].decode()
    if not text:
        return []
    texts = text.split(",")
    if "e" in text or "0.0000" in text:
        return [repr(v) if "e" in t or "0.0000" in t else t for v, t in zip(values, texts, strict=True)]
    return texts


# ---- pandas-records -----------------------------------------------------------------------


def parse_pandas_records(records: Any, expected_rows: int) -> list[RowOutputs]:
    if not isinstance(records, list):
        raise UnexpectedResponse("pandas-records inference response is not a list")
    if len(records) != expected_rows:
        raise UnexpectedResponse(f"inference answered {len(records)} records for a batch of {expected_rows}")
    by_column = _pandas_columns(records)
    if by_column is not None:
        return by_column  # type: ignore[return-value]  # a sequence of rows
    return [_record_outputs(record) for record in records]


def _pandas_columns(records: list[Any]) -> OutputColumns | None:
    """The usual answer (flat records alike in their keys, every ``out.<name>`` a number or a flat list of
    one width) read column by column; None for anything else, which the general path reads record by record."""
    if not records or not all(type(record) is dict for record in records):
        return None
    first = records[0]
    keys = [key for key in first if key.startswith("out.")]
    if not keys or "out" in first or any(len(record) != len(first) for record in records):
        return None
    columns, widths = [], []
    for key in keys:
        try:
            values = [record[key] for record in records]
        except KeyError:  # a different key set
            return None
        if all(type(value) is list for value in values):
            lengths = set(map(len, values))
            width = lengths.pop() if len(lengths) == 1 else 0
            flat: list[Any] = list(itertools.chain.from_iterable(values))
        else:
            width, flat = 1, values
        if width == 0:
            return None
        try:
            columns.append(list(map(float, flat)))  # nested lists or non-numbers: the general path says which
        except (TypeError, ValueError, OverflowError):
            return None
        widths.append(width)
    return OutputColumns([key.removeprefix("out.") for key in keys], columns, widths, len(records))


def _record_outputs(record: Any) -> RowOutputs:
    if not isinstance(record, dict):
        raise UnexpectedResponse("pandas-records response holds a non-object record")
    flat = dict(_flatten(record))
    outputs = {
        key.removeprefix("out."): _floats_of(value, key) for key, value in flat.items() if key.startswith("out.")
    }
    if not outputs:
        raise UnexpectedResponse(f"record without outputs (keys: {sorted(record)[:10]})")
    return outputs


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Nested keys joined with "." so nested and flattened responses look the same."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _flatten_values(value: Any) -> list[Any]:
    """A scalar or (nested) list of values as one flat list (row-major)."""
    if not isinstance(value, list):
        return [value]
    return [item for element in value for item in _flatten_values(element)]


# ---- arrow --------------------------------------------------------------------------------


def encode_arrow_table(table: pa.Table) -> bytes:
    """An Arrow IPC *file* (not the stream format): what Wallaroo takes and answers."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def decode_arrow_table(body: bytes) -> pa.Table:
    try:
        return pa.ipc.open_file(pa.BufferReader(body)).read_all()
    except (pa.ArrowException, OSError, ValueError) as error:
        raise UnexpectedResponse(f"the answer is not an Arrow IPC file ({str(error)[:120]})") from None


def parse_arrow(body: Any, expected_rows: int) -> list[RowOutputs]:
    """Rows of an Arrow answer: every ``out.<name>`` column (struct columns flattened first), row by row."""
    if not isinstance(body, (bytes, bytearray)):
        raise UnexpectedResponse("arrow inference response is not binary")
    table = decode_arrow_table(bytes(body))
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()  # nested answers (no dataset.separator): out -> out.<name>
    if table.num_rows != expected_rows:
        raise UnexpectedResponse(f"inference answered {table.num_rows} rows for a batch of {expected_rows}")
    out_names = [name for name in table.column_names if name.startswith("out.")]
    if not out_names:
        raise UnexpectedResponse(f"arrow answer without out.* columns (columns: {table.column_names[:10]})")
    by_column = _arrow_output_columns(table, out_names)
    if by_column is not None:
        return by_column  # type: ignore[return-value]  # a sequence of rows
    outputs = {name.removeprefix("out."): table.column(name).to_pylist() for name in out_names}
    columns = {name: [_floats_of(value, f"out.{name}") for value in values] for name, values in outputs.items()}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _arrow_output_columns(table: pa.Table, names: list[str]) -> OutputColumns | None:
    """The usual answer, read by Arrow itself: every output a numeric column, or a list column of one
    width, without nulls. None for anything else (the general path reads it value by value)."""
    from pyarrow import compute  # here: 11 MiB of RSS that legacy and pandas-records runs do not need

    columns, widths = [], []
    for name in names:
        array = table.column(name).combine_chunks()
        kind = array.type
        if array.null_count:
            return None
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            if not _is_number(kind.value_type):
                return None
            lengths = compute.list_value_length(array)
            width_range = compute.min_max(lengths).as_py()
            if len(array) and width_range["min"] != width_range["max"]:
                return None
            width, values = (width_range["min"] or 0) if len(array) else 1, array.flatten()
            if values.null_count or (width == 0 and len(array)):
                return None
        elif _is_number(kind):
            width, values = 1, array
        else:
            return None
        columns.append(values.cast(pa.float64(), safe=False).to_pylist())
        widths.append(width)
    return OutputColumns([name.removeprefix("out.") for name in names], columns, widths, table.num_rows)


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


# ---- shared ---------------------------------------------------------------------------------


def _as_floats(values: Iterable[Any], what: str) -> list[float]:
    try:
        return list(map(float, values))
    except (TypeError, ValueError, OverflowError):  # Overflow: an integer beyond float
        raise UnexpectedResponse(f"{what} holds non-numeric values") from None


def _floats_of(value: Any, what: str) -> list[float]:
    """One row's value of one output (a number, or a possibly nested list) as a flat list of floats."""
    if type(value) is list:
        try:
            return list(map(float, value))  # a flat list of numbers: the usual, at C speed
        except (TypeError, ValueError, OverflowError):
            pass  # nested, or not numbers: the general path says which
    return _as_floats(_flatten_values(value), what)
