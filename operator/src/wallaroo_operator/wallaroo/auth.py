"""Keycloak credentials, a cached and self-refreshing token, and a process-wide token cache.

Refresh policy: a token is renewed ``max(10 s, 10 % of its lifetime)`` before it
expires (the SDK uses a flat 10 s; 10 % also covers slow requests on long-lived
tokens), but never more than half its lifetime early, so that very short tokens
(a few seconds, as in tests) are still used at all. Renewal uses the refresh
token while it is valid by the same margin, else a fresh login; a refresh that
Keycloak refuses (for example ``invalid_grant``: session ended) falls back to a
login.

A login Keycloak refuses (wrong password, disabled account, ...) is never
retried: the refusal is remembered for ``REFUSAL_MEMORY_SECONDS`` and repeated
to every caller without asking Keycloak again, because each attempt counts
towards its brute-force lockout. New credentials get a new provider (see
:meth:`Credentials.cache_key`), so fixing a Secret takes effect at once.

Client credentials go in HTTP Basic form-URL-encoded first (RFC 6749 section
2.3.1), as Keycloak decodes them: a secret with ``+``, ``%`` or ``:`` is sent as
itself.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote_plus

import requests

from . import http
from .errors import (
    AuthenticationFailed,
    InvalidConnection,
    UnexpectedResponse,
    WallarooError,
)
from .refusals import refusal

log = logging.getLogger(__name__)

Grant = Literal["password", "client_credentials"]
GRANTS: tuple[Grant, ...] = ("password", "client_credentials")
Clock = Callable[[], float]

MIN_REFRESH_MARGIN = 10.0
REFRESH_MARGIN_FRACTION = 0.1
# Keycloak's default brute-force detection locks an account after 30 failures; a job
# scheduled every minute must not get there by itself.
REFUSAL_MEMORY_SECONDS = 300.0


@dataclass(frozen=True)
class Credentials:
    """OAuth client and (for the password grant) user credentials. Never printed."""

    client_id: str
    client_secret: str = field(repr=False)
    grant: Grant = "password"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name, value in (
            ("client id", self.client_id),
            ("client secret", self.client_secret),
            ("username", self.username),
            ("password", self.password),
        ):
            if value is not None and not _is_utf8_text(value):
                raise InvalidConnection(f"the {name} is not valid UTF-8 text")
        if self.grant not in GRANTS:
            raise InvalidConnection(f"unsupported grant {self.grant!r}; use one of {GRANTS}")
        if self.grant == "password" and not (self.username and self.password):
            raise InvalidConnection("the password grant needs a username and a password")

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, grant={self.grant!r}, username={self.username!r})"

    __str__ = __repr__

    @property
    def principal(self) -> str:
        """Who the token speaks for, as a user would recognise it."""
        if self.grant == "password":
            return f"user {self.username!r}"
        return f"client {self.client_id!r}"

    def secret_values(self) -> tuple[str, ...]:
        return tuple(s for s in (self.client_secret, self.password) if s)

    def cache_key(self, token_url: str) -> tuple[str, str, str, str | None, str]:
        """Identity for sharing tokens: different secrets never share a token."""
        digest = hashlib.sha256()
        for secret in (self.client_secret, self.password or ""):
            digest.update(secret.encode())
            digest.update(b"\0")  # so ("ab", "c") and ("a", "bc") differ
        return (token_url, self.client_id, self.grant, self.username, digest.hexdigest())


@dataclass(frozen=True)
class TokenSet:
    """One Keycloak token response, with expiry instants on the provider's clock."""

    access_token: str = field(repr=False)
    access_expires_at: float
    access_lifetime: float
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: float | None = None  # None: no known expiry (offline tokens)
    refresh_lifetime: float | None = None
    # Renew this long before expiry instead of refresh_margin(access_lifetime): a token handed over by
    # another process, which renews its own on time, is used here to its last seconds.
    renew_margin: float | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any], now: float) -> TokenSet:
        access = body.get("access_token")
        lifetime = _seconds(body.get("expires_in"))
        if not isinstance(access, str) or not access or not lifetime:
            raise UnexpectedResponse("token endpoint answered without access_token/expires_in")
        refresh = body.get("refresh_token") or None
        if refresh is not None and not isinstance(refresh, str):
            raise UnexpectedResponse("token endpoint answered a refresh_token that is not a string")
        refresh_lifetime = _seconds(body.get("refresh_expires_in"))
        return cls(
            access_token=access,
            access_expires_at=now + lifetime,
            access_lifetime=lifetime,
            refresh_token=refresh,
            refresh_expires_at=now + refresh_lifetime if refresh and refresh_lifetime else None,
            refresh_lifetime=refresh_lifetime,
        )


