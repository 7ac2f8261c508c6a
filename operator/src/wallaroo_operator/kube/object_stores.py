"""An InferenceJob's objectStore blocks made into ObjectStores, with the credentials and CA bundle they name.

The values travel as environment variables only: the operator resolves them from the Secret and ConfigMap
(`resolved_env`, for its own listing and for a local worker's environment), a Job Pod gets them as
secretKeyRef / configMapKeyRef variables (`pod_env`, resolved by the kubelet). So they are never in the run
manifest, a Job's spec, the status, events or logs. No Secret named means the AWS default chain (IRSA).
"""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Mapping
from typing import Any, Literal

from wallaroo_operator.kube import references
from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.models.objectstore import ObjectStoreConnection
from wallaroo_operator.objectstore import Credentials, ObjectStore, settings_from_spec

Role = Literal["input", "results"]
_FIELDS = ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "CA_PEM")


def env_name(role: Role, field: str) -> str:
    return f"WALLAROO_S3_{role.upper()}_{field}"


def blocks(spec: InferenceJobSpec) -> dict[Role, ObjectStoreConnection]:
    """The spec's objectStore blocks, by role."""
    found: dict[Role, ObjectStoreConnection] = {}
    if spec.input.object_store is not None:
        found["input"] = spec.input.object_store
    if spec.results.object_store is not None:
        found["results"] = spec.results.object_store
    return found


def _sources(role: Role, block: ObjectStoreConnection) -> list[tuple[str, str, str, str]]:
    """(variable, "secret" or "configMap", object name, key) for each value the block refers to."""
    sources = []
    secret = block.credentials_secret_ref
    if secret is not None:
        sources += [
            (env_name(role, "ACCESS_KEY_ID"), "secret", secret.name, secret.access_key_id_key),
            (env_name(role, "SECRET_ACCESS_KEY"), "secret", secret.name, secret.secret_access_key_key),
        ]
        if secret.session_token_key:
            sources.append((env_name(role, "SESSION_TOKEN"), "secret", secret.name, secret.session_token_key))
    bundle = block.ca_bundle
    if bundle is not None:
        ref = bundle.secret_ref or bundle.config_map_ref
        assert ref is not None  # the CRD requires one of them
        sources.append((env_name(role, "CA_PEM"), "secret" if bundle.secret_ref else "configMap", ref.name, ref.key))
    return sources


def pod_env(spec: InferenceJobSpec) -> list[dict[str, Any]]:
    """A worker Pod's variables for the spec's objectStore blocks, resolved by the kubelet."""
    env = []
    for role, block in blocks(spec).items():
        for name, kind, obj, key in _sources(role, block):
            ref = "secretKeyRef" if kind == "secret" else "configMapKeyRef"
            env.append({"name": name, "valueFrom": {ref: {"name": obj, "key": key}}})
    return env


def resolved_env(
    namespace: str, job: str, spec: InferenceJobSpec, roles: tuple[Role, ...] = ("input", "results")
) -> dict[str, str]:
    """The same variables with their values, read here (the operator's own listing, a local worker)."""
    env: dict[str, str] = {}
    for role, block in blocks(spec).items():
        if role not in roles:
            continue
        credentials = references.read_object_store_credentials(namespace, block.credentials_secret_ref, job)
        if credentials is not None:
            env[env_name(role, "ACCESS_KEY_ID")] = credentials.access_key_id
            env[env_name(role, "SECRET_ACCESS_KEY")] = credentials.secret_access_key
            if credentials.session_token:
                env[env_name(role, "SESSION_TOKEN")] = credentials.session_token
        if block.ca_bundle is not None:
            env[env_name(role, "CA_PEM")] = references.read_object_store_ca_bundle(namespace, block.ca_bundle, job)
    return env


_CA_FILES: dict[str, str] = {}


def _ca_file(pem: str) -> str:
    """The PEM in a file (botocore wants a path), one per distinct bundle, removed at exit."""
    if pem not in _CA_FILES:
        handle, path = tempfile.mkstemp(prefix="wallaroo-s3-ca-", suffix=".pem")
        with os.fdopen(handle, "w") as file:
            file.write(pem)
        atexit.register(_remove, path)
        _CA_FILES[pem] = path
    return _CA_FILES[pem]


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def store_from_env(block: ObjectStoreConnection, role: Role, environ: Mapping[str, str] = os.environ) -> ObjectStore:
    """The block's ObjectStore, with the credentials and CA bundle from `environ` (none: the default chain)."""
    key_id, secret = environ.get(env_name(role, "ACCESS_KEY_ID")), environ.get(env_name(role, "SECRET_ACCESS_KEY"))
    credentials = (
        Credentials(key_id, secret, environ.get(env_name(role, "SESSION_TOKEN")) or None) if key_id and secret else None
    )
    pem = environ.get(env_name(role, "CA_PEM"))
    return ObjectStore(settings_from_spec(block, credentials, _ca_file(pem) if pem else None))


def operator_store(namespace: str, job: str, spec: InferenceJobSpec, role: Role) -> ObjectStore | None:
    """The operator's own client for a block (listing the input, the results manifest, pruning)."""
    block = blocks(spec).get(role)
    if block is None:
        return None
    return store_from_env(block, role, resolved_env(namespace, job, spec, (role,)))
