"""Execute one run of an InferenceJob: resolve what it needs (the tutorial's lookups), hand it to the
executor's worker (a Job's Pods, or a child process), and build the run's record from the workers'
reports. Synchronous: it runs in a thread, so many jobs' runs proceed at once while the kopf event loop
stays free."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wallaroo_operator import executors
from wallaroo_operator.controller.connection import CONNECTIONS, ResolvedConnection
from wallaroo_operator.data.inputs import InputError
from wallaroo_operator.executors.base import RunPlan, progress_config_map_name
from wallaroo_operator.executors.naming import worker_name
from wallaroo_operator.kube import object_stores, results_store
from wallaroo_operator.kube.input_names import input_refs
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.objectstore import MANIFEST, PartInfo, ResultSink, RunIdentity, plan_input, prune_runs
from wallaroo_operator.rfc3339 import now_rfc3339
from wallaroo_operator.wallaroo import ExternalUrlResolver
from wallaroo_operator.worker.manifest import RunManifest
from wallaroo_operator.worker.results import merge_shard_records


class UrlCache:
    """External URL resolvers shared across runs: the URL is looked up once per (API, workspace,
    pipeline), and re-resolved by the client only when it answers 404 (a redeployed pipeline)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resolvers: dict[tuple[object, ...], ExternalUrlResolver] = {}

    def resolver(self, connection: ResolvedConnection, workspace_id: int, pipeline: str) -> ExternalUrlResolver:
        key = self._key(connection, workspace_id, pipeline)
        with self._lock:
            if key not in self._resolvers:
                self._resolvers[key] = connection.url_resolver(workspace_id, pipeline)
            return self._resolvers[key]

    def forget(self, connection: ResolvedConnection, workspace_id: int, pipeline: str) -> None:
        """A worker found the URL moved (a redeploy): the next run looks it up again."""
        with self._lock:
            self._resolvers.pop(self._key(connection, workspace_id, pipeline), None)

    @staticmethod
    def _key(connection: ResolvedConnection, workspace_id: int, pipeline: str) -> tuple[object, ...]:
        return (
            connection.api_url,
            connection.credentials.cache_key(connection.token_url),
            connection.verify,
            connection.inference_hosts,
            workspace_id,
            pipeline,
        )


URL_CACHE = UrlCache()
log = logging.getLogger(__name__)


@dataclass
class RunContext:
    job: dict[str, Any]  # the job object when the run started
    run_id: str
    spec: InferenceJobSpec  # its spec, parsed once by the controller
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] = field(default_factory=dict[str, Any])  # RunProgress fields, for status while running
    operator_stopping: bool = False  # cancelled because the operator stops: leave an adoptable worker
    on_resolved: Callable[[int, str], None] = lambda workspace_id, url: None  # told the URL once resolved


@dataclass(frozen=True)
class RunSuccess:
    workspace_id: int
    inference_url: str
    record: dict[str, Any]  # the camelCase fields of a RunRecord this run fills in


def plan_run(context: RunContext, *, read_input: bool = True) -> RunPlan:
    """Everything but the rows: the connection, the input's names and order (for input.objectStore the
    objects' keys, sizes, ETags and Parquet row counts), the workspace id and URL."""
    job = context.job
    namespace = job["metadata"]["namespace"]
    spec = context.spec
    connection_object, connection = CONNECTIONS.get(namespace, spec.connection_ref.name)
    object_input = None
    if spec.input.object_store and read_input:
        object_input = plan_object_input(namespace, job["metadata"]["name"], spec)
    parts = input_refs(namespace, spec.input) if spec.input.object_store is None else []
    workspace_id = connection.workspace_id(spec.workspace)
    # Resolved here, once per (API, workspace, pipeline) across runs; a worker re-resolves only after a 404.
    url = URL_CACHE.resolver(connection, workspace_id, spec.pipeline)()
    connection_spec = WallarooConnectionSpec.model_validate(connection_object.get("spec") or {})
    worker = worker_name(job["metadata"]["name"], context.run_id)
    manifest = RunManifest(
        namespace=namespace,
        job_name=job["metadata"]["name"],
        job_uid=job["metadata"]["uid"],
        run_id=context.run_id,
        spec=job["spec"],
        input_parts=parts,
        workspace_id=workspace_id,
        inference_url=url,
        api_url=connection.api_url,
        token_url=connection.token_url,
        client_id=connection.credentials.client_id,
        grant=connection.credentials.grant,
        insecure_skip_tls_verify=connection.verify is False,
        api_timeout_seconds=connection.timeout,
        progress_config_map=progress_config_map_name(worker),
        shards=spec.execution.shards,
        object_input=object_input,
    )
    return RunPlan(manifest, job, connection, connection_spec, spec.execution)


def plan_object_input(namespace: str, job_name: str, spec: InferenceJobSpec) -> dict[str, Any]:
    """List the input objects (metadata only: keys, sizes, ETags; Parquet footers for row counts)."""
    block = spec.input.object_store
    store = object_stores.operator_store(namespace, job_name, spec, "input")
    assert block is not None and store is not None
    plan = plan_input(store, key=block.key, prefix=block.prefix, format=block.format)
    if not plan.by_rows and spec.execution.shards > 1 and spec.results.object_store is None:
        # Split by bytes, a shard cannot know its first row's number without reading the shards before it.
        raise InputError(
            "UnsupportedSharding",
            f"{store.settings.where}: input that is not all Parquet is split "
            "between shards by bytes, and sharded results in ConfigMaps need "
            "each row's number; set results.objectStore, use Parquet input, "
            "or execution.shards: 1",
        )
    return plan.to_dict()