def _is_utf8_text(value: object) -> bool:
    """A str that UTF-8 can carry (no lone surrogates, as from bytes decoded with surrogateescape)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _seconds(value: Any) -> float | None:
    """A lifetime in seconds from a token response: a positive finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # a huge integer: no real lifetime
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token with this lifetime is renewed."""
    return min(max(MIN_REFRESH_MARGIN, REFRESH_MARGIN_FRACTION * lifetime), lifetime / 2)


class Renewal(enum.Enum):
    USE = "use"
    REFRESH = "refresh"
    LOGIN = "login"


def plan_renewal(tokens: TokenSet | None, now: float) -> Renewal:
    """Decide whether the cached token can be used, refreshed, or needs a login."""
    if tokens is None:
        return Renewal.LOGIN
    margin = refresh_margin(tokens.access_lifetime) if tokens.renew_margin is None else tokens.renew_margin
    if now < tokens.access_expires_at - margin:
        return Renewal.USE
    if tokens.refresh_token is None:
        return Renewal.LOGIN
    if tokens.refresh_expires_at is None:
        return Renewal.REFRESH
    assert tokens.refresh_lifetime is not None
    usable_until = tokens.refresh_expires_at - refresh_margin(tokens.refresh_lifetime)
    return Renewal.REFRESH if now < usable_until else Renewal.LOGIN


@dataclass(frozen=True)
class TokenStats:
    logins: int
    refreshes: int
    invalidations: int


class TokenProvider:
    """A thread-safe, cached access token for one token endpoint and one set of credentials."""

    def __init__(
        self,
        token_url: str,
        credentials: Credentials,
        session: requests.Session | None = None,
        *,
        clock: Clock = time.monotonic,
        verify: http.Verify = True,
        timeout: http.Timeout = http.TOKEN_TIMEOUT,
    ) -> None:
        self.token_url = token_url
        self.credentials = credentials
        self._session = session or requests.Session()
        self._clock = clock
        self._verify = verify
        self._timeout = timeout
        # Held during HTTP on purpose: concurrent callers wait for one login instead of N.
        self._lock = threading.Lock()
        self._tokens: TokenSet | None = None
        self._refusal: tuple[AuthenticationFailed, float] | None = None  # a refused login, and when
        self._logins = 0
        self._refreshes = 0
        self._invalidations = 0

    def __repr__(self) -> str:
        return f"TokenProvider({self.token_url!r}, {self.credentials!r})"

    @property
    def principal(self) -> str:
        return self.credentials.principal

    def token(self) -> str:
        """A valid access token, from the cache when possible."""
        with self._lock:
            self._repeat_refusal()
            renewal = plan_renewal(self._tokens, self._clock())
            if renewal is Renewal.REFRESH:
                self._tokens = self._refresh_or_login()
            elif renewal is Renewal.LOGIN:
                self._tokens = self._login()
            assert self._tokens is not None
            return self._tokens.access_token

    def handoff(self) -> tuple[str, float, float]:
        """A valid access token, the seconds it stays valid and its lifetime, for a worker process to
        :meth:`adopt`, so a run does not log in again (wallaroo/token_handoff.py)."""
        token = self.token()
        with self._lock:
            tokens = self._tokens
            if tokens is None or tokens.access_token != token:  # invalidated meanwhile: nothing to share
                return token, 0.0, 0.0
            return token, tokens.access_expires_at - self._clock(), tokens.access_lifetime

    def adopt(self, access_token: str, expires_in: float, lifetime: float, renew_margin: float) -> None:
        """Use a token another process obtained until `renew_margin` seconds before it expires (then this
        provider logs in itself: the refresh token stays with its owner). Ignored once it holds a token."""
        if not access_token or expires_in <= 0 or lifetime <= 0:
            return
        with self._lock:
            if self._tokens is None:
                self._tokens = TokenSet(access_token, self._clock() + expires_in, lifetime, renew_margin=renew_margin)

    def invalidate(self, token: str) -> bool:
        """Forget ``token`` (a server rejected it); the next call logs in again.

        Only the token the caller saw is dropped, so N requests failing with the
        same stale token cause one login, not N.
        """
        with self._lock:
            if self._tokens is None or self._tokens.access_token != token:
                return False
            self._tokens = None
            self._invalidations += 1
            return True

    def stats(self) -> TokenStats:
        with self._lock:
            return TokenStats(self._logins, self._refreshes, self._invalidations)

    def secret_values(self) -> tuple[str, ...]:
        """Everything this provider knows that must never appear in a message."""
        tokens = self._tokens
        held = (tokens.access_token, tokens.refresh_token) if tokens else ()
        return self.credentials.secret_values() + tuple(t for t in held if t)

    def _refresh_or_login(self) -> TokenSet:
        assert self._tokens is not None and self._tokens.refresh_token is not None
        try:
            tokens = self._request_tokens(
                {"grant_type": "refresh_token", "refresh_token": self._tokens.refresh_token},
                "refreshing the token",
            )
        except AuthenticationFailed as exc:  # e.g. invalid_grant: the session has ended
            log.info("token refresh refused (%s); logging in again", exc.message)
            return self._login()
        self._refreshes += 1
        return tokens

    def _login(self) -> TokenSet:
        form: dict[str, Any] = {"grant_type": self.credentials.grant}
        if self.credentials.grant == "password":
            form |= {"username": self.credentials.username, "password": self.credentials.password}
        try:
            tokens = self._request_tokens(form, f"logging in as {self.principal}")
        except AuthenticationFailed as refused:
            self._refusal = (refused, self._clock())
            raise
        self._refusal = None
        self._logins += 1
        log.debug("logged in to %s as %s", http.host_of(self.token_url), self.principal)
        return tokens

    def _repeat_refusal(self) -> None:
        """Raise the remembered refusal again, rather than let Keycloak count another failure."""
        if self._refusal is None:
            return
        refused, at = self._refusal
        if self._clock() - at >= REFUSAL_MEMORY_SECONDS:
            self._refusal = None
            return
        raise type(refused)(
            f"{refused.message} (Keycloak refused these credentials less than "
            f"{REFUSAL_MEMORY_SECONDS:.0f} s ago and is not asked again before; "
            "changing the credentials takes effect at once)",
            status=refused.status,
        )

    def _request_tokens(self, form: dict[str, Any], what: str) -> TokenSet:
        return TokenSet.from_response(self._exchange(form, what), self._clock())

    def _exchange(self, form: dict[str, Any], what: str) -> Mapping[str, Any]:
        """One POST to the token endpoint; the JSON body of its 200 answer."""
        secrets = self.secret_values()
        response = self._post_token_endpoint(self.token_url, form, what, secrets)
        if response.status_code != 200:
            raise token_error(response, what, self.credentials, secrets)
        return parse_token_body(response.content, what)

    def _post_token_endpoint(
        self, url: str, form: dict[str, Any], what: str, secrets: tuple[str, ...]
    ) -> requests.Response:
        authorization = basic_authorization(self.credentials.client_id, self.credentials.client_secret)
        return http.post(
            self._session,
            url,
            what=what,
            secrets=secrets,
            data=form,
            headers={"Authorization": authorization},
            verify=self._verify,
            timeout=self._timeout,
        )


def basic_authorization(client_id: str, client_secret: str) -> str:
    """HTTP Basic client authentication as RFC 6749 section 2.3.1 and Keycloak want it:
    id and secret form-URL-encoded (UTF-8) before base64, so ``:``, ``+``, ``%`` survive."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")


