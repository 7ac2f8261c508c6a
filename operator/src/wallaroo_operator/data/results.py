"""Pack per-row outputs into ConfigMap-sized chunks, and inline small ones into the job's status."""

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


# One encoder for every row: json.dumps with separators builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _row_json(index: int, outputs: RowOutputs) -> str:
    return _ENCODER.encode({"row": index, **outputs})


def chunk_results(outputs: list[RowOutputs], *, max_chunks: int, chunk_bytes: int = CHUNK_BYTES) -> list[ResultChunk]:
    """Split rows into JSON arrays of at most `chunk_bytes`, in row order."""
    chunks: list[ResultChunk] = []
    pending: list[str] = []
    pending_bytes = 2  # the surrounding []
    first_row = 0

    def flush() -> None:
        nonlocal pending, pending_bytes, first_row
        if len(chunks) == max_chunks:
            raise ResultsTooLarge(f"results need more than results.maxConfigMaps={max_chunks} ConfigMaps "
                                  f"of {chunk_bytes // 1024} KiB; raise the limit or split the input")
        chunks.append(ResultChunk(len(chunks), first_row, len(pending), "[" + ",".join(pending) + "]"))
        first_row += len(pending)
        pending, pending_bytes = [], 2

    for index, row in enumerate(outputs):
        encoded = _row_json(index, row)
        if len(encoded) + 2 > chunk_bytes:
            raise ResultsTooLarge(f"the outputs of row {index} alone take {len(encoded)} bytes, more than "
                                  f"one ConfigMap holds")
        if pending and pending_bytes + len(encoded) + 1 > chunk_bytes:
            flush()
        pending.append(encoded)
        pending_bytes += len(encoded) + 1
    if pending or not chunks:
        flush()
    return chunks


def inline_outputs(outputs: list[RowOutputs], limit_bytes: int) -> list[RowOutputs] | None:
    """The outputs themselves when their JSON fits in `limit_bytes`, for the job's status."""
    if limit_bytes <= 0:
        return None
    try:
        size = len(json.dumps(outputs, separators=(",", ":"), allow_nan=False))
    except ValueError:
        return None  # NaN or Infinity: valid in the results ConfigMap's text, not in the status object
    return outputs if size <= limit_bytes else None
