"""The life of one InferenceJob: decide which runs to start, start and cancel them, and keep its status.

One JobController lives inside the job's kopf daemon. It sleeps until something can change its
decision (a watch event, a run ending, the next schedule slot) and never polls: a scheduled job
costs one sleeping asyncio task between its slots. Where the rest is:

- a run from start to outcome: lifecycle.py (waits and retries: waits.py; outcome records: outcomes.py)
- the schedule's decision: scheduling.py (the CronJob planner: schedule/planner.py)
- status: status_writer.py (writes), job_status.py (phase, conditions, the status to write), history.py
- Events: events.py; metrics: metrics.py
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

import kopf
import pydantic

from wallaroo_operator import constants as c
from wallaroo_operator import executors, metrics
from wallaroo_operator.controller import events, lifecycle, scheduling
from wallaroo_operator.controller.active import ActiveRun, new_record
from wallaroo_operator.controller.clock import OperatorClock
from wallaroo_operator.controller.errors import RunError, classify
from wallaroo_operator.controller.history import delete_pruned_results
from wallaroo_operator.controller.inline_results import store_inline_results
from wallaroo_operator.controller.job_status import JobView, Ready, desired_status
from wallaroo_operator.controller.run import RunContext
from wallaroo_operator.controller.status_writer import StatusNotWritten, StatusWriter
from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.rfc3339 import from_rfc3339
from wallaroo_operator.schedule import InvalidSchedule, run_id_for_generation, run_id_for_manual, validate_schedule
from wallaroo_operator.settings import Settings


class JobController:
    def __init__(
        self,
        body: kopf.Body,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        executor: Executor,
        settings: Settings,
        clock: OperatorClock | None = None,
    ) -> None:
        self.body = body  # kopf keeps a daemon's body up to date with every watch event
        self.logger = logger
        self.executor = executor
        self.settings = settings
        self.clock = clock or OperatorClock()
        self.spec: InferenceJobSpec | None = None  # the newest valid spec, parsed once per change
        self.runs: dict[str, ActiveRun] = {}
        self.wake = asyncio.Event()
        self.last_wait_reason: str | None = None
        self._stopping = asyncio.Event()
        self._writer = StatusWriter(
            body,
            logger,
            self._compose,
            self._stopping,
            settings.status_retry_cap_seconds,
            on_failed_write=lambda records: store_inline_results(dict(body.metadata), records),
        )
        self.latest_run_id: str | None = (self.status.get("lastRun") or {}).get("id")
        self._announced = (self.status.get("workspaceId"), self.status.get("inferenceUrl"))
        self._schedule_events = events.OncePerMessage(body)

    @property
    def status(self) -> dict[str, Any]:
        """The status as last written (or about to be), with this controller's changes applied."""
        return self._writer.status

    # -- the loop ----------------------------------------------------------------------------------

    async def serve(self, stopped: kopf.DaemonStopped) -> None:
        stop_waiter = asyncio.ensure_future(stopped.wait())
        stop_waiter.add_done_callback(lambda _: self._stopping.set())  # ends status retries at once
        try:
            self._recover_interrupted_runs()
            while not stopped:
                sleep_seconds = await self.reconcile()
                wake_waiter = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait(
                    {stop_waiter, wake_waiter}, timeout=sleep_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                wake_waiter.cancel()
                self.wake.clear()
        except StatusNotWritten as stopping:
            self.logger.info("stopped before the status could be written (%s); the next start resumes", stopping)
        finally:
            stop_waiter.cancel()
            await self._stop_runs()

    async def reconcile(self) -> float | None:
        """Start what is due; return how long to sleep before the next look (None: until woken)."""
        generation = int(self.body.metadata.get("generation") or 1)
        try:
            spec = InferenceJobSpec.model_validate(dict(self.body.spec))
            if spec.schedule:
                validate_schedule(spec.schedule, spec.time_zone)
        except (pydantic.ValidationError, InvalidSchedule) as error:
            await self._record_invalid_spec(classify(error), generation)
            return None
        self.spec = spec

        for old_id in [
            run_id
            for run_id, run in self.runs.items()
            if run.record["trigger"] == "Spec" and spec.schedule is None and run_id != run_id_for_generation(generation)
        ]:
            self.cancel(old_id, "SpecChanged")
        changes: dict[str, Any] = {"observedGeneration": generation}
        if not spec.schedule and self.status.get("observedGeneration") != generation:
            self._start(spec, "Spec", run_id_for_generation(generation))
        run_now = (self.body.metadata.get("annotations") or {}).get(c.RUN_NOW_ANNOTATION)
        if run_now and run_now.strip() and run_now != self.status.get("handledRunNow"):
            run_id = run_id_for_manual(run_now)
            # Once per distinct value: a value seen before (a Git revert, say) is still in the history.
            if not any(h.get("id") == run_id for h in self.status.get("history") or []):
                self._start(spec, "Manual", run_id)
            changes["handledRunNow"] = run_now
        sleep_seconds = self._reconcile_schedule(spec, changes) if spec.schedule else None
        if not spec.schedule:
            changes["nextScheduleTime"] = None
        await self.write_status(changes)
        return sleep_seconds

    def _reconcile_schedule(self, spec: InferenceJobSpec, changes: dict[str, Any]) -> float | None:
        scheduled_active = [run_id for run_id, run in self.runs.items() if run.record["trigger"] == "Schedule"]
        decision, schedule_changes = scheduling.decide(
            spec,
            self.status,
            created_at=self.body.metadata["creationTimestamp"],
            now=self.clock.now(),
            scheduled_active=scheduled_active,
        )
        for event in decision.events:
            self._schedule_events.post(event.type, event.reason, event.message)
        for run_id in decision.cancel_run_ids:
            self.cancel(run_id, "Replaced")
        if decision.start_slot is not None and decision.start_run_id is not None:
            self._start(spec, "Schedule", decision.start_run_id, scheduled_time=decision.start_slot)
        changes.update(schedule_changes)
        return None if decision.sleep_seconds is None else self.clock.real_seconds(decision.sleep_seconds)

    async def _record_invalid_spec(self, error: RunError, generation: int | None) -> None:
        if self.status.get("observedGeneration") != generation:
            events.invalid_spec(self.body, error)
        await self.write_status({"observedGeneration": generation}, ready=(False, error.reason, error.message))

    # -- runs: start, cancel, stop -----------------------------------------------------------------

    def _start(
        self,
        spec: InferenceJobSpec,
        trigger: str,
        run_id: str,
        *,
        scheduled_time: datetime | None = None,
        attempt: int = 1,
        restarted: bool = False,
        adopted: bool = False,
    ) -> None:
        if run_id in self.runs:
            return  # the id is the lock: a slot, a generation or a run-now value runs once
        record = new_record(
            trigger,
            run_id,
            now=self.clock.now(),
            generation=self.body.metadata.get("generation"),
            scheduled_time=scheduled_time,
            attempt=attempt,
            restarted=restarted,
            adopted=adopted,
        )
        job = {"metadata": dict(self.body.metadata), "spec": dict(self.body.spec)}
        run = ActiveRun(record, RunContext(job=job, run_id=run_id, spec=spec))
        self.runs[run_id] = run
        self.latest_run_id = run_id
        metrics.ACTIVE_RUNS.inc()
        run.task = asyncio.create_task(lifecycle.drive(self, run), name=f"run {run_id}")

    def cancel(self, run_id: str, reason: str) -> None:
        run = self.runs.get(run_id)
        if run:
            run.cancel(reason)

    def _recover_interrupted_runs(self) -> None:
        """Runs the status shows as active were interrupted by an operator stop: start them again (the
        local executor) or follow their workers (the Job executor, whose workers ran on without us)."""
        active = self.status.get("active") or []
        if not active:
            return
        try:
            spec = InferenceJobSpec.model_validate(dict(self.body.spec))
        except pydantic.ValidationError:
            return  # the loop records the invalid spec; the runs are not started with it
        adopting = executors.current().adopts_runs
        for record in active:
            scheduled = record.get("scheduledTime")
            self._start(
                spec,
                record["trigger"],
                record["id"],
                scheduled_time=from_rfc3339(scheduled) if scheduled else None,
                attempt=int(record.get("attempt", 1)) + (0 if adopting else 1),
                restarted=not adopting,
                adopted=adopting,
            )

    def signal_operator_stopping(self) -> None:
        """Tell the runs the operator stops: they end without recording an outcome (a successor resumes
        them). Also called from the cleanup handler, which kopf may run before this daemon has stopped."""
        for run in self.runs.values():
            run.stop_for_operator()

    async def _stop_runs(self) -> None:
        """The daemon is stopping (operator exit or job deletion): stop the runs, keep their status
        as active so that a restarted operator picks them up."""
        self._stopping.set()
        self.signal_operator_stopping()
        tasks = [run.task for run in self.runs.values() if run.task]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- what a run's lifecycle asks of its job (controller/host.py) ---------------------------------

    def announce(self, workspace: str, workspace_id: int, url: str) -> None:
        if (workspace_id, url) != self._announced:
            self._announced = (workspace_id, url)
            events.resolved(self.body, workspace, workspace_id, url)

    async def update_active(self) -> None:
        await self.write_status({})

    async def finish(self, run: ActiveRun, record: dict[str, Any], changes: dict[str, Any]) -> None:
        """It leaves `active` in the same write that puts it into the history, and that write is retried
        until it lands; then its one outcome event."""
        self.runs.pop(run.id, None)
        # Counted first: whoever sees the run finished in the status also sees it in the metrics.
        metrics.record_finished(self.body.metadata["namespace"], record)
        await self.write_status(changes, finished=record)
        events.run_finished(self.body, record)

    def run_ended(self, run: ActiveRun) -> None:
        self.runs.pop(run.id, None)
        metrics.ACTIVE_RUNS.dec()
        self.wake.set()  # a finished run can unblock a Forbid-held slot

    # -- status ------------------------------------------------------------------------------------

    async def write_status(
        self, changes: dict[str, Any], *, ready: Ready | None = None, finished: dict[str, Any] | None = None
    ) -> None:
        """Write, then delete the results of the runs the write pruned from the history."""
        dropped = await self._writer.write(changes, ready=ready, finished=finished)
        if dropped:
            await delete_pruned_results(self.body, dropped)

    def _compose(
        self, server: dict[str, Any], pending: dict[str, Any], finished: list[dict[str, Any]], ready: Ready | None
    ) -> tuple[dict[str, Any], list[str]]:
        spec = self.spec
        view = JobView(
            spec=dict(self.body.spec or {}),
            generation=self.body.metadata.get("generation"),
            active=[run.record for run in self.runs.values()],
            latest_run_id=self.latest_run_id,
            successful_limit=spec.successful_runs_history_limit if spec else 3,
            failed_limit=spec.failed_runs_history_limit if spec else 1,
            now=self.clock.now(),
        )
        return desired_status(server, pending, finished, ready, view)
