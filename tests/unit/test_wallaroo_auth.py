"""Credentials, token lifetimes and the token provider's cache (with a fake clock, no HTTP)."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from wallaroo_operator.wallaroo import (
    Credentials,
    InvalidConnection,
    TokenCache,
    refresh_margin,
)
from wallaroo_operator.wallaroo.auth import (
    REFUSAL_MEMORY_SECONDS,
    AuthenticationFailed,
    Renewal,
    TokenProvider,
    TokenSet,
    basic_authorization,
    plan_renewal,
    token_error,
)
from wallaroo_operator.wallaroo.errors import (
    AccountDisabled,
    AccountNotSetUp,
    ClientNotAllowed,
    InvalidClientCredentials,
    InvalidCredentials,
    ServerError,
    UnexpectedResponse,
)
from wallaroo_simulator.keycloak import form_url_decode

TOKEN_URL = "https://x.keycloak.example/auth/realms/master/protocol/openid-connect/token"
SECRET = "client-secret-value"
PASSWORD = "user-password-value"


def credentials(**overrides: Any) -> Credentials:
    fields = (
        dict(
            client_id="api-client",
            client_secret=SECRET,
            grant="password",
            username="demo@example.com",
            password=PASSWORD,
        )
        | overrides
    )
    return Credentials(**fields)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedKeycloak(TokenProvider):
    """A provider whose token endpoint is replaced by a script (the HTTP exchange is the seam)."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        expires_in: float = 300,
        refresh_expires_in: float = 1800,
        refuse_refresh: bool = False,
        delay: float = 0.0,
    ) -> None:
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
        return {
            "access_token": f"access-{n}",
            "refresh_token": f"refresh-{n}",
            "expires_in": self.expires_in,
            "refresh_expires_in": self.refresh_expires_in,
        }


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


def token_set(
    now: float = 0.0, expires_in: float = 300, refresh_expires_in: float | None = 1800, refresh: str | None = "r"
) -> TokenSet:
    body = {
        "access_token": "a",
        "expires_in": expires_in,
        "refresh_token": refresh,
        "refresh_expires_in": refresh_expires_in,
    }
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
    tokens = TokenSet.from_response(
        {"access_token": "SECRET-ACCESS", "expires_in": 60, "refresh_token": "SECRET-REFRESH"}, 0
    )
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


# ---- client authentication (RFC 6749 section 2.3.1) --------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "secret", "pair"),
    [
        ("api-client", "plain", "api-client:plain"),
        ("api-client", "a+b", "api-client:a%2Bb"),
        ("api-client", "100%", "api-client:100%25"),
        ("api:client", "x:y", "api%3Aclient:x%3Ay"),
        ("api-client", "é €", "api-client:%C3%A9+%E2%82%AC"),
    ],
)
def test_basic_authorization_form_url_encodes_before_base64(client_id: str, secret: str, pair: str) -> None:
    header = basic_authorization(client_id, secret)
    assert header.startswith("Basic ")
    assert base64.b64decode(header.removeprefix("Basic ")).decode("ascii") == pair


def test_basic_authorization_round_trips_through_keycloaks_decoding() -> None:
    secret = "p+q%20r:s%zz é€"
    decoded = base64.b64decode(basic_authorization("odd", secret).removeprefix("Basic ")).decode()
    client_id, _, sent = decoded.partition(":")
    assert (form_url_decode(client_id), form_url_decode(sent)) == ("odd", secret)


# ---- what a refusal says --------------------------------------------------------------------


