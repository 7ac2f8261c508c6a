"""The API server refuses connection URLs with user info, a query or a fragment, and its answer
never quotes the URL (which may hold a password)."""

from __future__ import annotations

import kubernetes
import pytest

from tests.support.kube import Kube
from wallaroo_operator import constants as c

pytestmark = pytest.mark.cluster

PASSWORD = "s3cr3t-Pw-77"


def create(kube: Kube, namespace: str, spec: dict) -> dict:
    body = {
        "apiVersion": c.API_VERSION,
        "kind": c.CONNECTION_KIND,
        "metadata": {"name": "conn"},
        "spec": {"credentialsSecretRef": {"name": "creds"}, **spec},
    }
    return kube.custom.create_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.CONNECTION_PLURAL, body)


@pytest.mark.parametrize(
    "spec, says",
    [
        ({"apiUrl": f"https://admin:{PASSWORD}@wallaroo.example.com/v1/api"}, "user info"),
        ({"apiUrl": f"https://{PASSWORD}@wallaroo.example.com/v1/api"}, "user info"),
        ({"apiUrl": f"https://admin:{PASSWORD} x@wallaroo.example.com/v1/api"}, "user info"),  # fails the shape too
        ({"apiUrl": f"ftp://wallaroo.example.com/{PASSWORD}"}, "must be an http:// or https:// URL"),
        ({"apiUrl": f"https://wallaroo.example.com/v1/api?key={PASSWORD}"}, "must not have a query"),
        ({"apiUrl": f"https://wallaroo.example.com/v1/api#{PASSWORD}"}, "must not have a fragment"),
        (
            {
                "apiUrl": "https://wallaroo.example.com/v1/api",
                "tokenUrl": f"https://kc:{PASSWORD}@wallaroo.example.com/auth",
            },
            "user info",
        ),
        (
            {
                "apiUrl": "https://wallaroo.example.com/v1/api",
                "inferenceHosts": [f"https://u:{PASSWORD}@inference.example.com"],
            },
            "user info",
        ),
        (
            {
                "apiUrl": "https://wallaroo.example.com/v1/api",
                "inferenceHosts": ["https://inference.example.com/pipelines"],
            },
            "must be an origin",
        ),
    ],
)
def test_bad_urls_are_refused_without_being_quoted(kube: Kube, namespace: str, spec: dict, says: str):
    with pytest.raises(kubernetes.client.ApiException) as failure:
        create(kube, namespace, spec)
    assert failure.value.status == 422
    assert says in failure.value.body
    assert PASSWORD not in failure.value.body


def test_good_urls_and_inference_hosts_are_accepted(kube: Kube, namespace: str):
    created = create(
        kube,
        namespace,
        {"apiUrl": "https://wallaroo.example.com/v1/api", "inferenceHosts": ["https://inference.example.com:8443"]},
    )
    assert created["spec"]["inferenceHosts"] == ["https://inference.example.com:8443"]
