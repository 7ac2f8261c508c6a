"""The path the issue asks for, piece by piece: Parquet in S3 -> a shard's rows -> Arrow requests to the
simulator -> results in S3 -> read back with pyarrow, equal to what pandas-records gives."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from tests.objectstore.data import parquet, put
from tests.support.data import aloha_rows
from wallaroo_operator.objectstore import (
    ObjectStore,
    ResultSink,
    RunIdentity,
    plan_input,
    read_shard,
)
from wallaroo_operator.wallaroo import (
    Credentials,
    ExternalUrlResolver,
    TokenProvider,
    WallarooApi,
    run_inference,
)
from wallaroo_operator.wallaroo.http import new_session
from wallaroo_simulator import RunningSimulator, run_simulator


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with run_simulator() as running:
        yield running


def test_parquet_shards_through_arrow_match_pandas_records(store: ObjectStore, sim: RunningSimulator) -> None:
    rows = aloha_rows(4000, seed=11)
    put(store, "in/aloha.parquet", parquet(rows, row_group_rows=700))
    plan = plan_input(store, key="in/aloha.parquet")
    tokens = TokenProvider(
        sim.token_url,
        Credentials(
            client_id=sim.client,
            client_secret=sim.secret,
            grant="password",
            username=sim.username,
            password=sim.password,
        ),
        new_session(),
    )
    api = WallarooApi(sim.api_url, tokens, new_session())
    resolver = ExternalUrlResolver(api, api.workspace_id("urldemoworkspace"), "urldemopipeline")
    run = RunIdentity("team-a", "aloha", "g1", "uid-1")
    sink = ResultSink(store, run, prefix="results", format="parquet")
    for shard in range(2):
        shard_rows = [row for batch in read_shard(store, plan, shard, 2, column="text_input") for row in batch.rows]
        outcome = run_inference(
            resolver, shard_rows, input_name="text_input", request_format="arrow", batch_size=500, tokens=tokens
        )
        sink.write_shard(shard, outcome.outputs)
    manifest = sink.finish(started="s", finished="f")

    written = []
    for part in manifest["parts"]:
        data = store.client.get_object(Bucket=store.bucket, Key=part["key"])["Body"].read()
        written += pq.read_table(io.BytesIO(data)).to_pylist()
    records = run_inference(
        resolver, rows, input_name="text_input", request_format="pandas-records", batch_size=1000, tokens=tokens
    ).outputs
    assert manifest["rows"] == len(written) == len(records) == 4000
    for arrow_row, records_row in zip(written, records, strict=True):
        assert sorted(arrow_row) == sorted(records_row)
        for name, values in records_row.items():
            assert arrow_row[name] == pytest.approx(values, rel=1e-6, abs=1e-7)  # float32 on the Arrow wire
