"""Common base for the CRD models: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    """A part of a Kubernetes object. Field names are snake_case here and camelCase in YAML."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", use_attribute_docstrings=False
    )

    def to_kube(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, and no unset fields (no empty noise)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
