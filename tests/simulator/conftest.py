"""Fixtures for the simulator's tests: a fresh in-process simulator per test, and tokens for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from wallaroo_simulator import RunningSimulator, run_simulator


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with run_simulator() as running:
        yield running


def password_grant(sim: RunningSimulator, token_url: str | None = None) -> dict:
    """The seed tutorial's token request: HTTP Basic client credentials, password grant."""
    form = {"grant_type": "password", "username": sim.username, "password": sim.password}
    response = requests.post(
        token_url or sim.token_url, auth=(sim.client, sim.secret), data=form, verify=sim.verify, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def token(sim: RunningSimulator) -> str:
    return password_grant(sim)["access_token"]


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
