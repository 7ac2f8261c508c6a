"""Results ConfigMaps, the one place that knows them: their names, labels and annotations, the job as their
controlling owner (so they are garbage-collected with it), create-only immutable writes (the worker's), and
deletion of exactly the objects this job created for that run (the operator's).

A ConfigMap that exists and was not created by this job for this run with the same content is never
replaced or deleted: writing over it raises ResultsConflict naming it. A shard's last part says how many
parts the shard wrote (PARTS_ANNOTATION), so a complete set of results can be told from a partial one
(kube/recovery.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.data.results import RESULTS_KEY, ResultChunk
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core, is_not_found

log = logging.getLogger(__name__)

SHARD_LABEL = f"{c.GROUP}/shard"
FIRST_ROW_ANNOTATION = f"{c.GROUP}/first-row"
ROW_COUNT_ANNOTATION = f"{c.GROUP}/row-count"
SHARDS_ANNOTATION = f"{c.GROUP}/shards"
PARTS_ANNOTATION = f"{c.GROUP}/parts"  # on a shard's last part only: how many parts the shard wrote


class ResultsConflict(Exception):
    """A ConfigMap with a results name exists and is not this run's: it is left alone."""

    reason = "ResultsConflict"

    def __init__(self, namespace: str, name: str):
        super().__init__(
            f"ConfigMap {namespace}/{name} already exists and was not created by this job for this run with "
            "these results; the operator never replaces or deletes an object it did not create: rename or "
            "delete that ConfigMap, then run the job again"
        )


@dataclass(frozen=True)
class RunResultsTarget:
    """Whose results: the job (name and uid, for the owner reference) and the run."""

    namespace: str
    job_name: str
    job_uid: str
    run_id: str
    shards: int = 1


def owner_reference(job: dict[str, Any]) -> dict[str, Any]:
    # Set by hand rather than kopf.adopt(), which would also copy the job's labels (Argo CD's
    # tracking label among them) and make the results look like part of the user's app.
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.JOB_KIND,
        "name": job["metadata"]["name"],
        "uid": job["metadata"]["uid"],
        "controller": True,
    }


def part_name(target: RunResultsTarget, shard: int, index: int) -> str:
    """`<job>-<run>-<n>`; with shards, `<job>-<run>-s<shard>-<n>`."""
    run = target.run_id if target.shards == 1 else f"{target.run_id}-s{shard}"
    return f"{target.job_name}-{run}-{index}"[:253].rstrip("-.")


def part_body(target: RunResultsTarget, shard: int, chunk: ResultChunk) -> dict[str, Any]:
    annotations = {
        FIRST_ROW_ANNOTATION: str(chunk.first_row),
        ROW_COUNT_ANNOTATION: str(chunk.row_count),
        SHARDS_ANNOTATION: str(target.shards),
    }
    if chunk.last:
        annotations[PARTS_ANNOTATION] = str(chunk.index + 1)
    owner = {"metadata": {"name": target.job_name, "uid": target.job_uid}}
    return {
        "metadata": {
            "name": part_name(target, shard, chunk.index),
            "namespace": target.namespace,
            "ownerReferences": [owner_reference(owner)],
            "labels": {
                c.JOB_LABEL: target.job_name,
                c.RUN_LABEL: target.run_id,
                c.PART_LABEL: str(chunk.index),
                SHARD_LABEL: str(shard),
                c.MANAGED_BY_LABEL: c.MANAGED_BY,
            },
            "annotations": annotations,
        },
        "data": {RESULTS_KEY: chunk.payload},
        "immutable": True,  # written once: nobody needs `update` on ConfigMaps
    }


def _meta(config_map: kubernetes.client.V1ConfigMap) -> kubernetes.client.V1ObjectMeta:
    assert config_map.metadata is not None  # the API server always sends it
    return config_map.metadata


