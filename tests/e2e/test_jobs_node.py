"""The Job executor end to end on a real node (kubelet + containerd, the operator's image loaded into it).

Needs the `node` fixture (a cluster with a node and the operator's image, from the node work); without it
every test here is skipped.
"""

from __future__ import annotations

import os

import kubernetes
import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    condition,
    create_input,
    create_job,
    create_split_input,
    events_for,
    phase_is,
    read_results,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.node]


@pytest.fixture
def node(request):
    """The node and its image, when the suite provides them (a `node` fixture in a conftest overrides this)."""
    pytest.skip("no node in this cluster: the Job executor's Pods cannot run here")


@pytest.fixture
def job_operator(namespace, node, monkeypatch):
    monkeypatch.setenv("WALLAROO_OPERATOR_EXECUTOR", "job")
    monkeypatch.setenv("WALLAROO_OPERATOR_WORKER_IMAGE", getattr(node, "image", os.environ.get(
        "WALLAROO_OPERATOR_WORKER_IMAGE", "wallaroo-inference-operator:0.1.0")))
    with running_operator(namespace) as runner:
        yield runner


def inference_requests(sim) -> int:
    return sim.admin.counters()["requests"].get("infer", 0)


def test_four_shards_give_the_same_outputs_in_order_as_one(kube: Kube, namespace, simulator, connection,
                                                            job_operator):
    selector = create_split_input(kube, namespace, aloha_rows(25_000), label="tutorial")
    create_job(kube, namespace, "one", input=selector)
    create_job(kube, namespace, "four", input=selector, execution={"shards": 4})
    one = wait_for_job(kube, namespace, "one", phase_is("Succeeded", "Failed"), timeout=600)
    four = wait_for_job(kube, namespace, "four", phase_is("Succeeded", "Failed"), timeout=600)
    assert (one["status"]["phase"], four["status"]["phase"]) == ("Succeeded", "Succeeded")
    assert read_results(kube, namespace, four) == read_results(kube, namespace, one)


def test_a_worker_with_64_mib_streams_250k_rows_or_fails_clearly(kube: Kube, namespace, simulator, connection,
                                                                  job_operator):
    selector = create_split_input(kube, namespace, aloha_rows(250_000), label="big")
    create_job(kube, namespace, "small", input=selector, backoffLimit=0, results={"maxConfigMaps": 200},
               execution={"resources": {"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}}})
    job = wait_for_job(kube, namespace, "small", phase_is("Succeeded", "Failed"), timeout=1200)
    if job["status"]["phase"] == "Failed":
        assert condition(job, "Ready")["reason"] in ("InsufficientWorkerMemory", "WorkerOutOfMemory"), job["status"]
    else:
        assert job["status"]["lastRun"]["rows"] == 250_000


def test_a_killed_shard_pod_is_retried_alone(kube: Kube, namespace, simulator, connection, job_operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.2)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(2000)})
    create_job(kube, namespace, "resilient", inference={"batchSize": 50, "parallelism": 1},
               execution={"shards": 2})
    pods = wait_for(lambda: [p for p in kube.core.list_namespaced_pod(
        namespace, label_selector="batch.kubernetes.io/job-name=resilient-gen-1").items
        if p.status.phase == "Running"] or None, timeout=300, what="shard Pods running")
    victim = next(p for p in pods if p.metadata.annotations.get("batch.kubernetes.io/job-completion-index") == "1")
    kube.core.delete_namespaced_pod(victim.metadata.name, namespace, grace_period_seconds=0)
    simulator.admin.clear_faults()
    job = wait_for_job(kube, namespace, "resilient", phase_is("Succeeded", "Failed"), timeout=600)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert [r["row"] for r in read_results(kube, namespace, job)] == list(range(2000))


def test_operator_restart_mid_run_completes_exactly_once(kube: Kube, namespace, simulator, connection, node,
                                                         monkeypatch):
    monkeypatch.setenv("WALLAROO_OPERATOR_EXECUTOR", "job")
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.1)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(1000)})
    create_job(kube, namespace, "once", inference={"batchSize": 10, "parallelism": 1})
    with running_operator(namespace):
        wait_for_job(kube, namespace, "once", lambda j: (j["status"].get("lastRun") or {}).get("progress", {}).get(
            "rowsDone", 0) > 0, timeout=300, what="rows done")
    with running_operator(namespace):
        job = wait_for_job(kube, namespace, "once", phase_is("Succeeded", "Failed"), timeout=600)
    assert job["status"]["phase"] == "Succeeded"
    assert inference_requests(simulator) == 100  # every batch sent exactly once
    started = [e for e in events_for(kube, namespace, "once") if e.reason == "RunStarted"]
    assert sum(e.count or 1 for e in started) == 1


def test_two_hundred_jobs_at_once_all_succeed(kube: Kube, namespace, simulator, connection, job_operator):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(5)})
    for index in range(200):
        create_job(kube, namespace, f"many-{index}")

    def all_done():
        jobs = kube.custom.list_namespaced_custom_object("wallaroo.inferops.dev", "v1alpha1", namespace,
                                                         "inferencejobs")["items"]
        phases = [(j.get("status") or {}).get("phase") for j in jobs]
        return phases if all(p in ("Succeeded", "Failed") for p in phases) else None
    phases = wait_for(all_done, timeout=1800, what="200 jobs to finish")
    assert phases.count("Succeeded") == 200


def test_deleting_the_inference_job_leaves_no_job_pod_or_results(kube: Kube, namespace, simulator, connection,
                                                                  job_operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.5)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(200)})
    create_job(kube, namespace, "doomed", inference={"batchSize": 10, "parallelism": 1})
    wait_for_job(kube, namespace, "doomed", phase_is("Running"))
    kube.custom.delete_namespaced_custom_object("wallaroo.inferops.dev", "v1alpha1", namespace, "inferencejobs",
                                                "doomed")
    batch = kubernetes.client.BatchV1Api(kube.api)
    wait_for(lambda: not batch.list_namespaced_job(namespace).items
             and not kube.core.list_namespaced_pod(namespace).items
             and not kube.core.list_namespaced_config_map(namespace, label_selector="wallaroo.inferops.dev/job=doomed"
                                                          ).items, timeout=120, what="nothing left behind")
