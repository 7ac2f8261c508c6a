"""The operator's access token handed to the worker it starts, so a run costs no login of its own.

Each run's worker is a new process with an empty token cache: without this, every run logged in to
Keycloak once (1,000 jobs every minute: 1,000 logins a minute, all for the same user). The operator holds
one cached, self-renewing token per connection; it passes the access token (never the refresh token, which
stays with its owner) and how long it remains valid in the worker's environment, beside the credentials
the worker already gets. The worker uses it until it is due for renewal, and only then logs in itself
(runs longer than the token's remaining life), or after a 401.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .auth import TokenProvider
from .errors import WallarooError

TOKEN_ENV = "WALLAROO_ACCESS_TOKEN"
# The time between reading the expiry here and adopting it there (a fork, or a Pod start), and then some.
TRANSIT_SECONDS = 2.0


def token_environment(tokens: TokenProvider) -> dict[str, str]:
    """{TOKEN_ENV: ...} with a valid token (logging in or renewing first if due), or {} if none: then the
    worker logs in itself and reports any refusal as its own."""
    try:
        token, expires_in, lifetime = tokens.handoff()
    except WallarooError:
        return {}
    if expires_in <= 2 * TRANSIT_SECONDS:
        return {}
    return {
        TOKEN_ENV: json.dumps({"access_token": token, "expires_in": expires_in - TRANSIT_SECONDS, "lifetime": lifetime})
    }


def adopt_from_environment(tokens: TokenProvider, environ: Mapping[str, str]) -> bool:
    """Seed `tokens` with the handed-over token, if any and well-formed; True if adopted."""
    try:
        handed = json.loads(environ.get(TOKEN_ENV) or "null")
        token, expires_in, lifetime = handed["access_token"], float(handed["expires_in"]), float(handed["lifetime"])
    except (TypeError, KeyError, ValueError):
        return False
    if not isinstance(token, str):
        return False
    # Used to its last seconds: the operator renews its own token on time, so what it hands over is at least
    # its renewal margin from expiry; renewing sooner here made every worker started in those seconds log in
    # (measured: 4 to 8 token requests per lifetime).
    tokens.adopt(token, expires_in, lifetime, renew_margin=TRANSIT_SECONDS)
    return True
