"""Kubernetes calls ride out an API server outage within a budget (kube/backoff.py); beyond it, a clear reason."""

from __future__ import annotations

import kubernetes
import pytest
import urllib3

from wallaroo_operator.controller.errors import Disposition, classify
from wallaroo_operator.kube import backoff


class FakeClock:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: Exception, result: str = "done"):
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return result

    return call, calls


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.MaxRetryError(None, "/", "refused"),
        ConnectionResetError(),
        kubernetes.client.ApiException(status=503),
        kubernetes.client.ApiException(429),
    ],
    ids=["no-answer", "reset", "503", "429"],
)
def test_transient_failures_are_retried_with_growing_delays(error: Exception) -> None:
    clock = FakeClock()
    call, calls = failing(5, error)

    assert backoff.call(call, what="reading", budget=60, sleep=clock.sleep, clock=lambda: clock.now) == "done"

    assert len(calls) == 6
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[0] < clock.sleeps[-1] <= backoff.MAX_DELAY_SECONDS


def test_beyond_the_budget_is_kubernetes_unavailable_with_a_clear_reason() -> None:
    clock = FakeClock()
    call, calls = failing(10**6, kubernetes.client.ApiException(status=503, reason="Service Unavailable"))

    with pytest.raises(backoff.KubernetesUnavailable) as raised:
        backoff.call(call, what="creating results part 3", budget=30, sleep=clock.sleep, clock=lambda: clock.now)

    assert clock.now <= 30 and len(calls) > 3
    message = str(raised.value)
    assert "creating results part 3" in message and "30 s" in message and "503 Service Unavailable" in message
    error = classify(raised.value)
    assert (error.reason, error.disposition) == ("KubernetesUnavailable", Disposition.RETRY)


@pytest.mark.parametrize(
    "error",
    [kubernetes.client.ApiException(status=403), kubernetes.client.ApiException(409), ValueError("a bug")],
    ids=["403", "409", "bug"],
)
def test_other_failures_are_raised_at_once(error: Exception) -> None:
    call, calls = failing(1, error)

    with pytest.raises(type(error)):
        backoff.call(call, what="x", budget=60, sleep=lambda _: pytest.fail("slept"))
    assert len(calls) == 1
