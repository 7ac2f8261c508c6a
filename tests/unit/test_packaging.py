"""The production wheel holds the operator alone: no simulator, no localcluster, no commands of theirs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(tmp_path: Path, operator_only: bool) -> zipfile.ZipFile:
    """Built from a copy of what the Dockerfile copies, as it builds: a checkout's build/ folder
    (left by an earlier build, reused by setuptools) cannot leak into the wheel."""
    source = tmp_path / "source"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "operator" / "src",
        source / "operator" / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    env = {k: v for k, v in os.environ.items() if k != "WALLAROO_BUILD_OPERATOR_ONLY"}
    if operator_only:
        env["WALLAROO_BUILD_OPERATOR_ONLY"] = "1"
    # The locked setuptools (requirements/build.txt) is in the test environment: no download.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=source,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    return zipfile.ZipFile(wheel)


def top_level(wheel: zipfile.ZipFile) -> set[str]:
    return {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}


def commands(wheel: zipfile.ZipFile) -> set[str]:
    (entry_points,) = [name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")]
    return {line.split("=")[0].strip() for line in wheel.read(entry_points).decode().splitlines() if "=" in line}


@pytest.mark.parametrize("operator_only", [True, False], ids=["production", "development"])
def test_the_wheel_holds_what_it_should(tmp_path: Path, operator_only: bool) -> None:
    wheel = build_wheel(tmp_path, operator_only)
    if operator_only:
        assert top_level(wheel) == {"wallaroo_operator"}
        assert commands(wheel) == {"wallaroo-operator"}
    else:
        assert top_level(wheel) == {"wallaroo_operator", "wallaroo_simulator", "localcluster"}
        assert commands(wheel) == {"wallaroo-operator", "wallaroo-simulator", "localcluster"}
    assert "wallaroo_operator/cli/validate.py" in wheel.namelist()
