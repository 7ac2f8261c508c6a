"""Keycloak's OpenID Connect endpoints for realm ``master``: tokens (RS256 JWTs), logout, JWKS and discovery.

Statuses and error bodies follow Keycloak 26.x as measured (docs/simulator.md); tests/keycloak runs the
same cases against a real Keycloak. Access tokens are stateless JWTs, as in Keycloak: they stay valid
until ``exp`` even if lifetimes change afterwards or the session ends. Refresh tokens need their session.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hmac
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from .config import BruteForceConfig, ClientConfig, SimulatorConfig, TokenLifetimes, UserConfig
from .counters import ANONYMOUS
from .endpoints import CLIENT_ID, STATE
from .errors import NO_STORE, ErrorAnswer, InvalidToken, json_response, keycloak_error
from .faults import add_latency, inject_failure

REALM = "master"
REALM_PATH = f"/auth/realms/{REALM}"
TOKEN_PATH = REALM_PATH + "/protocol/openid-connect/token"
LOGOUT_PATH = REALM_PATH + "/protocol/openid-connect/logout"
OTHER_REALM_PATH = "/auth/realms/{realm:(?!" + REALM + "/)[^/]+}/{rest:.*}"
CERTS_PATH = REALM_PATH + "/protocol/openid-connect/certs"
DISCOVERY_PATH = REALM_PATH + "/.well-known/openid-configuration"
SCOPE = "profile email"
_SERVICE_ACCOUNT_NAMESPACE = uuid.UUID("0b8f3c1e-2a4d-4f6b-8e9a-7c5d3b1a0f21")
_REALM_ROLES = ["create-realm", "default-roles-master", "offline_access", "admin", "uma_authorization"]
_VERIFIED_CACHE_LIMIT = 10_000
_ISSUED_LIMIT = 100_000  # tokens kept for the admin API's list (a test run's scan for leaked tokens)


class TokenIssuer:
    """Signs access tokens (RS256, like Keycloak) and refresh tokens (HS512), and verifies them."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._private_key.public_key()
        self._refresh_key = secrets.token_bytes(64)
        self.key_id = secrets.token_urlsafe(32)
        self.realm_lifetimes = config.tokens
        self._client_lifetimes = {c.client_id: c.tokens for c in config.clients if c.tokens}
        # Verifying RS256 costs more than a small inference; tokens are re-sent on every request.
        self._verified: dict[str, dict[str, Any]] = {}
        # Every token issued, newest last, for tests that look for them where they must not be.
        self.issued: collections.deque[str] = collections.deque(maxlen=_ISSUED_LIMIT)

    def lifetimes(self, client_id: str) -> TokenLifetimes:
        return self._client_lifetimes.get(client_id, self.realm_lifetimes)

    def set_lifetimes(self, lifetimes: TokenLifetimes, client_id: str | None = None) -> None:
        """New lifetimes for tokens issued from now on: the realm's, or one client's override."""
        if client_id is None:
            self.realm_lifetimes = lifetimes
            self._client_lifetimes.clear()
        else:
            self._client_lifetimes[client_id] = lifetimes

    def issue(
        self, client: ClientConfig, user: UserConfig | None, issuer: str, session: str | None, client_address: str
    ) -> dict[str, Any]:
        """A token response; ``user`` None means a service account (client_credentials, no refresh token)."""
        lifetimes = self.lifetimes(client.client_id)
        now = int(time.time())
        session = session or str(uuid.uuid4())
        claims = _access_claims(client, user, issuer, session, client_address)
        claims.update(exp=now + lifetimes.access_seconds, iat=now, jti=str(uuid.uuid4()))
        access = jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.key_id})
        response: dict[str, Any] = {
            "access_token": access,
            "expires_in": lifetimes.access_seconds,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
        }
        if user is not None:
            refresh_claims = {
                "exp": now + lifetimes.refresh_seconds,
                "iat": now,
                "jti": str(uuid.uuid4()),
                "iss": issuer,
                "aud": issuer,
                "sub": user.id,
                "typ": "Refresh",
                "azp": client.client_id,
                "session_state": session,
                "scope": SCOPE,
                "sid": session,
            }
            response.update(
                refresh_expires_in=lifetimes.refresh_seconds,
                session_state=session,
                refresh_token=jwt.encode(refresh_claims, self._refresh_key, algorithm="HS512"),
            )
            self.issued.append(response["refresh_token"])
        self.issued.append(access)
        response["scope"] = SCOPE
        return response

    def verify_access(self, token: str) -> dict[str, Any]:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode_access(token)
            if len(self._verified) >= _VERIFIED_CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = claims
        if claims["exp"] <= time.time():  # PyJWT's rule too
            raise InvalidToken("Jwt is expired")
        return claims

    def _decode_access(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "require": ["exp", "iat"]},
            )
        except jwt.InvalidTokenError:
            raise InvalidToken("Jwt verification fails") from None
        if claims.get("typ") != "Bearer":
            raise InvalidToken("Jwt verification fails")
        return claims

    def verify_refresh(self, token: str, client: ClientConfig) -> dict[str, Any]:
        try:
            claims = jwt.decode(token, self._refresh_key, algorithms=["HS512"], options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            raise keycloak_error(400, "invalid_grant", "Token is not active") from None
        except jwt.InvalidTokenError:
            raise keycloak_error(400, "invalid_grant", "Invalid refresh token") from None
        if claims.get("azp") != client.client_id:
            raise keycloak_error(
                400, "invalid_grant", "Invalid refresh token. Token client and authorized client don't match"
            )
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._public_key, as_dict=True)
        return {"keys": [{**jwk, "kid": self.key_id, "use": "sig", "alg": "RS256"}]}


