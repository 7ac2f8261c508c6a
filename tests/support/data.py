"""Input rows of the seed tutorial's shapes, generated for every test suite (the shared tutorial files are
never copied into the repo)."""

from __future__ import annotations

import random

ALOHA_WIDTH = 50
CCFRAUD_WIDTH = 29


def aloha_rows(count: int, seed: int = 1) -> list[list[int]]:
    """Like data-1k.json: 50 token ids, leading zeros then 10 to 20 small integers."""
    generator = random.Random(seed)
    rows = []
    for _ in range(count):
        tokens = generator.randint(10, 20)
        rows.append([0] * (ALOHA_WIDTH - tokens) + [generator.randint(10, 36) for _ in range(tokens)])
    return rows


def ccfraud_rows(count: int, seed: int = 1) -> list[list[float]]:
    """Like cc_data_1k.json: 29 standardised features."""
    generator = random.Random(seed)
    return [[round(generator.gauss(0.0, 1.0), 10) for _ in range(CCFRAUD_WIDTH)] for _ in range(count)]
