"""Run etcd, kube-apiserver and kube-controller-manager on free loopback ports in a fresh state dir,
and, with ``with_node``, a real node (localcluster.node) on which Pods run."""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from localcluster import node as node_mode
from localcluster import processes
from localcluster.build import Binaries
from localcluster.pki import write_cluster_pki

# The controllers our operator depends on: ownerReference GC, namespace deletion, and
# default ServiceAccounts in new namespaces; and the one that fills the built-in view/edit/admin roles
# from the ClusterRoles labelled for aggregation (the chart's user roles). Pods never run (no scheduler,
# no kubelet).
CONTROLLERS = (
    "garbage-collector-controller,namespace-controller,serviceaccount-controller,clusterrole-aggregation-controller"
)
START_ATTEMPTS = 3  # a port taken between picking it and binding it: pick another


class ClusterError(RuntimeError):
    """The control plane could not start; the message says which component and shows its log tail."""


class LocalCluster:
    """One throwaway control plane. Use as a context manager, or start()/stop()."""

    def __init__(self, state_dir: Path, binaries: Binaries, *, detached: bool = False, with_node: bool = False):
        self.state_dir = Path(state_dir).resolve()
        self.binaries = binaries
        self.detached = detached
        self.with_node = with_node
        self.node: node_mode.Node | None = None
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.server = ""
        self._pids: dict[str, int] = {}
        self._args: dict[str, list[str]] = {}
        self._envs: dict[str, dict[str, str] | None] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(
        self, before_controllers: Callable[[LocalCluster], None] | None = None, *, node_now: bool = True
    ) -> LocalCluster:
        """Start everything. `before_controllers` runs once the API is ready (e.g. to install CRDs,
        which the garbage collector otherwise discovers only on its 30 s resync). With `with_node`
        and not `node_now`, the control plane is ready for a node that `start_node()` starts later."""
        clean_stale_state(self.state_dir)
        (self.state_dir / "logs").mkdir(parents=True)
        self.pki = write_cluster_pki(self.state_dir / "pki")
        try:
            etcd_url = self._retry_on_port_clash("etcd", self._start_etcd)
            self.server = self._retry_on_port_clash("kube-apiserver", lambda: self._start_apiserver(etcd_url))
            self._write_kubeconfig()
            if before_controllers:
                before_controllers(self)
            self._retry_on_port_clash("kube-controller-manager", self._start_controller_manager)
            if self.with_node and node_now:
                self.start_node()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process we started, in reverse order, by PID; then remove the state."""
        stop_recorded(self.state_dir)
        node_mode.release(self.state_dir)
        self._pids.clear()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver alone (etcd keeps the state): an API server outage, for tests."""
        processes.stop(self._pids["kube-apiserver"])

    def start_apiserver(self) -> None:
        """Start kube-apiserver again after stop_apiserver(), on the same port with the same state."""
        self._spawn("kube-apiserver", self._args["kube-apiserver"], self._envs["kube-apiserver"])
        self._wait_ready(
            "kube-apiserver", f"{self.server}/readyz", lambda body: body.strip() == b"ok", context=self._admin_tls()
        )

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- components --------------------------------------------------------------------------------

    def _start_etcd(self) -> str:
        client_port, peer_port = processes.free_port(), processes.free_port()
        url = f"http://127.0.0.1:{client_port}"
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                f"--data-dir={self.state_dir / 'etcd'}",
                "--name=localcluster",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=localcluster=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait_ready("etcd", f"{url}/health", lambda body: b'"health":"true"' in body)
        return url

    def _start_apiserver(self, etcd_url: str) -> str:
        port = processes.free_port()
        server = f"https://127.0.0.1:{port}"
        pki = self.pki
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={self.state_dir / 'apiserver'}",
                f"--tls-cert-file={pki['apiserver.crt']}",
                f"--tls-private-key-file={pki['apiserver.key']}",
                f"--client-ca-file={pki['ca.crt']}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                # No default route here: a loopback advertise address needs the `none` reconciler.
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--service-account-issuer={server}/",
                f"--service-account-key-file={pki['sa.pub']}",
                f"--service-account-signing-key-file={pki['sa.key']}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                *self._apiserver_node_args(),
            ],
        )
        self._wait_ready(
            "kube-apiserver", f"{server}/readyz", lambda body: body.strip() == b"ok", context=self._admin_tls()
        )
        return server

    def _start_controller_manager(self) -> None:
        port = processes.free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.state_dir / 'controller-manager'}",
                *self._controller_args(),
            ],
        )
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # its self-signed serving cert
        self._wait_ready(
            "kube-controller-manager",
            f"https://127.0.0.1:{port}/healthz",
            lambda body: body.strip() == b"ok",
            context=insecure,
        )

    def _apiserver_node_args(self) -> list[str]:
        if not self.with_node:
            # No pods without a node: no ServiceAccount tokens to mount either.
            return ["--disable-admission-plugins=ServiceAccount"]
        return [
            f"--kubelet-client-certificate={self.pki['kubelet-client.crt']}",
            f"--kubelet-client-key={self.pki['kubelet-client.key']}",
        ]

    def _controller_args(self) -> list[str]:
        if not self.with_node:
            return [f"--controllers={CONTROLLERS}"]
        # root-ca-file: pods' kube-root-ca.crt (the kubeconfig names its CA by path, not data).
        return [
            f"--controllers={CONTROLLERS},{node_mode.NODE_CONTROLLERS}",
            f"--root-ca-file={self.pki['ca.crt']}",
            f"--service-account-private-key-file={self.pki['sa.key']}",
        ]

    def start_node(self) -> node_mode.Node:
        """Start the node (a cluster made `with_node`); on failure nothing of it is left running."""
        if not self.with_node:
            raise ClusterError("this cluster was started without a node's API server settings")
        config = node_mode.NodeConfig(
            state_dir=self.state_dir,
            kubeconfig=self.kubeconfig,
            apiserver_port=int(self.server.rsplit(":", 1)[1]),
            ca_file=self.pki["ca.crt"],
        )
        self.node = node_mode.Node(config, self._record_pid, self._wait_until)
        try:
            self.node.start(lambda name, args, env: self._spawn(name, args, env=env))
            self._wait_until("kubelet", self._node_schedulable, timeout=120, what="node Ready and schedulable")
        except node_mode.NodeError as error:
            self.stop_node()
            raise ClusterError(str(error)) from None
        except BaseException:
            self.stop_node()
            raise
        return self.node

    def stop_node(self) -> None:
        """Stop the node and undo its host changes; the control plane keeps running."""
        for name in reversed(node_mode.NODE_PROCESSES):
            if (pid := self._pids.pop(name, None)) and processes.belongs_to(pid, str(self.state_dir)):
                processes.stop(pid)
        (self.state_dir / "pids.json").write_text(json.dumps(self._pids))
        node_mode.release(self.state_dir)
        shutil.rmtree(self.state_dir / "node", ignore_errors=True)
        self.node = None

    def _node_schedulable(self) -> bool:
        request = urllib.request.Request(f"{self.server}/api/v1/nodes/{node_mode.NODE_NAME}")
        try:
            with urllib.request.urlopen(request, timeout=2, context=self._admin_tls()) as response:
                node = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
        return ready and not node["spec"].get("taints")

    # -- plumbing ----------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> int:
        process = processes.spawn(args, self.state_dir / "logs" / f"{name}.log", detached=self.detached, env=env)
        self._record_pid(name, process.pid)
        self._args[name], self._envs[name] = args, env  # so stop_apiserver()/start_apiserver() can restart it
        return process.pid

    def _record_pid(self, name: str, pid: int) -> None:
        self._pids[name] = pid
        (self.state_dir / "pids.json").write_text(json.dumps(self._pids))

    def _retry_on_port_clash(self, name: str, start: Callable[[], str | None]):
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return start()
            except ClusterError:
                clash = "address already in use" in self._log_tail(name)
                if not clash or attempt == START_ATTEMPTS:
                    raise
                processes.stop(self._pids.pop(name))

    def _wait_ready(
        self,
        name: str,
        url: str,
        ok: Callable[[bytes], bool],
        *,
        context: ssl.SSLContext | None = None,
        timeout: float = 90.0,
    ) -> None:
        def probe() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as response:
                    return ok(response.read())
            except (urllib.error.URLError, OSError):
                return False

        self._wait_until(name, probe, timeout=timeout)

    def _wait_until(self, name: str, probe: Callable[[], bool], *, timeout: float = 90.0, what: str = "ready") -> None:
        """Wait until `probe()` holds, failing at once if process `name` exits (with its log's tail)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not processes.is_running(self._pids[name]):
                raise ClusterError(f"{name} exited during start-up:\n{self._log_tail(name)}")
            if probe():
                return
            time.sleep(0.1)
        raise ClusterError(f"{name} not {what} after {timeout:.0f} s:\n{self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 15) -> str:
        log = self.state_dir / "logs" / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _admin_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki["ca.crt"]))
        context.load_cert_chain(str(self.pki["admin.crt"]), str(self.pki["admin.key"]))
        return context

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "localcluster",
            "clusters": [
                {
                    "name": "localcluster",
                    "cluster": {"server": self.server, "certificate-authority": str(self.pki["ca.crt"])},
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(self.pki["admin.crt"]),
                        "client-key": str(self.pki["admin.key"]),
                    },
                }
            ],
            "contexts": [{"name": "localcluster", "context": {"cluster": "localcluster", "user": "admin"}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)


def recorded_pids(state_dir: Path) -> dict[str, int]:
    try:
        return json.loads((state_dir / "pids.json").read_text())
    except (OSError, ValueError):
        return {}


def stop_recorded(state_dir: Path) -> None:
    """Stop the processes a state dir records, newest first, skipping PIDs that are no longer ours."""
    for _name, pid in reversed(list(recorded_pids(state_dir).items())):
        if processes.belongs_to(pid, str(state_dir)):
            processes.stop(pid)


def clean_stale_state(state_dir: Path) -> None:
    """A state dir left by a killed run is never reused: stop what it still runs and wipe it."""
    if state_dir.exists():
        stop_recorded(state_dir)
        node_mode.release(state_dir)  # unmounts what the node mounted under state_dir before rmtree
        shutil.rmtree(state_dir)


def is_healthy(state_dir: Path) -> bool:
    """Whether a detached cluster in `state_dir` is fully alive (all processes, and a kubeconfig)."""
    pids = recorded_pids(state_dir)
    return (
        len(pids) >= 3
        and (state_dir / "kubeconfig").exists()
        and all(processes.belongs_to(pid, str(state_dir)) and processes.is_running(pid) for pid in pids.values())
    )
