"""The spec fields, as the API server would check them (the CRD's schema and CEL rules) and as the worker
turns them into client settings."""

from __future__ import annotations

import pydantic
import pytest

from tests.unit.test_examples import crd_schema, schema_errors
from wallaroo_operator import constants as c
from wallaroo_operator.models import InferenceJobSpec
from wallaroo_operator.objectstore import Credentials, settings_from_spec

BASE = {"connectionRef": {"name": "w"}, "workspace": "w", "pipeline": "p"}
S3_INPUT = {
    "bucket": "data-team",
    "prefix": "aloha/2026-11-30/",
    "endpoint": "https://s3.example.internal:9000",
    "pathStyle": True,
    "credentialsSecretRef": {"name": "s3-keys"},
    "format": "parquet",
    "column": "text_input",
}
S3_RESULTS = {"bucket": "data-team", "prefix": "results", "format": "parquet", "prune": True}


def errors(spec: dict) -> list[str]:
    return schema_errors(spec, crd_schema(c.JOB_KIND)["properties"]["spec"])


def model_errors(spec: dict) -> list[str]:
    try:
        InferenceJobSpec.model_validate(spec)
    except pydantic.ValidationError as error:
        return [str(e["msg"]) for e in error.errors()]
    return []


def test_object_store_input_and_results_are_accepted_and_parsed() -> None:
    spec = {**BASE, "input": {"objectStore": S3_INPUT}, "results": {"objectStore": S3_RESULTS}}
    assert errors(spec) == []
    parsed = InferenceJobSpec.model_validate(spec)
    source, sink = parsed.input.object_store, parsed.results.object_store
    assert (source.prefix, source.format, source.region, source.key) == (
        "aloha/2026-11-30/",
        "parquet",
        "us-east-1",
        None,
    )
    assert (sink.format, sink.rows_per_part, sink.prune) == ("parquet", 100_000, True)
    assert parsed.to_kube()["results"]["objectStore"]["prune"] is True
    settings = settings_from_spec(source, Credentials("AKIA", "secret"), "/etc/ca.pem")
    assert (settings.endpoint, settings.path_style, settings.ca_bundle_file) == (
        "https://s3.example.internal:9000",
        True,
        "/etc/ca.pem",
    )
    assert "secret" not in repr(settings)


def test_defaults_for_irsa_on_aws() -> None:
    spec = {
        **BASE,
        "input": {"objectStore": {"bucket": "data-team", "key": "in.jsonl.gz"}},
        "results": {"objectStore": {"bucket": "results-bucket"}},
    }
    assert errors(spec) == []
    parsed = InferenceJobSpec.model_validate(spec)
    assert parsed.input.object_store.credentials_secret_ref is None
    assert parsed.results.object_store.format == "jsonl.gz" and parsed.results.object_store.prune is False
    assert settings_from_spec(parsed.input.object_store, None).credentials is None


@pytest.mark.parametrize(
    ("input_spec", "message"),
    [
        (
            {"objectStore": S3_INPUT, "configMaps": [{"name": "i"}]},
            "give exactly one of configMaps, selector and objectStore",
        ),
        ({"objectStore": S3_INPUT, "selector": {"matchLabels": {"a": "b"}}}, "give exactly one of configMaps"),
        ({}, "give exactly one of configMaps, selector and objectStore"),
        ({"objectStore": {**S3_INPUT, "key": "a.json"}}, "give exactly one of key and prefix"),
        ({"objectStore": {"bucket": "data-team"}}, "give exactly one of key and prefix"),
        ({"objectStore": {**S3_INPUT, "bucket": "Data_Team!"}}, "does not match"),
        ({"objectStore": {**S3_INPUT, "prefix": "/aloha/"}}, "does not match"),
        ({"objectStore": {**S3_INPUT, "format": "csv"}}, "'csv' not in"),
        ({"objectStore": {**S3_INPUT, "endpoint": "s3.example.internal"}}, "must be an http:// or https:// URL"),
        ({"objectStore": {**S3_INPUT, "endpoint": "https://key:secret@s3.example.internal"}}, "user info"),
    ],
)
def test_mistakes_are_refused(input_spec: dict, message: str) -> None:
    spec = {**BASE, "input": input_spec}
    found = errors(spec) + model_errors(spec)  # URL rules are CEL in the CRD: the model checks them here
    assert any(message in error for error in found), found


def test_object_store_errors_become_conditions_with_their_own_reason() -> None:
    from wallaroo_operator.controller.errors import Disposition, classify
    from wallaroo_operator.objectstore import errors as e

    denied = classify(e.AccessDenied("read s3://data-team/in/a.parquet: access denied"))
    assert (denied.reason, denied.disposition) == ("AccessDenied", Disposition.FAIL)
    assert "s3://data-team/in/a.parquet" in denied.message
    assert classify(e.ObjectStoreUnreachable("list s3://b/: unreachable")).disposition == Disposition.RETRY
    assert classify(e.InputChanged("read s3://b/k: changed")).reason == "InputChanged"


def test_the_config_map_reader_refuses_object_store_input_with_its_own_reason() -> None:
    """Object-store input is planned by the operator and read by the workers, never by the ConfigMap reader."""
    from wallaroo_operator.controller.errors import Disposition, classify
    from wallaroo_operator.data.inputs import InputError
    from wallaroo_operator.kube.input_names import input_refs
    from wallaroo_operator.models.job import InputSpec

    spec = InputSpec.model_validate({"objectStore": S3_INPUT})
    with pytest.raises(InputError) as raised:
        input_refs("team-a", spec)  # refused before any API call
    outcome = classify(raised.value)
    assert (outcome.reason, outcome.disposition) == ("UnsupportedInput", Disposition.FAIL)
    assert "input.objectStore" in outcome.message
