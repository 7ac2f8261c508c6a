"""Where `run-job` writes its results: a local folder (--output DIR) or the job's object store.

The folder gets `results.jsonl`, one JSON object per input row in input order
(`{"row": 0, "<output>": [values], ...}`), and `summary.json` (the run's record: rows, batches, retries,
per-output min/mean/max, the Wallaroo workspace and URL, times). Both are written under temporary names
and renamed into place only when the run succeeds, so a failed run leaves no half file, and files
already there are never overwritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from wallaroo_operator.data.results import ResultChunk

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"


class Sink(Protocol):
    shard: int  # the shard whose chunks come next

    def check(self) -> None:
        """Before anything is sent: refuse (UsageError) if results cannot or must not be written."""

    def store_chunk(self, chunk: ResultChunk) -> str:
        """Store one chunk of the engine's results; a name for it."""

    def finish(self, summary: dict[str, Any]) -> list[str]:
        """The run succeeded: make the results final; where they are."""

    def abandon(self) -> None:
        """The run failed or was interrupted."""


class FolderSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.shard = 0  # one file for every shard: they run one after the other, in order
        self.results, self.summary = folder / RESULTS_FILE, folder / SUMMARY_FILE
        self._partial = folder / f".{RESULTS_FILE}.partial"
        self._file: Any = None
        self.rows = 0

    def check(self) -> None:
        """Before anything is sent: the folder can be written and holds no results of an earlier run."""
        from wallaroo_operator.cli.run_job_inputs import UsageError

        for path in (self.results, self.summary):
            if path.exists():
                raise UsageError(
                    f"--output {self.folder}: {path.name} exists already; remove it or choose "
                    "another folder (results are never overwritten)"
                )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = self._partial.open("w", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--output {self.folder}: cannot write there ({error.strerror or error})") from None

    def store_chunk(self, chunk: ResultChunk) -> str:
        """The engine's chunk (a JSON array of rows) as one line per row."""
        for row in json.loads(chunk.payload):
            self._file.write(json.dumps(row, separators=(",", ":")) + "\n")
        self.rows += chunk.row_count
        return f"{RESULTS_FILE}#{chunk.first_row}"

    def finish(self, summary: dict[str, Any]) -> list[str]:
        self._file.close()
        os.replace(self._partial, self.results)
        scratch = self.folder / f".{SUMMARY_FILE}.partial"
        scratch.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.replace(scratch, self.summary)
        return [str(self.results), str(self.summary)]

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
        self._partial.unlink(missing_ok=True)


class ObjectStoreSink:
    """The job's results.objectStore: parts and a manifest, as a run in the cluster writes them."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self._seq: dict[int, int] = {}
        self.shard = 0

    def check(self) -> None:
        from wallaroo_operator.cli.run_job_inputs import UsageError

        if self.sink.manifest() is not None:
            raise UsageError(f"{self.sink.uri} holds the results of a finished run with this run id already")

    def store_chunk(self, chunk: ResultChunk) -> str:
        rows = [{k: v for k, v in row.items() if k != "row"} for row in json.loads(chunk.payload)]
        seq = self._seq.get(self.shard, 0)
        self._seq[self.shard] = seq + 1
        return str(self.sink.write_part(self.shard, seq, rows).key)

    def finish(self, summary: dict[str, Any]) -> list[str]:
        self.sink.finish(
            started=summary["startedAt"], finished=summary["completedAt"], extra={"summary": summary.get("summary", {})}
        )
        return [str(self.sink.uri) + "_manifest.json"]

    def abandon(self) -> None:
        """Parts already written stay: the run id is new, so they are never mistaken for a complete run
        (no manifest)."""
