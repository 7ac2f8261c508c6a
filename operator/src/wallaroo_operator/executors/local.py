"""The local executor: each shard's worker is a child process of the operator, with a memory limit.

For development (`make run`) and clusters where Jobs are not wanted. Workers are forked from a preloaded
worker server (multiprocessing's forkserver) and run worker/cli.py's main, the code of `wallaroo-operator
worker`. The child reads its input with the operator's own Kubernetes credentials (its KUBECONFIG or
in-cluster token), gets the Wallaroo credentials in its environment, and reports its progress and outcome
over a pipe: the operator only waits for it and reads its reports.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import IO, TYPE_CHECKING, Any

from wallaroo_operator.controller.errors import Disposition
from wallaroo_operator.executors.base import (
    RunPlan,
    WorkerFailure,
    outcomes_in_order,
    progress_of,
    reported_failure,
)
from wallaroo_operator.kube import object_stores
from wallaroo_operator.settings import settings
from wallaroo_operator.wallaroo import InferenceCancelled
from wallaroo_operator.wallaroo.token_handoff import token_environment
from wallaroo_operator.worker.manifest import CA_FILE_ENV, MANIFEST_ENV, MEMORY_LIMIT_ENV, SECRET_ENVS, SHARD_ENV

if TYPE_CHECKING:
    from wallaroo_operator.controller.run import RunContext

POLL_SECONDS = 0.2
PROGRESS_SECONDS = settings().progress_seconds
STOP_GRACE_SECONDS = 20.0
# RLIMIT_AS caps address space, not resident memory: the interpreter, its shared libraries and each
# thread's stack reserve far more than they touch. This allowance keeps the limit about resident memory.
ADDRESS_SPACE_ALLOWANCE = 512 * 2**20
LOG_TAIL_LINES = 10
WORKER_LOG_DIR_ENV = "WALLAROO_WORKER_LOG_DIR"


class LocalExecutor:
    name = "local"
    adopts_runs = False  # a child process dies with the operator: a restart runs the run again

    def warm_up(self) -> None:
        """Start the fork server now: its imports (the worker, the Kubernetes client's models) happen while
        the operator starts, not in the first run's time."""
        _forkserver()
        multiprocessing.forkserver.ensure_running()

    def execute(self, plan: RunPlan, context: RunContext) -> list[dict[str, Any]]:
        """Workers report over a pipe, not a progress ConfigMap: no API writes for what dies with us anyway."""
        manifest = plan.manifest
        worker = f"local:{manifest.job_name}/{manifest.run_id}"
        states: dict[int, dict[str, Any]] = {}
        started = time.monotonic()
        for shard in range(manifest.shards):  # one at a time: the operator's host is one machine
            self._run_shard(plan, shard, context, ShardReports(states, started, worker))
        outcomes = outcomes_in_order(states, manifest.shards)
        if outcomes is None:
            raise reported_failure(states) or WorkerFailure("WorkerFailed", "a worker ended without a report")
        return outcomes

    def _run_shard(self, plan: RunPlan, shard: int, context: RunContext, reports: ShardReports) -> None:
        manifest = plan.manifest
        log_name = f"{manifest.namespace}.{manifest.job_name}.{manifest.run_id}.{shard}"
        receiver, sender = multiprocessing.Pipe(duplex=False)
        with tempfile.NamedTemporaryFile(mode="w+b", prefix="wallaroo-worker-") as log, receiver:
            child = _forkserver().Process(
                target=run_worker,
                args=(worker_environment(plan, shard), log.name, sender),
                name=f"worker {reports.worker} shard {shard}",
                daemon=False,
            )
            child.start()
            sender.close()  # the child holds its own copy: end of file here once it exits
            assert child.pid is not None
            limit = plan.memory_limit_bytes + ADDRESS_SPACE_ALLOWANCE
            with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone: its exit code says why
                resource.prlimit(child.pid, resource.RLIMIT_AS, (limit, limit))
            last_report = time.monotonic()
            while child.is_alive():
                if context.cancel.is_set():
                    stop(child, graceful=not context.operator_stopping)
                    keep_log(log.name, log_name)
                    raise InferenceCancelled(
                        context.progress.get("rowsDone", 0), context.progress.get("rowsTotal") or 0
                    )
                if not reports.receive(receiver, shard, POLL_SECONDS):
                    child.join(POLL_SECONDS)  # its end of the pipe is closed: it is exiting
                if time.monotonic() - last_report >= PROGRESS_SECONDS:
                    last_report = time.monotonic()
                    context.progress.update(reports.progress(manifest.shards))
            child.join()
            reports.receive(receiver, shard, 0)  # what it said last, before it exited
            keep_log(log.name, log_name)
            if child.exitcode != 0:
                reported = reported_failure(reports.states)
                if reported is not None:
                    raise reported
                raise crash(child.exitcode or 0, tail(log))


@dataclass
class ShardReports:
    """The workers' reports, latest per shard, as they arrive over their pipes."""

    states: dict[int, dict[str, Any]]
    started: float
    worker: str

    def receive(self, receiver: Connection, shard: int, timeout: float) -> bool:
        """Whatever arrived, waiting up to `timeout` for the first report. False once the worker's end is
        closed (it exited): nothing more will come."""
        try:
            while receiver.poll(timeout):
                self.states[shard] = receiver.recv()
                timeout = 0
        except (EOFError, OSError):
            return False
        return True

    def progress(self, shards: int) -> dict[str, Any]:
        return progress_of(self.states, shards, self.started, self.worker)


def keep_log(path: str, name: str) -> None:
    """A copy of a worker's log in $WALLAROO_WORKER_LOG_DIR when set (the test suite scans them for secrets)."""
    directory = os.environ.get(WORKER_LOG_DIR_ENV)
    if directory:
        shutil.copyfile(path, os.path.join(directory, f"{name}.{os.getpid()}.{time.monotonic_ns()}.log"))


def _forkserver() -> multiprocessing.context.ForkServerContext:
    """Workers are forked from a server process that has imported the worker once: a run starts in
    milliseconds instead of paying the interpreter's and the libraries' start-up (3 to 4 CPU seconds).
    The server exits when the operator does."""
    # Read by glibc when the server starts; its forks inherit it: per-thread arenas would reserve address
    # space that RLIMIT_AS counts.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    context = multiprocessing.get_context("forkserver")
    # kubernetes>=35 builds CoreV1Api's pydantic models on first use: 2.5 CPU seconds, paid once here.
    context.set_forkserver_preload(["wallaroo_operator.worker.cli", "kubernetes.client.api.core_v1_api"])
    return context


def run_worker(environment: dict[str, str], log_path: str, reports: Connection) -> None:
    """In the child: the run's environment, the log file, then `wallaroo-operator worker`, reporting
    over `reports`."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the server
    os.environ.clear()
    os.environ.update(environment)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    from wallaroo_operator.worker.cli import main

    sys.exit(main(report=reports.send))


def worker_environment(plan: RunPlan, shard: int) -> dict[str, str]:
    connection = plan.connection
    env = {
        **os.environ,
        MANIFEST_ENV: plan.manifest.model_dump_json(),
        SHARD_ENV: str(shard),
        MEMORY_LIMIT_ENV: str(plan.memory_limit_bytes),
    }
    secrets = {
        "client_secret": connection.credentials.client_secret,
        "username": connection.credentials.username,
        "password": connection.credentials.password,
    }
    env.update({SECRET_ENVS[key]: value for key, value in secrets.items() if value})
    if isinstance(connection.verify, str):
        env[CA_FILE_ENV] = connection.verify
    env.update(
        object_stores.resolved_env(plan.manifest.namespace, plan.manifest.job_name, plan.manifest.job_spec())
    )  # S3 keys, CA
    env.update(token_environment(connection.tokens))  # the worker's first request needs no login of its own
    return env


def stop(child: multiprocessing.process.BaseProcess, *, graceful: bool) -> None:
    """SIGTERM lets the worker finish the requests under way; SIGKILL when it does not stop in time."""
    if graceful:
        child.terminate()
        child.join(STOP_GRACE_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()


def tail(log: IO[bytes]) -> str:
    log.seek(0)
    lines = collections.deque((line.decode(errors="replace").rstrip() for line in log), maxlen=LOG_TAIL_LINES)
    return "\n".join(lines)


def crash(returncode: int, log_tail: str) -> WorkerFailure:
    how = f"was killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with code {returncode}"
    if "MemoryError" in log_tail:
        return WorkerFailure(
            "WorkerOutOfMemory",
            f"the worker ran out of memory (it {how}); raise "
            "execution.resources.limits.memory or lower inference.batchSize "
            f"or parallelism. Last lines of its log:\n{log_tail}",
            Disposition.FAIL,
        )
    return WorkerFailure("WorkerFailed", f"the worker {how}. Last lines of its log:\n{log_tail}")
