"""The Job executor against the real control plane, without a node: the operator creates, names, owns,
adopts and deletes each run's Job and its RBAC, and reports what the Job's status says.

The local control plane runs no Job controller and no kubelet, so nothing executes the Pods: the test plays
them, writing a worker's reports into the run's progress ConfigMap and the Job's final status through the
status subresource. That double stands in for the kubelet only here; tests/e2e/test_jobs_node.py runs real
Pods on a node.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import kubernetes
import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    condition,
    create_input,
    create_job,
    events_for,
    get_job,
    is_gone,
    patch_job_spec,
    phase_is,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c

pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def job_executor(monkeypatch, node_session):
    if node_session.reason is None:
        # These tests write Job status themselves, standing in for the Job controller of a cluster
        # without a node; where a node can run, kube-controller-manager's job controller owns it.
        pytest.skip(
            "the session cluster runs the job controller (a node can run here): "
            "tests/e2e/test_jobs_node.py is where the Job executor runs for real"
        )
    monkeypatch.setenv("WALLAROO_OPERATOR_EXECUTOR", "job")
    monkeypatch.setenv("WALLAROO_OPERATOR_WORKER_IMAGE", "registry.example/wallaroo-operator:test")
    monkeypatch.setattr("wallaroo_operator.executors.kubejob.POLL_SECONDS", 0.3)
    monkeypatch.setattr("wallaroo_operator.executors._current", None)  # built again with this image


def batch(kube: Kube) -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(kube.api)


def rbac(kube: Kube) -> kubernetes.client.RbacAuthorizationV1Api:
    return kubernetes.client.RbacAuthorizationV1Api(kube.api)


def wait_for_batch_job(kube: Kube, namespace: str, name: str):
    def probe():
        try:
            return batch(kube).read_namespaced_job(name, namespace)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise

    return wait_for(probe, timeout=60, what=f"Job {name}")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report(kube: Kube, namespace: str, worker: str, shard: int, state: dict) -> None:
    """What a worker Pod writes into its run's progress ConfigMap."""
    kube.core.patch_namespaced_config_map(
        f"{worker}-progress", namespace, {"data": {f"shard-{shard}": json.dumps(state)}}
    )


def succeeded_shard(first_row: int, rows: int, names: list[str]) -> dict:
    return {
        "state": "Succeeded",
        "rowsDone": rows,
        "rowsTotal": rows,
        "rows": rows,
        "batches": 1,
        "retries": 0,
        "firstRow": first_row,
        "resultConfigMaps": names,
        "summary": {"out": {"count": rows, "min": 0.0, "max": 1.0, "sum": rows / 2}},
    }


def finish(kube: Kube, namespace: str, name: str, state: str, *, shards: int = 1, reason: str = "") -> None:
    """The Job's final status, as the Job controller would write it (the status subresource)."""
    stamp = now()
    if state == "Complete":
        conditions = [
            {
                "type": "SuccessCriteriaMet",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
            },
            {
                "type": "Complete",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
            },
        ]
        status = {"succeeded": shards, "completionTime": stamp}
        if shards > 1:
            status["completedIndexes"] = f"0-{shards - 1}"
    else:
        conditions = [
            {
                "type": "FailureTarget",
                "status": "True",
                "reason": reason,
                "message": "test double",
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
            },
            {
                "type": "Failed",
                "status": "True",
                "reason": reason,
                "message": "test double",
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
            },
        ]
        status = {"failed": 1}
    batch(kube).patch_namespaced_job_status(
        name,
        namespace,
        {"status": {"startTime": stamp, "active": 0, "ready": 0, "terminating": 0, "conditions": conditions, **status}},
    )


def test_a_sharded_run_is_an_indexed_job_owned_by_the_inference_job(kube: Kube, namespace, simulator, connection):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(10)})
    created = create_job(kube, namespace, "sharded", execution={"shards": 2, "parallelism": 1})
    with running_operator(namespace):
        job = wait_for_batch_job(kube, namespace, "sharded-gen-1")
        assert [(o.kind, o.name, o.uid, o.controller) for o in job.metadata.owner_references] == [
            (c.JOB_KIND, "sharded", created["metadata"]["uid"], True)
        ]
        assert job.metadata.labels[c.RUN_LABEL] == "gen-1"
        assert (job.spec.completion_mode, job.spec.completions, job.spec.parallelism) == ("Indexed", 2, 1)
        pod = job.spec.template.spec
        assert pod.containers[0].image == "registry.example/wallaroo-operator:test"
        assert pod.service_account_name == "sharded-gen-1"
        role = rbac(kube).read_namespaced_role("sharded-gen-1", namespace)
        assert {r.verbs[0] for r in role.rules} == {"get", "create"} and all(
            r.resources == ["configmaps"] for r in role.rules
        )
        assert rbac(kube).read_namespaced_role_binding("sharded-gen-1", namespace).subjects[0].name == "sharded-gen-1"
        assert kube.core.read_namespaced_service_account("sharded-gen-1", namespace)

        report(kube, namespace, "sharded-gen-1", 0, {"state": "Running", "rowsDone": 2, "rowsTotal": 5})
        report(kube, namespace, "sharded-gen-1", 1, {"state": "Running", "rowsDone": 0, "rowsTotal": 5})
        running = wait_for_job(
            kube,
            namespace,
            "sharded",
            lambda j: (j["status"].get("lastRun") or {}).get("progress", {}).get("rowsDone") == 2,
            what="progress in status",
        )
        progress = running["status"]["lastRun"]["progress"]
        assert progress["rowsTotal"] == 10 and [s["rowsDone"] for s in progress["shards"]] == [2, 0]

        report(kube, namespace, "sharded-gen-1", 0, succeeded_shard(0, 5, ["sharded-gen-1-s0-0"]))
        report(kube, namespace, "sharded-gen-1", 1, succeeded_shard(5, 5, ["sharded-gen-1-s1-0"]))
        finish(kube, namespace, "sharded-gen-1", "Complete", shards=2)
        done = wait_for_job(kube, namespace, "sharded", phase_is("Succeeded", "Failed"))

    last = done["status"]["lastRun"]
    assert (last["state"], last["rows"]) == ("Succeeded", 10), last
    assert last["resultConfigMaps"] == ["sharded-gen-1-s0-0", "sharded-gen-1-s1-0"]
    assert "progress" not in last
    wait_for(
        lambda: is_gone(lambda: batch(kube).read_namespaced_job("sharded-gen-1", namespace)),
        what="the finished Job to be deleted",
    )
    assert is_gone(lambda: rbac(kube).read_namespaced_role("sharded-gen-1", namespace))
    assert is_gone(lambda: kube.core.read_namespaced_config_map("sharded-gen-1-progress", namespace))


