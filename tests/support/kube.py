"""Access to the cluster under test: the local control plane, or an opted-in existing cluster."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import yaml

# Like controller-runtime's envtest: a developer's real cluster is used only on explicit request.
USE_EXISTING_CLUSTER = os.environ.get("USE_EXISTING_CLUSTER", "").lower() in ("1", "true", "yes")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Kube:
    kubeconfig: Path
    api: kubernetes.client.ApiClient

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    @property
    def extensions(self) -> kubernetes.client.ApiextensionsV1Api:
        return kubernetes.client.ApiextensionsV1Api(self.api)

    def apply_manifest(self, manifest: dict, namespace: str | None = None) -> dict:
        """Create one object from a manifest dict (the dynamic client knows every kind)."""
        dynamic = kubernetes.dynamic.DynamicClient(self.api)
        resource = dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        return dynamic.create(resource, body=manifest, namespace=namespace).to_dict()


def client_for(kubeconfig: Path) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def crd_established(extensions: kubernetes.client.ApiextensionsV1Api, name: str) -> bool:
    crd = extensions.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


def install_crds(api: kubernetes.client.ApiClient, crd_dir: Path) -> list[str]:
    """Create or replace every CRD in `crd_dir` and wait until each is Established."""
    from tests.support.waiting import wait_for

    extensions = kubernetes.client.ApiextensionsV1Api(api)
    names = []
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in load_yaml_documents(path):
            name = crd["metadata"]["name"]
            try:
                existing = extensions.read_custom_resource_definition(name)
                crd["metadata"]["resourceVersion"] = existing.metadata.resource_version
                extensions.replace_custom_resource_definition(name, crd)
            except kubernetes.client.ApiException as error:
                if error.status != 404:
                    raise
                extensions.create_custom_resource_definition(crd)
            names.append(name)
    for name in names:
        wait_for(lambda name=name: crd_established(extensions, name), timeout=30, what=f"CRD {name} Established")
    return names
