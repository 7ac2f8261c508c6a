"""The objects of one run under the Job executor, as pure functions of the run's plan (unit-tested).

Per run, all owned by the InferenceJob (deleting it deletes them) and labelled with job and run:
- a batch/v1 Job named after the run, of the operator's own image running `wallaroo-operator worker`;
  Indexed when sharded, each index a slice of the rows, retried alone (backoffLimitPerIndex);
- a ServiceAccount, and a Role bound to it that allows exactly this run's objects: get its input
  ConfigMaps and its results (by name), create results (create cannot be limited by name; a create never
  replaces: an existing name fails), patch its progress ConfigMap. No Secret access: the credentials
  reach the Pod as secretKeyRef variables, which the kubelet resolves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wallaroo_operator import constants as c
from wallaroo_operator.controller.errors import Disposition
from wallaroo_operator.executors.base import RunPlan, WorkerFailure
from wallaroo_operator.kube import object_stores
from wallaroo_operator.kube.results_store import owner_reference
from wallaroo_operator.settings import Settings
from wallaroo_operator.worker.kube_io import results_name
from wallaroo_operator.worker.manifest import CA_FILE_ENV, MANIFEST_ENV, MEMORY_LIMIT_ENV, SECRET_ENVS

CA_MOUNT = "/etc/wallaroo-ca"
CA_FILE = "ca.crt"
# The worker's exit codes for failures that a new Pod cannot fix (worker/cli.py): fail the index at once.
PERMANENT_EXIT_CODES = [3, 4]
WORKER_CONTAINER = "worker"
# Measured: `import wallaroo_operator.worker.cli` alone peaks at 122 MiB RSS in the operator's image (Python
# 3.11, the Kubernetes client's models, pyarrow); a run adds its batches in flight on top (docs/execution.md).
# Below this a worker Pod is OOM-killed before it reads a row, so such a run fails before its Job exists.
MIN_WORKER_MEMORY_BYTES = 160 * 2**20
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class ClusterAccess:
    """What every worker Pod needs on a cluster whose Pods cannot use the `kubernetes` Service (no
    kube-proxy, as on the local node): the operator's settings worker_host_aliases and worker_env."""

    host_aliases: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict[str, Any])

    @classmethod
    def from_settings(cls, settings: Settings) -> ClusterAccess:
        aliases = [{"ip": str(alias.ip), "hostnames": list(alias.hostnames)} for alias in settings.worker_host_aliases]
        return cls(aliases, dict(settings.worker_env))


def check_worker_memory(plan: RunPlan) -> None:
    """A memory limit the worker cannot even start in fails the run with a reason of its own, not an OOM kill."""
    limit = plan.memory_limit_bytes
    if limit < MIN_WORKER_MEMORY_BYTES:
        raise WorkerFailure(
            "InsufficientWorkerMemory",
            f"execution.resources.limits.memory {plan.execution.limits()['memory']} is less than the "
            f"{MIN_WORKER_MEMORY_BYTES // 2**20}Mi a worker Pod needs to start (its interpreter and "
            "libraries); raise it (the default is 256Mi)",
            Disposition.FAIL,
        )


def labels(plan: RunPlan) -> dict[str, str]:
    return {c.JOB_LABEL: plan.manifest.job_name, c.RUN_LABEL: plan.manifest.run_id, c.MANAGED_BY_LABEL: c.MANAGED_BY}


def metadata(plan: RunPlan, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": plan.manifest.namespace,
        "labels": labels(plan),
        "ownerReferences": [owner_reference(plan.job)],
    }


def results_names(plan: RunPlan) -> list[str]:
    """Every results ConfigMap name the run may write: its budget per shard is known in advance."""
    manifest = plan.manifest
    per_shard = max(1, math.ceil(manifest.job_spec().results.max_config_maps / manifest.shards))
    return [results_name(manifest, shard, index) for shard in range(manifest.shards) for index in range(per_shard)]


