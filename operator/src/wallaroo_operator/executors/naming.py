"""Deterministic names per run: a restarted operator finds the worker of an active run by name."""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 52  # a Job's name is a label value (63), and the Job controller appends -<index>-<5 chars> to Pods


def worker_name(job_name: str, run_id: str) -> str:
    """`<job>-<run>` when short enough, else truncated with a hash of both; a DNS-1123 label."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{job_name}-{run_id}".lower()).strip("-")
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(f"{job_name}/{run_id}".encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-')}-{digest}"
