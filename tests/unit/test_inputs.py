"""Decoding input ConfigMaps into rows: formats, compression, validation and the reasons of errors."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from wallaroo_operator.data import inputs
from wallaroo_operator.data.inputs import (
    GZIP_MAGIC,
    InputData,
    InputError,
    InputPart,
    decode_input,
    decode_part,
    gzip_json,
    natural_key,
    payload_bytes,
)

TUTORIAL = {"text_input": [[1, 2, 3], [4.5, 5, 6]]}
PANDAS_RECORDS = [{"tensor": [0.1, 0.2]}, {"tensor": [0.3, 0.4]}]


def text_part(document, source: str = "cm/data.json") -> InputPart:
    """A part as read from a ConfigMap's `data`: plain JSON text."""
    return InputPart(source, text=document if isinstance(document, str) else json.dumps(document))


def binary_part(raw: bytes, source: str = "cm/data.json") -> InputPart:
    """A part as read from a ConfigMap's `binaryData`: base64 of the raw bytes."""
    return InputPart(source, binary_b64=base64.b64encode(raw).decode())


def gzip_part(document, source: str = "cm/data.json") -> InputPart:
    return binary_part(gzip_json(document), source)


def decode_error(parts: list[InputPart]) -> InputError:
    with pytest.raises(InputError) as caught:
        decode_input(parts)
    return caught.value


# ---- the two accepted formats, plain and compressed ------------------------------------------


@pytest.mark.parametrize("make_part", [text_part, gzip_part], ids=["plain-in-data", "gzip-in-binaryData"])
def test_tutorial_format_decodes_to_its_input_field_and_rows(make_part) -> None:
    data = decode_input([make_part(TUTORIAL)])

    assert data == InputData("text_input", [[1, 2, 3], [4.5, 5, 6]], ("cm/data.json",))
    assert data.width == 3


@pytest.mark.parametrize("make_part", [text_part, gzip_part], ids=["plain-in-data", "gzip-in-binaryData"])
def test_pandas_records_decode_one_row_per_record(make_part) -> None:
    data = decode_input([make_part(PANDAS_RECORDS)])

    assert data.input_name == "tensor"
    assert data.rows == [[0.1, 0.2], [0.3, 0.4]]
    assert data.width == 2


def test_uncompressed_json_in_binary_data_is_read_as_is() -> None:
    raw = json.dumps(TUTORIAL).encode()
    assert raw[:2] != GZIP_MAGIC

    assert payload_bytes(binary_part(raw)) == raw
    assert decode_input([binary_part(raw)]).rows == TUTORIAL["text_input"]


def test_gzip_is_recognised_by_its_magic_bytes() -> None:
    compressed = gzip_json(TUTORIAL)
    assert compressed[:2] == GZIP_MAGIC == b"\x1f\x8b"

    assert json.loads(payload_bytes(binary_part(compressed))) == TUTORIAL


def test_text_in_data_is_never_taken_for_gzip() -> None:
    # A str that starts with the magic characters encodes to other bytes in UTF-8: not gunzipped.
    part = InputPart("cm/data.json", text="\x1f\x8b not json")

    assert payload_bytes(part) == "\x1f\x8b not json".encode()
    error = decode_error([part])
    assert error.reason == "InvalidInput"
    assert "not valid JSON" in str(error)


def test_binary_data_takes_precedence_over_text() -> None:
    part = InputPart("cm/data.json", text="not json", binary_b64=base64.b64encode(gzip_json(TUTORIAL)).decode())

    assert decode_input([part]).rows == TUTORIAL["text_input"]


@pytest.mark.parametrize(
    "document",
    [TUTORIAL, PANDAS_RECORDS, {"x": [[1e-300, -2, 3.25]]}, {"x": []}, [], {"ü": [[1]]}],
    ids=["tutorial", "pandas-records", "floats", "no-rows", "empty-records", "non-ascii-name"],
)
def test_gzip_json_round_trips(document) -> None:
    compressed = gzip_json(document)

    assert json.loads(gzip.decompress(compressed)) == document
    assert json.loads(payload_bytes(binary_part(compressed))) == document


def test_gzip_json_is_compact() -> None:
    assert gzip.decompress(gzip_json({"a": [[1, 2]]})) == b'{"a":[[1,2]]}'


# ---- broken payloads ---------------------------------------------------------------------------


def test_corrupt_gzip_is_invalid_input_naming_the_source() -> None:
    error = decode_error([binary_part(GZIP_MAGIC + b"this is not deflate data", "inputs-1/data.json.gz")])

    assert error.reason == "InvalidInput"
    assert str(error).startswith("inputs-1/data.json.gz: corrupt gzip data")


