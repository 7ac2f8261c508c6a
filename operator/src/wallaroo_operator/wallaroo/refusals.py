"""What Keycloak's refusals mean: the error class that names the cause, and what to do about it.

Pure (no HTTP): :func:`refusal` maps a token endpoint's failed answer, already parsed, to a client error.
"""

from __future__ import annotations

from .errors import (
    AccountDisabled,
    AccountNotSetUp,
    AuthenticationFailed,
    ClientNotAllowed,
    InvalidClientCredentials,
    InvalidConnection,
    InvalidCredentials,
    ServerError,
    WallarooError,
)
from .http import ErrorBody

_DISABLED = "the Keycloak account of {principal} is disabled; an administrator must enable it"
_NOT_SET_UP = (
    "{principal} has pending required actions in Keycloak (verify email, update password or "
    "profile, ...); complete them in an interactive login or have an administrator clear them"
)
_NO_DIRECT_GRANTS = (
    "client {client!r} does not allow the password grant; enable 'Direct access grants' on it "
    "in Keycloak, or use grant client_credentials"
)
_NO_SERVICE_ACCOUNT = (
    "client {client!r} has no service account; enable 'Service accounts' on it in Keycloak "
    "(a confidential client), or use the password grant"
)
_WRONG_PASSWORD = (
    "the username or password of {principal} is wrong (Keycloak answers the same for an unknown "
    "user and for an account locked after failed logins)"
)
_WRONG_CLIENT = "check the client id {client!r} and its secret"

# Keycloak's error descriptions (26.x, also older wordings), most specific first: the error
# class naming the cause, and what to do about it. Matched case-insensitively as substrings.
_REFUSALS: tuple[tuple[str, type[AuthenticationFailed], str], ...] = (
    ("account disabled", AccountDisabled, _DISABLED),
    ("user disabled", AccountDisabled, _DISABLED),
    ("not fully set up", AccountNotSetUp, _NOT_SET_UP),
    ("direct access grants", ClientNotAllowed, _NO_DIRECT_GRANTS),
    ("service account", ClientNotAllowed, _NO_SERVICE_ACCOUNT),
    ("invalid user credentials", InvalidCredentials, _WRONG_PASSWORD),
    ("client secret", InvalidClientCredentials, "check the secret of client {client!r}"),
    ("invalid client", InvalidClientCredentials, _WRONG_CLIENT),
    ("authenticating client", InvalidClientCredentials, _WRONG_CLIENT),
)
_REFUSALS_BY_KIND: dict[str, tuple[type[AuthenticationFailed], str]] = {
    "invalid_client": (InvalidClientCredentials, _WRONG_CLIENT),
    "invalid_grant": (AuthenticationFailed, "Keycloak refused the grant of {principal}"),
}


def refusal(status: int, body: ErrorBody, description: str, what: str, principal: str, client_id: str) -> WallarooError:
    """The error for a token endpoint's failed answer; ``description`` is already safe to quote."""
    if status >= 500 or status == 429:
        return ServerError(f"{what}: {description}", status=status)
    if status == 404:
        realm = "realm does not exist" in body.message.lower()
        hint = (
            "the token URL names a realm that does not exist (Wallaroo's is 'master')"
            if realm
            else "check the connection's token URL"
        )
        return InvalidConnection(f"{what}: {description}; {hint}", status=status)
    error_class, hint = _refusal_for(body.message, body.kind)
    hint = hint.format(principal=principal, client=client_id)
    return error_class(f"{what}: {description}; {hint}", status=status)


def _refusal_for(message: str, kind: str | None) -> tuple[type[AuthenticationFailed], str]:
    text = message.lower()
    for needle, error_class, hint in _REFUSALS:
        if needle in text:
            return error_class, hint
    return _REFUSALS_BY_KIND.get(kind or "", (AuthenticationFailed, "check the connection's token URL and credentials"))
