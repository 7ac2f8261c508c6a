"""The worker's Kubernetes calls, each allowed by the run's Role: get its input ConfigMaps (by name),
create results ConfigMaps (never replace one), patch its progress ConfigMap."""

from __future__ import annotations

import json
from collections.abc import Iterator

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.data.inputs import InputPart
from wallaroo_operator.data.results import RESULTS_KEY, ResultChunk
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core, is_not_found
from wallaroo_operator.kube.references import MissingReference
from wallaroo_operator.kube.results_store import owner_reference, result_config_map_name
from wallaroo_operator.worker.manifest import RunManifest

SHARD_LABEL = f"{c.GROUP}/shard"


class ResultsConflict(RuntimeError):
    """A results ConfigMap of this name exists and was not written for this run: never replaced."""

    reason = "ResultsConflict"


def input_parts(namespace: str, refs: list[tuple[str, str]]) -> Iterator[InputPart]:
    """One ConfigMap at a time, read as raw JSON (no client model objects around a 1 MiB payload)."""
    for name, key in refs:
        try:
            response = core().read_namespaced_config_map(name, namespace, _preload_content=False,
                                                         _request_timeout=REQUEST_TIMEOUT)
        except kubernetes.client.ApiException as error:
            if is_not_found(error):
                raise MissingReference("ConfigMapNotFound", f"ConfigMap {namespace}/{name} not found") from None
            raise
        config_map = json.loads(response.data)
        del response
        source = f"{name}/{key}"
        if key in (config_map.get("binaryData") or {}):
            yield InputPart(source, binary_b64=config_map["binaryData"][key])
        elif key in (config_map.get("data") or {}):
            yield InputPart(source, text=config_map["data"][key])
        else:
            raise MissingReference("ConfigMapKeyNotFound", f"ConfigMap {namespace}/{name} has no key {key!r} in "
                                                           "data or binaryData")


def results_name(manifest: RunManifest, shard: int, index: int) -> str:
    run = manifest.run_id if manifest.shards == 1 else f"{manifest.run_id}-s{shard}"
    return result_config_map_name(manifest.job_name, run, index)


def results_body(manifest: RunManifest, shard: int, chunk: ResultChunk) -> dict:
    return {
        "metadata": {
            "name": results_name(manifest, shard, chunk.index), "namespace": manifest.namespace,
            "ownerReferences": [owner_reference(manifest.owner())],
            "labels": {c.JOB_LABEL: manifest.job_name, c.RUN_LABEL: manifest.run_id,
                       c.PART_LABEL: str(chunk.index), SHARD_LABEL: str(shard), c.MANAGED_BY_LABEL: c.MANAGED_BY},
            "annotations": {f"{c.GROUP}/first-row": str(chunk.first_row),
                            f"{c.GROUP}/row-count": str(chunk.row_count), f"{c.GROUP}/partial": "false"},
        },
        "data": {RESULTS_KEY: chunk.payload},
        "immutable": True,
    }


def create_results(manifest: RunManifest, shard: int, chunk: ResultChunk) -> str:
    """Create-only. The same chunk written by an earlier attempt of this run is accepted as it is."""
    body = results_body(manifest, shard, chunk)
    name = body["metadata"]["name"]
    try:
        core().create_namespaced_config_map(manifest.namespace, body, _request_timeout=REQUEST_TIMEOUT)
        return name
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise
    existing = core().read_namespaced_config_map(name, manifest.namespace, _request_timeout=REQUEST_TIMEOUT)
    ours = (any(o.uid == manifest.job_uid for o in existing.metadata.owner_references or [])
            and (existing.metadata.labels or {}).get(c.RUN_LABEL) == manifest.run_id)
    if not (ours and (existing.data or {}).get(RESULTS_KEY) == chunk.payload):
        raise ResultsConflict(f"ConfigMap {manifest.namespace}/{name} already exists and was not written by this "
                              "run with these results; it is left as it is: delete or rename it")
    return name


def patch_progress(manifest: RunManifest, key: str, value: dict) -> None:
    """A merge patch of one key: shards report side by side without conflicts."""
    core().patch_namespaced_config_map(manifest.progress_config_map, manifest.namespace,
                                       {"data": {key: json.dumps(value, separators=(",", ":"))}},
                                       _request_timeout=REQUEST_TIMEOUT)
