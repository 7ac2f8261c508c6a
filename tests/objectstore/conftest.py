"""A real S3 server (versitygw) for the whole test run, and a fresh bucket per test: never a mock."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster.s3 import S3Endpoint, S3Server, build_versitygw
from tests.support.s3 import store_for, unique_bucket
from wallaroo_operator.objectstore import ObjectStore


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    binary = build_versitygw()  # cached per version; `make test` builds it before pytest starts
    with tempfile.TemporaryDirectory(prefix="s3-") as state_root, S3Server(Path(state_root) / "s3", binary) as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    name = unique_bucket()
    store_for(s3, name).client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def store(s3: S3Endpoint, bucket: str) -> ObjectStore:
    return store_for(s3, bucket)
