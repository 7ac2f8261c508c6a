"""Writing test input into a bucket in every supported format (the tutorial's shapes, generated)."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from wallaroo_operator.objectstore import ObjectStore
from wallaroo_operator.wallaroo.formats import encode_arrow_table

TUTORIAL_25K_ROWS = 24_954  # data-25k.json's row count


def jsonl(rows: list[list], name: str = "text_input") -> bytes:
    return "".join(json.dumps({name: row}, separators=(",", ":")) + "\n" for row in rows).encode()


def parquet(rows: list[list], name: str = "text_input", row_group_rows: int = 3000, **extra_columns) -> bytes:
    table = pa.table({name: pa.array(rows), **extra_columns})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_rows)
    return sink.getvalue()


def arrow_file(rows: list[list], name: str = "text_input") -> bytes:
    return encode_arrow_table(pa.table({name: pa.array(rows)}))


def tutorial_json(rows: list[list], name: str = "text_input") -> bytes:
    return json.dumps({name: rows}).encode()


def pandas_records(rows: list[list], name: str = "text_input") -> bytes:
    return json.dumps([{name: row} for row in rows]).encode()


def put(store: ObjectStore, key: str, data: bytes) -> None:
    store.client.put_object(Bucket=store.bucket, Key=key, Body=data)


ENCODERS = {
    "data.json": tutorial_json,
    "data.json.gz": lambda rows: gzip.compress(tutorial_json(rows)),
    "records.json": pandas_records,
    "data.jsonl": jsonl,
    "data.jsonl.gz": lambda rows: gzip.compress(jsonl(rows)),
    "data.parquet": parquet,
    "data.parquet.gz": lambda rows: gzip.compress(parquet(rows)),
    "data.arrow": arrow_file,
    "data.arrow.gz": lambda rows: gzip.compress(arrow_file(rows)),
}
