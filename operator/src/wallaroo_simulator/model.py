"""The simulated model: a documented, deterministic and cheap function of each input row.

For a pipeline whose outputs have widths k_1..k_m, number the output columns c = 0 .. (k_1+...+k_m)-1
in configuration order. For an input row of width w with mean m = sum(row) / w, column c is

    sigmoid(m - c) = 0.5 + 0.5 * tanh((m - c) / 2)

a probability-like value in [0, 1] (tanh never overflows, so any finite row is fine). Only one Python
``sum`` per row and one ``tanh`` per output value are needed, which keeps the simulator far from being
the bottleneck of any benchmark. ``expected_outputs`` gives the values for one row, so a test can check
every value of every response.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .config import PipelineConfig

Row = Sequence[float]


def row_means(rows: Sequence[Row], width: int) -> list[float]:
    """The mean of each row; rows must already be lists of ``width`` numbers (see inference.validate_rows)."""
    return [sum(row) / width for row in rows]


def output_columns(pipeline: PipelineConfig) -> dict[str, range]:
    """Each output's column numbers c, in configuration order."""
    columns: dict[str, range] = {}
    start = 0
    for output in pipeline.outputs:
        columns[output.name] = range(start, start + output.width)
        start += output.width
    return columns


def infer_columns(pipeline: PipelineConfig, means: Sequence[float]) -> dict[str, list[float]]:
    """Each output's values for all rows, flattened row-major (``dim [N, k]``) as Wallaroo sends them."""
    tanh = math.tanh
    values: dict[str, list[float]] = {}
    for name, columns in output_columns(pipeline).items():
        if len(columns) == 1:  # the common case, kept free of the inner loop
            c = columns[0]
            values[name] = [0.5 + 0.5 * tanh((m - c) / 2) for m in means]
        else:
            values[name] = [0.5 + 0.5 * tanh((m - c) / 2) for m in means for c in columns]
    return values


def expected_outputs(pipeline: PipelineConfig, row: Row) -> dict[str, list[float]]:
    """The values the simulator answers for one input row: output name -> list of that output's values."""
    return infer_columns(pipeline, row_means([row], pipeline.input.width))
