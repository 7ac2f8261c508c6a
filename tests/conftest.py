"""Fixtures shared by every test: the cluster (real, never mocked) and a namespace per test."""

from __future__ import annotations

import os

# Before anything imports the operator: its settings are read once per process (settings.py), and
# the tests wait on conditions, so short retry backoffs keep "wait until the Secret appears" quick.
# Set here, not in tests/e2e/conftest.py: collecting tests/chart or tests/cluster first imports the
# operator's modules, which would freeze the production defaults (5 s, up to 120 s) for the e2e tests.
os.environ.setdefault("WALLAROO_OPERATOR_RETRY_BASE_SECONDS", "0.5")
os.environ.setdefault("WALLAROO_OPERATOR_RETRY_CAP_SECONDS", "2")
os.environ.setdefault("WALLAROO_OPERATOR_STATUS_RETRY_CAP_SECONDS", "2")

import re
import shutil
import tempfile
from pathlib import Path

import kubernetes
import pytest

from tests.support import secret_scan
from tests.support.kube import REPO_ROOT, USE_EXISTING_CLUSTER, Kube, client_for, install_crds, unique_name
from tests.support.node import NodeSession, why_no_node

CRD_DIR = REPO_ROOT / "crds"
WORKER_LOG_DIR_ENV = "WALLAROO_WORKER_LOG_DIR"  # executors/local.py copies each worker's log there


# ---- the suite-wide secret scan (tests/support/secret_scan.py, docs/testing.md) ----------------------


def pytest_configure(config: pytest.Config) -> None:
    # The operator's client module keeps the kubernetes client from logging response bodies (Secrets' data,
    # tokens) in this process: imported first, so that it holds for the tests' own clients as well.
    import wallaroo_operator.kube.client  # noqa: F401

    worker_logs = tempfile.mkdtemp(prefix="worker-logs-")
    os.environ[WORKER_LOG_DIR_ENV] = worker_logs
    secret_scan.start(Path(worker_logs))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item):
    secret_scan.SESSION.current_test = item.nodeid
    yield
    secret_scan.SESSION.current_test = "(between tests)"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    findings = secret_scan.finish()
    shutil.rmtree(os.environ.pop(WORKER_LOG_DIR_ENV, ""), ignore_errors=True)
    session.config.stash[_SECRET_FINDINGS] = secret_scan.report(findings)
    if findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    for line in config.stash.get(_SECRET_FINDINGS, []):
        terminalreporter.write_line(line, red=line.startswith("SECRET"), bold=line.startswith("SECRET"))


_SECRET_FINDINGS = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def kube(_session_cluster) -> Kube:
    """The cluster for this test run: started once (local control plane), or an opted-in existing one."""
    return _session_cluster[0]


@pytest.fixture(scope="session")
def node_session(_session_cluster) -> NodeSession:
    """The session cluster's node, started on first use (tests that run Pods call `node`)."""
    return _session_cluster[1]


@pytest.fixture
def node(node_session: NodeSession) -> NodeSession:
    """A Ready node in the session cluster: skips (with the reason) where no node can run."""
    return node_session.ensure()


@pytest.fixture
def operator_image(node: NodeSession) -> str:
    """The reference of this checkout's operator image, built (cached layers) and loaded into the node."""
    return node.operator_image()


@pytest.fixture(scope="session")
def _session_cluster():
    if USE_EXISTING_CLUSTER:
        kubeconfig = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
        api = client_for(kubeconfig)
        install_crds(api, CRD_DIR)
        # No cluster-wide watch here: other namespaces are not the tests' (the namespace fixture collects theirs).
        yield Kube(kubeconfig, api), NodeSession(None, Path("kubectl"), why_no_node(user_cluster=True))
        return

    from localcluster import LocalCluster, build_binaries
    from localcluster.build import build_node_binaries

    binaries = build_binaries()
    reason = why_no_node(user_cluster=False)
    if reason is None:
        build_node_binaries()
    with tempfile.TemporaryDirectory(prefix="localcluster-") as state_root:
        # Made ready for a node where one can run; the node itself starts when a test first asks.
        cluster = LocalCluster(Path(state_root) / "cluster", binaries, with_node=reason is None)
        # CRDs go in before the controller-manager starts, so its garbage collector watches them at once.
        cluster.start(before_controllers=lambda c: install_crds(client_for(c.kubeconfig), CRD_DIR), node_now=False)
        try:
            session_kube = Kube(cluster.kubeconfig, client_for(cluster.kubeconfig))
            watch = secret_scan.ClusterWatch(session_kube, secret_scan.SESSION).start()
            try:
                yield session_kube, NodeSession(cluster, binaries.kubectl, reason)
            finally:
                watch.stop()
        finally:
            cluster.stop()


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> str:
    """A fresh namespace for one test, deleted afterwards."""
    readable = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    name = unique_name(f"t-{readable}")
    kube.core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
    yield name
    secret_scan.collect_namespace(kube, name, secret_scan.SESSION)  # before its events and statuses go
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
            kube.custom.patch_namespaced_custom_object(
                c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, job["metadata"]["name"], {"metadata": {"finalizers": None}}
            )
