"""Prometheus metrics: what a platform team alerts on (failed runs, retries, run time, active runs)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RUNS = Counter("wallaroo_operator_runs_total", "Finished runs by outcome.", ["namespace", "outcome"])
ROWS = Counter("wallaroo_operator_rows_total", "Rows inferred by successful runs.", ["namespace"])
RETRIES = Counter("wallaroo_operator_request_retries_total", "Inference requests retried.", ["namespace"])
RUN_SECONDS = Histogram(
    "wallaroo_operator_run_duration_seconds",
    "Inference time of successful runs.",
    ["namespace"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
ACTIVE_RUNS = Gauge("wallaroo_operator_active_runs", "Runs in progress (including those waiting).")


def record_finished(namespace: str, record: dict[str, Any]) -> None:
    RUNS.labels(namespace, record["state"]).inc()
    if record["state"] == "Succeeded":
        ROWS.labels(namespace).inc(record.get("rows", 0))
        RETRIES.labels(namespace).inc(record.get("retries", 0))
        RUN_SECONDS.labels(namespace).observe(record.get("durationSeconds", 0.0))


def serve(port: int) -> None:
    start_http_server(port, addr="0.0.0.0")
