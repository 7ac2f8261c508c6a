"""Property-based: whatever Keycloak, the MLOps API or an engine answers, the client ends in its own errors.

Each property sends the real client code an arbitrary answer (status, headers, bytes or JSON, including
deep nesting, huge numbers, NaN and non-UTF-8) through a canned transport, the one seam below HTTP, and
accepts only a result or a WallarooError: never another exception, which would reach the operator as an
InternalError. The JSON a server sends is drawn from real shapes too, so the parsers' deeper paths run.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallaroo_operator.wallaroo import (
    Credentials,
    RetryPolicy,
    TokenProvider,
    WallarooApi,
    WallarooError,
    parse_retry_after,
    run_inference,
)
from wallaroo_operator.wallaroo.formats import parse_outputs
from wallaroo_operator.wallaroo.http import parse_error_body

TOKEN_URL = "https://keycloak.example/auth/realms/master/protocol/openid-connect/token"
API_URL = "https://api.example/v1/api"
INFER_URL = "https://api.example/v1/api/pipelines/infer/p-1/p"
NO_WAIT = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, max_retries_per_request=1, budget=1, max_retry_after=0.0)
SETTINGS = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# ---- what a server may answer -----------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "access_token",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "error",
        "error_description",
        "msg",
        "code",
        "status",
        "source",
        "message",
        "workspaces",
        "id",
        "name",
        "archived",
        "pipelines",
        "created_by",
        "url",
        "outputs",
        "Float",
        "dim",
        "data",
        "out",
        "out.dense_1",
        "in",
        "time",
        "error_type",
    ]
)
shaped = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6), max_leaves=30
)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


special_bodies = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b"{}",
        b"\xff\xfe\x00garbage",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b'{"expires_in": NaN}',
        b"1" * 5000,
        b'{"access_token": "a", "expires_in": ' + b"9" * 5000 + b"}",
        b'{"access_token": "a", "expires_in": 1e400}',
        b'{"access_token": "a", "expires_in": true}',
        b'{"access_token": "a", "expires_in": 60, "refresh_token": 5, "refresh_expires_in": "x"}',
        nested(100_000),
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"workspaces": [{"id": Infinity, "name": "w"}]}',
        b'{"workspaces": [{"id": 1, "name": "w", "pipelines": [1e999]}]}',
        b'[{"outputs": [{"Float": {"dim": [1000000000000000000, 0], "data": []}}]}]',
        b'[{"outputs": [{"Float": {"dim": ["a", 1], "data": [1]}}]}]',
        b'[{"outputs": [{"Float": [1, 2]}]}]',
        b'[{"out": {"x": [1e999999]}}]',
        b'[{"out": {"x": [' + b"9" * 400 + b"]}}]",
    ]
)
bodies = (
    st.binary(max_size=200)
    | special_bodies
    | json_values.map(lambda v: json.dumps(v).encode())
    | shaped.map(lambda v: json.dumps(v).encode())
)
statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 415, 429, 500, 502, 503])
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=30)
headers = st.fixed_dictionaries({}, optional={"Retry-After": header_values, "Content-Type": header_values})


class Canned(requests.Session):
    """A transport that answers every request with the same status, headers and body."""

    def __init__(self, status: int, body: bytes, answer_headers: dict[str, str]) -> None:
        super().__init__()
        self.answer = (status, body, answer_headers)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        status, body, answer_headers = self.answer
        response = requests.Response()
        response.status_code, response._content, response.url = status, body, url
        response.headers.update(answer_headers)
        response.encoding = "utf-8"
        return response


class FixedToken(TokenProvider):
    def __init__(self) -> None:
        super().__init__(TOKEN_URL, Credentials(client_id="api-client", client_secret="s", grant="client_credentials"))

    def token(self) -> str:
        return "a-token"


def only_own_errors(call: Any) -> Any:
    try:
        return call()
    except WallarooError as error:
        assert error.reason and isinstance(error.message, str)
        return error


@SETTINGS
@given(statuses, bodies, headers)
def test_token_answers(status: int, body: bytes, answer_headers: dict[str, str]) -> None:
    for grant, username, password in (("password", "u", "p"), ("client_credentials", None, None)):
        credentials = Credentials(
            client_id="api-client",
            client_secret="s",
            grant=grant,  # type: ignore[arg-type]
            username=username,
            password=password,
        )
        tokens = TokenProvider(TOKEN_URL, credentials, Canned(status, body, answer_headers))
        token = only_own_errors(tokens.token)
        assert isinstance(token, str | WallarooError)


@SETTINGS
@given(statuses, bodies, headers)
def test_mlops_answers(status: int, body: bytes, answer_headers: dict[str, str]) -> None:
    api = WallarooApi(API_URL, FixedToken(), Canned(status, body, answer_headers))
    only_own_errors(api.list_workspaces)
    only_own_errors(lambda: api.workspace_id("w"))
    only_own_errors(lambda: api.external_url(1, "p"))


@SETTINGS
@given(statuses, bodies, headers, st.sampled_from(["legacy", "pandas-records"]))
def test_inference_answers(status: int, body: bytes, answer_headers: dict[str, str], request_format: str) -> None:
    only_own_errors(
        lambda: run_inference(
            lambda force=False: INFER_URL,
            [[1.0, 2.0]],
            input_name="tensor",
            request_format=request_format,  # type: ignore[arg-type]
            parallelism=1,
            retry=NO_WAIT,
            tokens=FixedToken(),
            session=Canned(status, body, answer_headers),
        )
    )


@SETTINGS
@given(shaped | json_values, st.sampled_from(["legacy", "pandas-records"]), st.integers(0, 3))
def test_output_parsers(body: Any, request_format: str, rows: int) -> None:
    only_own_errors(lambda: parse_outputs(body, request_format, rows))  # type: ignore[arg-type]


@SETTINGS
@given(st.text(max_size=300) | bodies.map(lambda b: b.decode("utf-8", errors="replace")))
def test_error_bodies(text: str) -> None:
    parsed = parse_error_body(text)
    assert isinstance(parsed.message, str)
    assert parsed.kind is None or isinstance(parsed.kind, str)


@SETTINGS
@given(header_values | st.text(max_size=40))
def test_retry_after(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or seconds >= 0
