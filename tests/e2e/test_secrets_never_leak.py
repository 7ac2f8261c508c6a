"""Secrets (client secret, password, tokens) never appear in logs, events, status or exception messages."""

from __future__ import annotations

import json
import logging
import os

import pytest

from tests.support import secret_scan
from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    create_connection,
    create_credentials,
    create_input,
    create_job,
    phase_is,
    ready_reason,
    running_operator,
    wait_for_job,
)
from wallaroo_operator import constants as c

pytestmark = pytest.mark.cluster

WRONG_PASSWORD = "wrong-password-Zq8v"
WRONG_SECRET = "wrong-client-secret-Px4k"


def test_no_secret_in_logs_events_or_status_after_bad_input(kube: Kube, namespace, simulator, caplog):
    caplog.set_level(logging.DEBUG)
    create_credentials(kube, namespace, simulator)
    create_credentials(kube, namespace, simulator, name="bad-password", password=WRONG_PASSWORD)
    create_credentials(kube, namespace, simulator, name="bad-secret", clientSecret=WRONG_SECRET)
    create_connection(kube, namespace, simulator)
    create_connection(kube, namespace, simulator, name="bad-password", secret="bad-password")
    create_connection(kube, namespace, simulator, name="bad-secret", secret="bad-secret")
    create_connection(kube, namespace, simulator, name="missing", secret="absent")
    create_input(kube, namespace, "input", {"text_input": aloha_rows(20)})
    create_input(kube, namespace, "narrow", {"text_input": [[1, 2]]})
    simulator.admin.set_token_lifetimes(access_seconds=2, refresh_seconds=4)  # refreshes show up in logs too

    with running_operator(namespace) as runner:
        create_job(kube, namespace, "good", inference={"batchSize": 5})
        create_job(kube, namespace, "password", connectionRef={"name": "bad-password"})
        create_job(kube, namespace, "secret", connectionRef={"name": "bad-secret"})
        create_job(kube, namespace, "absent", connectionRef={"name": "missing"})
        create_job(kube, namespace, "narrow", inputs=["narrow"])
        wait_for_job(kube, namespace, "good", phase_is("Succeeded"))
        for name in ("password", "secret", "narrow"):
            wait_for_job(kube, namespace, name, phase_is("Failed"))
        wait_for_job(kube, namespace, "absent", ready_reason("SecretNotFound"))

    jobs = kube.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL)
    connections = kube.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL)
    events = [f"{e.reason} {e.message}" for e in kube.core.list_namespaced_event(namespace).items]
    haystacks = {
        "operator output": runner.output,
        "log records": "\n".join(record.getMessage() + str(record.exc_info or "") for record in caplog.records),
        "events": "\n".join(events),
        "job status": json.dumps([j.get("status") for j in jobs["items"]]),
        "connection status": json.dumps([x.get("status") for x in connections["items"]]),
    }
    # The scan saw real content: the operator's verbose log, its events, failed runs.
    assert "inference_job" in haystacks["operator output"] and "InvalidCredentials" in haystacks["events"]
    needles = {
        "client secret": simulator.secret,
        "password": simulator.password,
        "wrong password": WRONG_PASSWORD,
        "wrong secret": WRONG_SECRET,
        "a JWT": "eyJ",
        "an Authorization header": "Bearer ",
    }
    for where, text in haystacks.items():
        for what, needle in needles.items():
            assert needle not in text, f"{what} found in {where}"


# ---- the suite-wide scan (tests/support/secret_scan.py) can fail -------------------------------------


def test_the_secret_scan_reports_a_secret_planted_in_a_log_record_and_an_event(kube: Kube, namespace):
    """A scan of its own (the session's must stay clean), fed the way the session's is: a log record made
    by any logger while capturing, and the Events collected from the test's namespace."""
    scan = secret_scan.SecretScan()
    planted = "planted-" + os.urandom(8).hex()
    scan.register("the planted password", planted)
    quiet = logging.getLogger("wallaroo_operator.planted")
    quiet.propagate = False  # no handler shows it: the scan still sees it
    try:
        with secret_scan.capturing_logs(scan):
            quiet.warning("logging in with %s", planted)
    finally:
        quiet.propagate = True
    kube.core.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "planted"},
            "involvedObject": {"kind": "ConfigMap", "name": "input", "namespace": namespace},
            "reason": "Planted",
            "message": f"the password is {planted}",
            "type": "Warning",
        },
    )

    secret_scan.collect_namespace(kube, namespace, scan)
    findings = scan.findings()

    wheres = sorted(f.where for f in findings if f.what == "the planted password")
    assert len(wheres) == 2, findings
    assert wheres[0].startswith("a log record of wallaroo_operator.planted")
    assert wheres[1].startswith(f"an Event on ConfigMap {namespace}/input")
    assert planted not in "\n".join(secret_scan.report(findings))  # reported masked
    assert secret_scan.mask(planted) in "\n".join(secret_scan.report(findings))


@pytest.mark.parametrize(
    ("what", "text"),
    [
        ("a JWT", "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl was refreshed"),
        ("an Authorization header", "headers: {'Authorization': 'Basic YXBpLWNsaWVudDpzM2NyM3Q='}"),
        ("a bearer token", "sent Bearer abcdefghijklmnopqrstuvwx to the API"),
        ("user info in a URL", "connecting to https://admin:hunter2@wallaroo.example.com/v1/api"),
    ],
)
def test_the_secret_scan_knows_secrets_by_their_shape(what: str, text: str):
    scan = secret_scan.SecretScan()
    scan.add("a log record of x", text)
    scan.add(
        "a log record of y",
        "InvalidCredentials: the connection's apiUrl may not hold user info; "
        "the API answered 401 for https://wallaroo.example.com/v1/api",
    )

    assert [(f.what, f.where.split(" in ")[0]) for f in scan.findings()] == [(what, "a log record of x")]


def test_the_secret_scan_finds_a_secret_base64_encoded_as_a_secrets_data_holds_it():
    scan = secret_scan.SecretScan()
    scan.register("the password", "hunter2-hunter2")
    scan.add("a log record of kubernetes.client.rest", 'response body: {"data": {"password": "aHVudGVyMi1odW50ZXIy"}}')

    assert [f.what for f in scan.findings()] == ["the password, base64-encoded"]
