"""Decode the job's input ConfigMaps into rows.

Accepted payloads (plain in `data`, or gzip-compressed in `binaryData`):
- the tutorial's JSON: ``{"text_input": [[1, 2, ...], ...]}`` (one input field, a list of rows);
- pandas-records: ``[{"tensor": [0.1, ...]}, ...]`` (one record per row, one input column).
Several parts are concatenated in the order given; all must name the same input field.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import re
import zlib
from dataclasses import dataclass
from numbers import Real

GZIP_MAGIC = b"\x1f\x8b"
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024  # a gzip bomb fails cleanly instead of exhausting memory


class InputError(ValueError):
    """The input is missing or malformed; `reason` is the condition reason, the message says where."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class InputPart:
    """One ConfigMap key's content, as read from the API (before decoding)."""

    source: str  # "configmap/key", for messages
    text: str | None = None  # from `data`
    binary_b64: str | None = None  # from `binaryData`


@dataclass(frozen=True)
class InputData:
    input_name: str
    rows: list[list]
    sources: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0


def natural_key(name: str) -> list:
    """Sort key where digit runs compare as numbers: part-2 before part-10."""
    return [int(chunk) if chunk.isdigit() else chunk for chunk in re.split(r"(\d+)", name)]


def payload_bytes(part: InputPart) -> bytes:
    if part.binary_b64 is not None:
        try:
            raw = base64.b64decode(part.binary_b64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InputError("InvalidInput", f"{part.source}: binaryData is not valid base64") from error
    else:
        raw = (part.text or "").encode()
    return gunzip(raw, part.source) if raw[:2] == GZIP_MAGIC else raw


def gunzip(raw: bytes, source: str) -> bytes:
    """Every gzip member (`cat a.gz b.gz` is valid gzip), each checked to its end, within the size cap."""
    output, remaining = bytearray(), raw
    while remaining:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            output += decompressor.decompress(remaining, MAX_DECOMPRESSED_BYTES + 1 - len(output))
        except zlib.error as error:
            raise InputError("InvalidInput", f"{source}: corrupt gzip data ({error})") from error
        if len(output) > MAX_DECOMPRESSED_BYTES:
            raise InputError("InputTooLarge", f"{source}: decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes")
        if not decompressor.eof:
            raise InputError("InvalidInput", f"{source}: truncated gzip data")
        remaining = decompressor.unused_data
    return bytes(output)


def decode_part(part: InputPart) -> tuple[str, list[list]]:
    """One part → (input field name, rows)."""
    return decode_document(payload_bytes(part), part.source)


def decode_document(raw: bytes, source: str) -> tuple[str, list[list]]:
    """A whole JSON document (the tutorial's or pandas-records, gzip-compressed or not) → (input name, rows)."""
    if raw[:2] == GZIP_MAGIC:
        raw = gunzip(raw, source)
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError("InvalidInput", f"{source}: not valid JSON ({_short(error)})") from error
    if isinstance(document, dict):
        return _tutorial_rows(document, source)
    if isinstance(document, list):
        return _pandas_records_rows(document, source)
    raise InputError("InvalidInput", f"{source}: expected a JSON object or a list of records")


def _short(error: Exception) -> str:
    return str(error)[:120]


def _tutorial_rows(document: dict, source: str) -> tuple[str, list[list]]:
    if len(document) != 1:
        raise InputError("InvalidInput", f"{source}: expected one input field such as "
                                         f'{{"text_input": [[...], ...]}}, found {len(document)} keys')
    (name, rows), = document.items()
    if not isinstance(rows, list):
        raise InputError("InvalidInput", f"{source}: {name!r} must be a list of rows")
    return name, rows


def _pandas_records_rows(records: list, source: str) -> tuple[str, list[list]]:
    if not records:
        return "", []
    names = {tuple(record) if isinstance(record, dict) else None for record in records}
    if len(names) != 1 or None in names or len(next(iter(names))) != 1:
        raise InputError("InvalidInput", f"{source}: pandas-records input must be objects with one and the "
                                         'same column each, such as [{"tensor": [...]}, ...]')
    name = next(iter(names))[0]
    return name, [record[name] for record in records]


def validate_rows(name: str, rows: list, source: str) -> None:
    """Every row a non-empty list of numbers, all of one width: caught here with the row number,
    rather than as an opaque engine 400 after the first batch."""
    width = None
    for index, row in enumerate(rows):
        if not isinstance(row, list) or not row:
            raise InputError("InvalidInput", f"{source}: row {index} of {name!r} is not a non-empty list")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise InputError("InvalidInput",
                             f"{source}: row {index} of {name!r} has {len(row)} values; row 0 has {width}")
        if not all(isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value) for value in row):
            raise InputError("InvalidInput",
                             f"{source}: row {index} of {name!r} holds a null, NaN, Infinity or non-number")


def decode_input(parts: list[InputPart]) -> InputData:
    """Decode and concatenate the parts, in order."""
    if not parts:
        raise InputError("InputNotFound", "no input ConfigMaps matched")
    name, rows = None, []
    for part in parts:
        part_name, part_rows = decode_part(part)
        if not part_rows:
            continue
        if name is not None and part_name != name:
            raise InputError("InvalidInput", f"{part.source}: input field {part_name!r} differs from {name!r} "
                                             "in the earlier parts")
        validate_rows(part_name, part_rows, part.source)
        if rows and len(part_rows[0]) != len(rows[0]):
            raise InputError("InvalidInput", f"{part.source}: rows have {len(part_rows[0])} values; "
                                             f"earlier parts have {len(rows[0])}")
        name = part_name
        rows.extend(part_rows)
    if not rows:
        raise InputError("InvalidInput", f"{', '.join(p.source for p in parts)}: no rows")
    return InputData(name, rows, tuple(p.source for p in parts))


def gzip_json(document) -> bytes:
    """Helper for users and tests: the gzip payload to put into binaryData."""
    return gzip.compress(json.dumps(document, separators=(",", ":")).encode())
