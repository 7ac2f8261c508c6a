"""The helm the tests use: the pinned one from hack/helm/ (built and cached) unless the machine has one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hack.chart.helm_binary import HELM, HELM_MODULE, cache_dir, helm_binary, helm_ldflags
from localcluster.build import pinned_version
from tests.chart.conftest import Helm


def test_the_pin_is_one_go_mod_line_and_sets_helms_kubernetes_version():
    version = pinned_version(HELM_MODULE, HELM)
    assert version.startswith("v3.")
    minor = pinned_version(HELM_MODULE, "k8s.io/client-go").split(".")[1]
    flags = helm_ldflags(version)
    assert f"{HELM}/internal/version.version={version}" in flags
    for package in ("pkg/chartutil", "pkg/lint/rules"):  # what `helm template` and `helm lint` assume
        assert f"{HELM}/{package}.k8sVersionMinor={minor}" in flags
    assert "tool helm.sh/helm/v3/cmd/helm" in (HELM_MODULE / "go.mod").read_text()


def test_the_built_helm_reports_the_pinned_version(helm: Helm):
    version = pinned_version(HELM_MODULE, HELM)
    if helm.binary != cache_dir(version) / "helm":
        pytest.skip(f"the tests use {helm.binary}, not the one built from hack/helm/")
    reported = subprocess.run(
        [str(helm.binary), "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True
    ).stdout
    assert reported == version


def test_helm_env_var_wins(monkeypatch, tmp_path: Path):
    chosen = tmp_path / "my-helm"
    monkeypatch.setenv("HELM", str(chosen))
    assert helm_binary() == chosen
