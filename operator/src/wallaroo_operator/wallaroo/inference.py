"""Batched, parallel, retried inference against a pipeline's external URL.

Per request: a 401 gets one fresh login and one retry; a 404 (deployment not found,
as after a redeploy) gets the URL re-resolved once and one retry; timeouts,
connection errors, 5xx and 429 are retried with backoff while both the request's
retry limit and the run's retry budget allow; other 4xx fail at once. The first
batch that fails for good fails the run: no partial results are returned.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from . import http
from .auth import TokenProvider, post_with_token
from .errors import (
    AuthenticationFailed,
    InvalidInput,
    PipelineNotDeployed,
    RequestRejected,
    RetryBudgetExhausted,
    ServerError,
    UnexpectedResponse,
    Unreachable,
    WallarooError,
)
from .formats import EncodedRequest, RequestFormat, RowOutputs, encode_batch, parse_outputs
from .retry import RetryBudget, RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

# Failures worth another attempt within the run (TLS and 4xx never are).
TRANSIENT_ERRORS = (Unreachable, ServerError)
# How often the scheduler looks at the cancel event while batches are in flight.
CANCEL_POLL_SECONDS = 0.1
DEFAULT_RETRY = RetryPolicy()


class UrlResolver(Protocol):
    def __call__(self, force: bool = False) -> str: ...


@dataclass(frozen=True)
class Batch:
    index: int
    start: int  # index of the batch's first row in the input
    rows: Sequence[Any]

    @property
    def label(self) -> str:
        return f"batch {self.index} (rows {self.start}-{self.start + len(self.rows) - 1})"


@dataclass(frozen=True)
class BatchProgress:
    """Passed to ``on_batch_done`` (in the thread that called :func:`run_inference`)."""

    batch_index: int
    rows_done: int
    rows_total: int
    batches_done: int
    batches_total: int


@dataclass(frozen=True)
class OutputSummary:
    count: int
    min: float
    mean: float
    max: float


@dataclass(frozen=True)
class InferenceOutcome:
    outputs: list[RowOutputs]  # one entry per input row, in input order
    rows: int
    batches: int
    retries: int
    relogins: int
    url_resolutions: int  # re-resolutions after a 404 (the initial lookup not counted)
    elapsed_seconds: float

    def summary(self) -> dict[str, OutputSummary]:
        return summarize(self.outputs)


def split_batches(rows: Sequence[Any], batch_size: int) -> list[Batch]:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return [
        Batch(index, start, rows[start : start + batch_size])
        for index, start in enumerate(range(0, len(rows), batch_size))
    ]


def summarize(outputs: Sequence[RowOutputs]) -> dict[str, OutputSummary]:
    """Per output name: count, min, mean and max over all values of all rows."""
    values: dict[str, list[float]] = {}
    for row in outputs:
        for name, row_values in row.items():
            values.setdefault(name, []).extend(row_values)
    return {name: OutputSummary(len(v), min(v), math.fsum(v) / len(v), max(v)) for name, v in values.items() if v}


def inference_error(status: int, description: str, what: str) -> WallarooError:
    """The error for a failed inference answer (after any 401/404 second chance)."""
    message = f"{what}: {description}"
    if status == 400:
        return InvalidInput(message, status=status)
    if status == 401:
        return AuthenticationFailed(f"{message}; the endpoint refused a fresh token", status=status)
    if status == 404:
        return PipelineNotDeployed(
            f"{message}; still not found after re-resolving the URL: is the pipeline deployed?",
            status=status,
        )
    if status == 503 and "load-balancer" in description:
        # Observed for large uploads as well as while a pipeline is being activated.
        return ServerError(f"{message} (a smaller batch size may help)", status=status)
    if status >= 500 or status == 429:
        return ServerError(message, status=status)
    if status == 413:
        return RequestRejected(f"{message}; use a smaller batch size", status=status)
    return RequestRejected(message, status=status)


class _Aborted(Exception):
    """A batch stopped early because the run is cancelled or already failed."""


class _Run:
    """State shared by the batches of one run: URL, counters, budget, abort flag."""

    def __init__(
        self,
        resolver: UrlResolver,
        tokens: TokenProvider,
        session: requests.Session,
        *,
        input_name: str,
        request_format: RequestFormat,
        policy: RetryPolicy,
        verify: http.Verify,
        timeout: http.Timeout,
    ) -> None:
        self._resolver = resolver
        self._tokens = tokens
        self._session = session
        self._input_name = input_name
        self._format = request_format
        self._policy = policy
        self._verify = verify
        self._timeout = timeout
        self.budget = RetryBudget(policy.budget)
        self.abort = threading.Event()
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._url = resolver(force=False)
        self.relogins = 0
        self.url_resolutions = 0

    def run_batch(self, batch: Batch) -> list[RowOutputs]:
        request = encode_batch(batch.rows, self._input_name, self._format)
        what = f"inference {batch.label}"
        retries, reresolved = 0, False
        while True:
            if self.abort.is_set():
                raise _Aborted
            url = self._current_url()
            response, failure = self._attempt(url, request, what)
            if failure is None:
                assert response is not None
                return self._parse(response, batch, what)
            if failure.status == 404 and not reresolved:  # a redeploy changes the URL
                reresolved = True
                self._reresolve(stale_url=url)
                continue
            if not isinstance(failure, TRANSIENT_ERRORS):
                raise failure
            self._wait_before_retry(failure, retries, _retry_after(response))
            retries += 1

    def _attempt(
        self, url: str, request: EncodedRequest, what: str
    ) -> tuple[requests.Response | None, WallarooError | None]:
        """One POST: the response (if any) and the error it amounts to (if any)."""
        try:
            answer = post_with_token(
                self._tokens,
                self._session,
                url,
                what=what,
                data=request.body,
                headers=request.headers,
                params=request.params,
                verify=self._verify,
                timeout=self._timeout,
            )
        except TRANSIENT_ERRORS as exc:  # network trouble, or Keycloak busy while renewing
            return None, exc
        if answer.relogged_in:
            self._count_relogin()
        response = answer.response
        if response.ok:
            return response, None
        description = http.describe_response(response, self._tokens.secret_values())
        return response, inference_error(response.status_code, description, what)

    def _wait_before_retry(self, failure: WallarooError, retries: int, retry_after: float | None) -> None:
        if retries >= self._policy.max_retries_per_request:
            raise type(failure)(f"{failure.message} (gave up after {retries} retries)", status=failure.status)
        if not self.budget.try_spend():
            raise RetryBudgetExhausted(self.budget.total, failure)
        delay = self._policy.delay(retries, retry_after, self._rng)
        log.debug("retrying in %.2fs: %s", delay, failure.message)
        if self.abort.wait(delay):
            raise _Aborted

    def _parse(self, response: requests.Response, batch: Batch, what: str) -> list[RowOutputs]:
        try:
            body = response.content if self._format == "arrow" else http.decode_json(response.content)
        except ValueError:
            raise UnexpectedResponse(f"{what}: the endpoint answered non-JSON") from None
        try:
            return parse_outputs(body, self._format, len(batch.rows))
        except UnexpectedResponse as exc:
            raise UnexpectedResponse(f"{what}: {exc.message}") from None

    def _current_url(self) -> str:
        with self._lock:
            return self._url

    def _reresolve(self, stale_url: str) -> None:
        """Look the URL up again, once for all batches that saw the same stale URL."""
        with self._lock:
            if self._url != stale_url:
                return  # another batch already re-resolved it
            self._url = self._resolver(force=True)
            self.url_resolutions += 1

    def _count_relogin(self) -> None:
        with self._lock:
            self.relogins += 1


def _retry_after(response: requests.Response | None) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
