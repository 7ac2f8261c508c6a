"""The chart's generated files are what `make chart` writes from the models and manifests/ (as
dask-kubernetes checks its chart against its generated CRDs): the test fails on any drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from hack.chart.generate import CHART, drifted, main


def test_the_committed_chart_is_up_to_date():
    assert drifted(CHART) == [], "the chart drifted from crds/ and manifests/: run `make chart`"


def test_a_change_in_manifests_is_caught(tmp_path: Path):
    """The check can fail: a chart whose copy of the rules or CRDs is stale is reported, file by file."""
    copy = tmp_path / "chart"
    shutil.copytree(CHART, copy)
    rbac = copy / "files" / "generated" / "rbac.yaml"
    rules = yaml.safe_load(rbac.read_text())
    rules["clusterWide"][0]["verbs"].append("delete")
    rbac.write_text(yaml.safe_dump(rules))
    crd = next((copy / "crds").glob("*.yaml"))
    crd.write_text(crd.read_text().replace("description:", "description: stale", 1))
    (copy / "files" / "generated" / "stray.yaml").write_text("{}\n")
    assert drifted(copy) == [f"crds/{crd.name}", "files/generated/rbac.yaml", "files/generated/stray.yaml"]


def test_check_mode_says_what_to_run(capsys, monkeypatch, tmp_path: Path):
    copy = tmp_path / "chart"
    shutil.copytree(CHART, copy)
    (copy / "files" / "generated" / "health-inferencejob.lua").write_text("return {}\n")
    monkeypatch.setattr("hack.chart.generate.CHART", copy)
    assert main(["--check"]) == 1
    assert "run `make chart`" in capsys.readouterr().err
