"""Errors of the Wallaroo client and the scrubbing that keeps secrets out of them.

Every error carries a CamelCase ``reason`` (ready for a Kubernetes condition) and
``retryable``: whether running the whole job again later may succeed without the
user changing anything. Messages are meant for users; they are scrubbed of
anything that looks like a credential when the error is built, and callers that
know concrete secret values pass them through :func:`sanitize` as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import ClassVar
from urllib.parse import quote, quote_plus

MAX_QUOTED_CHARS = 300
REDACTED = "***"

# Patterns for credentials that may show up in server bodies or library messages.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_SECRET_FIELD = re.compile(
    r"(?i)\b((?:client_secret|password|access_token|refresh_token|id_token|authorization)"
    r"['\"]?\s*[:=]\s*['\"]?)[^'\"&,;}\s]+"
)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def sanitize(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove known secret values and anything credential-shaped from ``text``."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _URL_USERINFO.sub(f"{REDACTED}@", text)


def truncate(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    text = " ".join(text.split())  # one line: messages end up in conditions and events
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote_external(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Make text received from a server or a library safe and short enough to quote."""
    return truncate(sanitize(text, secrets))


class WallarooError(Exception):
    """Root of the client's errors."""

    reason: ClassVar[str] = "WallarooError"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.message = sanitize(message)
        self.status = status  # HTTP status behind the error, when there was one
        super().__init__(self.message)


class InvalidConnection(WallarooError):
    """The connection settings cannot work (malformed URL, unsupported grant, ...)."""

    reason = "InvalidConnection"


class AuthenticationFailed(WallarooError):
    """Keycloak refused to issue a token, or the API refused a fresh token.

    The subclasses below name the cause Keycloak gave for a refused login, so a
    condition can say what to fix; none of them is retried (brute-force detection
    could lock the account).
    """

    reason = "AuthenticationFailed"


class InvalidCredentials(AuthenticationFailed):
    """Wrong username or password (Keycloak answers the same for an unknown or locked user)."""

    reason = "InvalidCredentials"


class InvalidClientCredentials(AuthenticationFailed):
    """Unknown OAuth client, or a wrong or missing client secret."""

    reason = "InvalidClientCredentials"


class AccountDisabled(AuthenticationFailed):
    reason = "AccountDisabled"


class AccountNotSetUp(AuthenticationFailed):
    """The user has pending required actions (verify email, update password or profile, ...)."""

    reason = "AccountNotSetUp"


class ClientNotAllowed(AuthenticationFailed):
    """The client may not use the grant: direct access grants or its service account is off."""

    reason = "ClientNotAllowed"


class WorkspaceNotFound(WallarooError):
    reason = "WorkspaceNotFound"

    def __init__(self, name: str, visible: int, principal: str) -> None:
        super().__init__(f"workspace {name!r} not found; {visible} workspaces are visible to {principal}")
        self.name = name


class AmbiguousWorkspace(WallarooError):
    reason = "AmbiguousWorkspace"

    def __init__(self, name: str, ids: Sequence[int]) -> None:
        listed = ", ".join(str(i) for i in ids)
        super().__init__(f"{len(ids)} workspaces are named {name!r} (ids {listed}); rename all but one")
        self.name = name
        self.ids = tuple(ids)


class PipelineNotFound(WallarooError):
    reason = "PipelineNotFound"


class PipelineNotDeployed(WallarooError):
    """The pipeline exists but has no running deployment; it may be deployed later."""

    reason = "PipelineNotDeployed"
    retryable = True


class InvalidInput(WallarooError):
    """The engine rejected the data (HTTP 400): wrong field, width, nulls, ..."""

    reason = "InvalidInput"


class RequestRejected(WallarooError):
    """Any other 4xx answer that retrying cannot fix."""

    reason = "RequestRejected"


class UnexpectedResponse(WallarooError):
    """A success status with a body this client cannot interpret."""

    reason = "UnexpectedResponse"


class Unreachable(WallarooError):
    """Timeouts and connection failures (after the retries allowed)."""

    reason = "Unreachable"
    retryable = True


class TLSVerificationFailed(WallarooError):
    """The server's certificate is not trusted: needs a CA bundle, not a retry."""

    reason = "TLSVerificationFailed"


class UntrustedInferenceHost(WallarooError):
    """The API named an inference URL on an origin the connection does not trust with its token."""

    reason = "UntrustedInferenceHost"


class ServerError(WallarooError):
    """5xx or 429 answers (after the retries allowed)."""

    reason = "ServerError"
    retryable = True


class RetryBudgetExhausted(WallarooError):
    """The run used up its retry budget; the message ends with the last failure."""

    reason = "RetryBudgetExhausted"
    retryable = True

    def __init__(self, budget: int, last_failure: WallarooError) -> None:
        super().__init__(
            f"gave up after using the run's retry budget of {budget} retries; last failure: {last_failure.message}",
            status=last_failure.status,
        )
        self.last_failure = last_failure


class InferenceCancelled(WallarooError):
    reason = "InferenceCancelled"

    def __init__(self, rows_completed: int, rows_total: int) -> None:
        super().__init__(f"inference cancelled after {rows_completed} of {rows_total} rows completed")
        self.rows_completed = rows_completed
        self.rows_total = rows_total
