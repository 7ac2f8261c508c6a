"""status.history: finished runs within the job's history limits, newest first, and the results of the
runs pruned from it."""

from __future__ import annotations

from typing import Any

import kopf

from wallaroo_operator.controller.run import prune_object_store_results
from wallaroo_operator.kube import client, results_store
from wallaroo_operator.models.job import RunRecord
from wallaroo_operator.schedule import prune_history

# Only lastRun carries these: a history entry repeating them would show each twice in `kubectl describe`.
LAST_RUN_ONLY = ("outputs", "summary", "progress")


def history_entry(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in LAST_RUN_ONLY}


def history_with(
    base: list[dict[str, Any]], record: dict[str, Any], *, successful_limit: int, failed_limit: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """`base` with `record` added, newest start first (runs that overlap may finish in another order),
    pruned to the limits; and the ids of the runs dropped that may have left results behind."""
    history = [history_entry(record)] + [h for h in base if h.get("id") != record["id"]]
    history.sort(key=lambda h: (h.get("startTime") is None, h.get("startTime") or ""), reverse=True)  # stable
    kept, dropped = prune_history(
        [RunRecord.model_validate(h) for h in history], successful_limit=successful_limit, failed_limit=failed_limit
    )
    kept_ids = {k.id for k in kept}
    return [h for h in history if h["id"] in kept_ids], [d.id for d in dropped if may_have_results(d)]


def may_have_results(record: RunRecord) -> bool:
    """False for a run recorded with no results ConfigMaps and no object-store results (its outputs were
    inline only): pruning it needs no listing of ConfigMaps."""
    return record.result_config_maps != [] or record.results_uri is not None


async def delete_pruned_results(body: kopf.Body, run_ids: list[str]) -> None:
    """Called once the history without these runs has landed: their results go with them (their objects in
    the store too when results.objectStore.prune is true)."""
    namespace, name = body.metadata["namespace"], body.metadata["name"]
    for run_id in run_ids:
        await client.call(results_store.delete_run_results, namespace, name, run_id)
    await client.call(prune_object_store_results, namespace, name, body.metadata["uid"], dict(body.spec or {}), run_ids)
