"""`make cluster-up`/`cluster-down` with a node leave the host as they found it, and every bad input
(no containerd, no root, a busy port, a node already running, a half-started node from a killed run)
is one line and a clean state, never a hang."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from localcluster import host, node
from localcluster.processes import is_running
from tests.support.node import NodeSession
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.node]
CLI_TIMEOUT = 300


def localcluster(state_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "localcluster", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        timeout=CLI_TIMEOUT,
    )


def node_mounts() -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return sorted(
        p for p in points if any(word in p for word in ("kubelet", "containerd", "netns", "localnode", "localcluster"))
    )


def kube_chains() -> list[str]:
    out = []
    for tool in ("iptables-save", "ip6tables-save"):
        result = subprocess.run([tool], capture_output=True, text=True) if os.path.exists(f"/usr/sbin/{tool}") else None
        out += [line for line in (result.stdout if result else "").splitlines() if "KUBE-" in line]
    return out


def host_state() -> dict:
    """Everything a node changes on the host, as comparable values."""
    return {
        "sysctls": {name: host.read_sysctl(name) for name in host.SYSCTLS},
        "links": host.links(),
        "mounts": node_mounts(),
        "paths": [p for p in host.HOST_PATHS if os.path.lexists(p)],
        "kube chains": kube_chains(),
        "kubepods cgroups": sorted(str(p) for p in host.CGROUP_ROOT.glob("*/kubepods")),
        "node dir": node.NODE_DIR.exists(),
        "node processes": sorted(p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _ours(p)),
    }


NODE_PROGRAMS = {"kubelet", "kube-scheduler", "containerd", "containerd-shim-runc-v2"}


def _ours(proc: Path) -> bool:
    """A node process: by its program, or our forwarder to the gateway (not any command naming them)."""
    try:
        argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return Path(argv[0]).name in NODE_PROGRAMS or (
        argv[1:3] == ["-m", "localcluster.forward"] and argv[3:4] == [f"{node.GATEWAY}:{node.APISERVER_PORT_FOR_PODS}"]
    )


@pytest.fixture
def machine(node_session: NodeSession) -> dict:
    """The machine's one node slot, freed for this test (the session's node restarts on next use);
    yields the host state before the test."""
    if node_session.reason:
        pytest.skip(f"no node: {node_session.reason}")
    node_session.release()
    before = host_state()
    assert not before["node processes"] and not before["node dir"], before
    yield before
    assert host_state() == before


def test_cluster_up_with_a_node_then_down_restores_the_host(machine: dict, tmp_path: Path, node_session):
    state_dir = tmp_path / "cluster"
    up = localcluster(state_dir, "up")
    try:
        assert up.returncode == 0, up.stderr
        assert "node localhost Ready" in up.stdout
        kubectl = [str(node_session.kubectl_path), f"--kubeconfig={state_dir / 'kubeconfig'}"]
        subprocess.run(
            [*kubectl, "run", "sleeper", "--image=localhost/pause:3.10.1-local", "--image-pull-policy=Never"],
            check=True,
            capture_output=True,
        )
        wait_for(
            lambda: (
                subprocess.run(
                    [*kubectl, "get", "pod", "sleeper", "-o", "jsonpath={.status.phase}"],
                    capture_output=True,
                    text=True,
                ).stdout
                == "Running"
            ),
            timeout=60,
            what="a pod on the CNI bridge",
        )
        # `make image` with this cluster running: the image's reference last, and the node can run it.
        image = localcluster(state_dir, "image")
        assert image.returncode == 0, image.stderr
        assert image.stdout.splitlines()[-2:] == [
            f"loaded into the node of {state_dir}",
            "localhost/wallaroo-inference-operator:0.1.0",
        ]
        subprocess.run(
            [
                *kubectl,
                "run",
                "image-check",
                "--image=localhost/wallaroo-inference-operator:0.1.0",
                "--image-pull-policy=Never",
                "--restart=Never",
                "--command",
                "--",
                "wallaroo-operator",
                "--help",
            ],
            check=True,
            capture_output=True,
        )
        wait_for(
            lambda: (
                subprocess.run(
                    [*kubectl, "get", "pod", "image-check", "-o", "jsonpath={.status.phase}"],
                    capture_output=True,
                    text=True,
                ).stdout
                == "Succeeded"
            ),
            timeout=90,
            what="the loaded image to run",
        )
        during = host_state()
        # The test can fail: a running pod changes all of this.
        assert during["mounts"] != machine["mounts"] and during["node processes"]
        assert node.BRIDGE in during["links"] and during["sysctls"]["vm.overcommit_memory"] == "1"
    finally:
        down = localcluster(state_dir, "down")
    assert down.returncode == 0, down.stderr
    assert not state_dir.exists()
    # ...and the `machine` fixture proves the host is back as it was.


def test_a_second_node_fails_fast_with_one_line(machine: dict, tmp_path: Path):
    first = localcluster(tmp_path / "first", "up")
    try:
        assert first.returncode == 0, first.stderr
        second = localcluster(tmp_path / "second", "up")
        assert second.returncode != 0
        assert second.stderr.startswith("localcluster: a local node already runs on this machine")
        assert len(second.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "second").exists()
    finally:
        assert localcluster(tmp_path / "first", "down").returncode == 0


KILLED_RUN = textwrap.dedent("""
    import sys
    from pathlib import Path
    from localcluster import LocalCluster, build_binaries, node
    cluster = LocalCluster(Path(sys.argv[1]), build_binaries(), with_node=True)
    cluster.start(node_now=False)
    original = node.Node._note
    def note(self, name, pid):
        original(self, name, pid)
        if name == "containerd":  # containerd up, bridge made, sysctls untouched yet: half started
            print("half-started", flush=True)
            sys.stdin.read()
    node.Node._note = note
    cluster.start_node()