@pytest.mark.parametrize(
    "worker_report, reason, text",
    [
        (
            {
                "state": "Failed",
                "reason": "InvalidInput",
                "message": "input/data.json: row 3 of 'x' ...",
                "disposition": "fail",
            },
            "InvalidInput",
            "row 3",
        ),
        (None, "WorkerFailed", "BackoffLimitExceeded"),
    ],
)
def test_a_failed_job_fails_the_run_with_the_workers_reason(
    kube: Kube, namespace, simulator, connection, worker_report, reason, text
):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(3)})
    create_job(kube, namespace, "doomed", backoffLimit=0)
    with running_operator(namespace):
        wait_for_batch_job(kube, namespace, "doomed-gen-1")
        if worker_report:
            report(kube, namespace, "doomed-gen-1", 0, worker_report)
        finish(kube, namespace, "doomed-gen-1", "Failed", reason="BackoffLimitExceeded")
        failed = wait_for_job(kube, namespace, "doomed", phase_is("Failed"))
    assert condition(failed, "Ready")["reason"] == reason
    assert text in failed["status"]["lastRun"]["error"]
    wait_for(
        lambda: is_gone(lambda: batch(kube).read_namespaced_job("doomed-gen-1", namespace)),
        what="the failed Job to be deleted",
    )


def test_a_restarted_operator_adopts_the_job_of_an_active_run(kube: Kube, namespace, simulator, connection):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(4)})
    create_job(kube, namespace, "steady")
    with running_operator(namespace):
        first = wait_for_batch_job(kube, namespace, "steady-gen-1")
    assert batch(kube).read_namespaced_job("steady-gen-1", namespace).metadata.uid == first.metadata.uid
    assert get_job(kube, namespace, "steady")["status"]["phase"] == "Running"  # left running, not cancelled

    with running_operator(namespace):
        wait_for(
            lambda: any(e.reason == "RunAdopted" for e in events_for(kube, namespace, "steady")),
            timeout=30,
            what="a RunAdopted event",
        )
        assert batch(kube).read_namespaced_job("steady-gen-1", namespace).metadata.uid == first.metadata.uid
        report(kube, namespace, "steady-gen-1", 0, succeeded_shard(0, 4, ["steady-gen-1-0"]))
        finish(kube, namespace, "steady-gen-1", "Complete")
        job = wait_for_job(kube, namespace, "steady", phase_is("Succeeded", "Failed"))

    last = job["status"]["lastRun"]
    assert (last["state"], last["attempt"], last.get("adopted"), last["rows"]) == ("Succeeded", 1, True, 4)
    started = [e for e in events_for(kube, namespace, "steady") if e.reason == "RunStarted"]
    assert sum(e.count or 1 for e in started) == 1  # one RunStarted for gen-1, however often the operator restarted


def test_a_spec_change_deletes_the_running_job_and_records_the_run_cancelled(
    kube: Kube, namespace, simulator, connection
):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(4)})
    create_job(kube, namespace, "changing")
    with running_operator(namespace):
        wait_for_batch_job(kube, namespace, "changing-gen-1")
        patch_job_spec(kube, namespace, "changing", {"inference": {"batchSize": 2}})
        wait_for_batch_job(kube, namespace, "changing-gen-2")
        wait_for(
            lambda: is_gone(lambda: batch(kube).read_namespaced_job("changing-gen-1", namespace)),
            what="the old run's Job to be deleted",
        )
        job = wait_for_job(
            kube,
            namespace,
            "changing",
            lambda j: any(h["id"] == "gen-1" for h in j["status"].get("history") or []),
            what="gen-1 in the history",
        )
    cancelled = next(h for h in job["status"]["history"] if h["id"] == "gen-1")
    assert (cancelled["state"], cancelled["reason"]) == ("Cancelled", "SpecChanged")
