"""Writing a run's per-row results to object storage: parts first, `_manifest.json` last.

Layout: ``<prefix>/<namespace>/<job>/<run id>/part-<shard>-<seq>.jsonl.gz`` (or ``.parquet``) and
``_manifest.json``. A reader waits for the manifest: it exists only once every part is written, and lists the
parts in input order with their rows, sizes and SHA-256 checksums.

Never overwriting another run's objects: every object carries the job's UID and the run id in its metadata and
is created with ``If-None-Match: *``. When a part already exists (a shard or run retried after a restart), the
same content is kept as it is, another attempt of the same run is replaced (``If-Match`` its ETag), and anything
else is a ResultsConflict. A run whose manifest exists is complete: writing it again changes nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from wallaroo_operator.lazy import LazyModule

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
else:  # imported by the first Parquet part written
    pa, pq = LazyModule("pyarrow"), LazyModule("pyarrow.parquet")

from wallaroo_operator.objectstore import errors as e
from wallaroo_operator.objectstore.client import ObjectStore
from wallaroo_operator.objectstore.errors import s3_uri
from wallaroo_operator.wallaroo.formats import RowOutputs

ResultFormat = Literal["jsonl.gz", "parquet"]
MANIFEST = "_manifest.json"
MANIFEST_KIND = "InferenceRunResults"
_META = "wallaroo-"  # S3 user metadata names (x-amz-meta-wallaroo-...)
_CONTENT_TYPES = {"jsonl.gz": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}


@dataclass(frozen=True)
class RunIdentity:
    namespace: str
    job: str
    run_id: str
    job_uid: str  # tells this job from a deleted one of the same name


@dataclass(frozen=True)
class PartInfo:
    key: str
    shard: int
    rows: int
    bytes: int
    sha256: str


def run_prefix(prefix: str, run: RunIdentity) -> str:
    return "/".join(part for part in (prefix.strip("/"), run.namespace, run.job, run.run_id) if part) + "/"


def encode_part(rows: Sequence[RowOutputs], fmt: ResultFormat) -> bytes:
    """Deterministic bytes (gzip without a timestamp), so writing the same rows again is recognisably the same."""
    if fmt == "jsonl.gz":
        text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
        return gzip.compress(text.encode(), mtime=0)
    names = list(rows[0]) if rows else []
    table = pa.table({name: pa.array([row[name] for row in rows], type=pa.list_(pa.float64())) for name in names})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def columns_of(rows: Sequence[RowOutputs]) -> dict[str, int]:
    """Output name -> values per row, for the manifest's schema."""
    return {name: len(values) for name, values in rows[0].items()} if rows else {}


