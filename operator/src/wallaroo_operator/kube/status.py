"""Writing a custom object's status subresource (the operator never writes spec).

A job's status is written with a resourceVersion precondition (`patch_status_if_unchanged`): the API
server refuses the patch with 409 Conflict when the object changed since the version the patch was
computed from, so a stale copy never overwrites newer state; the caller re-reads and recomputes."""

from __future__ import annotations

import time
from typing import Any, cast

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.kube import backoff
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, custom

describe_failure = backoff.describe  # safe to log and show: never a body
_transient = backoff.is_transient
ATTEMPTS = 5  # an API server restart or a 429 should not lose a run's record


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch that turns `old` into `new`: nested objects are diffed key by key
    (a key gone from `new` becomes None, which deletes it); lists and scalars are replaced whole."""
    patch: dict[str, Any] = {}
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if key not in new or after is None:
            if before is not None:
                patch[key] = None
        elif isinstance(before, dict) and isinstance(after, dict):
            nested = merge_patch(before, after)
            if nested:
                patch[key] = nested
        elif before != after:
            patch[key] = after
    return patch


def is_conflict(error: BaseException) -> bool:
    return isinstance(error, kubernetes.client.ApiException) and error.status == 409


def is_gone(error: BaseException) -> bool:
    return isinstance(error, kubernetes.client.ApiException) and error.status == 404


def read_object(plural: str, namespace: str, name: str) -> dict[str, Any]:
    return cast(
        dict[str, Any],
        custom().get_namespaced_custom_object(
            c.GROUP, c.VERSION, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
        ),
    )


def patch_status_if_unchanged(
    plural: str, namespace: str, name: str, status: dict[str, Any], resource_version: str
) -> dict[str, Any]:
    """One JSON merge patch of `.status`, applied only if the object is still at `resource_version`
    (else 409 Conflict). Returns the object as written. The caller decides how to retry."""
    body = {"metadata": {"resourceVersion": resource_version}, "status": status}
    return cast(
        dict[str, Any],
        custom().patch_namespaced_custom_object_status(
            c.GROUP, c.VERSION, namespace, plural, name, body, _request_timeout=REQUEST_TIMEOUT
        ),
    )


def patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch of `.status`, retried with backoff on transient API errors."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return cast(
                dict[str, Any],
                custom().patch_namespaced_custom_object_status(
                    c.GROUP, c.VERSION, namespace, plural, name, {"status": status}, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except Exception as error:
            if attempt == ATTEMPTS or not _transient(error):
                raise
            time.sleep(min(8.0, 0.25 * 2**attempt))
    raise AssertionError("unreachable")
