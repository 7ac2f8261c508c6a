"""Writing a custom object's status subresource (the operator never writes spec)."""

from __future__ import annotations

from wallaroo_operator import constants as c
from wallaroo_operator.kube.client import custom


def patch_status(plural: str, namespace: str, name: str, status: dict) -> dict:
    """JSON merge patch of `.status`: keys set to None are removed."""
    return custom().patch_namespaced_custom_object_status(
        c.GROUP, c.VERSION, namespace, plural, name, {"status": status})
