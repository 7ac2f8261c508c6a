"""The operator works with exactly the RBAC in manifests/: run as that ServiceAccount, not as admin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest
import yaml

from tests.support.kube import REPO_ROOT, USE_EXISTING_CLUSTER, Kube, load_yaml_documents
from tests.support.operator import aloha_rows, condition, create_input, create_job, phase_is, wait_for_job
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(USE_EXISTING_CLUSTER, reason="installs cluster-wide RBAC: local cluster only")]


def apply_manifests(kube: Kube, *names: str) -> None:
    for name in names:
        for document in load_yaml_documents(REPO_ROOT / "manifests" / name):
            try:
                kube.apply_manifest(document, namespace=document["metadata"].get("namespace"))
            except kubernetes.client.ApiException as error:
                if error.status != 409:  # already there from an earlier run against this cluster
                    raise


def service_account_kubeconfig(kube: Kube, path: Path) -> Path:
    token = kube.core.create_namespaced_service_account_token(
        "wallaroo-operator", "wallaroo-operator", {"spec": {"expirationSeconds": 3600}}).status.token
    admin = kube.api.configuration
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "local", "cluster": {"server": admin.host, "certificate-authority": admin.ssl_ca_cert}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}]}))
    return path


def test_the_operator_needs_no_more_than_its_cluster_role(kube: Kube, namespace, simulator, connection,
                                                          tmp_path: Path):
    apply_manifests(kube, "namespace.yaml", "serviceaccount.yaml", "rbac.yaml")
    kubeconfig = service_account_kubeconfig(kube, tmp_path / "operator.kubeconfig")
    log_path = tmp_path / "operator.log"
    create_input(kube, namespace, "input", {"text_input": aloha_rows(5)})
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "WALLAROO_OPERATOR_METRICS_PORT": ""}
    with log_path.open("w") as log:
        operator = subprocess.Popen([sys.executable, "-m", "wallaroo_operator", "run",
                                     "--liveness=http://127.0.0.1:0/healthz"],  # all namespaces, as deployed
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        create_job(kube, namespace, "least-privilege", successfulRunsHistoryLimit=0)  # also deletes results
        job = wait_for_job(kube, namespace, "least-privilege", phase_is("Succeeded", "Failed"), timeout=120)
        assert job["status"]["phase"] == "Succeeded", job["status"]
        wait_for(lambda: condition(kube.custom.get_namespaced_custom_object(
            c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, "wallaroo"), "Ready").get("status") == "True",
            timeout=60, what="the connection's status, written under the same RBAC")
    finally:
        operator.terminate()
        operator.wait(timeout=60)
    denied = 'system:serviceaccount:wallaroo-operator:wallaroo-operator" cannot'  # how RBAC says no
    assert denied not in log_path.read_text(), log_path.read_text()[-3000:]
