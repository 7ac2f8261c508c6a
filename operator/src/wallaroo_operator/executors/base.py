"""What every executor shares: the plan of a run, the failure it reports, and the progress ConfigMap."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.controller.errors import Disposition, RunError
from wallaroo_operator.kube import backoff, results_store
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core
from wallaroo_operator.kube.results_store import owner_reference
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.models.execution import ExecutionSpec, quantity_bytes
from wallaroo_operator.worker.manifest import RunManifest

if TYPE_CHECKING:
    from wallaroo_operator.controller.connection import ResolvedConnection
    from wallaroo_operator.controller.run import RunContext


class WorkerFailure(Exception):
    """A run's worker failed; `run_error` says why and whether to wait, retry or fail (errors.classify)."""

    def __init__(self, reason: str, message: str, disposition: Disposition = Disposition.RETRY):
        super().__init__(message)
        self.run_error = RunError(reason, message, disposition)


@dataclass(frozen=True)
class RunPlan:
    manifest: RunManifest
    job: dict[str, Any]  # the InferenceJob when the run started
    connection: ResolvedConnection  # credentials for a local worker's environment
    connection_spec: WallarooConnectionSpec  # the Secret and CA references for a Pod's
    execution: ExecutionSpec

    @property
    def memory_limit_bytes(self) -> int:
        return quantity_bytes(self.execution.limits()["memory"])


class Executor(Protocol):
    name: str
    adopts_runs: bool  # a restarted operator finds the worker of an active run still running

    def execute(self, plan: RunPlan, context: RunContext) -> list[dict[str, Any]]:
        """Run every shard; return their outcomes in shard order. Raises WorkerFailure, or
        InferenceCancelled once context.cancel is set."""
        ...

    def warm_up(self) -> None:
        """At the operator's start: what the first run would otherwise wait for."""
        ...


PROGRESS_LABEL = f"{c.GROUP}/progress"


def progress_config_map_name(worker_name: str) -> str:
    return f"{worker_name}-progress"


def create_progress_config_map(plan: RunPlan, name: str) -> None:
    """Created by the operator, owned by the InferenceJob; the worker may only patch it. An existing one of
    this run (an operator restart) is kept: it holds the progress so far."""
    manifest = plan.manifest
    body = {
        "metadata": {"name": name, "ownerReferences": [owner_reference(plan.job)], "labels": progress_labels(manifest)},
        "data": {},
    }
    try:
        core().create_namespaced_config_map(manifest.namespace, body, _request_timeout=REQUEST_TIMEOUT)
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise
        existing = core().read_namespaced_config_map(name, manifest.namespace, _request_timeout=REQUEST_TIMEOUT)
        if not any(o.uid == manifest.job_uid for o in existing.metadata.owner_references or []):
            raise WorkerFailure(
                "ResultsConflict",
                f"ConfigMap {manifest.namespace}/{name} exists and was not created for this run; it is left as it is",
                Disposition.FAIL,
            ) from None


def read_shard_states(namespace: str, name: str) -> dict[int, dict[str, Any]]:
    """The workers' reports; rides out an API server outage (kube/backoff.py) as the workers do."""
    try:
        data = (
            backoff.call(
                lambda: core().read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT),
                what=f"reading the run's progress ConfigMap {name}",
            ).data
            or {}
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return {}
        raise
    return {
        int(key.removeprefix("shard-")): json.loads(value) for key, value in data.items() if key.startswith("shard-")
    }


def progress_labels(manifest: RunManifest) -> dict[str, str]:
    return {
        c.JOB_LABEL: manifest.job_name,
        c.RUN_LABEL: manifest.run_id,
        PROGRESS_LABEL: "true",
        c.MANAGED_BY_LABEL: c.MANAGED_BY,
    }


def delete_progress_config_map(manifest: RunManifest) -> None:
    """Found by its labels, deleted one object at a time once its labels and owner say it is this run's
    (no deletecollection: manifests/admission-policy.yaml checks each object)."""
    selector = ",".join(f"{k}={v}" for k, v in progress_labels(manifest).items())
    for config_map in (
        core()
        .list_namespaced_config_map(manifest.namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT)
        .items
    ):
        if results_store.is_run_result(config_map, manifest.job_name, manifest.run_id, manifest.job_uid):
            results_store.delete_checked(config_map)


def progress_of(
    states: dict[int, dict[str, Any]], shards: int, started: float, worker: str, failures: int | None = None
) -> dict[str, Any]:
    """status.lastRun.progress: rows done and total (per shard when sharded), and the time left at this pace."""
    done = sum(s.get("rowsDone", 0) for s in states.values())
    totals = [states.get(k, {}).get("rowsTotal") for k in range(shards)]
    total = sum(t for t in totals if t is not None) if all(t is not None for t in totals) else None
    progress: dict[str, Any] = {"rowsDone": done, "worker": worker}
    if total is not None:
        progress["rowsTotal"] = total
        elapsed = time.monotonic() - started
        if 0 < done < total and elapsed > 0:
            progress["etaSeconds"] = int((total - done) * elapsed / done)
    if shards > 1:
        progress["shards"] = [
            {
                "index": k,
                "rowsDone": states.get(k, {}).get("rowsDone", 0),
                **({"rowsTotal": totals[k]} if totals[k] is not None else {}),
                **({"state": states[k]["state"]} if "state" in states.get(k, {}) else {}),
            }
            for k in range(shards)
        ]
    if failures:
        progress["workerFailures"] = failures
    return progress


def reported_failure(states: dict[int, dict[str, Any]]) -> WorkerFailure | None:
    """The first shard's own report of why it failed (bad input, a Wallaroo error, ...), if any."""
    for index in sorted(states):
        state = states[index]
        if state.get("state") == "Failed":
            disposition = Disposition(state.get("disposition", "retry"))
            return WorkerFailure(state.get("reason", "WorkerFailed"), state.get("message", ""), disposition)
    return None


def outcomes_in_order(states: dict[int, dict[str, Any]], shards: int) -> list[dict[str, Any]] | None:
    """Every shard's outcome when all succeeded, else None."""
    if all(states.get(k, {}).get("state") == "Succeeded" for k in range(shards)):
        return [states[k] for k in range(shards)]
    return None
