"""The generated CRDs on the real API server: accepted, round-tripping unchanged, validating input."""

from __future__ import annotations

import pytest
from kubernetes.client import ApiException

from tests.support.kube import Kube
from wallaroo_operator import constants as c
from wallaroo_operator.models.crd import all_crds

pytestmark = pytest.mark.cluster


def test_crds_round_trip_unchanged(kube: Kube):
    """Argo CD compares what it applied with what the server returns: they must be equal."""
    for crd in all_crds().values():
        served = kube.api.sanitize_for_serialization(
            kube.extensions.read_custom_resource_definition(crd["metadata"]["name"])
        )
        assert served["spec"] == crd["spec"]


def create(kube: Kube, namespace: str, plural: str, spec: dict, name: str = "x") -> dict:
    kind = c.JOB_KIND if plural == c.JOB_PLURAL else c.CONNECTION_KIND
    body = {"apiVersion": c.API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
    return kube.custom.create_namespaced_custom_object(c.GROUP, c.VERSION, namespace, plural, body)


def rejection(kube: Kube, namespace: str, plural: str, spec: dict) -> str:
    with pytest.raises(ApiException) as error:
        create(kube, namespace, plural, spec)
    assert error.value.status == 422
    import json

    return json.loads(error.value.body)["message"]


GOOD_JOB = {
    "connectionRef": {"name": "wallaroo"},
    "workspace": "w",
    "pipeline": "p",
    "input": {"configMaps": [{"name": "data"}]},
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"workspace": None}, "spec.workspace: Required value"),
        (
            {"input": {"configMaps": [{"name": "a"}], "selector": {"matchLabels": {"a": "b"}}}},
            "give exactly one of configMaps, selector and objectStore",
        ),
        ({"input": {}}, "give exactly one of configMaps, selector and objectStore"),
        (
            {"input": {"configMaps": [{"name": "a"}], "objectStore": {"bucket": "data", "key": "a.parquet"}}},
            "give exactly one of configMaps, selector and objectStore",
        ),
        (
            {"input": {"objectStore": {"bucket": "data", "key": "a.parquet", "prefix": "in/"}}},
            "give exactly one of key and prefix",
        ),
        ({"results": {"objectStore": {"bucket": "data", "format": "csv"}}}, 'Unsupported value: "csv"'),
        ({"inference": {"format": "protobuf"}}, 'Unsupported value: "protobuf"'),
        ({"inference": {"batchSize": 0}}, "spec.inference.batchSize"),
        ({"schedule": "every day"}, "spec.schedule"),
        ({"concurrencyPolicy": "Sometimes"}, 'Unsupported value: "Sometimes"'),
    ],
)
def test_server_rejects_common_job_mistakes(kube: Kube, namespace, change, message):
    spec = {k: v for k, v in {**GOOD_JOB, **change}.items() if v is not None}
    assert message in rejection(kube, namespace, c.JOB_PLURAL, spec)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"credentialsSecretRef": {"name": "s"}}, "give either apiUrl or urlPrefix and urlSuffix"),
        (
            {"apiUrl": "https://a/v1/api", "urlPrefix": "x", "urlSuffix": "y", "credentialsSecretRef": {"name": "s"}},
            "give either apiUrl or urlPrefix and urlSuffix",
        ),
        ({"urlPrefix": "x", "credentialsSecretRef": {"name": "s"}}, "urlPrefix and urlSuffix go together"),
        (
            {"apiUrl": "https://a/v1/api", "grant": "implicit", "credentialsSecretRef": {"name": "s"}},
            'Unsupported value: "implicit"',
        ),
        ({"apiUrl": "ftp://a", "credentialsSecretRef": {"name": "s"}}, "spec.apiUrl"),
    ],
)
def test_server_rejects_common_connection_mistakes(kube: Kube, namespace, spec, message):
    assert message in rejection(kube, namespace, c.CONNECTION_PLURAL, spec)


def test_defaults_are_applied_by_the_server(kube: Kube, namespace):
    job = create(kube, namespace, c.JOB_PLURAL, GOOD_JOB)
    assert job["spec"]["inference"] == {
        "format": "legacy",
        "batchSize": 1000,
        "parallelism": 2,
        "requestTimeoutSeconds": 15,
        "retryBudget": 20,
    }
    assert job["spec"]["results"] == {"inlineLimitBytes": 4096, "configMaps": "IfNotInline", "maxConfigMaps": 20}
    assert job["spec"]["concurrencyPolicy"] == "Allow" and job["spec"]["successfulRunsHistoryLimit"] == 3


def test_job_names_longer_than_a_label_value_are_rejected(kube: Kube, namespace):
    with pytest.raises(ApiException) as error:
        create(kube, namespace, c.JOB_PLURAL, GOOD_JOB, name="n" * 64)
    assert "at most 63 characters" in error.value.body
    assert create(kube, namespace, c.JOB_PLURAL, GOOD_JOB, name="n" * 63)
