"""Results: ConfigMap-sized chunks of per-row outputs (worker/results.py packs them as they come), and
small outputs inlined into the job's status."""

from __future__ import annotations

import json
from dataclasses import dataclass

from wallaroo_operator.wallaroo.formats import RowOutputs

# A ConfigMap holds 1 MiB in all; leave room for metadata and the JSON framing.
CHUNK_BYTES = 900 * 1024
RESULTS_KEY = "results.json"


class ResultsTooLarge(ValueError):
    reason = "ResultsTooLarge"


@dataclass(frozen=True)
class ResultChunk:
    index: int
    first_row: int
    row_count: int
    payload: str  # JSON: a list of {"row": n, "<output>": [...], ...}
    last: bool = False  # the last part of its shard: with it, the shard's results are complete


# One encoder for every row: json.dumps with separators builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def row_json(index: int, outputs: RowOutputs) -> str:
    return _ENCODER.encode({"row": index, **outputs})


def inline_outputs(outputs: list[RowOutputs], limit_bytes: int) -> list[RowOutputs] | None:
    """The outputs themselves when their JSON fits in `limit_bytes`, for the job's status."""
    if limit_bytes <= 0:
        return None
    try:
        size = len(json.dumps(outputs, separators=(",", ":"), allow_nan=False))
    except ValueError:
        return None  # NaN or Infinity: valid in the results ConfigMap's text, not in the status object
    return outputs if size <= limit_bytes else None
