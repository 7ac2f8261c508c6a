"""One run from start to finish: look for results an earlier attempt left, execute it in a thread
(with its deadline and progress), wait for missing objects, retry transient errors, and record the
outcome."""

from __future__ import annotations

import asyncio
import contextvars

from wallaroo_operator.controller import events, outcomes, waits
from wallaroo_operator.controller.active import ActiveRun
from wallaroo_operator.controller.connection import CONNECTIONS
from wallaroo_operator.controller.errors import Disposition, classify
from wallaroo_operator.controller.host import JobHost
from wallaroo_operator.controller.run import RunSuccess, execute_run
from wallaroo_operator.controller.status_writer import StatusNotWritten
from wallaroo_operator.kube import client
from wallaroo_operator.kube.recovery import RunResults, find_complete_results
from wallaroo_operator.kube.status import describe_failure
from wallaroo_operator.rfc3339 import from_rfc3339


async def drive(host: JobHost, run: ActiveRun) -> None:
    failures = 0
    spec = run.context.spec
    try:
        results = await finished_results(host, run)
        if results:
            record = outcomes.recovered(run.record, results, host.clock.now())
            return await host.finish(run, record, {"lastSuccessfulTime": record["completionTime"]})
        events.run_started(host.body, run.record, spec)
        _announce_from_thread(host, run)
        while True:
            if run.is_cancelled():
                return await finish_cancelled(host, run)
            if run.record["state"] != "Running":  # after a wait or a retry
                run.record["state"] = "Running"
                run.record.pop("reason", None)
                run.record.pop("error", None)
                await host.update_active()
            try:
                success = await execute_with_deadline(host, run)
            except Exception as exc:
                if run.is_cancelled():
                    return await finish_cancelled(host, run)
                error = classify(exc)
                if error.reason == "InternalError":
                    host.logger.exception("run %s failed unexpectedly", run.id)
                # The next attempt reads the connection and its Secret again: one may be what failed.
                CONNECTIONS.forget(run.context.job["metadata"]["namespace"], spec.connection_ref.name)
                if error.disposition is Disposition.WAIT:
                    await waits.wait_for_reference(host, run, error)
                    continue
                failures += 1
                if error.disposition is Disposition.RETRY and failures <= spec.backoff_limit:
                    await waits.retry_later(host, run, error, failures)
                    continue
                return await host.finish(run, outcomes.failed(run.record, error, host.clock.now()), {})
            return await finish_succeeded(host, run, success)
    except StatusNotWritten:
        # The operator is stopping: the status on the server still lists the run as active, and the next
        # operator start records it from its results (or runs it again when it has none).
        host.logger.warning(
            "run %s: its status could not be recorded before the operator stopped; the next start recovers it", run.id
        )
    except Exception:
        host.logger.exception("run %s stopped: its status could not be recorded", run.id)
    finally:
        host.run_ended(run)


def _announce_from_thread(host: JobHost, run: ActiveRun) -> None:
    """The run's thread tells the workspace id and URL as soon as it has resolved them; the event is
    posted from the event loop, in this task's context (kopf's event queue lives there)."""
    loop, context = asyncio.get_running_loop(), contextvars.copy_context()

    def on_resolved(workspace_id: int, url: str) -> None:
        loop.call_soon_threadsafe(host.announce, run.context.spec.workspace, workspace_id, url, context=context)

    run.context.on_resolved = on_resolved


async def execute_with_deadline(host: JobHost, run: ActiveRun) -> RunSuccess:
    """The run in its thread; its progress into status at most every progress_seconds; cancelled when
    activeDeadlineSeconds (counted from its start, waits included) passes."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(host.executor, execute_run, run.context)
    every = host.settings.progress_seconds
    deadline = None
    if run.context.spec.active_deadline_seconds is not None:
        elapsed = (host.clock.now() - from_rfc3339(run.record["startTime"])).total_seconds()
        deadline = loop.time() + host.clock.real_seconds(max(0.0, run.context.spec.active_deadline_seconds - elapsed))
    while not future.done():
        timeout = every if deadline is None else max(0.0, min(every, deadline - loop.time()))
        await asyncio.wait({future}, timeout=timeout)
        if not future.done() and deadline is not None and loop.time() >= deadline:
            host.cancel(run.id, "DeadlineExceeded")
            await asyncio.wait({future})  # the worker stops after the requests under way
        elif not future.done():
            await reflect_progress(host, run)
    return future.result()


async def reflect_progress(host: JobHost, run: ActiveRun) -> None:
    """The workers' reports into status.lastRun.progress, when they changed."""
    progress = dict(run.context.progress)
    if progress and progress != run.record.get("progress"):
        run.record["progress"] = progress
        await host.update_active()


async def finished_results(host: JobHost, run: ActiveRun) -> RunResults | None:
    """Complete results of this run id, left by an earlier attempt whose status never landed (not even
    its start, so the run may not say it restarted)."""
    metadata = host.body.metadata
    try:
        return await client.call(
            find_complete_results, metadata["namespace"], metadata["name"], metadata["uid"], run.id
        )
    except Exception as error:
        host.logger.warning("run %s: could not look for earlier results (%s)", run.id, describe_failure(error))
        return None


async def finish_succeeded(host: JobHost, run: ActiveRun, success: RunSuccess) -> None:
    record = outcomes.succeeded(run.record, success.record, host.clock.now())
    host.announce(run.context.spec.workspace, success.workspace_id, success.inference_url)  # a redeploy mid-run
    host.last_wait_reason = None
    await host.finish(
        run,
        record,
        {
            "workspaceId": success.workspace_id,
            "inferenceUrl": success.inference_url,
            "lastSuccessfulTime": record["completionTime"],
        },
    )


async def finish_cancelled(host: JobHost, run: ActiveRun) -> None:
    if run.cancel_reason == "OperatorStopping":
        return  # stays active in status: the next operator restarts it
    reason = run.cancel_reason or "Cancelled"
    record = outcomes.cancelled(run.record, reason, run.context.progress.get("rowsDone", 0), host.clock.now())
    await host.finish(run, record, {})
