"""The session cluster's node, for tests that run Pods: started on first use, one per machine.

`NodeSession.ensure()` starts the node (once; again after `release()`), `operator_image()` builds the
current checkout's image and loads it into the node (buildah's layer cache makes a source-only
change a matter of seconds), `reachable_from_pods(port)` forwards a loopback service to the address
pods reach the host at, and `release()` gives the machine's one node slot to a test that needs it.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster import images, node
from localcluster.forward import forwarding

OVERLAY = Path(__file__).resolve().parents[2] / "hack" / "overlays" / "local"

# The `executor` fixture's parameter for the Job executor (tests/e2e/conftest.py): its Pods need the real
# node, so it carries the marker `node` (skipped with the reason where no node can run).
JOB_EXECUTOR = pytest.param("job", marks=pytest.mark.node, id="job")


def job_executor_environment(image: str) -> dict[str, str]:
    """An operator with the Job executor whose worker Pods run `image` on the node and reach the API
    server the way hack/overlays/local/ routes the operator's own Pod (the node has no kube-proxy)."""
    return {
        "WALLAROO_OPERATOR_EXECUTOR": "job",
        "WALLAROO_OPERATOR_WORKER_IMAGE": image,
        "WALLAROO_OPERATOR_WORKER_HOST_ALIASES": json.dumps([{"ip": node.GATEWAY, "hostnames": ["kubernetes"]}]),
        "WALLAROO_OPERATOR_WORKER_ENV": json.dumps(
            {"KUBERNETES_SERVICE_HOST": "kubernetes", "KUBERNETES_SERVICE_PORT": str(node.APISERVER_PORT_FOR_PODS)}
        ),
    }


def why_no_node(user_cluster: bool) -> str | None:
    """Why this test session cannot have a node, or None."""
    if user_cluster:
        return "an existing cluster (USE_EXISTING_CLUSTER) is under test: its nodes are its own"
    if reason := node.why_not_here():
        return reason
    if owner := node.live_owner():
        return f"another local node runs on this machine ({owner}); only one can"
    return None


class NodeSession:
    """Owned by the session `kube` fixture; `cluster` is its LocalCluster (made `with_node`)."""

    def __init__(self, cluster, kubectl: Path, reason: str | None):
        self.cluster = cluster
        self.kubectl_path = kubectl
        self.reason = reason
        self._image_built = False

    @property
    def gateway(self) -> str:
        """The host's address as pods see it: bind a service here, or forward to it."""
        return node.GATEWAY

    def ensure(self) -> NodeSession:
        if self.reason:
            pytest.skip(f"no node: {self.reason}")
        if self.cluster.node is None:
            self.cluster.start_node()
        return self

    def release(self) -> None:
        """Stop the session's node (host restored); the next `ensure()` starts a fresh one."""
        if self.cluster is not None and self.cluster.node is not None:
            self.cluster.stop_node()

    def operator_image(self) -> str:
        """The current checkout's operator image, built (layers cached) and loaded into the node."""
        self.ensure()
        if not self._image_built:
            images.build_operator_image()
            self._image_built = True
        self.cluster.node.load_image(images.OPERATOR_IMAGE)
        return images.OPERATOR_IMAGE

    def base_image(self) -> str:
        """A small image with Python 3 (the operator image's base), loaded into the node."""
        self.ensure()
        self.cluster.node.load_image(images.ensure_base_image())
        return images.BASE_IMAGE

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.cluster.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr.strip()}")
        return result.stdout

    def kubelet_get(self, path: str) -> str:
        """GET from the kubelet's own API (e.g. /metrics/probes) with the admin client certificate. The
        API server's node proxy refuses the node's loopback address, so this goes to the kubelet directly."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the kubelet's self-signed cert
        context.load_cert_chain(str(self.cluster.pki["admin.crt"]), str(self.cluster.pki["admin.key"]))
        with urllib.request.urlopen(
            f"https://127.0.0.1:{node.KUBELET_PORT}{path}", context=context, timeout=10
        ) as response:
            return response.read().decode()

    @contextlib.contextmanager
    def reachable_from_pods(self, port: int, host: str = "127.0.0.1") -> Iterator[str]:
        """Forward a service listening on host loopback to the gateway; yields "gateway:port" for pods."""
        with forwarding(f"{self.gateway}:0", f"{host}:{port}") as address:
            yield address
