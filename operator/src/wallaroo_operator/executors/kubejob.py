"""The Job executor: each run is a batch/v1 Job of the operator's own image (executors/job_spec.py).

A restarted operator adopts the Job of an active run by its deterministic name instead of starting a
second one. The operator polls the Job and the run's progress ConfigMap every few seconds (one GET of
each), reflects the progress into status, and reads the outcome the workers reported. Cancellation
deletes the Job with foreground propagation (its Pods first), except when the operator itself stops.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from typing import TYPE_CHECKING, Any, cast

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.controller.errors import Disposition
from wallaroo_operator.executors.base import (
    RunPlan,
    WorkerFailure,
    create_progress_config_map,
    delete_progress_config_map,
    outcomes_in_order,
    progress_of,
    read_shard_states,
    reported_failure,
)
from wallaroo_operator.executors.job_spec import (
    ClusterAccess,
    check_worker_memory,
    failure_from,
    job_finished,
    job_object,
    rbac_objects,
)
from wallaroo_operator.executors.naming import worker_name
from wallaroo_operator.kube import backoff
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, api_client, core
from wallaroo_operator.settings import Settings, settings
from wallaroo_operator.wallaroo import InferenceCancelled

WORKER_IMAGE_ENV = Settings.variable("worker_image")
DEFAULT_IMAGE = "wallaroo-inference-operator:0.1.0"
POLL_SECONDS = settings().job_poll_seconds
DELETE_WAIT_SECONDS = 60.0
RECORDED_ANNOTATION = f"{c.GROUP}/recorded"  # a finished Job kept for its TTL: its outcome is in status
LOG_TAIL_LINES = 10
log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from wallaroo_operator.controller.run import RunContext


def batch() -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(api_client())


@functools.cache
def dynamic() -> kubernetes.dynamic.DynamicClient:
    """Discovery once per process, not per call."""
    return kubernetes.dynamic.DynamicClient(api_client())


class JobExecutor:
    name = "job"
    adopts_runs = True

    def __init__(self, image: str | None = None):
        self.image = image or Settings.from_environment().worker_image or DEFAULT_IMAGE
        # Read now, not from the process-wide settings(): tests start operators with other settings.
        self.access = ClusterAccess.from_settings(Settings.from_environment())

    def warm_up(self) -> None:
        """Nothing: a run's Pod starts from the image."""

    def execute(self, plan: RunPlan, context: RunContext) -> list[dict[str, Any]]:
        manifest = plan.manifest
        name = worker_name(manifest.job_name, manifest.run_id)
        self.start(plan, name)
        started = time.monotonic()
        while True:
            if context.cancel.is_set():
                if not context.operator_stopping:  # an operator stopping leaves the Job to its successor
                    self.cleanup(plan, name, foreground=True)
                raise InferenceCancelled(context.progress.get("rowsDone", 0), context.progress.get("rowsTotal") or 0)
            job = read_job(manifest.namespace, name)
            if job is None:
                raise WorkerFailure("WorkerDeleted", f"Job {manifest.namespace}/{name} was deleted while it ran")
            states = read_shard_states(manifest.namespace, manifest.progress_config_map)
            context.progress.update(
                progress_of(states, manifest.shards, started, name, (job.get("status") or {}).get("failed"))
            )
            finished = job_finished(job)
            if finished == "Complete":
                outcomes = outcomes_in_order(states, manifest.shards)
                self.cleanup(plan, name)
                if outcomes is None:
                    raise WorkerFailure("WorkerFailed", f"Job {name} completed without every shard's report")
                return outcomes
            if finished == "Failed":
                failure = reported_failure(states) or failure_from(
                    job, self.pods(manifest.namespace, name), lambda pod: self.log_tail(manifest.namespace, pod)
                )
                self.cleanup(plan, name)
                raise failure
            context.cancel.wait(POLL_SECONDS)

    # -- creating and adopting ---------------------------------------------------------------------

    def start(self, plan: RunPlan, name: str) -> None:
        """Adopt this run's Job if it is there (an operator restart), else create the run's objects."""
        manifest = plan.manifest
        check_worker_memory(plan)
        existing = read_job(manifest.namespace, name)
        if existing is not None:
            meta = existing["metadata"]
            ours = (
                any(o.get("uid") == manifest.job_uid for o in meta.get("ownerReferences") or [])
                and (meta.get("labels") or {}).get(c.RUN_LABEL) == manifest.run_id
            )
            if not ours:
                raise WorkerFailure(
                    "WorkerConflict",
                    f"Job {manifest.namespace}/{name} exists and is not this run's; it is left as it is",
                    Disposition.FAIL,
                )
            if RECORDED_ANNOTATION not in (meta.get("annotations") or {}):
                log.info("adopting Job %s/%s of run %s", manifest.namespace, name, manifest.run_id)
                return
            delete_job(manifest.namespace, name, foreground=True)  # an earlier attempt's, kept for its TTL
        create_progress_config_map(plan, manifest.progress_config_map)
        for obj in rbac_objects(plan, name):
            create_owned(obj)
        create_owned(job_object(plan, name, self.image, self.access))

    def cleanup(self, plan: RunPlan, name: str, *, foreground: bool = False) -> None:
        """After the outcome is read (or on cancel): the Job goes (or stays for its TTL, marked recorded),
        and so do the run's Role, binding, ServiceAccount and progress ConfigMap."""
        manifest = plan.manifest
        if plan.execution.ttl_seconds_after_finished is not None and not foreground:
            batch().patch_namespaced_job(
                name,
                manifest.namespace,
                {"metadata": {"annotations": {RECORDED_ANNOTATION: "true"}}},
                _request_timeout=REQUEST_TIMEOUT,
            )
        else:
            delete_job(manifest.namespace, name, foreground=foreground)
        for obj in reversed(rbac_objects(plan, name)):
            delete_owned(obj)
        delete_progress_config_map(manifest)

    # -- reading why it failed ---------------------------------------------------------------------

    def pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        pods = core().list_namespaced_pod(
            namespace, label_selector=f"batch.kubernetes.io/job-name={name}", _request_timeout=REQUEST_TIMEOUT
        )
        return [api_client().sanitize_for_serialization(pod) for pod in pods.items]

    def log_tail(self, namespace: str, pod: str) -> str:
        try:
            text = core().read_namespaced_pod_log(
                pod, namespace, container="worker", tail_lines=LOG_TAIL_LINES, _request_timeout=REQUEST_TIMEOUT
            )
            return str(text).rstrip()
        except kubernetes.client.ApiException as error:
            return f"(its log could not be read: {error.status} {error.reason})"


