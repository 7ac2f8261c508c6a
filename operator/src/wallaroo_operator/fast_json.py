"""orjson where it reads JSON the way json does, json otherwise: orjson reads integers beyond 64 bits as
floats, where json keeps them exact, so text with such a number is left to json."""

from __future__ import annotations

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19  # digits: every integer of 18 digits fits in 64 bits
_FLOAT_AFTER = frozenset(b".eE")  # a run of digits followed by these is a float's mantissa


def has_long_integer(text: bytes) -> bool:
    """An integer literal of more than 18 digits somewhere (or such digits in a string). A long run of
    digits after "." is a fraction, and one followed by ".", "e" or "E" a mantissa: floats either way.
    C-level passes (translate, substring searches), and a few steps per long run of digits."""
    digits = text.translate(_DIGITS_AS_ZERO)
    # Answers hold many long fractions ("0.000948196644353749"): their first four digits masked, one C-level
    # search tells that no run could be an integer, without a step per fraction.
    if _LONG_RUN not in digits.replace(b".0000", b".____"):
        return False
    start = digits.find(_LONG_RUN)  # the leftmost match starts a run
    while start != -1:
        end = start + len(_LONG_RUN)
        while digits[end : end + 64].startswith(b"0" * 64):
            end += 64
        window = digits[end : end + 64]
        end += len(window) - len(window.lstrip(b"0"))
        fraction = start > 0 and digits[start - 1] == ord(".")
        mantissa = end < len(digits) and digits[end] in _FLOAT_AFTER
        if not (fraction or mantissa):
            return True
        start = digits.find(_LONG_RUN, end)
    return False
