"""The operator's settings: every environment variable it reads, typed and read in one place.

A field `max_concurrent_runs` is read from WALLAROO_OPERATOR_MAX_CONCURRENT_RUNS (a field with its own
`env` reads that variable instead: KUBECONFIG, the worker's WALLAROO_WORKER_*); an unset or empty
variable keeps the default. A bad value stops the operator at startup with the variable's name in
the message, instead of surfacing later as a ValueError deep in a handler. docs/deploy.md lists them.

`settings()` reads the environment once per process. The operator's startup handler reads
`Settings.from_environment()` itself, because tests start several operators in one process.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, Json, StringConstraints, ValidationError

PREFIX = "WALLAROO_OPERATOR_"
DEFAULT_LIVENESS = "http://0.0.0.0:8080/healthz"


class SettingsError(ValueError):
    """An environment variable holds a value the operator cannot use."""


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class HostAlias(BaseModel):
    """A Pod's hostAliases entry: /etc/hosts lines for names a cluster cannot resolve or route."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ip: IPvAnyAddress
    hostnames: list[Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    liveness: str = Field(
        default=DEFAULT_LIVENESS, min_length=1, description="kopf's liveness endpoint, unless --liveness is given."
    )
    max_concurrent_runs: int = Field(default=16, ge=1, le=1024, description="Runs executing at once, across all jobs.")
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve Prometheus metrics on this port; off when unset."
    )
    watch_server_timeout: int = Field(default=300, ge=1, description="Seconds before a watch is re-established.")
    retry_base_seconds: float = Field(default=5.0, gt=0, description="First backoff while waiting or between retries.")
    retry_cap_seconds: float = Field(default=120.0, gt=0, description="Longest backoff.")
    status_retry_cap_seconds: float = Field(
        default=30.0, gt=0, description="Longest pause between attempts of a status write; retried until it lands."
    )
    max_input_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1, description="Most bytes one gzipped input part may decompress to."
    )
    progress_seconds: float = Field(
        default=3.0, gt=0, description="Least time between two writes of an active run's progress into status."
    )
    executor: str = Field(
        default="local", pattern="^(local|job)$", description="Where runs execute: local (child processes) or job."
    )
    worker_image: str | None = Field(
        default=None, description="The Job executor's worker image; the operator's own image in the Deployment."
    )
    # For clusters whose Pods cannot reach the API server through the `kubernetes` Service (no
    # kube-proxy, as on the local node): the operator's own Pod gets a route from its manifest, the
    # worker Pods it creates get the same one from these two.
    worker_host_aliases: Json[list[HostAlias]] = Field(
        default=[], description="The Job executor: hostAliases for every worker Pod, JSON in the Pod's own shape."
    )
    worker_env: Json[dict[EnvName, str]] = Field(
        default={}, description="The Job executor: extra environment variables for every worker Pod, a JSON object."
    )
    job_poll_seconds: float = Field(
        default=2.0, gt=0, description="The Job executor: how often an active run's Job is read."
    )
    test_clock_speedup: float = Field(
        default=1.0, gt=0, description="Test only: how much faster the operator's clock runs."
    )
    connection_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a resolved WallarooConnection and its Secret are reused by "
        "the next runs; a change to the connection drops it at once. 0: read them for every run.",
    )
    kubeconfig: str | None = Field(
        default=None,
        json_schema_extra={"env": "KUBECONFIG"},
        description="The kubeconfig outside a cluster (inside one, the ServiceAccount's credentials).",
    )
    worker_progress_seconds: float = Field(
        default=3.0,
        ge=0,
        json_schema_extra={"env": "WALLAROO_WORKER_PROGRESS_SECONDS"},
        description="The worker: least time between two progress reports into its progress ConfigMap.",
    )
    kube_retry_budget_seconds: float = Field(
        default=300.0,
        gt=0,
        json_schema_extra={"env": "WALLAROO_KUBE_RETRY_BUDGET_SECONDS"},
        description="The worker and executors: how long Kubernetes calls are retried while the API server is away.",
    )

    @classmethod
    def variable(cls, field: str) -> str:
        extra = cls.model_fields[field].json_schema_extra
        env = extra.get("env") if isinstance(extra, dict) else None
        return str(env) if env else PREFIX + field.upper()

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every variable read, with the field it fills."""
        return {cls.variable(name): name for name in cls.model_fields}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from its variable; raise SettingsError naming each bad variable."""
        environ = os.environ if environ is None else environ
        given = {
            name: environ[cls.variable(name)]
            for name in cls.model_fields
            if environ.get(cls.variable(name), "").strip()
        }
        try:
            return cls.model_validate({name: value.strip() for name, value in given.items()})
        except ValidationError as error:
            problems = [
                f"{cls.variable(str(e['loc'][0]))}={given.get(str(e['loc'][0]), '')!r}: {e['msg']}"
                for e in error.errors()
            ]
            raise SettingsError("invalid operator settings: " + "; ".join(problems)) from None


@functools.cache
def settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_environment()
