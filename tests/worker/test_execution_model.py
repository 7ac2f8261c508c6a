"""spec.execution: defaults, validation and the CRD schema generated from it."""

from __future__ import annotations

import pydantic
import pytest

from wallaroo_operator.models.crd import inference_job_crd
from wallaroo_operator.models.execution import ExecutionSpec, quantity_bytes
from wallaroo_operator.models.job import InferenceJobSpec

MINIMAL = {"connectionRef": {"name": "w"}, "workspace": "ws", "pipeline": "p", "input": {"configMaps": [{"name": "i"}]}}


def test_defaults_are_one_shard_and_measured_resources():
    execution = InferenceJobSpec.model_validate(MINIMAL).execution
    assert execution.shards == 1 and execution.parallelism is None
    assert execution.requests() == {"cpu": "100m", "memory": "160Mi"}
    assert execution.limits() == {"memory": "256Mi"}


def test_user_resources_override_the_defaults_key_by_key():
    execution = ExecutionSpec.model_validate({"resources": {"limits": {"memory": "1Gi", "cpu": "2"}}})
    assert execution.limits() == {"memory": "1Gi", "cpu": "2"}
    assert execution.requests() == {"cpu": "100m", "memory": "160Mi"}


@pytest.mark.parametrize(
    "bad",
    [
        {"shards": 0},
        {"shards": 101},
        {"resources": {"limits": {"memory": "lots"}}},
        {"tolerations": [{"operator": "Maybe"}]},
        {"priorityClassName": "Not_A_Name"},
    ],
)
def test_invalid_execution_is_rejected(bad):
    with pytest.raises(pydantic.ValidationError):
        ExecutionSpec.model_validate(bad)


@pytest.mark.parametrize(
    "text, expected",
    [("256Mi", 256 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("1000", 1000), ("1.5Gi", 3 * 2**29), ("500k", 500_000)],
)
def test_quantity_bytes(text, expected):
    assert quantity_bytes(text) == expected


def test_crd_documents_execution_and_keeps_affinity_free_form():
    spec = inference_job_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    execution = spec["properties"]["execution"]
    assert execution["default"] == {}
    assert "Indexed Job" in execution["properties"]["shards"]["description"]
    assert execution["properties"]["affinity"] == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "Pod affinity (core/v1 Affinity).",
    }
    assert all("description" in prop for prop in execution["properties"].values())
