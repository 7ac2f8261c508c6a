"""End-to-end fixtures: the simulator (a real HTTP server) and the operator (kopf, in a thread)."""

from __future__ import annotations

import os

import pytest

from tests.support.kube import Kube
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


@pytest.fixture
def simulator():
    with run_simulator() as sim:
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