def parse_token_body(content: bytes, what: str) -> Mapping[str, Any]:
    """The JSON object of a token endpoint's 200 answer, or UnexpectedResponse."""
    try:
        body = http.decode_json(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UnexpectedResponse(f"{what}: the token endpoint answered no JSON object")
    return body


def token_error(
    response: requests.Response, what: str, credentials: Credentials, secrets: tuple[str, ...]
) -> WallarooError:
    """Turn a failed token response into an error that names its cause and what to do."""
    description = http.describe_response(response, secrets)
    body = http.parse_error_body(response.text)
    return refusal(response.status_code, body, description, what, credentials.principal, credentials.client_id)


@dataclass(frozen=True)
class AuthorizedResponse:
    response: requests.Response
    relogged_in: bool  # the first token was rejected with 401 and a fresh one was used


def post_with_token(
    tokens: TokenProvider,
    session: requests.Session,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> AuthorizedResponse:
    """POST with a bearer token; on 401, drop that token, log in once more and retry once."""
    token = tokens.token()
    response = _post_bearer(tokens, session, url, token, what, headers, kwargs)
    if response.status_code != 401:
        return AuthorizedResponse(response, relogged_in=False)
    tokens.invalidate(token)
    response = _post_bearer(tokens, session, url, tokens.token(), what, headers, kwargs)
    return AuthorizedResponse(response, relogged_in=True)


def _post_bearer(
    tokens: TokenProvider,
    session: requests.Session,
    url: str,
    token: str,
    what: str,
    headers: Mapping[str, str] | None,
    kwargs: dict[str, Any],
) -> requests.Response:
    all_headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
    return http.post(session, url, what=what, secrets=tokens.secret_values(), headers=all_headers, **kwargs)


class TokenCache:
    """Shares one :class:`TokenProvider` per (token URL, credentials, TLS settings)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._providers: dict[tuple[Any, ...], TokenProvider] = {}

    def provider_for(
        self,
        token_url: str,
        credentials: Credentials,
        verify: http.Verify = True,
        timeout: http.Timeout = http.TOKEN_TIMEOUT,
    ) -> TokenProvider:
        key = (*credentials.cache_key(token_url), verify)
        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                provider = TokenProvider(
                    token_url,
                    credentials,
                    http.new_session(),
                    clock=self._clock,
                    verify=verify,
                    timeout=timeout,
                )
                self._providers[key] = provider
            return provider

    def __len__(self) -> int:
        with self._lock:
            return len(self._providers)

    def clear(self) -> None:
        with self._lock:
            self._providers.clear()


# The process-wide cache: all jobs sharing a connection and credentials share one token.
token_cache = TokenCache()
