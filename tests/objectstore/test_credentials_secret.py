"""The objectStore block's Secret, read from the real API server into client credentials."""

from __future__ import annotations

import kubernetes
import pytest
from wallaroo_operator.kube.references import (
    MissingReference,
    read_object_store_credentials,
)
from wallaroo_operator.models.objectstore import ObjectStoreCredentials

from tests.support.kube import Kube

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


def create_secret(kube: Kube, namespace: str, data: dict[str, str]) -> None:
    kube.core.create_namespaced_secret(namespace, kubernetes.client.V1Secret(
        metadata=kubernetes.client.V1ObjectMeta(name="s3-keys"), string_data=data))


def test_keys_and_an_optional_session_token(kube: Kube, namespace: str) -> None:
    create_secret(kube, namespace, {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t-value\n",
                                    "token": "session-token"})
    plain = read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys"))
    assert (plain.access_key_id, plain.secret_access_key, plain.session_token) == ("AKIAEXAMPLE", "s3cr3t-value", None)
    assert "s3cr3t-value" not in repr(plain)
    temporary = read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys", session_token_key="token"))
    assert temporary.session_token == "session-token"
    assert read_object_store_credentials(namespace, None) is None  # IRSA: the AWS default chain


def test_a_missing_secret_or_key_is_waited_for(kube: Kube, namespace: str) -> None:
    with pytest.raises(MissingReference) as missing:
        read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys"))
    assert missing.value.reason == "SecretNotFound"
    create_secret(kube, namespace, {"accessKeyId": "AKIAEXAMPLE"})
    with pytest.raises(MissingReference) as missing:
        read_object_store_credentials(namespace, ObjectStoreCredentials(name="s3-keys"))
    assert missing.value.reason == "SecretKeyNotFound" and "'secretAccessKey'" in str(missing.value)