def rbac_objects(plan: RunPlan, name: str) -> list[dict[str, Any]]:
    manifest = plan.manifest
    inputs = sorted({config_map for config_map, _ in manifest.input_parts})
    rules = [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get"],
            "resourceNames": inputs + results_names(plan),
        },
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "patch"],
            "resourceNames": [manifest.progress_config_map],
        },
    ]
    service_account = plan.execution.service_account_name or name
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(plan, name),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(plan, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": manifest.namespace}],
        },
    ]
    if not plan.execution.service_account_name:
        objects.insert(0, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(plan, name)})
    return objects


def _environment(plan: RunPlan) -> list[dict[str, Any]]:
    spec, secret = plan.connection_spec, plan.connection_spec.credentials_secret_ref
    keys = {"client_secret": c.CLIENT_SECRET_KEY}
    if spec.grant == "password":
        keys.update(username=c.USERNAME_KEY, password=c.PASSWORD_KEY)
    env: list[dict[str, Any]] = [
        {"name": MANIFEST_ENV, "value": plan.manifest.model_dump_json()},
        {
            "name": MEMORY_LIMIT_ENV,
            "valueFrom": {"resourceFieldRef": {"containerName": WORKER_CONTAINER, "resource": "limits.memory"}},
        },
    ]
    env += [
        {"name": SECRET_ENVS[what], "valueFrom": {"secretKeyRef": {"name": secret.name, "key": key}}}
        for what, key in keys.items()
    ]
    if spec.ca_bundle and not spec.insecure_skip_tls_verify:
        env.append({"name": CA_FILE_ENV, "value": f"{CA_MOUNT}/{CA_FILE}"})
    env += object_stores.pod_env(plan.manifest.job_spec())  # objectStore keys and CA: secretKeyRef/configMapKeyRef
    return env


def _volumes(plan: RunPlan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    bundle = plan.connection_spec.ca_bundle
    if bundle and not plan.connection_spec.insecure_skip_tls_verify:
        ref = bundle.secret_ref or bundle.config_map_ref
        assert ref is not None  # the CRD requires one of them
        items = [{"key": ref.key, "path": CA_FILE}]
        source = (
            {"secret": {"secretName": ref.name, "items": items}}
            if bundle.secret_ref
            else {"configMap": {"name": ref.name, "items": items}}
        )
        volumes.append({"name": "ca", **source})
        mounts.append({"name": "ca", "mountPath": CA_MOUNT, "readOnly": True})
    return volumes, mounts


def pod_template(plan: RunPlan, name: str, image: str, access: ClusterAccess | None = None) -> dict[str, Any]:
    execution, access = plan.execution, access or ClusterAccess()
    volumes, mounts = _volumes(plan)
    env = _environment(plan)
    own = {variable["name"] for variable in env}  # the worker's own variables are never overridden
    env = [{"name": key, "value": value} for key, value in access.env.items() if key not in own] + env
    container = {
        "name": WORKER_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["wallaroo-operator", "worker"],
        "env": env,
        "resources": {"requests": execution.requests(), "limits": execution.limits()},
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": mounts,
    }
    pod = {
        "restartPolicy": "Never",
        "serviceAccountName": execution.service_account_name or name,
        "automountServiceAccountToken": True,  # the worker is an API client (its Role, nothing more)
        "securityContext": RESTRICTED_POD,
        "containers": [container],
        "volumes": volumes,
    }
    optional = {
        "nodeSelector": execution.node_selector,
        "affinity": execution.affinity,
        "priorityClassName": execution.priority_class_name,
        "tolerations": [t.to_kube() for t in execution.tolerations or []] or None,
        "imagePullSecrets": [s.to_kube() for s in execution.image_pull_secrets or []] or None,
        "hostAliases": access.host_aliases or None,
    }
    pod.update({key: value for key, value in optional.items() if value})
    return {
        "metadata": {
            "labels": {**(execution.pod_labels or {}), **labels(plan)},
            **({"annotations": execution.pod_annotations} if execution.pod_annotations else {}),
        },
        "spec": pod,
    }


def job_object(plan: RunPlan, name: str, image: str, access: ClusterAccess | None = None) -> dict[str, Any]:
    execution, shards = plan.execution, plan.manifest.shards
    spec = {
        "completions": shards,
        "parallelism": execution.parallelism or shards,
        "template": pod_template(plan, name, image, access),
        "podFailurePolicy": {
            "rules": [
                # Failures that a new Pod cannot fix (bad input, results too large): no retry.
                {
                    "action": "FailIndex" if shards > 1 else "FailJob",
                    "onExitCodes": {
                        "containerName": WORKER_CONTAINER,
                        "operator": "In",
                        "values": PERMANENT_EXIT_CODES,
                    },
                },
                # Evictions and preemptions are not the worker's fault: retried without counting.
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            ]
        },
    }
    if shards > 1:
        spec.update(
            completionMode="Indexed", backoffLimitPerIndex=execution.backoff_limit_per_index, backoffLimit=2**31 - 1
        )  # with backoffLimitPerIndex, the per-index limit decides
    else:
        spec.update(completionMode="NonIndexed", backoffLimit=execution.backoff_limit_per_index)
    if execution.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = execution.ttl_seconds_after_finished
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(plan, name), "spec": spec}


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next(
        (
            x
            for x in (obj.get("status") or {}).get("conditions") or []
            if x.get("type") == type_ and x.get("status") == "True"
        ),
        None,
    )


