"""Outputs kept inline only (results.configMaps: IfNotInline) get a results ConfigMap after all when the
run's final status write fails: the run's results then exist outside the operator's memory, so an
operator that restarts before the write lands records the run from them (kube/recovery.py) instead of
sending its rows to Wallaroo again."""

from __future__ import annotations

import logging
from typing import Any

from wallaroo_operator.data.results import ResultChunk, row_json
from wallaroo_operator.kube import client, results_store

log = logging.getLogger(__name__)


def needs_results_config_map(record: dict[str, Any]) -> bool:
    return (
        record.get("state") == "Succeeded"
        and record.get("outputs") is not None
        and not record.get("resultConfigMaps")
        and not record.get("resultsUri")
    )


def inline_chunk(outputs: list[dict[str, Any]]) -> ResultChunk:
    """The outputs as the worker would have stored them: one part, the shard's last, rows from 0."""
    payload = "[" + ",".join(row_json(index, row) for index, row in enumerate(outputs)) + "]"
    return ResultChunk(0, 0, len(outputs), payload, last=True)


async def store_inline_results(metadata: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write each finished run's inline outputs as its results ConfigMap and name it in the record (which the
    pending status write then carries). Never raises: the status write goes on retrying either way."""
    for record in filter(needs_results_config_map, records):
        target = results_store.RunResultsTarget(
            metadata["namespace"], metadata["name"], metadata["uid"], record["id"], 1
        )
        try:
            name = await client.call(results_store.create_part, target, 0, inline_chunk(record["outputs"]))
        except Exception as error:
            log.warning(
                "could not store the results of run %s while its status is not written: %s",
                record["id"],
                getattr(error, "reason", None) or type(error).__name__,
            )
            continue
        record["resultConfigMaps"] = [name]
