"""Error-body parsing, error mapping and the scrubbing of secrets from messages."""

from __future__ import annotations

import json

import pytest
import requests

from wallaroo_operator.wallaroo import (
    AmbiguousWorkspace,
    AuthenticationFailed,
    InvalidConnection,
    InvalidInput,
    PipelineNotDeployed,
    RequestRejected,
    RetryBudgetExhausted,
    ServerError,
    TLSVerificationFailed,
    Unreachable,
    WallarooError,
    WorkspaceNotFound,
    sanitize,
)
from wallaroo_operator.wallaroo.api import api_error
from wallaroo_operator.wallaroo.auth import Credentials, token_error
from wallaroo_operator.wallaroo.http import (
    ErrorBody,
    describe_response,
    error_from_exception,
    parse_error_body,
)
from wallaroo_operator.wallaroo.inference import inference_error

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
LB_MESSAGE = "The resources required to run this request are not available."


def response(status: int, body: str | object) -> requests.Response:
    """A real (unsent) requests.Response carrying ``body``."""
    answer = requests.Response()
    answer.status_code = status
    answer._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    return answer


# ---- error bodies (reference §5, §3, §2) ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Jwt is missing", ErrorBody("Jwt is missing")),
        ("", ErrorBody("")),
        (
            {"code": 401, "status": "error", "error": "Jwt is missing", "source": "platform"},
            ErrorBody("Jwt is missing", 401, "platform"),
        ),
        (
            {"code": 400, "status": "error", "error": "tensor values may not be null", "source": "engine"},
            ErrorBody("tensor values may not be null", 400, "engine"),
        ),
        (
            {"status": "Error", "error": 'Error running inference: "Error getting tensor"'},
            ErrorBody('Error running inference: "Error getting tensor"'),
        ),
        (
            {"source": "load-balancer", "status": 503, "message": LB_MESSAGE},
            ErrorBody(LB_MESSAGE, 503, "load-balancer"),
        ),
        (
            [{"error": "bad tensor", "error_type": "InferenceError"}, {"error": "again"}],
            ErrorBody("bad tensor; again", kind="InferenceError"),
        ),
        (
            {"error": "invalid_grant", "error_description": "Invalid user credentials"},
            ErrorBody("Invalid user credentials", kind="invalid_grant"),
        ),
        ({"error": "unauthorized_client"}, ErrorBody("unauthorized_client", kind="unauthorized_client")),
        (
            {"msg": "Internal Server Error: Insufficient memory", "code": 500},
            ErrorBody("Internal Server Error: Insufficient memory", 500),
        ),
        ({"unexpected": True}, ErrorBody('{"unexpected": true}')),
        ("[1, 2]", ErrorBody("[1, 2]")),
    ],
)
def test_parse_error_body(body: str | object, expected: ErrorBody) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    assert parse_error_body(text) == expected


def test_describe_response_names_status_source_and_message() -> None:
    answer = response(503, {"source": "load-balancer", "status": 503, "message": LB_MESSAGE})
    assert describe_response(answer) == f"HTTP 503 from load-balancer: {LB_MESSAGE}"
    assert describe_response(response(502, "")) == "HTTP 502: (empty body)"


def test_describe_response_truncates_long_bodies() -> None:
    text = describe_response(response(500, "x" * 10_000))
    assert len(text) < 400 and text.endswith("…")


def test_describe_response_scrubs_echoed_secrets() -> None:
    answer = response(400, f"bad request: Authorization: Bearer {JWT} password=hunter2")
    text = describe_response(answer, secrets=["hunter2"])
    assert JWT not in text and "hunter2" not in text


# ---- sanitize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"token {JWT} rejected",
        "headers={'Authorization': 'Bearer abc.def-ghi'}",
        "Authorization: Basic YXBpLWNsaWVudDpzM2NyZXQ=",
        "grant_type=password&username=u&password=p4ss&client_secret=s3cr3t",
        '{"access_token":"opaque-token","refresh_token":"opaque-refresh"}',
        "https://user:p4ss@host.example/v1/api",
    ],
)
def test_sanitize_removes_credential_shaped_text(text: str) -> None:
    cleaned = sanitize(text)
    for leaked in (JWT, "abc.def-ghi", "YXBpLWNsaWVudDpzM2NyZXQ=", "p4ss", "s3cr3t", "opaque-token", "opaque-refresh"):
        assert leaked not in cleaned


def test_sanitize_removes_known_secrets_in_any_encoding() -> None:
    secret = "s3cret/with spaces&symbols"
    text = f"raw {secret} quoted s3cret%2Fwith%20spaces%26symbols plus s3cret%2Fwith+spaces%26symbols"
    assert "s3cret" not in sanitize(text, [secret, None, ""])


