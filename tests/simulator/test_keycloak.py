"""Keycloak's token endpoint on both listeners: grants, client authentication, claims, errors, lifetimes."""

from __future__ import annotations

import jwt
import pytest
import requests

from wallaroo_simulator import RunningSimulator

from tests.simulator.conftest import password_grant
from tests.support.waiting import wait_for


def post_token(sim: RunningSimulator, form: dict, auth: tuple[str, str] | None = None,
               url: str | None = None) -> requests.Response:
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
    form = {"grant_type": "password", "username": sim.username, "password": sim.password,
            "client_id": sim.client, "client_secret": sim.secret}
    assert post_token(sim, form).status_code == 200


def test_public_sdk_client_needs_no_secret(sim: RunningSimulator) -> None:
    form = {"grant_type": "password", "username": sim.username, "password": sim.password, "client_id": "sdk-client"}
    response = post_token(sim, form)
    assert response.status_code == 200
    assert verified_claims(sim, response.json()["access_token"])["azp"] == "sdk-client"


def test_refresh_grant_renews_within_the_session(sim: RunningSimulator) -> None:
    first = password_grant(sim)
    response = post_token(sim, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                          auth=(sim.client, sim.secret))
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


@pytest.mark.parametrize(("form", "auth", "status", "body"), [
    ({"grant_type": "password", "username": "demo.user@example.com", "password": "wrong"}, "valid", 400,
     {"error": "invalid_grant", "error_description": "Invalid user credentials"}),
    ({"grant_type": "password", "username": "nobody@example.com", "password": "x"}, "valid", 400,
     {"error": "invalid_grant", "error_description": "Invalid user credentials"}),
    ({"grant_type": "password"}, ("api-client", "wrong-secret"), 401,
     {"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
    ({"grant_type": "password", "client_id": "api-client"}, None, 401,
     {"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
    ({"grant_type": "password"}, ("no-such-client", "x"), 401,
     {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}),
    ({}, "valid", 400, {"error": "invalid_request", "error_description": "Missing form parameter: grant_type"}),
    ({"grant_type": "foo"}, "valid", 400,
     {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"}),
    ({"grant_type": "authorization_code"}, "valid", 400,
     {"error": "invalid_request", "error_description": "Missing parameter: code"}),
    ({"grant_type": "client_credentials", "client_id": "sdk-client"}, None, 401,
     {"error": "unauthorized_client", "error_description": "Public client not allowed to retrieve service account"}),
    ({"grant_type": "refresh_token", "refresh_token": "not-a-token"}, "valid", 400,
     {"error": "invalid_grant", "error_description": "Invalid refresh token"}),
])
def test_keycloak_error_bodies(sim: RunningSimulator, form: dict, auth: object, status: int, body: dict) -> None:
    response = post_token(sim, form, auth=(sim.client, sim.secret) if auth == "valid" else auth)
    assert (response.status_code, response.json()) == (status, body)
    assert (response.headers["Cache-Control"], response.headers["Pragma"]) == ("no-store", "no-cache")


def test_refresh_token_of_another_client_is_refused(sim: RunningSimulator) -> None:
    sdk = post_token(sim, {"grant_type": "password", "username": sim.username, "password": sim.password,
                           "client_id": "sdk-client"}).json()
    response = post_token(sim, {"grant_type": "refresh_token", "refresh_token": sdk["refresh_token"]},
                          auth=(sim.client, sim.secret))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_expired_refresh_token_is_not_active(sim: RunningSimulator) -> None:
    sim.admin.set_token_lifetimes(access_seconds=1, refresh_seconds=1)
    body = password_grant(sim)
    assert (body["expires_in"], body["refresh_expires_in"]) == (1, 1)
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}

    def refused() -> dict | None:
        response = post_token(sim, refresh, auth=(sim.client, sim.secret))
        return response.json() if response.status_code == 400 else None

    assert wait_for(refused, timeout=10, what="the refresh token to expire") == \
        {"error": "invalid_grant", "error_description": "Token is not active"}


def test_expired_access_token_is_refused_by_api_and_inference(sim: RunningSimulator) -> None:
    sim.admin.set_token_lifetimes(access_seconds=1, refresh_seconds=60)
    headers = {"Authorization": f"Bearer {password_grant(sim)['access_token']}"}
    url = sim.external_url("ccfraudpipeline")

    def api_refuses() -> dict | None:
        response = requests.post(sim.api_url + "/workspaces/list", json={}, headers=headers, timeout=10)
        return response.json() if response.status_code == 401 else None

    assert wait_for(api_refuses, timeout=10, what="the access token to expire") == \
        {"msg": "Jwt is expired", "code": 401}
    inference = requests.post(url, json={"tensor": [[0.0] * 29]}, headers=headers, timeout=10)
    assert (inference.status_code, inference.text) == (401, "Jwt is expired")


def test_lifetimes_per_client(sim: RunningSimulator) -> None:
    sim.admin.set_token_lifetimes(access_seconds=60, refresh_seconds=7200, client_id="sdk-client")
    sdk = post_token(sim, {"grant_type": "password", "username": sim.username, "password": sim.password,
                           "client_id": "sdk-client"}).json()
    assert (sdk["expires_in"], sdk["refresh_expires_in"]) == (60, 7200)
    assert password_grant(sim)["expires_in"] == 3600


def test_token_requests_are_counted_by_listener_client_and_grant(sim: RunningSimulator) -> None:
    password_grant(sim)
    password_grant(sim, sim.keycloak_token_url)
    post_token(sim, {"grant_type": "client_credentials"}, auth=(sim.client, sim.secret))
    post_token(sim, {"grant_type": "password", "username": sim.username, "password": "wrong"},
               auth=(sim.client, sim.secret))
    counters = sim.admin.counters()
    assert counters["requests"] == {"token": 3, "keycloak_token": 1}
    assert counters["statuses"]["token"] == {"200": 2, "400": 1}
    assert counters["grants_by_client"] == {"api-client": {"password": 3, "client_credentials": 1}}
    assert counters["clients"]["api-client"] == {"token": 3, "keycloak_token": 1}
