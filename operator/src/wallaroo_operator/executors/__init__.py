"""Executors: where a run's worker executes. `job` (the default in manifests/deployment.yaml): a batch/v1
Job of the operator's own image per run. `local` (`make run`, tests without a node): the same worker as
a child process of the operator, with a memory limit. Either way the operator never holds rows or outputs.
"""

from __future__ import annotations

from wallaroo_operator.executors.base import Executor
from wallaroo_operator.settings import Settings

EXECUTOR_ENV = Settings.variable("executor")
EXECUTORS = ("local", "job")
_current: Executor | None = None


def current() -> Executor:
    """The executor named by $WALLAROO_OPERATOR_EXECUTOR (set from --executor by the entrypoint); read
    at each call, since tests start operators with either executor in one process."""
    global _current
    name = Settings.from_environment().executor
    if _current is None or _current.name != name:
        if name == "job":
            from wallaroo_operator.executors.kubejob import JobExecutor

            _current = JobExecutor()
        elif name == "local":
            from wallaroo_operator.executors.local import LocalExecutor

            _current = LocalExecutor()
        else:
            raise ValueError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")
    return _current
