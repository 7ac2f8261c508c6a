"""Fixtures shared by every test: the cluster (real, never mocked) and a namespace per test."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import kubernetes
import pytest

from tests.support.kube import REPO_ROOT, USE_EXISTING_CLUSTER, Kube, client_for, install_crds, unique_name

CRD_DIR = REPO_ROOT / "crds"


@pytest.fixture(scope="session")
def kube() -> Kube:
    """The cluster for this test run: started once (local control plane), or an opted-in existing one."""
    if USE_EXISTING_CLUSTER:
        kubeconfig = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
        api = client_for(kubeconfig)
        install_crds(api, CRD_DIR)
        yield Kube(kubeconfig, api)
        return

    from localcluster import LocalCluster, build_binaries

    with tempfile.TemporaryDirectory(prefix="localcluster-") as state_root:
        cluster = LocalCluster(Path(state_root) / "cluster", build_binaries())
        # CRDs go in before the controller-manager starts, so its garbage collector watches them at once.
        cluster.start(before_controllers=lambda c: install_crds(client_for(c.kubeconfig), CRD_DIR))
        try:
            yield Kube(cluster.kubeconfig, client_for(cluster.kubeconfig))
        finally:
            cluster.stop()


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> str:
    """A fresh namespace for one test, deleted afterwards."""
    readable = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    name = unique_name(f"t-{readable}")
    kube.core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
    yield name
    release_finalizers(kube, name)
    try:
        kube.core.delete_namespace(name)
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise


def release_finalizers(kube: Kube, namespace: str) -> None:
    """The operator that put its finalizer on the test's jobs has stopped by now; without this the
    namespace would stay Terminating (for ever on an existing cluster)."""
    from wallaroo_operator import constants as c

    jobs = kube.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL)["items"]
    for job in jobs:
        if job["metadata"].get("finalizers"):
            kube.custom.patch_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL,
                                                       job["metadata"]["name"], {"metadata": {"finalizers": None}})
