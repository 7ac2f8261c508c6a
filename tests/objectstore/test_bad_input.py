"""Every bad input the object-storage issue names, against the real server: an error of its own reason whose
message names the bucket and key and never holds the secret."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from localcluster.processes import free_port
from tests.objectstore.data import jsonl, parquet, put
from tests.support.data import aloha_rows
from tests.support.s3 import create_user, root_credentials, store_for, unique_bucket
from wallaroo_operator.objectstore import (
    Credentials,
    ObjectStore,
    ResultSink,
    RunIdentity,
    S3Settings,
    plan_input,
    read_all,
)
from wallaroo_operator.objectstore import errors as e

RUN = RunIdentity("team-a", "aloha", "g1", "uid-1")


def failure(call) -> e.ObjectStoreError:
    with pytest.raises(e.ObjectStoreError) as raised:
        call()
    return raised.value


def read(store: ObjectStore, **where) -> list:
    return [row for batch in read_all(store, plan_input(store, **where), column="text_input") for row in batch.rows]


def assert_names(error: e.ObjectStoreError, bucket: str, key: str, *secrets: str) -> None:
    assert f"s3://{bucket}/{key}" in error.message, error.message
    for secret in secrets:
        assert secret not in error.message and secret not in repr(error)


@pytest.mark.parametrize("wrong", ["secret", "access key"])
def test_wrong_keys(s3, bucket: str, wrong: str) -> None:
    root = root_credentials(s3)
    credentials = (
        Credentials(root.access_key_id, "not-the-secret-" + root.secret_access_key[:4])
        if wrong == "secret"
        else Credentials("nobody", root.secret_access_key)
    )
    error = failure(lambda: read(store_for(s3, bucket, credentials), prefix="in/"))
    assert error.reason == "ObjectStoreAuthenticationFailed" and not error.retryable
    assert_names(error, bucket, "in/", credentials.secret_access_key, root.secret_access_key)


def test_missing_bucket(s3) -> None:
    name = unique_bucket()
    error = failure(lambda: read(store_for(s3, name), prefix="in/"))
    assert error.reason == "BucketNotFound"
    assert_names(error, name, "in/", s3.secret_key)


def test_missing_key_and_missing_prefix(store: ObjectStore) -> None:
    error = failure(lambda: read(store, key="in/data.parquet"))
    assert error.reason == "InputNotFound"
    assert_names(error, store.bucket, "in/data.parquet")
    error = failure(lambda: read(store, prefix="nothing-here/"))
    assert error.reason == "InputNotFound"
    assert_names(error, store.bucket, "nothing-here/")


def test_empty_prefix(store: ObjectStore) -> None:
    put(store, "in/_SUCCESS", b"")
    put(store, "in/empty.jsonl", b"")
    error = failure(lambda: read(store, prefix="in/"))
    assert error.reason == "EmptyInput"
    assert_names(error, store.bucket, "in/")


def test_access_denied_on_read(s3, store: ObjectStore) -> None:
    put(store, "in/data.jsonl", jsonl(aloha_rows(5)))
    stranger = create_user(s3)
    error = failure(lambda: read(store_for(s3, store.bucket, stranger), prefix="in/"))
    assert error.reason == "AccessDenied"
    assert_names(error, store.bucket, "in/", stranger.secret_access_key)


def test_access_denied_on_write(s3, store: ObjectStore) -> None:
    reader = create_user(s3)
    policy = {
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
    store.client.put_bucket_policy(Bucket=store.bucket, Policy=json.dumps(policy))
    put(store, "in/data.jsonl", jsonl(aloha_rows(5)))
    as_reader = store_for(s3, store.bucket, reader)
    assert read(as_reader, prefix="in/") == aloha_rows(5)  # reading is allowed
    error = failure(lambda: ResultSink(as_reader, RUN, prefix="out").write_shard(0, [{"output_0": [0.5]}]))
    assert error.reason == "AccessDenied" and "write" in error.message
    assert_names(error, store.bucket, "out/team-a/aloha/g1/part-00000-00000.jsonl.gz", reader.secret_access_key)


@pytest.mark.parametrize("damage", ["truncated", "corrupt footer", "corrupt row group", "not parquet"])
def test_broken_parquet(store: ObjectStore, damage: str) -> None:
    data = parquet(aloha_rows(3000), row_group_rows=1000)
    broken = {
        "truncated": data[: len(data) * 2 // 3],
        "corrupt footer": data[:-12] + b"\x00" * 8 + data[-4:],
        "corrupt row group": data[:4] + b"\xff" * 4000 + data[4004:],
        "not parquet": b"PAR1 but not really" * 10,
    }[damage]
    put(store, "in/data.parquet", broken)
    error = failure(lambda: read(store, key="in/data.parquet"))
    assert error.reason == "InvalidInput", error
    assert_names(error, store.bucket, "in/data.parquet")


def test_schema_without_the_pipelines_input_column(store: ObjectStore) -> None:
    put(store, "in/data.parquet", parquet(aloha_rows(10), name="features"))
    error = failure(lambda: read(store, key="in/data.parquet"))
    assert error.reason == "InputColumnNotFound"
    assert "'text_input'" in error.message and "features" in error.message
    assert_names(error, store.bucket, "in/data.parquet")


def test_object_changed_while_read(store: ObjectStore) -> None:
    put(store, "in/data.parquet", parquet(aloha_rows(3000), row_group_rows=1000))
    plan = plan_input(store, key="in/data.parquet")
    put(store, "in/data.parquet", parquet(aloha_rows(3000, seed=2), row_group_rows=1000))  # replaced meanwhile
    error = failure(lambda: list(read_all(store, plan)))
    assert error.reason == "InputChanged" and error.retryable
    assert_names(error, store.bucket, "in/data.parquet")


def test_server_unreachable_is_retried_within_the_budget(s3) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    store = ObjectStore(
        S3Settings(
            bucket="some-bucket",
            endpoint=closed,
            credentials=root_credentials(s3),
            path_style=True,
            max_attempts=3,
            connect_timeout=1,
        )
    )
    error = failure(lambda: read(store, prefix="in/"))
    assert error.reason == "ObjectStoreUnreachable" and error.retryable
    assert store.requests == 3  # the first try and two retries, then the error
    assert_names(error, "some-bucket", "in/", s3.secret_key)
    assert closed in error.message


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ([[1.0, 2.0], None], "rows of 'text_input' are null"),
        ([[1.0, 2.0], [1.0, None]], "holds a null, NaN or Infinity"),
        ([[1.0, 2.0], [1.0, float("nan")]], "holds a null, NaN or Infinity"),
        ([[1.0, 2.0], [1.0]], "have from 1 to 2 values"),
        (pa.array([[], []], pa.list_(pa.float64())), "at least one"),
        (["a", "b"], "not a list of numbers per row"),
    ],
)
def test_parquet_rows_that_no_pipeline_takes(store: ObjectStore, column: list, message: str) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"text_input": pa.array(column)}), sink)
    put(store, "in/bad.parquet", sink.getvalue())
    error = failure(lambda: read(store, key="in/bad.parquet"))
    assert error.reason == "InvalidInput" and message in error.message, error.message
    assert_names(error, store.bucket, "in/bad.parquet")
