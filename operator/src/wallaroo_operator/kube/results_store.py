"""Results ConfigMaps: written owned by the job (garbage-collected with it), found and deleted by labels."""

from __future__ import annotations

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.data.results import RESULTS_KEY, ResultChunk
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core


def owner_reference(job: dict) -> dict:
    # Set by hand rather than kopf.adopt(), which would also copy the job's labels (Argo CD's
    # tracking label among them) and make the results look like part of the user's app.
    return {"apiVersion": c.API_VERSION, "kind": c.JOB_KIND, "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"], "controller": True}


def result_config_map_name(job_name: str, run_id: str, index: int) -> str:
    return f"{job_name}-{run_id}-{index}"[:253].rstrip("-.")


def write_results(job: dict, run_id: str, chunks: list[ResultChunk], *, total_rows: int,
                  partial: bool = False) -> list[str]:
    """Create (or replace, when a restarted run writes again) one ConfigMap per chunk."""
    namespace, job_name = job["metadata"]["namespace"], job["metadata"]["name"]
    names = []
    for chunk in chunks:
        name = result_config_map_name(job_name, run_id, chunk.index)
        body = {
            "metadata": {
                "name": name, "namespace": namespace, "ownerReferences": [owner_reference(job)],
                "labels": {c.JOB_LABEL: job_name, c.RUN_LABEL: run_id, c.PART_LABEL: str(chunk.index),
                           c.MANAGED_BY_LABEL: c.MANAGED_BY},
                "annotations": {f"{c.GROUP}/first-row": str(chunk.first_row),
                                f"{c.GROUP}/row-count": str(chunk.row_count),
                                f"{c.GROUP}/parts": str(len(chunks)),
                                f"{c.GROUP}/total-rows": str(total_rows),
                                f"{c.GROUP}/partial": "true" if partial else "false"},
            },
            "data": {RESULTS_KEY: chunk.payload},
        }
        try:
            core().create_namespaced_config_map(namespace, body, _request_timeout=REQUEST_TIMEOUT)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
            core().replace_namespaced_config_map(name, namespace, body, _request_timeout=REQUEST_TIMEOUT)
        names.append(name)
    return names


def delete_run_results(namespace: str, job_name: str, run_id: str) -> None:
    core().delete_collection_namespaced_config_map(
        namespace, label_selector=f"{c.JOB_LABEL}={job_name},{c.RUN_LABEL}={run_id}",
        _request_timeout=REQUEST_TIMEOUT)


def read_results(namespace: str, names: list[str]) -> str:
    """The JSON payloads of `names`, for the CLI and the demo."""
    return [core().read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT).data[RESULTS_KEY] for name in names]
