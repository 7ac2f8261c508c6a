"""Status that is always true, against the real API server: Ready never claims a generation whose run
has not finished, and a finished run is recorded exactly once even when the API server refuses status
writes for a while or the operator restarts in between.

Status writes are made to fail by a ValidatingAdmissionPolicy (the API server's own admission, no mock)
that rejects every write of an InferenceJob's status that would put a run into the history, until the
test removes it. "Exactly once" is proven by counting what happened: inference requests at the
simulator and RunSucceeded events for the run id, not by the history (which de-duplicates by id)."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.conftest import release_finalizers
from tests.support import secret_scan
from tests.support.kube import REPO_ROOT, Kube, client_for, install_crds
from tests.support.operator import (
    aloha_rows,
    condition,
    create_connection,
    create_credentials,
    create_input,
    create_job,
    events_for,
    get_job,
    patch_job_spec,
    phase_is,
    result_config_maps,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_simulator import run_simulator

if TYPE_CHECKING:
    from localcluster import LocalCluster

pytestmark = pytest.mark.cluster

PIPELINE = "urldemopipeline"


def inference_requests(sim) -> int:
    return sim.admin.counters()["pipelines"].get(PIPELINE, {}).get("requests", 0)


def succeeded_events(kube: Kube, namespace: str, job: str, run_id: str) -> int:
    return sum(
        e.count or 1
        for e in events_for(kube, namespace, job)
        if e.reason == "RunSucceeded" and e.message.startswith(f"run {run_id}:")
    )


def _policy_names(namespace: str) -> str:
    return f"test-hold-history-{namespace}"[:63]


@contextlib.contextmanager
def history_writes_rejected(kube: Kube, namespace: str) -> Iterator[None]:
    """While inside: the API server refuses any status write of this namespace's jobs that records a
    finished run (a status with a history). Other writes, and results ConfigMaps, go through."""
    name = _policy_names(namespace)
    admission = kubernetes.client.AdmissionregistrationV1Api(kube.api)
    admission.create_validating_admission_policy(
        {
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [c.GROUP],
                            "apiVersions": ["*"],
                            "operations": ["UPDATE"],
                            "resources": [f"{c.JOB_PLURAL}/status"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "!has(object.status) || !has(object.status.history)",
                        "message": "the test holds back status writes that record a finished run",
                    }
                ],
            },
        }
    )
    try:
        admission.create_validating_admission_policy_binding(
            {
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                    },
                },
            }
        )
        yield
    finally:
        for delete in (
            admission.delete_validating_admission_policy_binding,
            admission.delete_validating_admission_policy,
        ):
            with contextlib.suppress(ApiException):
                delete(name)


def history_write_refused(kube: Kube, namespace: str, job: str) -> bool:
    """Whether the policy is in force now (a dry-run status write with a history is refused)."""
    record = {"id": "probe", "trigger": "Manual", "state": "Succeeded"}
    try:
        kube.custom.patch_namespaced_custom_object_status(
            c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, job, {"status": {"history": [record]}}, dry_run="All"
        )
    except ApiException as error:
        return error.status in (400, 403, 422) and "holds back" in (error.body or "")
    return False


def history_write_allowed(kube: Kube, namespace: str, job: str) -> bool:
    return not history_write_refused(kube, namespace, job)


def start_held_run(kube: Kube, namespace: str, simulator, job: str, rows: int, batch: int) -> None:
    """A run whose finishing status write is refused: returns once its results exist and the operator
    has said that it keeps retrying."""
    create_job(kube, namespace, job, inference={"batchSize": batch, "parallelism": 1})  # waits for its input
    wait_for(lambda: history_write_refused(kube, namespace, job), timeout=30, what="the policy to be in force")
    create_input(kube, namespace, "input", {"text_input": aloha_rows(rows)})
    wait_for(lambda: result_config_maps(kube, namespace, job), timeout=90, what="the run's results")
    wait_for(
        lambda: any(e.reason == "StatusWriteRetrying" for e in events_for(kube, namespace, job)),
        timeout=60,
        what="a StatusWriteRetrying event",
    )
    held = get_job(kube, namespace, job)["status"]
    assert [r["id"] for r in held["active"]] == ["gen-1"], held  # the run is still shown as active...
    assert "history" not in held  # ...and its end not yet recorded


def assert_recorded_once(kube: Kube, namespace: str, simulator, job_name: str, rows: int, batch: int) -> dict:
    job = wait_for_job(kube, namespace, job_name, phase_is("Succeeded"), timeout=90)
    status = job["status"]
    assert [h["id"] for h in status["history"]] == ["gen-1"], status
    assert "active" not in status
    assert status["lastRun"]["rows"] == rows
    names = sorted(cm.metadata.name for cm in result_config_maps(kube, namespace, job_name))
    assert sorted(status["lastRun"]["resultConfigMaps"]) == names  # no results ConfigMap is orphaned
    ready = condition(job, "Ready")
    assert (ready["status"], ready["observedGeneration"]) == ("True", job["metadata"]["generation"])
    assert inference_requests(simulator) == rows // batch  # the rows were sent once: one run, not two
    wait_for(
        lambda: succeeded_events(kube, namespace, job_name, "gen-1") >= 1, timeout=30, what="the RunSucceeded event"
    )
    assert succeeded_events(kube, namespace, job_name, "gen-1") == 1
    return job


def test_status_writes_refused_for_a_while_lose_nothing(kube: Kube, namespace, simulator, connection, operator):
    simulator.admin.reset_counters()
    with history_writes_rejected(kube, namespace):
        start_held_run(kube, namespace, simulator, "held", rows=20, batch=5)
    wait_for(lambda: history_write_allowed(kube, namespace, "held"), timeout=30, what="the policy to be gone")

    job = assert_recorded_once(kube, namespace, simulator, "held", rows=20, batch=5)

    assert "recovered" not in job["status"]["lastRun"]  # the operator kept it in memory and wrote it
    wait_for(
        lambda: any(e.reason == "StatusWritten" for e in events_for(kube, namespace, "held")),
        timeout=30,
        what="a StatusWritten event",
    )


def test_a_run_whose_status_never_landed_is_recovered_from_its_results_after_a_restart(
    kube: Kube, namespace, simulator, connection
):
    simulator.admin.reset_counters()
    with history_writes_rejected(kube, namespace):
        with running_operator(namespace):
            start_held_run(kube, namespace, simulator, "restarted", rows=20, batch=5)
        # The operator stopped with the run's end unrecorded: the status still lists it as active.
        assert [r["id"] for r in get_job(kube, namespace, "restarted")["status"]["active"]] == ["gen-1"]
    wait_for(lambda: history_write_allowed(kube, namespace, "restarted"), timeout=30, what="the policy to be gone")

    with running_operator(namespace):
        job = assert_recorded_once(kube, namespace, simulator, "restarted", rows=20, batch=5)

    last = job["status"]["lastRun"]
    assert (last["id"], last["state"], last["recovered"]) == ("gen-1", "Succeeded", True)
    assert not any(e.reason == "RunRestarted" for e in events_for(kube, namespace, "restarted"))


def kubectl(kube: Kube, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    from localcluster import build_binaries

    return subprocess.run(
        [str(build_binaries().kubectl), "--kubeconfig", str(kube.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_kubectl_wait_for_ready_waits_for_the_new_generations_run(
    kube: Kube, namespace, simulator, connection, operator
):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(10)})
    create_job(kube, namespace, "waited", inference={"batchSize": 10, "parallelism": 1})
    wait_for_job(kube, namespace, "waited", phase_is("Succeeded"))
    simulator.admin.set_faults(PIPELINE, latency_seconds=0.3)  # the new generation's run takes about 3 s

    patch_job_spec(kube, namespace, "waited", {"inference": {"batchSize": 1}})
    waited = kubectl(kube, "-n", namespace, "wait", "--for=condition=Ready", "inferencejob/waited", "--timeout=90s")

    assert waited.returncode == 0, waited.stderr
    job = get_job(kube, namespace, "waited")
    assert job["metadata"]["generation"] == 2
    finished = {h["id"]: h["state"] for h in job["status"].get("history") or []}
    assert finished.get("gen-2") == "Succeeded", job["status"]  # kubectl wait did not return early
    assert condition(job, "Ready")["observedGeneration"] == 2


def test_ready_is_unknown_for_a_generation_whose_run_is_in_progress(
    kube: Kube, namespace, simulator, connection, operator
):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(10)})
    create_job(kube, namespace, "observed", inference={"batchSize": 10, "parallelism": 1})
    wait_for_job(kube, namespace, "observed", phase_is("Succeeded"))
    simulator.admin.set_faults(PIPELINE, latency_seconds=0.5)

    patch_job_spec(kube, namespace, "observed", {"inference": {"batchSize": 1}})
    in_progress = wait_for_job(
        kube,
        namespace,
        "observed",
        lambda j: any(r["id"] == "gen-2" for r in j["status"].get("active") or []),
        what="the gen-2 run to be active",
    )

    ready = condition(in_progress, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("Unknown", "RunInProgress", 2)
    simulator.admin.clear_faults()
    done = wait_for_job(
        kube, namespace, "observed", lambda j: not j["status"].get("active") and j["status"]["lastRun"]["id"] == "gen-2"
    )
    ready, succeeded = condition(done, "Ready"), condition(done, "Succeeded")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "RunSucceeded", 2)
    assert (succeeded["message"], succeeded["observedGeneration"]) == ("run gen-2: 10 rows", 2)
    assert done["status"]["lastRun"]["generation"] == 2


# ---- a real API server outage: kube-apiserver of a throwaway control plane stopped and started again ----


ROWS = 40


@pytest.fixture
def own_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalCluster, Kube]]:
    """A control plane of this test's own (its API server is stopped in the middle), with the operator's
    client pointed at it for the test's duration."""
    from localcluster import LocalCluster, build_binaries
    from wallaroo_operator.kube import client as operator_client

    with tempfile.TemporaryDirectory(prefix="outage-") as root:
        cluster = LocalCluster(Path(root) / "cluster", build_binaries())
        cluster.start(
            before_controllers=lambda started: install_crds(client_for(started.kubeconfig), REPO_ROOT / "crds")
        )
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
        operator_client.configuration.cache_clear()
        operator_client.api_client.cache_clear()
        kube = Kube(cluster.kubeconfig, client_for(cluster.kubeconfig))
        try:
            yield cluster, kube
        finally:
            for namespace in kube.core.list_namespace().items:  # for the suite's secret scan
                if namespace.metadata.name not in ("default", "kube-node-lease", "kube-public", "kube-system"):
                    secret_scan.collect_namespace(kube, namespace.metadata.name, secret_scan.SESSION)
            operator_client.configuration.cache_clear()
            operator_client.api_client.cache_clear()
            cluster.stop()