def _access_claims(
    client: ClientConfig, user: UserConfig | None, issuer: str, session: str, client_address: str
) -> dict[str, Any]:
    """The claims Wallaroo's Keycloak puts into access tokens (reference section 2)."""
    if user is None:
        subject = str(uuid.uuid5(_SERVICE_ACCOUNT_NAMESPACE, client.client_id))
        identity: dict[str, Any] = {
            "client_id": client.client_id,
            "clientHost": client_address,
            "clientAddress": client_address,
            "email_verified": False,
            "preferred_username": f"service-account-{client.client_id}",
        }
    else:
        subject = str(user.id)
        identity = {
            "sid": session,
            "email_verified": True,
            "preferred_username": user.username,
            "email": user.email,
            **_name_claims(user),
        }
    hasura = {
        "x-hasura-user-id": subject,
        "x-hasura-default-role": "user",
        "x-hasura-allowed-roles": ["user"],
        "x-hasura-user-groups": "{}",
    }
    return {
        "iss": issuer,
        "aud": ["master-realm", "account"],
        "sub": subject,
        "typ": "Bearer",
        "azp": client.client_id,
        "session_state": session,
        "acr": "1",
        "allowed-origins": ["*"],
        "realm_access": {"roles": _REALM_ROLES},
        "scope": SCOPE,
        **identity,
        "https://hasura.io/jwt/claims": hasura,
    }


def _name_claims(user: UserConfig) -> dict[str, str]:
    """Keycloak's profile scope: given_name, family_name and name, for the names a user has."""
    claims = {
        "given_name": user.first_name,
        "family_name": user.last_name,
        "name": " ".join(n for n in (user.first_name, user.last_name) if n),
    }
    return {key: value for key, value in claims.items() if value}


@dataclass(frozen=True)
class Session:
    user_id: str
    client_id: str


