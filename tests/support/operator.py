"""Running the real operator (kopf) against the cluster under test, and building its objects."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import kopf.testing
from kubernetes.client import ApiException

from tests.support.data import aloha_rows, ccfraud_rows  # noqa: F401 - re-exported for the e2e tests
from tests.support.kube import Kube
from tests.support.manifests import connection_manifest, job_manifest
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_operator.data.inputs import gzip_json


@contextlib.contextmanager
def running_operator(namespace: str, *extra: str) -> Iterator[kopf.testing.KopfRunner]:
    """The operator, watching one namespace, in a background thread; fails the test if it crashed."""
    args = [
        "run",
        "--module",
        "wallaroo_operator.handlers",
        "--standalone",
        "--namespace",
        namespace,
        "--verbose",
        *extra,
    ]
    with kopf.testing.KopfRunner(args, timeout=90) as runner:
        yield runner
    assert runner.exception is None, runner.exception
    assert runner.exit_code == 0, runner.output[-3000:]
    assert "Traceback" not in runner.output, runner.output[-5000:]


def create_credentials(
    kube: Kube,
    namespace: str,
    sim,
    name: str = "wallaroo-credentials",
    allowed_connections: str | None = "*",
    **override: str,
) -> None:
    """The Secret, consenting to the connections `allowed_connections` names (None: no consent)."""
    values = {"clientSecret": sim.secret, "username": sim.username, "password": sim.password, **override}
    annotations = {c.ALLOWED_CONNECTIONS_ANNOTATION: allowed_connections} if allowed_connections is not None else {}
    kube.core.create_namespaced_secret(
        namespace, {"metadata": {"name": name, "annotations": annotations}, "stringData": values}
    )


def create_connection(
    kube: Kube, namespace: str, sim, name: str = "wallaroo", secret: str = "wallaroo-credentials", **spec: Any
) -> dict:
    body = connection_manifest(sim, name, secret, **spec)
    return kube.custom.create_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, body)


def create_input(
    kube: Kube,
    namespace: str,
    name: str,
    document: Any,
    *,
    compress: bool = False,
    key: str = "data.json",
    labels: dict | None = None,
) -> None:
    metadata = {"name": name, "labels": labels or {}}
    if compress:
        body = {"metadata": metadata, "binaryData": {key: base64.b64encode(gzip_json(document)).decode()}}
    else:
        body = {"metadata": metadata, "data": {key: json.dumps(document, separators=(",", ":"))}}
    kube.core.create_namespaced_config_map(namespace, body)


def create_job(kube: Kube, namespace: str, name: str, **kwargs: Any) -> dict:
    return kube.custom.create_namespaced_custom_object(
        c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, job_manifest(name, **kwargs)
    )


def annotate_run_now(kube: Kube, namespace: str, name: str, value: str) -> None:
    kube.custom.patch_namespaced_custom_object(
        c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, name, {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: value}}}
    )


def patch_job_spec(kube: Kube, namespace: str, name: str, spec: dict) -> None:
    kube.custom.patch_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, name, {"spec": spec})


def result_config_maps(kube: Kube, namespace: str, job_name: str) -> list:
    return kube.core.list_namespaced_config_map(namespace, label_selector=f"{c.JOB_LABEL}={job_name}").items


def get_job(kube: Kube, namespace: str, name: str) -> dict:
    return kube.custom.get_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, name)


def condition(obj: dict, type_: str) -> dict:
    return next((x for x in (obj.get("status") or {}).get("conditions") or [] if x["type"] == type_), {})


def wait_for_job(kube: Kube, namespace: str, name: str, predicate, *, timeout: float = 90, what: str = "") -> dict:
    def probe():
        job = get_job(kube, namespace, name)
        return job if predicate(job) else None

    return wait_for(probe, timeout=timeout, what=what or f"job {name}")


def phase_is(*phases: str):
    return lambda job: (job.get("status") or {}).get("phase") in phases


def ready_reason(reason: str):
    return lambda job: condition(job, "Ready").get("reason") == reason


def read_results(kube: Kube, namespace: str, job: dict) -> list[dict]:
    """Every row of the last run's results, in order, from its ConfigMaps; or from status.lastRun.outputs
    when they were kept inline only (results.configMaps: IfNotInline)."""
    last = job["status"]["lastRun"]
    if not last["resultConfigMaps"]:
        return [{"row": index, **outputs} for index, outputs in enumerate(last["outputs"])]
    rows = []
    for name in last["resultConfigMaps"]:
        rows.extend(json.loads(kube.core.read_namespaced_config_map(name, namespace).data["results.json"]))
    return rows


def events_for(kube: Kube, namespace: str, name: str) -> list:
    return [e for e in kube.core.list_namespaced_event(namespace).items if e.involved_object.name == name]


def is_gone(read) -> bool:
    try:
        read()
        return False
    except ApiException as error:
        return error.status == 404


def create_split_input(kube: Kube, namespace: str, rows: list, *, label: str, rows_per_part: int = 5_000) -> dict:
    """Input too large for one ConfigMap, gzipped into parts; returns the job's input selector."""
    for index, start in enumerate(range(0, len(rows), rows_per_part)):
        create_input(
            kube,
            namespace,
            f"{label}-{index}",
            {"text_input": rows[start : start + rows_per_part]},
            compress=True,
            labels={"dataset": label},
        )
    return {"selector": {"matchLabels": {"dataset": label}}}
