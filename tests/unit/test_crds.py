"""The CRDs in crds/ are generated from the pydantic models; this fails when the two drift."""

from __future__ import annotations

import yaml

from tests.support.kube import REPO_ROOT
from wallaroo_operator.models.crd import all_crds


def test_committed_crds_match_the_models():
    for file_name, generated in all_crds().items():
        path = REPO_ROOT / "crds" / file_name
        assert path.exists(), f"{path} is missing: run `make crds`"
        assert yaml.safe_load(path.read_text()) == generated, f"{path} drifted from the models: run `make crds`"
    assert {p.name for p in (REPO_ROOT / "crds").glob("*.yaml")} == set(all_crds())


def test_schemas_are_structural_and_free_of_noise():
    def walk(node, path="schema"):
        if isinstance(node, dict):
            assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
            assert not (node.get("type") == "object" and "properties" in node and "additionalProperties" in node)
            for key, value in node.items():
                assert value != [] and value is not None, f"{path}.{key} is empty (Argo CD would see a diff)"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    for crd in all_crds().values():
        walk(crd)
        for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
            assert "priority" not in column
