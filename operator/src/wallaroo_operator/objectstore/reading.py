"""Reading input rows from objects, streaming, in batches: JSON (the tutorial's and pandas-records), JSON Lines,
gzip of either, Parquet and Arrow IPC files. What to read comes from a shard's plan (see `sharding`)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from wallaroo_operator.lazy import LazyModule

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
else:  # imported by the first read of an Arrow or Parquet object
    pa, pc, pq = LazyModule("pyarrow"), LazyModule("pyarrow.compute"), LazyModule("pyarrow.parquet")

from wallaroo_operator.data.inputs import (
    GZIP_MAGIC,
    InputError,
    decode_document,
    gunzip,
    validate_rows,
)
from wallaroo_operator.objectstore import errors as e
from wallaroo_operator.objectstore.client import ObjectInfo, ObjectStore
from wallaroo_operator.objectstore.errors import s3_uri
from wallaroo_operator.objectstore.rangefile import RangeFile

Format = Literal["json", "jsonl", "parquet", "arrow"]
_EXTENSIONS: dict[str, Format] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
STREAM_CHUNK_BYTES = 1024 * 1024
DEFAULT_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class RowBatch:
    input_name: str
    rows: list[list[Any]]
    source: str  # s3://bucket/key
    first_row: int | None  # index of rows[0] in the whole input, when the plan knows it (Parquet)
    checked: bool = False  # values already checked column-wise by Arrow (Parquet, Arrow IPC)


def detect_format(bucket: str, key: str, configured: str = "auto") -> Format:
    if configured != "auto":
        return configured  # type: ignore[return-value]
    name = key.lower().removesuffix(".gz").removesuffix(".gzip")
    for extension, fmt in _EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    raise e.InvalidInput(
        f"{s3_uri(bucket, key)}: cannot tell the format from the name (expected .json, .jsonl, "
        ".ndjson, .parquet or .arrow, optionally .gz); set input.objectStore.format"
    )


def choose_column(columns: list[str], wanted: str | None, source: str) -> str:
    """The pipeline's input column: the one asked for, else the only one there is."""
    if wanted is not None:
        if wanted not in columns:
            raise e.InputColumnNotFound(
                f"{source}: no column {wanted!r} (the pipeline's input); "
                f"its columns are {', '.join(columns[:20]) or 'none'}"
            )
        return wanted
    if len(columns) != 1:
        raise e.InputColumnNotFound(
            f"{source}: {len(columns)} columns ({', '.join(columns[:20])}); set "
            "input.objectStore.column to the pipeline's input column"
        )
    return columns[0]


