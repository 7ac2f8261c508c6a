"""Inference over a stream of batches: outputs come back in input order while later batches are in flight.

The per-request behaviour (401 re-login, 404 re-resolution, transient retries within the run's retry
budget, no retry of other 4xx) is inference._Run's. Batches are pulled from an iterator only when a slot
is free, and each batch's outputs are handed to the caller as soon as the batches before it are done, so
at most `2 x parallelism` batches are held. The first batch is sent alone, so the caller can check its
outputs (their size, say) before the rest go. `run_inference` is the same over a list of rows, returning
all outputs at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import requests

from . import http
from .auth import TokenProvider
from .errors import InferenceCancelled, UnexpectedResponse, WallarooError
from .formats import RequestFormat, RowOutputs
from .inference import (
    CANCEL_POLL_SECONDS,
    DEFAULT_RETRY,
    Batch,
    BatchProgress,
    InferenceOutcome,
    UrlResolver,
    _Aborted,
    _Run,
    split_batches,
)
from .retry import RetryPolicy


@dataclass
class StreamStats:
    rows: int = 0
    batches: int = 0
    retries: int = 0
    relogins: int = 0
    url_resolutions: int = 0
    started: float = field(default_factory=time.monotonic)


def infer_stream(
    url_resolver: UrlResolver,
    batches: Iterable[Batch],
    *,
    input_name: str,
    request_format: RequestFormat = "legacy",
    parallelism: int = 4,
    retry: RetryPolicy = DEFAULT_RETRY,
    tokens: TokenProvider,
    verify: http.Verify = True,
    request_timeout: http.Timeout = http.INFERENCE_TIMEOUT,
    cancel: threading.Event | None = None,
    stats: StreamStats | None = None,
    rows_total: int = 0,
    session: requests.Session | None = None,
    first_alone: bool = True,
) -> Iterator[tuple[Batch, list[RowOutputs]]]:
    """Yield (batch, outputs) in input order. Raises the first batch's WallarooError that fails for good,
    and InferenceCancelled once `cancel` is set (after the requests under way finish). Without `session`,
    one of its own, closed with the stream."""
    if parallelism < 1:
        raise ValueError("parallelism must be at least 1")
    stats = stats if stats is not None else StreamStats()
    cancel = cancel or threading.Event()
    with ExitStack() as cleanup:
        if session is None:
            session = cleanup.enter_context(http.new_session(parallelism))
        run = _Run(
            url_resolver,
            tokens,
            session,
            input_name=input_name,
            request_format=request_format,
            policy=retry,
            verify=verify,
            timeout=request_timeout,
        )
        pool = cleanup.enter_context(ThreadPoolExecutor(parallelism, thread_name_prefix="wallaroo-inference"))
        try:
            yield from _ordered(run, pool, iter(batches), parallelism, cancel, stats, first_alone)
        except BaseException as exc:
            run.abort.set()  # batches in flight stop at their next wait
            if isinstance(exc, WallarooError) and not isinstance(exc, InferenceCancelled) and cancel.is_set():
                raise InferenceCancelled(stats.rows, rows_total) from None
            raise
        finally:
            stats.retries, stats.relogins, stats.url_resolutions = run.budget.used, run.relogins, run.url_resolutions
    if cancel.is_set():
        raise InferenceCancelled(stats.rows, rows_total)


def _ordered(
    run: _Run,
    pool: ThreadPoolExecutor,
    pending: Iterator[Batch],
    parallelism: int,
    cancel: threading.Event,
    stats: StreamStats,
    first_alone: bool,
) -> Iterator[tuple[Batch, list[RowOutputs]]]:
    in_flight: dict[Future[list[RowOutputs]], Batch] = {}
    done_early: dict[int, tuple[Batch, list[RowOutputs]]] = {}  # finished before an earlier batch
    next_index, exhausted = None, False
    while True:
        # The first batch alone; then up to `parallelism` sent or waiting to be handed over.
        room = 1 if first_alone and stats.batches == 0 else parallelism
        while not exhausted and not cancel.is_set() and len(in_flight) + len(done_early) < room:
            batch = next(pending, None)
            if batch is None:
                exhausted = True
                break
            next_index = batch.index if next_index is None else next_index
            in_flight[pool.submit(run.run_batch, batch)] = batch
        if not in_flight and not done_early:
            return
        if cancel.is_set():
            run.abort.set()  # interrupt backoff waits; requests under way finish
            if not in_flight:
                return
        done, _ = wait(in_flight, timeout=CANCEL_POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in done:
            batch = in_flight.pop(future)
            try:
                done_early[batch.index] = (batch, future.result())
            except _Aborted:
                continue
        while next_index in done_early:
            batch, outputs = done_early.pop(next_index)
            if len(outputs) != len(batch.rows):
                raise UnexpectedResponse(f"{batch.label}: got {len(outputs)} outputs")
            stats.rows += len(batch.rows)
            stats.batches += 1
            next_index += 1
            yield batch, outputs


def run_inference(
    url_resolver: UrlResolver,
    rows: Sequence[Any],
    *,
    input_name: str,
    request_format: RequestFormat = "legacy",
    batch_size: int = 100,
    parallelism: int = 4,
    retry: RetryPolicy = DEFAULT_RETRY,
    tokens: TokenProvider,
    session: requests.Session | None = None,
    verify: http.Verify = True,
    request_timeout: http.Timeout = http.INFERENCE_TIMEOUT,
    cancel: threading.Event | None = None,
    on_batch_done: Callable[[BatchProgress], None] | None = None,
) -> InferenceOutcome:
    """Infer all ``rows`` and return their outputs in input order (infer_stream over the list, `parallelism`
    requests in flight from the start; `on_batch_done` after each batch, in order).

    Raises :class:`InferenceCancelled` once ``cancel`` is set (after the batches in
    flight finish) and the first batch's :class:`WallarooError` when one fails for good.
    """
    if parallelism < 1:
        raise ValueError("parallelism must be at least 1")
    batches = split_batches(rows, batch_size)
    if cancel is not None and cancel.is_set():
        raise InferenceCancelled(0, len(rows))
    stats = StreamStats()
    outputs: list[RowOutputs] = []
    for _, batch_outputs in infer_stream(
        url_resolver,
        batches,
        input_name=input_name,
        request_format=request_format,
        parallelism=parallelism,
        retry=retry,
        tokens=tokens,
        verify=verify,
        request_timeout=request_timeout,
        cancel=cancel,
        stats=stats,
        rows_total=len(rows),
        session=session,
        first_alone=False,
    ):
        outputs.extend(batch_outputs)
        if on_batch_done is not None:
            on_batch_done(BatchProgress(stats.batches - 1, stats.rows, len(rows), stats.batches, len(batches)))
    return InferenceOutcome(
        outputs=outputs,
        rows=len(rows),
        batches=len(batches),
        retries=stats.retries,
        relogins=stats.relogins,
        url_resolutions=stats.url_resolutions,
        elapsed_seconds=time.monotonic() - stats.started,
    )
