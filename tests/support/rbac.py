"""Installing the shipped RBAC and admission manifests, acting as a ServiceAccount, and checking that the
operator did all it does for a run under that RBAC."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import yaml

from tests.support.kube import REPO_ROOT, Kube, load_yaml_documents
from tests.support.operator import condition, create_job, phase_is, result_config_maps, wait_for_job
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c


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


@contextlib.contextmanager
def operator_process(kubeconfig: Path, log_path: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """The operator as its own process (`python -m wallaroo_operator run *args`), authenticating with
    `kubeconfig` alone, its output in `log_path`; stopped on leaving."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "WALLAROO_OPERATOR_METRICS_PORT": ""}
    command = [sys.executable, "-m", "wallaroo_operator", "run", *args, "--liveness=http://127.0.0.1:0/healthz"]
    with log_path.open("w") as log:
        operator = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield operator
    finally:
        operator.terminate()
        operator.wait(timeout=60)


def run_succeeds_under_rbac(kube: Kube, namespace: str, job_name: str, rbac: str, *, results_deleted: bool) -> None:
    """Create an InferenceJob keeping no successful results, then wait for what the operator writes for it
    under the RBAC being tested (`rbac` names it in the timeout messages): the job Succeeded, the connection
    `wallaroo` Ready in its status, and, if `results_deleted`, the results deleted by the history limit."""
    create_job(kube, namespace, job_name, successfulRunsHistoryLimit=0)
    job = wait_for_job(kube, namespace, job_name, phase_is("Succeeded", "Failed"), timeout=120)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    wait_for(
        lambda: connection_ready(kube, namespace, "wallaroo"),
        timeout=60,
        what=f"the connection's status, written under {rbac}",
    )
    if results_deleted:
        wait_for(
            lambda: not result_config_maps(kube, namespace, job_name),
            timeout=60,
            what="the results beyond the history limit deleted",
        )


def connection_ready(kube: Kube, namespace: str, name: str) -> bool:
    connection = kube.custom.get_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, name)
    return condition(connection, "Ready").get("status") == "True"
