"""Decode input parts row by row, without building the whole document.

The same formats and the same errors as data/inputs.py (the tutorial's {"<input>": [[...], ...]} and
pandas-records [{"<input>": [...]}, ...], plain or gzip-compressed), but a part is gunzipped in pieces and
its JSON parsed one row at a time, so memory holds one piece and one row, never the document. Rows are
checked with inputs.validate_rows, window by window, with row numbers counted within the part.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import json
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from wallaroo_operator.data import inputs
from wallaroo_operator.data.inputs import GZIP_MAGIC, InputError, InputPart, validate_rows
from wallaroo_operator.fast_json import has_long_integer

PIECE_BYTES = 64 * 1024  # decompressed bytes taken at a time
VALIDATE_WINDOW = 500  # rows validated at once (validate_rows wants a list)
_WHITESPACE = " \t\n\r"


@dataclass(frozen=True)
class StreamLimits:
    max_decompressed_bytes: int  # per part: a gzip bomb fails cleanly, and quickly
    max_row_bytes: int  # one row's JSON: memory holds at most one pending row


def raw_payload(part: InputPart) -> bytes:
    """The part's bytes as stored (at most a ConfigMap's 1 MiB), before decompression."""
    if part.binary_b64 is None:
        return (part.text or "").encode()
    try:
        return base64.b64decode(part.binary_b64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError("InvalidInput", f"{part.source}: binaryData is not valid base64") from error


def decompressed_pieces(raw: bytes, source: str, limit: int) -> Iterator[bytes]:
    """The payload in pieces: gunzipped (every member, each checked to its end) when it is gzip."""
    if raw[:2] != GZIP_MAGIC:
        for start in range(0, len(raw), PIECE_BYTES):
            yield raw[start : start + PIECE_BYTES]
        return
    total, remaining = 0, raw
    while remaining:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = remaining
        while True:
            try:
                piece = decompressor.decompress(pending, PIECE_BYTES)
            except zlib.error as error:
                raise InputError("InvalidInput", f"{source}: corrupt gzip data ({error})") from error
            total += len(piece)
            if total > limit:
                raise InputError(
                    "InputTooLarge",
                    f"{source}: decompresses to more than {limit} bytes (the limit "
                    "for this worker's memory; raise execution.resources.limits."
                    "memory or split the input)",
                )
            if piece:
                yield piece
            pending = decompressor.unconsumed_tail
            if decompressor.eof or not (piece or pending):
                break
        if not decompressor.eof:
            raise InputError("InvalidInput", f"{source}: truncated gzip data")
        remaining = decompressor.unused_data


class _Text:
    """Decoded text arriving in pieces, with a cursor; consumed text is dropped."""

    def __init__(self, pieces: Iterable[bytes], source: str, max_row_bytes: int, *, strict: bool = True):
        self._pieces = iter(pieces)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._source = source
        self._max = max_row_bytes
        self.buffer, self.pos, self.eof = "", 0, False
        # The whole-document decoder's strict rules (data/inputs.py): no duplicate keys; NaN, Infinity
        # and numbers beyond float64 become values that row validation refuses, naming the row. Not strict:
        # numbers are parsed by json's C scanner itself (a Python call per number took most of the worker's
        # CPU); what that lets through (huge numbers) is caught by _plainly_valid, which then asks for the
        # strict reading of the part, so errors read the same.
        if strict:
            self._json = json.JSONDecoder(
                object_pairs_hook=inputs._ObjectPairs(),
                parse_int=inputs._parse_int,
                parse_float=inputs._parse_float,
                parse_constant=inputs._parse_constant,
            )
        else:
            self._json = json.JSONDecoder(
                object_pairs_hook=inputs._ObjectPairs(), parse_constant=inputs._parse_constant
            )

    def more(self) -> bool:
        """Append the next piece; False at the end of the payload."""
        if self.eof:
            return False
        piece = next(self._pieces, None)
        try:
            text = self._decoder.decode(piece or b"", final=piece is None)
        except UnicodeDecodeError as error:  # the same words as the whole-document decoder's
            raise InputError(
                "InvalidInput", f"{self._source}: not valid JSON (not UTF-8: byte 0x{error.object[error.start]:02x})"
            ) from error
        self.eof = piece is None
        self.buffer = self.buffer[self.pos :] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ("" at the end)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer) or not self.more():
                return self.buffer[self.pos : self.pos + 1]

    def expect(self, characters: str) -> str:
        found = self.peek()
        if not found or found not in characters:
            raise InputError(
                "InvalidInput",
                f"{self._source}: not valid JSON (expected {' or '.join(characters)} "
                f"at character {self.pos}, found {found or 'the end'!r})",
            )
        self.pos += 1
        return found

    def value(self) -> Any:
        """The next complete JSON value; reads more text while the value is incomplete."""
        self.peek()
        while True:
            try:
                value, end = self._json.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                if self.eof or _is_not_truncation(error, len(self.buffer)):
                    raise self.invalid(error) from error
                if len(self.buffer) - self.pos > self._max:
                    raise InputError(
                        "InputTooLarge",
                        f"{self._source}: one value is larger than {self._max} "
                        "bytes (the limit for this worker's memory)",
                    ) from None
                self.more()
                continue
            if end == len(self.buffer) and not self.eof and isinstance(value, (int, float)):
                self.more()  # a number at the end of the buffer may continue in the next piece
                continue
            self.pos = end
            return value

    def invalid(self, error: Exception) -> InputError:
        return InputError("InvalidInput", f"{self._source}: not valid JSON ({str(error)[:120]})")


def _is_not_truncation(error: json.JSONDecodeError, length: int) -> bool:
    """An error before the end of the text read so far is not cured by reading more."""
    return error.pos < length and not error.msg.startswith("Unterminated string")


def _elements(text: _Text) -> Iterator[Any]:
    """The elements of a JSON array whose "[" was just read."""
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        yield text.value()
        if text.expect(",]") == "]":
            return


def part_rows(part: InputPart, limits: StreamLimits, *, strict: bool = True) -> Iterator[tuple[str, list[Any]]]:
    """(input field name, row) for every row of one part, in order, unvalidated. Whatever the text
    makes the decoder raise ends as InvalidInput naming the part, never an internal error."""
    try:
        yield from _part_rows(part, limits, strict)
    except InputError:
        raise
    except RecursionError as error:
        raise InputError(
            "InvalidInput", f"{part.source}: JSON nested more than about {sys.getrecursionlimit()} levels deep"
        ) from error
    except inputs._DuplicateKey as error:
        raise InputError("InvalidInput", f"{part.source}: {error}") from error
    except (ValueError, TypeError, OverflowError) as error:
        raise InputError("InvalidInput", f"{part.source}: not usable JSON ({type(error).__name__})") from error


def _part_rows(part: InputPart, limits: StreamLimits, strict: bool) -> Iterator[tuple[str, list[Any]]]:
    pieces: Iterable[bytes] = decompressed_pieces(raw_payload(part), part.source, limits.max_decompressed_bytes)
    if not strict:
        document, pieces = _small_document(pieces, limits.max_row_bytes)
        parsed = _plain_tutorial_document(document) if document is not None else None
        if parsed is not None:
            name, rows = parsed
            for row in rows:
                yield name, row
            return
    text = _Text(pieces, part.source, limits.max_row_bytes, strict=strict)
    opening = text.expect("{[")
    if opening == "{":
        yield from _tutorial_rows(text, part.source)
    else:
        yield from _pandas_records_rows(text, part.source)
    if text.peek():
        raise InputError("InvalidInput", f"{part.source}: not valid JSON (extra data after the document)")


def _small_document(pieces: Iterable[bytes], limit: int) -> tuple[bytes | None, Iterable[bytes]]:
    """The whole decompressed part when it is at most `limit` bytes (as much memory as one row may take);
    else None, and the pieces to stream (those read so far first)."""
    read: list[bytes] = []
    size = 0
    iterator = iter(pieces)
    for piece in iterator:
        read.append(piece)
        size += len(piece)
        if size > limit:
            return None, itertools.chain(read, iterator)
    return b"".join(read), read


# {"<name>": [ ... ]} with JSON's own whitespace; the name as JSON text (escapes included).
_TUTORIAL_HEAD = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*("(?:[^"\\]|\\.)*")[ \t\n\r]*:[ \t\n\r]*(?=\[)')
_JSON_WHITESPACE = b" \t\n\r"


def _plain_tutorial_document(document: bytes) -> tuple[str, list[Any]] | None:
    """(name, rows) of a plain {"<name>": [rows]} document, read whole by orjson (several times faster
    than json's scanner); None for anything else (other shapes, a second key, NaN, integers beyond 64 bits,
    bad UTF-8, ...), which the streaming reader then reads, with its errors. The rows are not validated
    here: the windows of validated_rows check them as they check the streamed ones."""
    head = _TUTORIAL_HEAD.match(document)
    body = document.rstrip(_JSON_WHITESPACE)
    if head is None or not body.endswith(b"}") or has_long_integer(document):
        return None
    rows_text = body[head.end() : -1].rstrip(_JSON_WHITESPACE)
    try:
        name, rows = orjson.loads(head.group(1)), orjson.loads(rows_text)  # a second key makes this fail
    except orjson.JSONDecodeError:
        return None
    if not isinstance(name, str) or not isinstance(rows, list):
        return None
    return name, rows


def _tutorial_rows(text: _Text, source: str) -> Iterator[tuple[str, list[Any]]]:
    if text.peek() == "}":
        raise InputError(
            "InvalidInput", f'{source}: expected one input field such as {{"text_input": [[...], ...]}}, found 0 keys'
        )
    name = text.value()
    if not isinstance(name, str):
        raise text.invalid(ValueError("an object key must be a string"))
    text.expect(":")
    if text.peek() != "[":
        raise InputError("InvalidInput", f"{source}: {name!r} must be a list of rows")
    text.expect("[")
    for row in _elements(text):
        yield name, row
    if text.expect(",}") == ",":
        if text.value() == name:  # json would keep the last and silently drop these rows
            raise InputError("InvalidInput", f"{source}: duplicate key {name!r} in JSON object 0")
        raise InputError(
            "InvalidInput",
            f'{source}: expected one input field such as {{"text_input": [[...], ...]}}, found more than one key',
        )


def _pandas_records_rows(text: _Text, source: str) -> Iterator[tuple[str, list[Any]]]:
    name = None
    for record in _elements(text):
        if not isinstance(record, dict) or len(record) != 1 or (name is not None and name not in record):
            raise InputError(
                "InvalidInput",
                f"{source}: pandas-records input must be objects with one and the "
                'same column each, such as [{"tensor": [...]}, ...]',
            )
        ((name, row),) = record.items()
        yield name, row


_ROW_NUMBER = re.compile(r"\brow (\d+) of\b")


class _Suspect(Exception):
    """The fast reading met something only the strict one describes right: read the part strictly."""


def validated_rows(part: InputPart, limits: StreamLimits) -> Iterator[tuple[str, list[Any]]]:
    """part_rows, each checked as inputs.validate_rows would, with the same errors.

    Rows are read by json's C scanner and checked a window at a time by type, width and range (C-level
    calls per row, not Python per value). A window that does not plainly pass, or any error, sends the part
    to the strict reading, which names the problem exactly as the whole-document decoder does; the rows
    already handed out are skipped there."""
    done, width = 0, None
    try:
        for name, window in _windows(part_rows(part, limits, strict=False)):
            width = _plain_width(window, width)
            if width is None:
                raise _Suspect
            for row in window:
                yield name, row
                done += 1
    except (_Suspect, InputError):
        yield from itertools.islice(_strictly_validated_rows(part, limits), done, None)


def _windows(rows: Iterable[tuple[str, list[Any]]]) -> Iterator[tuple[str, list[Any]]]:
    window: list[Any] = []
    name = ""
    for name, row in rows:
        window.append(row)
        if len(window) == VALIDATE_WINDOW:
            yield name, window
            window = []
    if window:
        yield name, window


_NUMBERS = frozenset((int, float))
_FLOAT_MAX = sys.float_info.max


def _plain_width(window: list[Any], width: int | None) -> int | None:
    """The rows' width if every row is a non-empty list of that many numbers within float64 (bools are
    not numbers here), else None."""
    for row in window:
        if type(row) is not list or not row:
            return None
        if width is None:
            width = len(row)
        if len(row) != width or not _NUMBERS.issuperset(map(type, row)):
            return None
        if max(row) > _FLOAT_MAX or min(row) < -_FLOAT_MAX:  # 1e400 reads as inf, a 400-digit int as itself
            return None
    return width


def _strictly_validated_rows(part: InputPart, limits: StreamLimits) -> Iterator[tuple[str, list[Any]]]:
    """part_rows, each checked by inputs.validate_rows (windows of rows; numbers counted in the part)."""
    window: list[Any] = []
    offset, name, width = 0, "", None

    def check() -> None:
        try:
            validate_rows(name, ([] if width is None else [[0] * width]) + window, part.source)
        except InputError as error:
            raise _renumbered(error, offset - (0 if width is None else 1)) from None

    for name, row in part_rows(part, limits):
        window.append(row)
        if len(window) == VALIDATE_WINDOW:
            check()
            yield from ((name, r) for r in window)
            width = width or len(window[0])
            offset += len(window)
            window = []
    if window:
        check()
        yield from ((name, r) for r in window)


def _renumbered(error: InputError, offset: int) -> InputError:
    """validate_rows counts from the window's first row; say the row's number within the part."""
    message = _ROW_NUMBER.sub(lambda m: f"row {int(m.group(1)) + offset} of", str(error), count=1)
    return InputError(error.reason, message)


@dataclass(frozen=True)
class InputShape:
    input_name: str
    rows: int
    width: int


class InputStream:
    """The job's input across its parts, in order, read one part at a time.

    `scan()` reads everything once (validating every row and counting them) before any row is sent;
    `rows(start, stop)` then reads again and yields the rows of one slice, stopping after it. Parts of
    at most `keep_bytes` in all, as stored, are kept from the first reading for the second (a small input
    is fetched once); larger inputs are fetched again, one part at a time.
    """

    def __init__(self, parts: Callable[[], Iterable[InputPart]], limits: StreamLimits, keep_bytes: int = 0):
        self._parts = parts
        self._limits = limits
        self._shape: InputShape | None = None
        self._keep_bytes = keep_bytes
        self._kept: list[InputPart] | None = None

    def _read_parts(self) -> Iterator[InputPart]:
        if self._kept is not None:
            yield from self._kept
            return
        kept: list[InputPart] = []
        size, keeping = 0, True
        for part in self._parts():
            if keeping:
                size += len(part.text or "") + len(part.binary_b64 or "")
                keeping = size <= self._keep_bytes
                if keeping:
                    kept.append(part)
                else:
                    kept.clear()
            yield part
        if keeping:
            self._kept = kept

    def _all_rows(self, validate: bool = True) -> Iterator[tuple[str, list[Any]]]:
        name, width, sources = None, None, []
        for part in self._read_parts():
            sources.append(part.source)
            first = True
            rows = validated_rows(part, self._limits) if validate else part_rows(part, self._limits, strict=False)
            for part_name, row in rows:
                if first and name is not None and part_name != name:
                    raise InputError(
                        "InvalidInput",
                        f"{part.source}: input field {part_name!r} differs from {name!r} in the earlier parts",
                    )
                if first and width is not None and len(row) != width:
                    raise InputError(
                        "InvalidInput", f"{part.source}: rows have {len(row)} values; earlier parts have {width}"
                    )
                name, width, first = part_name, len(row), False
                yield name, row
        if not sources:
            raise InputError("InputNotFound", "no input ConfigMaps matched")
        if name is None:
            raise InputError("InvalidInput", f"{', '.join(sources)}: no rows")

    def scan(self) -> InputShape:
        count, name, width = 0, "", 0
        for name, row in self._all_rows():  # noqa: B007 - the last name is the input's
            count, width = count + 1, len(row)
        self._shape = InputShape(name, count, width)
        return self._shape

    def rows(self, start: int, stop: int) -> Iterator[list[Any]]:
        """The rows scan() validated (fully checked once is enough: this pass only checks that the input
        did not change in between, by the width of each row and the count)."""
        shape = self._shape or self.scan()
        index = -1
        for index, (name, row) in enumerate(self._all_rows(validate=False)):
            if name != shape.input_name or not isinstance(row, list) or len(row) != shape.width:
                raise _changed()
            if index >= stop:
                return
            if index >= start:
                yield row
        if index + 1 != shape.rows:
            raise _changed()


def _changed() -> InputError:
    return InputError("InvalidInput", "the input ConfigMaps changed while the run read them; run again")


def shard_slice(total_rows: int, shard: int, shards: int) -> tuple[int, int]:
    """Shard `shard` of `shards`: a contiguous [start, stop) slice; the slices tile the rows in order."""
    return total_rows * shard // shards, total_rows * (shard + 1) // shards
