"""metav1.Condition bookkeeping, as pure functions over plain dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wallaroo_operator.rfc3339 import now_rfc3339


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Return `conditions` with `type_` set. lastTransitionTime moves only when the status changes,
    as the API conventions require."""
    status_text = status if isinstance(status, str) else ("True" if status else "False")
    existing = next((c for c in conditions or [] if c.get("type") == type_), None)
    transition = (
        existing["lastTransitionTime"]
        if existing and existing.get("status") == status_text and existing.get("lastTransitionTime")
        else now_rfc3339(now)
    )
    updated = {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": transition,
    }
    if generation is not None:
        updated["observedGeneration"] = generation
    others = [c for c in conditions or [] if c.get("type") != type_]
    return sorted([*others, updated], key=lambda c: c["type"])


def get_condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)
