"""The Job executor end to end on the real node: each run a batch/v1 Job whose Pods run this checkout's
image (kubelet + containerd), reaching the API server through the node's gateway (the operator settings
WALLAROO_OPERATOR_WORKER_HOST_ALIASES/_ENV) and the simulator bound on that gateway.

The operator itself runs in this process (kopf in a thread) with `--executor=job`; tests/node/ deploys it
as a Pod from hack/overlays/local/, which uses the Job executor too. Skipped, with the reason, where no node
can run.
"""

from __future__ import annotations

import re

import kubernetes
import pytest

from tests.support.kube import Kube
from tests.support.node import JOB_EXECUTOR
from tests.support.operator import (
    aloha_rows,
    condition,
    create_input,
    create_job,
    create_split_input,
    events_for,
    patch_job_spec,
    phase_is,
    read_results,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.parametrize("executor", [JOB_EXECUTOR], indirect=True)]
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def batch(kube: Kube) -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(kube.api)


def served(sim, what: str = "requests") -> int:
    """Inference requests (or rows) the simulator's pipeline answered."""
    return sim.admin.counters()["pipelines"].get("urldemopipeline", {}).get(what, 0)


def run_events(kube: Kube, namespace: str, job: str, reason: str, run_id: str) -> int:
    """Events of one reason for one run id (an event's count included: the history de-duplicates)."""
    pattern = re.compile(rf"\brun {re.escape(run_id)}\b")
    return sum(
        e.count or 1 for e in events_for(kube, namespace, job) if e.reason == reason and pattern.search(e.message or "")
    )


def pods_of(kube: Kube, namespace: str, worker: str) -> list:
    return kube.core.list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={worker}").items


def progress(job: dict) -> dict:
    return (job.get("status", {}).get("lastRun") or {}).get("progress") or {}


