"""One shard of one run, streamed: read, check, send, write, report."""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from wallaroo_operator.data.inputs import InputPart
from wallaroo_operator.data.results import ResultChunk
from wallaroo_operator.data.streaming import InputStream, shard_slice
from wallaroo_operator.objectstore import ResultSink, RowBatch
from wallaroo_operator.settings import Settings
from wallaroo_operator.wallaroo import Credentials, RetryPolicy, TokenProvider, Verify, WallarooApi, token_cache
from wallaroo_operator.wallaroo.inference import Batch
from wallaroo_operator.wallaroo.stream import StreamStats, infer_stream
from wallaroo_operator.wallaroo.token_handoff import adopt_from_environment
from wallaroo_operator.worker.limits import WorkerLimits
from wallaroo_operator.worker.manifest import CA_FILE_ENV, SECRET_ENVS, RunManifest
from wallaroo_operator.worker.results import ResultsWriter
from wallaroo_operator.worker.store_results import ObjectStoreResultsWriter

# At most one progress report per interval (and one at the start and the end), never one per batch.
PROGRESS_INTERVAL_SECONDS = Settings.from_environment().worker_progress_seconds


@dataclass(frozen=True)
class ObjectInput:
    """A shard's slice of input.objectStore (objectstore.read_shard), validated batch by batch as it comes."""

    batches: Callable[[], Iterator[RowBatch]]
    rows_total: int | None  # known from the plan for Parquet (planned by rows), else found by reading
    first_row: int | None  # the slice's first row in the whole input, when the plan knows it


@dataclass
class WorkerIO:
    """What the engine needs from outside: Kubernetes in production, plain functions in tests."""

    input_parts: Callable[[], Iterable[InputPart]]
    store_chunk: Callable[[ResultChunk], str]
    report: Callable[[dict[str, Any]], None]  # this shard's progress or outcome
    progress_interval: float | None = None  # seconds between progress reports; None: PROGRESS_INTERVAL_SECONDS
    object_input: ObjectInput | None = None  # input.objectStore instead of the input ConfigMaps
    results_sink: ResultSink | None = None  # results.objectStore instead of results ConfigMaps
    # No results ConfigMap when the outputs fit the status (results.configMaps: IfNotInline, one shard)
    inline_only_if_fits: bool = False


@dataclass(frozen=True)
class ShardInput:
    rows: Iterator[list[Any]]
    first_row: int
    rows_total: int | None
    input_name: str
    width: int


def config_map_input(manifest: RunManifest, shard: int, io: WorkerIO, limits: WorkerLimits) -> ShardInput:
    """Every row checked (one pass) before the first is sent; then this shard's slice, read again."""
    # Inputs up to one row's allowance (a 64th of the worker's memory) are fetched once, not twice.
    stream = InputStream(io.input_parts, limits.stream, keep_bytes=limits.stream.max_row_bytes)
    shape = stream.scan()
    start, stop = shard_slice(shape.rows, shard, manifest.shards)
    return ShardInput(stream.rows(start, stop), start, stop - start, shape.input_name, shape.width)


def object_store_input(source: ObjectInput) -> ShardInput | None:
    """Only this shard's slice is read, once, streaming; None when the slice is empty."""
    batches = source.batches()
    first = next(batches, None)
    if first is None or not first.rows:
        return None
    rows = itertools.chain(first.rows, (row for batch in batches for row in batch.rows))
    return ShardInput(rows, source.first_row or 0, source.rows_total, first.input_name, len(first.rows[0]))


def results_writer(
    manifest: RunManifest, shard: int, io: WorkerIO, limits: WorkerLimits
) -> ResultsWriter | ObjectStoreResultsWriter:
    spec = manifest.job_spec()
    if io.results_sink is not None:
        assert spec.results.object_store is not None
        return ObjectStoreResultsWriter(
            io.results_sink, shard, spec.results.object_store.rows_per_part, limits.max_part_values
        )
    budget = max(1, math.ceil(spec.results.max_config_maps / manifest.shards))
    return ResultsWriter(
        io.store_chunk,
        max_chunks=budget,
        inline_limit_bytes=spec.results.inline_limit_bytes,
        inline_only_if_fits=io.inline_only_if_fits,
    )


