"""Wallaroo's Arrow request format through the client, against the simulator: the same outputs as
pandas-records (to float32, the Arrow answer's type for Float outputs), in input order."""

from __future__ import annotations

import pytest

from wallaroo_operator.wallaroo import WallarooApi, run_inference
from wallaroo_simulator import RunningSimulator

from .conftest import ALOHA, CCFRAUD, aloha_rows, ccfraud_rows, resolver_for


@pytest.mark.parametrize(
    ("target", "input_name", "make_rows"), [(ALOHA, "text_input", aloha_rows), (CCFRAUD, "tensor", ccfraud_rows)]
)
def test_arrow_gives_the_outputs_of_pandas_records(
    sim: RunningSimulator, api: WallarooApi, target: tuple[str, str], input_name: str, make_rows
) -> None:
    data = make_rows(1000)
    outcomes = {
        fmt: run_inference(
            resolver_for(api, target),
            data,
            input_name=input_name,
            request_format=fmt,
            batch_size=300,
            parallelism=2,
            tokens=api.tokens,
            verify=sim.verify,
        )
        for fmt in ("pandas-records", "arrow")
    }
    records, arrow = outcomes["pandas-records"].outputs, outcomes["arrow"].outputs
    assert len(arrow) == len(records) == 1000
    assert [sorted(row) for row in arrow] == [sorted(row) for row in records]
    for arrow_row, records_row in zip(arrow, records, strict=True):
        for name, values in records_row.items():
            assert arrow_row[name] == pytest.approx(values, rel=1e-6, abs=1e-7)  # float32 on the wire
    assert outcomes["arrow"].batches == 4
    assert sim.admin.counters()["pipelines"][target[1]]["rows"] == 2000
