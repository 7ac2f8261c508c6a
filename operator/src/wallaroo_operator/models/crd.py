"""Generate the CRD manifests from the pydantic models: the models are the single source of truth.

`python -m wallaroo_operator crds` writes crds/*.yaml; a test fails when those files drift.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from wallaroo_operator import constants as c
from wallaroo_operator.models.connection import WallarooConnectionSpec, WallarooConnectionStatus
from wallaroo_operator.models.job import InferenceJobSpec, InferenceJobStatus

# JSON Schema keywords that a structural OpenAPI v3 schema in a CRD accepts and that we use.
_KEPT = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "default",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "additionalProperties",
    "format",
    "minProperties",
    "maxProperties",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
}


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model as a structural schema: refs inlined, Optional unwrapped, titles dropped."""
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    return _structural_object(schema, schema.get("$defs", {}))


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    return _structural_object(node, defs)


def _structural_object(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        return _structural_object({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    if "anyOf" in node:  # `X | None`: the field is optional, never null on the wire (exclude_none)
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        if len(variants) == 1:
            merged = {**variants[0], **{k: v for k, v in node.items() if k != "anyOf"}}
            if merged.get("default", 0) is None:
                del merged["default"]
            return _structural_object(merged, defs)
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            # JSON Schema's numeric form; OpenAPI v3.0 (CRDs) wants the limit plus a boolean.
            node = {**node, limit: node[bound], bound: True}
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEPT:
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value, defs)
        elif key == "description":
            out[key] = " ".join(value.split())  # docstrings wrap; `kubectl explain` re-wraps anyway
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" in out and "additionalProperties" in out:
        del out["additionalProperties"]  # structural schemas forbid both
    if isinstance(out.get("default"), dict):
        # An object defaults to {}: the server then fills in each field's own default.
        out["default"] = {}
    return out


def _conditions_as_map(status_schema: dict[str, Any]) -> dict[str, Any]:
    # Conditions are keyed by type, so server-side apply and strategic merges treat them as a map.
    conditions = status_schema["properties"].get("conditions")
    if conditions:
        conditions["x-kubernetes-list-type"] = "map"
        conditions["x-kubernetes-list-map-keys"] = ["type"]
    return status_schema


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec_model: type[BaseModel],
    status_model: type[BaseModel],
    description: str,
    columns: list[dict[str, str]],
    rules: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    spec = openapi_schema(spec_model)
    status = _conditions_as_map(openapi_schema(status_model))
    status["description"] = "Observed state, written by the operator only."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{c.GROUP}",
            "labels": {"app.kubernetes.io/name": c.MANAGED_BY, "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": c.GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": [c.CATEGORY],
            },
            "scope": "Namespaced",
            "conversion": {"strategy": "None"},  # the server's default, written out so the CRD round-trips
            "versions": [
                {
                    "name": c.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                            **({"x-kubernetes-validations": rules} if rules else {}),
                        }
                    },
                }
            ],
        },
    }


def _column(name: str, path: str, kind: str = "string", description: str | None = None) -> dict[str, str]:
    column = {"name": name, "type": kind, "jsonPath": path}
    if description:
        column["description"] = description
    return column


def inference_job_crd() -> dict[str, Any]:
    return _crd(
        c.JOB_KIND,
        c.JOB_PLURAL,
        ["ijob", "ijobs"],
        InferenceJobSpec,
        InferenceJobStatus,
        "InferenceJob runs a Wallaroo pipeline over input held in ConfigMaps, once or on a cron schedule, "
        "and writes per-row results into ConfigMaps it owns.",
        [
            _column("Workspace", ".spec.workspace"),
            _column("Pipeline", ".spec.pipeline"),
            _column("Schedule", ".spec.schedule"),
            _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            _column("Phase", ".status.phase"),
            _column("Last Run", ".status.lastRun.completionTime", "date", "When the last run finished."),
            _column("Rows", ".status.lastRun.rows", "integer", "Rows in the last run."),
            _column(
                "Done",
                ".status.lastRun.progress.rowsDone",
                "integer",
                "Rows done so far by the active run (updated every few seconds).",
            ),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
        # The job's name labels its results ConfigMaps, and label values hold 63 characters.
        rules=[
            {
                "rule": "size(self.metadata.name) <= 63",
                "message": "an InferenceJob name has at most 63 characters (it labels the results)",
            }
        ],
    )


def wallaroo_connection_crd() -> dict[str, Any]:
    return _crd(
        c.CONNECTION_KIND,
        c.CONNECTION_PLURAL,
        ["wconn"],
        WallarooConnectionSpec,
        WallarooConnectionStatus,
        "WallarooConnection is one Wallaroo endpoint and the Secret with its credentials, shared by jobs.",
        [
            _column("API", ".status.apiUrl"),
            _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            _column("Reason", '.status.conditions[?(@.type=="Ready")].reason'),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
    )


def all_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD manifest."""
    return {
        f"{c.GROUP}_{c.JOB_PLURAL}.yaml": inference_job_crd(),
        f"{c.GROUP}_{c.CONNECTION_PLURAL}.yaml": wallaroo_connection_crd(),
    }
