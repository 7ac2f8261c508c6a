"""A job's phase and its Ready / Running / Succeeded conditions, derived from the status about to be
written. Pure functions: the controller calls them on every status write.

Every condition says only what is true of the generation it names in its observedGeneration:
- Running: the runs active now, for the current generation.
- Succeeded: the run that just finished, for the generation that run was started from.
- Ready: while a run someone is waiting for (the current generation's, or a run-now) is active, Unknown
  with reason RunInProgress (False with the reason when it waits for something), so that
  `kubectl wait --for=condition=Ready` never returns on the previous run's success. Otherwise the last
  finished run's outcome, for that run's generation; for a scheduled job, the schedule's state and the
  last outcome, for the current generation (the schedule is what the current spec asks for).
"""

from __future__ import annotations

from datetime import datetime

from wallaroo_operator.kube.conditions import set_condition

FINISHED = ("Succeeded", "Failed", "Cancelled")
AWAITED_TRIGGERS = ("Spec", "Manual")  # someone changed the spec or asked for this run and waits for it

Ready = tuple[bool | str, str, str]


def run_generation(record: dict, current: int | None) -> int | None:
    """The job generation a run was started from: recorded since runs carry it; for older records of a
    spec run, its id; otherwise (unknown) the current generation."""
    if isinstance(record.get("generation"), int):
        return record["generation"]
    run_id = str(record.get("id", ""))
    if run_id.startswith("gen-") and run_id[4:].isdigit():
        return int(run_id[4:])
    return current


def derive_phase_and_conditions(status: dict, spec: dict, generation: int | None, ready: Ready | None,
                                finished: dict | None, now: datetime) -> dict:
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
                                   run_generation(finished, generation), now)
    ready_generation = generation
    if ready is None:
        source = _ready_from(_newest_of_generation(finished_run, status, generation), spec, active)
        if source is not None:
            ready, record = source
            if record is not None and not spec.get("schedule"):
                ready_generation = run_generation(record, generation)
    if ready is not None:
        conditions = set_condition(conditions, "Ready", *ready, ready_generation, now)

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


def _newest_of_generation(finished_run: dict | None, status: dict, generation: int | None) -> dict | None:
    """The run Ready speaks for: the newest finished one, unless it was started from an older spec (a
    run-now that ended after the spec changed) while a run of the current spec has finished too."""
    if finished_run is None or run_generation(finished_run, generation) == generation:
        return finished_run
    return next((h for h in status.get("history") or []
                 if h.get("state") in FINISHED and run_generation(h, generation) == generation), finished_run)


def _ready_from(finished_run: dict | None, spec: dict, active: list[dict]) -> tuple[Ready, dict | None] | None:
    """Ready, and the run it was computed from (None: from the spec alone)."""
    waiting = next((r for r in active if r.get("state") == "Pending" and r.get("reason")), None)
    if waiting:  # waiting for a missing object, or for a retry: say why until it clears
        return (False, waiting["reason"], waiting.get("error", "")), waiting
    awaited = next((r for r in active if r.get("trigger") in AWAITED_TRIGGERS), None)
    if awaited:
        return ("Unknown", "RunInProgress", f"run {awaited['id']} in progress"), awaited
    if finished_run is None:
        if spec.get("schedule"):
            return (True, "Scheduled", "waiting for the next slot"), None
        return (("Unknown", "RunInProgress", "the first run is in progress"), active[0]) if active else None
    if finished_run["state"] == "Succeeded":
        return (True, "RunSucceeded", f"last run {finished_run['id']} succeeded"), finished_run
    return (False, finished_run.get("reason") or "RunFailed", finished_run.get("error", "")), finished_run