def test_gzip_with_a_wrong_checksum_is_corrupt() -> None:
    compressed = bytearray(gzip_json(TUTORIAL))
    compressed[-8] ^= 0xFF  # the CRC-32 of the trailer

    error = decode_error([binary_part(bytes(compressed))])

    assert error.reason == "InvalidInput"
    assert "corrupt gzip data" in str(error)


def test_gzip_truncated_before_its_trailer_is_rejected() -> None:
    truncated = gzip_json(TUTORIAL)[:-8]  # the deflate data is complete; CRC-32 and ISIZE are missing

    error = decode_error([binary_part(truncated)])

    assert error.reason == "InvalidInput"
    assert "gzip" in str(error)


def test_gzip_with_several_members_is_decoded_whole() -> None:
    document = json.dumps(TUTORIAL).encode()
    half = len(document) // 2
    two_members = gzip.compress(document[:half]) + gzip.compress(document[half:])
    assert gzip.decompress(two_members) == document  # what the standard library reads

    assert decode_input([binary_part(two_members)]).rows == TUTORIAL["text_input"]


@pytest.mark.parametrize("bad_base64", ["not base64!", "abc", "===="])
def test_invalid_base64_in_binary_data_is_invalid_input(bad_base64: str) -> None:
    error = decode_error([InputPart("inputs/data.json", binary_b64=bad_base64)])

    assert error.reason == "InvalidInput"
    assert str(error) == "inputs/data.json: binaryData is not valid base64"


@pytest.mark.parametrize(
    "part",
    [
        InputPart("inputs/data.json", text='{"text_input": [[1, 2]'),
        InputPart("inputs/data.json", text=""),
        InputPart("inputs/data.json"),
        InputPart("inputs/data.json", binary_b64=base64.b64encode(b"\xff\xfe\x00garbage").decode()),
        InputPart("inputs/data.json", binary_b64=base64.b64encode(gzip.compress(b"{oops")).decode()),
    ],
    ids=["unterminated", "empty-text", "no-payload", "not-utf8", "gzipped-garbage"],
)
def test_invalid_json_names_the_configmap_and_key(part: InputPart) -> None:
    error = decode_error([part])

    assert error.reason == "InvalidInput"
    assert str(error).startswith("inputs/data.json: not valid JSON (")


