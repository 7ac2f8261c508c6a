"""The objectStore block's Secret, read from the real API server into client credentials."""

from __future__ import annotations

import kubernetes
import pytest

from tests.support.kube import Kube
from wallaroo_operator import constants as c
from wallaroo_operator.kube.references import (
    MissingReference,
    ReferenceNotAllowed,
    read_object_store_credentials,
)
from wallaroo_operator.models.objectstore import ObjectStoreCredentials

pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def operator_client_on_this_cluster(kube: Kube, monkeypatch):
    """The operator's Kubernetes client reads KUBECONFIG once: point it at the cluster under test."""
    from wallaroo_operator.kube import client

    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    client.configuration.cache_clear()
    client.api_client.cache_clear()
    yield
    client.configuration.cache_clear()
    client.api_client.cache_clear()


def create_secret(kube: Kube, namespace: str, data: dict[str, str], allowed: str | None = "job") -> None:
    annotations = {c.ALLOWED_JOBS_ANNOTATION: allowed} if allowed is not None else None
    kube.core.create_namespaced_secret(
        namespace,
        kubernetes.client.V1Secret(
            metadata=kubernetes.client.V1ObjectMeta(name="s3-keys", annotations=annotations), string_data=data
        ),
    )


def test_keys_and_an_optional_session_token(kube: Kube, namespace: str) -> None:
    create_secret(
        kube, namespace, {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t-value\n", "token": "session-token"}
    )
    plain = read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys"), "job")
    assert (plain.access_key_id, plain.secret_access_key, plain.session_token) == ("AKIAEXAMPLE", "s3cr3t-value", None)
    assert "s3cr3t-value" not in repr(plain)
    with_token = ObjectStoreCredentials(name="s3-keys", session_token_key="token")
    temporary = read_object_store_credentials(namespace, with_token, "job")
    assert temporary.session_token == "session-token"
    assert read_object_store_credentials(namespace, None, "job") is None  # IRSA: the AWS default chain


def test_a_missing_secret_or_key_is_waited_for(kube: Kube, namespace: str) -> None:
    with pytest.raises(MissingReference) as missing:
        read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys"), "job")
    assert missing.value.reason == "SecretNotFound"
    create_secret(kube, namespace, {"accessKeyId": "AKIAEXAMPLE"})
    with pytest.raises(MissingReference) as missing:
        read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys"), "job")
    assert missing.value.reason == "SecretKeyNotFound" and "'secretAccessKey'" in str(missing.value)


@pytest.mark.parametrize("allowed", [None, "other-job", "jobs,job2"])
def test_keys_are_used_only_by_the_jobs_their_secret_names(kube: Kube, namespace: str, allowed: str | None) -> None:
    """Whoever may create an InferenceJob may not be allowed to read the namespace's Secrets; the operator
    can, so it uses a Secret's keys only for the jobs the Secret itself names."""
    create_secret(kube, namespace, {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t-value"}, allowed)
    with pytest.raises(ReferenceNotAllowed) as refused:
        read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys"), "job")
    assert refused.value.reason == "SecretNotAllowed"
    assert c.ALLOWED_JOBS_ANNOTATION in str(refused.value) and "s3cr3t" not in str(refused.value)
