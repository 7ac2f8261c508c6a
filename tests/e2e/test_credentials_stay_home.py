"""Credentials go only where they belong, end to end: a token never reaches an inference host the
connection does not list, and a Secret that has not consented is never read into a request."""

from __future__ import annotations

import base64

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
    phase_is,
    ready_reason,
    wait_for_job,
)
from tests.support.recording_server import recording_server
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_operator.wallaroo.http import origin_of
from wallaroo_simulator import run_simulator

pytestmark = pytest.mark.cluster


def get_connection(kube: Kube, namespace: str, name: str = "wallaroo") -> dict:
    return kube.custom.get_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, name)


def connection_reason(kube: Kube, namespace: str, reason: str, name: str = "wallaroo") -> dict:
    def probe() -> dict | None:
        connection = get_connection(kube, namespace, name)
        return connection if condition(connection, "Ready").get("reason") == reason else None

    return wait_for(probe, timeout=60, what=f"connection {name} to say {reason}")


def last_run_is(prefix: str, *phases: str):
    return lambda job: (
        ((job.get("status") or {}).get("lastRun") or {}).get("id", "").startswith(prefix) and phase_is(*phases)(job)
    )


def test_an_inference_url_on_an_unlisted_origin_gets_nothing_and_the_job_names_it(kube: Kube, namespace, operator):
    with recording_server() as hostile, run_simulator(public_url=hostile.url) as sim:
        hostile.forward_to = sim.base_url
        create_credentials(kube, namespace, sim)
        create_connection(kube, namespace, sim)
        create_input(kube, namespace, "input", {"text_input": aloha_rows(3)})
        create_job(kube, namespace, "exfil", backoffLimit=0)

        job = wait_for_job(kube, namespace, "exfil", phase_is("Failed"), what="exfil to fail")
        ready = condition(job, "Ready")
        assert ready["reason"] == "UntrustedInferenceHost" and origin_of(hostile.url) in ready["message"], ready
        wait_for(
            lambda: any(
                e.reason == "RunFailed" and "UntrustedInferenceHost" in e.message
                for e in events_for(kube, namespace, "exfil")
            ),
            timeout=30,
            what="a RunFailed event",
        )
        assert hostile.requests == []  # not one request reached the other origin, token or not
        assert sim.admin.counters()["requests"].get("infer", 0) == 0

        # Listed explicitly, the same host is trusted with the token.
        kube.custom.patch_namespaced_custom_object(
            c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, "wallaroo", {"spec": {"inferenceHosts": [hostile.url]}}
        )
        annotate_run_now(kube, namespace, "exfil", "listed")
        wait_for_job(kube, namespace, "exfil", last_run_is("manual-", "Succeeded"), what="the listed host to work")
        assert hostile.authorized and all(auth.startswith("Bearer ") for _, _, auth in hostile.authorized)


def test_a_secret_without_consent_is_never_read_into_a_request(kube: Kube, namespace, simulator, operator):
    create_credentials(kube, namespace, simulator, allowed_connections=None)
    create_connection(kube, namespace, simulator)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(1)})
    create_job(kube, namespace, "borrowed")

    conn = connection_reason(kube, namespace, "SecretNotAllowed")
    message = condition(conn, "Ready")["message"]
    assert "wallaroo-credentials" in message and c.ALLOWED_CONNECTIONS_ANNOTATION in message
    job = wait_for_job(kube, namespace, "borrowed", ready_reason("SecretNotAllowed"), what="the job to wait")
    assert job["status"]["phase"] == "Pending"
    for secret in (simulator.secret, simulator.password, simulator.username):
        assert secret not in message and secret not in condition(job, "Ready")["message"]

    # Consent for another connection is no consent for this one.
    annotate = {"metadata": {"annotations": {c.ALLOWED_CONNECTIONS_ANNOTATION: "someone-else"}}}
    kube.core.patch_namespaced_secret("wallaroo-credentials", namespace, annotate)
    wait_for(
        lambda: any(e.reason == "SecretNotAllowed" for e in events_for(kube, namespace, "borrowed")),
        timeout=30,
        what="a SecretNotAllowed event",
    )
    create_job(kube, namespace, "borrowed-again")
    wait_for_job(kube, namespace, "borrowed-again", ready_reason("SecretNotAllowed"))
    assert simulator.admin.counters()["requests"] == {}  # not a single request: no token, no API call

    annotate["metadata"]["annotations"][c.ALLOWED_CONNECTIONS_ANNOTATION] = "other, wallaroo"
    kube.core.patch_namespaced_secret("wallaroo-credentials", namespace, annotate)
    wait_for_job(kube, namespace, "borrowed", phase_is("Succeeded"), what="success once the Secret consents")


def test_a_secret_value_that_is_not_utf8_is_invalid_secret(kube: Kube, namespace, simulator, operator):
    create_credentials(kube, namespace, simulator)
    kube.core.patch_namespaced_secret(
        "wallaroo-credentials", namespace, {"data": {"password": base64.b64encode(b"\xff\xfe\xfa").decode()}}
    )
    create_connection(kube, namespace, simulator)
    create_input(kube, namespace, "input", {"text_input": aloha_rows(1)})
    create_job(kube, namespace, "garbled")

    conn = connection_reason(kube, namespace, "InvalidSecret")
    assert "'password'" in condition(conn, "Ready")["message"]
    job = wait_for_job(kube, namespace, "garbled", phase_is("Failed"), what="garbled to fail")
    assert condition(job, "Ready")["reason"] == "InvalidSecret", condition(job, "Ready")
    assert simulator.admin.counters()["requests"] == {}


def test_a_ca_bundle_secret_needs_consent_too(kube: Kube, namespace, simulator, operator):
    create_credentials(kube, namespace, simulator)
    kube.core.create_namespaced_secret(
        namespace, {"metadata": {"name": "someones-ca"}, "stringData": {"ca.crt": "not shown"}}
    )
    create_connection(kube, namespace, simulator, caBundle={"secretRef": {"name": "someones-ca", "key": "ca.crt"}})

    message = condition(connection_reason(kube, namespace, "SecretNotAllowed"), "Ready")["message"]
    assert f"{namespace}/someones-ca" in message and "not shown" not in message
    assert simulator.admin.counters()["requests"] == {}
