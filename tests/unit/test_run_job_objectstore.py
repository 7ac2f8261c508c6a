"""`wallaroo-operator run-job` with the job's own object store: rows read from a bucket (Parquet parts under a
prefix), results written there as parts and a manifest, with the AWS credentials of the environment. A real
S3 server (versitygw) and the simulator; never a mock."""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from localcluster.s3 import S3Endpoint, S3Server, build_versitygw
from tests.support.data import aloha_rows
from tests.support.manifests import connection_manifest, job_manifest
from tests.support.s3 import store_for, unique_bucket
from wallaroo_operator.cli import main
from wallaroo_operator.cli.run_job import CREDENTIALS, OK
from wallaroo_simulator import run_simulator

ROWS = aloha_rows(250)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Endpoint]:
    binary = build_versitygw()  # cached per version; `make test` builds it before pytest starts
    with tempfile.TemporaryDirectory(prefix="s3-") as state_root, S3Server(Path(state_root) / "s3", binary) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def sim():
    with run_simulator() as running:
        yield running


@pytest.fixture
def bucket(s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    name = unique_bucket()
    store = store_for(s3, name)
    store.client.create_bucket(Bucket=name)
    for index, start in enumerate(range(0, len(ROWS), 100)):
        sink = io.BytesIO()
        pq.write_table(pa.table({"text_input": ROWS[start : start + 100]}), sink)
        store.client.put_object(Bucket=name, Key=f"in/part-{index:02d}.parquet", Body=sink.getvalue())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    for variable in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    return name


def manifests(path: Path, sim: Any, s3: S3Endpoint, bucket: str) -> str:
    store = {"endpoint": s3.endpoint_url, "region": s3.region, "bucket": bucket, "pathStyle": True}
    job = job_manifest(
        "aloha",
        inference={"batchSize": 64},
        input={"objectStore": {**store, "prefix": "in/"}},
        results={"objectStore": {**store, "prefix": "results"}},
    )
    path.write_text(yaml.safe_dump_all([job, connection_manifest(sim)]))
    return str(path)


def run_job(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["run-job", *argv])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def wallaroo_credentials(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLAROO_CLIENT_SECRET", sim.secret)
    monkeypatch.setenv("WALLAROO_USERNAME", sim.username)
    monkeypatch.setenv("WALLAROO_PASSWORD", sim.password)


def test_rows_from_the_bucket_and_results_back_to_it(sim, s3, bucket, wallaroo_credentials, capsys, tmp_path) -> None:
    code, out, err = run_job(capsys, "-f", manifests(tmp_path / "job.yaml", sim, s3, bucket), "--quiet")
    assert code == OK, err
    store = store_for(s3, bucket)
    keys = sorted(o.key for o in store.list_objects("results/"))
    manifest_key = next(k for k in keys if k.endswith("/_manifest.json"))
    assert manifest_key.startswith("results/default/aloha/local-") and f"results: s3://{bucket}/{manifest_key}" in out
    manifest = json.loads(store.client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    assert manifest["rows"] == 250 and manifest["job"] == "aloha"
    rows = [
        json.loads(line)
        for part in manifest["parts"]
        for line in gzip.decompress(store.client.get_object(Bucket=bucket, Key=part["key"])["Body"].read())
        .decode()
        .splitlines()
    ]
    assert len(rows) == 250 and list(rows[0]) == [f"output_{i:02d}" for i in range(15)]
    # The same values as the same rows read from a local file.
    local = tmp_path / "rows.json"
    local.write_text(json.dumps({"text_input": ROWS}))
    code, _, err = run_job(
        capsys, "-f", str(tmp_path / "job.yaml"), "-i", str(local), "-o", str(tmp_path / "out"), "--quiet"
    )
    assert code == OK, err
    expected = [json.loads(line) for line in (tmp_path / "out/results.jsonl").read_text().splitlines()]
    assert rows == [{k: v for k, v in row.items() if k != "row"} for row in expected]


def test_store_credentials_refused_exit_3(sim, s3, bucket, wallaroo_credentials, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-key-8c1e")
    code, out, err = run_job(capsys, "-f", manifests(tmp_path / "job.yaml", sim, s3, bucket), "--quiet")
    assert code == CREDENTIALS, err
    # A HEAD answers a bad signature with a bare 403: the store cannot tell it from a denial.
    assert err.startswith(("error: ObjectStoreAuthenticationFailed: ", "error: AccessDenied: ")), err
    assert err.count("\n") == 1
    assert "not-the-key-8c1e" not in out + err
