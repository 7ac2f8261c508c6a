"""The kubectl commands docs/install.md gives for input ConfigMaps over 256 KiB do what it says, on the
real API server: client-side apply is refused, server-side apply and create work."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.kube import Kube

pytestmark = pytest.mark.cluster

TOO_LONG = "Too long: may not be more than 262144 bytes"


def kubectl(kube: Kube, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    from localcluster import build_binaries

    return subprocess.run(
        [str(build_binaries().kubectl), "--kubeconfig", str(kube.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def big_input(name: str, namespace: str) -> dict:
    rows = [[0.1 * (i % 10)] * 30 for i in range(1_000)]  # about 290 KB of the tutorial's JSON shape
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"data.json": json.dumps({"text_input": rows})},
    }


def test_client_side_apply_refuses_a_configmap_over_256_kib(kube: Kube, namespace: str, tmp_path: Path):
    manifest = big_input("big-input", namespace)
    assert 256 * 1024 < len(manifest["data"]["data.json"]) < 1024 * 1024
    path = tmp_path / "big-input.yaml"
    path.write_text(yaml.safe_dump(manifest))

    client_side = kubectl(kube, "apply", "-f", str(path))
    assert client_side.returncode != 0 and TOO_LONG in client_side.stderr, client_side.stderr

    server_side = kubectl(kube, "apply", "--server-side", "-f", str(path))
    assert server_side.returncode == 0, server_side.stderr
    stored = kube.core.read_namespaced_config_map("big-input", namespace)
    assert stored.data == manifest["data"] and not (stored.metadata.annotations or {})

    assert kubectl(kube, "apply", "--server-side", "-f", str(path)).returncode == 0, "and again, as in CI/CD"

    data_file = tmp_path / "input.json"
    data_file.write_text(manifest["data"]["data.json"])
    generated = kubectl(
        kube,
        "-n",
        namespace,
        "create",
        "configmap",
        "from-file",
        f"--from-file=data.json={data_file}",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    assert generated.returncode == 0, generated.stderr
    piped = kubectl(kube, "-n", namespace, "apply", "--server-side", "-f", "-", stdin=generated.stdout)
    assert piped.returncode == 0, piped.stderr

    manifest["metadata"]["name"] = "created"
    path.write_text(yaml.safe_dump(manifest))
    created = kubectl(kube, "create", "-f", str(path))
    assert created.returncode == 0, created.stderr
    for name in ("from-file", "created"):
        assert kube.core.read_namespaced_config_map(name, namespace).data == manifest["data"]
