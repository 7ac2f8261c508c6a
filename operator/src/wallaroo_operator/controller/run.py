"""Execute one run of an InferenceJob: the tutorial's flow, end to end. Synchronous: it runs in a
worker thread, so many jobs' runs proceed at once while the kopf event loop stays free."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from wallaroo_operator.controller.connection import ResolvedConnection, resolve_connection
from wallaroo_operator.data.inputs import decode_input
from wallaroo_operator.data.results import chunk_results, inline_outputs
from wallaroo_operator.kube import references, results_store
from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.wallaroo import ExternalUrlResolver, RetryPolicy, run_inference


class UrlCache:
    """External URL resolvers shared across runs: the URL is looked up once per (API, workspace,
    pipeline), and re-resolved by the client only when it answers 404 (a redeployed pipeline)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resolvers: dict[tuple, ExternalUrlResolver] = {}

    def resolver(self, connection: ResolvedConnection, workspace_id: int, pipeline: str) -> ExternalUrlResolver:
        key = (connection.api_url, connection.credentials.cache_key(connection.token_url), connection.verify,
               connection.inference_hosts, workspace_id, pipeline)
        with self._lock:
            if key not in self._resolvers:
                self._resolvers[key] = connection.url_resolver(workspace_id, pipeline)
            return self._resolvers[key]


URL_CACHE = UrlCache()


@dataclass
class RunContext:
    job: dict  # the job object when the run started
    run_id: str
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: dict = field(default_factory=dict)  # rows done, for status while running


@dataclass(frozen=True)
class RunSuccess:
    workspace_id: int
    inference_url: str
    record: dict  # the camelCase fields of a RunRecord this run fills in


def execute_run(context: RunContext) -> RunSuccess:
    """Raises on any failure; errors.classify() turns the exception into a condition."""
    job = context.job
    namespace = job["metadata"]["namespace"]
    spec = InferenceJobSpec.model_validate(job["spec"])
    connection = resolve_connection(namespace, references.read_connection(namespace, spec.connection_ref.name))
    data = decode_input(references.read_input_parts(namespace, spec.input))

    workspace_id = connection.api().workspace_id(spec.workspace)
    resolver = URL_CACHE.resolver(connection, workspace_id, spec.pipeline)
    resolver()  # resolve before starting the clock, and fail early if the pipeline is unknown
    started = time.monotonic()
    # A cancelled run raises InferenceCancelled and stores no results: partial outputs are never mixed in.
    outcome = run_inference(
        resolver, data.rows, input_name=data.input_name, request_format=spec.inference.format,
        batch_size=spec.inference.batch_size, parallelism=spec.inference.parallelism,
        retry=RetryPolicy(budget=spec.inference.retry_budget), tokens=connection.tokens,
        verify=connection.verify, request_timeout=(5.0, spec.inference.request_timeout_seconds),
        cancel=context.cancel,
        on_batch_done=lambda progress: context.progress.update(rowsDone=progress.rows_done),
    )
    chunks = chunk_results(outcome.outputs, max_chunks=spec.results.max_config_maps)
    names = results_store.write_results(job, context.run_id, chunks, total_rows=outcome.rows)
    record = {
        "rows": outcome.rows, "batches": outcome.batches, "retries": outcome.retries,
        "durationSeconds": round(time.monotonic() - started, 3), "resultConfigMaps": names,
        "summary": {name: {"count": s.count, "min": s.min, "mean": s.mean, "max": s.max}
                    for name, s in outcome.summary().items()
                    if all(math.isfinite(v) for v in (s.min, s.mean, s.max))},  # JSON has no NaN
    }
    inline = inline_outputs(outcome.outputs, spec.results.inline_limit_bytes)
    if inline is not None:
        record["outputs"] = inline
    return RunSuccess(workspace_id, resolver(), record)
