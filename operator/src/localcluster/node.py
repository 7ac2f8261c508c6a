"""One real node for the local cluster: containerd, a CNI bridge, kube-scheduler and a kubelet.

Only one node can run per machine (the kubelet's port and /var/lib/kubelet, /var/log/containers are
fixed), so a node claims the machine in NODE_DIR first: a second start fails fast naming the owner,
and a claim left by a killed run (its processes gone) is cleaned up, host changes included, before
a new node starts. Everything else lives in the cluster's state dir.

containerd is Debian's 1.6 (apt). kubelet 1.36 still accepts it through its fallback for runtimes
without the RuntimeConfig CRI call, a fallback marked to go in Kubernetes 1.37: bumping the pinned
Kubernetes to 1.37 needs containerd 2.x (it builds from the Go module proxy and was seen to work).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localcluster import host, images, processes
from localcluster.build import build_node_binaries

NODE_DIR = Path(os.environ.get("LOCALCLUSTER_NODE_DIR", "/run/wallaroo-localnode"))
NODE_NAME = "localhost"  # the API server reaches the kubelet by the node's Hostname address: loopback
BRIDGE = "wallaroo0"
SUBNET, GATEWAY = "10.244.7.0/24", "10.244.7.1"
APISERVER_PORT_FOR_PODS = 6443  # on GATEWAY, forwarded to the API server's loopback port
KUBELET_PORT, KUBELET_HEALTHZ_PORT = 10250, 10248
CNI_PLUGINS = Path("/usr/lib/cni")
RUNC = "/usr/sbin/runc"
REQUIRED_TOOLS = ("containerd", "containerd-shim-runc-v2", "ctr", "ip")
# Beyond localcluster's own controllers: what running Pods, Jobs and Deployments needs.
NODE_CONTROLLERS = (
    "job-controller,ttl-after-finished-controller,pod-garbage-collector-controller,"
    "replicaset-controller,deployment-controller,node-lifecycle-controller,"
    "root-ca-certificate-publisher-controller,serviceaccount-token-controller"
)


# In start order; stopped in reverse.
NODE_PROCESSES = ("containerd", "apiserver-forwarder", "kube-scheduler", "kubelet")


class NodeError(RuntimeError):
    """The node could not start; one line the user can act on (plus a log tail when a process died)."""


def enabled() -> bool:
    return os.environ.get("LOCALCLUSTER_NODE", "1").lower() not in ("0", "false", "no")


def why_not_here() -> str | None:
    """Why this machine cannot run a node, in one line; None when it can."""
    if not enabled():
        return "the node is turned off (LOCALCLUSTER_NODE=0)"
    if os.geteuid() != 0:
        return "a node needs root (kubelet and containerd manage mounts, cgroups and network namespaces)"
    missing = [tool for tool in REQUIRED_TOOLS if not shutil.which(tool)]
    if not os.access(RUNC, os.X_OK):
        missing.append(RUNC)
    if not (CNI_PLUGINS / "bridge").exists():
        missing.append(f"{CNI_PLUGINS}/bridge")
    if missing:
        return (
            f"no node: {', '.join(missing)} not installed "
            "(hack/install-node-deps.sh installs containerd, runc and the CNI plugins as root)"
        )
    if reason := images.why_images_cannot_build():
        return f"no node: {reason}"
    for port in (KUBELET_PORT, KUBELET_HEALTHZ_PORT):
        if _port_taken(port) and not _stale_claim():
            return f"no node: port {port} (the kubelet's) is in use by another process"
    return None


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# -- the claim on the machine -----------------------------------------------------------------------


def _claim_file() -> Path:
    return NODE_DIR / "claim.json"


def read_claim() -> dict | None:
    try:
        return json.loads(_claim_file().read_text())
    except (OSError, ValueError):
        return None


def _claim_alive(claim: dict) -> bool:
    """Alive while any of its processes runs, or while the process that claimed it (still starting
    the node, or running it in the foreground) does: its start time guards against a reused PID."""
    starter = claim.get("starter", {})
    if starter and processes.start_time(starter["pid"]) == starter["start"]:
        return True
    return any(
        processes.is_running(pid) and processes.belongs_to(pid, claim["state_dir"])
        for pid in claim.get("pids", {}).values()
    )


def _stale_claim() -> bool:
    claim = read_claim()
    return claim is not None and not _claim_alive(claim)


def live_owner() -> str | None:
    """The state dir of the node running on this machine, if one is."""
    claim = read_claim()
    return claim["state_dir"] if claim and _claim_alive(claim) else None


def check_slot_free() -> None:
    if owner := live_owner():
        raise NodeError(
            f"a local node already runs on this machine (state {owner}); only one can: "
            "stop it there with `make cluster-down`, or set LOCALCLUSTER_NODE=0"
        )


def release(state_dir: Path | None = None) -> None:
    """Stop the node that claims the machine (only ours, when `state_dir` is given) and undo its host
    changes. Safe to repeat; also cleans up after a run that was killed."""
    claim = read_claim()
    if claim is None or (state_dir is not None and claim["state_dir"] != str(state_dir)):
        if state_dir is None and NODE_DIR.exists():
            shutil.rmtree(NODE_DIR, ignore_errors=True)
        return
    for pid in reversed(list(claim.get("pids", {}).values())):
        if processes.belongs_to(pid, claim["state_dir"]):
            processes.stop(pid)
    host.kill_pods()
    _stop_shims()
    host.restore(host.HostSnapshot.from_json(json.dumps(claim["host"])), [claim["state_dir"], str(NODE_DIR)], BRIDGE)
    shutil.rmtree(NODE_DIR, ignore_errors=True)


def _stop_shims() -> None:
    """containerd's shims run in their own sessions and outlive containerd: find them by its socket."""
    socket_path = str(NODE_DIR / "containerd.sock")
    for proc in Path("/proc").iterdir():
        if (
            proc.name.isdigit()
            and processes.belongs_to(int(proc.name), socket_path)
            and "containerd-shim" in (proc / "cmdline").read_bytes().decode(errors="replace")
        ):
            processes.stop(int(proc.name), timeout=2)


