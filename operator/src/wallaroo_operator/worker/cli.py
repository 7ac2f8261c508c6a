"""`python -m wallaroo_operator worker`: run one shard of the run described by the environment.

Exit codes: 0 done; 3 a failure that retrying cannot fix (bad input, results too large, a conflict);
4 something referenced is missing; 1 anything else (worth a retry). The outcome, with its reason, is
also reported where the operator reads it: the run's progress ConfigMap (a Job's Pod), or a pipe to the
operator (a local worker, which the operator passes `report`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from wallaroo_operator.controller.errors import Disposition, RunError, classify
from wallaroo_operator.kube import object_stores
from wallaroo_operator.kube.backoff import KubernetesUnavailable
from wallaroo_operator.objectstore import InputPlan, ResultSink, RunIdentity, read_shard
from wallaroo_operator.worker import kube_io
from wallaroo_operator.worker.engine import ObjectInput, WorkerIO, connection, run_shard
from wallaroo_operator.worker.limits import limits_from_environment
from wallaroo_operator.worker.manifest import (
    MANIFEST_ENV,
    RunManifest,
    manifest_from_environment,
    shard_from_environment,
)

EXIT_CODES = {Disposition.FAIL: 3, Disposition.WAIT: 4, Disposition.RETRY: 1}
log = logging.getLogger("wallaroo_operator.worker")


def classify_worker_error(error: BaseException) -> RunError:
    if isinstance(error, MemoryError):
        return RunError(
            "WorkerOutOfMemory",
            "the worker ran out of memory; raise execution.resources.limits."
            "memory or lower inference.batchSize or parallelism",
            Disposition.FAIL,
        )
    return classify(error)


def object_input(manifest: RunManifest, shard: int) -> ObjectInput | None:
    """input.objectStore: this shard's slice of the operator's plan, with the credentials of its environment."""
    block = manifest.job_spec().input.object_store
    if block is None or manifest.object_input is None:
        return None
    store, plan = object_stores.store_from_env(block, "input"), InputPlan.from_dict(manifest.object_input)
    units = plan.shard(shard, manifest.shards)
    total = sum(unit.end - unit.start for unit in units) if plan.by_rows else None
    first = units[0].first_row if units and plan.by_rows else (0 if shard == 0 else None)
    return ObjectInput(lambda: read_shard(store, plan, shard, manifest.shards, column=block.column), total, first)


def results_sink(manifest: RunManifest) -> ResultSink | None:
    """results.objectStore: the run's sink (parts under <prefix>/<namespace>/<job>/<run id>/)."""
    block = manifest.job_spec().results.object_store
    if block is None:
        return None
    return ResultSink(
        object_stores.store_from_env(block, "results"),
        RunIdentity(manifest.namespace, manifest.job_name, manifest.run_id, manifest.job_uid),
        prefix=block.prefix,
        format=block.format,
        rows_per_part=block.rows_per_part,
    )


def main(report: Callable[[dict[str, Any]], None] | None = None) -> int:
    """`report`: where progress and the outcome go; the run's progress ConfigMap when not given."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if MANIFEST_ENV not in os.environ:
        log.error("no run manifest in $%s: the operator starts workers, one per shard of a run", MANIFEST_ENV)
        return 2
    manifest, shard = manifest_from_environment(), shard_from_environment()
    key = f"shard-{shard}"
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())  # Job deleted: stop after the requests under way
    io = WorkerIO(
        input_parts=lambda: kube_io.input_parts(manifest.namespace, manifest.input_parts),
        store_chunk=lambda chunk: kube_io.create_results(manifest, shard, chunk),
        report=report or (lambda state: kube_io.patch_progress(manifest, key, state)),
        inline_only_if_fits=manifest.shards == 1 and manifest.job_spec().results.config_maps == "IfNotInline",
    )
    try:
        io.object_input, io.results_sink = object_input(manifest, shard), results_sink(manifest)
        tokens, verify = connection(manifest)
        outcome = run_shard(manifest, shard, io, limits_from_environment(), tokens=tokens, verify=verify, cancel=cancel)
    except Exception as error:
        if cancel.is_set():
            # SIGTERM: this Pod is going (deleted, evicted, drained, or its Job cancelled), which is no failure
            # of the run: exit for a retry in a new Pod (a cancelled Job has none) and report nothing.
            log.warning("run %s shard %d stopped by SIGTERM: %s", manifest.run_id, shard, error)
            return EXIT_CODES[Disposition.RETRY]
        failure = classify_worker_error(error)
        if failure.reason == "InternalError":
            log.exception("run %s shard %d failed", manifest.run_id, shard)
        log.error("run %s shard %d failed: %s: %s", manifest.run_id, shard, failure.reason, failure.message)
        try:
            io.report(
                {
                    "state": "Failed",
                    "reason": failure.reason,
                    "message": failure.message,
                    "disposition": failure.disposition.value,
                }
            )
        except Exception:
            log.exception("could not report the failure")
        return EXIT_CODES[failure.disposition]
    try:
        io.report(outcome)
    except KubernetesUnavailable as error:
        log.error(
            "run %s shard %d finished, but its outcome could not be reported: %s: %s",
            manifest.run_id,
            shard,
            error.reason,
            error,
        )
        return EXIT_CODES[Disposition.RETRY]
    log.info("run %s shard %d: %d rows in %d batches", manifest.run_id, shard, outcome["rows"], outcome["batches"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
