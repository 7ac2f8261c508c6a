"""Which input ConfigMaps a run reads, in order, looked up by metadata only: the operator never downloads
input data; the worker reads it, allowed by name."""

from __future__ import annotations

import json
from typing import Any

from wallaroo_operator.data.inputs import InputError, natural_key
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core
from wallaroo_operator.kube.references import MissingReference
from wallaroo_operator.models.job import InputSpec

METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def _metadata_list(namespace: str, **selectors: str) -> list[dict[str, Any]]:
    response = core().list_namespaced_config_map(
        namespace,
        **selectors,
        _preload_content=False,
        _headers={"Accept": METADATA_ONLY},
        _request_timeout=REQUEST_TIMEOUT,
    )
    items: list[dict[str, Any]] = json.loads(response.data).get("items") or []
    return items


def input_refs(namespace: str, spec: InputSpec) -> list[tuple[str, str]]:
    """(ConfigMap, key) in read order: as listed, or by name (numbers compare as numbers) for a selector.
    Raises MissingReference for a listed ConfigMap that does not exist (yet)."""
    if spec.config_maps:
        for ref in spec.config_maps:
            if not _metadata_list(namespace, field_selector=f"metadata.name={ref.name}"):
                raise MissingReference("ConfigMapNotFound", f"ConfigMap {namespace}/{ref.name} not found")
        return [(ref.name, ref.key or spec.key) for ref in spec.config_maps]
    if spec.selector is None:  # input.objectStore: read by the run's worker, not wired into this path yet
        raise InputError(
            "UnsupportedInput",
            "input.objectStore is not supported by this operator version yet; use input.configMaps or input.selector",
        )
    selector = ",".join(f"{k}={v}" for k, v in sorted(spec.selector.match_labels.items()))
    names = [item["metadata"]["name"] for item in _metadata_list(namespace, label_selector=selector)]
    if not names:
        raise MissingReference("ConfigMapNotFound", f"no ConfigMap in {namespace} matches the labels {selector}")
    return [(name, spec.key) for name in sorted(names, key=natural_key)]
