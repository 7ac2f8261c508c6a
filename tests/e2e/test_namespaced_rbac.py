"""The namespaced install (manifests/namespaced/, rendered by kustomize) works: the operator, run
with only a Role in the namespace it watches, runs a job and checks its connection."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes
import pytest
import yaml

from tests.support.kube import REPO_ROOT, USE_EXISTING_CLUSTER, Kube
from tests.support.operator import aloha_rows, create_input
from tests.support.rbac import operator_process, run_succeeds_under_rbac, service_account_kubeconfig

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(USE_EXISTING_CLUSTER, reason="installs cluster-wide RBAC: local cluster only"),
]


def rendered_namespaced_install(tmp_path: Path) -> list[dict]:
    """`kubectl kustomize` of an overlay as docs/deploy.md shows it: manifests/ plus the namespaced
    component (linked in, since kustomize takes neither absolute paths nor an overlay inside its base)."""
    from localcluster import build_binaries

    overlay = tmp_path / "my-install"
    overlay.mkdir()
    (overlay / "manifests").symlink_to(REPO_ROOT / "manifests")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["manifests"],
                "components": ["manifests/namespaced"],
            }
        )
    )
    out = subprocess.run(
        [str(build_binaries().kubectl), "kustomize", str(overlay)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_the_rendered_namespaced_install_has_no_cluster_wide_grant(tmp_path: Path):
    documents = rendered_namespaced_install(tmp_path)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert ("ClusterRole", "wallaroo-inference-operator") not in kinds
    assert ("ClusterRoleBinding", "wallaroo-inference-operator") not in kinds
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    roles = {d["metadata"]["namespace"] for d in documents if d["kind"] == "Role"}
    assert {a.removeprefix("--namespace=") for a in args} == roles == {"team-a", "team-b"}
    assert all(
        "namespace" not in d["metadata"]
        for d in documents
        if d["kind"]
        in ("ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    )


def install_for(kube: Kube, namespace: str, account: str, tmp_path: Path) -> list[tuple[str, str]]:
    """The rendered install's RBAC, for `namespace` and a ServiceAccount of its own (so no cluster-wide
    grant another test installed applies). Returns the cluster-scoped objects to remove afterwards."""
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    subject = [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    documents = rendered_namespaced_install(tmp_path)
    role, binding = (
        next(d for d in documents if d["kind"] == kind and d["metadata"]["namespace"] == "team-a")
        for kind in ("Role", "RoleBinding")
    )
    cluster_scoped = []
    for document in (role, binding):
        document["metadata"]["namespace"] = namespace
    binding["subjects"] = subject
    kube.apply_manifest(role, namespace=namespace)
    kube.apply_manifest(binding, namespace=namespace)
    for document in documents:
        if document["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            document["metadata"]["name"] += f"-{namespace}"
            if document["kind"] == "ClusterRoleBinding":
                document["roleRef"]["name"] += f"-{namespace}"
                document["subjects"] = subject
            kube.apply_manifest(document)
            cluster_scoped.append((document["kind"], document["metadata"]["name"]))
    return cluster_scoped


def test_the_operator_runs_a_job_with_only_the_namespaced_roles(
    kube: Kube, namespace, simulator, connection, tmp_path: Path
):
    cluster_scoped = install_for(kube, namespace, "scoped-operator", tmp_path)
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api)
    try:
        kubeconfig = service_account_kubeconfig(kube, tmp_path / "operator.kubeconfig", namespace, "scoped-operator")
        log_path = tmp_path / "operator.log"
        create_input(kube, namespace, "input", {"text_input": aloha_rows(3)})
        with operator_process(kubeconfig, log_path, f"--namespace={namespace}"):
            run_succeeds_under_rbac(kube, namespace, "scoped", "the Role", results_deleted=True)
    finally:
        for kind, name in cluster_scoped:
            delete = rbac.delete_cluster_role if kind == "ClusterRole" else rbac.delete_cluster_role_binding
            delete(name)
    log_text = log_path.read_text()
    assert f'system:serviceaccount:{namespace}:scoped-operator" cannot' not in log_text, log_text[-3000:]
    assert "Not enough permissions" not in log_text, log_text[-3000:]
