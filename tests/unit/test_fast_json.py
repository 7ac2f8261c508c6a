"""When orjson may read a text: never when it holds an integer beyond 64 bits (orjson would read a float)."""

from __future__ import annotations

import json

import orjson
import pytest

from wallaroo_operator.fast_json import has_long_integer


@pytest.mark.parametrize(
    ("text", "long"),
    [
        (b"[1, 2, 3]", False),
        (b"[123456789012345678]", False),  # 18 digits: fits in 64 bits
        (b"[1234567890123456789]", True),
        (b"[-1234567890123456789012]", True),
        (b"[0.0012345678901234567891]", False),  # a long fraction: a float either way
        (b"[1234567890123456789.5]", False),  # a long mantissa: a float either way
        (b"[1234567890123456789e3]", False),
        (b"[1.5, 99999999999999999999]", True),
        (b"[0.0000123456789012345678901, 0.0009481966443537493]", False),  # fractions longer than the mask
        (b"[0.0009481966443537493, 12345678901234567890]", True),
        (b'{"id": "12345678901234567890"}', True),  # digits in a string: json reads it, to be safe
    ],
)
def test_only_long_integers_are_left_to_json(text: bytes, long: bool) -> None:
    assert has_long_integer(text) is long
    if not long:
        assert orjson.loads(text) == json.loads(text)
