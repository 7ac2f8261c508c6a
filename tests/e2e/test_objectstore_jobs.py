"""InferenceJobs reading from and writing to a real S3 server (versitygw), end to end through the operator
(local executor), the worker and the simulator: the tutorial's 25k rows as JSON Lines and as Parquet, sharded
4 ways, results in both formats, the manifest, a rerun after a restart, and pruning."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math

import pyarrow.parquet as pq
import pytest

from localcluster.s3 import S3Endpoint
from tests.objectstore import conftest as s3_fixtures
from tests.objectstore.data import TUTORIAL_25K_ROWS, jsonl, parquet, put
from tests.support.kube import Kube
from tests.support.operator import (
    aloha_rows,
    annotate_run_now,
    create_job,
    phase_is,
    result_config_maps,
    running_operator,
    wait_for_job,
)
from tests.support.waiting import wait_for
from wallaroo_operator import constants as c
from wallaroo_operator.objectstore import ObjectStore
from wallaroo_simulator.model import expected_outputs

pytestmark = pytest.mark.cluster
# The real S3 server (versitygw) and a fresh bucket per test, shared with tests/objectstore.
s3, bucket, store = s3_fixtures.s3, s3_fixtures.bucket, s3_fixtures.store


def create_s3_secret(kube: Kube, namespace: str, s3: S3Endpoint, name: str = "s3-keys", **override: str) -> None:
    values = {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key, **override}
    allowed = {c.ALLOWED_JOBS_ANNOTATION: "*"}  # every job of the test's namespace may use these keys
    kube.core.create_namespaced_secret(
        namespace, {"metadata": {"name": name, "annotations": allowed}, "stringData": values}
    )


def block(s3: S3Endpoint, bucket: str, secret: str = "s3-keys", **fields) -> dict:
    return {
        "endpoint": s3.endpoint_url,
        "region": s3.region,
        "bucket": bucket,
        "pathStyle": True,
        "credentialsSecretRef": {"name": secret},
        **fields,
    }


def create_s3_job(
    kube: Kube, namespace: str, name: str, input_block: dict, results_block: dict | None = None, **spec
) -> dict:
    results = {"results": {"objectStore": results_block}} if results_block else {}
    return create_job(kube, namespace, name, input={"objectStore": input_block}, **results, **spec)


def read_object(store: ObjectStore, key: str) -> bytes:
    return store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()


def read_parts(store: ObjectStore, manifest: dict) -> list[dict]:
    rows: list[dict] = []
    for part in manifest["parts"]:
        data = read_object(store, part["key"])
        assert hashlib.sha256(data).hexdigest() == part["sha256"] and len(data) == part["bytes"]
        if manifest["format"] == "parquet":
            part_rows = pq.read_table(io.BytesIO(data)).to_pylist()
        else:
            part_rows = [json.loads(line) for line in gzip.decompress(data).splitlines()]
        assert len(part_rows) == part["rows"]
        rows += part_rows
    return rows


def manifest_of(store: ObjectStore, job: dict) -> dict:
    uri = job["status"]["lastRun"]["resultsManifest"]
    assert uri.startswith(f"s3://{store.bucket}/")
    return json.loads(read_object(store, uri.removeprefix(f"s3://{store.bucket}/")))


def assert_simulators_outputs(rows: list[dict], inputs: list[list], pipeline) -> None:
    """Every output value of every row equals the simulator's documented function of that row (its outputs
    in configuration order: JSON answers name them output_0, output_1, ..., Arrow answers by their names)."""
    assert len(rows) == len(inputs)
    for index in range(len(inputs)):
        expected = list(expected_outputs(pipeline, inputs[index]).values())
        got = list(rows[index].values())
        assert len(got) == len(expected), index
        for got_values, expected_values in zip(got, expected, strict=True):
            pairs = zip(got_values, expected_values, strict=True)
            assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in pairs), index  # "Float" outputs are float32


def test_the_tutorials_25k_rows_as_jsonl_and_parquet_in_four_shards_to_s3_in_both_formats(
    kube: Kube, namespace, s3, store, simulator, connection, operator
):
    rows = aloha_rows(TUTORIAL_25K_ROWS)
    put(store, "tutorial/data-25k.jsonl", jsonl(rows))
    put(store, "tutorial/data-25k.parquet", parquet(rows, row_group_rows=3000))
    create_s3_secret(kube, namespace, s3)
    create_s3_job(
        kube,
        namespace,
        "from-jsonl",
        block(s3, store.bucket, key="tutorial/data-25k.jsonl"),
        block(s3, store.bucket, prefix="results"),
        execution={"shards": 4},
    )
    create_s3_job(
        kube,
        namespace,
        "from-parquet",
        block(s3, store.bucket, key="tutorial/data-25k.parquet"),
        block(s3, store.bucket, prefix="results", format="parquet"),
        execution={"shards": 4},
        inference={"format": "arrow"},
    )
    done = {
        name: wait_for_job(kube, namespace, name, phase_is("Succeeded", "Failed"), timeout=600)
        for name in ("from-jsonl", "from-parquet")
    }
    pipeline = simulator.config.pipeline("urldemopipeline")
    outputs = {}
    for name, job in done.items():
        assert job["status"]["phase"] == "Succeeded", job["status"]
        last = job["status"]["lastRun"]
        run_prefix = f"results/{namespace}/{name}/{last['id']}/"
        assert last["rows"] == TUTORIAL_25K_ROWS and last["resultParts"] == 4
        assert last["resultsUri"] == f"s3://{store.bucket}/{run_prefix}"
        assert last["resultsManifest"] == f"s3://{store.bucket}/{run_prefix}_manifest.json"
        assert "resultConfigMaps" not in last and "outputs" not in last  # URIs and the summary, not the data
        assert len(last["summary"]) == len(pipeline.outputs)
        assert not result_config_maps(kube, namespace, name)
        manifest = manifest_of(store, job)
        assert (manifest["kind"], manifest["runId"], manifest["job"], manifest["namespace"]) == (
            "InferenceRunResults",
            last["id"],
            name,
            namespace,
        )
        assert manifest["jobUid"] == job["metadata"]["uid"] and manifest["rows"] == TUTORIAL_25K_ROWS
        assert [p["shard"] for p in manifest["parts"]] == [0, 1, 2, 3]
        firsts = [p["firstRow"] for p in manifest["parts"]]
        assert firsts == [0] + [sum(p["rows"] for p in manifest["parts"][:i]) for i in range(1, 4)]
        assert min(p["rows"] for p in manifest["parts"]) > TUTORIAL_25K_ROWS // 4 * 0.9  # really sharded
        columns = [col["name"] for col in manifest["schema"]["columns"]]
        assert set(columns) == set(last["summary"]) and len(columns) == len(pipeline.outputs)
        assert manifest["startedAt"] <= manifest["finishedAt"]
        listed = {o.key for o in store.list_objects(run_prefix)}
        assert listed == {p["key"] for p in manifest["parts"]} | {run_prefix + "_manifest.json"}
        outputs[name] = read_parts(store, manifest)
        assert list(outputs[name][0]) == columns
        assert_simulators_outputs(outputs[name], rows, pipeline)
    assert list(outputs["from-parquet"][0]) == [o.name for o in pipeline.outputs]  # Arrow answers: by name


def test_a_run_whose_manifest_exists_is_recorded_not_run_again_after_a_restart(
    kube: Kube, namespace, s3, store, simulator, connection
):
    rows = aloha_rows(3000, seed=5)
    put(store, "in/part-0.jsonl", jsonl(rows[:1000]))
    put(store, "in/part-1.jsonl", jsonl(rows[1000:]))
    create_s3_secret(kube, namespace, s3)
    create_s3_job(
        kube,
        namespace,
        "once",
        block(s3, store.bucket, prefix="in/"),
        block(s3, store.bucket, prefix="out"),
        execution={"shards": 2},
    )
    with running_operator(namespace):
        first = wait_for_job(kube, namespace, "once", phase_is("Succeeded", "Failed"), timeout=300)
    assert first["status"]["phase"] == "Succeeded", first["status"]
    infers = simulator.admin.counters()["requests"].get("infer", 0)
    assert infers == 4  # 2 shards of 1500 rows, in batches of at most 1000, once
    manifest_key = first["status"]["lastRun"]["resultsManifest"].removeprefix(f"s3://{store.bucket}/")
    before = store.head(manifest_key)["ETag"]
    # The status is lost (as when the operator stopped between the manifest and the status write).
    kube.custom.patch_namespaced_custom_object_status(
        c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, "once", {"status": None}
    )
    with running_operator(namespace):
        again = wait_for_job(
            kube,
            namespace,
            "once",
            lambda j: (j.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
            timeout=300,
        )
    last = again["status"]["lastRun"]
    assert again["status"]["phase"] == "Succeeded" and last["recovered"] is True, again["status"]
    assert last["rows"] == 3000 and last["resultsManifest"] == first["status"]["lastRun"]["resultsManifest"]
    assert simulator.admin.counters()["requests"].get("infer", 0) == infers  # nothing sent again
    assert store.head(manifest_key)["ETag"] == before  # nothing written again


def test_pruned_runs_lose_their_objects_only_with_prune_true(
    kube: Kube, namespace, s3, store, simulator, connection, operator
):
    put(store, "in/data.jsonl", jsonl(aloha_rows(50)))
    create_s3_secret(kube, namespace, s3)
    for name, prune in (("pruning", True), ("keeping", False)):
        create_s3_job(
            kube,
            namespace,
            name,
            block(s3, store.bucket, key="in/data.jsonl"),
            block(s3, store.bucket, prefix="out", prune=prune),
            successfulRunsHistoryLimit=1,
        )
    first = {name: wait_for_job(kube, namespace, name, phase_is("Succeeded")) for name in ("pruning", "keeping")}
    for name in first:
        annotate_run_now(kube, namespace, name, "again")

    def second_run_done(job: dict) -> bool:
        last = (job.get("status") or {}).get("lastRun") or {}
        return last.get("trigger") == "Manual" and last.get("state") == "Succeeded"

    for name in first:
        second = wait_for_job(kube, namespace, name, second_run_done, timeout=120)
        assert [h["id"] for h in second["status"]["history"]] == [second["status"]["lastRun"]["id"]]
    old = {name: f"out/{namespace}/{name}/{job['status']['lastRun']['id']}/" for name, job in first.items()}
    # Pruning happens right after the status write that drops the run: wait for it, with a deadline.
    wait_for(lambda: not store.list_objects(old["pruning"]), timeout=30, what="the pruned run's objects deleted")
    assert store.list_objects(old["keeping"])  # prune: false keeps them
