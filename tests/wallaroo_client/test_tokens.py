"""Token reuse, renewal during a run, the 401 re-login, and refused credentials."""

from __future__ import annotations

import pytest

from wallaroo_operator.wallaroo import (
    AuthenticationFailed,
    TokenProvider,
    WallarooApi,
    run_inference,
)
from wallaroo_operator.wallaroo.http import new_session
from wallaroo_simulator import KEYCLOAK_TARGET, MLOPS_TARGET, RunningSimulator

from .conftest import (
    ALOHA,
    FAST_RETRY,
    aloha_rows,
    credentials_for,
    expected,
    grants,
    provider_for,
    requests_to,
    resolver_for,
    statuses_of,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def slow_run(sim: RunningSimulator, api: WallarooApi, batches: int = 40):
    """A run of about four seconds: 40 batches of 0.2 s, two at a time."""
    sim.admin.set_faults("urldemopipeline", latency_seconds=0.2)
    data = aloha_rows(batches * 2)
    outcome = run_inference(
        resolver_for(api, ALOHA),
        data,
        input_name="text_input",
        batch_size=2,
        parallelism=2,
        tokens=api.tokens,
        retry=FAST_RETRY,
    )
    assert outcome.outputs == expected(sim, "urldemopipeline", data, legacy=True)
    return outcome


def test_short_tokens_are_refreshed_during_a_run(sim: RunningSimulator, api: WallarooApi) -> None:
    sim.admin.set_token_lifetimes(access_seconds=2, refresh_seconds=60)
    outcome = slow_run(sim, api)
    assert outcome.relogins == 0 and "401" not in statuses_of(sim, "infer")
    assert grants(sim)["password"] == 1
    assert grants(sim)["refresh_token"] >= 2


def test_expired_refresh_token_leads_to_a_new_login(sim: RunningSimulator, api: WallarooApi) -> None:
    sim.admin.set_token_lifetimes(access_seconds=2, refresh_seconds=2)
    outcome = slow_run(sim, api)
    assert outcome.relogins == 0 and "401" not in statuses_of(sim, "infer")
    assert grants(sim)["password"] >= 2


def test_refresh_and_login_on_a_controlled_clock(sim: RunningSimulator) -> None:
    sim.admin.set_token_lifetimes(access_seconds=300, refresh_seconds=1800)
    clock = FakeClock()
    tokens = TokenProvider(sim.keycloak_token_url, credentials_for(sim), new_session(), clock=clock)
    api = WallarooApi(sim.api_url, tokens)
    first = tokens.token()
    clock.now = 260  # still fresh
    assert tokens.token() == first
    clock.now = 275  # within 10 % of expiry: refreshed with the refresh token
    second = tokens.token()
    assert second != first and grants(sim) == {"password": 1, "refresh_token": 1}
    assert api.workspace_id("urldemoworkspace") == 16  # the refreshed token works
    clock.now = 275 + 1650  # the new refresh token is within its 180 s margin: log in again
    tokens.token()
    assert grants(sim) == {"password": 2, "refresh_token": 1}


def test_inference_401_gets_one_fresh_login_and_one_retry(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    sim.admin.set_faults("urldemopipeline", fail_next=1, status=401)
    outcome = run_inference(resolver, aloha_rows(5), input_name="text_input", tokens=api.tokens)
    assert (outcome.relogins, outcome.retries) == (1, 0)
    assert grants(sim) == {"password": 2}


def test_inference_401_after_a_fresh_login_fails(sim: RunningSimulator, api: WallarooApi) -> None:
    resolver = resolver_for(api, ALOHA)
    sim.admin.set_faults("urldemopipeline", fail_next=10, status=401)
    with pytest.raises(AuthenticationFailed, match="Jwt is missing"):
        run_inference(resolver, aloha_rows(5), input_name="text_input", tokens=api.tokens)
    assert requests_to(sim, "infer") == 2
    assert grants(sim) == {"password": 2}


def test_api_401_gets_one_fresh_login_and_one_retry(sim: RunningSimulator, api: WallarooApi) -> None:
    api.list_workspaces()
    sim.admin.set_faults(MLOPS_TARGET, fail_next=1, status=401)
    assert api.workspace_id("urldemoworkspace") == 16
    assert grants(sim) == {"password": 2}
    sim.admin.set_faults(MLOPS_TARGET, fail_next=2, status=401)
    with pytest.raises(AuthenticationFailed):
        api.list_workspaces()


def test_keycloak_hiccup_during_a_run_is_retried(sim: RunningSimulator, api: WallarooApi) -> None:
    url = resolver_for(api, ALOHA)()
    tokens = provider_for(sim)
    sim.admin.set_faults(KEYCLOAK_TARGET, fail_next=1, status=503)
    outcome = run_inference(
        lambda force=False: url, aloha_rows(3), input_name="text_input", tokens=tokens, retry=FAST_RETRY
    )
    assert outcome.retries == 1 and outcome.rows == 3


@pytest.mark.parametrize(
    ("overrides", "reason", "hint"),
    [
        (
            {"password": "wrong-password-123"},
            "InvalidCredentials",
            "the username or password of user 'demo.user@example.com' is wrong",
        ),
        (
            {"client_secret": "wrong-secret-456"},
            "InvalidClientCredentials",
            "check the client id 'api-client' and its secret",
        ),
        ({"username": "nobody@example.com"}, "InvalidCredentials", "the username or password of user"),
    ],
)
def test_refused_credentials(sim: RunningSimulator, overrides: dict[str, str], reason: str, hint: str) -> None:
    tokens = provider_for(sim, **overrides)
    with pytest.raises(AuthenticationFailed, match="HTTP 40") as caught:
        WallarooApi(sim.api_url, tokens).list_workspaces()
    assert caught.value.reason == reason
    assert hint in caught.value.message
    assert not caught.value.retryable
    for secret in (*overrides.values(), sim.password, sim.secret):
        if secret != "nobody@example.com":
            assert secret not in str(caught.value)
