"""Expiring tokens, redeployed pipelines, TLS, deletion and operator restarts, end to end."""

from __future__ import annotations

import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    annotate_run_now,
    condition,
    create_connection,
    create_credentials,
    create_input,
    create_job,
    events_for,
    get_job,
    is_gone,
    phase_is,
    result_config_maps,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_simulator import run_simulator

pytestmark = pytest.mark.cluster


def token_requests(sim) -> int:
    """Password and refresh-token grants the simulator's Keycloak answered."""
    return sum(sim.admin.counters()["grants"].values())


def test_token_expiring_in_the_middle_of_a_run(kube: Kube, namespace, simulator, connection, operator):
    simulator.admin.set_token_lifetimes(access_seconds=2, refresh_seconds=3)
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.25)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(400)})
    before = token_requests(simulator)
    create_job(kube, namespace, "long", inference={"batchSize": 20, "parallelism": 1})

    job = wait_for_job(kube, namespace, "long", phase_is("Succeeded", "Failed"), timeout=120)

    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["lastRun"]["rows"] == 400
    assert token_requests(simulator) - before >= 3  # renewed several times during the ~5 s run


def test_redeployed_pipeline_is_re_resolved(kube: Kube, namespace, simulator, connection, operator):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(5)})
    create_job(kube, namespace, "moving")
    first = wait_for_job(kube, namespace, "moving", phase_is("Succeeded"))
    old_url = first["status"]["inferenceUrl"]

    simulator.admin.redeploy("urldemopipeline")
    annotate_run_now(kube, namespace, "moving", "after-redeploy")

    second = wait_for_job(
        kube,
        namespace,
        "moving",
        lambda j: j["status"]["lastRun"]["trigger"] == "Manual" and j["status"]["phase"] in ("Succeeded", "Failed"),
    )
    assert second["status"]["phase"] == "Succeeded", second["status"]
    assert second["status"]["inferenceUrl"] != old_url
    wait_for(
        lambda: sum(e.reason == "Resolved" for e in events_for(kube, namespace, "moving")) >= 2,
        timeout=30,
        what="a second Resolved event for the new URL",
    )


def test_tls_needs_the_ca_bundle(kube: Kube, namespace, operator):
    with run_simulator(tls=True) as sim:
        create_credentials(kube, namespace, sim)
        create_connection(kube, namespace, sim)
        create_input(kube, namespace, "input", {"text_input": aloha_rows(2)})
        create_job(kube, namespace, "secure", backoffLimit=0)
        failed = wait_for_job(kube, namespace, "secure", phase_is("Failed"))
        assert condition(failed, "Ready")["reason"] == "TLSVerificationFailed"

        with open(sim.ca_file) as ca:
            kube.core.create_namespaced_config_map(
                namespace, {"metadata": {"name": "wallaroo-ca"}, "data": {"ca.crt": ca.read()}}
            )
        kube.custom.patch_namespaced_custom_object(
            c.GROUP,
            c.VERSION,
            namespace,
            c.CONNECTION_PLURAL,
            "wallaroo",
            {"spec": {"caBundle": {"configMapRef": {"name": "wallaroo-ca", "key": "ca.crt"}}}},
        )
        annotate_run_now(kube, namespace, "secure", "with-ca")
        job = wait_for_job(kube, namespace, "secure", phase_is("Succeeded"))
        assert job["status"]["inferenceUrl"].startswith("https://")


def test_deleting_the_job_deletes_its_results(kube: Kube, namespace, simulator, connection, operator):
    create_input(kube, namespace, "input", {"text_input": aloha_rows(3)})
    create_job(kube, namespace, "short-lived", results={"configMaps": "Always"})  # small outputs, stored too
    wait_for_job(kube, namespace, "short-lived", phase_is("Succeeded"))
    assert result_config_maps(kube, namespace, "short-lived")

    kube.custom.delete_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, "short-lived")

    wait_for(lambda: is_gone(lambda: get_job(kube, namespace, "short-lived")), what="the job to be deleted")
    wait_for(
        lambda: not result_config_maps(kube, namespace, "short-lived"),
        timeout=90,
        what="its results to be garbage-collected",
    )
    assert kube.core.read_namespaced_config_map("input", namespace)  # inputs are the user's: untouched


def test_operator_restart_in_the_middle_of_a_run_starts_it_again(kube: Kube, namespace, simulator, connection):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.3)
    rows = aloha_rows(300)
    create_input(kube, namespace, "input", {"text_input": rows})
    create_job(kube, namespace, "interrupted", inference={"batchSize": 10, "parallelism": 1})

    with running_operator(namespace):
        wait_for_job(kube, namespace, "interrupted", phase_is("Running"), what="the run to start")
    stopped = get_job(kube, namespace, "interrupted")
    assert stopped["status"]["phase"] == "Running"  # never silently left half-done...
    assert [r["id"] for r in stopped["status"]["active"]] == ["gen-1"]

    simulator.admin.clear_faults()
    with running_operator(namespace):
        job = wait_for_job(kube, namespace, "interrupted", phase_is("Succeeded", "Failed"), timeout=120)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    last = job["status"]["lastRun"]
    assert (last["id"], last["attempt"], last["restarted"], last["rows"]) == ("gen-1", 2, True, 300)
    assert [h["id"] for h in job["status"]["history"]] == ["gen-1"]  # ...and not run twice
    assert "active" not in job["status"]
    wait_for(
        lambda: any(e.reason == "RunRestarted" for e in events_for(kube, namespace, "interrupted")),
        timeout=30,
        what="a RunRestarted event",
    )


def test_active_deadline_cancels_a_run_that_takes_too_long(kube: Kube, namespace, simulator, connection, operator):
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.5)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(30)})
    create_job(kube, namespace, "slowpoke", activeDeadlineSeconds=2, inference={"batchSize": 1, "parallelism": 1})

    job = wait_for_job(kube, namespace, "slowpoke", phase_is("Failed"), timeout=60)

    last = job["status"]["lastRun"]
    assert (last["state"], last["reason"], last["partial"]) == ("Cancelled", "DeadlineExceeded", True)
    assert condition(job, "Ready")["reason"] == "DeadlineExceeded"
    assert not result_config_maps(kube, namespace, "slowpoke")
