"""HTTP plumbing shared by the token, API and inference calls.

Pure parts (error-body parsing, exception mapping) are separate from the one
function that actually sends, so they can be tested without a server.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

from wallaroo_operator.fast_json import has_long_integer

from .errors import (
    InvalidConnection,
    TLSVerificationFailed,
    Unreachable,
    UntrustedInferenceHost,
    WallarooError,
    quote_external,
)

# requests' `verify`: True/False, or the path of a CA bundle file.
Verify = bool | str
# requests' `timeout`: one number, or (connect, read) seconds.
Timeout = float | tuple[float, float]

# Defaults from the SDK (reference §6).
TOKEN_TIMEOUT: Timeout = (5.0, 5.0)
API_TIMEOUT: Timeout = (5.0, 60.0)
INFERENCE_TIMEOUT: Timeout = (5.0, 15.0)


def new_session(pool_size: int = 10) -> requests.Session:
    """A session whose connection pool fits ``pool_size`` concurrent requests.

    requests' default pool keeps 10 connections per host; more parallel requests
    would open and discard extra connections on every call.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 1))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclass(frozen=True)
class ErrorBody:
    """What an error body says, whichever of Wallaroo's shapes it came in."""

    message: str
    code: int | None = None  # numeric code inside the body, if any
    source: str | None = None  # "engine", "platform", "load-balancer", ...
    kind: str | None = None  # Keycloak's `error` or the engine's `error_type`


def decode_json(text: str | bytes) -> Any:
    """``json.loads`` that fails with ValueError only (deep nesting raises RecursionError). orjson reads
    answers several times faster; what it refuses or reads otherwise (NaN, nesting past 1024, integers
    beyond 64 bits, which it reads as floats) is read by json, so the result is json's either way."""
    if not has_long_integer(text.encode() if isinstance(text, str) else text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def parse_error_body(text: str) -> ErrorBody:
    """Parse every error shape in reference §5 (plain text included)."""
    stripped = text.strip()
    try:
        data = decode_json(stripped)
    except ValueError:
        return ErrorBody(message=stripped)
    if isinstance(data, list):
        return _parse_error_list(data, stripped)
    if isinstance(data, dict):
        return _parse_error_object(data, stripped)
    return ErrorBody(message=stripped)


def _parse_error_list(items: list[Any], text: str) -> ErrorBody:
    """Engines up to 2023.2: ``[{"error": ..., "error_type": ...}, ...]``."""
    errors = [i for i in items if isinstance(i, dict)]
    messages = [_text(i.get("error", "")) for i in errors if i.get("error")]
    kinds = [_text(i["error_type"]) for i in errors if i.get("error_type")]
    return ErrorBody(message="; ".join(messages) or text[:200], kind=kinds[0] if kinds else None)


def _parse_error_object(data: dict[str, Any], text: str) -> ErrorBody:
    if "error_description" in data or _is_keycloak_error(data):
        return ErrorBody(
            message=_text(data.get("error_description") or data.get("error")),
            kind=data["error"] if isinstance(data.get("error"), str) else None,
        )
    message = data.get("msg") or data.get("error") or data.get("message")
    code = data.get("code") if _is_int(data.get("code")) else None
    if code is None and _is_int(data.get("status")):  # the load balancer's shape
        code = data["status"]
    source = data.get("source")
    return ErrorBody(
        message=_text(message) if message is not None else text[:200],
        code=code,
        source=_text(source) if source is not None else None,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> str:
    """A JSON value as message text; nested structures as their (bounded) JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)[:200]
    except (RecursionError, ValueError):
        return "(unreadable value)"


def _is_keycloak_error(data: dict[str, Any]) -> bool:
    # Keycloak: {"error": "invalid_grant", ...}; its codes are snake_case words.
    error = data.get("error")
    return set(data) <= {"error", "error_description", "error_uri"} and (
        isinstance(error, str) and error.replace("_", "").isalpha() and error.islower()
    )


def describe_response(response: requests.Response, secrets: Iterable[str | None] = ()) -> str:
    """``HTTP 503 from load-balancer: <message>``, sanitized and truncated."""
    body = parse_error_body(response.text)
    source = f" from {body.source}" if body.source else ""
    message = quote_external(body.message, secrets) if body.message else "(empty body)"
    return f"HTTP {response.status_code}{source}: {message}"


def error_from_exception(
    exc: requests.RequestException, what: str, secrets: Iterable[str | None] = ()
) -> WallarooError:
    """Map a requests exception raised while doing ``what`` to a client error."""
    detail = quote_external(str(exc), secrets)
    if isinstance(exc, requests.exceptions.SSLError):
        return TLSVerificationFailed(
            f"{what}: TLS verification failed ({detail}); provide the server's CA bundle or fix its certificate"
        )
    if isinstance(exc, requests.Timeout):
        return Unreachable(f"{what}: timed out ({detail})")
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return Unreachable(f"{what}: connection failed ({detail})")
    if isinstance(
        exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
    ):
        return InvalidConnection(f"{what}: invalid URL ({detail})")
    return Unreachable(f"{what}: request failed ({detail})")


def post(
    session: requests.Session,
    url: str,
    *,
    what: str,
    secrets: Iterable[str | None] = (),
    **kwargs: Any,
) -> requests.Response:
    """POST, turning transport failures into client errors (never leaking secrets)."""
    return send(session, "POST", url, what=what, secrets=secrets, **kwargs)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    secrets: Iterable[str | None] = (),
    **kwargs: Any,
) -> requests.Response:
    try:
        return session.request(method, url, **kwargs)
    except requests.RequestException as exc:
        raise error_from_exception(exc, what, secrets) from None


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


# ---- where a bearer token may go ---------------------------------------------------------------

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``scheme://host:port`` of an http(s) URL, lower-cased and with the default port written out:
    the unit a token is scoped to, as browsers scope cookies and CORS. Raises ValueError otherwise."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    port = parts.port  # raises ValueError for a port that is not a number in 0-65535
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}"


def require_trusted_origin(url: str, trusted: Collection[str], what: str) -> None:
    """Refuse, before anything is sent, a URL whose origin is not in ``trusted`` (origins as
    :func:`origin_of` writes them) or that carries user info. Messages name the origin, never
    the user info."""
    try:
        origin = origin_of(url)
    except ValueError:
        raise UntrustedInferenceHost(
            f"{what}: the API named an inference URL that is not a valid http(s) URL; no token was sent"
        ) from None
    if "@" in urlsplit(url).netloc:
        raise UntrustedInferenceHost(
            f"{what}: the API named an inference URL on {origin} with user info in it; no token was sent"
        )
    if origin not in trusted:
        raise UntrustedInferenceHost(
            f"{what}: the API named an inference URL on {origin}, which is neither the API's own "
            "origin nor one of the connection's inference hosts; no token was sent (add the origin "
            "to the connection's inference hosts if it is Wallaroo's)"
        )