def job_finished(job: dict[str, Any]) -> str | None:
    """ "Complete", "Failed", or None while the Job runs."""
    for state in ("Complete", "Failed"):
        if _condition(job, state):
            return state
    return None


def _terminated(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == WORKER_CONTAINER:
            state = status.get("state") or {}
            return state.get("terminated") or (status.get("lastState") or {}).get("terminated") or {}
    return {}


def failure_from(job: dict[str, Any], pods: list[dict[str, Any]], log_tail: Callable[[str], str]) -> WorkerFailure:
    """Why a failed Job failed, from its Pods (newest first): OOM-killed, evicted, or the exit and the log.
    `log_tail(pod_name)` gives the last lines of a Pod's log."""
    failed = sorted(
        (p for p in pods if (p.get("status") or {}).get("phase") == "Failed"),
        key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "",
        reverse=True,
    )
    for pod in failed:
        name, status = pod["metadata"]["name"], pod.get("status") or {}
        terminated = _terminated(pod)
        if terminated.get("reason") == "OOMKilled":
            return WorkerFailure(
                "WorkerOOMKilled",
                f"the worker in Pod {name} was killed for exceeding its memory "
                "limit; raise execution.resources.limits.memory",
                Disposition.FAIL,
            )
        if status.get("reason") == "Evicted" or _condition(pod, "DisruptionTarget"):
            return WorkerFailure(
                "WorkerEvicted",
                f"Pod {name} was evicted or preempted: {status.get('message') or status.get('reason') or 'no message'}",
            )
    if failed:
        pod = failed[0]
        terminated = _terminated(pod)
        exit_text = (
            f"exit code {terminated.get('exitCode')} ({terminated.get('reason') or 'no reason'})"
            if terminated
            else "no exit status"
        )
        return WorkerFailure(
            "WorkerFailed",
            f"the worker in Pod {pod['metadata']['name']} failed with {exit_text}. "
            f"Last lines of its log:\n{log_tail(pod['metadata']['name'])}",
        )
    condition = _condition(job, "Failed") or {}
    return WorkerFailure(
        "WorkerFailed",
        f"Job {job['metadata']['name']} failed "
        f"({condition.get('reason', 'no reason')}: "
        f"{condition.get('message', 'no message')}); no failed Pod of it was found",
    )
