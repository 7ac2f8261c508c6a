"""Bad input ends in a clear condition and event on the job, never a crash loop; other jobs go on."""

from __future__ import annotations

import base64

import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    condition,
    create_connection,
    create_credentials,
    create_input,
    create_job,
    create_split_input,
    events_for,
    phase_is,
    ready_reason,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_simulator import SimulatorConfig, default_config, run_simulator

pytestmark = pytest.mark.cluster

ONE_ROW = {"text_input": aloha_rows(1)}


def failed_with(kube: Kube, namespace: str, name: str, reason: str, text: str = "") -> dict:
    job = wait_for_job(kube, namespace, name, phase_is("Failed"), what=f"{name} to fail with {reason}")
    ready = condition(job, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason), ready
    assert text in ready["message"], ready["message"]
    assert job["status"]["lastRun"]["reason"] == reason
    wait_for(
        lambda: any(e.reason == "RunFailed" and reason in e.message for e in events_for(kube, namespace, name)),
        timeout=30,
        what=f"a RunFailed event on {name}",
    )  # kopf posts events asynchronously
    return job


def test_missing_secret_waits_then_succeeds_once_it_appears(kube: Kube, namespace, simulator, operator):
    create_connection(kube, namespace, simulator)
    create_input(kube, namespace, "input", ONE_ROW)
    create_job(kube, namespace, "patient")

    job = wait_for_job(kube, namespace, "patient", ready_reason("SecretNotFound"), what="SecretNotFound")
    assert job["status"]["phase"] == "Pending"
    assert "wallaroo-credentials" in condition(job, "Ready")["message"]
    wait_for(
        lambda: any(e.reason == "SecretNotFound" for e in events_for(kube, namespace, "patient")),
        timeout=30,
        what="a SecretNotFound event",
    )

    create_credentials(kube, namespace, simulator)
    wait_for_job(kube, namespace, "patient", phase_is("Succeeded"), what="success once the Secret exists")


def test_missing_secret_key_and_missing_configmap_wait(kube: Kube, namespace, simulator, operator):
    create_credentials(kube, namespace, simulator, name="partial", password="")
    kube.core.patch_namespaced_secret("partial", namespace, [{"op": "remove", "path": "/data/password"}])
    create_connection(kube, namespace, simulator, secret="partial")
    create_job(kube, namespace, "no-key")
    wait_for_job(kube, namespace, "no-key", ready_reason("SecretKeyNotFound"))

    create_credentials(kube, namespace, simulator)
    create_connection(kube, namespace, simulator, name="good")
    create_job(kube, namespace, "no-input", connectionRef={"name": "good"}, inputs=["absent"])
    job = wait_for_job(kube, namespace, "no-input", ready_reason("ConfigMapNotFound"))
    assert "absent" in condition(job, "Ready")["message"]

    kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "absent"}, "data": {"other": "{}"}})
    job = wait_for_job(kube, namespace, "no-input", ready_reason("ConfigMapKeyNotFound"))
    assert "data.json" in condition(job, "Ready")["message"]


@pytest.mark.parametrize(
    "secret_override, reason",
    [
        ({"password": "not-the-password"}, "InvalidCredentials"),
        ({"clientSecret": "not-the-secret"}, "InvalidClientCredentials"),
    ],
)
def test_wrong_credentials(kube: Kube, namespace, simulator, operator, secret_override, reason):
    create_credentials(kube, namespace, simulator, **secret_override)
    create_connection(kube, namespace, simulator)
    create_input(kube, namespace, "input", ONE_ROW)
    create_job(kube, namespace, "denied")
    failed_with(kube, namespace, "denied", reason)

    def connection_not_ready():
        conn = kube.custom.get_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, "wallaroo")
        return condition(conn, "Ready").get("reason") == reason

    wait_for(connection_not_ready, what="the connection to report the failed login")


def test_unknown_workspace_pipeline_and_bad_data_fail_clearly_while_a_good_job_succeeds(
    kube: Kube, namespace, simulator, connection, operator
):
    create_input(kube, namespace, "input", ONE_ROW)
    create_input(kube, namespace, "narrow", {"text_input": [[1, 2, 3]]})
    kube.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "garbled"}, "data": {"data.json": '{"text_input": [[1, 2'}}
    )
    create_input(kube, namespace, "ragged", {"text_input": [[1] * 50, [1] * 49]})
    create_job(kube, namespace, "no-workspace", workspace="nowhere")
    create_job(kube, namespace, "no-pipeline", pipeline="nothing")
    create_job(kube, namespace, "too-narrow", inputs=["narrow"])
    create_job(kube, namespace, "not-json", inputs=["garbled"])
    create_job(kube, namespace, "ragged-rows", inputs=["ragged"])
    create_job(kube, namespace, "good")

    failed_with(kube, namespace, "no-workspace", "WorkspaceNotFound", "nowhere")
    failed_with(kube, namespace, "no-pipeline", "PipelineNotFound", "nothing")
    failed_with(kube, namespace, "too-narrow", "InvalidInput")
    failed_with(kube, namespace, "not-json", "InvalidInput", "not valid JSON")
    failed_with(kube, namespace, "ragged-rows", "InvalidInput", "row 1")
    wait_for_job(kube, namespace, "good", phase_is("Succeeded"))