# -- starting ---------------------------------------------------------------------------------------


@dataclass
class NodeConfig:
    state_dir: Path
    kubeconfig: Path
    apiserver_port: int
    ca_file: Path


class Node:
    """Started by LocalCluster after its control plane; records its PIDs in the claim and the
    cluster's pids.json (through `record`)."""

    def __init__(self, config: NodeConfig, record: Callable[[str, int], None], wait_ready: Callable):
        self.config = config
        self.dir = config.state_dir / "node"
        self._record = record
        self._wait_ready = wait_ready
        self._claim: dict = {}

    @property
    def containerd_socket(self) -> Path:
        return NODE_DIR / "containerd.sock"

    def start(self, spawn: Callable[[str, list[str], dict | None], int]) -> None:
        self._claim_machine()
        self.dir.mkdir(parents=True)
        images.ensure_pause_image()
        self._create_bridge()
        self._write_cni()
        pid = spawn("containerd", ["containerd", "--config", str(self._write_containerd_config())], None)
        self._note("containerd", pid)
        self._wait_ready("containerd", lambda: self._ctr("version").returncode == 0)
        self.load_image(images.PAUSE_IMAGE)
        self._note(
            "apiserver-forwarder",
            spawn(
                "apiserver-forwarder",
                [
                    sys.executable,
                    "-m",
                    "localcluster.forward",
                    f"{GATEWAY}:{APISERVER_PORT_FOR_PODS}",
                    f"127.0.0.1:{self.config.apiserver_port}",
                    str(self.config.state_dir),
                ],
                None,
            ),
        )
        self._note("kube-scheduler", spawn("kube-scheduler", self._scheduler_args(), None))
        # No iptables on the kubelet's PATH: it makes KUBE-* chains only for kube-proxy's benefit, and
        # there is none here. (Debian's merged /usr keeps iptables in /usr/sbin only.)
        kubelet_env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        self._note("kubelet", spawn("kubelet", self._kubelet_args(), kubelet_env))

    def _claim_machine(self) -> None:
        check_slot_free()
        release()  # whatever a killed run left behind
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        starter = {"pid": os.getpid(), "start": processes.start_time(os.getpid())}
        self._claim = {
            "state_dir": str(self.config.state_dir),
            "starter": starter,
            "pids": {},
            "host": json.loads(host.HostSnapshot.take().to_json()),
        }
        self._write_claim()

    def _write_claim(self) -> None:
        partial = _claim_file().with_suffix(".partial")
        partial.write_text(json.dumps(self._claim))
        partial.rename(_claim_file())

    def _note(self, name: str, pid: int) -> None:
        self._claim["pids"][name] = pid
        self._write_claim()
        self._record(name, pid)

    # -- network -------------------------------------------------------------------------------------

    def _create_bridge(self) -> None:
        # Made here, not by the CNI plugin on the first pod, so the forwarder can bind GATEWAY at once.
        for args in (
            ["link", "add", BRIDGE, "type", "bridge"],
            ["addr", "add", f"{GATEWAY}/24", "dev", BRIDGE],
            ["link", "set", BRIDGE, "up"],
        ):
            result = subprocess.run(["ip", *args], capture_output=True, text=True)
            if result.returncode != 0:
                raise NodeError(f"ip {' '.join(args)}: {result.stderr.strip()}")

    def _write_cni(self) -> None:
        bin_dir, conf_dir = self.dir / "cni" / "bin", self.dir / "cni" / "net.d"
        bin_dir.mkdir(parents=True)
        conf_dir.mkdir(parents=True)
        for plugin in ("bridge", "host-local", "loopback", "portmap"):
            if (CNI_PLUGINS / plugin).exists():
                (bin_dir / plugin).symlink_to(CNI_PLUGINS / plugin)
        # No masquerade and no default route: a pod reaches only the bridge subnet (the host's GATEWAY).
        conflist = {
            "cniVersion": "1.0.0",
            "name": "localcluster",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "isDefaultGateway": False,
                    "ipMasq": False,
                    "hairpinMode": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": SUBNET}]],
                        "routes": [],
                        "dataDir": str(self.dir / "cni" / "ipam"),
                    },
                }
            ],
        }
        (conf_dir / "10-localcluster.conflist").write_text(json.dumps(conflist, indent=2))

    # -- containerd ----------------------------------------------------------------------------------

    def _write_containerd_config(self) -> Path:
        cni = self.dir / "cni"
        config = f"""version = 2
root = "{self.dir / "containerd"}"
state = "{NODE_DIR / "containerd-state"}"
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.dir / "containerd-opt"}"   # not /opt/containerd
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE here: a negative oom_score_adj on a sandbox kills runc init.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{NODE_DIR / "runc"}"   # not /run/containerd/runc
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    # Our own, never /etc/cni/net.d (podman's package puts a masquerading bridge there).
    bin_dir = "{cni / "bin"}"
    conf_dir = "{cni / "net.d"}"
"""
        path = self.dir / "containerd.toml"
        path.write_text(config)
        return path

    def _ctr(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
        )

    def load_image(self, name: str) -> None:
        """Import an image from buildah's store into the node (pods then run it with pullPolicy Never)."""
        loaded = self.dir / "loaded-images.json"
        record = json.loads(loaded.read_text()) if loaded.exists() else {}
        wanted = images.image_id(name)
        if record.get(name) == wanted:
            return
        archive = images.save_archive(name, self.dir / "image.tar")
        try:
            # Unpacked here, once: left to the first Pods, each of them unpacks the same layers at once, and on a
            # busy machine they all miss the kubelet's 2-minute CRI deadline (seen with 16 worker Pods).
            result = self._ctr("images", "import", "--snapshotter", "overlayfs", str(archive))
            if result.returncode != 0:
                raise NodeError(f"ctr images import {name}: {result.stderr.strip()}")
        finally:
            archive.unlink(missing_ok=True)
        record[name] = wanted
        loaded.write_text(json.dumps(record))

    # -- kube-scheduler and kubelet ------------------------------------------------------------------

    def _scheduler_args(self) -> list[str]:
        return [
            str(build_node_binaries().kube_scheduler),
            f"--kubeconfig={self.config.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={processes.free_port()}",
        ]

    def _kubelet_args(self) -> list[str]:
        config = self.dir / "kubelet.yaml"
        config.write_text(
            json.dumps(
                {
                    "apiVersion": "kubelet.config.k8s.io/v1beta1",
                    "kind": "KubeletConfiguration",
                    "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
                    "cgroupDriver": "cgroupfs",
                    "failCgroupV1": False,
                    "failSwapOn": False,
                    "address": "127.0.0.1",
                    "port": KUBELET_PORT,
                    "readOnlyPort": 0,
                    "healthzBindAddress": "127.0.0.1",
                    "healthzPort": KUBELET_HEALTHZ_PORT,
                    # The API server proves itself with its kubelet client certificate (logs, exec); the
                    # kubelet asks the API server whether that identity may (SubjectAccessReview).
                    "authentication": {
                        "anonymous": {"enabled": False},
                        "webhook": {"enabled": False},
                        "x509": {"clientCAFile": str(self.config.ca_file)},
                    },
                    "authorization": {"mode": "Webhook"},
                    "podLogsDir": str(self.dir / "pod-logs"),
                    "serializeImagePulls": False,
                    # Images are imported, never pulled: never garbage-collect them.
                    "imageGCHighThresholdPercent": 100,
                    "imageGCLowThresholdPercent": 99,
                    "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
                }
            )
        )
        return [
            str(build_node_binaries().kubelet),
            f"--config={config}",
            f"--kubeconfig={self.config.kubeconfig}",
            # A short root: unix sockets under it (pod-resources) must fit in 108 bytes, which a
            # pytest tmp_path does not.
            f"--root-dir={NODE_DIR / 'kubelet'}",
            f"--cert-dir={self.dir / 'kubelet-pki'}",
            f"--hostname-override={NODE_NAME}",
            "--v=1",
        ]


def load_into_running_node(state_dir: Path, name: str) -> None:
    """Load an image into the node that `state_dir`'s cluster runs (for `make image` after `cluster-up`)."""
    node = Node(
        NodeConfig(
            state_dir=state_dir,
            kubeconfig=state_dir / "kubeconfig",
            apiserver_port=0,
            ca_file=state_dir / "pki" / "ca.crt",
        ),
        record=lambda name, pid: None,
        wait_ready=lambda *args, **kwargs: None,
    )
    node.load_image(name)
