"""What a worker is told to do: the run manifest the operator writes (an environment variable)."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel

from wallaroo_operator.models.job import InferenceJobSpec

MANIFEST_ENV = "WALLAROO_RUN_MANIFEST"
SHARD_ENV = "JOB_COMPLETION_INDEX"  # set by Kubernetes in the Pods of an Indexed Job
MEMORY_LIMIT_ENV = "WALLAROO_WORKER_MEMORY_LIMIT"  # bytes; the downward API's limits.memory in a Pod
# Credentials: from the connection's Secret (secretKeyRef in a Pod), never in the manifest.
SECRET_ENVS = {
    "client_secret": "WALLAROO_CLIENT_SECRET",
    "username": "WALLAROO_USERNAME",
    "password": "WALLAROO_PASSWORD",
}
CA_FILE_ENV = "WALLAROO_CA_FILE"


class RunManifest(BaseModel):
    """Everything about the run except the rows and the credentials: small, and safe to show."""

    namespace: str
    job_name: str
    job_uid: str
    run_id: str
    spec: dict[str, Any]  # the InferenceJob spec when the run started
    input_parts: list[tuple[str, str]]  # (ConfigMap, key), in the order the rows are read
    workspace_id: int
    inference_url: str
    api_url: str
    token_url: str
    client_id: str
    grant: Literal["password", "client_credentials"]
    insecure_skip_tls_verify: bool = False
    api_timeout_seconds: float = 30.0
    progress_config_map: str
    shards: int = 1
    # input.objectStore: the run's plan (objectstore.InputPlan.to_dict(): keys, sizes, ETags, row counts),
    # made once by the operator so that every shard reads the same objects, each its own slice.
    object_input: dict[str, Any] | None = None

    def job_spec(self) -> InferenceJobSpec:
        return InferenceJobSpec.model_validate(self.spec)

    def owner(self) -> dict[str, Any]:
        """The InferenceJob, as results_store.owner_reference wants it."""
        return {"metadata": {"name": self.job_name, "uid": self.job_uid, "namespace": self.namespace}}


def manifest_from_environment() -> RunManifest:
    return RunManifest.model_validate_json(os.environ[MANIFEST_ENV])


def shard_from_environment() -> int:
    return int(os.environ.get(SHARD_ENV) or 0)
