"""Every bad object-store input of a job ends as a condition with its own reason and a message naming the
bucket and key, end to end through the operator (local executor) against the real S3 server; no secret in
the status, the events or the operator's log; the other jobs keep running."""

from __future__ import annotations

import json
import logging

import pytest

from localcluster.processes import free_port
from tests.e2e.test_objectstore_jobs import block, create_s3_job, create_s3_secret
from tests.objectstore import conftest as s3_fixtures
from tests.objectstore.data import jsonl, parquet, put
from tests.support.kube import Kube
from tests.support.operator import aloha_rows, condition, phase_is, running_operator, wait_for_job
from tests.support.s3 import create_user, unique_bucket
from wallaroo_operator import constants as c

pytestmark = pytest.mark.cluster
# The real S3 server (versitygw) and a fresh bucket per test, shared with tests/objectstore.
s3, bucket, store = s3_fixtures.s3, s3_fixtures.bucket, s3_fixtures.store
WRONG_SECRET = "wrong-s3-secret-Zq81"


def test_each_bad_input_is_a_condition_naming_the_bucket_and_key(
    kube: Kube, namespace, s3, store, simulator, connection, caplog
):
    caplog.set_level(logging.DEBUG)
    rows = aloha_rows(20)
    put(store, "in/data.jsonl", jsonl(rows))
    put(store, "empty/_SUCCESS", b"")
    put(store, "empty/part-0.jsonl", b"")
    good = parquet(aloha_rows(3000), row_group_rows=1000)
    put(store, "bad/truncated.parquet", good[: len(good) * 2 // 3])
    put(store, "bad/features.parquet", parquet(rows, name="features"))
    stranger, reader = create_user(s3), create_user(s3)
    # The reader may read the bucket, not write to it.
    store.client.put_bucket_policy(
        Bucket=store.bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": [reader.access_key_id]},
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{store.bucket}", f"arn:aws:s3:::{store.bucket}/*"],
                    }
                ],
            }
        ),
    )
    create_s3_secret(kube, namespace, s3)
    create_s3_secret(kube, namespace, s3, name="wrong", secretAccessKey=WRONG_SECRET)
    create_s3_secret(
        kube,
        namespace,
        s3,
        name="stranger",
        accessKeyId=stranger.access_key_id,
        secretAccessKey=stranger.secret_access_key,
    )
    create_s3_secret(
        kube, namespace, s3, name="reader", accessKeyId=reader.access_key_id, secretAccessKey=reader.secret_access_key
    )
    missing_bucket, closed = unique_bucket(), f"http://127.0.0.1:{free_port()}"
    data = {"key": "in/data.jsonl"}
    cases = {  # job: (input block, results block or None, reason, what the message names)
        "wrong-keys": (
            block(s3, store.bucket, "wrong", **data),
            None,
            "ObjectStoreAuthenticationFailed",
            f"s3://{store.bucket}/in/data.jsonl",
        ),
        "no-bucket": (block(s3, missing_bucket, **data), None, "BucketNotFound", f"s3://{missing_bucket}/"),
        "no-prefix": (
            block(s3, store.bucket, prefix="nothing/"),
            None,
            "InputNotFound",
            f"s3://{store.bucket}/nothing/",
        ),
        "empty-prefix": (block(s3, store.bucket, prefix="empty/"), None, "EmptyInput", f"s3://{store.bucket}/empty/"),
        "denied-read": (
            block(s3, store.bucket, "stranger", **data),
            None,
            "AccessDenied",
            f"s3://{store.bucket}/in/data.jsonl",
        ),
        "denied-write": (
            block(s3, store.bucket, "reader", **data),
            block(s3, store.bucket, "reader", prefix="out"),
            "AccessDenied",
            f"s3://{store.bucket}/out/{namespace}/denied-write/",
        ),
        "truncated": (
            block(s3, store.bucket, key="bad/truncated.parquet"),
            None,
            "InvalidInput",
            f"s3://{store.bucket}/bad/truncated.parquet",
        ),
        "no-column": (
            block(s3, store.bucket, key="bad/features.parquet", column="text_input"),
            None,
            "InputColumnNotFound",
            f"s3://{store.bucket}/bad/features.parquet",
        ),
        "unreachable": (
            {**block(s3, store.bucket, **data), "endpoint": closed},
            None,
            "ObjectStoreUnreachable",
            f"s3://{store.bucket}/in/data.jsonl",
        ),
    }
    with running_operator(namespace) as runner:
        create_s3_job(kube, namespace, "good", block(s3, store.bucket, **data))
        for name, (input_block, results_block, _, _) in cases.items():
            create_s3_job(kube, namespace, name, input_block, results_block, backoffLimit=0)
        finished = {
            name: wait_for_job(kube, namespace, name, phase_is("Succeeded", "Failed"), timeout=180)
            for name in ("good", *cases)
        }
    assert finished["good"]["status"]["phase"] == "Succeeded", finished["good"]["status"]
    assert finished["good"]["status"]["lastRun"]["rows"] == 20  # results in ConfigMaps: the simple path
    for name, (_, _, reason, names) in cases.items():
        ready = condition(finished[name], "Ready")
        assert (finished[name]["status"]["phase"], ready.get("reason")) == ("Failed", reason), (name, ready)
        assert names in ready["message"], (name, ready["message"])
    assert closed in condition(finished["unreachable"], "Ready")["message"]
    assert "write" in condition(finished["denied-write"], "Ready")["message"]

    events = "\n".join(f"{e.reason} {e.message}" for e in kube.core.list_namespaced_event(namespace).items)
    jobs = kube.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL)["items"]
    haystacks = {
        "operator output": runner.output,
        "events": events,
        "status": json.dumps([j.get("status") for j in jobs]),
        "log records": "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records),
    }
    assert "ObjectStoreAuthenticationFailed" in haystacks["events"]  # the scan saw the failures
    for where, text in haystacks.items():
        for secret in (s3.secret_key, WRONG_SECRET, stranger.secret_access_key, reader.secret_access_key):
            assert secret not in text, f"a secret key in {where}"


def test_an_object_replaced_while_a_run_reads_it_fails_as_input_changed(
    kube: Kube, namespace, s3, store, simulator, connection, operator
):
    put(store, "in/data.jsonl", jsonl(aloha_rows(2000)))
    create_s3_secret(kube, namespace, s3)
    simulator.admin.set_faults("urldemopipeline", latency_seconds=0.2)
    create_s3_job(
        kube,
        namespace,
        "moving",
        block(s3, store.bucket, key="in/data.jsonl"),
        block(s3, store.bucket, prefix="out"),
        execution={"shards": 2},
        backoffLimit=0,
        inference={"batchSize": 20, "parallelism": 1},
    )

    def reading(job: dict) -> bool:  # shard 0 under way; shard 1 (run after it) has not opened the object
        return ((job.get("status") or {}).get("lastRun") or {}).get("progress", {}).get("rowsDone", 0) > 0

    wait_for_job(kube, namespace, "moving", reading, timeout=120, what="the first shard sending rows")
    put(store, "in/data.jsonl", jsonl(aloha_rows(2000, seed=9)))  # replaced: a new ETag
    simulator.admin.clear_faults()
    failed = wait_for_job(kube, namespace, "moving", phase_is("Succeeded", "Failed"), timeout=180)
    ready = condition(failed, "Ready")
    assert (failed["status"]["phase"], ready["reason"]) == ("Failed", "InputChanged"), ready
    assert f"s3://{store.bucket}/in/data.jsonl" in ready["message"]
    assert not store.list_objects(f"out/{namespace}/moving/")  # a failed run leaves no parts and no manifest
