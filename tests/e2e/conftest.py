"""End-to-end fixtures: the simulator (a real HTTP server) and the operator (kopf, in a thread)."""

from __future__ import annotations

import os

import pytest

from tests.support.kube import Kube
from tests.support.node import job_executor_environment
from tests.support.operator import (
    create_connection,
    create_credentials,
    running_operator,
)

# (The operator's short test backoffs are set in tests/conftest.py, before anything imports it.)
from wallaroo_simulator import run_simulator

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session", autouse=True)
def kubeconfig_for_operator(kube: Kube):
    """kopf and the operator's own client read KUBECONFIG: point both at the cluster under test."""
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(kube.kubeconfig)
    yield
    if previous is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = previous


@pytest.fixture(autouse=True)
def executor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the operator's runs execute: "local" (child processes), unless a test is parametrized
    (indirectly) with "job": then each run is a batch/v1 Job whose Pods run this checkout's image on the
    real node, e.g. `pytest.mark.parametrize("executor", ["local", JOB_EXECUTOR], indirect=True)`."""
    name = getattr(request, "param", "local")
    if name == "job":
        image = request.getfixturevalue("operator_image")
        for variable, value in job_executor_environment(image).items():
            monkeypatch.setenv(variable, value)
        monkeypatch.setattr("wallaroo_operator.executors._current", None)  # built again with these settings
    return name


@pytest.fixture
def simulator(executor: str, request: pytest.FixtureRequest):
    """Bound where the runs' workers reach it: loopback, or the node's gateway for worker Pods."""
    host = request.getfixturevalue("node").gateway if executor == "job" else "127.0.0.1"
    with run_simulator(host=host) as sim:
        yield sim


@pytest.fixture
def connection(kube: Kube, namespace: str, simulator):
    """A Secret and a WallarooConnection for the simulator's default world."""
    create_credentials(kube, namespace, simulator)
    return create_connection(kube, namespace, simulator)


@pytest.fixture
def operator(namespace: str):
    with running_operator(namespace) as runner:
        yield runner