class ProgressReporter:
    def __init__(self, report: Callable[[dict[str, Any]], None], interval: float | None = None):
        self._report, self._last = report, -math.inf
        self._interval = PROGRESS_INTERVAL_SECONDS if interval is None else interval

    def __call__(self, state: dict[str, Any], *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self._interval:
            self._last = now
            self._report(state)


class SeededResolver:
    """The inference URL the operator resolved; looked up again (by the API) only after a 404."""

    def __init__(self, url: str, api: WallarooApi, workspace_id: int, pipeline: str):
        self._url, self._api, self._workspace_id, self._pipeline = url, api, workspace_id, pipeline
        self._lock = threading.Lock()

    def __call__(self, force: bool = False) -> str:
        with self._lock:
            if force:
                self._url = self._api.external_url(self._workspace_id, self._pipeline)
            return self._url


def connection(manifest: RunManifest, environ: Mapping[str, str] = os.environ) -> tuple[TokenProvider, Verify]:
    credentials = Credentials(
        client_id=manifest.client_id,
        client_secret=environ.get(SECRET_ENVS["client_secret"], ""),
        grant=manifest.grant,
        username=environ.get(SECRET_ENVS["username"]),
        password=environ.get(SECRET_ENVS["password"]),
    )
    verify: Verify = False if manifest.insecure_skip_tls_verify else environ.get(CA_FILE_ENV) or True
    tokens = token_cache.provider_for(
        manifest.token_url, credentials, verify, timeout=(5.0, manifest.api_timeout_seconds)
    )
    adopt_from_environment(tokens, environ)  # the operator's token, if it handed one over: no login per run
    return tokens, verify


def batches(rows: Iterator[list[Any]], first_row: int, batch_size: int) -> Iterator[Batch]:
    for index in itertools.count():
        chunk = list(itertools.islice(rows, batch_size))
        if not chunk:
            return
        yield Batch(index, first_row + index * batch_size, chunk)


def run_shard(
    manifest: RunManifest,
    shard: int,
    io: WorkerIO,
    limits: WorkerLimits,
    *,
    tokens: TokenProvider,
    verify: Verify,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Raises on failure (the caller reports it); returns this shard's part of the run record."""
    spec = manifest.job_spec()
    started = time.monotonic()
    shard_input = (
        object_store_input(io.object_input)
        if io.object_input is not None
        else config_map_input(manifest, shard, io, limits)
    )
    writer = results_writer(manifest, shard, io, limits)
    if shard_input is None:  # more shards than pieces of input: this one has nothing to do
        return {
            "state": "Succeeded",
            "rowsDone": 0,
            "rowsTotal": 0,
            "rows": 0,
            "batches": 0,
            "retries": 0,
            "durationSeconds": round(time.monotonic() - started, 3),
            **writer.finish(),
        }
    total = shard_input.rows_total
    limits.check_in_flight(spec.inference.batch_size, spec.inference.parallelism, shard_input.width)
    report = ProgressReporter(io.report, io.progress_interval)
    known = {} if total is None else {"rowsTotal": total}
    report({"state": "Running", "rowsDone": 0, **known}, force=True)

    api = WallarooApi(manifest.api_url, tokens, verify=verify, timeout=(5.0, manifest.api_timeout_seconds))
    resolver = SeededResolver(manifest.inference_url, api, manifest.workspace_id, spec.pipeline)
    stats = StreamStats()
    for batch, outputs in infer_stream(
        resolver,
        batches(shard_input.rows, shard_input.first_row, spec.inference.batch_size),
        input_name=shard_input.input_name,
        request_format=spec.inference.format,
        parallelism=spec.inference.parallelism,
        retry=RetryPolicy(budget=spec.inference.retry_budget),
        tokens=tokens,
        verify=verify,
        request_timeout=(5.0, spec.inference.request_timeout_seconds),
        cancel=cancel,
        stats=stats,
        rows_total=total or 0,
    ):
        writer.add(batch.start, outputs)
        if stats.batches == 1 and total is not None:
            writer.check_estimate(total)
        report({"state": "Running", "rowsDone": stats.rows, **known})
    record = writer.finish()
    return {
        "state": "Succeeded",
        "rowsDone": stats.rows,
        "rowsTotal": stats.rows,
        "rows": stats.rows,
        "batches": stats.batches,
        "retries": stats.retries,
        "firstRow": shard_input.first_row,
        "durationSeconds": round(time.monotonic() - started, 3),
        "inferenceUrl": resolver(),
        **record,
    }
