"""The Job executor's objects, as pure functions of a run's plan; and how a failed Job is explained."""

from __future__ import annotations

import json

import pytest

from wallaroo_operator import constants as c
from wallaroo_operator.controller.connection import ResolvedConnection
from wallaroo_operator.controller.errors import Disposition, classify
from wallaroo_operator.executors.base import RunPlan, WorkerFailure, progress_of
from wallaroo_operator.executors.job_spec import (
    ClusterAccess,
    check_worker_memory,
    failure_from,
    job_finished,
    job_object,
    rbac_objects,
)
from wallaroo_operator.executors.naming import worker_name
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.settings import Settings, SettingsError
from wallaroo_operator.wallaroo import Credentials
from wallaroo_operator.worker.manifest import RunManifest

JOB = {"metadata": {"name": "nightly", "namespace": "team-a", "uid": "uid-1"}}
SPEC = {
    "connectionRef": {"name": "w"},
    "workspace": "ws",
    "pipeline": "p",
    "input": {"configMaps": [{"name": "in-1"}, {"name": "in-2"}]},
    "results": {"maxConfigMaps": 4},
}
CONNECTION = {
    "apiUrl": "https://w.example/v1/api",
    "clientId": "api-client",
    "credentialsSecretRef": {"name": "wallaroo-credentials"},
}


def plan(execution: dict | None = None, connection: dict | None = None) -> RunPlan:
    spec = InferenceJobSpec.model_validate({**SPEC, "execution": execution or {}})
    manifest = RunManifest(
        namespace="team-a",
        job_name="nightly",
        job_uid="uid-1",
        run_id="gen-3",
        spec=spec.to_kube(),
        input_parts=[("in-1", "data.json"), ("in-2", "data.json")],
        workspace_id=7,
        inference_url="https://w.example/infer",
        api_url=CONNECTION["apiUrl"],
        token_url="https://w.example/auth/token",
        client_id="api-client",
        grant="password",
        progress_config_map="nightly-gen-3-progress",
        shards=spec.execution.shards,
    )
    resolved = ResolvedConnection(
        CONNECTION["apiUrl"],
        manifest.token_url,
        Credentials("api-client", "s3cret", "password", "user", "pw"),
        True,
        30.0,
    )
    return RunPlan(
        manifest,
        JOB,
        resolved,
        WallarooConnectionSpec.model_validate({**CONNECTION, **(connection or {})}),
        spec.execution,
    )


def test_one_shard_is_a_non_indexed_job_owned_by_the_inference_job():
    job = job_object(plan(), "nightly-gen-3", "operator:1")
    meta, spec = job["metadata"], job["spec"]
    assert meta["name"] == "nightly-gen-3" and meta["namespace"] == "team-a"
    assert meta["ownerReferences"] == [
        {"apiVersion": c.API_VERSION, "kind": c.JOB_KIND, "name": "nightly", "uid": "uid-1", "controller": True}
    ]
    assert meta["labels"][c.RUN_LABEL] == "gen-3" and meta["labels"][c.JOB_LABEL] == "nightly"
    assert (spec["completions"], spec["parallelism"], spec["completionMode"], spec["backoffLimit"]) == (
        1,
        1,
        "NonIndexed",
        2,
    )
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "operator:1" and container["command"] == ["wallaroo-operator", "worker"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "nightly-gen-3"
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "160Mi"}, "limits": {"memory": "256Mi"}}


LOCAL_NODE = {
    "WALLAROO_OPERATOR_WORKER_HOST_ALIASES": '[{"ip": "10.244.7.1", "hostnames": ["kubernetes"]}]',
    "WALLAROO_OPERATOR_WORKER_ENV": '{"KUBERNETES_SERVICE_HOST": "kubernetes", "WALLAROO_RUN_MANIFEST": "x"}',
}


