"""`inference.format: arrow` through the real operator: Arrow IPC requests, results equal to the simulator's
documented outputs to float32 (the Arrow answer's type for Float outputs)."""

from __future__ import annotations

import pytest

from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    create_input,
    create_job,
    phase_is,
    read_results,
    wait_for_job,
)
from wallaroo_simulator import expected_outputs

pytestmark = pytest.mark.cluster


def test_a_job_sends_arrow(kube: Kube, namespace, simulator, connection, operator) -> None:
    rows = aloha_rows(1000)
    create_input(kube, namespace, "input", {"text_input": rows})
    create_job(kube, namespace, "arrow", inference={"format": "arrow", "batchSize": 300})

    job = wait_for_job(kube, namespace, "arrow", phase_is("Succeeded", "Failed"), what="the run to finish")

    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert (job["status"]["lastRun"]["rows"], job["status"]["lastRun"]["batches"]) == (1000, 4)
    config = simulator.config.pipeline("urldemopipeline")
    results = read_results(kube, namespace, job)
    assert [r["row"] for r in results] == list(range(1000))
    for row, result in zip(rows, results, strict=True):
        expected = expected_outputs(config, row)
        assert [v for k, v in result.items() if k != "row"] == [
            pytest.approx(values, rel=1e-6, abs=1e-7) for values in expected.values()
        ]
    assert simulator.admin.counters()["pipelines"]["urldemopipeline"]["rows"] == 1000
