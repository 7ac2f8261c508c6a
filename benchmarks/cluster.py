"""A real local control plane and the real operator as a separate process, for the benchmarks that need them.

As tests/support/operator.py does for the tests, but the operator runs as `python -m wallaroo_operator run`
in a child process, so its CPU and memory (and its workers', forked from its forkserver) are its own, and
the benchmark's polling is not counted against it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

sys.path.insert(0, str(common.REPO))
from tests.support.kube import Kube, client_for, install_crds
from tests.support.operator import create_connection, create_credentials


@dataclass
class Cluster:
    kube: Kube
    kubeconfig: Path
    apiserver_pid: int


@contextlib.contextmanager
def control_plane() -> Iterator[Cluster]:
    """A throwaway local control plane (etcd, kube-apiserver, kube-controller-manager) with the CRDs."""
    from localcluster import LocalCluster, build_binaries

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as state:
        cluster = LocalCluster(Path(state) / "cluster", build_binaries(), with_node=False)
        cluster.start(
            before_controllers=lambda c: install_crds(client_for(c.kubeconfig), common.REPO / "crds"), node_now=False
        )
        try:
            yield Cluster(
                Kube(cluster.kubeconfig, client_for(cluster.kubeconfig)),
                cluster.kubeconfig,
                cluster._pids["kube-apiserver"],
            )
        finally:
            cluster.stop()


@contextlib.contextmanager
def operator(cluster: Cluster, namespace: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """`wallaroo-operator run` watching `namespace` (local executor), stopped with SIGTERM afterwards."""
    with tempfile.NamedTemporaryFile(prefix="bench-operator-", suffix=".log") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wallaroo_operator",
                "run",
                "--standalone",
                "--namespace",
                namespace,
                f"--liveness=http://127.0.0.1:{free_port()}/healthz",
            ],  # 8080 may be taken by another operator
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig), **(env or {})},
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.returncode not in (0, -15):
                log.seek(0)
                print(log.read()[-3000:].decode(errors="replace"), file=sys.stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def namespace_with_connection(cluster: Cluster, sim: common.Simulator, name: str) -> str:
    """A namespace holding the Secret and the WallarooConnection `wallaroo` pointing at the simulator."""
    cluster.kube.core.create_namespace({"metadata": {"name": name}})
    create_credentials(cluster.kube, name, sim)
    create_connection(cluster.kube, name, sim)
    return name


def wait_until(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll until `probe` returns something truthy (benchmarks wait on conditions, never on the clock)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)
