"""Results written as they come: rows are packed into ConfigMap-sized chunks and each full chunk is
stored at once, so the worker holds one chunk, not the run's outputs. Summary statistics and the small
inline outputs are kept on the way."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wallaroo_operator.data.results import CHUNK_BYTES, ResultChunk, ResultsTooLarge, inline_outputs, row_json
from wallaroo_operator.wallaroo import RowOutputs
from wallaroo_operator.wallaroo.formats import OutputColumns

# Stores one chunk; returns the name it was stored under.
ChunkSink = Callable[[ResultChunk], str]


@dataclass
class RunningSummary:
    count: int = 0
    min: float = math.inf
    max: float = -math.inf
    sum: float = 0.0

    def add(self, values: list[float]) -> None:
        if not values:
            return
        try:
            total = math.fsum(values)
        except (OverflowError, ValueError):  # finite values whose sum is not, or inf + -inf
            total = math.nan
        if not math.isfinite(total):  # some value is NaN or infinite (or the sum overflowed): only finite ones count
            finite = [v for v in values if math.isfinite(v)]
            try:
                total = math.fsum(finite)
            except OverflowError:  # the finite values' sum is beyond float: so be it (inf)
                total = sum(finite)
            values_for_range = finite
        else:
            values_for_range = values
        self.count += len(values)
        if values_for_range:
            self.min, self.max = min(self.min, min(values_for_range)), max(self.max, max(values_for_range))
            self.sum += total

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "min": self.min, "max": self.max, "sum": self.sum}


def _columns(outputs: Sequence[RowOutputs]) -> dict[str, list[float]] | None:
    """Every output's values over the rows, when all rows have the same outputs (else None)."""
    names = dict.fromkeys(name for row in outputs[:1] for name in row)
    if not all(row.keys() == names.keys() for row in outputs):
        return None
    return {name: list(itertools.chain.from_iterable(row[name] for row in outputs)) for name in names}


@dataclass
class ResultsWriter:
    sink: ChunkSink
    max_chunks: int
    inline_limit_bytes: int
    chunk_bytes: int = CHUNK_BYTES
    inline_only_if_fits: bool = False  # store nothing when every output fits inline (and none was stored)
    names: list[str] = field(default_factory=list)
    summary: dict[str, RunningSummary] = field(default_factory=dict)
    rows: int = 0
    bytes: int = 0
    _pending: list[str] = field(default_factory=list)
    _pending_bytes: int = 2
    _pending_first: int = 0
    _inline: list[RowOutputs] | None = field(default_factory=list)
    _inline_bytes: int = 0

    def add(self, first_row: int, outputs: Sequence[RowOutputs]) -> None:
        """The outputs of consecutive rows, numbered from `first_row` (the row's index in the whole input)."""
        columns: dict[str, list[float]] | None
        if isinstance(outputs, OutputColumns):  # the rows' JSON and the columns, without a dict per row
            encoded = outputs.rows_json(first_row)
            columns = {name: outputs.column(name) for name in outputs.names}
        else:
            encoded = [row_json(first_row + offset, row) for offset, row in enumerate(outputs)]
            columns = _columns(outputs)
        for offset, text in enumerate(encoded):
            self._add_row(first_row + offset, text, outputs, offset)
        if columns is None:  # rows with differing outputs (possible with pandas-records)
            for row in outputs:
                for name, values in row.items():
                    self.summary.setdefault(name, RunningSummary()).add(values)
            return
        for name, values in columns.items():  # one C-level pass per output over the batch
            self.summary.setdefault(name, RunningSummary()).add(values)

    def _add_row(self, index: int, encoded: str, outputs: Sequence[RowOutputs], offset: int) -> None:
        if len(encoded) + 2 > self.chunk_bytes:
            raise ResultsTooLarge(
                f"the outputs of row {index} alone take {len(encoded)} bytes, more than one ConfigMap holds"
            )
        if self._pending and self._pending_bytes + len(encoded) + 1 > self.chunk_bytes:
            self._flush()
        if not self._pending:
            self._pending_first = index
        self._pending.append(encoded)
        self._pending_bytes += len(encoded) + 1
        self.rows, self.bytes = self.rows + 1, self.bytes + len(encoded) + 1
        if self._inline is not None:
            self._inline_bytes += len(encoded)
            if self._inline_bytes <= self.inline_limit_bytes:
                self._inline.append(outputs[offset])
            else:
                self._inline = None

    def check_estimate(self, rows_total: int) -> None:
        """After the first batch: will all rows fit the budget? Found out before the other rows are sent."""
        if not self.rows:
            return
        estimated = self.bytes / self.rows * rows_total
        if estimated > self.max_chunks * self.chunk_bytes * 0.98:  # chunks never fill to the last byte
            raise self._too_large(
                f"about {estimated / 2**20:.1f} MiB of results (estimated from the first {self.rows} rows)"
            )

    def _too_large(self, what: str) -> ResultsTooLarge:
        return ResultsTooLarge(
            f"{what} need more than results.maxConfigMaps={self.max_chunks} ConfigMaps of "
            f"{self.chunk_bytes // 1024} KiB; raise the limit or split the input"
        )

    def _flush(self, *, last: bool = False) -> None:
        if len(self.names) == self.max_chunks:
            raise self._too_large("the results")
        chunk = ResultChunk(
            len(self.names), self._pending_first, len(self._pending), "[" + ",".join(self._pending) + "]", last=last
        )
        self.names.append(self.sink(chunk))
        self._pending, self._pending_bytes = [], 2

    def finish(self) -> dict[str, Any]:
        """Store the last chunk, marked as the last (even when empty: the shard's results are complete only
        with it), unless the outputs go inline only; return the shard's part of the run record."""
        inline = inline_outputs(self._inline, self.inline_limit_bytes) if self._inline is not None else None
        if not (self.inline_only_if_fits and inline is not None and not self.names):
            self._flush(last=True)
        record: dict[str, Any] = {
            "resultConfigMaps": self.names,
            "summary": {k: v.to_json() for k, v in self.summary.items()},
        }
        if inline is not None:
            record["outputs"] = inline
        return record


def merge_shard_records(records: list[dict[str, Any]], inline_limit_bytes: int) -> dict[str, Any]:
    """The run's record from its shards' (in shard order): what one shard alone would have reported."""
    summary: dict[str, RunningSummary] = {}
    for record in records:
        for name, part in record.get("summary", {}).items():
            total = summary.setdefault(name, RunningSummary())
            total.count += part["count"]
            total.min, total.max = min(total.min, part["min"]), max(total.max, part["max"])
            total.sum += part["sum"]
    merged: dict[str, Any] = {
        "rows": sum(r.get("rows", 0) for r in records),
        "batches": sum(r.get("batches", 0) for r in records),
        "retries": sum(r.get("retries", 0) for r in records),
        "resultConfigMaps": [name for r in records for name in r.get("resultConfigMaps", [])],
        "summary": {
            name: {"count": s.count, "min": s.min, "mean": s.sum / s.count, "max": s.max}
            for name, s in summary.items()
            if s.count and math.isfinite(s.min) and math.isfinite(s.max)
        },
    }
    if all("outputs" in r for r in records):
        outputs = [row for r in records for row in r["outputs"]]
        if len(json.dumps(outputs, separators=(",", ":"))) <= inline_limit_bytes:
            merged["outputs"] = outputs
    return merged
