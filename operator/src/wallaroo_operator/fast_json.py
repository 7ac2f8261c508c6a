"""orjson where it reads JSON the way json does, json otherwise: orjson reads integers beyond 64 bits as
floats, where json keeps them exact, so text with such a number is left to json."""

from __future__ import annotations

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONGEST_SAFE = 18  # digits: every integer of 18 digits fits in 64 bits


def has_long_number(text: bytes) -> bool:
    """A run of more than 18 digits somewhere (C-level passes: translate, then a substring search)."""
    return b"0" * (_LONGEST_SAFE + 1) in text.translate(_DIGITS_AS_ZERO)
