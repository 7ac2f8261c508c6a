"""The S3 server runner (localcluster.s3): loopback only, fresh credentials, stopped by PID, nothing left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from localcluster import processes
from localcluster.s3 import INFO_FILE, S3Server, build_versitygw, read_endpoint
from tests.support.s3 import root_credentials, store_for, unique_bucket
from wallaroo_operator.objectstore import ObjectStore, S3Settings, plan_input
from wallaroo_operator.objectstore import errors as e
from wallaroo_simulator.tls import write_tls_files


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


def test_a_store_with_a_private_ca_needs_its_ca_bundle(tmp_path: Path) -> None:
    tls = write_tls_files(tmp_path / "tls")
    with S3Server(tmp_path / "s3", build_versitygw(), tls=(tls.cert_file, tls.key_file)) as endpoint:
        assert endpoint.endpoint_url.startswith("https://127.0.0.1:")
        bucket = unique_bucket()

        def store(ca_file: Path | None) -> ObjectStore:
            return ObjectStore(
                S3Settings(
                    bucket=bucket,
                    endpoint=endpoint.endpoint_url,
                    path_style=True,
                    credentials=root_credentials(endpoint),
                    max_attempts=1,
                    ca_bundle_file=str(ca_file) if ca_file else None,
                )
            )

        with pytest.raises(e.ObjectStoreError) as raised:
            store(None).list_objects("in/")
        assert raised.value.reason == "ObjectStoreTLSFailed" and not raised.value.retryable
        assert f"s3://{bucket}/in/" in raised.value.message and "CA bundle" in raised.value.message
        trusted = store(tls.ca_file)
        trusted.client.create_bucket(Bucket=bucket)
        trusted.client.put_object(Bucket=bucket, Key="in/a.jsonl", Body=b'{"tensor": [1, 2]}\n')
        assert [o.info.key for o in plan_input(trusted, prefix="in/").objects] == ["in/a.jsonl"]


def test_a_killed_test_run_leaves_no_server_behind(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: the server dies with the process that started it, even one killed with SIGKILL."""
    import os
    import signal

    from tests.support.waiting import wait_for

    script = (
        "import sys, time; from pathlib import Path; from localcluster.s3 import S3Server, build_versitygw; "
        f"e = S3Server(Path({str(tmp_path / 's3')!r}), build_versitygw()).start(); "
        "print(e.pid, flush=True); time.sleep(120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server_pid = 0
    try:
        server_pid = int(parent.stdout.readline())
        assert processes.is_running(server_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        wait_for(lambda: not processes.is_running(server_pid), timeout=10, what="the server to die with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=30)
        if server_pid and processes.belongs_to(server_pid, str(tmp_path)):  # only if the test failed
            processes.stop(server_pid)
