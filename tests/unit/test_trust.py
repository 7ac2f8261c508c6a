"""Trust rules that need no server: URL rules of the connection model and CRD, Secret consent,
Secret decoding, what counts as a run's own results, and how their failures are classified."""

from __future__ import annotations

import base64

import kubernetes
import pydantic
import pytest

from wallaroo_operator import constants as c
from wallaroo_operator.controller.errors import Disposition, classify
from wallaroo_operator.kube import references
from wallaroo_operator.kube.references import (
    InvalidReference,
    ReferenceNotAllowed,
    allowed_connections,
)
from wallaroo_operator.kube.results_store import ResultsConflict, is_run_result
from wallaroo_operator.models import WallarooConnectionSpec
from wallaroo_operator.models.crd import wallaroo_connection_crd

PASSWORD = "hunter2-Zq9"
SECRET_REF = {"credentialsSecretRef": {"name": "creds"}}


def invalid(**spec) -> pydantic.ValidationError:
    with pytest.raises(pydantic.ValidationError) as failure:
        WallarooConnectionSpec.model_validate({**SECRET_REF, **spec})
    return failure.value


@pytest.mark.parametrize(
    "field, url, says",
    [
        ("apiUrl", f"https://admin:{PASSWORD}@wallaroo.example.com/v1/api", "user info"),
        ("apiUrl", f"https://{PASSWORD}@wallaroo.example.com/v1/api", "user info"),
        ("apiUrl", f"https://wallaroo.example.com/v1/api?token={PASSWORD}", "query"),
        ("apiUrl", f"https://wallaroo.example.com/v1/api#{PASSWORD}", "fragment"),
        ("apiUrl", f"ftp://wallaroo.example.com/{PASSWORD}", "http:// or https://"),
        ("apiUrl", f"https://wallaroo.example.com:{PASSWORD}/v1/api", "port"),
        ("tokenUrl", f"https://kc:{PASSWORD}@wallaroo.example.com/auth", "user info"),
    ],
)
def test_urls_with_user_info_query_or_fragment_are_refused_without_showing_them(field, url, says):
    spec = {"apiUrl": "https://wallaroo.example.com/v1/api", field: url}
    error = invalid(**spec)

    assert says in str(error)
    assert PASSWORD not in str(error) and PASSWORD not in repr(error)
    assert classify(error).reason == "InvalidSpec" and PASSWORD not in classify(error).message


@pytest.mark.parametrize(
    "host, says",
    [
        ("https://inference.example.com/v1/api", "origin"),
        (f"https://u:{PASSWORD}@inference.example.com", "user info"),
        ("inference.example.com", "origin"),
        ("https://inference.example.com?x", "query"),
    ],
)
def test_inference_hosts_are_origins(host, says):
    error = invalid(apiUrl="https://a.example.com/v1/api", inferenceHosts=[host])
    assert says in str(error) and PASSWORD not in str(error)


def test_inference_hosts_round_trip():
    spec = WallarooConnectionSpec.model_validate(
        {
            **SECRET_REF,
            "apiUrl": "https://a.example.com/v1/api",
            "inferenceHosts": ["https://inference.example.com", "http://10.0.0.7:8080/"],
        }
    )
    assert spec.to_kube()["inferenceHosts"] == ["https://inference.example.com", "http://10.0.0.7:8080/"]


def test_the_crd_checks_urls_with_cel_that_never_quotes_the_value():
    spec = wallaroo_connection_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for schema in (
        spec["properties"]["apiUrl"],
        spec["properties"]["tokenUrl"],
        spec["properties"]["inferenceHosts"]["items"],
    ):
        assert "pattern" not in schema  # the API server quotes a value that misses a pattern
        rules = " ".join(rule["rule"] for rule in schema["x-kubernetes-validations"])
        assert "'@'" in rules and "'?'" in rules and "'#'" in rules
        # The API server quotes the value in an "Invalid value" error, but not in a "Forbidden" one.
        assert {rule["reason"] for rule in schema["x-kubernetes-validations"]} == {"FieldValueForbidden"}
        assert schema["maxLength"] <= 2048  # bounds the cost of the CEL rules


def test_the_credentials_secret_has_fixed_key_names():
    ref = WallarooConnectionSpec.model_validate(
        {"apiUrl": "https://a.example.com/v1/api", "credentialsSecretRef": {"name": "creds", "passwordKey": "other"}}
    ).credentials_secret_ref
    assert ref.to_kube() == {"name": "creds"}


@pytest.mark.parametrize(
    "annotation, names",
    [
        (None, set()),
        ("", set()),
        ("wallaroo", {"wallaroo"}),
        (" a, b ,,c ", {"a", "b", "c"}),
        ("*", {"*"}),
    ],
)
def test_allowed_connections_annotation(annotation, names):
    annotations = None if annotation is None else {c.ALLOWED_CONNECTIONS_ANNOTATION: annotation}
    assert allowed_connections(annotations) == names


@pytest.mark.parametrize("raw, reason", [(b"\xff\xfe\x00", "InvalidSecret"), (b"  \n", "InvalidSecret")])
def test_secret_values_that_are_not_text_are_invalid_secret(raw, reason):
    data = {"password": base64.b64encode(raw).decode()}
    with pytest.raises(InvalidReference) as failure:
        references._secret_value(data, "ns", "creds", "password")
    error = classify(failure.value)
    assert (error.reason, error.disposition) == (reason, Disposition.FAIL)
    assert "ns/creds" in error.message and "'password'" in error.message


def test_a_secret_without_consent_is_waited_for_with_its_own_reason():
    error = classify(ReferenceNotAllowed("SecretNotAllowed", "Secret ns/creds does not allow ..."))
    assert (error.reason, error.disposition) == ("SecretNotAllowed", Disposition.WAIT)


def test_results_conflict_fails_the_run_and_names_the_object():
    error = classify(ResultsConflict("ns", "job-gen-1-0"))
    assert (error.reason, error.disposition) == ("ResultsConflict", Disposition.FAIL)
    assert "ns/job-gen-1-0" in error.message


def config_map(labels=None, owners=()) -> kubernetes.client.V1ConfigMap:
    return kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name="job-gen-1-0", labels=labels, owner_references=list(owners))
    )


def owner(uid="uid-1", name="job", kind=c.JOB_KIND, controller=True):
    return kubernetes.client.V1OwnerReference(
        api_version=c.API_VERSION, kind=kind, name=name, uid=uid, controller=controller
    )


OURS = {c.JOB_LABEL: "job", c.RUN_LABEL: "gen-1", c.MANAGED_BY_LABEL: c.MANAGED_BY}


@pytest.mark.parametrize(
    "labels, owners, uid, ours",
    [
        (OURS, [owner()], "uid-1", True),
        (OURS, [owner()], None, True),
        (OURS, [owner(uid="uid-2")], "uid-1", False),  # a former job of the same name
        ({**OURS, c.RUN_LABEL: "gen-2"}, [owner()], "uid-1", False),  # another run
        (OURS, [], "uid-1", False),  # labelled like results, but nobody's: a user's
        (None, [owner()], "uid-1", False),
        (OURS, [owner(kind="Deployment")], "uid-1", False),
        (OURS, [owner(controller=False)], "uid-1", False),
        (OURS, [owner(name="other")], None, False),
    ],
)
def test_what_counts_as_a_runs_own_results(labels, owners, uid, ours):
    assert is_run_result(config_map(labels, owners), "job", "gen-1", uid) is ours
