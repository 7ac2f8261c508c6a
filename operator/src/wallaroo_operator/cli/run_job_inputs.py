"""Where `run-job` reads its rows: ConfigMap manifests given with -f, local files (--input), or the
job's object store. Everything becomes the engine's InputParts, so the rows are checked exactly as a
run in the cluster checks them.

JSON documents (the tutorial's `{"text_input": [[...]]}` or pandas-records), gzipped or not, go to the
engine as they are. JSON Lines and Parquet are read here, a slice of rows at a time, and handed over
as tutorial-format parts: memory holds one slice, never the file.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from wallaroo_operator.data.inputs import GZIP_MAGIC, InputError, InputPart, natural_key
from wallaroo_operator.models.job import InputSpec

ROWS_PER_PART = 5_000
InputParts = Callable[[], Iterable[InputPart]]


class UsageError(Exception):
    """Something the command line or the -f documents must fix: exit code 2, one line."""


def config_map_parts(spec: InputSpec, config_maps: dict[str, dict[str, Any]]) -> list[InputPart]:
    """The job's ConfigMaps (by name, or by selector in name order, numbers as numbers), from -f."""
    if spec.config_maps:
        refs = [(ref.name, ref.key or spec.key) for ref in spec.config_maps]
    elif spec.selector:
        wanted = spec.selector.match_labels
        names = [
            name
            for name, body in config_maps.items()
            if all(((body.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]
        if not names:
            labels = ",".join(f"{k}={v}" for k, v in sorted(wanted.items()))
            raise UsageError(f"no ConfigMap in the -f files matches the job's input selector {labels}")
        refs = [(name, spec.key) for name in sorted(names, key=natural_key)]
    else:
        raise UsageError("the job reads no ConfigMaps; give --input FILE")
    return [_config_map_part(config_maps, name, key) for name, key in refs]


def _config_map_part(config_maps: dict[str, dict[str, Any]], name: str, key: str) -> InputPart:
    body = config_maps.get(name)
    if body is None:
        raise UsageError(f"ConfigMap {name} (the job's input) is not in the -f files; add it, or give --input FILE")
    source = f"{name}/{key}"
    binary, data = body.get("binaryData") or {}, body.get("data") or {}
    if key in binary:
        return InputPart(source, binary_b64=str(binary[key]))
    if key in data:
        return InputPart(source, text=str(data[key]))
    raise UsageError(f"ConfigMap {name} has no key {key!r} in data or binaryData")


def file_parts(paths: list[Path], column: str | None) -> InputParts:
    """The rows of local files, in the order given; read again on each call (the engine reads twice:
    once to check every row, once to send them)."""
    for path in paths:
        if not path.is_file():
            raise UsageError(f"--input {path}: no such file")

    def parts() -> Iterator[InputPart]:
        for path in paths:
            yield from _parts_of(path, column)

    return parts


def file_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz").removesuffix(".gzip")
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "json"


def _parts_of(path: Path, column: str | None) -> Iterator[InputPart]:
    fmt = file_format(path)
    if fmt == "json":
        yield InputPart(str(path), binary_b64=base64.b64encode(path.read_bytes()).decode())
    elif fmt == "jsonl":
        yield from rows_as_parts(_jsonl_rows(path, column), str(path))
    else:
        yield from rows_as_parts(_parquet_rows(path, column), str(path))


def _jsonl_rows(path: Path, column: str | None) -> Iterator[tuple[str, list[Any]]]:
    from wallaroo_operator.objectstore.reading import jsonl_rows

    with path.open("rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
    with gzip.open(path, "rb") if gzipped else path.open("rb") as lines:
        try:
            yield from jsonl_rows(lines, column, str(path))
        except (OSError, EOFError) as error:  # a damaged gzip stream
            raise InputError("InvalidInput", f"{path}: not readable gzip ({error})") from None


def _parquet_rows(path: Path, column: str | None) -> Iterator[tuple[str, list[Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wallaroo_operator.objectstore.reading import choose_column

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise InputError("InvalidInput", f"{path}: not a readable Parquet file ({error})") from None
    name = choose_column(parquet.schema_arrow.names, column, str(path))
    for batch in parquet.iter_batches(batch_size=ROWS_PER_PART, columns=[name]):
        for row in batch.column(0).to_pylist():
            yield name, row


def rows_as_parts(rows: Iterable[tuple[str, list[Any]]], source: str, *, numbered: bool = True) -> Iterator[InputPart]:
    """(input name, row) pairs as tutorial-format parts of ROWS_PER_PART rows, labelled with their
    rows of `source` (counted from 1) when `rows` starts at its first row."""
    name: str | None = None
    pending: list[Any] = []
    first = 1

    def part() -> InputPart:
        label = f"{source} rows {first}-{first + len(pending) - 1}" if numbered else source
        try:
            text = json.dumps({name: pending}, separators=(",", ":"), allow_nan=False)
        except ValueError:
            raise InputError("InvalidInput", f"{label}: NaN or Infinity in a row") from None
        return InputPart(label, text=text)

    for row_name, row in rows:
        if name is not None and row_name != name:
            raise InputError("InvalidInput", f"{source}: rows name the inputs {name!r} and {row_name!r}; give --column")
        name = row_name
        pending.append(row)
        if len(pending) == ROWS_PER_PART:
            yield part()
            first, pending = first + len(pending), []
    if pending:
        yield part()


def object_store_parts(store: Any, spec: Any) -> InputParts:
    """The rows under the job's input.objectStore key or prefix, planned once, at the first read, inside the
    run (so a refusal is the run's failure), and pinned to the ETags seen then."""
    from wallaroo_operator.objectstore import plan_input, read_all

    plans: list[Any] = []

    def parts() -> Iterator[InputPart]:
        if not plans:
            plans.append(plan_input(store, key=spec.key, prefix=spec.prefix, format=spec.format))
        for batch in read_all(store, plans[0], column=spec.column):
            yield from rows_as_parts(((batch.input_name, row) for row in batch.rows), batch.source, numbered=False)

    return parts
