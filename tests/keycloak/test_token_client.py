"""The token client against the simulator and against a real Keycloak 26: the same cases, the same answers.

Each case checks the raw answer (status, error, description, cache headers: what Keycloak 26.7.3 sends)
and what the token client makes of it (the error class that names the cause, no secret in its message,
no second attempt after a refusal).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import jwt
import pytest
import requests

from tests.support.waiting import wait_for
from wallaroo_operator.wallaroo import (
    Credentials,
    InvalidConnection,
    TokenProvider,
    WallarooError,
)
from wallaroo_operator.wallaroo.errors import (
    AccountDisabled,
    AccountNotSetUp,
    ClientNotAllowed,
    InvalidClientCredentials,
    InvalidCredentials,
)

from .conftest import (
    API_SECRET,
    ODD_SECRET,
    PASSWORD,
    SHORT_REFRESH_SECONDS,
    CountingSession,
    IdentityProvider,
)

USER = "demo.user@example.com"
# The first test against the real Keycloak waits for it to start: minutes on a busy machine.
pytestmark = pytest.mark.timeout(1200)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def credentials(
    client_id: str = "api-client",
    client_secret: str = API_SECRET,
    grant: str = "password",
    username: str | None = USER,
    password: str | None = PASSWORD,
) -> Credentials:
    if grant == "client_credentials":
        username = password = None
    return Credentials(
        client_id=client_id,
        client_secret=client_secret,
        grant=grant,  # type: ignore[arg-type]
        username=username,
        password=password,
    )


def provider(
    idp: IdentityProvider, token_url: str | None = None, clock: FakeClock | None = None, **overrides: Any
) -> TokenProvider:
    options: dict[str, Any] = {"clock": clock} if clock else {}
    return TokenProvider(token_url or idp.token_url, credentials(**overrides), CountingSession(), **options)


def sent(tokens: TokenProvider) -> int:
    return tokens._session.sent  # type: ignore[attr-defined]  # the CountingSession given above


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def basic(client_id: str, secret: str, *, encode: bool = True) -> dict[str, str]:
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(secret, safe='')}" if encode else f"{client_id}:{secret}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def password_form(username: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password}


def post(url: str, form: dict[str, str], headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=form, headers=headers, timeout=30)


# ---- grants -----------------------------------------------------------------------------------


def test_password_grant(idp: IdentityProvider) -> None:
    tokens = provider(idp)
    token = tokens.token()
    assert tokens.token() == token and sent(tokens) == 1
    user = claims(token)
    assert (user["preferred_username"], user["azp"], user["typ"]) == (USER, "api-client", "Bearer")
    assert (user["given_name"], user["family_name"], user["name"]) == ("Test", "User", "Test User")
    assert user["iss"] == idp.realm_url


def test_client_credentials_grant_is_the_clients_service_account(idp: IdentityProvider) -> None:
    tokens = provider(idp, grant="client_credentials")
    service = claims(tokens.token())
    assert service["client_id"] == "api-client" and "clientId" not in service
    assert service["preferred_username"] == "service-account-api-client" and "email" not in service


def test_refresh_renews_within_the_session(idp: IdentityProvider) -> None:
    clock = FakeClock()
    tokens = provider(idp, clock=clock)
    first = tokens.token()
    clock.now = 0.95 * (claims(first)["exp"] - claims(first)["iat"])  # within the refresh margin
    second = tokens.token()
    assert second != first and tokens.stats().refreshes == 1 and tokens.stats().logins == 1
    assert claims(second)["sid"] == claims(first)["sid"]


def test_refresh_after_logout_is_refused_and_the_client_logs_in_again(idp: IdentityProvider) -> None:
    form = password_form("session.user@example.com")
    refresh = post(idp.token_url, form, basic("api-client", API_SECRET)).json()["refresh_token"]
    logout = post(idp.logout_url, {"refresh_token": refresh}, basic("api-client", API_SECRET))
    assert logout.status_code == 204
    answer = post(
        idp.token_url, {"grant_type": "refresh_token", "refresh_token": refresh}, basic("api-client", API_SECRET)
    )
    assert_keycloak_error(answer, 400, "invalid_grant", "Session not active")
    # Logging out again is not an error.
    assert post(idp.logout_url, {"refresh_token": refresh}, basic("api-client", API_SECRET)).status_code == 204

    clock = FakeClock()
    tokens = provider(idp, clock=clock, username="session.user@example.com")
    first = tokens.token()
    idp.logout_user("session.user@example.com")  # an administrator signs the user out
    clock.now = 0.95 * (claims(first)["exp"] - claims(first)["iat"])
    assert tokens.token() != first
    assert (tokens.stats().logins, tokens.stats().refreshes) == (2, 0)  # refused refresh, then a login


def test_expired_refresh_token_is_not_active(idp: IdentityProvider) -> None:
    body = post(idp.token_url, password_form(), basic("short-session-client", API_SECRET)).json()
    assert body["refresh_expires_in"] == SHORT_REFRESH_SECONDS
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}

    def refused() -> list[requests.Response]:  # a Response itself is falsy when it is an error
        answer = post(idp.token_url, refresh, basic("short-session-client", API_SECRET))
        return [answer] if answer.status_code != 200 else []

    [answer] = wait_for(refused, timeout=SHORT_REFRESH_SECONDS + 30, interval=0.5, what="the refresh token to expire")
    assert_keycloak_error(answer, 400, "invalid_grant", "Token is not active")


# ---- secrets that need RFC 6749 section 2.3.1's encoding -------------------------------------------


def test_a_secret_with_plus_percent_colon_and_non_ascii_works(idp: IdentityProvider) -> None:
    tokens = provider(idp, client_id="odd-secret-client", client_secret=ODD_SECRET)
    assert claims(tokens.token())["azp"] == "odd-secret-client"
    service = provider(idp, client_id="odd-secret-client", client_secret=ODD_SECRET, grant="client_credentials")
    assert claims(service.token())["client_id"] == "odd-secret-client"


def test_a_client_that_does_not_encode_is_refused(idp: IdentityProvider) -> None:
    for secret, answer in (("p+q%20r:s", 401), (ODD_SECRET, 400)):
        unencoded = post(idp.token_url, password_form(), basic("odd-secret-client", secret, encode=False))
        if answer == 401:  # "+" read as a space, "%20" as one: another secret
            assert_keycloak_error(unencoded, 401, "unauthorized_client", "Invalid client or Invalid client credentials")
        else:  # "%zz" is no escape at all: Java's URLDecoder throws
            assert_keycloak_error(unencoded, 400, "unauthorized_client", "Unexpected error when authenticating client")
    raw_colon_is_fine = post(idp.token_url, password_form(), basic("api-client", API_SECRET, encode=False))
    assert raw_colon_is_fine.status_code == 200


# ---- refusals: Keycloak's answer and the error the client makes of it ------------------------------

REFUSALS = {
    "wrong password": (
        {"password": "not-the-password"},
        password_form(password="not-the-password"),
        ("api-client", API_SECRET),
        400,
        "invalid_grant",
        "Invalid user credentials",
        InvalidCredentials,
    ),
    "unknown user": (
        {"username": "nobody@example.com"},
        password_form("nobody@example.com"),
        ("api-client", API_SECRET),
        400,
        "invalid_grant",
        "Invalid user credentials",
        InvalidCredentials,
    ),
    "wrong client secret": (
        {"client_secret": "not-the-secret"},
        password_form(),
        ("api-client", "not-the-secret"),
        401,
        "unauthorized_client",
        "Invalid client or Invalid client credentials",
        InvalidClientCredentials,
    ),
    "unknown client": (
        {"client_id": "no-such-client"},
        password_form(),
        ("no-such-client", API_SECRET),
        401,
        "invalid_client",
        "Invalid client or Invalid client credentials",
        InvalidClientCredentials,
    ),
    "disabled user": (
        {"username": "disabled.user@example.com"},
        password_form("disabled.user@example.com"),
        ("api-client", API_SECRET),
        400,
        "invalid_grant",
        "Account disabled",
        AccountDisabled,
    ),
    "disabled user, wrong password": (
        {"username": "disabled.user@example.com", "password": "not-the-password"},
        password_form("disabled.user@example.com", "not-the-password"),
        ("api-client", API_SECRET),
        400,
        "invalid_grant",
        "Invalid user credentials",
        InvalidCredentials,
    ),
    "pending required action": (
        {"username": "pending.user@example.com"},
        password_form("pending.user@example.com"),
        ("api-client", API_SECRET),
        400,
        "invalid_grant",
        "Account is not fully set up",
        AccountNotSetUp,
    ),
    "client without direct access grants": (
        {"client_id": "no-direct-client"},
        password_form(),
        ("no-direct-client", API_SECRET),
        400,
        "unauthorized_client",
        "Client not allowed for direct access grants",
        ClientNotAllowed,
    ),
    "client without a service account": (
        {"client_id": "no-service-client", "grant": "client_credentials"},
        {"grant_type": "client_credentials"},
        ("no-service-client", API_SECRET),
        401,
        "unauthorized_client",
        "Client not enabled to retrieve service account",
        ClientNotAllowed,
    ),
}


def assert_keycloak_error(answer: requests.Response, status: int, error: str, description: str) -> None:
    assert (answer.status_code, answer.json()) == (status, {"error": error, "error_description": description})
    assert (answer.headers.get("Cache-Control"), answer.headers.get("Pragma")) == ("no-store", "no-cache")


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_refusal(idp: IdentityProvider, case: str) -> None:
    overrides, form, (client_id, secret), status, error, description, error_class = REFUSALS[case]
    assert_keycloak_error(post(idp.token_url, form, basic(client_id, secret)), status, error, description)

    tokens = provider(idp, **overrides)
    with pytest.raises(error_class) as refused:
        tokens.token()
    assert description in refused.value.message and not refused.value.retryable
    for secret_value in (PASSWORD, API_SECRET, "not-the-password", "not-the-secret"):
        assert secret_value not in refused.value.message
    # Never asked again: each attempt would count towards Keycloak's brute-force lockout.
    with pytest.raises(error_class):
        tokens.token()
    assert sent(tokens) == 1


def test_unknown_realm(idp: IdentityProvider) -> None:
    url = idp.token_url.replace("/realms/master/", "/realms/no-such-realm/")
    answer = post(url, password_form(), basic("api-client", API_SECRET))
    assert (answer.status_code, answer.json()) == (404, {"error": "Realm does not exist"})
    with pytest.raises(InvalidConnection, match="realm that does not exist") as refused:
        provider(idp, token_url=url).token()
    assert isinstance(refused.value, WallarooError) and refused.value.status == 404


def test_a_locked_account_answers_like_a_wrong_password(idp: IdentityProvider) -> None:
    locked = "locked.user@example.com"
    idp.set_brute_force(3)
    try:
        for _ in range(3):
            wrong = post(idp.token_url, password_form(locked, "not-the-password"), basic("api-client", API_SECRET))
            assert_keycloak_error(wrong, 400, "invalid_grant", "Invalid user credentials")
        right = post(idp.token_url, password_form(locked), basic("api-client", API_SECRET))
        assert_keycloak_error(right, 400, "invalid_grant", "Invalid user credentials")
        with pytest.raises(InvalidCredentials, match="locked after failed logins"):
            provider(idp, username=locked).token()
    finally:
        idp.clear_brute_force()
    assert post(idp.token_url, password_form(locked), basic("api-client", API_SECRET)).status_code == 200
