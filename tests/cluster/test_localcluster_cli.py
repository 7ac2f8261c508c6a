"""`make cluster-up/cluster-down/kubeconfig` and `make controlplane`, through the localcluster CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster import build_binaries
from localcluster.processes import is_running, stop

pytestmark = pytest.mark.cluster


def localcluster(state_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # The control plane alone: the machine's one node may be the test session's (tests/node/ covers it).
    env = {"LOCALCLUSTER_NODE": "0", **(env or os.environ)}
    return subprocess.run(
        [sys.executable, "-m", "localcluster", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def pids(state_dir: Path) -> dict[str, int]:
    return json.loads((state_dir / "pids.json").read_text())


def test_up_down_and_a_half_dead_state_dir_is_replaced(tmp_path: Path):
    state_dir = tmp_path / "cluster"
    second: dict[str, int] = {}
    up = localcluster(state_dir, "up")
    try:
        assert up.returncode == 0, up.stderr
        kubeconfig = Path(localcluster(state_dir, "kubeconfig").stdout.strip())
        version = subprocess.run(
            [str(build_binaries().kubectl), f"--kubeconfig={kubeconfig}", "version", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(version.stdout)["serverVersion"]["gitVersion"] == build_binaries().kubernetes_version
        assert localcluster(state_dir, "up").stdout.startswith("local cluster already running")

        first = pids(state_dir)
        stop(first["etcd"])  # a killed run leaves the rest half-alive
        assert localcluster(state_dir, "status").returncode != 0
        again = localcluster(state_dir, "up")
        assert again.returncode == 0, again.stderr
        second = pids(state_dir)
        assert not set(first.values()) & set(second.values())
        assert not any(is_running(pid) for pid in first.values())
    finally:
        down = localcluster(state_dir, "down")
    assert down.returncode == 0
    assert not state_dir.exists()
    assert not any(is_running(pid) for pid in second.values())


def test_missing_go_is_one_clear_line(tmp_path: Path):
    env = {**os.environ, "PATH": "/nonexistent", "LOCALCLUSTER_CACHE": str(tmp_path / "empty-cache")}
    result = localcluster(tmp_path / "unused", "build", env=env)
    assert result.returncode != 0
    assert result.stderr.strip().startswith("localcluster: Go is not installed: install Go 1.26")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_port_already_in_use_is_replaced_by_another(tmp_path: Path, monkeypatch):
    """Ports are picked free, then bound by another process: a race another program can win."""
    import socket

    from localcluster import LocalCluster, processes

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_port = processes.free_port
    handed_out = iter([taken])
    monkeypatch.setattr(processes, "free_port", lambda: next(handed_out, None) or real_free_port())
    try:
        with LocalCluster(tmp_path / "cluster", build_binaries()) as cluster:
            assert f":{taken}" not in cluster.server
            log = (cluster.state_dir / "logs" / "etcd.log").read_text()
            assert "address already in use" in log  # the first attempt hit the taken port
    finally:
        squatter.close()


def test_a_failed_go_build_shows_the_compilers_error_not_a_traceback(tmp_path: Path):
    modules = tmp_path / "modules"
    for name, module in (("kubernetes", "k8s.io/kubernetes v1.36.3"), ("etcd", "go.etcd.io/etcd/server/v3 v3.6.16")):
        (modules / name).mkdir(parents=True)
        path = module.split()[0]
        (modules / name / "go.mod").write_text(
            f"module broken/{name}\n\ngo 1.26.0\n\nrequire {module}\n\nreplace {path} => ./missing\n"
        )
    env = {**os.environ, "LOCALCLUSTER_GO_MODULES": str(modules), "LOCALCLUSTER_CACHE": str(tmp_path / "cache")}
    result = localcluster(tmp_path / "unused", "build", env=env)
    assert result.returncode != 0
    assert "\nlocalcluster: go build failed in " in result.stderr  # after the "building ..." progress line
    assert "missing" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "cache" / "kubernetes-v1.36.3").exists()  # no half-built cache left
