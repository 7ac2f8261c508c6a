"""The operator works with exactly the RBAC in manifests/: run as that ServiceAccount, not as admin."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kube import USE_EXISTING_CLUSTER, Kube
from tests.support.operator import aloha_rows, create_input
from tests.support.rbac import apply_manifests, operator_process, run_succeeds_under_rbac, service_account_kubeconfig

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(USE_EXISTING_CLUSTER, reason="installs cluster-wide RBAC: local cluster only"),
]


def test_the_operator_needs_no_more_than_its_cluster_role(kube: Kube, namespace, simulator, connection, tmp_path: Path):
    # The admission policy too: the operator must work within it (results are all it touches).
    apply_manifests(kube, "namespace.yaml", "serviceaccount.yaml", "rbac.yaml", "admission-policy.yaml")
    kubeconfig = service_account_kubeconfig(kube, tmp_path / "operator.kubeconfig")
    log_path = tmp_path / "operator.log"
    create_input(kube, namespace, "input", {"text_input": aloha_rows(5)})
    with operator_process(kubeconfig, log_path):  # all namespaces, as deployed
        run_succeeds_under_rbac(kube, namespace, "least-privilege", "the same RBAC", results_deleted=True)
    denied = 'system:serviceaccount:wallaroo-operator:wallaroo-operator" cannot'  # how RBAC says no
    assert denied not in log_path.read_text(), log_path.read_text()[-3000:]
    assert "wallaroo-inference-operator-configmaps" not in log_path.read_text()  # how the policy says no
