"""A run that cannot go on yet: waiting for a missing Secret, ConfigMap or connection, or for the retry
of a transient failure. Both back off, doubling from the base up to the cap (settings)."""

from __future__ import annotations

from wallaroo_operator.controller import events
from wallaroo_operator.controller.active import ActiveRun
from wallaroo_operator.controller.errors import RunError
from wallaroo_operator.controller.host import JobHost
from wallaroo_operator.settings import Settings


def backoff_delay(settings: Settings, attempt: int) -> float:
    doublings: int = min(max(0, attempt - 1), 32)
    return min(settings.retry_cap_seconds, settings.retry_base_seconds * 2.0**doublings)


async def wait_for_reference(host: JobHost, run: ActiveRun, error: RunError) -> None:
    """Pending with the reason until the next look; one event per distinct reason, not one per look."""
    message = f"{error.message}; waiting for it to appear"
    run.record.update(state="Pending", reason=error.reason, error=message)
    if host.last_wait_reason != error.reason:
        events.waiting(host.body, error)
        host.last_wait_reason = error.reason
    await host.update_active()
    run.waits += 1
    await run.sleep(backoff_delay(host.settings, run.waits))


async def retry_later(host: JobHost, run: ActiveRun, error: RunError, failures: int) -> None:
    delay = backoff_delay(host.settings, failures)
    run.record.update(state="Pending", reason=error.reason, error=error.message)
    events.run_retrying(host.body, run.id, error, failures, delay)
    await host.update_active()
    await run.sleep(delay)
