"""The operator's token handed to a worker: the worker's requests need no login of their own."""

from __future__ import annotations

import json

from wallaroo_operator.wallaroo import TokenProvider, WallarooApi
from wallaroo_operator.wallaroo.auth import refresh_margin
from wallaroo_operator.wallaroo.http import new_session
from wallaroo_operator.wallaroo.token_handoff import TOKEN_ENV, adopt_from_environment, token_environment
from wallaroo_simulator import RunningSimulator

from .conftest import ALOHA, credentials_for, grants, provider_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_with_the_handed_token_does_not_log_in(sim: RunningSimulator, tokens: TokenProvider) -> None:
    environment = token_environment(tokens)  # the operator: logs in once
    assert grants(sim) == {"password": 1}
    for _ in range(3):  # three runs' workers, each with a fresh provider
        worker = provider_for(sim)
        assert adopt_from_environment(worker, environment)
        WallarooApi(sim.api_url, worker).workspace_id(ALOHA[0])
    assert grants(sim) == {"password": 1}


def test_a_handed_token_near_its_expiry_is_still_used_by_the_worker(sim: RunningSimulator) -> None:
    clock = FakeClock()
    operator = TokenProvider(
        sim.keycloak_token_url, credentials_for(sim), new_session(), clock=clock, verify=sim.verify
    )
    token_environment(operator)
    clock.now += 3600 - refresh_margin(3600) - 1  # the operator's own renewal is due in a second
    handed = token_environment(operator)
    assert json.loads(handed[TOKEN_ENV])["expires_in"] < refresh_margin(3600)
    worker = provider_for(sim)
    adopt_from_environment(worker, handed)
    WallarooApi(sim.api_url, worker).workspace_id(ALOHA[0])
    assert grants(sim) == {"password": 1}  # neither renewed early


def test_a_malformed_handoff_is_ignored_and_the_worker_logs_in(sim: RunningSimulator) -> None:
    worker = provider_for(sim)
    for value in ("", "not json", '{"access_token": 1, "expires_in": 5, "lifetime": 9}', '{"x": 1}'):
        assert not adopt_from_environment(worker, {TOKEN_ENV: value})
    WallarooApi(sim.api_url, worker).workspace_id(ALOHA[0])
    assert grants(sim) == {"password": 1}


def test_a_rejected_handed_token_leads_to_one_login(sim: RunningSimulator) -> None:
    worker = provider_for(sim)
    adopt_from_environment(worker, {TOKEN_ENV: '{"access_token": "stale", "expires_in": 100, "lifetime": 300}'})
    WallarooApi(sim.api_url, worker).workspace_id(ALOHA[0])  # 401, then a login of its own
    assert grants(sim) == {"password": 1}