class Sessions:
    """Keycloak's user sessions: a password grant opens one, a refresh needs it, logout ends it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, Session] = {}

    def open(self, user: UserConfig, client: ClientConfig) -> str:
        session_id = str(uuid.uuid4())
        with self._lock:
            self._active[session_id] = Session(str(user.id), client.client_id)
        return session_id

    def is_active(self, session_id: str | None) -> bool:
        with self._lock:
            return (session_id or "") in self._active

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._active.pop(session_id or "", None)

    def end_all_of(self, user: UserConfig) -> int:
        """Log a user out everywhere (the admin console's "Sign out"); how many sessions ended."""
        with self._lock:
            ended = [sid for sid, session in self._active.items() if session.user_id == user.id]
            for session_id in ended:
                del self._active[session_id]
            return len(ended)

    def __len__(self) -> int:
        with self._lock:
            return len(self._active)


class BruteForceGuard:
    """Keycloak's temporary lockout: consecutive failures per user, and until when the user is locked."""

    def __init__(self, config: BruteForceConfig | None) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def configure(self, config: BruteForceConfig | None) -> None:
        with self._lock:
            self.config = config
            self._failures.clear()
            self._locked_until.clear()

    def is_locked(self, user: UserConfig) -> bool:
        with self._lock:
            return self.config is not None and time.monotonic() < self._locked_until.get(str(user.id), 0.0)

    def failed(self, user: UserConfig) -> None:
        with self._lock:
            if self.config is None:
                return
            failures = self._failures.get(str(user.id), 0) + 1
            self._failures[str(user.id)] = failures
            if failures % self.config.failure_factor == 0:
                self._locked_until[str(user.id)] = time.monotonic() + self.config.wait_seconds

    def succeeded(self, user: UserConfig) -> None:
        with self._lock:
            self._failures.pop(str(user.id), None)


async def token(request: web.Request) -> web.Response:
    """POST .../openid-connect/token: grants password, refresh_token and client_credentials."""
    state = request.app[STATE]
    form = await request.post()  # empty for a body that is not a form, as Keycloak sees it
    client_id, secret = _presented_client(request, form)
    request[CLIENT_ID] = client_id or ANONYMOUS  # counted as claimed, even when refused below
    faults = state.faults_for_keycloak()
    await inject_failure(faults, "keycloak")
    client = _authenticate_client(state.world.clients, client_id, secret)
    grant_type = _field(form, "grant_type")
    state.counters.record_grant(client.client_id, grant_type or "(missing)")
    user, session = _grant(request, client, grant_type, form)
    await add_latency(faults)
    response = state.issuer.issue(client, user, _issuer(request), session, request.remote or "")
    return json_response(response, headers=NO_STORE)


def _grant(
    request: web.Request, client: ClientConfig, grant_type: str, form: Any
) -> tuple[UserConfig | None, str | None]:
    """The user (None for a service account) and the session a grant yields, or Keycloak's refusal."""
    state = request.app[STATE]
    if grant_type == "password":
        if not client.direct_access_grants:
            raise keycloak_error(400, "unauthorized_client", "Client not allowed for direct access grants")
        user = _password_user(state.world.users, form, state.brute_force)
        return user, state.sessions.open(user, client)
    if grant_type == "refresh_token":
        return _refreshed_user(request, client, _field(form, "refresh_token"))
    if grant_type == "client_credentials":
        if client.is_public:
            raise keycloak_error(401, "unauthorized_client", "Public client not allowed to retrieve service account")
        if not client.service_account:
            raise keycloak_error(401, "unauthorized_client", "Client not enabled to retrieve service account")
        return None, None
    if grant_type == "authorization_code":  # no browser flow here, so no code is ever valid
        if not _field(form, "code"):
            raise keycloak_error(400, "invalid_request", "Missing parameter: code")
        raise keycloak_error(400, "invalid_grant", "Code not valid")
    if not grant_type:
        raise keycloak_error(400, "invalid_request", "Missing form parameter: grant_type")
    raise keycloak_error(400, "unsupported_grant_type", "Unsupported grant_type")


def _refreshed_user(request: web.Request, client: ClientConfig, refresh_token: str) -> tuple[UserConfig, str | None]:
    """Keycloak checks the token (expiry first), then its session, then the user."""
    state = request.app[STATE]
    claims = state.issuer.verify_refresh(refresh_token, client)
    session = claims.get("sid")
    if not state.sessions.is_active(session):
        raise keycloak_error(400, "invalid_grant", "Session not active")
    user = next((u for u in state.world.users.values() if u.id == claims["sub"]), None)
    if user is None:
        raise keycloak_error(400, "invalid_grant", "User not found")
    if not user.enabled:
        raise keycloak_error(400, "invalid_grant", "User disabled")
    return user, session


def _password_user(users: dict[str, UserConfig], form: Any, guard: BruteForceGuard) -> UserConfig:
    """The direct grant flow as measured on 26.7.3: a locked user and the password first (a wrong one is
    "Invalid user credentials" even for a disabled user), then the account's state."""
    user = users.get(_field(form, "username"))
    password = _field(form, "password")
    if user is not None and guard.is_locked(user):
        raise keycloak_error(400, "invalid_grant", "Invalid user credentials")
    if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
        if user is not None:
            guard.failed(user)
        raise keycloak_error(400, "invalid_grant", "Invalid user credentials")
    guard.succeeded(user)
    if not user.enabled:
        raise keycloak_error(400, "invalid_grant", "Account disabled")
    if user.required_actions:
        raise keycloak_error(400, "invalid_grant", "Account is not fully set up")
    return user


async def logout(request: web.Request) -> web.Response:
    """POST .../openid-connect/logout with the client's credentials and a refresh token: 204, the session
    ended (also when it already had). Keycloak's logout errors carry no Cache-Control."""
    state = request.app[STATE]
    form = await request.post()
    try:
        client_id, secret = _presented_client(request, form)
        request[CLIENT_ID] = client_id or ANONYMOUS
        client = _authenticate_client(state.world.clients, client_id, secret)
        refresh_token = _field(form, "refresh_token")
        if not refresh_token:  # a browser logout: Keycloak shows its logout page
            return web.Response(text=_LOGOUT_PAGE, content_type="text/html", headers={"Cache-Control": "no-cache"})
        claims = state.issuer.verify_refresh(refresh_token, client)
    except ErrorAnswer as error:
        for header in NO_STORE:
            error.response.headers.pop(header, None)
        raise
    state.sessions.end(claims.get("sid"))
    return web.Response(status=204, headers={"Cache-Control": "no-cache"})


_LOGOUT_PAGE = (
    '<!DOCTYPE html>\n<html class="login-pf" lang="en"><head><title>Logging out</title></head>'
    "<body>Do you want to log out?</body></html>\n"
)


async def unknown_realm(request: web.Request) -> web.Response:
    """Any path under a realm other than master (the route excludes master)."""
    raise ErrorAnswer(json_response({"error": "Realm does not exist"}, 404))


def _field(form: Any, name: str) -> str:
    """A form field's text; absent fields and file uploads read as empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _presented_client(request: web.Request, form: Any) -> tuple[str | None, str | None]:
    """The client id and secret a request presents: HTTP Basic first (RFC 6749 2.3.1, URL-encoded),
    then the client_id/client_secret form fields."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return _field(form, "client_id") or None, _field(form, "client_secret") or None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8", errors="replace")
    except binascii.Error:
        return None, None
    client_id, _, secret = decoded.partition(":")
    try:
        return form_url_decode(client_id), form_url_decode(secret)
    except ValueError:  # Java's URLDecoder throws; Keycloak answers with this
        raise keycloak_error(400, "unauthorized_client", "Unexpected error when authenticating client") from None


