"""Streaming input decoding: the same rows and the same errors as data/inputs.py, one row at a time."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from tests.support.data import aloha_rows
from wallaroo_operator.data.inputs import InputError, InputPart, decode_input, gzip_json
from wallaroo_operator.data.streaming import InputStream, StreamLimits, shard_slice

LIMITS = StreamLimits(max_decompressed_bytes=64 * 2**20, max_row_bytes=2**20)


def plain(document, source="cm/data.json") -> InputPart:
    return InputPart(source, text=json.dumps(document))


def gzipped(document, source="cm/data.json") -> InputPart:
    return InputPart(source, binary_b64=base64.b64encode(gzip_json(document)).decode())


def stream(*parts: InputPart, limits: StreamLimits = LIMITS) -> InputStream:
    return InputStream(lambda: parts, limits)


@pytest.mark.parametrize("make", [plain, gzipped])
def test_same_rows_as_the_whole_document_decoder(make):
    parts = [make({"text_input": aloha_rows(1200, seed=s)}, f"p{s}/data.json") for s in (1, 2)]
    whole = decode_input(parts)
    streamed = stream(*parts)
    assert streamed.scan().rows == 2400
    assert list(streamed.rows(0, 2400)) == whole.rows
    assert streamed.scan().input_name == "text_input"


def test_pandas_records_and_multi_member_gzip():
    rows = aloha_rows(300)
    records = [{"tensor": r} for r in rows]
    doubled = gzip.compress(json.dumps(records[:100]).encode()[:-1] + b",")
    doubled += gzip.compress(json.dumps(records[100:]).encode()[1:])
    part = InputPart("cm/data.json", binary_b64=base64.b64encode(doubled).decode())
    assert list(stream(part).rows(0, 300)) == rows
    assert stream(part).scan().input_name == "tensor"


def test_rows_of_a_slice_and_shards_tile_the_input():
    rows = aloha_rows(1001)
    streamed = stream(plain({"text_input": rows}))
    slices = [shard_slice(1001, k, 4) for k in range(4)]
    assert [s for s, _ in slices] == [0, 250, 500, 750] and slices[-1][1] == 1001
    assert [row for a, b in slices for row in streamed.rows(a, b)] == rows


@pytest.mark.parametrize(
    "document, reason, text",
    [
        ('{"text_input": [[1, 2', "InvalidInput", "not valid JSON"),
        ('{"text_input": [[1, 2], [3]]}', "InvalidInput", "row 1"),
        ('{"text_input": [[1, 2], [3, null]]}', "InvalidInput", "row 1"),
        ('{"a": [[1]], "b": [[1]]}', "InvalidInput", "one input field"),
        ("{}", "InvalidInput", "found 0 keys"),
        ('{"a": 3}', "InvalidInput", "must be a list of rows"),
        ('[{"a": [1]}, {"b": [1]}]', "InvalidInput", "same column"),
        ('{"a": []}', "InvalidInput", "no rows"),
        ('{"a": [[1]]} trailing', "InvalidInput", "extra data"),
        ('"text"', "InvalidInput", "expected"),
    ],
)
def test_errors_name_the_part_and_the_row(document, reason, text):
    with pytest.raises(InputError) as caught:
        stream(InputPart("bad/data.json", text=document)).scan()
    assert caught.value.reason == reason and text in str(caught.value) and "bad/data.json" in str(caught.value)


def test_row_numbers_count_within_the_part_across_validation_windows():
    rows = aloha_rows(1500)
    rows[1234] = rows[1234][:-1]
    with pytest.raises(InputError, match="row 1234 of 'text_input' has 49 values"):
        stream(plain({"text_input": rows})).scan()


def test_parts_must_agree_on_field_and_width():
    with pytest.raises(InputError, match="differs"):
        stream(plain({"a": [[1]]}, "p1/k"), plain({"b": [[1]]}, "p2/k")).scan()
    with pytest.raises(InputError, match="earlier parts have 1"):
        stream(plain({"a": [[1]]}, "p1/k"), plain({"a": [[1, 2]]}, "p2/k")).scan()


def test_a_gzip_bomb_stops_at_the_limit_without_inflating():
    bomb = InputPart("bomb/data.json", binary_b64=base64.b64encode(gzip.compress(b" " * (50 * 2**20))).decode())
    with pytest.raises(InputError) as caught:
        stream(bomb, limits=StreamLimits(max_decompressed_bytes=2**20, max_row_bytes=2**16)).scan()
    assert caught.value.reason == "InputTooLarge"


def test_one_huge_row_is_refused_by_the_row_limit():
    part = plain({"text_input": [[1] * 100_000]})
    with pytest.raises(InputError) as caught:
        stream(part, limits=StreamLimits(max_decompressed_bytes=2**24, max_row_bytes=2**16)).scan()
    assert caught.value.reason == "InputTooLarge"


def test_truncated_and_corrupt_gzip():
    payload = gzip_json({"a": [[1]]})
    for raw, text in ((payload[:-6], "truncated"), (payload[:10] + b"garbage" + payload[17:], "corrupt")):
        with pytest.raises(InputError, match=text):
            stream(InputPart("z/k", binary_b64=base64.b64encode(raw).decode())).scan()


# A small part is read whole by orjson when it is a plain {"<name>": [rows]} document; anything else goes to
# the streaming reader. Either way the rows and the errors must be the streaming reader's own.
FAST_PATH_CASES = [
    '{"text_input": [[1, 2], [3, 4]]}',
    ' \n{ "text_input" :\t[[1.5, -2], [3e2, 4]] }\r\n',
    '{"te\\"xt": [[1, 2]]}',  # an escaped quote in the name
    '{"\\u0074ext": [[1, 2]]}',  # a name written with an escape
    '{"text_input": [[1, 2]], "text_input": [[3, 4]]}',  # a second key: json would keep only the last
    '{"text_input": [[1, 2]], "other": [[3, 4]]}',
    '{"text_input": [[NaN, 2]]}',
    '{"text_input": [[Infinity, 2]]}',
    '{"text_input": [[1e400, 2]]}',
    '{"text_input": [[123456789012345678901234567890, 2]]}',  # beyond 64 bits: orjson refuses, json reads
    '{"text_input": [[9223372036854775808, -9223372036854775809]]}',
    '{"text_input": [[0.12345678901234567890123, 2]]}',
    '{"text_input": [[1, 2]]} x',
    '{"text_input": [[1, 2]]}\x0c',  # not JSON whitespace
    '\ufeff{"text_input": [[1, 2]]}',
    '{"text_input": [[1, 2], [3]]}',
    '{"text_input": [[true, 2]]}',
    '{"text_input": [1, 2]}',
    '{"text_input": []}',
    '{"text_input": [[1, 2]]',
    '{"text_input": [["a\x01b", 2]]}',  # a control character in a string
]


def scanned(document: str) -> tuple:
    parts = [InputPart("cm/data.json", text=document)]
    try:
        streamed = stream(*parts)
        shape = streamed.scan()
        return ("rows", shape.input_name, shape.rows, list(streamed.rows(0, shape.rows)))
    except InputError as error:
        return ("error", error.reason, str(error))


@pytest.mark.parametrize("document", FAST_PATH_CASES)
def test_whole_small_parts_read_like_the_streaming_reader(document, monkeypatch):
    from wallaroo_operator.data import streaming

    fast = scanned(document)
    monkeypatch.setattr(streaming, "_small_document", lambda pieces, limit: (None, pieces))
    assert fast == scanned(document)


def test_plain_documents_take_the_fast_path():
    from wallaroo_operator.data.streaming import _plain_tutorial_document

    assert _plain_tutorial_document(b' {"x" : [[1, 2.5]]}\n') == ("x", [[1, 2.5]])
    assert _plain_tutorial_document(b'{"x": [[1]], "x": [[2]]}') is None
    assert _plain_tutorial_document(b'[{"x": [1]}]') is None


@pytest.mark.parametrize(("keep_bytes", "fetches"), [(0, 2), (10**6, 1)])
def test_a_small_input_is_fetched_once_for_both_passes(keep_bytes, fetches):
    parts = [plain({"text_input": aloha_rows(10, seed=s)}, f"p{s}/data.json") for s in (1, 2)]
    fetched: list[int] = []

    def read():
        fetched.append(1)
        return iter(parts)

    streamed = InputStream(read, LIMITS, keep_bytes=keep_bytes)
    assert streamed.scan().rows == 20
    assert list(streamed.rows(0, 20)) == decode_input(parts).rows
    assert len(fetched) == fetches