def test_api_server_outages_mid_run_and_while_recording_lose_and_repeat_nothing(own_cluster):
    """The results are written when the run ends, so the API server must be back by then: this test
    proves that the run survives the outage, and that its record survives a second outage."""
    cluster, kube = own_cluster
    namespace = "outage"
    kube.core.create_namespace({"metadata": {"name": namespace}})
    with run_simulator() as simulator, running_operator(namespace):
        simulator.admin.set_faults(PIPELINE, latency_seconds=0.5)
        create_credentials(kube, namespace, simulator)
        create_connection(kube, namespace, simulator)
        with history_writes_rejected(kube, namespace):
            create_job(kube, namespace, "outage", inference={"batchSize": 1, "parallelism": 1})
            wait_for(
                lambda: history_write_refused(kube, namespace, "outage"), timeout=30, what="the policy to be in force"
            )
            create_input(kube, namespace, "input", {"text_input": aloha_rows(ROWS)})
            wait_for(lambda: inference_requests(simulator) >= 1, timeout=60, what="the run to be sending rows")

            # 1. The API server goes away in the middle of the run, and comes back. The run is slowed
            #    down meanwhile (2 s a row), so that it cannot end (and write results) before that.
            simulator.admin.set_faults(PIPELINE, latency_seconds=2.0)
            cluster.stop_apiserver()
            during = inference_requests(simulator)
            assert during < ROWS - 4, "the run ended while the API server was stopping: make it slower"
            wait_for(
                lambda: inference_requests(simulator) >= during + 2,
                timeout=30,
                what="the run to go on while the API server is away",
            )
            cluster.start_apiserver()
            assert inference_requests(simulator) < ROWS, "the run ended before the API server was back"
            simulator.admin.clear_faults()

            # 2. The run ends; its record is refused (the policy), then the API server goes away again.
            wait_for(lambda: result_config_maps(kube, namespace, "outage"), timeout=90, what="the run's results")
            wait_for(
                lambda: any(e.reason == "StatusWriteRetrying" for e in events_for(kube, namespace, "outage")),
                timeout=60,
                what="a StatusWriteRetrying event",
            )
            cluster.stop_apiserver()
            cluster.start_apiserver()
        wait_for(lambda: history_write_allowed(kube, namespace, "outage"), timeout=30, what="the policy to be gone")

        job = wait_for_job(kube, namespace, "outage", phase_is("Succeeded"), timeout=120)
        status = job["status"]
        assert [h["id"] for h in status["history"]] == ["gen-1"], status
        assert "active" not in status and status["lastRun"]["rows"] == ROWS
        names = sorted(cm.metadata.name for cm in result_config_maps(kube, namespace, "outage"))
        assert sorted(status["lastRun"]["resultConfigMaps"]) == names
        ready = condition(job, "Ready")
        assert (ready["status"], ready["observedGeneration"]) == ("True", 1)
        assert inference_requests(simulator) == ROWS  # every row sent once: the run was neither lost nor repeated
        wait_for(
            lambda: succeeded_events(kube, namespace, "outage", "gen-1") >= 1, timeout=30, what="the RunSucceeded event"
        )
        assert succeeded_events(kube, namespace, "outage", "gen-1") == 1
        release_finalizers(kube, namespace)


