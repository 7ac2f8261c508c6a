"""Installing the shipped RBAC and admission manifests, and acting as a ServiceAccount."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import yaml

from tests.support.kube import REPO_ROOT, Kube, load_yaml_documents


def apply_manifests(kube: Kube, *names: str) -> None:
    """Create the objects of manifests/<name>, leaving ones already there from an earlier test."""
    for name in names:
        for document in load_yaml_documents(REPO_ROOT / "manifests" / name):
            try:
                kube.apply_manifest(document, namespace=document["metadata"].get("namespace"))
            except kubernetes.client.ApiException as error:
                if error.status != 409:  # already there from an earlier run against this cluster
                    raise


def service_account_kubeconfig(
    kube: Kube, path: Path, namespace: str = "wallaroo-operator", name: str = "wallaroo-operator"
) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount, with a fresh bound token."""
    token = kube.core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    admin = kube.api.configuration
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "operator",
                "clusters": [
                    {"name": "local", "cluster": {"server": admin.host, "certificate-authority": admin.ssl_ca_cert}}
                ],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
            }
        )
    )
    return path