def test_worker_pods_get_the_clusters_route_to_the_api_server_from_the_settings():
    access = ClusterAccess.from_settings(Settings.from_environment(LOCAL_NODE))
    pod = job_object(plan(), "n", "i", access)["spec"]["template"]["spec"]
    assert pod["hostAliases"] == [{"ip": "10.244.7.1", "hostnames": ["kubernetes"]}]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["KUBERNETES_SERVICE_HOST"]["value"] == "kubernetes"
    assert env["WALLAROO_RUN_MANIFEST"]["value"] != "x"  # the worker's own variables are never overridden
    assert [e["name"] for e in pod["containers"][0]["env"]].count("WALLAROO_RUN_MANIFEST") == 1
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert "hostAliases" not in job_object(plan(), "n", "i")["spec"]["template"]["spec"]  # none by default


def test_a_memory_limit_the_worker_cannot_start_in_fails_the_run_before_its_job():
    with pytest.raises(WorkerFailure) as failure:
        check_worker_memory(plan({"resources": {"limits": {"memory": "64Mi"}}}))
    assert failure.value.run_error.reason == "InsufficientWorkerMemory"
    assert failure.value.run_error.disposition is Disposition.FAIL and "64Mi" in str(failure.value)
    check_worker_memory(plan())  # the default 256Mi
    check_worker_memory(plan({"resources": {"limits": {"memory": "160Mi"}}}))


@pytest.mark.parametrize(
    "variable, value",
    [
        ("WALLAROO_OPERATOR_WORKER_HOST_ALIASES", '[{"ip": "nope", "hostnames": ["k"]}]'),
        ("WALLAROO_OPERATOR_WORKER_HOST_ALIASES", "10.244.7.1=kubernetes"),
        ("WALLAROO_OPERATOR_WORKER_ENV", '{"BAD NAME": "x"}'),
    ],
)
def test_a_bad_worker_route_setting_names_its_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_environment({variable: value})


def test_restricted_security_context_always():
    pod = job_object(plan({"podLabels": {"team": "a"}}), "n", "i")["spec"]["template"]["spec"]
    container = pod["containers"][0]["securityContext"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"] == {"drop": ["ALL"]}
    assert container["runAsNonRoot"] and container["readOnlyRootFilesystem"]


def test_shards_make_an_indexed_job_retried_per_index():
    spec = job_object(plan({"shards": 4, "parallelism": 2, "backoffLimitPerIndex": 1}), "n", "i")["spec"]
    assert (spec["completions"], spec["parallelism"], spec["completionMode"], spec["backoffLimitPerIndex"]) == (
        4,
        2,
        "Indexed",
        1,
    )
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailIndex" and rules[0]["onExitCodes"]["values"] == [3, 4]
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_pod_settings_are_copied_and_credentials_come_from_the_secret():
    execution = {
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {"x": 1}},
        "priorityClassName": "low",
        "imagePullSecrets": [{"name": "regcred"}],
        "podLabels": {"team": "a"},
        "podAnnotations": {"note": "n"},
        "ttlSecondsAfterFinished": 600,
        "resources": {"limits": {"memory": "1Gi"}},
    }
    job = job_object(plan(execution, {"caBundle": {"configMapRef": {"name": "ca", "key": "root.pem"}}}), "n", "i")
    template = job["spec"]["template"]
    pod = template["spec"]
    assert pod["nodeSelector"] == {"pool": "batch"} and pod["priorityClassName"] == "low"
    assert pod["tolerations"] == [{"key": "batch", "operator": "Exists"}]
    assert pod["affinity"] == {"nodeAffinity": {"x": 1}} and pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert template["metadata"]["labels"]["team"] == "a" and template["metadata"]["annotations"] == {"note": "n"}
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["WALLAROO_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "wallaroo-credentials", "key": "clientSecret"}
    }
    assert env["WALLAROO_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"
    assert env["WALLAROO_WORKER_MEMORY_LIMIT"]["valueFrom"]["resourceFieldRef"]["resource"] == "limits.memory"
    assert env["WALLAROO_CA_FILE"]["value"] == "/etc/wallaroo-ca/ca.crt"
    assert {"name": "ca", "configMap": {"name": "ca", "items": [{"key": "root.pem", "path": "ca.crt"}]}} in pod[
        "volumes"
    ]
    assert "s3cret" not in json.dumps(job) and "pw" not in env["WALLAROO_RUN_MANIFEST"]["value"].split('"')


def test_the_role_allows_this_runs_objects_only():
    objects = rbac_objects(plan({"shards": 2}), "nightly-gen-3")
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding"]
    rules = objects[1]["rules"]
    assert all(r["resources"] == ["configmaps"] for r in rules)  # no Secrets, no Pods, nothing else
    readable = rules[0]["resourceNames"]
    assert {"in-1", "in-2", "nightly-gen-3-s0-0", "nightly-gen-3-s1-1"} <= set(readable)
    assert rules[1] == {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}
    assert rules[2]["resourceNames"] == ["nightly-gen-3-progress"] and rules[2]["verbs"] == ["get", "patch"]


def test_a_users_service_account_gets_the_binding_but_is_not_created():
    objects = rbac_objects(plan({"serviceAccountName": "batch-runner"}), "n")
    assert [o["kind"] for o in objects] == ["Role", "RoleBinding"]
    assert objects[1]["subjects"][0]["name"] == "batch-runner"


def test_worker_names_are_deterministic_dns_labels():
    assert worker_name("nightly", "gen-3") == "nightly-gen-3"
    long = worker_name("a" * 63, "sched-20260101t0200z")
    assert len(long) <= 52 and long == worker_name("a" * 63, "sched-20260101t0200z")
    assert long != worker_name("a" * 63, "sched-20260101t0300z")


def pod(name: str, created: str, *, terminated: dict | None = None, **status) -> dict:
    statuses = [{"name": "worker", "state": {"terminated": terminated}}] if terminated else []
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "status": {"phase": "Failed", "containerStatuses": statuses, **status},
    }


