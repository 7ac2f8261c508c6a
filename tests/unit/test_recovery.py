"""Which results ConfigMaps prove that a run finished (so it is recorded from them, not run again)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes.client import V1ConfigMap, V1ObjectMeta

from wallaroo_operator import constants as c
from wallaroo_operator.kube.recovery import RunResults, complete_results

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def part(index: int, parts: int = 2, *, rows: str = "7", partial: str = "false", second: int = 0) -> V1ConfigMap:
    return V1ConfigMap(metadata=V1ObjectMeta(
        name=f"job-gen-1-{index}", labels={c.PART_LABEL: str(index)}, creation_timestamp=T0.replace(second=second),
        annotations={f"{c.GROUP}/parts": str(parts), f"{c.GROUP}/total-rows": rows, f"{c.GROUP}/partial": partial}))


def test_every_part_present_is_a_finished_run_in_part_order() -> None:
    assert complete_results([part(1, second=9), part(0, second=3)]) == RunResults(
        ["job-gen-1-0", "job-gen-1-1"], 7, "2024-05-01T12:00:09Z")


@pytest.mark.parametrize("parts", [
    [],
    [part(0)],  # one of two: the run stopped while writing its results
    [part(0, partial="true"), part(1, partial="true")],
    [part(0), part(1, parts=3)],  # parts that disagree
    [part(0, rows="many"), part(1, rows="many")],  # not as we write them
    [part(0, parts=2), part(1, parts="x")],  # type: ignore[arg-type]
], ids=["none", "missing-part", "partial", "disagreeing", "bad-rows", "bad-count"])
def test_anything_less_is_not_trusted(parts: list) -> None:
    assert complete_results(parts) is None
