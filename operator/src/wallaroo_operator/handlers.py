"""The kopf handlers: thin wiring from Kubernetes events to the controller modules.

Run with `kopf run -m wallaroo_operator.handlers` (see entrypoint.py for the flags we always use).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from wallaroo_operator import constants as c
from wallaroo_operator import executors, metrics
from wallaroo_operator.controller.clock import OperatorClock
from wallaroo_operator.controller.connection import CONNECTIONS
from wallaroo_operator.controller.connection_check import check_connection
from wallaroo_operator.controller.loop import JobController
from wallaroo_operator.kube.client import kopf_connection_info
from wallaroo_operator.settings import Settings

# Live controllers by object uid, so a watch event can wake the right one.
_controllers: dict[str, JobController] = {}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Read at each start (tests start several operators in one process); a bad value stops it here.
    memo.settings = config = Settings.from_environment()
    settings.peering.standalone = True  # one replica (Recreate); peering is not leader election
    settings.persistence.finalizer = c.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=c.ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=c.ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    # Finite watches: a silently stalled connection is re-established instead of hanging forever.
    settings.watching.server_timeout = config.watch_server_timeout
    settings.watching.client_timeout = settings.watching.server_timeout + 30
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.INFO
    settings.execution.max_workers = 8  # kopf's own pool, for the synchronous handlers below
    # Each active run has a thread that waits for its worker (a Job, or a child process) and reflects its
    # progress; this bounds how many runs execute at the same time. The rows are in the workers, not here.
    memo.run_executor = ThreadPoolExecutor(max_workers=config.max_concurrent_runs, thread_name_prefix="run")
    logging.getLogger(__name__).info("runs execute with the %s executor", executors.current().name)
    executors.current().warm_up()
    memo.clock = OperatorClock(config.test_clock_speedup)
    CONNECTIONS.ttl_seconds = config.connection_cache_seconds
    if config.metrics_port:
        metrics.serve(config.metrics_port)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    return kopf_connection_info()


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    """Async: it wakes the runs' asyncio events from the event loop's own thread."""
    for controller in list(_controllers.values()):  # before the pool goes: no run may retry into it
        controller.signal_operator_stopping()
    executor = getattr(memo, "run_executor", None)
    if executor:
        executor.shutdown(wait=False, cancel_futures=True)


@kopf.on.probe(id="runs")
async def active_runs(**_: Any) -> int:
    """Shown on the liveness endpoint: how many runs are in progress. Async, so it answers from the
    event loop even when every worker thread is busy (a busy pool must not fail the liveness probe)."""
    return sum(len(controller.runs) for controller in list(_controllers.values()))


# -- InferenceJob ------------------------------------------------------------------------------------


@kopf.daemon(c.GROUP, c.VERSION, c.JOB_PLURAL, cancellation_timeout=60.0)
async def inference_job(
    stopped: kopf.DaemonStopped, body: kopf.Body, uid: str, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """One long-lived task per job: runs it once per spec change, on its schedule, and on run-now."""
    controller = JobController(body, logger, memo.run_executor, memo.settings, memo.clock)
    _controllers[uid] = controller
    try:
        await controller.serve(stopped)
    finally:
        _controllers.pop(uid, None)


def _needs_attention(body: kopf.Body, **_: Any) -> bool:
    """A new spec generation or a new run-now value; our own status writes do not count (and so
    do not log a line each)."""
    status = body.get("status") or {}
    run_now = (body.metadata.get("annotations") or {}).get(c.RUN_NOW_ANNOTATION)
    return body.metadata.get("generation") != status.get("observedGeneration") or (
        bool(run_now) and run_now != status.get("handledRunNow")
    )


@kopf.on.event(c.GROUP, c.VERSION, c.JOB_PLURAL, when=_needs_attention)
async def wake_job(uid: str, **_: Any) -> None:
    """Any change (spec, annotations) may change what the job's controller should do now.
    Async, so the asyncio.Event is set from the event loop's own thread."""
    controller = _controllers.get(uid)
    if controller:
        controller.wake.set()


# -- WallarooConnection ------------------------------------------------------------------------------


@kopf.on.resume(c.GROUP, c.VERSION, c.CONNECTION_PLURAL)
@kopf.on.create(c.GROUP, c.VERSION, c.CONNECTION_PLURAL)
@kopf.on.update(c.GROUP, c.VERSION, c.CONNECTION_PLURAL)  # spec, labels or annotations: re-check
def connection(body: kopf.Body, retry: int, **_: Any) -> None:
    """Check that the connection can authenticate, and say so in its Ready condition."""
    check_connection(body, retry)


@kopf.on.event(c.GROUP, c.VERSION, c.CONNECTION_PLURAL)
async def connection_changed(namespace: str | None, name: str, **_: Any) -> None:
    """Runs reuse a resolved connection for a while; any change to it (or its deletion) ends that."""
    CONNECTIONS.forget(namespace or "", name)
