"""Where the API and Keycloak live for each install era (reference §1)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .errors import InvalidConnection

KEYCLOAK_TOKEN_PATH = "/auth/realms/master/protocol/openid-connect/token"
API_PATH = "/v1/api"


def connection_urls(url_prefix: str, url_suffix: str) -> tuple[str, str]:
    """(api_url, token_url) for the seed era's separate ``api`` and ``keycloak`` hosts."""
    if not url_prefix or not url_suffix:
        raise InvalidConnection("both urlPrefix and urlSuffix are needed")
    api_url = f"https://{url_prefix}.api.{url_suffix}{API_PATH}"
    token_url = f"https://{url_prefix}.keycloak.{url_suffix}{KEYCLOAK_TOKEN_PATH}"
    return api_url, token_url


def token_url_for(api_url: str) -> str:
    """The token endpoint of a 2024+ or in-cluster install: Keycloak on the API's host."""
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidConnection(f"API URL {api_url!r} is not an http(s) URL")
    return urlunsplit((parts.scheme, parts.netloc, KEYCLOAK_TOKEN_PATH, "", ""))