def read_job(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        response = backoff.call(
            lambda: batch().read_namespaced_job(name, namespace, _request_timeout=REQUEST_TIMEOUT),
            what=f"reading Job {namespace}/{name}",
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return cast(dict[str, Any], api_client().sanitize_for_serialization(response))


def delete_job(namespace: str, name: str, *, foreground: bool) -> None:
    """Foreground: the Job is gone only after its Pods are; wait for that (bounded)."""
    try:
        batch().delete_namespaced_job(
            name,
            namespace,
            propagation_policy="Foreground" if foreground else "Background",
            _request_timeout=REQUEST_TIMEOUT,
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return
        raise
    deadline = time.monotonic() + (DELETE_WAIT_SECONDS if foreground else 0)
    while time.monotonic() < deadline and read_job(namespace, name) is not None:
        time.sleep(0.5)


def create_owned(obj: dict[str, Any]) -> None:
    """Create; an object of the same name that this run created already (an adopted run) is kept."""
    client = dynamic().resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    try:
        client.create(body=obj, namespace=obj["metadata"]["namespace"])
    except kubernetes.dynamic.exceptions.ConflictError:
        existing = client.get(name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"]).to_dict()
        owners = {o["uid"] for o in existing["metadata"].get("ownerReferences") or []}
        if not owners & {o["uid"] for o in obj["metadata"]["ownerReferences"]}:
            raise WorkerFailure(
                "WorkerConflict",
                f"{obj['kind']} {obj['metadata']['namespace']}/"
                f"{obj['metadata']['name']} exists and is not this run's; it is "
                "left as it is",
                Disposition.FAIL,
            ) from None


def delete_owned(obj: dict[str, Any]) -> None:
    client = dynamic().resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    with contextlib.suppress(kubernetes.dynamic.exceptions.NotFoundError):
        client.delete(name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"])