def test_undeployed_pipeline_fails_after_its_retries(kube: Kube, namespace, simulator, connection, operator):
    simulator.admin.undeploy("urldemopipeline")
    create_input(kube, namespace, "input", ONE_ROW)
    create_job(kube, namespace, "idle", backoffLimit=1)
    job = failed_with(kube, namespace, "idle", "PipelineNotDeployed")
    wait_for(
        lambda: any(e.reason == "RunRetrying" for e in events_for(kube, namespace, "idle")),
        timeout=30,
        what="a RunRetrying event",
    )
    assert job["status"]["lastRun"]["state"] == "Failed"


def test_server_that_never_answers(kube: Kube, namespace, simulator, connection, operator):
    simulator.admin.set_faults("urldemopipeline", failure="hang", hang_seconds=30, rate=1.0)
    create_input(kube, namespace, "input", ONE_ROW)
    create_job(kube, namespace, "silent", backoffLimit=0, inference={"requestTimeoutSeconds": 0.5, "retryBudget": 1})
    failed_with(kube, namespace, "silent", "RetryBudgetExhausted", "timed out")


def test_results_too_large_to_store(kube: Kube, namespace, simulator, connection, operator):
    selector = create_split_input(kube, namespace, aloha_rows(25_000), label="huge")
    create_job(kube, namespace, "huge", input=selector, results={"maxConfigMaps": 1}, inference={"batchSize": 5000})
    failed_with(kube, namespace, "huge", "ResultsTooLarge", "maxConfigMaps=1")


def test_two_workspaces_with_the_same_name(kube: Kube, namespace, operator):
    config = default_config()
    config.workspaces[1].name = "urldemoworkspace"
    with run_simulator(SimulatorConfig.model_validate(config.model_dump())) as sim:
        create_credentials(kube, namespace, sim)
        create_connection(kube, namespace, sim)
        create_input(kube, namespace, "input", ONE_ROW)
        create_job(kube, namespace, "which-one")
        failed_with(kube, namespace, "which-one", "AmbiguousWorkspace", "16")


def test_malformed_input_is_invalid_input_naming_the_configmap_never_an_internal_error(
    kube: Kube, namespace, simulator, connection, operator
):
    plain = {
        "huge-number": '{"text_input": [[1, 2], [3, ' + "9" * 5000 + "]]}",
        "deep": '{"text_input": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "twice": '{"text_input": [[1, 2]], "text_input": [[3, 4]]}',
        "not-a-number": '{"text_input": [[1, 2], [NaN, 4]]}',
    }
    for name, text in plain.items():
        kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": name}, "data": {"data.json": text}})
    # (A gzip bomb against the worker's limit, derived from its memory limit: tests/worker.)
    binary = {"latin1": b'{"text_input": [["caf\xe9"]]}'}
    for name, raw in binary.items():
        kube.core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name}, "binaryData": {"data.json": base64.b64encode(raw).decode()}}
        )
    for name in [*plain, *binary]:
        create_job(kube, namespace, name, inputs=[name])
    create_input(kube, namespace, "input", ONE_ROW)
    create_job(kube, namespace, "good")

    expected = {
        "huge-number": ("InvalidInput", "huge-number/data.json: row 1 of 'text_input', value 1"),
        "deep": ("InvalidInput", "deep/data.json: JSON nested more than"),
        "twice": ("InvalidInput", "twice/data.json: duplicate key 'text_input'"),
        "not-a-number": ("InvalidInput", "not-a-number/data.json: row 1 of 'text_input', value 0: NaN"),
        "latin1": ("InvalidInput", "latin1/data.json: not valid JSON (not UTF-8: byte 0xe9"),
    }
    for name, (reason, text) in expected.items():
        job = failed_with(kube, namespace, name, reason, text)
        assert job["status"]["lastRun"]["attempt"] == 1  # failed at once: bad input is not retried
    wait_for_job(kube, namespace, "good", phase_is("Succeeded"))
