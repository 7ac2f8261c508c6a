"""Execute one run of an InferenceJob: resolve what it needs (the tutorial's lookups), hand it to the
executor's worker (a Job's Pods, or a child process), and build the run's record from the workers'
reports. Synchronous: it runs in a thread, so many jobs' runs proceed at once while the kopf event loop
stays free."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wallaroo_operator import executors
from wallaroo_operator.controller.connection import CONNECTIONS, ResolvedConnection
from wallaroo_operator.executors.base import RunPlan, progress_config_map_name
from wallaroo_operator.executors.naming import worker_name
from wallaroo_operator.kube import results_store
from wallaroo_operator.kube.input_names import input_refs
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.models.job import InferenceJobSpec
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
        return (connection.api_url, connection.credentials.cache_key(connection.token_url), connection.verify,
                connection.inference_hosts, workspace_id, pipeline)


URL_CACHE = UrlCache()


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


def plan_run(context: RunContext) -> RunPlan:
    """Everything but the rows: the connection, the input's names and order, the workspace id and URL."""
    job = context.job
    namespace = job["metadata"]["namespace"]
    spec = context.spec
    connection_object, connection = CONNECTIONS.get(namespace, spec.connection_ref.name)
    parts = input_refs(namespace, spec.input)
    workspace_id = connection.api().workspace_id(spec.workspace)
    # Resolved here, once per (API, workspace, pipeline) across runs; a worker re-resolves only after a 404.
    url = URL_CACHE.resolver(connection, workspace_id, spec.pipeline)()
    connection_spec = WallarooConnectionSpec.model_validate(connection_object.get("spec") or {})
    worker = worker_name(job["metadata"]["name"], context.run_id)
    manifest = RunManifest(
        namespace=namespace, job_name=job["metadata"]["name"], job_uid=job["metadata"]["uid"],
        run_id=context.run_id, spec=job["spec"], input_parts=parts, workspace_id=workspace_id,
        inference_url=url, api_url=connection.api_url, token_url=connection.token_url,
        client_id=connection.credentials.client_id, grant=connection.credentials.grant,
        insecure_skip_tls_verify=connection.verify is False, api_timeout_seconds=connection.timeout,
        progress_config_map=progress_config_map_name(worker), shards=spec.execution.shards)
    return RunPlan(manifest, job, connection, connection_spec, spec.execution)


def execute_run(context: RunContext) -> RunSuccess:
    """Raises on any failure; errors.classify() turns the exception into a condition. The rows and the
    outputs stay in the worker: this process sees names, counts and summaries only."""
    plan = plan_run(context)
    context.on_resolved(plan.manifest.workspace_id, plan.manifest.inference_url)
    started = time.monotonic()
    manifest = plan.manifest
    try:
        outcomes = executors.current().execute(plan, context)
    except BaseException:
        if not context.operator_stopping:  # a failed or cancelled run keeps no partial results
            results_store.delete_run_results(manifest.namespace, manifest.job_name, manifest.run_id)
        raise
    spec = context.spec
    record = merge_shard_records(outcomes, spec.results.inline_limit_bytes)
    record["durationSeconds"] = round(time.monotonic() - started, 3)
    url = next((o["inferenceUrl"] for o in reversed(outcomes) if o.get("inferenceUrl")), manifest.inference_url)
    if url != manifest.inference_url:
        URL_CACHE.forget(plan.connection, manifest.workspace_id, spec.pipeline)
    return RunSuccess(manifest.workspace_id, url, record)
