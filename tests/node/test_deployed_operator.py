"""The operator as users run it: its own image, deployed from manifests/, with everything the kubelet
enforces (restricted Pod Security, non-root, read-only root filesystem, the liveness probe) for real,
talking to the API server with its in-cluster ServiceAccount token."""

from __future__ import annotations

import json
import re

import pytest

from tests.node.conftest import OPERATOR_NAMESPACE
from tests.support.kube import Kube
from tests.support.node import NodeSession
from tests.support.operator import (
    aloha_rows,
    create_connection,
    create_credentials,
    create_input,
    create_job,
    events_for,
    get_job,
    phase_is,
    read_results,
    wait_for_job,
)
from tests.support.rbac import run_succeeds_under_rbac
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.node]
SELECTOR = "app.kubernetes.io/name=wallaroo-inference-operator"


def operator_pods(node: NodeSession) -> list[dict]:
    return json.loads(node.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-l", SELECTOR, "-o", "json"))["items"]


def running_pod(node: NodeSession) -> dict | None:
    pods = [
        p
        for p in operator_pods(node)
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and all(s.get("ready") for s in p["status"].get("containerStatuses", []))
    ]
    return pods[0] if len(pods) == 1 else None


def successful_liveness_probes(node: NodeSession, pod_name: str) -> int:
    """The kubelet's own count of liveness probes of this pod that succeeded."""
    metrics = node.kubelet_get("/metrics/probes")
    pattern = re.compile(r"^prober_probe_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
    total = 0
    for line in metrics.splitlines():
        match = pattern.match(line)
        if (
            match
            and f'pod="{pod_name}"' in match["labels"]
            and 'probe_type="Liveness"' in match["labels"]
            and 'result="successful"' in match["labels"]
        ):
            total += int(float(match["value"]))
    return total


def operator_logs(node: NodeSession) -> str:
    return node.kubectl("logs", "-n", OPERATOR_NAMESPACE, "deployment/wallaroo-operator", "--tail=-1")


def test_the_deployed_operator_is_available_and_passes_its_liveness_probe(deployed_operator: NodeSession):
    node = deployed_operator
    pod = wait_for(lambda: running_pod(node), timeout=60, what="one running operator pod")
    name = pod["metadata"]["name"]
    wait_for(
        lambda: successful_liveness_probes(node, name) >= 1, timeout=90, interval=1, what="a successful liveness probe"
    )
    container = json.loads(node.kubectl("get", "pod", name, "-n", OPERATOR_NAMESPACE, "-o", "json"))
    assert container["status"]["containerStatuses"][0]["restartCount"] == 0
    # What the kubelet enforces: the numeric non-root user, and a root filesystem that cannot be written.
    probe = (
        "import os\ntry:\n    open('/written', 'w')\n"
        "except OSError as e:\n    print(os.getuid(), os.getgid(), e.strerror)"
    )
    assert (
        node.kubectl("exec", "-n", OPERATOR_NAMESPACE, name, "--", "python", "-c", probe).strip()
        == "10001 10001 Read-only file system"
    )


def test_the_deployed_operator_completes_an_inference_job(
    deployed_operator: NodeSession, kube: Kube, namespace, pod_simulator
):
    create_credentials(kube, namespace, pod_simulator)
    create_connection(kube, namespace, pod_simulator)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(25)})
    create_job(kube, namespace, "in-cluster")

    job = wait_for_job(kube, namespace, "in-cluster", phase_is("Succeeded", "Failed"), timeout=120)

    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert len(read_results(kube, namespace, job)) == 25
    assert pod_simulator.admin.counters()["pipelines"]["urldemopipeline"]["rows"] == 25


def test_with_its_in_cluster_service_account_token_rbac_allows_all_it_does(
    deployed_operator: NodeSession, kube: Kube, namespace, pod_simulator
):
    """The RBAC test, as deployed: the pod's own projected token, bound by manifests/rbac.yaml."""
    create_credentials(kube, namespace, pod_simulator)
    create_connection(kube, namespace, pod_simulator)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(5)})
    run_succeeds_under_rbac(kube, namespace, "least-privilege", "the same RBAC", results_deleted=False)
    pod = running_pod(deployed_operator)
    assert pod["spec"]["serviceAccountName"] == "wallaroo-operator"
    logs = operator_logs(deployed_operator)
    assert 'system:serviceaccount:wallaroo-operator:wallaroo-operator\\" cannot' not in logs
    assert 'system:serviceaccount:wallaroo-operator:wallaroo-operator" cannot' not in logs, logs[-3000:]


def events_named(kube: Kube, namespace: str, job: str, reason: str, run_id: str) -> int:
    return sum(e.reason == reason and run_id in (e.message or "") for e in events_for(kube, namespace, job))


def test_a_run_survives_its_operator_pod_being_deleted(
    deployed_operator: NodeSession, kube: Kube, namespace, pod_simulator
):
    node = deployed_operator
    pod_simulator.admin.set_faults("urldemopipeline", latency_seconds=0.3)
    create_credentials(kube, namespace, pod_simulator)
    create_connection(kube, namespace, pod_simulator)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(300)})
    create_job(kube, namespace, "interrupted", inference={"batchSize": 10, "parallelism": 1})
    wait_for_job(kube, namespace, "interrupted", phase_is("Running"), timeout=120, what="the run to start")
    wait_for(
        lambda: pod_simulator.admin.counters().get("pipelines", {}).get("urldemopipeline", {}).get("rows"),
        timeout=60,
        what="the first rows to reach the simulator",
    )
    first = running_pod(node)["metadata"]["name"]

    node.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, first, "--wait=true", "--timeout=150s", timeout=180)
    assert get_job(kube, namespace, "interrupted")["status"]["phase"] == "Running"  # left for the next pod
    pod_simulator.admin.clear_faults()
    second = wait_for(lambda: running_pod(node), timeout=120, what="the Deployment's replacement pod")
    assert second["metadata"]["name"] != first

    job = wait_for_job(kube, namespace, "interrupted", phase_is("Succeeded", "Failed"), timeout=180)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    last = job["status"]["lastRun"]
    # The local overlay runs the Job executor: the run's worker Pod ran on while the operator was away, and
    # the replacement operator adopted its Job instead of starting the run again.
    assert (last["id"], last["attempt"], last.get("adopted"), last["rows"]) == ("gen-1", 1, True, 300), last
    assert [h["id"] for h in job["status"]["history"]] == ["gen-1"]
    # Not lost, not duplicated: one start, one adoption, one success for the run id...
    wait_for(
        lambda: events_named(kube, namespace, "interrupted", "RunSucceeded", "gen-1") == 1,
        timeout=30,
        what="the RunSucceeded event",
    )
    # Adopted and followed to its end, or (the pod's deletion outlasting the run) found finished and
    # recorded from its results: either way one start, one success, no restart.
    recovered = bool(last.get("recovered"))
    assert events_named(kube, namespace, "interrupted", "RunAdopted", "gen-1") == (0 if recovered else 1)
    assert events_named(kube, namespace, "interrupted", "RunStarted", "gen-1") == 1
    assert events_named(kube, namespace, "interrupted", "RunRestarted", "gen-1") == 0
    # ...and at the simulator: every row exactly once (one worker, never restarted).
    counters = pod_simulator.admin.counters()["pipelines"]["urldemopipeline"]
    assert (counters["rows"], counters["requests"]) == (300, 30)
    assert len([p for p in operator_pods(node) if not p["metadata"].get("deletionTimestamp")]) == 1
