"""The worker's Kubernetes calls when the API server does not answer (a real refused connection, no mock):
a progress report is skipped and the rows go on; the outcome is retried within the budget, then it is
KubernetesUnavailable, a reason and not a crash."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from wallaroo_operator.controller.errors import Disposition, classify
from wallaroo_operator.data.results import ResultChunk
from wallaroo_operator.kube import backoff
from wallaroo_operator.kube import client as kube_client
from wallaroo_operator.worker import kube_io
from wallaroo_operator.worker.manifest import RunManifest

MANIFEST = RunManifest(
    namespace="team-a",
    job_name="nightly",
    job_uid="uid-1",
    run_id="gen-3",
    spec={},
    input_parts=[("in-1", "data.json")],
    workspace_id=7,
    inference_url="https://w.example/i",
    api_url="https://w.example",
    token_url="https://w.example/t",
    client_id="api-client",
    grant="password",
    progress_config_map="nightly-gen-3-progress",
)


@pytest.fixture
def api_server_away(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The worker's client pointed at a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: away, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: not-a-real-token}}}}]
contexts: [{{name: away, context: {{cluster: away, user: u}}}}]
current-context: away
""")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv(backoff.BUDGET_ENV, "1")
    kube_client.configuration.cache_clear()
    kube_client.api_client.cache_clear()
    yield
    kube_client.configuration.cache_clear()
    kube_client.api_client.cache_clear()


def test_a_progress_report_is_skipped_while_the_api_server_is_away(api_server_away):
    kube_io.patch_progress(MANIFEST, "shard-0", {"state": "Running", "rowsDone": 10, "rowsTotal": 40})


@pytest.mark.parametrize(
    "call",
    [
        lambda: kube_io.patch_progress(MANIFEST, "shard-0", {"state": "Succeeded", "rows": 40}),
        lambda: kube_io.create_results(MANIFEST, 0, ResultChunk(0, 0, 1, "[]", last=True)),
        lambda: list(kube_io.input_parts("team-a", [("in-1", "data.json")])),
    ],
    ids=["outcome", "results", "input"],
)
def test_beyond_the_budget_a_write_or_read_is_kubernetes_unavailable(api_server_away, call):
    with pytest.raises(backoff.KubernetesUnavailable) as raised:
        call()

    error = classify(raised.value)
    assert (error.reason, error.disposition) == ("KubernetesUnavailable", Disposition.RETRY)
    assert "did not answer" in error.message and "for 1 s" in error.message
