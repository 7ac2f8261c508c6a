"""The Wallaroo client against the project's simulator: a real HTTP server on loopback, never a mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.data import aloha_rows, ccfraud_rows  # noqa: F401 - re-exported for these tests
from wallaroo_operator.wallaroo import (
    Credentials,
    ExternalUrlResolver,
    RetryPolicy,
    TokenProvider,
    WallarooApi,
)
from wallaroo_operator.wallaroo.formats import legacy_output_name
from wallaroo_operator.wallaroo.http import new_session
from wallaroo_simulator import RunningSimulator, expected_outputs, run_simulator

ALOHA = ("urldemoworkspace", "urldemopipeline")  # legacy URL form, text_input of 50 ints, 15 outputs
CCFRAUD = ("ccfraudworkspace", "ccfraudpipeline")  # current URL form, tensor of 29 floats, dense_1

# Short waits so retry tests stay fast; Retry-After is still honoured (capped at 2 s).
FAST_RETRY = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, max_retry_after=2.0)


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with run_simulator() as running:
        yield running


def credentials_for(sim: RunningSimulator, **overrides: Any) -> Credentials:
    fields = (
        dict(
            client_id=sim.client,
            client_secret=sim.secret,
            grant="password",
            username=sim.username,
            password=sim.password,
        )
        | overrides
    )
    return Credentials(**fields)


def provider_for(sim: RunningSimulator, token_url: str | None = None, **overrides: Any) -> TokenProvider:
    """A fresh provider (not the process-wide cache), by default on the seed era's separate Keycloak host."""
    return TokenProvider(
        token_url or sim.keycloak_token_url, credentials_for(sim, **overrides), new_session(), verify=sim.verify
    )


@pytest.fixture
def tokens(sim: RunningSimulator) -> TokenProvider:
    return provider_for(sim)


@pytest.fixture
def api(sim: RunningSimulator, tokens: TokenProvider) -> WallarooApi:
    return WallarooApi(sim.api_url, tokens, new_session(), verify=sim.verify)


def resolver_for(api: WallarooApi, workspace_and_pipeline: tuple[str, str]) -> ExternalUrlResolver:
    workspace, pipeline = workspace_and_pipeline
    return ExternalUrlResolver(api, api.workspace_id(workspace), pipeline)


def expected(sim: RunningSimulator, pipeline: str, rows: list[list[Any]], legacy: bool) -> list[dict[str, list[float]]]:
    """What the simulator's model answers per row; legacy names outputs by position."""
    config = sim.config.pipeline(pipeline)
    rows_out = [expected_outputs(config, row) for row in rows]
    if not legacy:
        return rows_out
    return [{legacy_output_name(i, len(row)): values for i, values in enumerate(row.values())} for row in rows_out]


def grants(sim: RunningSimulator) -> dict[str, int]:
    return sim.admin.counters()["grants"]


def requests_to(sim: RunningSimulator, endpoint: str) -> int:
    return sim.admin.counters()["requests"].get(endpoint, 0)


def statuses_of(sim: RunningSimulator, endpoint: str) -> dict[str, int]:
    return sim.admin.counters()["statuses"].get(endpoint, {})
