"""Finding the results a run left behind, so that a run whose status was never written (the API server
was away, the operator restarted) is recorded from its results instead of being lost or run twice.

The worker writes a shard's results part by part as they come, and marks the shard's last part with the
number of parts it wrote (kube/results_store.py). A complete set (every shard's last part, and every part
before it, all owned by this job for this run) means the run succeeded: only its status is missing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import kubernetes

from wallaroo_operator import constants as c
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core, is_not_found
from wallaroo_operator.kube.results_store import (
    PARTS_ANNOTATION,
    ROW_COUNT_ANNOTATION,
    SHARD_LABEL,
    SHARDS_ANNOTATION,
    RunResultsTarget,
    list_run_parts,
    part_name,
)
from wallaroo_operator.rfc3339 import now_rfc3339


@dataclass(frozen=True)
class RunResults:
    config_maps: list[str]  # in shard and part order
    rows: int
    written_at: str  # the newest part's creationTimestamp (RFC 3339)


def find_complete_results(namespace: str, job_name: str, job_uid: str, run_id: str) -> RunResults | None:
    """The run's results, when every part of them exists; None when there are none or only some. Asked at
    the start of every run, so first by name: complete results include a first part (`<job>-<run>-0`, or
    `-s0-0` when sharded), and a GET of a name that does not exist costs the API server far less than
    listing the namespace's ConfigMaps by label."""
    firsts = (part_name(RunResultsTarget(namespace, job_name, job_uid, run_id, shards), 0, 0) for shards in (1, 2))
    if not any(_exists(namespace, name) for name in firsts):
        return None
    return complete_results(list_run_parts(namespace, job_name, run_id, job_uid))


def _exists(namespace: str, name: str) -> bool:
    try:
        response = core().read_namespaced_config_map(
            name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
    except kubernetes.client.ApiException as error:
        if is_not_found(error):
            return False
        raise
    response.release_conn()
    return True


def complete_results(parts: list[kubernetes.client.V1ConfigMap]) -> RunResults | None:
    """Pure part of find_complete_results: `parts` are the V1ConfigMaps of one run's results."""
    if not parts:
        return None
    try:
        shard_counts = {int((cm.metadata.annotations or {})[SHARDS_ANNOTATION]) for cm in parts}
        by_shard: dict[int, dict[int, kubernetes.client.V1ConfigMap]] = defaultdict(dict)
        for cm in parts:
            labels = cm.metadata.labels or {}
            by_shard[int(labels.get(SHARD_LABEL) or "0")][int(labels[c.PART_LABEL])] = cm
        if len(shard_counts) != 1 or set(by_shard) != set(range(shard_counts.pop())):
            return None
        ordered = []
        for shard in sorted(by_shard):
            declared = {
                int(a[PARTS_ANNOTATION])
                for a in (cm.metadata.annotations or {} for cm in by_shard[shard].values())
                if PARTS_ANNOTATION in a
            }
            if len(declared) != 1 or set(by_shard[shard]) != set(range(declared.pop())):
                return None  # the shard's last part is missing, or one before it
            ordered += [by_shard[shard][index] for index in sorted(by_shard[shard])]
        rows = sum(int(cm.metadata.annotations[ROW_COUNT_ANNOTATION]) for cm in ordered)
    except (KeyError, ValueError):
        return None  # not written as we write them: do not trust it
    stamps = [cm.metadata.creation_timestamp for cm in parts if cm.metadata.creation_timestamp]
    return RunResults([cm.metadata.name for cm in ordered], rows, now_rfc3339(max(stamps)) if stamps else "")
