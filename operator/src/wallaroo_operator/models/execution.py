"""spec.execution: where and how a run's worker executes (a Kubernetes Job of the operator's image).

The Pod settings mirror the Job/Pod fields platform teams already know; the operator copies them into
each run's Job unchanged. The restricted Pod Security profile is always applied and cannot be relaxed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from wallaroo_operator.models.base import KubeModel
from wallaroo_operator.models.refs import DNS_SUBDOMAIN, LocalObjectReference

# Measured (docs/execution.md): a worker Pod peaks at about 122 MiB while importing (the operator's image),
# and stays flat with the number of rows at the default batchSize and parallelism; the limit leaves headroom
# for larger batches. Used when spec.execution.resources leaves them out.
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "160Mi"}
DEFAULT_LIMITS = {"memory": "256Mi"}

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|E|Ei|P|Pi)?$"
Quantity = Annotated[str, Field(pattern=QUANTITY, max_length=32)]

# Kubernetes' own schema for these (Affinity) is large and versioned by the API server; the API server
# validates it when the operator creates the Job, and a rejection fails the run with a clear message.
FreeForm = Annotated[dict[str, Any], WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})]


class WorkerResources(KubeModel):
    """Requests and limits of the worker container (cpu, memory, ephemeral-storage)."""

    requests: dict[str, Quantity] | None = Field(
        default=None, description="Default cpu 100m, memory 160Mi (sized by measurement: docs/execution.md)."
    )
    limits: dict[str, Quantity] | None = Field(
        default=None,
        description="Default memory 256Mi. The worker derives its own input limits from "
        "limits.memory and fails with a clear reason instead of being OOM-killed.",
    )


class Toleration(KubeModel):
    key: str | None = Field(default=None, max_length=317, description="Taint key; empty with Exists means all.")
    operator: Literal["Exists", "Equal"] | None = Field(default=None, description="Exists or Equal (default).")
    value: str | None = Field(default=None, max_length=63, description="Taint value for Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty means all."
    )
    toleration_seconds: int | None = Field(default=None, description="For NoExecute: how long the Pod stays.")


class ExecutionSpec(KubeModel):
    """How each run executes: a batch/v1 Job of the operator's own image (one Pod per shard), or a child
    process of the operator when it runs with --executor=local. Either way the operator itself never
    holds the input rows or the outputs."""

    shards: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Split the rows into this many contiguous slices, each run by its own Pod "
        "(an Indexed Job; a failed shard is retried alone). Outputs are the same, "
        "in the same order, as with one shard.",
    )
    parallelism: int | None = Field(
        default=None, ge=1, le=100, description="Shards running at once (default: all of them)."
    )
    backoff_limit_per_index: int = Field(
        default=2, ge=0, le=20, description="Retries of one failed shard Pod before the run fails."
    )
    resources: WorkerResources | None = Field(default=None, description="The worker container's resources.")
    node_selector: dict[str, str] | None = Field(default=None, description="Pod nodeSelector.")
    tolerations: list[Toleration] | None = Field(default=None, max_length=50, description="Pod tolerations.")
    affinity: FreeForm | None = Field(default=None, description="Pod affinity (core/v1 Affinity).")
    priority_class_name: str | None = Field(
        default=None, max_length=253, pattern=DNS_SUBDOMAIN, description="Pod priorityClassName."
    )
    service_account_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Run the worker as this ServiceAccount instead of the per-run one the operator creates; "
        "the operator still binds the run's Role (its own objects only) to it.",
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, max_length=20, description="Pod imagePullSecrets."
    )
    pod_labels: dict[str, str] | None = Field(default=None, description="Extra labels on the worker Pods.")
    pod_annotations: dict[str, str] | None = Field(default=None, description="Extra annotations on the Pods.")
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        description="Delete the finished Job (and its Pods) this long after it ends; by "
        "default the operator deletes it once the run is recorded.",
    )

    def requests(self) -> dict[str, str]:
        return {**DEFAULT_REQUESTS, **((self.resources.requests if self.resources else None) or {})}

    def limits(self) -> dict[str, str]:
        return {**DEFAULT_LIMITS, **((self.resources.limits if self.resources else None) or {})}


class ShardProgress(KubeModel):
    index: int
    rows_done: int = 0
    rows_total: int | None = None
    state: str | None = Field(default=None, description="Running, Succeeded or Failed.")


class RunProgress(KubeModel):
    """How far an active run is, from its workers' reports (at most one update every few seconds)."""

    rows_done: int = 0
    rows_total: int | None = None
    eta_seconds: int | None = Field(default=None, description="Estimated seconds left at the current pace.")
    shards: list[ShardProgress] | None = Field(default=None, description="Per shard, when sharded.")
    worker: str | None = Field(default=None, description="The Job (or local process) executing the run.")
    worker_failures: int | None = Field(
        default=None, description="Worker Pods that failed so far (retried within backoffLimitPerIndex)."
    )


_UNITS = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ("256Mi", "1G", "1000000") in bytes."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)", quantity.strip())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])
