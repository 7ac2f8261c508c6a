"""`make demo` prints a sample of the results from wherever the run kept them: its results ConfigMaps, or
status.lastRun.outputs when they were small enough to need none (results.configMaps: IfNotInline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hack"))
import demo

OUTPUTS = [{"output_00": [0.5], "output_01": [0.25]}, {"output_00": [0.75], "output_01": [0.125]}]


def job(result_config_maps: list[str]) -> dict:
    return {"status": {"lastRun": {"rows": 2, "resultConfigMaps": result_config_maps, "outputs": OUTPUTS}}}


def test_results_in_config_maps_are_read_from_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[tuple[str, ...]] = []

    def kubectl(*args: str) -> str:
        asked.append(args)
        return json.dumps([{"row": index, **outputs} for index, outputs in enumerate(OUTPUTS)])

    demo.show_results(kubectl, job(["demo-gen-1-0"]))
    assert asked[0][:3] == ("get", "configmap", "demo-gen-1-0")
    assert '{"row": 1, "output_00": [0.75], "output_01": [0.125]}' in capsys.readouterr().out


def test_small_results_are_shown_from_the_status(capsys: pytest.CaptureFixture[str]) -> None:
    def kubectl(*args: str) -> str:
        raise AssertionError(f"no ConfigMap to read, asked {args}")

    demo.show_results(kubectl, job([]))
    out = capsys.readouterr().out
    assert "status.lastRun.outputs" in out
    assert '{"row": 0, "output_00": [0.5], "output_01": [0.25]}' in out