class ResultSink:
    def __init__(
        self,
        store: ObjectStore,
        run: RunIdentity,
        *,
        prefix: str = "",
        format: ResultFormat = "jsonl.gz",
        rows_per_part: int = 100_000,
    ) -> None:
        if rows_per_part < 1:
            raise ValueError("rows_per_part must be at least 1")
        self.store, self.run, self.format, self.rows_per_part = store, run, format, rows_per_part
        self.prefix = run_prefix(prefix, run)
        self.manifest_key = self.prefix + MANIFEST

    @property
    def uri(self) -> str:
        return s3_uri(self.store.bucket, self.prefix)

    # -- the run's state ---------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any] | None:
        """The run's manifest if the run is complete; ResultsConflict if it belongs to another job."""
        try:
            head = self.store.head(self.manifest_key)
        except e.InputNotFound:
            return None
        self._check_owner(head, self.manifest_key)
        info = self.store.info(self.manifest_key)
        manifest: dict[str, Any] = json.loads(self.store.read_range(info, 0, info.size))
        return manifest

    # -- writing -----------------------------------------------------------------------------------------

    def write_shard(self, shard: int, outputs: Iterable[RowOutputs]) -> list[PartInfo]:
        """Write one shard's rows as parts of at most rows_per_part rows (nothing when the run is complete)."""
        if self.manifest() is not None:
            return []
        parts: list[PartInfo] = []
        pending: list[RowOutputs] = []
        for row in outputs:
            pending.append(row)
            if len(pending) == self.rows_per_part:
                parts.append(self.write_part(shard, len(parts), pending))
                pending = []
        if pending or not parts:
            parts.append(self.write_part(shard, len(parts), pending))
        return parts

    def write_part(self, shard: int, seq: int, rows: Sequence[RowOutputs]) -> PartInfo:
        key = f"{self.prefix}part-{shard:05d}-{seq:05d}.{self.format}"
        data = encode_part(rows, self.format)
        digest = hashlib.sha256(data).hexdigest()
        metadata = {
            **self._owner(),
            f"{_META}shard": str(shard),
            f"{_META}rows": str(len(rows)),
            f"{_META}sha256": digest,
            f"{_META}columns": json.dumps(columns_of(rows), separators=(",", ":")),
        }
        part = PartInfo(key, shard, len(rows), len(data), digest)
        try:
            self.store.put(key, data, metadata=metadata, content_type=_CONTENT_TYPES[self.format], if_none_match=True)
            return part
        except e.ResultsConflict:
            head = self.store.head(key)  # it exists: whose is it, and what does it hold?
        self._check_owner(head, key)
        if _meta(head, "sha256") != digest:  # an earlier attempt of this same run: replace exactly that version
            self.store.put(
                key, data, metadata=metadata, content_type=_CONTENT_TYPES[self.format], if_match=head["ETag"]
            )
        return part

    def finish(
        self,
        *,
        started: str,
        finished: str,
        extra: dict[str, Any] | None = None,
        parts: Sequence[PartInfo] | None = None,
        columns: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """Write `_manifest.json` over `parts` (in input order; by default every part listed under the run's
        prefix) and return it. Idempotent. Given the parts, objects of this run that are not among them (left
        by an earlier attempt) are deleted, so the run's prefix holds exactly what its manifest lists."""
        existing = self.manifest()
        if existing is not None:
            return existing
        listed = self._parts() if parts is None else self._given(parts, columns or {})
        manifest = {
            "kind": MANIFEST_KIND,
            "version": 1,
            "namespace": self.run.namespace,
            "job": self.run.job,
            "jobUid": self.run.job_uid,
            "runId": self.run.run_id,
            "startedAt": started,
            "finishedAt": finished,
            "format": self.format,
            "rows": sum(part["rows"] for part in listed),
            "parts": listed,
            "schema": {"columns": self._schema(listed)},
            **(extra or {}),
        }
        body = json.dumps(manifest, indent=2).encode()
        try:
            self.store.put(
                self.manifest_key, body, metadata=self._owner(), content_type="application/json", if_none_match=True
            )
        except e.ResultsConflict:
            written = self.manifest()  # another finisher of the same run got there first
            if written is None:
                raise
            return written
        if parts is not None:
            self._delete_strays({part["key"] for part in listed} | {self.manifest_key})
        return manifest

    def prune(self) -> list[str]:
        """Delete this run's objects (only objects carrying this job's UID and run id). Returns their keys."""
        ours = [info.key for info in self.store.list_objects(self.prefix) if self._is_ours(info.key)]
        self.store.delete(ours)
        return ours

    def _delete_strays(self, keep: set[str]) -> None:
        self.store.delete(
            [
                info.key
                for info in self.store.list_objects(self.prefix)
                if info.key not in keep and self._is_ours(info.key)
            ]
        )

    # -- helpers -----------------------------------------------------------------------------------------

    def _parts(self) -> list[dict[str, Any]]:
        parts, first_row = [], 0
        for info in self.store.list_objects(self.prefix):
            name = info.key[len(self.prefix) :]
            if not name.startswith("part-") or "/" in name:
                continue
            head = self.store.head(info.key)
            self._check_owner(head, info.key)
            rows = int(_meta(head, "rows") or 0)
            parts.append(
                {
                    "key": info.key,
                    "shard": int(_meta(head, "shard") or 0),
                    "firstRow": first_row,
                    "rows": rows,
                    "bytes": info.size,
                    "sha256": _meta(head, "sha256"),
                    "columns": json.loads(_meta(head, "columns") or "{}"),
                }
            )
            first_row += rows
        return parts

    @staticmethod
    def _given(parts: Sequence[PartInfo], columns: dict[str, int]) -> list[dict[str, Any]]:
        listed, first_row = [], 0
        for index, part in enumerate(parts):
            listed.append(
                {
                    "key": part.key,
                    "shard": part.shard,
                    "firstRow": first_row,
                    "rows": part.rows,
                    "bytes": part.bytes,
                    "sha256": part.sha256,
                    **({"columns": columns} if index == 0 else {}),
                }
            )
            first_row += part.rows
        return listed

    @staticmethod
    def _schema(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        columns: dict[str, int] = next((part["columns"] for part in parts if part.get("columns")), {})
        for part in parts:
            part.pop("columns", None)
        return [{"name": name, "type": "list<double>", "width": width} for name, width in columns.items()]

    def _owner(self) -> dict[str, str]:
        return {
            f"{_META}job-uid": self.run.job_uid,
            f"{_META}run-id": self.run.run_id,
            f"{_META}job": f"{self.run.namespace}/{self.run.job}",
        }

    def _check_owner(self, head: dict[str, Any], key: str) -> None:
        if _meta(head, "job-uid") != self.run.job_uid or _meta(head, "run-id") != self.run.run_id:
            raise e.ResultsConflict(
                f"{s3_uri(self.store.bucket, key)} exists and was not written by run {self.run.run_id} of "
                f"{self.run.namespace}/{self.run.job} (uid {self.run.job_uid}); it is never overwritten: "
                "choose another results prefix or remove it"
            )

    def _is_ours(self, key: str) -> bool:
        head = self.store.head(key)
        return _meta(head, "job-uid") == self.run.job_uid and _meta(head, "run-id") == self.run.run_id


def prune_runs(store: ObjectStore, prefix: str, runs: Iterable[RunIdentity]) -> list[str]:
    """Delete the objects of runs pruned from a job's history: only those carrying the run's job UID and run
    id, nothing else under the prefix. Returns the keys deleted."""
    deleted: list[str] = []
    for run in runs:
        deleted += ResultSink(store, run, prefix=prefix).prune()
    return deleted


def _meta(head: dict[str, Any], name: str) -> str | None:
    value: str | None = head.get("Metadata", {}).get(f"{_META}{name}")
    return value
