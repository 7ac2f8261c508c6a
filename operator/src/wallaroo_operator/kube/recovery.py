"""Finding the results a run left behind, so that a run whose status was never written (the API server
was away, the operator restarted) is recorded from its results instead of being lost or run twice.

A run writes its results ConfigMaps as its very last step, so a complete set (every part present,
none partial, all owned by this job) means the run succeeded: only its status is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from wallaroo_operator import constants as c
from wallaroo_operator.kube.client import REQUEST_TIMEOUT, core
from wallaroo_operator.rfc3339 import now_rfc3339

# The annotations kube/results_store.py writes on every part.
PARTS_ANNOTATION = f"{c.GROUP}/parts"
TOTAL_ROWS_ANNOTATION = f"{c.GROUP}/total-rows"
PARTIAL_ANNOTATION = f"{c.GROUP}/partial"


@dataclass(frozen=True)
class RunResults:
    config_maps: list[str]  # in part order
    rows: int
    written_at: str  # the newest part's creationTimestamp (RFC 3339)


def find_complete_results(namespace: str, job_name: str, job_uid: str, run_id: str) -> RunResults | None:
    """The run's results, when every part of them exists; None when there are none or only some."""
    items = core().list_namespaced_config_map(
        namespace, label_selector=f"{c.JOB_LABEL}={job_name},{c.RUN_LABEL}={run_id}",
        _request_timeout=REQUEST_TIMEOUT).items
    parts = [cm for cm in items if cm.metadata and any(ref.uid == job_uid
                                                       for ref in cm.metadata.owner_references or [])]
    return complete_results(parts)


def complete_results(parts: list) -> RunResults | None:
    """Pure part of find_complete_results: `parts` are V1ConfigMaps of one run."""
    if not parts:
        return None
    annotations = [cm.metadata.annotations or {} for cm in parts]
    expected = {a.get(PARTS_ANNOTATION) for a in annotations}
    if len(expected) != 1 or any(a.get(PARTIAL_ANNOTATION) != "false" for a in annotations):
        return None
    try:
        if int(expected.pop() or "") != len(parts):
            return None
        rows = int(annotations[0].get(TOTAL_ROWS_ANNOTATION) or "")
        ordered = sorted(parts, key=lambda cm: int((cm.metadata.labels or {}).get(c.PART_LABEL) or ""))
    except ValueError:
        return None  # not written by us as we write them: do not trust it
    stamps = [cm.metadata.creation_timestamp for cm in parts if cm.metadata.creation_timestamp]
    return RunResults([cm.metadata.name for cm in ordered], rows, now_rfc3339(max(stamps)) if stamps else "")