def keycloak_answer(status: int, body: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, json.dumps(body).encode()
    return response


@pytest.mark.parametrize(
    ("status", "error", "description", "error_class", "says"),
    [
        (400, "invalid_grant", "Invalid user credentials", InvalidCredentials, "username or password of user"),
        (401, "invalid_grant", "Invalid user credentials", InvalidCredentials, "locked after failed logins"),
        (
            401,
            "unauthorized_client",
            "Invalid client or Invalid client credentials",
            InvalidClientCredentials,
            "check the client id 'api-client'",
        ),
        (401, "unauthorized_client", "Invalid client secret", InvalidClientCredentials, "secret of client"),
        (401, "invalid_client", "Invalid client or Invalid client credentials", InvalidClientCredentials, "client id"),
        (
            400,
            "unauthorized_client",
            "Unexpected error when authenticating client",
            InvalidClientCredentials,
            "client id",
        ),
        (400, "invalid_grant", "Account disabled", AccountDisabled, "is disabled; an administrator must enable it"),
        (400, "invalid_grant", "User disabled", AccountDisabled, "is disabled"),
        (400, "invalid_grant", "Account is not fully set up", AccountNotSetUp, "pending required actions"),
        (
            400,
            "unauthorized_client",
            "Client not allowed for direct access grants",
            ClientNotAllowed,
            "enable 'Direct access grants'",
        ),
        (
            401,
            "unauthorized_client",
            "Client not enabled to retrieve service account",
            ClientNotAllowed,
            "enable 'Service accounts'",
        ),
        (400, "invalid_grant", "Session not active", AuthenticationFailed, "refused the grant"),
        (
            400,
            "invalid_request",
            "Missing form parameter: grant_type",
            AuthenticationFailed,
            "token URL and credentials",
        ),
    ],
)
def test_each_refusal_names_its_cause(
    status: int, error: str, description: str, error_class: type[AuthenticationFailed], says: str
) -> None:
    refused = token_error(
        keycloak_answer(status, {"error": error, "error_description": description}),
        "logging in",
        credentials(),
        (SECRET, PASSWORD),
    )
    assert type(refused) is error_class and refused.reason == error_class.reason
    assert description in refused.message and says in refused.message and not refused.retryable


def test_an_account_disabled_is_not_a_wrong_password() -> None:
    disabled = token_error(
        keycloak_answer(400, {"error": "invalid_grant", "error_description": "Account disabled"}),
        "logging in",
        credentials(),
        (),
    )
    assert "password" not in disabled.message


def test_unknown_realm_and_busy_keycloak() -> None:
    realm = token_error(keycloak_answer(404, {"error": "Realm does not exist"}), "logging in", credentials(), ())
    assert isinstance(realm, InvalidConnection) and "realm that does not exist" in realm.message
    busy = token_error(keycloak_answer(503, {"error": "temporarily_unavailable"}), "logging in", credentials(), ())
    assert isinstance(busy, ServerError) and busy.retryable


def test_a_refusal_never_quotes_a_secret() -> None:
    echoed = {"error": "invalid_grant", "error_description": f"bad password {PASSWORD} for secret {SECRET}"}
    refused = token_error(keycloak_answer(400, echoed), "logging in", credentials(), (SECRET, PASSWORD))
    assert SECRET not in refused.message and PASSWORD not in refused.message


# ---- refused logins are not repeated -----------------------------------------------------------


class RefusingKeycloak(TokenProvider):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(TOKEN_URL, credentials(), clock=clock)
        self.attempts = 0
        self.refuse = True

    def _exchange(self, form: dict[str, Any], what: str) -> dict[str, Any]:
        self.attempts += 1
        if self.refuse:
            raise AccountDisabled(f"{what}: HTTP 400: Account disabled")
        return {"access_token": "access", "expires_in": 300}


def test_a_refused_login_is_remembered_not_repeated() -> None:
    clock = FakeClock()
    provider = RefusingKeycloak(clock)
    for _ in range(5):
        with pytest.raises(AccountDisabled, match="Account disabled"):
            provider.token()
    assert provider.attempts == 1
    provider.refuse = False  # an administrator enables the account
    clock.now += REFUSAL_MEMORY_SECONDS - 1
    with pytest.raises(AccountDisabled, match="not asked again"):
        provider.token()
    clock.now += 1
    assert provider.token() == "access" and provider.attempts == 2


def test_concurrent_callers_after_a_refusal_cause_one_attempt() -> None:
    provider = RefusingKeycloak(FakeClock())
    failures: list[BaseException] = []

    def call() -> None:
        try:
            provider.token()
        except AccountDisabled as error:
            failures.append(error)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failures) == 16 and provider.attempts == 1


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "a", "expires_in": float("nan")},
        {"access_token": "a", "expires_in": True},
        {"access_token": "a", "expires_in": 10**400},
        {"access_token": "a", "expires_in": -5},
        {"access_token": "a", "expires_in": "60"},
        {"access_token": 5, "expires_in": 60},
        {"access_token": "", "expires_in": 60},
        {"access_token": "a", "expires_in": 60, "refresh_token": ["r"]},
    ],
)
def test_token_set_refuses_malformed_answers(body: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedResponse):
        TokenSet.from_response(body, 0)


def test_token_set_ignores_a_malformed_refresh_lifetime() -> None:
    tokens = TokenSet.from_response(
        {"access_token": "a", "expires_in": 60, "refresh_token": "r", "refresh_expires_in": "soon"}, 0
    )
    assert tokens.refresh_expires_at is None


@pytest.mark.parametrize(
    "error_class", [InvalidCredentials, InvalidClientCredentials, AccountDisabled, AccountNotSetUp, ClientNotAllowed]
)
def test_each_refusal_is_its_own_condition_reason_and_is_not_retried(error_class: type[AuthenticationFailed]) -> None:
    from wallaroo_operator.controller.errors import Disposition, classify

    run_error = classify(error_class("logging in: HTTP 400: refused"))
    assert run_error.reason == error_class.__name__ and run_error.disposition is Disposition.FAIL


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(), st.text(min_size=1))
def test_any_client_id_and_secret_survive_keycloaks_decoding(client_id: str, secret: str) -> None:
    decoded = base64.b64decode(basic_authorization(client_id, secret).removeprefix("Basic ")).decode()
    sent_id, _, sent_secret = decoded.partition(":")
    assert (form_url_decode(sent_id), form_url_decode(sent_secret)) == (client_id, secret)


@pytest.mark.parametrize("field", ["client_secret", "password", "username", "client_id"])
def test_credentials_that_are_not_utf8_text_are_refused_plainly(field: str) -> None:
    broken = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    with pytest.raises(InvalidConnection, match="not valid UTF-8") as refused:
        credentials(**{field: broken})
    assert broken not in refused.value.message
