"""Credentials, token lifetimes and the token provider's cache (with a fake clock, no HTTP)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from wallaroo_operator.wallaroo import Credentials, InvalidConnection, TokenCache, refresh_margin
from wallaroo_operator.wallaroo.auth import (
    AuthenticationFailed,
    Renewal,
    TokenProvider,
    TokenSet,
    plan_renewal,
)

TOKEN_URL = "https://x.keycloak.example/auth/realms/master/protocol/openid-connect/token"
SECRET = "client-secret-value"
PASSWORD = "user-password-value"


def credentials(**overrides: Any) -> Credentials:
    fields = dict(client_id="api-client", client_secret=SECRET, grant="password",
                  username="demo@example.com", password=PASSWORD) | overrides
    return Credentials(**fields)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedKeycloak(TokenProvider):
    """A provider whose token endpoint is replaced by a script (the HTTP exchange is the seam)."""

    def __init__(self, clock: FakeClock, *, expires_in: float = 300, refresh_expires_in: float = 1800,
                 refuse_refresh: bool = False, delay: float = 0.0) -> None:
        super().__init__(TOKEN_URL, credentials(), clock=clock)
        self.expires_in, self.refresh_expires_in = expires_in, refresh_expires_in
        self.refuse_refresh, self.delay = refuse_refresh, delay
        self.grants: list[str] = []

    def _exchange(self, form: dict[str, Any], what: str) -> dict[str, Any]:
        time.sleep(self.delay)
        self.grants.append(form["grant_type"])
        if form["grant_type"] == "refresh_token" and self.refuse_refresh:
            raise AuthenticationFailed("invalid_grant: Token is not active")
        n = len(self.grants)
        return {"access_token": f"access-{n}", "refresh_token": f"refresh-{n}",
                "expires_in": self.expires_in, "refresh_expires_in": self.refresh_expires_in}


# ---- Credentials ---------------------------------------------------------------------------


def test_credentials_never_show_secrets() -> None:
    creds = credentials()
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in text and PASSWORD not in text
        assert "api-client" in text


def test_cache_key_separates_different_secrets() -> None:
    a, b = credentials(), credentials(password="another-password")
    assert a.cache_key(TOKEN_URL) == credentials().cache_key(TOKEN_URL)
    assert a.cache_key(TOKEN_URL) != b.cache_key(TOKEN_URL)
    assert a.cache_key(TOKEN_URL) != a.cache_key(TOKEN_URL + "2")
    assert not any(SECRET in str(part) or PASSWORD in str(part) for part in a.cache_key(TOKEN_URL))


def test_cache_key_is_not_fooled_by_moving_characters_between_secrets() -> None:
    a = credentials(client_secret="ab", password="c")
    b = credentials(client_secret="a", password="bc")
    assert a.cache_key(TOKEN_URL) != b.cache_key(TOKEN_URL)


def test_password_grant_needs_user_and_password() -> None:
    with pytest.raises(InvalidConnection):
        credentials(password=None)
    with pytest.raises(InvalidConnection):
        credentials(grant="device_code")
    service = credentials(grant="client_credentials", username=None, password=None)
    assert service.principal == "client 'api-client'"


# ---- lifetimes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "margin"),
    [(3600, 360), (300, 30), (60, 10), (100, 10), (12, 6), (4, 2)],
)
def test_refresh_margin(lifetime: float, margin: float) -> None:
    assert refresh_margin(lifetime) == margin


def token_set(now: float = 0.0, expires_in: float = 300, refresh_expires_in: float | None = 1800,
              refresh: str | None = "r") -> TokenSet:
    body = {"access_token": "a", "expires_in": expires_in, "refresh_token": refresh,
            "refresh_expires_in": refresh_expires_in}
    return TokenSet.from_response(body, now)


def test_plan_renewal_over_a_tokens_life() -> None:
    tokens = token_set()
    assert plan_renewal(None, 0) is Renewal.LOGIN
    assert plan_renewal(tokens, 0) is Renewal.USE
    assert plan_renewal(tokens, 269.9) is Renewal.USE  # margin: 10 % of 300 s
    assert plan_renewal(tokens, 270) is Renewal.REFRESH
    assert plan_renewal(tokens, 1619.9) is Renewal.REFRESH  # refresh token margin: 180 s
    assert plan_renewal(tokens, 1620) is Renewal.LOGIN


def test_plan_renewal_without_refresh_token_logs_in() -> None:
    assert plan_renewal(token_set(refresh=None), 280) is Renewal.LOGIN


def test_refresh_token_without_expiry_is_used() -> None:
    assert plan_renewal(token_set(refresh_expires_in=0), 10_000) is Renewal.REFRESH


def test_token_set_requires_access_token_and_lifetime() -> None:
    with pytest.raises(Exception, match="access_token"):
        TokenSet.from_response({"token_type": "Bearer"}, 0)


def test_token_set_repr_hides_tokens() -> None:
    tokens = TokenSet.from_response({"access_token": "SECRET-ACCESS", "expires_in": 60,
                                     "refresh_token": "SECRET-REFRESH"}, 0)
    assert "SECRET" not in repr(tokens)


# ---- TokenProvider -------------------------------------------------------------------------


def test_cached_token_is_reused() -> None:
    clock = FakeClock()
    provider = ScriptedKeycloak(clock)
    assert {provider.token() for _ in range(5)} == {"access-1"}
    clock.now += 200
    assert provider.token() == "access-1"
    assert provider.grants == ["password"]


def test_token_is_refreshed_before_expiry_with_the_refresh_token() -> None:
    clock = FakeClock()
    provider = ScriptedKeycloak(clock)
    provider.token()
    clock.now += 271  # inside the 30 s margin, before the 300 s expiry
    assert provider.token() == "access-2"
    assert provider.grants == ["password", "refresh_token"]
    assert provider.stats().refreshes == 1 and provider.stats().logins == 1


def test_expired_refresh_token_means_a_new_login() -> None:
    clock = FakeClock()
    provider = ScriptedKeycloak(clock, expires_in=300, refresh_expires_in=200)
    provider.token()
    clock.now += 280
    assert provider.token() == "access-2"
    assert provider.grants == ["password", "password"]


def test_refused_refresh_falls_back_to_login() -> None:
    clock = FakeClock()
    provider = ScriptedKeycloak(clock, refuse_refresh=True)
    provider.token()
    clock.now += 290
    assert provider.token() == "access-3"
    assert provider.grants == ["password", "refresh_token", "password"]
    assert provider.stats().logins == 2 and provider.stats().refreshes == 0


def test_invalidate_forgets_only_the_rejected_token() -> None:
    provider = ScriptedKeycloak(FakeClock())
    first = provider.token()
    assert not provider.invalidate("some-older-token")
    assert provider.token() == first
    assert provider.invalidate(first)
    assert not provider.invalidate(first)  # a second batch holding the same token
    assert provider.token() == "access-2"
    assert provider.stats().logins == 2 and provider.stats().invalidations == 1


def test_concurrent_callers_cause_one_login() -> None:
    provider = ScriptedKeycloak(FakeClock(), delay=0.05)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(provider.token())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {"access-1"}
    assert provider.grants == ["password"]


def test_secret_values_cover_credentials_and_tokens() -> None:
    provider = ScriptedKeycloak(FakeClock())
    provider.token()
    assert set(provider.secret_values()) == {SECRET, PASSWORD, "access-1", "refresh-1"}


# ---- TokenCache ----------------------------------------------------------------------------


def test_token_cache_shares_providers_per_connection_and_credentials() -> None:
    cache = TokenCache()
    first = cache.provider_for(TOKEN_URL, credentials())
    assert cache.provider_for(TOKEN_URL, credentials()) is first
    assert cache.provider_for(TOKEN_URL, credentials(client_secret="other")) is not first
    assert cache.provider_for(TOKEN_URL, credentials(), verify="/ca.pem") is not first
    assert len(cache) == 3
    cache.clear()
    assert len(cache) == 0
