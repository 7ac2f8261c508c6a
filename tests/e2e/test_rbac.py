"""The operator works with exactly the RBAC in manifests/: run as that ServiceAccount, not as admin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kube import USE_EXISTING_CLUSTER, Kube
from tests.support.operator import (
    aloha_rows,
    condition,
    create_input,
    create_job,
    phase_is,
    result_config_maps,
    wait_for_job,
)
from tests.support.rbac import apply_manifests, service_account_kubeconfig
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c

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
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "WALLAROO_OPERATOR_METRICS_PORT": ""}
    with log_path.open("w") as log:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wallaroo_operator",
                "run",
                "--liveness=http://127.0.0.1:0/healthz",
            ],  # all namespaces, as deployed
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        create_job(kube, namespace, "least-privilege", successfulRunsHistoryLimit=0)  # also deletes results
        job = wait_for_job(kube, namespace, "least-privilege", phase_is("Succeeded", "Failed"), timeout=120)
        assert job["status"]["phase"] == "Succeeded", job["status"]
        wait_for(
            lambda: (
                condition(
                    kube.custom.get_namespaced_custom_object(
                        c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, "wallaroo"
                    ),
                    "Ready",
                ).get("status")
                == "True"
            ),
            timeout=60,
            what="the connection's status, written under the same RBAC",
        )
        wait_for(
            lambda: not result_config_maps(kube, namespace, "least-privilege"),
            timeout=60,
            what="the results beyond the history limit deleted, one by one",
        )
    finally:
        operator.terminate()
        operator.wait(timeout=60)
    denied = 'system:serviceaccount:wallaroo-operator:wallaroo-operator" cannot'  # how RBAC says no
    assert denied not in log_path.read_text(), log_path.read_text()[-3000:]
    assert "wallaroo-inference-operator-configmaps" not in log_path.read_text()  # how the policy says no
