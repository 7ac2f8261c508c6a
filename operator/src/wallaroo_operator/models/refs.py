"""References to other objects in the job's namespace."""

from __future__ import annotations

from pydantic import Field

from wallaroo_operator.models.base import KubeModel

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"


class LocalObjectReference(KubeModel):
    name: str = Field(
        description="Name of the object in the same namespace.", min_length=1, max_length=253, pattern=DNS_SUBDOMAIN
    )


class KeyReference(KubeModel):
    """A key of a Secret or ConfigMap in the same namespace."""

    name: str = Field(
        description="Name of the Secret or ConfigMap.", min_length=1, max_length=253, pattern=DNS_SUBDOMAIN
    )
    key: str = Field(description="Key within it.", min_length=1, max_length=253, pattern=CONFIG_KEY)