def is_run_result(
    config_map: kubernetes.client.V1ConfigMap, job_name: str, run_id: str, job_uid: str | None = None
) -> bool:
    """Whether the job created `config_map` for the run: the job's and run's labels, and the job as
    its controlling owner (by uid when known; else by kind and name, as a job's uid is unique among
    the owners the garbage collector has left)."""
    labels = _meta(config_map).labels or {}
    if (labels.get(c.JOB_LABEL), labels.get(c.RUN_LABEL), labels.get(c.MANAGED_BY_LABEL)) != (
        job_name,
        run_id,
        c.MANAGED_BY,
    ):
        return False
    return any(
        ref.controller
        and ref.kind == c.JOB_KIND
        and ref.api_version == c.API_VERSION
        and ref.name == job_name
        and (job_uid is None or ref.uid == job_uid)
        for ref in _meta(config_map).owner_references or []
    )


def _same_content(existing: kubernetes.client.V1ConfigMap, body: dict[str, Any]) -> bool:
    return (
        existing.data == body["data"]
        and bool(existing.immutable)
        and (_meta(existing).annotations or {}) == body["metadata"]["annotations"]
    )


def create_part(target: RunResultsTarget, shard: int, chunk: ResultChunk) -> str:
    """Create one part; returns its name. Create-only: a part of that name that this run wrote with the
    same content (an earlier attempt, or a create whose answer was lost) is accepted as it is; anything
    else raises ResultsConflict and is left untouched."""
    body = part_body(target, shard, chunk)
    name = body["metadata"]["name"]
    for _ in range(2):
        try:
            core().create_namespaced_config_map(target.namespace, body, _request_timeout=REQUEST_TIMEOUT)
            return str(name)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
        try:
            existing = core().read_namespaced_config_map(name, target.namespace, _request_timeout=REQUEST_TIMEOUT)
        except kubernetes.client.ApiException as error:
            if is_not_found(error):
                continue  # deleted meanwhile: create again
            raise
        if is_run_result(existing, target.job_name, target.run_id, target.job_uid) and _same_content(existing, body):
            return str(name)
        break
    raise ResultsConflict(target.namespace, name)


def delete_checked(config_map: kubernetes.client.V1ConfigMap) -> None:
    """Delete exactly the object that was checked: a replaced one (new uid) is left alone."""
    meta = _meta(config_map)
    preconditions = kubernetes.client.V1Preconditions(uid=meta.uid, resource_version=meta.resource_version)
    try:
        core().delete_namespaced_config_map(
            str(meta.name),
            str(meta.namespace),
            body=kubernetes.client.V1DeleteOptions(preconditions=preconditions),
            _request_timeout=REQUEST_TIMEOUT,
        )
    except kubernetes.client.ApiException as error:
        if not is_not_found(error) and error.status != 409:  # 409: changed since checked, so not ours to delete
            raise


def list_run_parts(
    namespace: str,
    job_name: str,
    run_id: str,
    job_uid: str | None = None,
) -> list[kubernetes.client.V1ConfigMap]:
    """The results parts this job created for the run (labels and owner checked)."""
    selector = f"{c.JOB_LABEL}={job_name},{c.RUN_LABEL}={run_id},{c.PART_LABEL}"
    items = (
        core().list_namespaced_config_map(namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items
    )
    return [cm for cm in items if is_run_result(cm, job_name, run_id, job_uid)]


def delete_run_results(namespace: str, job_name: str, run_id: str, job_uid: str | None = None) -> None:
    """Delete the run's results: only the ConfigMaps this job created for it (labels and owner), one
    checked object at a time (no deletecollection: manifests/admission-policy.yaml checks each)."""
    selector = f"{c.JOB_LABEL}={job_name},{c.RUN_LABEL}={run_id}"
    items = (
        core().list_namespaced_config_map(namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items
    )
    for config_map in items:
        if is_run_result(config_map, job_name, run_id, job_uid):
            delete_checked(config_map)
        else:
            log.warning(
                "left ConfigMap %s/%s alone: labelled as results of %s run %s, but not created by it",
                namespace,
                _meta(config_map).name,
                job_name,
                run_id,
            )