FAILED_JOB = {
    "metadata": {"name": "n"},
    "status": {
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}]
    },
}


@pytest.mark.parametrize(
    "pods, reason, text, disposition",
    [
        (
            [pod("p1", "2026-01-01T00:00:00Z", terminated={"reason": "OOMKilled", "exitCode": 137})],
            "WorkerOOMKilled",
            "memory limit",
            Disposition.FAIL,
        ),
        (
            [pod("p1", "2026-01-01T00:00:00Z", reason="Evicted", message="low on memory")],
            "WorkerEvicted",
            "low on memory",
            Disposition.RETRY,
        ),
        (
            [
                pod("old", "2026-01-01T00:00:00Z", terminated={"reason": "Error", "exitCode": 2}),
                pod("new", "2026-01-01T00:01:00Z", terminated={"reason": "Error", "exitCode": 1}),
            ],
            "WorkerFailed",
            "Pod new failed with exit code 1 (Error). Last lines of its log:\nlog of new",
            Disposition.RETRY,
        ),
        ([], "WorkerFailed", "BackoffLimitExceeded: too many", Disposition.RETRY),
    ],
)
def test_a_failed_job_is_explained_from_its_pods(pods, reason, text, disposition):
    error = classify(failure_from(FAILED_JOB, pods, lambda name: f"log of {name}"))
    assert (error.reason, error.disposition) == (reason, disposition) and text in error.message


def test_job_finished_and_progress_with_eta():
    assert job_finished(FAILED_JOB) == "Failed"
    assert job_finished({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "Complete"
    assert job_finished({"status": {}}) is None
    states = {0: {"rowsDone": 50, "rowsTotal": 100, "state": "Running"}, 1: {"rowsDone": 0, "rowsTotal": 100}}
    progress = progress_of(states, 2, started=0.0, worker="n", failures=1)
    assert (progress["rowsDone"], progress["rowsTotal"], progress["workerFailures"]) == (50, 200, 1)
    assert progress["etaSeconds"] > 0 and [s["index"] for s in progress["shards"]] == [0, 1]
