"""Every error body a Wallaroo client can meet, built in one place (reference sections 2, 3 and 5).

Handlers raise ``ErrorAnswer`` with a ready response from wherever they detect a problem; the endpoint
wrapper (``endpoints.py``) turns it into the answer, so no handler needs nested early returns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

from .config import ErrorShape

LOAD_BALANCER_MESSAGE = (
    "The resources required to run this request are not available. "
    "Please check the inference endpoint status and try again"
)

# What Wallaroo's inference path answers for a status when nothing more specific is known.
INFERENCE_SHAPE_BY_STATUS: dict[int, ErrorShape] = {
    400: "engine",
    401: "plain-text",
    404: "platform",
    409: "engine",
    429: "platform",
    500: "engine-500",
    503: "load-balancer",
}
DEFAULT_MESSAGES: dict[int, str] = {
    400: "tensor values may not be null",
    401: "Jwt is missing",
    404: "Deployment not found",
    409: "request format does not match the deployed pipeline",
    429: "Too Many Requests",
    500: "Error getting tensor from inference data",
    503: LOAD_BALANCER_MESSAGE,
}


class ErrorAnswer(Exception):
    """Answer the current request with ``response`` (an error in Wallaroo's own shape)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


class InvalidToken(Exception):
    """A bearer token that must be refused; ``reason`` uses Envoy's jwt_authn wording."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DropConnection(Exception):
    """Close the client's connection without answering (a simulated network failure)."""


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Compact JSON, as Wallaroo sends it."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_body(shape: ErrorShape, status: int, message: str) -> object:
    """The JSON body of one error shape (``plain-text`` has none)."""
    match shape:
        case "platform" | "engine":
            return {"code": status, "status": "error", "error": message, "source": shape}
        case "engine-500":
            return {"status": "Error", "error": f'Error running inference: "{message}"'}
        case "load-balancer":
            return {"source": "load-balancer", "status": status, "message": message}
        case "legacy-engine":
            return [{"error": message, "error_type": "InferenceError"}]
        case "mlops":
            return {"msg": message, "code": status}
        case "keycloak":
            error = "temporarily_unavailable" if status in (429, 503) else "server_error"
            return {"error": error, "error_description": message}
    raise ValueError(f"no JSON body for shape {shape!r}")


def error_response(
    shape: ErrorShape, status: int, message: str | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    message = message if message is not None else DEFAULT_MESSAGES.get(status, "error")
    if shape == "plain-text":
        return web.Response(text=message, status=status, headers=headers)
    return json_response(error_body(shape, status, message), status, headers)


def inference_error(status: int, message: str | None = None, headers: Mapping[str, str] | None = None) -> ErrorAnswer:
    return ErrorAnswer(error_response(INFERENCE_SHAPE_BY_STATUS.get(status, "platform"), status, message, headers))


def engine_bad_request(message: str) -> ErrorAnswer:
    """The engine's 400 for input that does not fit the pipeline (wrong field, width, nulls, bad JSON)."""
    return inference_error(400, message)


def deployment_not_found() -> ErrorAnswer:
    return inference_error(404)


def load_balancer_unavailable() -> ErrorAnswer:
    return inference_error(503)


def jwt_rejected(reason: str, realm: str) -> ErrorAnswer:
    """Envoy's jwt_authn answer in front of inference: plain text, with a WWW-Authenticate challenge."""
    challenge = f'Bearer realm="{realm}"' + ("" if reason == "Jwt is missing" else ', error="invalid_token"')
    return ErrorAnswer(error_response("plain-text", 401, reason, {"WWW-Authenticate": challenge}))


def mlops_error(status: int, message: str) -> ErrorAnswer:
    return ErrorAnswer(error_response("mlops", status, message))


# Keycloak sends these on every token endpoint answer, errors included (not on logout's).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def keycloak_error(status: int, error: str, description: str, *, no_store: bool = True) -> ErrorAnswer:
    body = {"error": error, "error_description": description}
    return ErrorAnswer(json_response(body, status, NO_STORE if no_store else None))
