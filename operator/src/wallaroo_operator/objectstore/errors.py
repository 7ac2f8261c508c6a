"""Errors of the object store: each a condition reason and a message naming the bucket and key, never a secret.

``retryable`` says whether running again later may succeed without the user changing anything.
"""

from __future__ import annotations

from typing import ClassVar

from wallaroo_operator.wallaroo.errors import sanitize, truncate


def s3_uri(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


class ObjectStoreError(Exception):
    reason: ClassVar[str] = "ObjectStoreError"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        self.message = truncate(sanitize(message), 600)
        super().__init__(self.message)


class InvalidObjectStoreSettings(ObjectStoreError):
    """The connection settings cannot work (a missing Secret key, an unreadable CA bundle, ...)."""

    reason = "InvalidObjectStoreSettings"


class ObjectStoreAuthenticationFailed(ObjectStoreError):
    """The server does not know the access key, or the secret does not match it."""

    reason = "ObjectStoreAuthenticationFailed"


class AccessDenied(ObjectStoreError):
    """The credentials are valid but may not read (or write) this bucket or key."""

    reason = "AccessDenied"


class BucketNotFound(ObjectStoreError):
    reason = "BucketNotFound"


class InputNotFound(ObjectStoreError):
    """No object at the key, or none under the prefix."""

    reason = "InputNotFound"


class EmptyInput(ObjectStoreError):
    """The objects exist but hold no rows."""

    reason = "EmptyInput"


class InvalidInput(ObjectStoreError):
    """An object cannot be decoded: corrupt or truncated Parquet, bad JSON, rows of the wrong width, ..."""

    reason = "InvalidInput"


class InputColumnNotFound(ObjectStoreError):
    """The object's schema lacks the pipeline's input column (or has several and none was chosen)."""

    reason = "InputColumnNotFound"


class InputChanged(ObjectStoreError):
    """An object changed (another ETag) while the run was reading it: a new run reads one consistent version."""

    reason = "InputChanged"
    retryable = True


class ResultsConflict(ObjectStoreError):
    """The results location holds objects of another job or run: they are never overwritten."""

    reason = "ResultsConflict"


class ObjectStoreUnreachable(ObjectStoreError):
    """Connection failures and timeouts, after the retries allowed."""

    reason = "ObjectStoreUnreachable"
    retryable = True


class ObjectStoreTLSFailed(ObjectStoreError):
    """The server's certificate is not trusted: needs a CA bundle, not a retry."""

    reason = "ObjectStoreTLSFailed"


class ObjectStoreServerError(ObjectStoreError):
    """5xx answers or throttling, after the retries allowed."""

    reason = "ObjectStoreServerError"
    retryable = True
