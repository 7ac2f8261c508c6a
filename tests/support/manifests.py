"""This operator's objects as plain manifests (dicts), pointing at a running simulator: what the e2e tests
create in the cluster, the `run-job` tests write into -f files, and the benchmarks apply."""

from __future__ import annotations

import json
from typing import Any

from wallaroo_operator import constants as c


def connection_manifest(
    sim: Any, name: str = "wallaroo", secret: str = "wallaroo-credentials", **spec: Any
) -> dict[str, Any]:
    """A WallarooConnection to the simulator `sim` (api_url, token_url, client), its Secret named `secret`."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.CONNECTION_KIND,
        "metadata": {"name": name},
        "spec": {
            "apiUrl": sim.api_url,
            "tokenUrl": sim.token_url,
            "clientId": sim.client,
            "credentialsSecretRef": {"name": secret},
            **spec,
        },
    }


def job_manifest(
    name: str,
    *,
    workspace: str = "urldemoworkspace",
    pipeline: str = "urldemopipeline",
    inputs: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An InferenceJob on the connection `wallaroo`, reading the ConfigMaps `inputs`; `spec` adds or replaces."""
    base = {
        "connectionRef": {"name": "wallaroo"},
        "workspace": workspace,
        "pipeline": pipeline,
        "input": {"configMaps": [{"name": n} for n in (inputs or ["input"])]},
    }
    return {"apiVersion": c.API_VERSION, "kind": c.JOB_KIND, "metadata": {"name": name}, "spec": {**base, **spec}}


def rows_config_map(name: str, rows: list[Any], input_name: str = "text_input") -> dict[str, Any]:
    """An input ConfigMap holding `rows` as one JSON document under data.json."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"data.json": json.dumps({input_name: rows})},
    }