""")


def test_a_half_started_node_from_a_killed_run_is_cleaned_up(machine: dict, tmp_path: Path):
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "killed")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "half-started"
        claim = node.read_claim()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        wait_for(
            lambda: not any(is_running(pid) for pid in claim["pids"].values()),
            timeout=30,
            what="the killed run's processes to die with it",
        )
        assert node.BRIDGE in host.links()  # left behind, as a killed run leaves it
    finally:
        child.kill()
        child.wait()

    up = localcluster(tmp_path / "next", "up")  # takes the machine over, cleaning up first
    try:
        assert up.returncode == 0, up.stderr
        assert "node localhost Ready" in up.stdout
    finally:
        assert localcluster(tmp_path / "next", "down").returncode == 0


def test_without_containerd_one_line_and_the_control_plane_still_starts(machine: dict, tmp_path: Path):
    env = {**os.environ, "PATH": "/nonexistent"}
    reason = localcluster(tmp_path / "unused", "node-reason", env=env)
    assert reason.returncode != 0
    assert reason.stderr.startswith("no node: containerd, containerd-shim-runc-v2, ctr, ip not installed")
    assert len(reason.stderr.strip().splitlines()) == 1
    up = localcluster(tmp_path / "cluster", "up", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("control plane only: no node: containerd")
        assert "node localhost Ready" not in up.stdout
    finally:
        assert localcluster(tmp_path / "cluster", "down").returncode == 0


def test_opting_out_starts_the_control_plane_alone(machine: dict, tmp_path: Path):
    up = localcluster(tmp_path / "cluster", "up", env={**os.environ, "LOCALCLUSTER_NODE": "0"})
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("control plane only: the node is turned off (LOCALCLUSTER_NODE=0)")
    finally:
        assert localcluster(tmp_path / "cluster", "down").returncode == 0


def test_without_root_one_line(machine: dict, tmp_path: Path):
    # Imports first, as root: this machine's Python lives where `nobody` cannot read.
    check = "import os; from localcluster import node; os.setgid(65534); os.setuid(65534); print(node.why_not_here())"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().startswith("a node needs root"), result.stderr


def test_a_busy_kubelet_port_is_one_line(machine: dict, tmp_path: Path):
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", node.KUBELET_PORT))
    squatter.listen()
    try:
        reason = localcluster(tmp_path / "unused", "node-reason")
        assert reason.stderr.strip() == "no node: port 10250 (the kubelet's) is in use by another process"
    finally:
        squatter.close()