_HEX = frozenset(string.hexdigits)


def form_url_decode(text: str) -> str:
    """Java's ``URLDecoder.decode(text, UTF-8)``, which Keycloak applies to HTTP Basic client credentials
    (RFC 6749 section 2.3.1): ``+`` is a space, runs of ``%XX`` are UTF-8 bytes (malformed ones become
    U+FFFD), and a ``%`` without two hex digits is an error (ValueError)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "+":
            out.append(" ")
            i += 1
        elif text[i] == "%":
            run = bytearray()
            while i < len(text) and text[i] == "%":
                digits = text[i + 1 : i + 3]
                if len(digits) != 2 or not set(digits) <= _HEX:
                    raise ValueError("malformed %-escape")
                run.append(int(digits, 16))
                i += 3
            out.append(run.decode("utf-8", errors="replace"))
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _authenticate_client(clients: dict[str, ClientConfig], client_id: str | None, secret: str | None) -> ClientConfig:
    client = clients.get(client_id) if client_id else None
    if client is None:
        raise keycloak_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    if client.is_public:
        return client
    if not secret or not hmac.compare_digest(str(client.secret).encode(), secret.encode()):
        raise keycloak_error(401, "unauthorized_client", "Invalid client or Invalid client credentials")
    return client


def _issuer(request: web.Request) -> str:
    """Keycloak names itself after the host it was asked on (no fixed frontend URL configured)."""
    return f"{request.scheme}://{request.host}{REALM_PATH}"


async def certs(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].issuer.jwks())


async def discovery(request: web.Request) -> web.Response:
    issuer = _issuer(request)
    return json_response(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "jwks_uri": f"{issuer}/protocol/openid-connect/certs",
            "grant_types_supported": ["password", "refresh_token", "client_credentials"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }
    )
