"""Which rows each shard of a run reads, decided from metadata alone, so shards never read each other's data.

The input is the objects under the prefix (or the one key) in key order, laid end to end:

* All Parquet: planned by **rows**. Row counts come from each file's footer (row-group metadata, one or two
  ranged reads per object). Shard i of n takes rows [i*N/n, (i+1)*N/n) of the N rows, reading only the row
  groups that overlap them and only the input column; slices are exact, so shards differ by at most one row.
* Anything else: planned by **bytes**, from the object sizes in the listing (no read at all). Shard i takes
  bytes [i*S/n, (i+1)*S/n) of the S bytes. Plain JSON Lines objects are split inside: a line belongs to the
  shard whose range holds its first byte (Hadoop's rule for text splits), read with one ranged GET that stops
  after the shard's last line. Objects that cannot be split (a whole JSON document, gzip, Arrow IPC, or a
  Parquet file among other formats) go whole to the shard whose range holds their first byte.

Either way every row belongs to exactly one shard, and the shards' slices concatenated in shard order are the
input in order. Each read is pinned to the ETag seen when planning: an object replaced meanwhile fails the run
with InputChanged instead of mixing two versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from wallaroo_operator.objectstore import errors as e
from wallaroo_operator.objectstore import reading
from wallaroo_operator.objectstore.client import ObjectInfo, ObjectStore
from wallaroo_operator.objectstore.errors import s3_uri
from wallaroo_operator.objectstore.reading import DEFAULT_BATCH_ROWS, Format, RowBatch

Kind = Literal["rows", "bytes", "whole"]


@dataclass(frozen=True)
class InputObject:
    info: ObjectInfo
    format: Format
    splittable: bool  # rows (Parquet, planned by rows) or lines (plain JSON Lines, planned by bytes)
    rows: int | None = None  # known from metadata (Parquet)
    gzipped: bool = False  # a .gz Parquet or Arrow file: decompressed whole (JSON kinds stream through gzip)


@dataclass(frozen=True)
class Unit:
    """A piece of one object for one shard: rows or bytes [start, end), or the whole object."""

    obj: InputObject
    kind: Kind
    start: int = 0
    end: int = 0
    first_row: int | None = None


@dataclass(frozen=True)
class InputPlan:
    bucket: str
    objects: tuple[InputObject, ...]
    by_rows: bool

    @property
    def total(self) -> int:
        """Rows (planned by rows) or bytes (planned by bytes)."""
        return sum(self._weight(o) for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: compute the plan once and give the same one to every shard, so that objects
        added under the prefix meanwhile cannot make shards disagree about who reads what."""
        return {
            "bucket": self.bucket,
            "byRows": self.by_rows,
            "objects": [
                {
                    "key": o.info.key,
                    "size": o.info.size,
                    "etag": o.info.etag,
                    "format": o.format,
                    "splittable": o.splittable,
                    "rows": o.rows,
                    "gzipped": o.gzipped,
                }
                for o in self.objects
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputPlan:
        objects = tuple(
            InputObject(
                ObjectInfo(o["key"], o["size"], o["etag"]),
                o["format"],
                o["splittable"],
                o.get("rows"),
                o.get("gzipped", False),
            )
            for o in data["objects"]
        )
        return cls(data["bucket"], objects, data["byRows"])

    def _weight(self, obj: InputObject) -> int:
        return (obj.rows or 0) if self.by_rows else obj.info.size

    def shard(self, index: int, count: int) -> list[Unit]:
        if not 0 <= index < count:
            raise ValueError(f"shard {index} of {count} does not exist")
        total = self.total
        low, high = index * total // count, (index + 1) * total // count
        units, offset = [], 0
        for obj in self.objects:
            weight = self._weight(obj)
            if obj.splittable:
                start, end = max(low, offset), min(high, offset + weight)
                if start < end:
                    kind: Kind = "rows" if self.by_rows else "bytes"
                    first = start if self.by_rows else None
                    units.append(Unit(obj, kind, start - offset, end - offset, first))
            elif low <= offset < high:
                units.append(Unit(obj, "whole"))
            offset += weight
        return units


def plan_input(
    store: ObjectStore, *, key: str | None = None, prefix: str | None = None, format: str = "auto"
) -> InputPlan:
    """List (or look up) the input objects and plan from their metadata."""
    if (key is None) == (prefix is None):
        raise ValueError("give exactly one of key and prefix")
    if key is not None:
        infos = [store.info(key)]
    else:
        listed = store.list_objects(prefix or "")
        if not listed:
            raise e.InputNotFound(f"{s3_uri(store.bucket, prefix or '')}: no objects under this prefix")
        infos = [info for info in listed if _is_data(info.key)]
    infos = [info for info in infos if info.size > 0]
    if not infos:
        raise e.EmptyInput(
            f"{s3_uri(store.bucket, key or prefix or '')}: only empty objects, folder markers "
            "or names starting with _ or ."
        )
    formats = [(info, reading.detect_format(store.bucket, info.key, format)) for info in infos]
    if all(fmt == "parquet" and not _gzip_name(info.key) for info, fmt in formats):
        objects = tuple(
            InputObject(info, "parquet", True, sum(reading.parquet_row_counts(store, info))) for info, _ in formats
        )
        if not any(obj.rows for obj in objects):
            raise e.EmptyInput(f"{s3_uri(store.bucket, key or prefix or '')}: the Parquet files hold no rows")
        return InputPlan(store.bucket, objects, by_rows=True)
    objects = tuple(
        InputObject(
            info,
            fmt,
            fmt == "jsonl" and not reading.starts_with_gzip(store, info),
            gzipped=fmt in ("parquet", "arrow") and reading.starts_with_gzip(store, info),
        )
        for info, fmt in formats
    )
    return InputPlan(store.bucket, objects, by_rows=False)


def _gzip_name(key: str) -> bool:
    return key.lower().endswith((".gz", ".gzip"))


def _is_data(key: str) -> bool:
    """Skip folder markers and the _SUCCESS / .crc style files that Spark and Hadoop leave beside data."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", "."))


def read_shard(
    store: ObjectStore,
    plan: InputPlan,
    index: int,
    count: int,
    *,
    column: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[RowBatch]:
    """The shard's rows in input order, in batches of at most `batch_rows`, validated as they come."""
    validator = reading.RowValidator()
    for unit in plan.shard(index, count):
        for batch in _read_unit(store, unit, column, batch_rows):
            validator.check(batch.input_name, batch.rows, batch.source, values_checked=batch.checked)
            yield batch


def read_all(
    store: ObjectStore, plan: InputPlan, *, column: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[RowBatch]:
    return read_shard(store, plan, 0, 1, column=column, batch_rows=batch_rows)


def _read_unit(store: ObjectStore, unit: Unit, column: str | None, batch_rows: int) -> Iterator[RowBatch]:
    info, source = unit.obj.info, s3_uri(store.bucket, unit.obj.info.key)
    fmt = unit.obj.format
    if fmt == "parquet":
        start, end = (unit.start, unit.end) if unit.kind == "rows" else (0, None)
        for name, rows, first in reading.read_parquet_rows(
            store, info, start, end, column, unit.first_row, unit.obj.gzipped
        ):
            yield from reading.batched(name, rows, source, first, batch_rows, checked=True)
    elif fmt == "arrow":
        for name, rows in reading.read_arrow(store, info, column, unit.obj.gzipped):
            yield from reading.batched(name, rows, source, None, batch_rows, checked=True)
    elif fmt == "json":
        name, rows = reading.read_json_document(store, info, column)
        yield from reading.batched(name, rows, source, None, batch_rows)
    else:
        lines = (
            reading.jsonl_range_lines(store, info, unit.start, unit.end)
            if unit.kind == "bytes"
            else reading.gunzip_lines(store, info)
            if reading.starts_with_gzip(store, info)
            else reading.jsonl_range_lines(store, info, 0, info.size)
        )
        yield from _jsonl_batches(lines, column, source, batch_rows)


def _jsonl_batches(lines: Iterator[bytes], column: str | None, source: str, batch_rows: int) -> Iterator[RowBatch]:
    name, rows = None, []
    for row_name, row in reading.jsonl_rows(lines, column, source):
        if name is not None and row_name != name:
            raise e.InputColumnNotFound(f"{source}: line with column {row_name!r} after lines with {name!r}")
        name = row_name
        rows.append(row)
        if len(rows) == batch_rows:
            yield RowBatch(name, rows, source, None)
            rows = []
    if rows and name is not None:
        yield RowBatch(name, rows, source, None)
