"""A shard's results written to object storage as they come: rows are gathered into parts of
results.objectStore.rowsPerPart rows (fewer when that many would not fit the worker's memory: `max_values`)
and each full part is written at once (the worker holds one part).
The operator writes the run's `_manifest.json` from the parts every shard reports (controller/run.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from wallaroo_operator.objectstore import PartInfo, ResultSink
from wallaroo_operator.objectstore.sink import columns_of
from wallaroo_operator.wallaroo import RowOutputs
from wallaroo_operator.worker.results import RunningSummary


@dataclass
class ObjectStoreResultsWriter:
    """The same calls as worker.results.ResultsWriter (add, check_estimate, finish), for an S3 sink."""

    sink: ResultSink
    shard: int
    rows_per_part: int
    max_values: int  # output values held at most, whatever rows_per_part says
    parts: list[PartInfo] = field(default_factory=list)
    summary: dict[str, RunningSummary] = field(default_factory=dict)
    columns: dict[str, int] = field(default_factory=dict)
    _pending: list[RowOutputs] = field(default_factory=list)
    _pending_values: int = 0

    def add(self, first_row: int, outputs: list[RowOutputs]) -> None:
        for row in outputs:
            self._pending.append(row)
            for name, values in row.items():
                self.summary.setdefault(name, RunningSummary()).add(values)
                self._pending_values += len(values)
            if len(self._pending) == self.rows_per_part or self._pending_values >= self.max_values:
                self._flush()

    def check_estimate(self, rows_total: int) -> None:
        """Object storage has no budget to check: parts are as many as the rows need."""

    def _flush(self) -> None:
        self.columns = self.columns or columns_of(self._pending)
        self.parts.append(self.sink.write_part(self.shard, len(self.parts), self._pending))
        self._pending, self._pending_values = [], 0

    def finish(self) -> dict[str, Any]:
        """Write the last part (none for a shard without rows); this shard's part of the run record."""
        if self._pending:
            self._flush()
        return {
            "resultParts": [dataclasses.asdict(part) for part in self.parts],
            "resultColumns": self.columns,
            "summary": {k: v.to_json() for k, v in self.summary.items()},
        }
