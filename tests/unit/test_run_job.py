"""`wallaroo-operator run-job`: one InferenceJob run here against the simulator, without a cluster.

In process (the command's own entry point, so exit codes and the lines printed are what a user gets):
the results folder, every input kind, the summary, and each class of failure ending in one line and its
own exit code, with nothing half-written and no credential shown.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.support.data import aloha_rows
from tests.support.manifests import connection_manifest, job_manifest, rows_config_map
from wallaroo_operator.cli import main
from wallaroo_operator.cli.run_job import CREDENTIALS, FAILED, INVALID_INPUT, OK, USAGE
from wallaroo_simulator import expected_outputs, run_simulator

ROWS = aloha_rows(300)


@pytest.fixture(scope="module")
def sim():
    with run_simulator() as running:
        yield running


def documents(sim, *, job_spec: dict[str, Any] | None = None, rows: list[list[int]] = ROWS) -> list[dict[str, Any]]:
    spec = {"inference": {"batchSize": 64}, **(job_spec or {})}
    return [
        job_manifest("aloha", inputs=["aloha-input"], **spec),
        connection_manifest(sim),
        rows_config_map("aloha-input", rows),
    ]


def write_manifests(path: Path, docs: list[dict[str, Any]]) -> str:
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


@pytest.fixture
def credentials(sim, monkeypatch):
    monkeypatch.setenv("WALLAROO_CLIENT_SECRET", sim.secret)
    monkeypatch.setenv("WALLAROO_USERNAME", sim.username)
    monkeypatch.setenv("WALLAROO_PASSWORD", sim.password)


def run_job(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["run-job", *argv])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def assert_outputs_match(sim, rows: list[dict[str, Any]], inputs: list[list[int]]) -> None:
    pipeline = sim.config.workspaces[0].pipelines[0]
    assert [r["row"] for r in rows] == list(range(len(inputs)))
    for result, row in zip(rows, inputs, strict=True):
        expected = list(expected_outputs(pipeline, row).values())
        got = [result[name] for name in result if name != "row"]
        assert len(got) == len(expected) == 15
        assert all(
            math.isclose(a, b, rel_tol=1e-6)
            for g, e in zip(got, expected, strict=True)
            for a, b in zip(g, e, strict=True)
        )


def test_runs_the_job_and_writes_results_a_summary_and_a_short_report(sim, credentials, capsys, tmp_path) -> None:
    sim.admin.reset_counters()
    code, out, err = run_job(
        capsys,
        "-f",
        write_manifests(tmp_path / "job.yaml", documents(sim)),
        "--output",
        str(tmp_path / "out"),
        "--quiet",
    )
    assert code == OK, err
    rows = results(tmp_path / "out")
    assert_outputs_match(sim, rows, ROWS)
    # Legacy outputs are named by position, zero-padded: text order (the API server's, jq -S's) is number order.
    names = [name for name in rows[0] if name != "row"]
    assert names == [f"output_{i:02d}" for i in range(15)] == sorted(names)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"] == 300 and summary["batches"] == math.ceil(300 / 64) and summary["retries"] == 0
    assert list(summary["summary"]) == names and summary["workspace"] == "urldemoworkspace"
    # Exactly the batches the summary reports reached the simulator, once each.
    assert sim.admin.counters()["pipelines"]["urldemopipeline"] == {"requests": 5, "rows": 300}
    assert out.startswith("Succeeded: 300 rows in 5 batches, 0 retries")
    assert f"results: {tmp_path / 'out' / 'results.jsonl'}" in out and "output_14" in out
    assert err == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.jsonl", "summary.json"]


def test_several_files_and_shards_give_the_same_rows_in_order(sim, credentials, capsys, tmp_path) -> None:
    job, connection, config_map = documents(sim, job_spec={"execution": {"shards": 3}})
    files = [write_manifests(tmp_path / f"{i}.yaml", [doc]) for i, doc in enumerate((job, connection, config_map))]
    code, _, err = run_job(capsys, "-f", *files, "--output", str(tmp_path / "out"), "--quiet")
    assert code == OK, err
    assert_outputs_match(sim, results(tmp_path / "out"), ROWS)


def _write_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    jsonl = "".join(json.dumps({"text_input": row}) + "\n" for row in ROWS)
    paths = {
        "json": folder / "in.json",
        "json.gz": folder / "in.json.gz",
        "jsonl": folder / "in.jsonl",
        "jsonl.gz": folder / "in.jsonl.gz",
        "parquet": folder / "in.parquet",
    }
    paths["json"].write_text(json.dumps({"text_input": ROWS}))
    paths["json.gz"].write_bytes(gzip.compress(json.dumps([{"text_input": r} for r in ROWS]).encode()))
    paths["jsonl"].write_text(jsonl)
    paths["jsonl.gz"].write_bytes(gzip.compress(jsonl.encode()))
    pq.write_table(pa.table({"text_input": ROWS}), paths["parquet"], row_group_size=70)
    return paths


@pytest.mark.parametrize("kind", ["json", "json.gz", "jsonl", "jsonl.gz", "parquet"])
def test_local_input_files(sim, credentials, capsys, tmp_path, kind) -> None:
    path = _write_inputs(tmp_path / "inputs")[kind]
    manifests = write_manifests(tmp_path / "job.yaml", documents(sim)[:2])  # no ConfigMap: --input instead
    code, _, err = run_job(capsys, "-f", manifests, "--input", str(path), "-o", str(tmp_path / "out"), "--quiet")
    assert code == OK, err
    assert_outputs_match(sim, results(tmp_path / "out"), ROWS)


def test_several_input_files_are_read_in_the_order_given(sim, credentials, capsys, tmp_path) -> None:
    paths = _write_inputs(tmp_path / "inputs")
    manifests = write_manifests(tmp_path / "job.yaml", documents(sim)[:2])
    code, _, err = run_job(
        capsys,
        "-f",
        manifests,
        "-i",
        str(paths["parquet"]),
        "-i",
        str(paths["jsonl"]),
        "-o",
        str(tmp_path / "out"),
        "--quiet",
    )
    assert code == OK, err
    assert_outputs_match(sim, results(tmp_path / "out"), ROWS + ROWS)


def test_credentials_from_a_secret_manifest(sim, capsys, tmp_path, monkeypatch) -> None:
    for name in ("WALLAROO_CLIENT_SECRET", "WALLAROO_USERNAME", "WALLAROO_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    secret = tmp_path / "secret.yaml"
    secret.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "c"},
                "stringData": {"clientSecret": sim.secret, "username": sim.username, "password": sim.password},
            }
        )
    )
    code, _, err = run_job(
        capsys,
        "-f",
        write_manifests(tmp_path / "job.yaml", documents(sim)),
        "--credentials",
        str(secret),
        "-o",
        str(tmp_path / "out"),
        "--quiet",
    )
    assert code == OK, err


def test_refused_credentials_exit_3_in_one_line_without_the_password(sim, capsys, tmp_path, monkeypatch) -> None:
    wrong = "not-the-Password-7f3a"
    monkeypatch.setenv("WALLAROO_CLIENT_SECRET", sim.secret)
    monkeypatch.setenv("WALLAROO_USERNAME", sim.username)
    monkeypatch.setenv("WALLAROO_PASSWORD", wrong)
    code, out, err = run_job(
        capsys, "-f", write_manifests(tmp_path / "job.yaml", documents(sim)), "-o", str(tmp_path / "out")
    )
    assert code == CREDENTIALS
    assert err.startswith("error: InvalidCredentials: ") and err.count("\n") == 1, err
    assert wrong not in out + err and sim.secret not in out + err
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_bad_rows_exit_4_naming_the_row_and_keep_no_results(sim, credentials, capsys, tmp_path) -> None:
    sim.admin.reset_counters()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"text_input": row}) + "\n" for row in [*ROWS[:10], [1, 2, 3]]))
    manifests = write_manifests(tmp_path / "job.yaml", documents(sim)[:2])
    code, out, err = run_job(capsys, "-f", manifests, "-i", str(bad), "-o", str(tmp_path / "out"))
    assert code == INVALID_INPUT
    assert err.startswith("error: InvalidInput: ") and "row" in err and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert list((tmp_path / "out").iterdir()) == []  # no half-written file
    assert sim.admin.counters()["pipelines"].get("urldemopipeline", {}).get("requests", 0) == 0  # nothing sent


def test_an_unknown_pipeline_exits_1(sim, credentials, capsys, tmp_path) -> None:
    manifests = write_manifests(tmp_path / "job.yaml", documents(sim, job_spec={"pipeline": "nosuchpipeline"}))
    code, _, err = run_job(capsys, "-f", manifests, "-o", str(tmp_path / "out"))
    assert code == FAILED
    assert err.startswith("error: PipelineNotFound: ") and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda docs: docs[0]["spec"]["inference"].update(batchSize=0), "spec.inference.batchSize"),
        (lambda docs: docs.pop(1), "WallarooConnection wallaroo, which is not in the -f files"),
        (lambda docs: docs.pop(2), "ConfigMap aloha-input (the job's input) is not in the -f files"),
        (lambda docs: docs.pop(0), "no InferenceJob in the -f files"),
        (lambda docs: docs.append({**docs[0], "metadata": {"name": "other"}}), "pick one with --job"),
        (
            lambda docs: docs[1]["spec"].update(caBundle={"configMapRef": {"name": "ca", "key": "ca.crt"}}),
            "give the PEM file with --ca-file",
        ),
    ],
)
def test_invalid_manifests_exit_2_in_one_line(sim, credentials, capsys, tmp_path, change, message) -> None:
    docs = documents(sim)
    change(docs)
    code, out, err = run_job(capsys, "-f", write_manifests(tmp_path / "job.yaml", docs), "-o", str(tmp_path / "o"))
    assert code == USAGE
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert out == ""


def test_usage_errors_exit_2(sim, credentials, capsys, tmp_path, monkeypatch) -> None:
    manifests = write_manifests(tmp_path / "job.yaml", documents(sim))
    code, _, err = run_job(capsys, "-f", manifests)
    assert code == USAGE and "give --output DIR" in err
    code, _, err = run_job(capsys, "-f", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "o"))
    assert code == USAGE and "cannot read" in err
    code, _, err = run_job(capsys, "-f", manifests, "-i", str(tmp_path / "none.json"), "-o", str(tmp_path / "o"))
    assert code == USAGE and "no such file" in err
    monkeypatch.delenv("WALLAROO_PASSWORD")
    code, _, err = run_job(capsys, "-f", manifests, "-o", str(tmp_path / "o"))
    assert code == USAGE and err == "error: no credentials: set WALLAROO_PASSWORD or give --credentials FILE\n"


def test_results_already_there_are_never_overwritten(sim, credentials, capsys, tmp_path) -> None:
    manifests = write_manifests(tmp_path / "job.yaml", documents(sim))
    assert run_job(capsys, "-f", manifests, "-o", str(tmp_path / "out"), "--quiet")[0] == OK
    before = (tmp_path / "out" / "results.jsonl").read_bytes()
    code, _, err = run_job(capsys, "-f", manifests, "-o", str(tmp_path / "out"), "--quiet")
    assert code == USAGE and "results.jsonl exists already" in err
    assert (tmp_path / "out" / "results.jsonl").read_bytes() == before


def test_help_documents_the_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run-job", "--help"])
    text = capsys.readouterr().out
    for line in (
        "0    the run succeeded",
        "2    usage error or invalid manifest",
        "3    credentials refused",
        "4    invalid input data",
        "130  interrupted",
    ):
        assert line in text


def test_a_private_ca_is_trusted_only_when_given(capsys, tmp_path, monkeypatch) -> None:
    with run_simulator(tls=True) as tls_sim:
        monkeypatch.setenv("WALLAROO_CLIENT_SECRET", tls_sim.secret)
        monkeypatch.setenv("WALLAROO_USERNAME", tls_sim.username)
        monkeypatch.setenv("WALLAROO_PASSWORD", tls_sim.password)
        monkeypatch.delenv("WALLAROO_CA_FILE", raising=False)
        manifests = write_manifests(tmp_path / "job.yaml", documents(tls_sim))
        code, _, err = run_job(capsys, "-f", manifests, "-o", str(tmp_path / "out"), "--quiet")
        assert code == FAILED and err.startswith("error: TLSVerificationFailed: "), err
        code, _, err = run_job(
            capsys, "-f", manifests, "-o", str(tmp_path / "out"), "--quiet", "--ca-file", tls_sim.ca_file
        )
        assert code == OK, err
        assert len(results(tmp_path / "out")) == len(ROWS)


def test_an_unexpected_failure_is_one_line_and_the_traceback_only_on_request(
    sim, credentials, capsys, tmp_path, monkeypatch
) -> None:
    from wallaroo_operator.cli.run_job_results import FolderSink

    def broken(self, chunk):
        raise RuntimeError("boom")

    monkeypatch.setattr(FolderSink, "store_chunk", broken)
    manifests = write_manifests(tmp_path / "job.yaml", documents(sim))
    code, _, err = run_job(capsys, "-f", manifests, "-o", str(tmp_path / "out"), "--quiet")
    assert code == FAILED
    assert err == "error: InternalError: unexpected RuntimeError; --traceback shows where\n"
    code, _, err = run_job(capsys, "-f", manifests, "-o", str(tmp_path / "out2"), "--quiet", "--traceback")
    assert code == FAILED and "Traceback (most recent call last)" in err and 'RuntimeError("boom")' in err
    assert list((tmp_path / "out").iterdir()) == []


def test_a_list_on_standard_input_and_job_picked_by_name(sim, credentials, capsys, tmp_path, monkeypatch) -> None:
    import io

    job, connection, config_map = documents(sim)
    other = {**job, "metadata": {"name": "other"}, "spec": {**job["spec"], "pipeline": "nosuchpipeline"}}
    listed = {"apiVersion": "v1", "kind": "List", "items": [other, job, connection, config_map]}
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(listed)))
    code, _, err = run_job(capsys, "-f", "-", "--job", "aloha", "-o", str(tmp_path / "out"), "--quiet")
    assert code == OK, err
    assert len(results(tmp_path / "out")) == len(ROWS)
