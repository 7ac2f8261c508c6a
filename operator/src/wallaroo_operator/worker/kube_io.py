"""The worker's Kubernetes calls, each allowed by the run's Role: get its input ConfigMaps (by name),
create results ConfigMaps (never replace one; kube/results_store.py), patch its progress ConfigMap.
Each rides out an API server outage within a budget (kube/backoff.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import kubernetes

from wallaroo_operator.data.inputs import InputPart
from wallaroo_operator.data.results import ResultChunk
from wallaroo_operator.kube import backoff, results_store
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core, is_not_found
from wallaroo_operator.kube.references import MissingReference
from wallaroo_operator.worker.manifest import RunManifest

log = logging.getLogger(__name__)


def _read_raw(namespace: str, name: str) -> Any:
    return backoff.call(
        lambda: core().read_namespaced_config_map(
            name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        ),
        what=f"reading input ConfigMap {name}",
    )


def input_parts(namespace: str, refs: list[tuple[str, str]]) -> Iterator[InputPart]:
    """One ConfigMap at a time, read as raw JSON (no client model objects around a 1 MiB payload)."""
    for name, key in refs:
        try:
            response = _read_raw(namespace, name)
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
            raise MissingReference(
                "ConfigMapKeyNotFound", f"ConfigMap {namespace}/{name} has no key {key!r} in data or binaryData"
            )


def results_target(manifest: RunManifest) -> results_store.RunResultsTarget:
    return results_store.RunResultsTarget(
        manifest.namespace, manifest.job_name, manifest.job_uid, manifest.run_id, manifest.shards
    )


def results_name(manifest: RunManifest, shard: int, index: int) -> str:
    return results_store.part_name(results_target(manifest), shard, index)


def create_results(manifest: RunManifest, shard: int, chunk: ResultChunk) -> str:
    """Create-only (results_store.create_part), retried while the API server is away."""
    return backoff.call(
        lambda: results_store.create_part(results_target(manifest), shard, chunk),
        what=f"creating results part {chunk.index} of shard {shard}",
    )


def patch_progress(manifest: RunManifest, key: str, value: dict[str, Any]) -> None:
    """A merge patch of one key: shards report side by side without conflicts. The outcome (Succeeded,
    Failed) is retried while the API server is away; a progress report is skipped then: the rows go on,
    and the next report, a few seconds later, says where they are."""

    def patch() -> None:
        core().patch_namespaced_config_map(
            manifest.progress_config_map,
            manifest.namespace,
            {"data": {key: json.dumps(value, separators=(",", ":"))}},
            _request_timeout=REQUEST_TIMEOUT,
        )

    if value.get("state") != "Running":
        return backoff.call(patch, what=f"reporting the outcome of shard {key}")
    try:
        patch()
    except Exception as error:
        if not backoff.is_transient(error):
            raise
        log.warning("progress not reported (%s); the run goes on", backoff.describe(error))
