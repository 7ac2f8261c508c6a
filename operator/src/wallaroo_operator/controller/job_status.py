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

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wallaroo_operator.controller.history import history_entry, history_with
from wallaroo_operator.kube.conditions import set_condition

FINISHED = ("Succeeded", "Failed", "Cancelled")
AWAITED_TRIGGERS = ("Spec", "Manual")  # someone changed the spec or asked for this run and waits for it

Ready = tuple[bool | str, str, str]
Record = dict[str, Any]  # camelCase RunRecord fields, or a status


def run_generation(record: Record, current: int | None) -> int | None:
    """The job generation a run was started from: recorded since runs carry it; for older records of a
    spec run, its id; otherwise (unknown) the current generation."""
    recorded = record.get("generation")
    if isinstance(recorded, int):
        return recorded
    run_id = str(record.get("id", ""))
    if run_id.startswith("gen-") and run_id[4:].isdigit():
        return int(run_id[4:])
    return current


def derive_phase_and_conditions(
    status: Record, spec: Record, generation: int | None, ready: Ready | None, finished: Record | None, now: datetime
) -> Record:
    """Phase and the Ready / Running / Succeeded conditions, from the status that is about to be written."""
    conditions = status.get("conditions")
    active = status.get("active") or []
    last = status.get("lastRun") or {}
    newest = next(iter(status.get("history") or []), None)
    finished_run = finished or (last if last.get("state") in FINISHED else newest)

    running = [r for r in active if r.get("state") == "Running"]
    conditions = set_condition(
        conditions,
        "Running",
        bool(active),
        "RunInProgress" if active else "NoActiveRun",
        f"run {', '.join(r['id'] for r in active)} in progress" if active else "",
        generation,
        now,
    )
    if finished:
        ok = finished["state"] == "Succeeded"
        conditions = set_condition(
            conditions,
            "Succeeded",
            ok,
            "RunSucceeded" if ok else finished["reason"],
            f"run {finished['id']}: " + (f"{finished.get('rows', 0)} rows" if ok else finished.get("error", "")),
            run_generation(finished, generation),
            now,
        )
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


def _newest_of_generation(finished_run: Record | None, status: Record, generation: int | None) -> Record | None:
    """The run Ready speaks for: the newest finished one, unless it was started from an older spec (a
    run-now that ended after the spec changed) while a run of the current spec has finished too."""
    if finished_run is None or run_generation(finished_run, generation) == generation:
        return finished_run
    return next(
        (
            h
            for h in status.get("history") or []
            if h.get("state") in FINISHED and run_generation(h, generation) == generation
        ),
        finished_run,
    )


def _ready_from(finished_run: Record | None, spec: Record, active: list[Record]) -> tuple[Ready, Record | None] | None:
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


@dataclass(frozen=True)
class JobView:
    """What the status is derived from besides the status itself: the job's spec and generation, its
    runs in progress, and which run is the latest (the one lastRun shows)."""

    spec: dict[str, Any]
    generation: int | None
    active: list[dict[str, Any]]
    latest_run_id: str | None
    successful_limit: int
    failed_limit: int
    now: datetime


def desired_status(
    server: dict[str, Any],
    pending: dict[str, Any],
    finished_runs: list[dict[str, Any]],
    ready: Ready | None,
    job: JobView,
) -> tuple[dict[str, Any], list[str]]:
    """The server's status with the pending changes and finished runs applied, phase and conditions
    recomputed; and the ids of the runs this prunes from the history."""
    status = {**server, **pending}
    history, dropped = list(server.get("history") or []), []
    finished = None
    for finished in finished_runs:
        history, pruned = history_with(
            history, finished, successful_limit=job.successful_limit, failed_limit=job.failed_limit
        )
        dropped += pruned
        if finished["id"] == job.latest_run_id:
            last = {k: v for k, v in finished.items() if k != "progress"}  # with the outputs, when small
            if finished["id"] in pruned:
                last.pop("resultConfigMaps", None)  # a zero history limit keeps no results
            status["lastRun"] = last
    if finished_runs:
        status["history"] = history or None
    status["active"] = [dict(record) for record in job.active] or None
    latest_active = next((r for r in job.active if r["id"] == job.latest_run_id), None)
    if latest_active is not None:
        status["lastRun"] = dict(latest_active)
    status.update(
        derive_phase_and_conditions(
            status, job.spec, job.generation, ready, history_entry(finished) if finished else None, job.now
        )
    )
    return status, dropped
