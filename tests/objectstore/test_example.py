"""examples/objectstore/: the object-store job example is valid, as the other examples are (the CRD's schema,
the models, `wallaroo-operator validate`), and fits the simulator's world and the base examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.test_cli_validate import run_cli
from tests.unit.test_examples import crd_schema, of_kind, schema_errors
from wallaroo_operator import constants as c
from wallaroo_operator.models.job import InferenceJobSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "objectstore" / "inferencejob.yaml"


def documents() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc]


def test_the_example_is_a_valid_object_store_job() -> None:
    (job,) = documents()
    assert (job["apiVersion"], job["kind"]) == (c.API_VERSION, c.JOB_KIND) and "namespace" not in job["metadata"]
    assert not (errors := schema_errors(job["spec"], crd_schema(c.JOB_KIND)["properties"]["spec"])), errors
    spec = InferenceJobSpec.model_validate(job["spec"])
    assert spec.input.object_store is not None and spec.results.object_store is not None
    assert spec.input.config_maps is None and spec.input.selector is None
    assert spec.execution.shards > 1 and spec.results.object_store.prune


def test_the_example_uses_the_base_examples_connection() -> None:
    (job,) = documents()
    from wallaroo_simulator.config import default_config

    assert job["spec"]["connectionRef"]["name"] in {d["metadata"]["name"] for d in of_kind(c.CONNECTION_KIND)}
    pipeline = default_config().pipeline(job["spec"]["pipeline"])
    assert job["spec"]["input"]["objectStore"]["column"] == pipeline.input.name
    assert "kubectl create secret generic s3-keys" in EXAMPLE.read_text()  # keys never in the file


def test_wallaroo_operator_validate_accepts_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "-f", str(EXAMPLE))
    assert code == 0, out
    assert "0 invalid" in out.splitlines()[-1]
