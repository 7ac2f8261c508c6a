"""Writing a custom object's status subresource (the operator never writes spec)."""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import urllib3

from wallaroo_operator import constants as c
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, custom

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


def _transient(error: Exception) -> bool:
    if isinstance(error, kubernetes.client.ApiException):
        return error.status in (429, 500, 502, 503, 504)
    return isinstance(error, (urllib3.exceptions.HTTPError, OSError))


def patch_status(plural: str, namespace: str, name: str, status: dict) -> dict:
    """JSON merge patch of `.status`, retried with backoff on transient API errors."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return custom().patch_namespaced_custom_object_status(
                c.GROUP, c.VERSION, namespace, plural, name, {"status": status}, _request_timeout=REQUEST_TIMEOUT)
        except Exception as error:
            if attempt == ATTEMPTS or not _transient(error):
                raise
            time.sleep(min(8.0, 0.25 * 2 ** attempt))
    raise AssertionError("unreachable")
