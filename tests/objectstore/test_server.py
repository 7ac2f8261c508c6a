"""The S3 server runner (localcluster.s3): loopback only, fresh credentials, stopped by PID, nothing left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from localcluster import processes
from localcluster.s3 import INFO_FILE, S3Server, build_versitygw, read_endpoint

from tests.support.s3 import store_for, unique_bucket


def test_a_server_serves_s3_on_loopback_and_stops_without_leftovers(tmp_path: Path) -> None:
    state = tmp_path / "s3"
    with S3Server(state, build_versitygw()) as endpoint:
        assert endpoint.endpoint_url.startswith("http://127.0.0.1:")
        assert (state / INFO_FILE).stat().st_mode & 0o077 == 0  # root credentials: owner only
        assert endpoint.secret_key not in Path(f"/proc/{endpoint.pid}/cmdline").read_text(errors="replace")
        bucket = unique_bucket()
        store = store_for(endpoint, bucket)
        store.client.create_bucket(Bucket=bucket)
        store.client.put_object(Bucket=bucket, Key="a", Body=b"x")
        assert (state / "store" / bucket / "a").read_bytes() == b"x"  # a gateway onto a directory
        assert requests.get(endpoint.endpoint_url + "/", timeout=5).status_code == 403  # unsigned: refused
        pid = endpoint.pid
    assert not processes.is_running(pid)
    assert not state.exists()


def test_up_and_down_like_the_make_targets(tmp_path: Path) -> None:
    state = tmp_path / "s3-cli"
    command = [sys.executable, "-m", "localcluster.s3", "--state-dir", str(state)]
    try:
        up = subprocess.run([*command, "up"], capture_output=True, text=True, timeout=120, check=False)
        assert up.returncode == 0, up.stderr
        endpoint = read_endpoint(state)
        assert endpoint is not None and endpoint.endpoint_url in up.stdout
        again = subprocess.run([*command, "up"], capture_output=True, text=True, timeout=60, check=False)
        assert "already running" in again.stdout and read_endpoint(state) == endpoint
    finally:
        down = subprocess.run([*command, "down"], capture_output=True, text=True, timeout=60, check=False)
    assert down.returncode == 0, down.stderr
    assert not processes.is_running(endpoint.pid)
    assert read_endpoint(state) is None
