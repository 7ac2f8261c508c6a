"""Keycloak's token endpoint on both listeners: grants, client authentication, claims, errors, lifetimes."""

from __future__ import annotations

import base64

import jwt
import pytest
import requests

from tests.simulator.conftest import password_grant
from tests.support.waiting import wait_for
from wallaroo_simulator import RunningSimulator
from wallaroo_simulator.keycloak import form_url_decode


def post_token(
    sim: RunningSimulator, form: dict, auth: tuple[str, str] | None = None, url: str | None = None
) -> requests.Response:
    return requests.post(url or sim.token_url, data=form, auth=auth, timeout=10)


def verified_claims(sim: RunningSimulator, access_token: str) -> dict:
    """Check the RS256 signature against the realm's published key, as a resource server would."""
    keys = jwt.PyJWKClient(sim.token_url.replace("/token", "/certs"))
    key = keys.get_signing_key_from_jwt(access_token)
    return jwt.decode(access_token, key.key, algorithms=["RS256"], options={"verify_aud": False})


@pytest.mark.parametrize("listener", ["api host", "keycloak host"])
def test_password_grant_with_http_basic_on_both_listeners(sim: RunningSimulator, listener: str) -> None:
    url = sim.token_url if listener == "api host" else sim.keycloak_token_url
    body = password_grant(sim, url)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["refresh_expires_in"] == 1800
    assert body["not-before-policy"] == 0 and body["scope"] == "profile email" and body["session_state"]
    claims = verified_claims(sim, body["access_token"])
    assert claims["iss"] == url.removesuffix("/protocol/openid-connect/token")
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["typ"] == "Bearer" and claims["azp"] == "api-client" and "master-realm" in claims["aud"]
    assert claims["preferred_username"] == sim.username and claims["email"] == sim.username
    assert claims["email_verified"] is True and "admin" in claims["realm_access"]["roles"]
    assert claims["sub"] == sim.config.users[0].id and claims["scope"] == "profile email"
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"


def test_confidential_client_in_form_fields(sim: RunningSimulator) -> None:
    form = {
        "grant_type": "password",
        "username": sim.username,
        "password": sim.password,
        "client_id": sim.client,
        "client_secret": sim.secret,
    }
    assert post_token(sim, form).status_code == 200


def test_public_sdk_client_needs_no_secret(sim: RunningSimulator) -> None:
    form = {"grant_type": "password", "username": sim.username, "password": sim.password, "client_id": "sdk-client"}
    response = post_token(sim, form)
    assert response.status_code == 200
    assert verified_claims(sim, response.json()["access_token"])["azp"] == "sdk-client"


def test_refresh_grant_renews_within_the_session(sim: RunningSimulator) -> None:
    first = password_grant(sim)
    response = post_token(
        sim, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=(sim.client, sim.secret)
    )
    assert response.status_code == 200
    renewed = response.json()
    assert renewed["session_state"] == first["session_state"] and renewed["refresh_token"]
    assert verified_claims(sim, renewed["access_token"])["preferred_username"] == sim.username
    assert sim.admin.counters()["grants"] == {"password": 1, "refresh_token": 1}


def test_client_credentials_is_a_service_account_without_refresh(sim: RunningSimulator) -> None:
    response = post_token(sim, {"grant_type": "client_credentials"}, auth=(sim.client, sim.secret))
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body and body["refresh_expires_in"] == 0
    claims = verified_claims(sim, body["access_token"])
    assert claims["preferred_username"] == "service-account-api-client" and "email" not in claims
    assert claims["azp"] == "api-client" and claims["client_id"] == "api-client"