@pytest.mark.parametrize("document", ["42", '"rows"', "null", "true"])
def test_a_json_scalar_is_neither_format(document: str) -> None:
    error = decode_error([text_part(document, "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == "cm/k: expected a JSON object or a list of records"


@pytest.mark.parametrize("document", [{"a": [[1]], "b": [[2]]}, {}], ids=["two-keys", "no-keys"])
def test_tutorial_format_needs_exactly_one_top_level_key(document: dict) -> None:
    error = decode_error([text_part(document, "cm/k")])

    assert error.reason == "InvalidInput"
    assert f"found {len(document)} keys" in str(error)
    assert str(error).startswith("cm/k: expected one input field")


def test_tutorial_format_needs_a_list_of_rows() -> None:
    error = decode_error([text_part({"text_input": {"0": [1]}}, "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == "cm/k: 'text_input' must be a list of rows"


@pytest.mark.parametrize(
    "records",
    [
        [{"tensor": [1]}, {"other": [2]}],
        [{"a": [1], "b": [2]}],
        [{"a": [1], "b": [2]}, {"a": [3], "b": [4]}],
        [{}],
        [{"tensor": [1]}, [2]],
        [[1, 2], [3, 4]],
    ],
    ids=["differing-columns", "two-columns", "two-columns-each", "no-column", "mixed-record-and-list", "bare-rows"],
)
def test_pandas_records_need_one_and_the_same_column(records: list) -> None:
    error = decode_error([text_part(records, "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error).startswith("cm/k: pandas-records input must be objects with one and the same column")


# ---- row validation ----------------------------------------------------------------------------


def test_rows_of_unequal_width_name_the_row() -> None:
    error = decode_error([text_part({"x": [[1, 2], [3, 4], [5, 6, 7]]}, "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == "cm/k: row 2 of 'x' has 3 values; row 0 has 2"


def test_pandas_records_of_unequal_width_name_the_row() -> None:
    error = decode_error([text_part([{"tensor": [1.0]}, {"tensor": [2.0, 3.0]}], "cm/k")])

    assert str(error) == "cm/k: row 1 of 'tensor' has 2 values; row 0 has 1"


@pytest.mark.parametrize(
    ("bad_value", "what"),
    [
        (None, "null"),
        ("1.5", "a string"),
        (True, "a boolean"),
        (False, "a boolean"),
        ([1], "a list"),
        ({"v": 1}, "an object"),
    ],
    ids=["null", "string", "true", "false", "nested-list", "object"],
)
def test_nulls_strings_and_booleans_in_rows_are_rejected(bad_value, what: str) -> None:
    error = decode_error([text_part({"x": [[1, 2], [3, bad_value]]}, "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == f"cm/k: row 1 of 'x', value 1: {what}, not a number"


@pytest.mark.parametrize("bad_row", [[], None, 5, "1,2", {"a": 1}], ids=["empty", "null", "number", "string", "object"])
def test_a_row_must_be_a_non_empty_list(bad_row) -> None:
    error = decode_error([text_part({"x": [[1], bad_row]}, "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == "cm/k: row 1 of 'x' is not a non-empty list"


def test_integers_floats_and_negatives_are_numbers() -> None:
    assert decode_input([text_part({"x": [[0, -1, 2.5, 1e10, -3.0e-5]]})]).rows == [[0, -1, 2.5, 1e10, -3.0e-5]]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected_as_non_numbers(literal: str) -> None:
    error = decode_error([text_part('{"x": [[1, ' + literal + "]]}", "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == f"cm/k: row 0 of 'x', value 1: {literal} (JSON has no NaN or Infinity)"


# ---- empty input and several parts -------------------------------------------------------------


def test_no_parts_is_input_not_found() -> None:
    error = decode_error([])

    assert error.reason == "InputNotFound"
    assert str(error) == "no input ConfigMaps matched"


@pytest.mark.parametrize("documents", [[{"x": []}], [[]], [{"x": []}, []]], ids=["no-rows", "no-records", "both"])
def test_parts_without_rows_are_invalid_input_naming_every_source(documents: list) -> None:
    parts = [text_part(document, f"cm-{i}/k") for i, document in enumerate(documents)]

    error = decode_error(parts)

    assert error.reason == "InvalidInput"
    assert str(error) == ", ".join(f"cm-{i}/k" for i in range(len(documents))) + ": no rows"


def test_several_parts_are_concatenated_in_the_order_given() -> None:
    parts = [
        text_part({"x": [[3, 3], [4, 4]]}, "part-b/k"),
        gzip_part({"x": [[1, 1]]}, "part-a/k"),
        text_part([{"x": [2, 2]}, {"x": [5, 5]}], "part-c/k"),
    ]

    data = decode_input(parts)

    assert data.input_name == "x"
    assert data.rows == [[3, 3], [4, 4], [1, 1], [2, 2], [5, 5]]
    assert data.sources == ("part-b/k", "part-a/k", "part-c/k")


def test_empty_parts_are_skipped_between_others() -> None:
    parts = [text_part({"x": [[1]]}, "a/k"), text_part({"other": []}, "b/k"), text_part({"x": [[2]]}, "c/k")]

    data = decode_input(parts)

    assert data.rows == [[1], [2]]
    assert data.sources == ("a/k", "b/k", "c/k")


def test_parts_naming_different_input_fields_are_rejected() -> None:
    error = decode_error([text_part({"text_input": [[1]]}, "a/k"), text_part([{"tensor": [2]}], "b/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == "b/k: input field 'tensor' differs from 'text_input' in the earlier parts"


def test_parts_with_different_widths_are_rejected() -> None:
    error = decode_error([text_part({"x": [[1, 2], [3, 4]]}, "a/k"), text_part({"x": [[5, 6, 7]]}, "b/k")])

    assert error.reason == "InvalidInput"
    assert str(error) == "b/k: rows have 3 values; earlier parts have 2"


def test_a_bad_row_in_a_later_part_names_that_part_and_its_own_row_number() -> None:
    error = decode_error([text_part({"x": [[1], [2]]}, "a/k"), text_part({"x": [[3], [None]]}, "b/k")])

    assert str(error) == "b/k: row 1 of 'x', value 0: null, not a number"


def test_decode_part_returns_the_field_and_rows_without_validating() -> None:
    assert decode_part(text_part({"x": [[1], [2, 3]]})) == ("x", [[1], [2, 3]])
    assert decode_part(text_part([])) == ("", [])


# ---- ordering of parts found by a label selector -----------------------------------------------


def test_natural_key_puts_part_2_before_part_10() -> None:
    names = ["part-10", "part-2", "part-1", "part-100", "part-20"]

    assert sorted(names, key=natural_key) == ["part-1", "part-2", "part-10", "part-20", "part-100"]
    assert sorted(names) == ["part-1", "part-10", "part-100", "part-2", "part-20"]  # what plain sorting does


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["b", "a10", "a9"], ["a9", "a10", "b"]),
        (["in-2-of-10", "in-10-of-10", "in-1-of-10"], ["in-1-of-10", "in-2-of-10", "in-10-of-10"]),
        (["x-02", "x-1", "x-3"], ["x-1", "x-02", "x-3"]),
        (["data", "data-1"], ["data", "data-1"]),
    ],
)
def test_natural_key_compares_digit_runs_as_numbers(names: list[str], expected: list[str]) -> None:
    assert sorted(names, key=natural_key) == expected


def test_natural_key_splits_digit_runs() -> None:
    assert natural_key("part-10.json") == ["part-", 10, ".json"]


# ---- error reasons ----------------------------------------------------------------------------


def test_input_error_is_a_value_error_with_a_reason() -> None:
    error = InputError("InvalidInput", "cm/k: broken")

    assert isinstance(error, ValueError)
    assert error.reason == "InvalidInput"
    assert str(error) == "cm/k: broken"


def test_decompressing_past_the_limit_is_input_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "MAX_DECOMPRESSED_BYTES", 1000)
    bomb = gzip.compress(b'{"x": [[1]]}'.ljust(100_000))

    error = decode_error([binary_part(bomb, "big/data.json")])

    assert error.reason == "InputTooLarge"
    assert str(error) == "big/data.json: decompresses to more than 1000 bytes"


@pytest.mark.parametrize(("size", "too_large"), [(999, False), (1000, False), (1001, True)])
def test_the_decompression_limit_is_inclusive(monkeypatch: pytest.MonkeyPatch, size: int, too_large: bool) -> None:
    monkeypatch.setattr(inputs, "MAX_DECOMPRESSED_BYTES", 1000)
    document = b'{"x": [[1]]}'.ljust(size)
    part = binary_part(gzip.compress(document))

    if too_large:
        with pytest.raises(InputError) as caught:
            payload_bytes(part)
        assert caught.value.reason == "InputTooLarge"
    else:
        assert payload_bytes(part) == document


def test_the_decompression_limit_does_not_apply_to_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "MAX_DECOMPRESSED_BYTES", 10)

    assert decode_input([text_part({"x": [[1, 2, 3, 4, 5]]})]).width == 5


# ---- malformed input from a hostile or careless user: always InvalidInput, naming where -------------


def test_a_5000_digit_number_names_its_row_and_value() -> None:
    error = decode_error([text_part('{"x": [[1, 2], [3, ' + "9" * 5000 + "]]}", "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error).startswith("cm/k: row 1 of 'x', value 1: 99999999999999999999... (a 5000-digit number")


def test_a_number_beyond_float64_is_rejected_in_either_notation() -> None:
    for literal in ("1" + "0" * 320, "1e400", "-1e400"):
        error = decode_error([text_part('{"x": [[' + literal + "]]}", "cm/k")])
        assert error.reason == "InvalidInput"
        assert "row 0 of 'x', value 0" in str(error) and "beyond float64 range" in str(error)


def test_json_nested_100000_levels_is_invalid_input() -> None:
    error = decode_error([text_part('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error).startswith("cm/k: JSON nested more than about")


@pytest.mark.parametrize(
    "document, key",
    [
        ('{"x": [[1]], "x": [[2]]}', "x"),  # json would keep the second and silently drop the first rows
        ('[{"t": [1]}, {"t": [2], "t": [3]}]', "t"),
    ],
)
def test_duplicate_keys_are_refused_rather_than_dropping_rows(document: str, key: str) -> None:
    error = decode_error([text_part(document, "cm/k")])

    assert error.reason == "InvalidInput"
    assert str(error).startswith(f"cm/k: duplicate key {key!r} in JSON object")


def test_the_duplicate_key_message_counts_pandas_records_as_rows() -> None:
    error = decode_error([text_part('[{"t": [1]}, {"t": [2]}, {"t": [2], "t": [3]}]', "cm/k")])

    assert "JSON object 2 " in str(error)


@pytest.mark.parametrize(
    "make_part",
    [lambda raw: binary_part(raw, "cm/k"), lambda raw: binary_part(gzip.compress(raw), "cm/k")],
    ids=["binaryData", "gzip"],
)
def test_invalid_utf8_is_invalid_input_with_its_offset(make_part) -> None:
    error = decode_error([make_part(b'{"x": [[1]], "\xc3\x28": 1}')])

    assert error.reason == "InvalidInput"
    assert str(error) == "cm/k: not valid JSON (not UTF-8: byte 0xc3 at offset 14)"


def test_a_lone_surrogate_in_configmap_text_is_invalid_input() -> None:
    error = decode_error([InputPart("cm/k", text='{"x": [[1]]}\ud800')])

    assert error.reason == "InvalidInput"
    assert str(error) == "cm/k: not valid UTF-8 text (at character 12)"


def test_a_field_name_that_is_not_utf8_is_invalid_input() -> None:
    error = decode_error([text_part('{"\\ud800": [[1]]}', "cm/k")])

    assert (error.reason, str(error)) == ("InvalidInput", "cm/k: the input field name is not valid UTF-8 text")


def test_nan_outside_rows_is_still_rejected() -> None:
    error = decode_error([text_part("NaN", "cm/k")])

    assert (error.reason, str(error)) == ("InvalidInput", "cm/k: expected a JSON object or a list of records")
