"""The lint gate: `make test` runs `make lint` (ruff check, ruff format --check, mypy) before pytest,
and `make lint` fails when any one of them fails. Checked with make's dry run and a stand-in Python
that records its calls, so nothing is built, installed or linted here."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ["-m ruff check .", "-m ruff format --check .", "-m mypy"]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_make_test_runs_every_lint_tool_before_pytest() -> None:
    result = make("-n", "test")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    pytest_at = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    for tool in TOOLS:
        assert any(tool in line for line in lines[:pytest_at]), f"{tool!r} does not run before pytest"


def fake_python(tmp_path: Path, failing: str | None) -> tuple[Path, Path]:
    """A stand-in for .venv/bin/python that logs its arguments and fails for the `failing` tool."""
    log, script = tmp_path / "calls.log", tmp_path / "python"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> "{log}"\n'
        + (f'case "$*" in "{failing}") exit 1;; esac\n' if failing else "")
        + "exit 0\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


@pytest.mark.parametrize("failing", [None, *TOOLS])
def test_make_lint_runs_every_tool_and_fails_when_one_fails(tmp_path: Path, failing: str | None) -> None:
    script, log = fake_python(tmp_path, failing)
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than pyproject.toml and the locks: no install
    result = make("-s", "lint", f"PY={script}", f"STAMP={stamp}")
    assert (result.returncode == 0) == (failing is None), result.stdout + result.stderr
    assert log.read_text().splitlines() == TOOLS  # all three run, in order, even after a failure
