"""metav1.Condition, as the Kubernetes API conventions define it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wallaroo_operator.models.base import KubeModel


class Condition(KubeModel):
    type: str = Field(description="Type of condition in CamelCase, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="Status of the condition.")
    reason: str = Field(description="Machine-readable CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable details about the last transition.")
    last_transition_time: str = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the condition was set for."
    )