def test_a_status_change_made_meanwhile_is_kept_not_overwritten_by_a_stale_copy(
    kube: Kube, namespace, simulator, connection, operator
):
    """Someone else (an older operator instance finishing up, a user with --subresource=status) records a
    run while ours is in progress: the operator's next write is refused (409, resourceVersion), re-reads
    and applies its own change on top, so both runs stay in the history."""
    simulator.admin.set_faults(PIPELINE, latency_seconds=0.5)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(10)})
    create_job(kube, namespace, "shared", inference={"batchSize": 1, "parallelism": 1})
    wait_for_job(
        kube, namespace, "shared", lambda j: any(r.get("state") == "Running" for r in j["status"].get("active") or [])
    )
    foreign = {
        "id": "manual-0123456789",
        "trigger": "Manual",
        "state": "Succeeded",
        "startTime": "2024-01-01T00:00:00Z",
        "completionTime": "2024-01-01T00:00:05Z",
        "rows": 3,
    }
    kube.custom.patch_namespaced_custom_object_status(
        c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, "shared", {"status": {"history": [foreign]}}
    )

    job = wait_for_job(
        kube, namespace, "shared", lambda j: j["status"].get("lastRun", {}).get("state") == "Succeeded", timeout=90
    )

    assert [h["id"] for h in job["status"]["history"]] == ["gen-1", "manual-0123456789"], job["status"]
