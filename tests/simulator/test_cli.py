"""The command line: `up` starts a detached simulator and writes connection.json; `down` stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.waiting import wait_for

CONNECTION_KEYS = {
    "api_url",
    "token_url",
    "keycloak_token_url",
    "client",
    "secret",
    "username",
    "password",
    "base_url",
    "admin_url",
    "pid",
}


def simulator_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wallaroo_simulator", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def process_gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return any(line.startswith("State:") and "Z" in line for line in status.splitlines())


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A working directory whose simulator is always stopped, even when a test fails half-way."""
    yield tmp_path
    simulator_cli("down", cwd=tmp_path)


def test_up_down_round_trip(workdir: Path) -> None:
    up = simulator_cli("up", cwd=workdir)
    assert up.returncode == 0, up.stderr
    connection_file = workdir / ".sim" / "connection.json"
    assert str(Path(".sim") / "connection.json") in up.stdout
    info = json.loads(connection_file.read_text())
    assert set(info) >= CONNECTION_KEYS and "ca_file" not in info
    assert up.stdout.splitlines()[0] == info["base_url"]
    assert oct(connection_file.stat().st_mode & 0o777) == "0o600"
    assert requests.get(info["api_url"] + "/config", timeout=10).status_code == 200

    again = simulator_cli("up", cwd=workdir)
    assert again.returncode == 0 and "already running" in again.stdout

    down = simulator_cli("down", cwd=workdir)
    assert down.returncode == 0, down.stderr
    wait_for(lambda: process_gone(info["pid"]), timeout=15, what="the simulator process to exit")
    assert not (workdir / ".sim").exists()


def test_up_with_tls_config_and_public_url(workdir: Path) -> None:
    example = Path(__file__).parents[2] / "operator/src/wallaroo_simulator/example-config.yaml"
    up = simulator_cli(
        "up",
        "--tls",
        "--hostname",
        "acme.api.example.test",
        "--config",
        str(example),
        "--public-url",
        "https://acme.api.example.test",
        "--state-dir",
        "state",
        cwd=workdir,
    )
    assert up.returncode == 0, up.stderr
    info = json.loads((workdir / "state" / "connection.json").read_text())
    assert info["base_url"].startswith("https://") and Path(info["ca_file"]).is_file()
    assert info["username"] == "alice@example.com"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(info["api_url"] + "/config", timeout=10)
    world = requests.get(info["admin_url"] + "/world", verify=info["ca_file"], timeout=10).json()
    assert world["pipelines"]["urldemopipeline"]["url"].startswith("https://acme.api.example.test/v1/api/")

    assert simulator_cli("down", "--state-dir", "state", cwd=workdir).returncode == 0
    wait_for(lambda: process_gone(info["pid"]), timeout=15, what="the simulator process to exit")
    assert not (workdir / "state").exists()


def test_down_without_a_simulator(workdir: Path) -> None:
    down = simulator_cli("down", cwd=workdir)
    assert down.returncode == 0 and "no simulator running" in down.stdout


def test_serve_refuses_a_state_dir_in_use(workdir: Path) -> None:
    assert simulator_cli("up", cwd=workdir).returncode == 0
    serve = simulator_cli("serve", cwd=workdir)
    assert serve.returncode == 1 and "already uses" in serve.stderr


def test_up_reports_a_simulator_that_cannot_start(workdir: Path) -> None:
    (workdir / "broken.yaml").write_text("users: []\n")
    up = simulator_cli("up", "--config", "broken.yaml", cwd=workdir)
    assert up.returncode == 1 and "did not start" in up.stderr
    assert "users" in up.stderr  # the log shows why
    assert os.listdir(workdir / ".sim") == ["simulator.log"]
