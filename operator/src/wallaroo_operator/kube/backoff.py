"""Kubernetes calls that ride out an API server outage: retried with backoff while the failure is transient
(no answer, 429, 5xx), within a time budget. Past the budget the caller gets KubernetesUnavailable, whose
reason and message say what could not be done and for how long; any other error is raised at once.

Used by the worker for every call it makes (a run must not be lost, or its rows sent twice, because the
API server restarted meanwhile) and by the executors for reading the workers' reports."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import kubernetes
import urllib3

from wallaroo_operator.settings import Settings

if TYPE_CHECKING:
    from wallaroo_operator.controller.errors import RunError

BUDGET_ENV = Settings.variable("kube_retry_budget_seconds")  # default 300 s: an API server restart, with room
FIRST_DELAY_SECONDS, MAX_DELAY_SECONDS = 0.25, 10.0

T = TypeVar("T")
log = logging.getLogger(__name__)


class KubernetesUnavailable(Exception):
    """The API server did not answer within the budget."""

    reason = "KubernetesUnavailable"

    @property
    def run_error(self) -> RunError:
        # Classified like a worker's report (controller.errors.classify): transient, so retried.
        from wallaroo_operator.controller.errors import Disposition, RunError

        return RunError(self.reason, str(self), Disposition.RETRY)


def is_transient(error: BaseException) -> bool:
    """No answer (refused, reset, timed out) or an answer that says: try again later."""
    if isinstance(error, kubernetes.client.ApiException):
        return error.status in (429, 500, 502, 503, 504)
    return isinstance(error, (urllib3.exceptions.HTTPError, OSError))


def describe(error: BaseException) -> str:
    """Safe to log and show: the HTTP status and reason, or the exception type (never a body)."""
    if isinstance(error, kubernetes.client.ApiException):
        return f"{error.status} {error.reason or ''}".rstrip()
    return type(error).__name__


def budget_seconds() -> float:
    return Settings.from_environment().kube_retry_budget_seconds  # read per call: a worker's budget, set by its env


def call(
    fn: Callable[[], T],
    *,
    what: str,
    budget: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`fn()`, retried on transient failures with doubling delays until `budget` seconds have passed."""
    budget = budget_seconds() if budget is None else budget
    deadline = clock() + budget
    delay, failures = FIRST_DELAY_SECONDS, 0
    while True:
        try:
            result = fn()
        except Exception as error:
            if not is_transient(error):
                raise
            failures += 1
            if clock() + delay > deadline:
                raise KubernetesUnavailable(
                    f"the Kubernetes API server did not answer {what} for {budget:.0f} s ({failures} attempts, "
                    f"last: {describe(error)})"
                ) from None
            if failures == 1:
                log.warning(
                    "Kubernetes API unavailable %s (%s); retrying for up to %.0f s", what, describe(error), budget
                )
            sleep(delay)
            delay = min(MAX_DELAY_SECONDS, delay * 2)
            continue
        if failures:
            log.info("Kubernetes API answered %s again after %d failed attempts", what, failures)
        return result
