"""The life of one InferenceJob: decide which runs to start, run them, and record what happened.

One JobController lives inside the job's kopf daemon. It sleeps until something can change its
decision (a watch event, a run ending, the next schedule slot) and never polls: a scheduled job
costs one sleeping asyncio task between its slots.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import kopf
import pydantic

from wallaroo_operator import constants as c
from wallaroo_operator import executors, metrics
from wallaroo_operator.controller.clock import OperatorClock
from wallaroo_operator.controller.errors import Disposition, RunError, classify
from wallaroo_operator.controller.job_status import derive_phase_and_conditions
from wallaroo_operator.controller.run import RunContext, RunSuccess, execute_run, prune_object_store_results
from wallaroo_operator.kube import results_store
from wallaroo_operator.kube.conditions import now_rfc3339
from wallaroo_operator.kube.recovery import RunResults, find_complete_results
from wallaroo_operator.kube.status import (
    describe_failure,
    is_conflict,
    is_gone,
    merge_patch,
    patch_status_if_unchanged,
    read_object,
)
from wallaroo_operator.models.job import InferenceJobSpec, RunRecord
from wallaroo_operator.schedule import (
    InvalidSchedule,
    ScheduleSpec,
    plan_schedule,
    prune_history,
    run_id_for_generation,
    run_id_for_manual,
    validate_schedule,
)
from wallaroo_operator.schedule.slots import from_rfc3339
from wallaroo_operator.settings import settings

# How long to wait before looking again for a missing Secret/ConfigMap/connection, and before
# retrying a run that failed with a transient error: doubling from the base, up to the cap.
WAIT_BASE_SECONDS = settings().retry_base_seconds
WAIT_CAP_SECONDS = settings().retry_cap_seconds
# A status write that fails is retried until it lands, doubling from 0.5 s up to this.
STATUS_RETRY_CAP_SECONDS = settings().status_retry_cap_seconds
# How often an active run's progress (rows done, time left) is written into status, at most.
PROGRESS_SECONDS = settings().progress_seconds


def backoff_delay(attempt: int) -> float:
    return min(WAIT_CAP_SECONDS, WAIT_BASE_SECONDS * 2 ** min(max(0, attempt - 1), 32))


class StatusNotWritten(Exception):
    """The operator is stopping (or the job is gone) before a status write could land."""


@dataclass
class ActiveRun:
    record: dict  # camelCase RunRecord fields
    context: RunContext
    task: asyncio.Task | None = None
    cancel_reason: str | None = None
    waits: int = 0  # looks for a missing Secret/ConfigMap/connection so far
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class JobController:
    def __init__(self, body: kopf.Body, logger: logging.Logger | logging.LoggerAdapter, executor: Executor,
                 clock: OperatorClock | None = None):
        self.body = body  # kopf keeps a daemon's body up to date with every watch event
        self.logger = logger
        self.executor = executor
        self.clock = clock or OperatorClock()
        # What the API server has (as of `_resource_version`), and what this controller wants on top of
        # it and has not written yet: field changes and finished runs, kept until a write lands.
        self._server: dict[str, Any] = dict(body.get("status") or {})
        self._resource_version: str = body.metadata.get("resourceVersion", "")
        self._pending: dict[str, Any] = {}
        self._pending_finished: dict[str, dict] = {}
        self.status: dict[str, Any] = dict(self._server)  # the server's status with ours applied
        self._stopping = asyncio.Event()
        self.runs: dict[str, ActiveRun] = {}
        self.latest_run_id: str | None = (self.status.get("lastRun") or {}).get("id")
        self.wake = asyncio.Event()
        self._status_lock = asyncio.Lock()
        self._last_wait_reason: str | None = None
        self._posted_schedule_events: set[tuple[str, str]] = set()

    # -- the loop ----------------------------------------------------------------------------------

    async def serve(self, stopped: kopf.DaemonStopped) -> None:
        stop_waiter = asyncio.ensure_future(stopped.wait())
        stop_waiter.add_done_callback(lambda _: self._stopping.set())  # ends status retries at once
        try:
            await self._recover_interrupted_runs()
            while not stopped:
                sleep_seconds = await self.reconcile()
                wake_waiter = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait({stop_waiter, wake_waiter}, timeout=sleep_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)
                wake_waiter.cancel()
                self.wake.clear()
        except StatusNotWritten as stopping:
            self.logger.info("stopped before the status could be written (%s); the next start resumes", stopping)
        finally:
            stop_waiter.cancel()
            await self._stop_runs()

    async def reconcile(self) -> float | None:
        """Start what is due; return how long to sleep before the next look (None: until woken)."""
        generation = self.body.metadata.get("generation")
        try:
            spec = InferenceJobSpec.model_validate(dict(self.body.spec))
            if spec.schedule:
                validate_schedule(spec.schedule, spec.time_zone)
        except (pydantic.ValidationError, InvalidSchedule) as error:
            await self._record_invalid_spec(classify(error), generation)
            return None

        for old_id in [run_id for run_id, run in self.runs.items()
                       if run.record["trigger"] == "Spec" and spec.schedule is None
                       and run_id != run_id_for_generation(generation)]:
            self._cancel(old_id, "SpecChanged")
        changes: dict[str, Any] = {}
        if not spec.schedule and self.status.get("observedGeneration") != generation:
            self._start("Spec", run_id_for_generation(generation))
        run_now = (self.body.metadata.get("annotations") or {}).get(c.RUN_NOW_ANNOTATION)
        if run_now and run_now.strip() and run_now != self.status.get("handledRunNow"):
            run_id = run_id_for_manual(run_now)
            # Once per distinct value: a value seen before (a Git revert, say) is still in the history.
            if not any(h.get("id") == run_id for h in self.status.get("history") or []):
                self._start("Manual", run_id)
            changes["handledRunNow"] = run_now
        sleep_seconds = self._reconcile_schedule(spec, changes) if spec.schedule else None
        if not spec.schedule:
            changes.update(nextScheduleTime=None)
        changes["observedGeneration"] = generation
        await self.write_status(changes)
        return sleep_seconds

    # -- schedules ---------------------------------------------------------------------------------

    def _reconcile_schedule(self, spec: InferenceJobSpec, changes: dict[str, Any]) -> float | None:
        now = self.clock.now()
        scheduled_active = [run_id for run_id, run in self.runs.items() if run.record["trigger"] == "Schedule"]
        decision = plan_schedule(
            ScheduleSpec(schedule=spec.schedule, time_zone=spec.time_zone, suspend=spec.suspend,
                         concurrency_policy=spec.concurrency_policy,
                         starting_deadline_seconds=spec.starting_deadline_seconds),
            now=now, created_at=from_rfc3339(self.body.metadata["creationTimestamp"]),
            last_schedule_time=_parse_time(self.status.get("lastScheduleTime")),
            active_run_ids=scheduled_active,
            last_skipped_time=_parse_time(self.status.get("lastSkippedTime")))
        for event in decision.events:
            self._post_once(event.type, event.reason, event.message)
        for run_id in decision.cancel_run_ids:
            self._cancel(run_id, "Replaced")
        if decision.start_slot is not None:
            self._start("Schedule", decision.start_run_id, scheduled_time=decision.start_slot)
        if decision.last_schedule_time is not None:
            changes["lastScheduleTime"] = _format_time(decision.last_schedule_time)
        if decision.skipped_through is not None:
            changes["lastSkippedTime"] = _format_time(decision.skipped_through)
        changes["nextScheduleTime"] = _format_time(decision.next_slot) if decision.next_slot else None
        return None if decision.sleep_seconds is None else self.clock.real_seconds(decision.sleep_seconds)

    def _post_once(self, type_: str, reason: str, message: str) -> None:
        """Reconcile runs on every watch event; a held-back slot must not post an event each time."""
        if (reason, message) in self._posted_schedule_events:
            return
        if len(self._posted_schedule_events) > 1000:
            self._posted_schedule_events.clear()
        self._posted_schedule_events.add((reason, message))
        kopf.event(self.body, type=type_, reason=reason, message=message)

    # -- runs --------------------------------------------------------------------------------------

    def _start(self, trigger: str, run_id: str, *, scheduled_time: datetime | None = None, attempt: int = 1,
               restarted: bool = False, adopted: bool = False) -> None:
        if run_id in self.runs:
            return  # the id is the lock: a slot, a generation or a run-now value runs once
        record = {"id": run_id, "trigger": trigger, "state": "Pending", "attempt": attempt,
                  "startTime": now_rfc3339(self.clock.now()), "generation": self.body.metadata.get("generation")}
        if scheduled_time:
            record["scheduledTime"] = _format_time(scheduled_time)
        if restarted:
            record["restarted"] = True
        if adopted:
            record["adopted"] = True
        run = ActiveRun(record, RunContext(job=_snapshot(self.body), run_id=run_id))
        self.runs[run_id] = run
        self.latest_run_id = run_id
        metrics.ACTIVE_RUNS.inc()
        run.task = asyncio.create_task(self._drive(run), name=f"run {run_id}")

    def _cancel(self, run_id: str, reason: str) -> None:
        run = self.runs.get(run_id)
        if run and not run.cancel_reason:
            run.cancel_reason = reason
            run.context.cancel.set()
            run.wake.set()

    async def _recover_interrupted_runs(self) -> None:
        """Runs the status shows as active were interrupted by an operator stop: start them again."""
        adopting = executors.current().adopts_runs  # the Job executor: the worker ran on without us
        for record in self.status.get("active") or []:
            scheduled = _parse_time(record.get("scheduledTime"))
            self._start(record["trigger"], record["id"], scheduled_time=scheduled,
                        attempt=int(record.get("attempt", 1)) + (0 if adopting else 1), restarted=not adopting,
                        adopted=adopting)

    def signal_operator_stopping(self) -> None:
        """Tell the runs the operator stops: they end without recording an outcome (a successor resumes
        them). Also called from the cleanup handler, which kopf may run before this daemon has stopped."""
        for run in self.runs.values():
            run.cancel_reason = run.cancel_reason or "OperatorStopping"
            run.context.operator_stopping = run.cancel_reason == "OperatorStopping"
            run.context.cancel.set()
            run.wake.set()

    async def _stop_runs(self) -> None:
        """The daemon is stopping (operator exit or job deletion): stop the runs, keep their status
        as active so that a restarted operator picks them up."""
        self._stopping.set()
        self.signal_operator_stopping()
        tasks = [run.task for run in self.runs.values() if run.task]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drive(self, run: ActiveRun) -> None:
        """One run from start to finish, with waits for missing objects and retries of transient errors."""
        failures = 0
        try:
            spec = InferenceJobSpec.model_validate(run.context.job["spec"])
            results = await self._finished_results(run)
            if results:
                return await self._finish_recovered(run, results)
            if run.record.get("adopted"):  # the Job executor: its worker ran on without us
                kopf.info(self.body, reason="RunAdopted",
                          message=f"the operator restarted during run {run.record['id']}; following its worker")
            else:
                if run.record.get("restarted"):
                    kopf.warn(self.body, reason="RunRestarted",
                              message=f"the operator stopped during run {run.record['id']}; starting it again "
                                      "from the first row")
                kopf.info(self.body, reason="RunStarted", message=self._describe_start(run))
            while True:
                if run.cancel_reason:
                    return await self._finish_cancelled(run)
                run.record["state"] = "Running"
                run.record.pop("reason", None)
                run.record.pop("error", None)
                await self._update_active(run)
                try:
                    success = await self._execute_with_deadline(run, spec.active_deadline_seconds)
                except Exception as exc:
                    if run.cancel_reason:
                        return await self._finish_cancelled(run)
                    error = classify(exc)
                    if error.reason == "InternalError":
                        self.logger.exception("run %s failed unexpectedly", run.record["id"])
                    if error.disposition is Disposition.WAIT:
                        await self._wait_for_reference(run, error)
                        continue
                    failures += 1
                    if error.disposition is Disposition.RETRY and failures <= spec.backoff_limit:
                        await self._retry_later(run, error, failures)
                        continue
                    return await self._finish_failed(run, error)
                return await self._finish_succeeded(run, success)
        except StatusNotWritten:
            # The operator is stopping: the status on the server still lists the run as active, and the next
            # operator start records it from its results (or runs it again when it has none).
            self.logger.warning("run %s: its status could not be recorded before the operator stopped; the "
                                "next start recovers it", run.record["id"])
        except Exception:
            self.logger.exception("run %s stopped: its status could not be recorded", run.record["id"])
        finally:
            self.runs.pop(run.record["id"], None)
            metrics.ACTIVE_RUNS.dec()
            self.wake.set()  # a finished run can unblock a Forbid-held slot

    async def _execute_with_deadline(self, run: ActiveRun, deadline_seconds: int | None) -> RunSuccess:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, execute_run, run.context)
        deadline = None
        if deadline_seconds is not None:
            started = from_rfc3339(run.record["startTime"])
            deadline = loop.time() + self.clock.real_seconds(
                max(0.0, deadline_seconds - (self.clock.now() - started).total_seconds()))
        while not future.done():
            timeout = PROGRESS_SECONDS if deadline is None else max(0.0, min(PROGRESS_SECONDS, deadline - loop.time()))
            await asyncio.wait({future}, timeout=timeout)
            if not future.done() and deadline is not None and loop.time() >= deadline:
                self._cancel(run.record["id"], "DeadlineExceeded")
                await asyncio.wait({future})  # the worker stops after the requests under way
            elif not future.done():
                await self._reflect_progress(run)
        return future.result()

    async def _reflect_progress(self, run: ActiveRun) -> None:
        """The workers' reports into status.lastRun.progress: at most once per PROGRESS_SECONDS."""
        progress = dict(run.context.progress)
        if progress and progress != run.record.get("progress"):
            run.record["progress"] = progress
            await self._update_active(run)

    async def _sleep(self, run: ActiveRun, seconds: float) -> None:
        """Sleep, but wake at once when the run is cancelled."""
        run.wake.clear()
        try:
            await asyncio.wait_for(run.wake.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _wait_for_reference(self, run: ActiveRun, error: RunError) -> None:
        run.record.update(state="Pending", reason=error.reason)
        if self._last_wait_reason != error.reason:
            kopf.warn(self.body, reason=error.reason, message=f"{error.message}; waiting for it to appear")
            self._last_wait_reason = error.reason
        run.record["error"] = f"{error.message}; waiting for it to appear"
        await self._update_active(run)
        run.waits += 1
        await self._sleep(run, backoff_delay(run.waits))

    async def _retry_later(self, run: ActiveRun, error: RunError, failures: int) -> None:
        delay = backoff_delay(failures)
        run.record.update(state="Pending", reason=error.reason, error=error.message)
        kopf.warn(self.body, reason="RunRetrying",
                  message=f"run {run.record['id']} failed ({error.reason}: {error.message}); retry {failures} "
                          f"in {delay:.0f} s")
        await self._update_active(run)
        await self._sleep(run, delay)

    # -- recording outcomes ------------------------------------------------------------------------

    def _describe_start(self, run: ActiveRun) -> str:
        spec = run.context.job["spec"]
        restarted = " again after an operator restart" if run.record.get("restarted") else ""
        return (f"run {run.record['id']} ({run.record['trigger'].lower()}) started{restarted}: pipeline "
                f"{spec['pipeline']!r} in workspace {spec['workspace']!r}")

    async def _finish_succeeded(self, run: ActiveRun, success: RunSuccess) -> None:
        record = {**run.record, **success.record, "state": "Succeeded",
                  "completionTime": now_rfc3339(self.clock.now())}
        for key in ("reason", "error"):
            record.pop(key, None)
        resolved = {"workspaceId": success.workspace_id, "inferenceUrl": success.inference_url}
        if any(self.status.get(k) != v for k, v in resolved.items()):
            kopf.info(self.body, reason="Resolved", message=f"workspace {run.context.job['spec']['workspace']!r} "
                      f"is id {success.workspace_id}; inference URL {success.inference_url}")
        self._last_wait_reason = None
        await self._finish(run, record, {**resolved, "lastSuccessfulTime": record["completionTime"]})
        counts = (f"{record['rows']} rows in {record['batches']} batches, {record['retries']} retries"
                  if "batches" in record else f"{record['rows']} rows (recorded from its results' manifest)")
        where = record.get("resultsUri") or ", ".join(record.get("resultConfigMaps") or [])  # S3 or ConfigMaps
        kopf.info(self.body, reason="RunSucceeded", message=f"run {record['id']}: {counts}; results in {where}")

    async def _finished_results(self, run: ActiveRun) -> RunResults | None:
        """Complete results of this run id, left by an earlier attempt whose status never landed."""
        metadata = self.body.metadata
        try:
            return await asyncio.to_thread(find_complete_results, metadata["namespace"], metadata["name"],
                                           metadata["uid"], run.record["id"])
        except Exception as error:  # noqa: BLE001 - cannot look: run it (the results are replaced)
            self.logger.warning("run %s: could not look for earlier results (%s)", run.record["id"],
                                describe_failure(error))
            return None

    async def _finish_recovered(self, run: ActiveRun, results: RunResults) -> None:
        record = {**run.record, "state": "Succeeded", "completionTime": results.written_at or
                  now_rfc3339(self.clock.now()), "rows": results.rows, "resultConfigMaps": results.config_maps,
                  "recovered": True}
        for key in ("reason", "error", "restarted"):
            record.pop(key, None)
        await self._finish(run, record, {"lastSuccessfulTime": record["completionTime"]})
        kopf.info(self.body, reason="RunSucceeded",
                  message=f"run {record['id']}: {record['rows']} rows, recorded from its results in "
                          f"{', '.join(record['resultConfigMaps'])} (it finished while its status could not be "
                          "written)")

    async def _finish_failed(self, run: ActiveRun, error: RunError) -> None:
        record = {**run.record, "state": "Failed", "completionTime": now_rfc3339(self.clock.now()),
                  "reason": error.reason, "error": error.message}
        await self._finish(run, record, {})
        kopf.warn(self.body, reason="RunFailed", message=f"run {record['id']}: {error.reason}: {error.message}")

    async def _finish_cancelled(self, run: ActiveRun) -> None:
        if run.cancel_reason == "OperatorStopping":
            return  # stays active in status: the next operator restarts it
        reason = run.cancel_reason
        rows_done = run.context.progress.get("rowsDone", 0)
        record = {**run.record, "state": "Cancelled", "completionTime": now_rfc3339(self.clock.now()),
                  "reason": reason, "partial": True,
                  "error": f"cancelled ({reason}) after {rows_done} rows; no results were stored for this run"}
        await self._finish(run, record, {})
        kopf.warn(self.body, reason="RunCancelled", message=f"run {record['id']}: {record['error']}")

    async def _finish(self, run: ActiveRun, record: dict, changes: dict) -> None:
        """Record a finished run in lastRun and the history. It leaves `active` in the same write that
        puts it into the history, and that write is retried until it lands."""
        self.runs.pop(record["id"], None)
        record.pop("progress", None)  # only while active
        # Counted first: whoever sees the run finished in the status also sees it in the metrics.
        metrics.record_finished(self.body.metadata["namespace"], record)
        await self.write_status(changes, finished=record)

    def _history_with(self, base: list[dict], record: dict) -> tuple[list[dict], list[str]]:
        """`base` with `record` added, pruned to the limits; and the ids of the runs dropped."""
        history = [_without_outputs(record)] + [h for h in base if h.get("id") != record["id"]]
        kept, dropped = prune_history([RunRecord.model_validate(h) for h in history],
                                      successful_limit=self._spec_limit("successfulRunsHistoryLimit", 3),
                                      failed_limit=self._spec_limit("failedRunsHistoryLimit", 1))
        kept_ids = {k.id for k in kept}
        return [h for h in history if h["id"] in kept_ids], [d.id for d in dropped]

    def _spec_limit(self, key: str, default: int) -> int:
        return int((self.body.spec or {}).get(key, default))

    async def _update_active(self, run: ActiveRun) -> None:
        changes = {"lastRun": dict(run.record)} if run.record["id"] == self.latest_run_id else {}
        await self.write_status(changes)

    async def _record_invalid_spec(self, error: RunError, generation: int | None) -> None:
        if self.status.get("observedGeneration") != generation:
            kopf.warn(self.body, reason=error.reason, message=error.message)
        await self.write_status({"observedGeneration": generation}, ready=(False, error.reason, error.message))

    # -- status ------------------------------------------------------------------------------------

    async def write_status(self, changes: dict, *, ready: tuple[bool, str, str] | None = None,
                           finished: dict | None = None) -> None:
        """Apply `changes` (and a `finished` run) to the status on the server, recompute phase and
        conditions, and patch what differs, retrying until it lands; only then delete the results of runs
        pruned from the history. Raises StatusNotWritten only when the operator stops first."""
        # Recorded before waiting for the lock: a write in progress picks them up on its next attempt.
        self._pending.update(changes)
        if finished:
            self._pending_finished[finished["id"]] = finished
        async with self._status_lock:
            dropped = await self._write_until_landed(ready)
        for run_id in dropped:
            await asyncio.to_thread(results_store.delete_run_results, self.body.metadata["namespace"],
                                    self.body.metadata["name"], run_id)
        if dropped:  # results.objectStore.prune: true deletes the pruned runs' objects too
            await asyncio.to_thread(prune_object_store_results, self.body.metadata["namespace"],
                                    self.body.metadata["name"], self.body.metadata["uid"], dict(self.body.spec or {}),
                                    dropped)

    async def _write_until_landed(self, ready: tuple[bool, str, str] | None) -> list[str]:
        failures = 0
        while True:
            included, included_finished = dict(self._pending), list(self._pending_finished)
            status, dropped = self._desired_status(ready)
            self.status = {k: v for k, v in status.items() if v is not None}
            patch = merge_patch(self._server, status)
            if not patch:
                self._landed(included, included_finished)
                return dropped
            metadata = self.body.metadata
            try:
                written = await asyncio.to_thread(patch_status_if_unchanged, c.JOB_PLURAL, metadata["namespace"],
                                                  metadata["name"], patch, self._resource_version)
            except Exception as error:  # noqa: BLE001 - every failure is retried until the write lands
                if is_gone(error):
                    raise StatusNotWritten("the job is gone") from None
                if is_conflict(error) and await self._reread():
                    continue  # someone else wrote: recompute on top of what they wrote
                failures += 1
                await self._before_retrying_status(error, failures)
                continue
            self._server = dict(written.get("status") or {})
            self._resource_version = written["metadata"]["resourceVersion"]
            self._landed(included, included_finished)
            if failures:
                kopf.info(self.body, reason="StatusWritten",
                          message=f"the status was written after {failures} failed attempts; nothing was lost")
            return dropped

    def _desired_status(self, ready: tuple[bool, str, str] | None) -> tuple[dict, list[str]]:
        """The server's status with our pending changes and finished runs applied, and the ids of the
        runs they prune from the history."""
        status = {**self._server, **self._pending}
        history, dropped = list(self._server.get("history") or []), []
        finished = None
        for finished in self._pending_finished.values():
            history, pruned = self._history_with(history, finished)
            dropped += pruned
            if finished["id"] == self.latest_run_id:
                last = dict(finished)  # with the inline outputs, when small
                if finished["id"] in pruned:
                    last.pop("resultConfigMaps", None)  # a zero history limit keeps no results
                status["lastRun"] = last
        if self._pending_finished:
            status["history"] = history or None
        status["active"] = [dict(run.record) for run in self.runs.values()] or None
        status.update(derive_phase_and_conditions(status, dict(self.body.spec or {}),
                                                  self.body.metadata.get("generation"), ready,
                                                  _without_outputs(finished) if finished else None,
                                                  self.clock.now()))
        return status, dropped

    def _landed(self, included: dict, included_finished: list[str]) -> None:
        """Forget what the write that just landed carried; keep what arrived while it was in flight."""
        for key, value in included.items():
            if key in self._pending and self._pending[key] is value:
                del self._pending[key]
        for run_id in included_finished:
            self._pending_finished.pop(run_id, None)

    async def _reread(self) -> bool:
        """After a 409 Conflict: the object as the server has it now. False when it cannot be read."""
        metadata = self.body.metadata
        try:
            current = await asyncio.to_thread(read_object, c.JOB_PLURAL, metadata["namespace"], metadata["name"])
        except Exception as error:  # noqa: BLE001 - treated like the failed write: retried
            if is_gone(error):
                raise StatusNotWritten("the job is gone") from None
            return False
        self._server = dict(current.get("status") or {})
        self._resource_version = current["metadata"]["resourceVersion"]
        return True

    async def _before_retrying_status(self, error: BaseException, failures: int) -> None:
        delay = min(STATUS_RETRY_CAP_SECONDS, 0.5 * 2 ** min(failures - 1, 16))
        if failures == 1 or failures % 10 == 0:
            self.logger.warning("status write failed (%s, attempt %d); retrying in %.1f s until it lands",
                                describe_failure(error), failures, delay)
        if failures == 1:
            kopf.warn(self.body, reason="StatusWriteRetrying",
                      message=f"writing the status failed ({describe_failure(error)}); retrying until it lands, "
                              "nothing is lost")
        if self._stopping.is_set():
            raise StatusNotWritten("the operator is stopping")
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        except TimeoutError:
            return
        raise StatusNotWritten("the operator is stopping")


def _without_outputs(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "outputs"}


def _snapshot(body: kopf.Body) -> dict:
    return {"metadata": dict(body.metadata), "spec": dict(body.spec)}


def _parse_time(value: str | None) -> datetime | None:
    return from_rfc3339(value) if value else None


def _format_time(moment: datetime) -> str:
    return now_rfc3339(moment)
