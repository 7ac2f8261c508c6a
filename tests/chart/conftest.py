"""The chart's tests: a helm v3 binary (from PATH, or built from hack/helm/ and cached) and rendering."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from hack.chart.generate import CHART
from hack.chart.helm_binary import helm_binary
from localcluster.build import BuildError
from tests.support.kube import REPO_ROOT

# Renders use the names `kubectl apply -k manifests/` uses, so objects compare one to one.
RELEASE = "wallaroo-inference-operator"
NAMESPACE = "wallaroo-operator"


class Helm:
    def __init__(self, binary: Path):
        self.binary = binary

    def run(
        self,
        *args: str,
        values: dict | None = None,
        kubeconfig: Path | None = None,
        tmp_path: Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        command = [str(self.binary), *args]
        if values is not None:
            assert tmp_path is not None, "values are passed as a file"
            values_file = tmp_path / f"values-{len(list(tmp_path.glob('values-*')))}.yaml"
            values_file.write_text(yaml.safe_dump(values))
            command += ["--values", str(values_file)]
        if kubeconfig is not None:
            command += ["--kubeconfig", str(kubeconfig)]
        result = subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
        return result

    def template(self, tmp_path: Path, values: dict | None = None, *args: str) -> list[dict]:
        """`helm template` of the chart with these values, as a list of objects."""
        result = self.run(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args, values=values or {}, tmp_path=tmp_path
        )
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def helm() -> Helm:
    try:
        return Helm(helm_binary())
    except BuildError as error:
        pytest.fail(f"no helm on PATH and it could not be built: {error}")


def only(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]
