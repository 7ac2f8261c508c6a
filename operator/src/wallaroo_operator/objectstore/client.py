"""A bucket on an S3-compatible store, through boto3, with every failure turned into an ObjectStoreError.

Nothing here knows Kubernetes: the caller resolves the Secret and the CA bundle into `S3Settings`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wallaroo_operator.lazy import LazyModule

if TYPE_CHECKING:
    import boto3
    import botocore.config
    import botocore.exceptions
else:  # imported by the first client made: most operators never use an object store
    boto3 = LazyModule("boto3")
    botocore = LazyModule("botocore")

from wallaroo_operator.objectstore import errors as e
from wallaroo_operator.objectstore.errors import s3_uri
from wallaroo_operator.wallaroo.errors import sanitize

# botocore's debug log holds every request's headers (a session token among them) and the traceback of every
# failed attempt: never in the operator's or the worker's log, whatever its verbosity.
for _noisy in ("botocore", "boto3", "s3transfer"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
_NO_BUCKET_CODES = {"NoSuchBucket"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}
_CHANGED_CODES = {"PreconditionFailed", "412"}


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def secrets(self) -> tuple[str | None, ...]:
        return (self.secret_access_key, self.session_token)


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and how to reach it. `credentials=None` uses the AWS default chain (IRSA, ...)."""

    bucket: str
    endpoint: str | None = None
    region: str = "us-east-1"
    path_style: bool = False
    credentials: Credentials | None = None
    ca_bundle_file: str | None = None  # a PEM file path; None: the system's trust store
    max_attempts: int = 5  # per request, first try included (botocore's "standard" retries, with backoff)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    @property
    def where(self) -> str:
        return f"{s3_uri(self.bucket)} at {self.endpoint or 'AWS ' + self.region}"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client. SigV4 always (some servers, versitygw among them, accept nothing else)."""
    config = botocore.config.Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.path_style else "auto"},
        retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},  # first try included
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        # Checksums only when the operation requires them: several S3-compatible stores reject the newer ones.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    credentials = settings.credentials
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=settings.endpoint,
        region_name=settings.region,
        aws_access_key_id=credentials.access_key_id if credentials else None,
        aws_secret_access_key=credentials.secret_access_key if credentials else None,
        aws_session_token=credentials.session_token if credentials else None,
        verify=settings.ca_bundle_file or True,
        config=config,
    )


class ObjectStore:
    """One bucket. Thread-safe (boto3 clients are); every method names the bucket and key in its errors."""

    def __init__(self, settings: S3Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.client = client or make_client(settings)
        self._lock = threading.Lock()
        self.requests = 0  # HTTP attempts sent, retries included (tests count them)
        self.calls: Counter[str] = Counter()  # calls per operation (PutObject, ...), before retries
        self.client.meta.events.register("before-send.s3", self._count_request)
        self.client.meta.events.register("before-call.s3", self._count_call)

    def _count_request(self, **_: Any) -> None:
        with self._lock:
            self.requests += 1

    def _count_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    # -- reading ---------------------------------------------------------------------------------------

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix`, in key order (S3 lists keys in UTF-8 byte order)."""
        objects: list[ObjectInfo] = []
        with self._translated("list", prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                objects += [ObjectInfo(item["Key"], item["Size"], item["ETag"]) for item in page.get("Contents", [])]
        return sorted(objects, key=lambda info: info.key.encode())

    def head(self, key: str) -> dict[str, Any]:
        try:
            with self._translated("read", key):
                head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
                return head
        except (e.AccessDenied, e.InputNotFound) as error:
            raise self._explained(key, error) from None

    def _explained(self, key: str, error: e.ObjectStoreError) -> e.ObjectStoreError:
        """A HEAD answer has no body, so its 403 or 404 does not say why (wrong keys? no bucket?); a
        listing's error does. When the listing works, the HEAD's own answer stands."""
        try:
            with self._translated("read", key):
                self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        except e.ObjectStoreError as explained:
            return explained
        return error

    def info(self, key: str) -> ObjectInfo:
        head = self.head(key)
        return ObjectInfo(key, head["ContentLength"], head["ETag"])

    def read_range(self, obj: ObjectInfo, start: int, end: int | None = None) -> bytes:
        """Bytes [start, end) of the object's version `obj.etag`; InputChanged if it changed since listed."""
        with self.open_range(obj, start, end) as body:
            data: bytes = body.read()
            return data

    @contextmanager
    def open_range(self, obj: ObjectInfo, start: int = 0, end: int | None = None) -> Iterator[Any]:
        """A streaming body of bytes [start, end) (to the object's end when None), closed on exit."""
        last = "" if end is None else str(end - 1)
        with self._translated("read", obj.key, obj):
            response = self.client.get_object(
                Bucket=self.bucket, Key=obj.key, Range=f"bytes={start}-{last}", IfMatch=obj.etag
            )
        body = response["Body"]
        try:
            yield _TranslatingBody(body, self, obj)
        finally:
            body.close()

    # -- writing ---------------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes,
        *,
        metadata: dict[str, str],
        content_type: str,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        """Write an object; the conditions make it a create-only (If-None-Match: *) or replace-this-version
        (If-Match) write. Returns the new ETag; ResultsConflict when the condition fails."""
        extra: dict[str, str] = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        if if_match:
            extra["IfMatch"] = if_match
        try:
            with self._translated("write", key):
                response = self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, Metadata=metadata, ContentType=content_type, **extra
                )
        except e.InputChanged:
            raise e.ResultsConflict(
                f"{s3_uri(self.bucket, key)} was written by someone else meanwhile; not overwritten"
            ) from None
        return str(response["ETag"])

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = keys[start : start + 1000]
            with self._translated("delete", batch[0]):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )

    # -- errors ----------------------------------------------------------------------------------------

    @contextmanager
    def _translated(self, action: str, key: str, obj: ObjectInfo | None = None) -> Iterator[None]:
        try:
            yield
        except e.ObjectStoreError:
            raise
        except botocore.exceptions.ClientError as error:
            raise self.client_error(error, action, key, obj) from None
        except botocore.exceptions.SSLError as error:
            raise e.ObjectStoreTLSFailed(
                f"{action} {s3_uri(self.bucket, key)}: TLS verification of "
                f"{self.settings.endpoint} failed ({error}); give the store's CA "
                "bundle"
            ) from None
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ResponseStreamingError,
        ) as error:
            raise e.ObjectStoreUnreachable(
                f"{action} {s3_uri(self.bucket, key)}: {self.settings.endpoint or 'S3'} unreachable after "
                f"{self.settings.max_attempts} attempts ({type(error).__name__}: {error})"
            ) from None
        except botocore.exceptions.NoCredentialsError:
            raise e.ObjectStoreAuthenticationFailed(
                f"{action} {s3_uri(self.bucket, key)}: no credentials: give credentialsSecretRef, or an IAM role "
                "to the Pod (IRSA)"
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise e.ObjectStoreUnreachable(f"{action} {s3_uri(self.bucket, key)}: {error}") from None

    def client_error(
        self, error: botocore.exceptions.ClientError, action: str, key: str, obj: ObjectInfo | None = None
    ) -> e.ObjectStoreError:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = error.response.get("Error", {}).get("Message") or code
        where = s3_uri(self.bucket, key)
        secrets = self.settings.credentials.secrets() if self.settings.credentials else ()
        detail = sanitize(str(detail), secrets)
        if code in _AUTH_CODES:
            return e.ObjectStoreAuthenticationFailed(
                f"{action} {where}: the store rejected the credentials ({code}): check the access key id and "
                "secret access key"
            )
        if code in _NO_BUCKET_CODES:
            return e.BucketNotFound(
                f"{action} {where}: bucket {self.bucket!r} does not exist at "
                f"{self.settings.endpoint or 'AWS ' + self.settings.region}"
            )
        if code in _DENIED_CODES:
            return e.AccessDenied(
                f"{action} {where}: access denied ({detail}); the credentials need "
                f"{'s3:PutObject' if action == 'write' else 's3:GetObject and s3:ListBucket'}"
            )
        if code in _CHANGED_CODES:
            was = f" (was ETag {obj.etag})" if obj else ""
            return e.InputChanged(f"{action} {where}: the object changed while the run read it{was}")
        if code in _NOT_FOUND_CODES:
            return e.InputNotFound(f"{action} {where}: no such object")
        if code in ("SlowDown", "Throttling", "ServiceUnavailable", "InternalError") or (status or 0) >= 500:
            return e.ObjectStoreServerError(f"{action} {where}: the store answered {status} {code}: {detail}")
        return e.ObjectStoreError(f"{action} {where}: the store answered {status} {code}: {detail}")


class _TranslatingBody:
    """A streaming body whose read errors become ObjectStoreErrors."""

    def __init__(self, body: Any, store: ObjectStore, obj: ObjectInfo) -> None:
        self._body, self._store, self._obj = body, store, obj

    def read(self, size: int | None = None) -> bytes:
        with self._store._translated("read", self._obj.key, self._obj):
            data: bytes = self._body.read(size) if size is not None else self._body.read()
            return data

    def iter_chunks(self, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        while chunk := self.read(chunk_size):
            yield chunk
