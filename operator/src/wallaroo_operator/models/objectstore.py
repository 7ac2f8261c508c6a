"""Object storage (S3 and S3-compatible: GCS interoperability, Ceph, on-prem) as a job's input and result sink."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from wallaroo_operator.models.base import KubeModel
from wallaroo_operator.models.connection import CABundle, HttpUrl
from wallaroo_operator.models.refs import CONFIG_KEY, DNS_SUBDOMAIN

# S3's rules (3-63 characters, lower case, digits, dots, hyphens); GCS allows longer names with dots.
BUCKET_NAME = r"^[a-z0-9][a-z0-9.\-_]{1,220}[a-z0-9]$"
REGION_NAME = r"^[a-z0-9][-a-z0-9]*$"
# Keys are UTF-8, at most 1024 bytes; a leading "/" is a common mistake that S3 takes literally.
OBJECT_KEY = r"^[^/].*$"

InputFormat = Literal["auto", "json", "jsonl", "parquet", "arrow"]
ResultFormat = Literal["jsonl.gz", "parquet"]


class ObjectStoreCredentials(KubeModel):
    """The Secret holding an access key pair (or, for temporary credentials, also a session token)."""

    name: str = Field(
        description="Name of the Secret in the job's namespace.", min_length=1, max_length=253, pattern=DNS_SUBDOMAIN
    )
    access_key_id_key: str = Field(
        default="accessKeyId", pattern=CONFIG_KEY, description="Key holding the access key id."
    )
    secret_access_key_key: str = Field(
        default="secretAccessKey", pattern=CONFIG_KEY, description="Key holding the secret access key."
    )
    session_token_key: str | None = Field(
        default=None, pattern=CONFIG_KEY, description="Key holding a session token (temporary credentials), if any."
    )


class ObjectStoreConnection(KubeModel):
    """Where the bucket is and how to sign in. Without credentialsSecretRef the AWS default chain is used
    (IAM roles for service accounts, instance profiles, AWS_* environment variables)."""

    endpoint: HttpUrl | None = Field(
        default=None,
        description="S3 API URL, e.g. https://storage.googleapis.com (GCS "
        "interoperability) or https://s3.example.internal:9000; "
        "AWS's regional endpoint when unset.",
    )
    region: str = Field(
        default="us-east-1",
        min_length=1,
        max_length=64,
        pattern=REGION_NAME,
        description="Region used for signing (SigV4); GCS takes auto or any region.",
    )
    bucket: str = Field(min_length=3, max_length=222, pattern=BUCKET_NAME, description="Bucket name.")
    credentials_secret_ref: ObjectStoreCredentials | None = Field(
        default=None, description="Secret with an access key pair; none for IAM roles (IRSA) and instance profiles."
    )
    ca_bundle: CABundle | None = Field(default=None, description="PEM CA bundle for an endpoint with a private CA.")
    path_style: bool = Field(
        default=False,
        description="Address buckets as <endpoint>/<bucket>/<key> instead of "
        "<bucket>.<endpoint>/<key>; most on-prem stores need it.",
    )


class ObjectStoreInput(ObjectStoreConnection):
    """Input rows from one object (key) or every object under a prefix, read in key order (byte-wise, as
    S3 lists them). Each object is the tutorial's JSON, pandas-records JSON, JSON Lines (one record per line),
    Parquet or an Arrow IPC file; JSON of any kind may be gzip-compressed (detected from its first bytes)."""

    key: str | None = Field(
        default=None, min_length=1, max_length=1024, pattern=OBJECT_KEY, description="One object's key."
    )
    prefix: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        pattern=OBJECT_KEY,
        description="Read every object whose key starts with this (end it with / for a "
        "folder); objects whose name starts with _ or . are skipped.",
    )
    format: InputFormat = Field(
        default="auto",
        description="auto picks by extension: .json, .jsonl/.ndjson, "
        ".parquet, .arrow/.feather/.ipc (each optionally "
        ".gz for the JSON kinds).",
    )
    column: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The column holding the pipeline's input for Parquet, Arrow and JSON "
        "Lines with several columns; by default the only column.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "has(self.key) != has(self.prefix)", "message": "give exactly one of key and prefix"}
            ]
        }
    )


class ObjectStoreResults(ObjectStoreConnection):
    """Per-row results written as parts under <prefix>/<namespace>/<job>/<run id>/, then _manifest.json
    last: a run is complete once its manifest exists."""

    prefix: str = Field(
        default="",
        max_length=512,
        pattern=r"^([^/].*)?$",
        description="Key prefix in front of <namespace>/<job>/<run id>/ (a trailing / is implied).",
    )
    format: ResultFormat = Field(
        default="jsonl.gz", description="jsonl.gz: one JSON object per row, gzip; parquet: one row per input row."
    )
    rows_per_part: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="A part holds at most this many rows; each shard writes its own parts.",
    )
    prune: bool = Field(
        default=False,
        description="Delete a run's objects when the run leaves the history "
        "(off: objects outlive the job; use a lifecycle rule).",
    )