class RowValidator:
    """Every row a non-empty list of finite numbers, one width and one input name across all objects."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.width: int | None = None

    def check(self, name: str, rows: list[Any], source: str, *, values_checked: bool = False) -> None:
        if self.name is not None and name != self.name:
            raise e.InputColumnNotFound(
                f"{source}: input column {name!r} differs from {self.name!r} in the objects before it"
            )
        try:
            if not values_checked:
                validate_rows(name, rows, source)
        except InputError as error:
            raise e.InvalidInput(str(error)) from None
        if rows and self.width is not None and len(rows[0]) != self.width:
            raise e.InvalidInput(f"{source}: rows have {len(rows[0])} values; earlier rows have {self.width}")
        if rows:
            self.name, self.width = name, len(rows[0])


def batched(
    name: str, rows: list[list[Any]], source: str, first_row: int | None, size: int, checked: bool = False
) -> Iterator[RowBatch]:
    for start in range(0, len(rows), size):
        yield RowBatch(
            name, rows[start : start + size], source, None if first_row is None else first_row + start, checked
        )


def check_arrow_column(column: pa.Array | pa.ChunkedArray, name: str, source: str) -> None:
    """What `validate_rows` checks row by row, done column-wise by Arrow (about 20 times faster): one
    non-empty list of finite numbers per row, all of one width."""
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) or not (
        pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)
    ):
        raise e.InvalidInput(f"{source}: column {name!r} is {kind}, not a list of numbers per row")
    if column.null_count:
        raise e.InvalidInput(f"{source}: {column.null_count} rows of {name!r} are null")
    values = pc.list_flatten(column)
    if values.null_count or (
        pa.types.is_floating(kind.value_type) and len(values) and not pc.all(pc.is_finite(values)).as_py()
    ):
        raise e.InvalidInput(f"{source}: {name!r} holds a null, NaN or Infinity")
    widths = pc.min_max(pc.list_value_length(column)).as_py()
    if len(column) and (widths["min"] != widths["max"] or not widths["min"]):
        raise e.InvalidInput(
            f"{source}: rows of {name!r} have from {widths['min']} to {widths['max']} values; "
            "every row needs the same number, at least one"
        )


# -- Parquet: row groups, read by range ------------------------------------------------------------------


def random_access(store: ObjectStore, obj: ObjectInfo, gzipped: bool) -> RangeFile | pa.BufferReader:
    """Ranged reads of the object; a gzip-compressed Parquet or Arrow file is fetched and decompressed whole."""
    if not gzipped:
        return RangeFile(store, obj)
    try:
        return pa.BufferReader(gunzip(store.read_range(obj, 0, obj.size), s3_uri(store.bucket, obj.key)))
    except InputError as error:
        raise e.InvalidInput(str(error)) from None


def parquet_file(store: ObjectStore, obj: ObjectInfo, gzipped: bool = False) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(random_access(store, obj, gzipped))
    except e.ObjectStoreError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:
        raise e.InvalidInput(
            f"{s3_uri(store.bucket, obj.key)}: not a readable Parquet file, corrupt or truncated ({_short(error)})"
        ) from None


def parquet_row_counts(store: ObjectStore, obj: ObjectInfo, gzipped: bool = False) -> list[int]:
    """Rows per row group, from the footer alone (one or two ranged reads)."""
    metadata = parquet_file(store, obj, gzipped).metadata
    return [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]


def read_parquet_rows(
    store: ObjectStore,
    obj: ObjectInfo,
    start: int,
    end: int | None,
    column: str | None,
    first_row: int | None,
    gzipped: bool = False,
) -> Iterator[tuple[str, list[list[Any]], int | None]]:
    """Rows [start, end) of the object (to its end for None): only the row groups overlapping them are
    fetched, and only the input column."""
    source = s3_uri(store.bucket, obj.key)
    parquet = parquet_file(store, obj, gzipped)
    end = parquet.metadata.num_rows if end is None else end
    name = choose_column(parquet.schema_arrow.names, column, source)
    offset = 0
    for group in range(parquet.metadata.num_row_groups):
        count = parquet.metadata.row_group(group).num_rows
        low, high = max(start, offset), min(end, offset + count)
        if low < high:
            try:
                table = parquet.read_row_group(group, columns=[name])
            except e.ObjectStoreError:
                raise
            except (pa.ArrowException, OSError, ValueError) as error:
                raise e.InvalidInput(
                    f"{source}: row group {group} cannot be read, corrupt or truncated ({_short(error)})"
                ) from None
            values = table.column(0).slice(low - offset, high - low)
            check_arrow_column(values, name, source)
            yield name, values.to_pylist(), None if first_row is None else first_row + (low - start)
        offset += count


# -- Arrow IPC files: record batch by record batch -------------------------------------------------------


def read_arrow(
    store: ObjectStore, obj: ObjectInfo, column: str | None, gzipped: bool = False
) -> Iterator[tuple[str, list[list[Any]]]]:
    source = s3_uri(store.bucket, obj.key)
    try:
        reader = pa.ipc.open_file(random_access(store, obj, gzipped))
        name = choose_column(reader.schema.names, column, source)
        for index in range(reader.num_record_batches):
            values = reader.get_batch(index).column(name)
            check_arrow_column(values, name, source)
            yield name, values.to_pylist()
    except e.ObjectStoreError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:
        raise e.InvalidInput(f"{source}: not a readable Arrow IPC file ({_short(error)})") from None


# -- JSON documents: whole objects -----------------------------------------------------------------------


def read_json_document(store: ObjectStore, obj: ObjectInfo, column: str | None) -> tuple[str, list[list[Any]]]:
    source = s3_uri(store.bucket, obj.key)
    try:
        name, rows = decode_document(store.read_range(obj, 0, obj.size), source)
    except InputError as error:
        raise e.InvalidInput(str(error)) from None
    if column is not None and rows and name != column:
        raise e.InputColumnNotFound(f"{source}: input field {name!r}, not {column!r} (the pipeline's input)")
    return name, rows


# -- JSON Lines: byte ranges of plain objects, or whole gzip objects -------------------------------------


def jsonl_range_lines(store: ObjectStore, obj: ObjectInfo, start: int, end: int) -> Iterator[bytes]:
    """The lines that *start* in bytes [start, end): a line is read to its end even past `end`, and a line
    begun before `start` belongs to the previous shard (the rule Hadoop's text splits use)."""
    fetch_from = start - 1 if start > 0 else 0
    with store.open_range(obj, fetch_from) as body:
        position, pending, skip_first = fetch_from, b"", start > 0
        for chunk in body.iter_chunks(STREAM_CHUNK_BYTES):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                line_start, position = position, position + len(line) + 1
                if skip_first:  # the tail of the line before `start` (or just the newline at start - 1)
                    skip_first = False
                    continue
                if line_start >= end:
                    return
                yield line
        if pending and not skip_first and position < end:
            yield pending


def gunzip_lines(store: ObjectStore, obj: ObjectInfo) -> Iterator[bytes]:
    """The lines of a gzip object, decompressed as it streams in (every member: `cat a.gz b.gz` is gzip too)."""
    source = s3_uri(store.bucket, obj.key)
    with store.open_range(obj) as body:
        decompressor, member_open, pending = zlib.decompressobj(16 + zlib.MAX_WBITS), False, b""
        for chunk in body.iter_chunks(STREAM_CHUNK_BYTES):
            while chunk:
                member_open = True
                try:
                    data = decompressor.decompress(chunk)
                except zlib.error as error:
                    raise e.InvalidInput(f"{source}: corrupt gzip data ({error})") from None
                *lines, pending = (pending + data).split(b"\n")
                yield from lines
                chunk = b""
                if decompressor.eof:
                    chunk, member_open = decompressor.unused_data, False
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if member_open:
            raise e.InvalidInput(f"{source}: truncated gzip data")
        if pending:
            yield pending


def jsonl_rows(lines: Iterable[bytes], column: str | None, source: str) -> Iterator[tuple[str, list[Any]]]:
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise e.InvalidInput(
                f"{source}: a line is not valid JSON ({_short(error)}), line {number} of this shard's slice"
            ) from None
        if not isinstance(record, dict):
            raise e.InvalidInput(
                f"{source}: expected one JSON object per line such as "
                '{"tensor": [...]}, line ' + str(number) + " of this shard's slice"
            )
        name = choose_column(list(record), column, source)
        yield name, record[name]


def starts_with_gzip(store: ObjectStore, obj: ObjectInfo) -> bool:
    return obj.size >= 2 and store.read_range(obj, 0, 2) == GZIP_MAGIC


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]