def execute_run(context: RunContext) -> RunSuccess:
    """Raises on any failure; errors.classify() turns the exception into a condition. The rows and the
    outputs stay in the worker: this process sees names, counts and summaries only."""
    sink = run_results_sink(context)
    complete = sink.manifest() if sink else None  # written: the run is done (a restart before its status)
    plan = plan_run(context, read_input=complete is None)
    context.on_resolved(plan.manifest.workspace_id, plan.manifest.inference_url)
    manifest = plan.manifest
    if sink and complete is not None:
        return RunSuccess(manifest.workspace_id, manifest.inference_url, record_from_results(sink, complete))
    started, started_at = time.monotonic(), now_rfc3339()
    try:
        outcomes = executors.current().execute(plan, context)
    except BaseException:
        if not context.operator_stopping:  # a failed or cancelled run keeps no partial results
            results_store.delete_run_results(manifest.namespace, manifest.job_name, manifest.run_id)
            if sink:
                discard_parts(sink)
        raise
    spec = context.spec
    record = merge_shard_records(outcomes, spec.results.inline_limit_bytes)
    record["durationSeconds"] = round(time.monotonic() - started, 3)
    if sink:
        record = finish_results(sink, outcomes, record, started_at)
    url = next((o["inferenceUrl"] for o in reversed(outcomes) if o.get("inferenceUrl")), manifest.inference_url)
    if url != manifest.inference_url:
        URL_CACHE.forget(plan.connection, manifest.workspace_id, spec.pipeline)
    return RunSuccess(manifest.workspace_id, url, record)


# -- results.objectStore ---------------------------------------------------------------------------------
# The operator writes a run's `_manifest.json`, after every shard has reported its parts: it is the one
# party that knows when all shards are done (the shards of an Indexed Job do not know of each other, and a
# shard retried alone must not finish the run), and it writes exactly the parts the shards reported, so
# nothing an earlier attempt left behind gets listed.


def run_results_sink(context: RunContext) -> ResultSink | None:
    job, spec = context.job, context.spec
    block = spec.results.object_store
    store = object_stores.operator_store(job["metadata"]["namespace"], job["metadata"]["name"], spec, "results")
    if block is None or store is None:
        return None
    run = RunIdentity(job["metadata"]["namespace"], job["metadata"]["name"], context.run_id, job["metadata"]["uid"])
    return ResultSink(store, run, prefix=block.prefix, format=block.format, rows_per_part=block.rows_per_part)


def finish_results(
    sink: ResultSink, outcomes: list[dict[str, Any]], record: dict[str, Any], started_at: str
) -> dict[str, Any]:
    """Write the manifest over the parts the shards reported (in shard order: input order); the record
    keeps the URIs and the summary, not the data."""
    parts = [PartInfo(**part) for outcome in outcomes for part in outcome.get("resultParts", [])]
    columns: dict[str, int] = next((o["resultColumns"] for o in outcomes if o.get("resultColumns")), {})
    written = sink.finish(
        started=started_at,
        finished=now_rfc3339(),
        parts=parts,
        columns=columns,
        extra={"summary": record.get("summary") or {}},
    )
    return {
        **{k: v for k, v in record.items() if k not in ("resultConfigMaps", "outputs")},
        **results_fields(sink, written),
    }


def results_fields(sink: ResultSink, manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "rows": manifest["rows"],
        "resultsUri": sink.uri,
        "resultsManifest": sink.uri + MANIFEST,
        "resultParts": len(manifest["parts"]),
    }


def record_from_results(sink: ResultSink, manifest: dict[str, Any]) -> dict[str, Any]:
    """A run whose manifest exists is complete: recorded from it, never run (or sent to Wallaroo) again."""
    return {**results_fields(sink, manifest), "summary": manifest.get("summary") or None, "recovered": True}


def discard_parts(sink: ResultSink) -> None:
    """A failed run's parts (never its manifest: a run with a manifest does not fail) are deleted."""
    try:
        sink.prune()
    except Exception as error:
        log.warning(
            "could not delete the parts of failed run %s under %s: %s",
            sink.run.run_id,
            sink.uri,
            getattr(error, "message", type(error).__name__),
        )


def prune_object_store_results(
    namespace: str, job_name: str, job_uid: str, spec: dict[str, Any], run_ids: list[str]
) -> None:
    """Runs pruned from the history lose their objects when results.objectStore.prune is true. Never raises:
    a store that is away leaves the objects (and a warning), not a stuck status."""
    try:
        parsed = InferenceJobSpec.model_validate(spec)
        block = parsed.results.object_store
        if block is None or not block.prune or not run_ids:
            return
        store = object_stores.operator_store(namespace, job_name, parsed, "results")
        assert store is not None
        prune_runs(store, block.prefix, [RunIdentity(namespace, job_name, run_id, job_uid) for run_id in run_ids])
    except Exception as error:
        log.warning(
            "could not delete the objects of pruned runs %s of %s/%s: %s",
            ", ".join(run_ids),
            namespace,
            job_name,
            getattr(error, "message", type(error).__name__),
        )