def rss_bytes() -> int:
    """This process's resident memory: the operator runs here (kopf in a thread)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_four_shards_give_the_same_outputs_in_order_as_one(kube: Kube, namespace, simulator, connection, operator):
    selector = create_split_input(kube, namespace, aloha_rows(25_000), label="tutorial")
    create_job(kube, namespace, "one", input=selector)
    create_job(kube, namespace, "four", input=selector, execution={"shards": 4})
    one = wait_for_job(kube, namespace, "one", phase_is("Succeeded", "Failed"), timeout=600)
    four = wait_for_job(kube, namespace, "four", phase_is("Succeeded", "Failed"), timeout=600)
    assert (one["status"]["phase"], four["status"]["phase"]) == ("Succeeded", "Succeeded"), (
        one["status"],
        four["status"],
    )
    assert four["status"]["lastRun"]["rows"] == 25_000
    outputs = read_results(kube, namespace, four)
    assert outputs == read_results(kube, namespace, one)
    assert [row["row"] for row in outputs] == list(range(25_000))


def test_a_killed_shard_pod_is_retried_alone(kube: Kube, namespace, simulator, connection, operator):
    """Shards one after the other (parallelism 1): shard 0 has completed when shard 1's Pod is killed
    mid-run. The Job is kept (ttlSecondsAfterFinished) to read its Pods and counts afterwards."""
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.5)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(2000)})
    create_job(
        kube,
        namespace,
        "resilient",
        inference={"batchSize": 50, "parallelism": 1},
        execution={"shards": 2, "parallelism": 1, "ttlSecondsAfterFinished": 600},
    )
    wait_for_job(
        kube,
        namespace,
        "resilient",
        lambda j: len(progress(j).get("shards") or []) == 2 and progress(j)["shards"][1]["rowsDone"] > 0,
        timeout=300,
        what="shard 1 under way",
    )
    pods = {p.metadata.annotations[INDEX_ANNOTATION]: p for p in pods_of(kube, namespace, "resilient-gen-1")}
    assert pods["0"].status.phase == "Succeeded"
    kube.core.delete_namespaced_pod(pods["1"].metadata.name, namespace, grace_period_seconds=0)
    simulator.admin.clear_faults()

    job = wait_for_job(kube, namespace, "resilient", phase_is("Succeeded", "Failed"), timeout=600)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert [r["row"] for r in read_results(kube, namespace, job)] == list(range(2000))
    after = {p.metadata.annotations[INDEX_ANNOTATION]: p for p in pods_of(kube, namespace, "resilient-gen-1")}
    assert after["0"].metadata.uid == pods["0"].metadata.uid  # shard 0 never re-ran: the same one Pod
    assert after["1"].metadata.uid != pods["1"].metadata.uid  # shard 1 did, in a new Pod
    status = batch(kube).read_namespaced_job("resilient-gen-1", namespace).status
    assert (status.failed, status.succeeded, status.completed_indexes) == (1, 2, "0,1")
    # 20 requests per shard once, plus what the killed attempt of shard 1 had sent (fewer than its 20);
    # a re-run of shard 0 would add 20 more.
    assert 40 < served(simulator) < 60, served(simulator)


@pytest.mark.parametrize("memory", ["64Mi", "192Mi"])
def test_a_small_worker_streams_250k_rows_or_fails_clearly(
    kube: Kube, namespace, simulator, connection, operator, memory
):
    """64Mi is less than the worker's interpreter and libraries take (122 MiB measured): the run fails
    with InsufficientWorkerMemory before any Pod, never an OOM kill. 192Mi streams all 250k rows."""
    for part in range(50):  # 250k rows in 50 gzipped parts, generated one part at a time
        create_input(
            kube,
            namespace,
            f"big-{part}",
            {"text_input": aloha_rows(5_000, seed=part)},
            compress=True,
            labels={"dataset": "big"},
        )
    baseline = rss_bytes()
    peak = baseline
    create_job(
        kube,
        namespace,
        "small",
        input={"selector": {"matchLabels": {"dataset": "big"}}},
        backoffLimit=0,
        results={"maxConfigMaps": 200},
        inference={"batchSize": 1000, "parallelism": 2},
        execution={"resources": {"limits": {"memory": memory}, "requests": {"memory": memory}}},
    )

    def finished(job: dict) -> bool:
        nonlocal peak
        peak = max(peak, rss_bytes())
        return phase_is("Succeeded", "Failed")(job)

    job = wait_for_job(kube, namespace, "small", finished, timeout=1200)

    if memory == "64Mi":
        assert job["status"]["phase"] == "Failed", job["status"]
        assert condition(job, "Ready")["reason"] == "InsufficientWorkerMemory", job["status"]
        assert "64Mi" in condition(job, "Ready")["message"]
        assert not batch(kube).list_namespaced_job(namespace).items and served(simulator, "rows") == 0
    else:
        assert job["status"]["phase"] == "Succeeded", job["status"]
        assert job["status"]["lastRun"]["rows"] == 250_000
        assert served(simulator, "rows") == 250_000
    # The operator never holds rows or outputs: its process does not grow with them (250k rows of 15
    # outputs as Python objects would be well over 100 MiB).
    assert peak - baseline < 32 * 2**20, f"the operator's process grew by {(peak - baseline) / 2**20:.1f} MiB"


def test_operator_restart_mid_run_completes_exactly_once(kube: Kube, namespace, simulator, connection):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.1)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(1000)})
    create_job(kube, namespace, "once", inference={"batchSize": 10, "parallelism": 1})
    with running_operator(namespace):
        wait_for_job(
            kube, namespace, "once", lambda j: progress(j).get("rowsDone", 0) > 0, timeout=300, what="rows done"
        )
    assert batch(kube).read_namespaced_job("once-gen-1", namespace)  # left running for the next operator
    with running_operator(namespace):
        job = wait_for_job(kube, namespace, "once", phase_is("Succeeded", "Failed"), timeout=600)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["lastRun"].get("adopted") is True
    assert served(simulator) == 100  # every batch sent exactly once
    assert run_events(kube, namespace, "once", "RunStarted", "gen-1") == 1
    assert run_events(kube, namespace, "once", "RunAdopted", "gen-1") == 1


# Not the 200: see the test's docstring.
MANY_JOBS = 40


def test_many_jobs_at_once_all_succeed(kube: Kube, namespace, simulator, connection, operator):
    """MANY_JOBS InferenceJobs created at once, each its own Job and Pod, all succeed.

    Why 40, not 200: measured on this 2-core machine with the node, 40 jobs took 240 s while other test
    sessions kept the load average at 20 to 28, and 93 s at load 11 (10 to 26 Pods a minute: each worker
    Pod costs containerd a container and the worker's interpreter 3 to 4 CPU-seconds); 200 would take 8 to
    20 minutes, too long for one test in CI. 40 is still more than the operator's 16 run slots
    (WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS), so runs queue, and 16 Pods start at once on one node."""
    create_input(kube, namespace, "input", {"text_input": aloha_rows(5)})
    for index in range(MANY_JOBS):
        create_job(kube, namespace, f"many-{index}")

    def all_done():
        jobs = kube.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL)["items"]
        phases = [(j.get("status") or {}).get("phase") for j in jobs]
        return phases if all(p in ("Succeeded", "Failed") for p in phases) else None

    phases = wait_for(all_done, timeout=1800, interval=5, what=f"{MANY_JOBS} jobs to finish")
    assert phases.count("Succeeded") == MANY_JOBS
    assert served(simulator, "rows") == 5 * MANY_JOBS


def nothing_left_of(kube: Kube, namespace: str, worker: str, job: str, run_id: str) -> bool:
    results = kube.core.list_namespaced_config_map(
        namespace, label_selector=f"{c.JOB_LABEL}={job},{c.RUN_LABEL}={run_id}"
    ).items
    jobs = [j for j in batch(kube).list_namespaced_job(namespace).items if j.metadata.name == worker]
    return not jobs and not pods_of(kube, namespace, worker) and not results


def test_a_spec_change_deletes_the_running_job_its_pods_first(kube: Kube, namespace, simulator, connection, operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.5)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(200)})
    create_job(kube, namespace, "changing", inference={"batchSize": 10, "parallelism": 1})
    wait_for_job(
        kube, namespace, "changing", lambda j: progress(j).get("rowsDone", 0) > 0, timeout=300, what="rows done"
    )
    patch_job_spec(kube, namespace, "changing", {"inference": {"batchSize": 20}})

    # Foreground propagation: by the time the Job object is gone, so are its Pods (no wait in between).
    wait_for(
        lambda: (
            not [j for j in batch(kube).list_namespaced_job(namespace).items if j.metadata.name == "changing-gen-1"]
        ),
        timeout=120,
        what="gen-1's Job to be deleted",
    )
    assert not pods_of(kube, namespace, "changing-gen-1")
    simulator.admin.clear_faults()
    job = wait_for_job(
        kube,
        namespace,
        "changing",
        lambda j: any(h["id"] == "gen-2" for h in j["status"].get("history") or []),
        timeout=300,
        what="gen-2 to finish",
    )
    cancelled = next(h for h in job["status"]["history"] if h["id"] == "gen-1")
    assert (cancelled["state"], cancelled["reason"]) == ("Cancelled", "SpecChanged")
    assert nothing_left_of(kube, namespace, "changing-gen-1", "changing", "gen-1")


def test_deleting_the_inference_job_leaves_no_job_pod_or_results(
    kube: Kube, namespace, simulator, connection, operator
):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.5)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(200)})
    create_job(kube, namespace, "doomed", inference={"batchSize": 10, "parallelism": 1})
    wait_for_job(kube, namespace, "doomed", lambda j: progress(j).get("rowsDone", 0) > 0, timeout=300, what="rows done")
    kube.custom.delete_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, "doomed")
    wait_for(
        lambda: (
            nothing_left_of(kube, namespace, "doomed-gen-1", "doomed", "gen-1")
            and not kube.core.list_namespaced_config_map(namespace, label_selector=f"{c.JOB_LABEL}=doomed").items
        ),
        timeout=120,
        what="nothing left behind",
    )