def test_errors_scrub_their_own_messages() -> None:
    error = ServerError(f"upstream said Bearer {JWT}")
    assert JWT not in str(error) and JWT not in error.message


# ---- mapping -------------------------------------------------------------------------------


def test_exceptions_map_to_reasons_without_secrets() -> None:
    ssl = requests.exceptions.SSLError("certificate verify failed: self signed certificate")
    assert isinstance(error_from_exception(ssl, "x"), TLSVerificationFailed)
    assert isinstance(error_from_exception(requests.exceptions.ReadTimeout("read timed out"), "x"), Unreachable)
    assert isinstance(error_from_exception(requests.exceptions.ConnectTimeout("t"), "x"), Unreachable)
    assert isinstance(error_from_exception(requests.ConnectionError("refused"), "x"), Unreachable)
    assert isinstance(error_from_exception(requests.exceptions.MissingSchema("no scheme"), "x"), InvalidConnection)
    leaky = requests.ConnectionError(f"failed with headers {{'Authorization': 'Bearer {JWT}'}} pw")
    message = error_from_exception(leaky, "listing workspaces", secrets=["pw"]).message
    assert JWT not in message and " pw" not in message
    assert message.startswith("listing workspaces: connection failed")


def test_reasons_and_retryability() -> None:
    expected = {
        AuthenticationFailed: ("AuthenticationFailed", False),
        InvalidInput: ("InvalidInput", False),
        PipelineNotDeployed: ("PipelineNotDeployed", True),
        ServerError: ("ServerError", True),
        Unreachable: ("Unreachable", True),
        TLSVerificationFailed: ("TLSVerificationFailed", False),
        RequestRejected: ("RequestRejected", False),
    }
    for cls, (reason, retryable) in expected.items():
        assert issubclass(cls, WallarooError)
        assert (cls.reason, cls.retryable) == (reason, retryable)
    budget = RetryBudgetExhausted(10, ServerError("HTTP 503", status=503))
    assert budget.retryable and budget.status == 503 and "HTTP 503" in budget.message


def test_user_facing_messages() -> None:
    missing = WorkspaceNotFound("x", 3, "user 'demo@example.com'")
    assert str(missing) == "workspace 'x' not found; 3 workspaces are visible to user 'demo@example.com'"
    ambiguous = AmbiguousWorkspace("dup", [4, 9])
    assert "ids 4, 9" in str(ambiguous) and ambiguous.ids == (4, 9)


@pytest.mark.parametrize(
    ("status", "description", "error_type"),
    [
        (400, "HTTP 400 from engine: tensor values may not be null", InvalidInput),
        (401, "HTTP 401: Jwt is missing", AuthenticationFailed),
        (403, "HTTP 403: RBAC: access denied", RequestRejected),
        (404, "HTTP 404 from platform: Deployment not found", PipelineNotDeployed),
        (409, "HTTP 409 from engine: mismatch", RequestRejected),
        (413, "HTTP 413: too large", RequestRejected),
        (429, "HTTP 429: slow down", ServerError),
        (500, "HTTP 500: Error running inference", ServerError),
        (503, f"HTTP 503 from load-balancer: {LB_MESSAGE}", ServerError),
    ],
)
def test_inference_error_by_status(status: int, description: str, error_type: type) -> None:
    error = inference_error(status, description, "inference batch 0 (rows 0-9)")
    assert type(error) is error_type and error.status == status
    assert error.message.startswith("inference batch 0 (rows 0-9): HTTP")


def test_inference_error_hints_at_batch_size_for_load_balancer_503() -> None:
    error = inference_error(503, f"HTTP 503 from load-balancer: {LB_MESSAGE}", "batch")
    assert "smaller batch size" in error.message


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, AuthenticationFailed),
        (403, RequestRejected),
        (400, RequestRejected),
        (404, RequestRejected),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_api_error_by_status(status: int, error_type: type) -> None:
    assert type(api_error(status, "HTTP x", "listing workspaces")) is error_type


def test_token_errors_say_what_to_check() -> None:
    creds = Credentials("api-client", "sec", "password", "demo@example.com", "pw")
    secrets = creds.secret_values()
    wrong_password = response(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
    error = token_error(wrong_password, "logging in", creds, secrets)
    assert isinstance(error, AuthenticationFailed)
    assert "Invalid user credentials" in error.message and "demo@example.com" in error.message
    wrong_secret = response(401, {"error": "unauthorized_client", "error_description": "Invalid client secret"})
    assert "secret of client 'api-client'" in token_error(wrong_secret, "logging in", creds, secrets).message
    down = response(503, {"error": "temporarily_unavailable", "error_description": "busy"})
    assert isinstance(token_error(down, "logging in", creds, secrets), ServerError)
