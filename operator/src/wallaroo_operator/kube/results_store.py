"""Results ConfigMaps: created immutable and owned by the job (garbage-collected with it), found by
labels, and never replaced or deleted unless this job created them for that run."""

from __future__ import annotations

import logging

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.data.results import RESULTS_KEY, ResultChunk
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core, is_not_found

log = logging.getLogger(__name__)


class ResultsConflict(Exception):
    """A ConfigMap with a results name exists and is not this run's: it is left alone."""

    reason = "ResultsConflict"

    def __init__(self, namespace: str, name: str):
        super().__init__(
            f"ConfigMap {namespace}/{name} already exists and was not created by this job for this run; "
            "the operator never replaces or deletes an object it did not create: rename or delete that "
            "ConfigMap, then run the job again")


def owner_reference(job: dict) -> dict:
    # Set by hand rather than kopf.adopt(), which would also copy the job's labels (Argo CD's
    # tracking label among them) and make the results look like part of the user's app.
    return {"apiVersion": c.API_VERSION, "kind": c.JOB_KIND, "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"], "controller": True}


def result_config_map_name(job_name: str, run_id: str, index: int) -> str:
    return f"{job_name}-{run_id}-{index}"[:253].rstrip("-.")


def _meta(config_map: kubernetes.client.V1ConfigMap) -> kubernetes.client.V1ObjectMeta:
    assert config_map.metadata is not None  # the API server always sends it
    return config_map.metadata


def is_run_result(config_map: kubernetes.client.V1ConfigMap, job_name: str, run_id: str,
                  job_uid: str | None = None) -> bool:
    """Whether the job created `config_map` for the run: the job's and run's labels, and the job as
    its controlling owner (by uid when known; else by kind and name, as a job's uid is unique among
    the owners the garbage collector has left)."""
    labels = _meta(config_map).labels or {}
    if (labels.get(c.JOB_LABEL), labels.get(c.RUN_LABEL), labels.get(c.MANAGED_BY_LABEL)) != (
            job_name, run_id, c.MANAGED_BY):
        return False
    return any(ref.controller and ref.kind == c.JOB_KIND and ref.api_version == c.API_VERSION
               and ref.name == job_name and (job_uid is None or ref.uid == job_uid)
               for ref in _meta(config_map).owner_references or [])


def _manifest(job: dict, run_id: str, chunk: ResultChunk, parts: int, total_rows: int, partial: bool) -> dict:
    namespace, job_name = job["metadata"]["namespace"], job["metadata"]["name"]
    return {
        "metadata": {
            "name": result_config_map_name(job_name, run_id, chunk.index), "namespace": namespace,
            "ownerReferences": [owner_reference(job)],
            "labels": {c.JOB_LABEL: job_name, c.RUN_LABEL: run_id, c.PART_LABEL: str(chunk.index),
                       c.MANAGED_BY_LABEL: c.MANAGED_BY},
            "annotations": {f"{c.GROUP}/first-row": str(chunk.first_row),
                            f"{c.GROUP}/row-count": str(chunk.row_count),
                            f"{c.GROUP}/parts": str(parts),
                            f"{c.GROUP}/total-rows": str(total_rows),
                            f"{c.GROUP}/partial": "true" if partial else "false"},
        },
        "data": {RESULTS_KEY: chunk.payload},
        "immutable": True,  # results are written once: no `update` in the operator's RBAC
    }


def _same_content(existing: kubernetes.client.V1ConfigMap, body: dict) -> bool:
    return (existing.data == body["data"] and bool(existing.immutable)
            and (_meta(existing).annotations or {}) == body["metadata"]["annotations"])


def delete_checked(config_map: kubernetes.client.V1ConfigMap) -> None:
    """Delete exactly the object that was checked: a replaced one (new uid) is left alone."""
    meta = _meta(config_map)
    preconditions = kubernetes.client.V1Preconditions(uid=meta.uid, resource_version=meta.resource_version)
    try:
        core().delete_namespaced_config_map(str(meta.name), str(meta.namespace),
                                            body=kubernetes.client.V1DeleteOptions(preconditions=preconditions),
                                            _request_timeout=REQUEST_TIMEOUT)
    except kubernetes.client.ApiException as error:
        if not is_not_found(error) and error.status != 409:  # 409: changed since checked, so not ours to delete
            raise


def _write_one(job: dict, run_id: str, body: dict) -> None:
    """Create the ConfigMap. If the name is taken by this run's own complete copy (a rerun of the run
    after a restart), reuse it; by this run's own stale copy, delete and create it; by anything
    else, raise ResultsConflict and touch nothing."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    for _ in range(2):
        try:
            core().create_namespaced_config_map(namespace, body, _request_timeout=REQUEST_TIMEOUT)
            return
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
        try:
            existing = core().read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except kubernetes.client.ApiException as error:
            if is_not_found(error):
                continue  # deleted meanwhile: create again
            raise
        if not is_run_result(existing, job["metadata"]["name"], run_id, job["metadata"]["uid"]):
            raise ResultsConflict(namespace, name)
        if _same_content(existing, body):
            return
        delete_checked(existing)
    raise ResultsConflict(namespace, name)


def write_results(job: dict, run_id: str, chunks: list[ResultChunk], *, total_rows: int,
                  partial: bool = False) -> list[str]:
    """One immutable ConfigMap per chunk; returns their names. On a conflict the ConfigMaps this
    call created are removed again, so a failed run leaves none of its results behind."""
    written: list[str] = []
    try:
        for chunk in chunks:
            body = _manifest(job, run_id, chunk, len(chunks), total_rows, partial)
            _write_one(job, run_id, body)
            written.append(body["metadata"]["name"])
    except ResultsConflict:
        _delete_run_results(job["metadata"]["namespace"], job["metadata"]["name"], run_id,
                            job["metadata"]["uid"], keep=())
        raise
    # Parts beyond this write's count, left by an earlier attempt of the same run, go too.
    _delete_run_results(job["metadata"]["namespace"], job["metadata"]["name"], run_id, job["metadata"]["uid"],
                        keep=written)
    return written


def _delete_run_results(namespace: str, job_name: str, run_id: str, job_uid: str | None,
                        keep: tuple[str, ...] | list[str]) -> None:
    selector = f"{c.JOB_LABEL}={job_name},{c.RUN_LABEL}={run_id}"
    items = core().list_namespaced_config_map(namespace, label_selector=selector,
                                              _request_timeout=REQUEST_TIMEOUT).items
    for config_map in items:
        name = _meta(config_map).name
        if name in keep:
            continue
        if is_run_result(config_map, job_name, run_id, job_uid):
            delete_checked(config_map)
        else:
            log.warning("left ConfigMap %s/%s alone: labelled as results of %s run %s, but not created by it",
                        namespace, name, job_name, run_id)


def delete_run_results(namespace: str, job_name: str, run_id: str, job_uid: str | None = None) -> None:
    """Delete the run's results: only the ConfigMaps this job created for it (labels and owner)."""
    _delete_run_results(namespace, job_name, run_id, job_uid, keep=())


def read_results(namespace: str, names: list[str]) -> list[str]:
    """The JSON payloads of `names`, for the CLI and the demo."""
    return [core().read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT).data[RESULTS_KEY] for name in names]
