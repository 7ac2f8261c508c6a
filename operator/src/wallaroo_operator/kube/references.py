"""Reading what a job refers to: its connection, the credentials Secret, CA bundles.

Values read from Secrets are returned to the caller and never logged or put into messages.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core, custom, is_not_found
from wallaroo_operator.models.connection import CABundle, CredentialsSecretRef
from wallaroo_operator.models.objectstore import ObjectStoreCredentials
from wallaroo_operator.models.refs import KeyReference
from wallaroo_operator.objectstore.client import Credentials


class MissingReference(LookupError):
    """Something the object refers to does not exist (yet). The operator waits and retries."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class ReferenceNotAllowed(MissingReference):
    """A Secret that does not (yet) consent to the connection using it: waited for like a missing
    one, so annotating the Secret is all it takes."""


class InvalidReference(ValueError):
    """What the object refers to exists but cannot be used as it is (a Secret value that is not
    UTF-8, say). Retrying cannot help until the user fixes it."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def read_connection(namespace: str, name: str) -> dict[str, Any]:
    try:
        connection: dict[str, Any] = custom().get_namespaced_custom_object(
            c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, name, _request_timeout=REQUEST_TIMEOUT
        )
        return connection
    except kubernetes.client.ApiException as error:
        if is_not_found(error):
            raise MissingReference("ConnectionNotFound", f"WallarooConnection {namespace}/{name} not found") from None
        raise


def allowed_connections(
    annotations: dict[str, str] | None, annotation: str = c.ALLOWED_CONNECTIONS_ANNOTATION
) -> set[str]:
    """The names a Secret's allowed-connections (or allowed-inference-jobs) annotation lists ("*" for all)."""
    value = (annotations or {}).get(annotation, "")
    return {name.strip() for name in value.split(",") if name.strip()}


def _secret(namespace: str, name: str) -> kubernetes.client.V1Secret:
    try:
        return core().read_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    except kubernetes.client.ApiException as error:
        if is_not_found(error):
            raise MissingReference("SecretNotFound", f"Secret {namespace}/{name} not found") from None
        raise


def _secret_data(namespace: str, name: str) -> dict[str, str]:
    """A Secret's data, for a reader that uses its own permissions (the worker, the CLI): no consent
    check, since the reader could read the Secret itself anyway."""
    return _secret(namespace, name).data or {}


def _consenting_secret_data(
    namespace: str,
    name: str,
    connection: str,
    *,
    annotation: str = c.ALLOWED_CONNECTIONS_ANNOTATION,
    kind: str = "WallarooConnection",
) -> dict[str, str]:
    """The Secret's data, only if the Secret names its user `connection` (or *) in its annotation: whoever may
    create the referring object may not be allowed to read the Secret, and the operator can."""
    secret = _secret(namespace, name)
    allowed = allowed_connections(secret.metadata.annotations if secret.metadata else None, annotation)
    if "*" not in allowed and connection not in allowed:
        raise ReferenceNotAllowed(
            "SecretNotAllowed",
            f"Secret {namespace}/{name} does not allow {kind} {connection!r} to use it; "
            f"annotate the Secret with {annotation}={connection} (names separated "
            f"by commas, or * for every {kind} in the namespace)",
        )
    return secret.data or {}


def _job_consenting_secret_data(namespace: str, name: str, job: str) -> dict[str, str]:
    return _consenting_secret_data(namespace, name, job, annotation=c.ALLOWED_JOBS_ANNOTATION, kind="InferenceJob")


def _secret_value(data: dict[str, str], namespace: str, name: str, key: str) -> str:
    if key not in data:
        raise MissingReference("SecretKeyNotFound", f"Secret {namespace}/{name} has no key {key!r}")
    try:
        value = base64.b64decode(data[key], validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidReference("InvalidSecret", f"Secret {namespace}/{name} key {key!r} is not UTF-8 text") from None
    if not value:
        raise InvalidReference("InvalidSecret", f"Secret {namespace}/{name} key {key!r} is empty")
    return value


def read_credentials(namespace: str, ref: CredentialsSecretRef, grant: str, connection: str) -> dict[str, str]:
    """The client secret, and for the password grant the username and password, from the Secret's
    fixed keys, once the Secret allows `connection` to use it."""
    data = _consenting_secret_data(namespace, ref.name, connection)
    values = {"client_secret": _secret_value(data, namespace, ref.name, c.CLIENT_SECRET_KEY)}
    if grant == "password":
        values["username"] = _secret_value(data, namespace, ref.name, c.USERNAME_KEY)
        values["password"] = _secret_value(data, namespace, ref.name, c.PASSWORD_KEY)
    return values


def read_object_store_credentials(namespace: str, ref: ObjectStoreCredentials | None, job: str) -> Credentials | None:
    """The access key pair of an objectStore block, if its Secret allows the InferenceJob `job`; None (no
    Secret) means the AWS default chain (IRSA)."""
    if ref is None:
        return None
    data = _job_consenting_secret_data(namespace, ref.name, job)
    token = _secret_value(data, namespace, ref.name, ref.session_token_key) if ref.session_token_key else None
    return Credentials(
        _secret_value(data, namespace, ref.name, ref.access_key_id_key),
        _secret_value(data, namespace, ref.name, ref.secret_access_key_key),
        token,
    )


def _config_map(namespace: str, name: str) -> kubernetes.client.V1ConfigMap:
    try:
        return core().read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    except kubernetes.client.ApiException as error:
        if is_not_found(error):
            raise MissingReference("ConfigMapNotFound", f"ConfigMap {namespace}/{name} not found") from None
        raise


def _bundle_ref(bundle: CABundle) -> KeyReference:
    ref = bundle.secret_ref or bundle.config_map_ref
    if ref is None:  # the CRD refuses this; an object stored before the rule existed may still hold it
        raise InvalidReference("InvalidCABundle", "caBundle needs exactly one of secretRef and configMapRef")
    return ref


def read_ca_bundle(namespace: str, bundle: CABundle, connection: str) -> str:
    ref = _bundle_ref(bundle)
    if bundle.secret_ref:
        return _secret_value(_consenting_secret_data(namespace, ref.name, connection), namespace, ref.name, ref.key)
    return _config_map_value(namespace, ref)


def _config_map_value(namespace: str, ref: KeyReference) -> str:
    config_map = _config_map(namespace, ref.name)
    if ref.key not in (config_map.data or {}):
        raise MissingReference("ConfigMapKeyNotFound", f"ConfigMap {namespace}/{ref.name} has no key {ref.key!r}")
    bundle_text: str = config_map.data[ref.key]
    return bundle_text


def read_object_store_ca_bundle(namespace: str, bundle: CABundle, job: str) -> str:
    """An objectStore block's PEM CA bundle, from a ConfigMap or a Secret (that allows the job) of its namespace."""
    ref = _bundle_ref(bundle)
    if bundle.secret_ref:
        return _secret_value(_job_consenting_secret_data(namespace, ref.name, job), namespace, ref.name, ref.key)
    return _config_map_value(namespace, ref)
