"""Fixtures for tests that run the operator as users deploy it: its image, from manifests/, in the node."""

from __future__ import annotations

import pytest

from tests.support.node import OVERLAY, NodeSession
from wallaroo_simulator import run_simulator

OPERATOR_NAMESPACE = "wallaroo-operator"


@pytest.fixture
def pod_simulator(node: NodeSession):
    """The simulator, listening on the address pods reach the host at (so the URLs it hands out work
    from a pod and from the test alike)."""
    with run_simulator(host=node.gateway) as sim:
        yield sim


@pytest.fixture(scope="module")
def deployed_operator(node_session: NodeSession):
    """The operator image of this checkout, deployed with `kubectl apply -k hack/overlays/local/`
    (CRDs are in already), Available; removed again after the module."""
    node = node_session.ensure()
    node.operator_image()
    node.kubectl("apply", "-k", str(OVERLAY))
    try:
        node.kubectl(
            "rollout", "status", "-n", OPERATOR_NAMESPACE, "deployment/wallaroo-operator", "--timeout=180s", timeout=200
        )
        yield node
    finally:
        node.kubectl("delete", "-k", str(OVERLAY), "--ignore-not-found", "--timeout=180s", timeout=200, check=False)
