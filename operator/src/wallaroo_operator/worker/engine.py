"""One shard of one run, streamed: read, check, send, write, report."""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from wallaroo_operator.data.inputs import InputPart
from wallaroo_operator.data.results import ResultChunk
from wallaroo_operator.data.streaming import InputStream, shard_slice
from wallaroo_operator.wallaroo import Credentials, RetryPolicy, TokenProvider, Verify, WallarooApi, token_cache
from wallaroo_operator.wallaroo.inference import Batch
from wallaroo_operator.wallaroo.stream import StreamStats, infer_stream
from wallaroo_operator.wallaroo.token_handoff import adopt_from_environment
from wallaroo_operator.worker.limits import WorkerLimits
from wallaroo_operator.worker.manifest import CA_FILE_ENV, SECRET_ENVS, RunManifest
from wallaroo_operator.worker.results import ResultsWriter

# At most one progress report per interval (and one at the start and the end), never one per batch.
PROGRESS_INTERVAL_SECONDS = float(os.environ.get("WALLAROO_WORKER_PROGRESS_SECONDS", "3"))


@dataclass
class WorkerIO:
    """What the engine needs from outside: Kubernetes in production, plain functions in tests."""

    input_parts: Callable[[], Iterable[InputPart]]
    store_chunk: Callable[[ResultChunk], str]
    report: Callable[[dict], None]  # this shard's progress or outcome


class ProgressReporter:
    def __init__(self, report: Callable[[dict], None], interval: float | None = None):
        self._report, self._last = report, -math.inf
        self._interval = PROGRESS_INTERVAL_SECONDS if interval is None else interval

    def __call__(self, state: dict, *, force: bool = False) -> None:
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


def connection(manifest: RunManifest, environ: dict | os._Environ = os.environ) -> tuple[TokenProvider, Verify]:
    credentials = Credentials(client_id=manifest.client_id, client_secret=environ.get(SECRET_ENVS["client_secret"], ""),
                              grant=manifest.grant, username=environ.get(SECRET_ENVS["username"]),
                              password=environ.get(SECRET_ENVS["password"]))
    verify: Verify = False if manifest.insecure_skip_tls_verify else environ.get(CA_FILE_ENV) or True
    tokens = token_cache.provider_for(manifest.token_url, credentials, verify,
                                      timeout=(5.0, manifest.api_timeout_seconds))
    adopt_from_environment(tokens, environ)  # the operator's token, if it handed one over: no login per run
    return tokens, verify


def batches(rows: Iterator[list], first_row: int, batch_size: int) -> Iterator[Batch]:
    for index in itertools.count():
        chunk = list(itertools.islice(rows, batch_size))
        if not chunk:
            return
        yield Batch(index, first_row + index * batch_size, chunk)


def run_shard(manifest: RunManifest, shard: int, io: WorkerIO, limits: WorkerLimits, *,
              tokens: TokenProvider, verify: Verify, cancel: threading.Event | None = None) -> dict:
    """Raises on failure (the caller reports it); returns this shard's part of the run record."""
    spec = manifest.job_spec()
    started = time.monotonic()
    stream = InputStream(io.input_parts, limits.stream)
    shape = stream.scan()  # every row checked before the first is sent
    start, stop = shard_slice(shape.rows, shard, manifest.shards)
    limits.check_in_flight(spec.inference.batch_size, spec.inference.parallelism, shape.width)
    report = ProgressReporter(io.report)
    report({"state": "Running", "rowsDone": 0, "rowsTotal": stop - start}, force=True)

    budget = max(1, math.ceil(spec.results.max_config_maps / manifest.shards))
    writer = ResultsWriter(io.store_chunk, max_chunks=budget, inline_limit_bytes=spec.results.inline_limit_bytes)
    api = WallarooApi(manifest.api_url, tokens, verify=verify, timeout=(5.0, manifest.api_timeout_seconds))
    resolver = SeededResolver(manifest.inference_url, api, manifest.workspace_id, spec.pipeline)
    stats = StreamStats()
    for batch, outputs in infer_stream(
            resolver, batches(stream.rows(start, stop), start, spec.inference.batch_size),
            input_name=shape.input_name, request_format=spec.inference.format,
            parallelism=spec.inference.parallelism, retry=RetryPolicy(budget=spec.inference.retry_budget),
            tokens=tokens, verify=verify, request_timeout=(5.0, spec.inference.request_timeout_seconds),
            cancel=cancel, stats=stats, rows_total=stop - start):
        writer.add(batch.start, outputs)
        if stats.batches == 1:
            writer.check_estimate(stop - start)
        report({"state": "Running", "rowsDone": stats.rows, "rowsTotal": stop - start})
    record = writer.finish()
    return {"state": "Succeeded", "rowsDone": stats.rows, "rowsTotal": stop - start, "rows": stats.rows,
            "batches": stats.batches, "retries": stats.retries, "firstRow": start,
            "durationSeconds": round(time.monotonic() - started, 3), "inferenceUrl": resolver(), **record}