@pytest.mark.parametrize(
    ("form", "auth", "status", "body"),
    [
        (
            {"grant_type": "password", "username": "demo.user@example.com", "password": "wrong"},
            "valid",
            400,
            {"error": "invalid_grant", "error_description": "Invalid user credentials"},
        ),
        (
            {"grant_type": "password", "username": "nobody@example.com", "password": "x"},
            "valid",
            400,
            {"error": "invalid_grant", "error_description": "Invalid user credentials"},
        ),
        (
            {"grant_type": "password"},
            ("api-client", "wrong-secret"),
            401,
            {"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"},
        ),
        (
            {"grant_type": "password", "client_id": "api-client"},
            None,
            401,
            {"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"},
        ),
        (
            {"grant_type": "password"},
            ("no-such-client", "x"),
            401,
            {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"},
        ),
        ({}, "valid", 400, {"error": "invalid_request", "error_description": "Missing form parameter: grant_type"}),
        (
            {"grant_type": "foo"},
            "valid",
            400,
            {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"},
        ),
        (
            {"grant_type": "authorization_code"},
            "valid",
            400,
            {"error": "invalid_request", "error_description": "Missing parameter: code"},
        ),
        (
            {"grant_type": "client_credentials", "client_id": "sdk-client"},
            None,
            401,
            {
                "error": "unauthorized_client",
                "error_description": "Public client not allowed to retrieve service account",
            },
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "not-a-token"},
            "valid",
            400,
            {"error": "invalid_grant", "error_description": "Invalid refresh token"},
        ),
    ],
)
def test_keycloak_error_bodies(sim: RunningSimulator, form: dict, auth: object, status: int, body: dict) -> None:
    response = post_token(sim, form, auth=(sim.client, sim.secret) if auth == "valid" else auth)
    assert (response.status_code, response.json()) == (status, body)
    assert (response.headers["Cache-Control"], response.headers["Pragma"]) == ("no-store", "no-cache")


def test_refresh_token_of_another_client_is_refused(sim: RunningSimulator) -> None:
    sdk = post_token(
        sim, {"grant_type": "password", "username": sim.username, "password": sim.password, "client_id": "sdk-client"}
    ).json()
    response = post_token(
        sim, {"grant_type": "refresh_token", "refresh_token": sdk["refresh_token"]}, auth=(sim.client, sim.secret)
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_expired_refresh_token_is_not_active(sim: RunningSimulator) -> None:
    sim.admin.set_token_lifetimes(access_seconds=1, refresh_seconds=1)
    body = password_grant(sim)
    assert (body["expires_in"], body["refresh_expires_in"]) == (1, 1)
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}

    def refused() -> dict | None:
        response = post_token(sim, refresh, auth=(sim.client, sim.secret))
        return response.json() if response.status_code == 400 else None

    assert wait_for(refused, timeout=10, what="the refresh token to expire") == {
        "error": "invalid_grant",
        "error_description": "Token is not active",
    }


def test_expired_access_token_is_refused_by_api_and_inference(sim: RunningSimulator) -> None:
    sim.admin.set_token_lifetimes(access_seconds=1, refresh_seconds=60)
    headers = {"Authorization": f"Bearer {password_grant(sim)['access_token']}"}
    url = sim.external_url("ccfraudpipeline")

    def api_refuses() -> dict | None:
        response = requests.post(sim.api_url + "/workspaces/list", json={}, headers=headers, timeout=10)
        return response.json() if response.status_code == 401 else None

    assert wait_for(api_refuses, timeout=10, what="the access token to expire") == {
        "msg": "Jwt is expired",
        "code": 401,
    }
    inference = requests.post(url, json={"tensor": [[0.0] * 29]}, headers=headers, timeout=10)
    assert (inference.status_code, inference.text) == (401, "Jwt is expired")


def test_lifetimes_per_client(sim: RunningSimulator) -> None:
    sim.admin.set_token_lifetimes(access_seconds=60, refresh_seconds=7200, client_id="sdk-client")
    sdk = post_token(
        sim, {"grant_type": "password", "username": sim.username, "password": sim.password, "client_id": "sdk-client"}
    ).json()
    assert (sdk["expires_in"], sdk["refresh_expires_in"]) == (60, 7200)
    assert password_grant(sim)["expires_in"] == 3600


def test_token_requests_are_counted_by_listener_client_and_grant(sim: RunningSimulator) -> None:
    password_grant(sim)
    password_grant(sim, sim.keycloak_token_url)
    post_token(sim, {"grant_type": "client_credentials"}, auth=(sim.client, sim.secret))
    post_token(
        sim, {"grant_type": "password", "username": sim.username, "password": "wrong"}, auth=(sim.client, sim.secret)
    )
    counters = sim.admin.counters()
    assert counters["requests"] == {"token": 3, "keycloak_token": 1}
    assert counters["statuses"]["token"] == {"200": 2, "400": 1}
    assert counters["grants_by_client"] == {"api-client": {"password": 3, "client_credentials": 1}}
    assert counters["clients"]["api-client"] == {"token": 3, "keycloak_token": 1}


# ---- Keycloak 26's account and client states, changed at run time through /_sim -------------------


def keycloak_refusal(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]


def test_disabled_user_and_pending_required_actions(sim: RunningSimulator) -> None:
    form = {"grant_type": "password", "username": sim.username, "password": sim.password}
    creds = (sim.client, sim.secret)
    sim.admin.update_user(sim.username, enabled=False)
    assert keycloak_refusal(post_token(sim, form, creds)) == (400, "invalid_grant", "Account disabled")
    wrong = form | {"password": "wrong"}  # the password is checked first, as in Keycloak 26
    assert keycloak_refusal(post_token(sim, wrong, creds)) == (400, "invalid_grant", "Invalid user credentials")
    sim.admin.update_user(sim.username, enabled=True, required_actions=["VERIFY_EMAIL"])
    assert keycloak_refusal(post_token(sim, form, creds)) == (400, "invalid_grant", "Account is not fully set up")
    sim.admin.update_user(sim.username, required_actions=[])
    assert post_token(sim, form, creds).status_code == 200
    assert sim.admin.world()["user_states"][sim.username] == {"enabled": True, "required_actions": []}


def test_refresh_of_a_user_disabled_since_login(sim: RunningSimulator) -> None:
    refresh = password_grant(sim)["refresh_token"]
    sim.admin.update_user(sim.username, enabled=False)
    response = post_token(sim, {"grant_type": "refresh_token", "refresh_token": refresh}, (sim.client, sim.secret))
    assert keycloak_refusal(response) == (400, "invalid_grant", "User disabled")


def test_client_without_direct_access_grants_or_service_account(sim: RunningSimulator) -> None:
    creds = (sim.client, sim.secret)
    sim.admin.update_client(sim.client, direct_access_grants=False, service_account=False)
    response = post_token(sim, {"grant_type": "password", "username": sim.username, "password": "wrong"}, creds)
    assert keycloak_refusal(response) == (400, "unauthorized_client", "Client not allowed for direct access grants")
    response = post_token(sim, {"grant_type": "client_credentials"}, creds)
    assert keycloak_refusal(response) == (401, "unauthorized_client", "Client not enabled to retrieve service account")
    sim.admin.update_client(sim.client, secret="rotated-secret", direct_access_grants=True)
    assert (
        post_token(
            sim,
            {"grant_type": "password", "username": sim.username, "password": sim.password},
            (sim.client, "rotated-secret"),
        ).status_code
        == 200
    )


def test_logout_ends_the_session(sim: RunningSimulator) -> None:
    creds = (sim.client, sim.secret)
    logout_url = sim.token_url.replace("/token", "/logout")
    refresh = password_grant(sim)["refresh_token"]
    logout = requests.post(logout_url, data={"refresh_token": refresh}, auth=creds, timeout=10)
    assert (logout.status_code, logout.headers["Cache-Control"], logout.text) == (204, "no-cache", "")
    response = post_token(sim, {"grant_type": "refresh_token", "refresh_token": refresh}, creds)
    assert keycloak_refusal(response) == (400, "invalid_grant", "Session not active")
    assert requests.post(logout_url, data={"refresh_token": refresh}, auth=creds, timeout=10).status_code == 204
    garbage = requests.post(logout_url, data={"refresh_token": "garbage"}, auth=creds, timeout=10)
    assert keycloak_refusal(garbage) == (400, "invalid_grant", "Invalid refresh token")
    assert "Cache-Control" not in garbage.headers  # Keycloak's logout errors carry none
    browser = requests.post(logout_url, auth=creds, timeout=10)
    assert browser.status_code == 200 and browser.headers["Content-Type"].startswith("text/html")


def test_admin_signs_a_user_out_everywhere(sim: RunningSimulator) -> None:
    refreshes = [password_grant(sim)["refresh_token"] for _ in range(2)]
    assert sim.admin.world()["sessions"] == 2
    assert sim.admin.logout_user(sim.username) == 2
    for refresh in refreshes:
        response = post_token(sim, {"grant_type": "refresh_token", "refresh_token": refresh}, (sim.client, sim.secret))
        assert keycloak_refusal(response) == (400, "invalid_grant", "Session not active")
    assert password_grant(sim)["access_token"]  # a new login opens a new session


@pytest.mark.parametrize(
    "path",
    ["/auth/realms/other/protocol/openid-connect/token", "/auth/realms/master2/.well-known/openid-configuration"],
)
def test_unknown_realm(sim: RunningSimulator, path: str) -> None:
    response = requests.post(sim.base_url + path, data={"grant_type": "password"}, timeout=10)
    assert (response.status_code, response.json()) == (404, {"error": "Realm does not exist"})


@pytest.mark.parametrize(
    ("sent", "decoded"),
    [
        ("plain", "plain"),
        ("a+b", "a b"),
        ("a%2Bb", "a+b"),
        ("%C3%A9%E2%82%AC", "é€"),
        ("é", "é"),
        ("%3A", ":"),
        ("%c3", "\ufffd"),
        ("", ""),
    ],
)
def test_basic_credentials_are_form_url_decoded_like_javas_urldecoder(sent: str, decoded: str) -> None:
    assert form_url_decode(sent) == decoded


@pytest.mark.parametrize("malformed", ["%", "%z1", "abc%2", "%%"])
def test_a_malformed_escape_is_an_error_as_in_java(malformed: str) -> None:
    with pytest.raises(ValueError):
        form_url_decode(malformed)


def test_unencoded_basic_credentials_are_refused(sim: RunningSimulator) -> None:
    sim.admin.update_client(sim.client, secret="a+b%zz")
    form = {"grant_type": "client_credentials"}

    def basic(pair: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    malformed = requests.post(sim.token_url, data=form, headers=basic(f"{sim.client}:a+b%zz"), timeout=10)
    assert keycloak_refusal(malformed) == (400, "unauthorized_client", "Unexpected error when authenticating client")
    encoded = requests.post(sim.token_url, data=form, headers=basic(f"{sim.client}:a%2Bb%25zz"), timeout=10)
    assert encoded.status_code == 200
