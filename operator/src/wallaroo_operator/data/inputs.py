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
import sys
import zlib
from dataclasses import dataclass
from numbers import Real
from typing import Any

from wallaroo_operator.settings import settings

GZIP_MAGIC = b"\x1f\x8b"
# Per part: a gzip bomb fails cleanly instead of exhausting memory.
MAX_DECOMPRESSED_BYTES = settings().max_input_bytes
# Digits of a JSON integer parsed at all: float64 holds at most 309, and Python refuses more than 4,300.
MAX_INTEGER_DIGITS = 400


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
    rows: list[list[Any]]
    sources: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0


def natural_key(name: str) -> list[int | str]:
    """Sort key where digit runs compare as numbers: part-2 before part-10."""
    return [int(chunk) if chunk.isdigit() else chunk for chunk in re.split(r"(\d+)", name)]


def payload_bytes(part: InputPart) -> bytes:
    if part.binary_b64 is not None:
        try:
            raw = base64.b64decode(part.binary_b64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InputError("InvalidInput", f"{part.source}: binaryData is not valid base64") from error
    else:
        try:
            raw = (part.text or "").encode()
        except UnicodeEncodeError as error:  # a lone surrogate escaped into the ConfigMap's data
            raise InputError(
                "InvalidInput", f"{part.source}: not valid UTF-8 text (at character {error.start})"
            ) from error
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


class _NotANumber:
    """A JSON value kept in place of a number that cannot be sent (NaN, Infinity, out of float64 range),
    so that validate_rows reports it with its row."""

    def __init__(self, text: str, why: str):
        self.text, self.why = text, why

    def __repr__(self) -> str:
        return f"{self.text[:20]}{'...' if len(self.text) > 20 else ''} ({self.why})"


def _parse_int(text: str) -> int | _NotANumber:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        return _NotANumber(text, f"a {digits}-digit number, beyond float64 range")
    return int(text)


def _parse_float(text: str) -> float | _NotANumber:
    value = float(text)
    return value if math.isfinite(value) else _NotANumber(text, "beyond float64 range")


def _parse_constant(text: str) -> _NotANumber:
    return _NotANumber(text, "JSON has no NaN or Infinity")


class _DuplicateKey(ValueError):
    pass


class _ObjectPairs:
    """object_pairs_hook that refuses duplicate keys (json keeps the last one and silently drops the
    others: for the tutorial format, that is every row of the earlier ones). Objects are counted in
    document order, which for pandas-records input is the row number."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, pairs: list[tuple[str, object]]) -> dict[str, object]:
        index, self.count = self.count, self.count + 1
        document = dict(pairs)
        if len(document) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise _DuplicateKey(
                        f"duplicate key {_show(key)} in JSON object {index} (counted from 0 "
                        "in document order; for pandas-records input, the row number)"
                    )
                seen.add(key)
        return document


def _show(text: str) -> str:
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def parse_json(payload: bytes, source: str) -> object:
    """Strict JSON (RFC 8259): UTF-8, no duplicate keys, no NaN or Infinity, numbers within float64."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            "InvalidInput",
            f"{source}: not valid JSON (not UTF-8: byte 0x{payload[error.start]:02x} at offset {error.start})",
        ) from error
    try:
        return json.loads(
            text,
            object_pairs_hook=_ObjectPairs(),
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as error:
        raise InputError("InvalidInput", f"{source}: not valid JSON ({_short(error)})") from error
    except _DuplicateKey as error:
        raise InputError("InvalidInput", f"{source}: {error}") from error
    except RecursionError as error:
        raise InputError(
            "InvalidInput", f"{source}: JSON nested more than about {sys.getrecursionlimit()} levels deep"
        ) from error
    except (ValueError, TypeError, OverflowError) as error:  # nothing known, but never an InternalError
        raise InputError("InvalidInput", f"{source}: not usable JSON ({type(error).__name__})") from error


def decode_part(part: InputPart) -> tuple[str, list[list[Any]]]:
    """One part → (input field name, rows)."""
    return decode_document(payload_bytes(part), part.source)


def decode_document(raw: bytes, source: str) -> tuple[str, list[list[Any]]]:
    """A whole JSON document (the tutorial's or pandas-records, gzip-compressed or not) → (input name, rows)."""
    if raw[:2] == GZIP_MAGIC:
        raw = gunzip(raw, source)
    document = parse_json(raw, source)
    if isinstance(document, dict):
        return _tutorial_rows(document, source)
    if isinstance(document, list):
        return _pandas_records_rows(document, source)
    raise InputError("InvalidInput", f"{source}: expected a JSON object or a list of records")


def _short(error: Exception) -> str:
    return str(error)[:120]


def _tutorial_rows(document: dict[str, Any], source: str) -> tuple[str, list[list[Any]]]:
    if len(document) != 1:
        raise InputError(
            "InvalidInput",
            f'{source}: expected one input field such as {{"text_input": [[...], ...]}}, found {len(document)} keys',
        )
    ((name, rows),) = document.items()
    if not isinstance(rows, list):
        raise InputError("InvalidInput", f"{source}: {name!r} must be a list of rows")
    return name, rows


def _pandas_records_rows(records: list[Any], source: str) -> tuple[str, list[list[Any]]]:
    if not records:
        return "", []
    names = {tuple(record) if isinstance(record, dict) else None for record in records}
    columns = next(iter(names))
    if len(names) != 1 or columns is None or len(columns) != 1:
        raise InputError(
            "InvalidInput",
            f"{source}: pandas-records input must be objects with one and the "
            'same column each, such as [{"tensor": [...]}, ...]',
        )
    name = columns[0]
    return name, [record[name] for record in records]


def validate_rows(name: str, rows: list[Any], source: str) -> None:
    """Every row a non-empty list of numbers, all of one width: caught here with the row number,
    rather than as an opaque engine 400 after the first batch."""
    width = None
    for index, row in enumerate(rows):
        if not isinstance(row, list) or not row:
            raise InputError("InvalidInput", f"{source}: row {index} of {_show(name)} is not a non-empty list")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise InputError(
                "InvalidInput", f"{source}: row {index} of {_show(name)} has {len(row)} values; row 0 has {width}"
            )
        for column, value in enumerate(row):
            problem = _not_a_number(value)
            if problem:
                raise InputError("InvalidInput", f"{source}: row {index} of {_show(name)}, value {column}: {problem}")


def _not_a_number(value: object) -> str | None:
    """Why `value` cannot be sent as a float64 number, or None when it can."""
    if isinstance(value, _NotANumber):
        return f"{value!r}"
    if isinstance(value, bool) or not isinstance(value, int | Real):
        return f"{_json_type(value)}, not a number"
    if isinstance(value, int):
        return None if abs(value) <= sys.float_info.max else "beyond float64 range"
    return None if math.isfinite(value) else "NaN or Infinity"


def _json_type(value: object) -> str:
    names = {type(None): "null", bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _check_name(name: str, source: str) -> None:
    try:
        name.encode()
    except UnicodeEncodeError as error:
        raise InputError("InvalidInput", f"{source}: the input field name is not valid UTF-8 text") from error
    if not name:
        raise InputError("InvalidInput", f"{source}: the input field name is empty")


def decode_input(parts: list[InputPart]) -> InputData:
    """Decode and concatenate the parts, in order."""
    if not parts:
        raise InputError("InputNotFound", "no input ConfigMaps matched")
    name: str | None = None
    rows: list[list[Any]] = []
    for part in parts:
        part_name, part_rows = decode_part(part)
        if not part_rows:
            continue
        if name is not None and part_name != name:
            raise InputError(
                "InvalidInput", f"{part.source}: input field {part_name!r} differs from {name!r} in the earlier parts"
            )
        _check_name(part_name, part.source)
        validate_rows(part_name, part_rows, part.source)
        if rows and len(part_rows[0]) != len(rows[0]):
            raise InputError(
                "InvalidInput",
                f"{part.source}: rows have {len(part_rows[0])} values; earlier parts have {len(rows[0])}",
            )
        name = part_name
        rows.extend(part_rows)
    if not rows or name is None:
        raise InputError("InvalidInput", f"{', '.join(p.source for p in parts)}: no rows")
    return InputData(name, rows, tuple(p.source for p in parts))


def gzip_json(document: object) -> bytes:
    """Helper for users and tests: the gzip payload to put into binaryData."""
    return gzip.compress(json.dumps(document, separators=(",", ":")).encode())
