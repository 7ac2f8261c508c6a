"""A job's phase and its Ready / Running / Succeeded conditions, derived from the status about to be
written. Pure functions: the controller calls them on every status write."""

from __future__ import annotations

from datetime import datetime

from wallaroo_operator.kube.conditions import set_condition

FINISHED = ("Succeeded", "Failed", "Cancelled")


def derive_phase_and_conditions(status: dict, spec: dict, generation: int | None,
                                ready: tuple[bool | str, str, str] | None, finished: dict | None,
                                now: datetime) -> dict:
    """Phase and the Ready / Running / Succeeded conditions, from the status that is about to be written."""
    conditions = status.get("conditions")
    active = status.get("active") or []
    last = status.get("lastRun") or {}
    finished_run = finished or (last if last.get("state") in FINISHED else next(iter(status.get("history") or []), None))

    running = [r for r in active if r.get("state") == "Running"]
    conditions = set_condition(conditions, "Running", bool(active),
                               "RunInProgress" if active else "NoActiveRun",
                               f"run {', '.join(r['id'] for r in active)} in progress" if active else "",
                               generation, now)
    if finished:
        ok = finished["state"] == "Succeeded"
        conditions = set_condition(conditions, "Succeeded", ok, "RunSucceeded" if ok else finished["reason"],
                                   f"run {finished['id']}: " + (f"{finished.get('rows', 0)} rows" if ok
                                                                 else finished.get("error", "")),
                                   generation, now)
    if ready is None:
        ready = _ready_from(finished_run, spec, active)
    if ready is not None:
        conditions = set_condition(conditions, "Ready", *ready, generation, now)

    if running:
        phase = "Running"
    elif active:
        phase = "Pending"
    elif ready is not None and not ready[0] and ready[1] in ("InvalidSpec", "InvalidSchedule"):
        phase = "Failed"
    elif spec.get("schedule"):
        phase = "Suspended" if spec.get("suspend") else "Scheduled"
    elif finished_run:
        phase = "Succeeded" if finished_run["state"] == "Succeeded" else "Failed"
    else:
        phase = "Pending"
    return {"conditions": conditions, "phase": phase}


def _ready_from(finished_run: dict | None, spec: dict, active: list[dict]) -> tuple[bool | str, str, str] | None:
    waiting = next((r for r in active if r.get("state") == "Pending" and r.get("reason")), None)
    if waiting:  # waiting for a missing object, or for a retry: say why until it clears
        return False, waiting["reason"], waiting.get("error", "")
    if finished_run is None:
        if spec.get("schedule"):
            return True, "Scheduled", "waiting for the next slot"
        return ("Unknown", "RunInProgress", "the first run is in progress") if active else None
    if finished_run["state"] == "Succeeded":
        return True, "RunSucceeded", f"last run {finished_run['id']} succeeded"
    return False, finished_run.get("reason") or "RunFailed", finished_run.get("error", "")
