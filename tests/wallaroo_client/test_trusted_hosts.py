"""The bearer token goes only to the API's origin and to inference hosts listed explicitly: a second
real HTTP server on loopback counts what reached it."""

from __future__ import annotations

import pytest

from tests.support.recording_server import recording_server
from wallaroo_operator.wallaroo import ExternalUrlResolver, WallarooApi, run_inference
from wallaroo_operator.wallaroo.errors import UntrustedInferenceHost
from wallaroo_operator.wallaroo.http import new_session, origin_of
from wallaroo_simulator import run_simulator

from .conftest import ALOHA, aloha_rows, provider_for


@pytest.fixture
def hostile():
    """The simulator hands out inference URLs on another origin: a recording server that forwards to it."""
    with recording_server() as recorder, run_simulator(public_url=recorder.url) as sim:
        recorder.forward_to = sim.base_url
        yield sim, recorder


def test_an_inference_url_on_another_origin_gets_no_token(hostile):
    sim, recorder = hostile
    tokens = provider_for(sim, token_url=sim.token_url)
    api = WallarooApi(sim.api_url, tokens, new_session())
    resolver = ExternalUrlResolver(api, api.workspace_id(ALOHA[0]), ALOHA[1])

    with pytest.raises(UntrustedInferenceHost) as failure:
        run_inference(resolver, aloha_rows(3), input_name="text_input", tokens=tokens)

    assert origin_of(recorder.url) in failure.value.message
    assert "no token was sent" in failure.value.message
    assert recorder.requests == []  # not one request, with or without a token


def test_a_listed_inference_host_gets_the_token(hostile):
    sim, recorder = hostile
    tokens = provider_for(sim, token_url=sim.token_url)
    api = WallarooApi(sim.api_url, tokens, new_session())
    resolver = ExternalUrlResolver(api, api.workspace_id(ALOHA[0]), ALOHA[1], inference_origins=[recorder.url])

    outcome = run_inference(resolver, aloha_rows(3), input_name="text_input", tokens=tokens, batch_size=1)

    assert outcome.rows == 3
    assert len(recorder.authorized) == 3 and all(auth.startswith("Bearer ") for _, _, auth in recorder.authorized)


def test_same_host_on_another_port_or_scheme_is_another_origin():
    assert origin_of("http://127.0.0.1:8080/x") != origin_of("http://127.0.0.1:8081/x")
    assert origin_of("http://h/x") != origin_of("https://h/x")
    assert origin_of("HTTPS://Wallaroo.Example.COM/v1/api") == origin_of("https://wallaroo.example.com:443")
    assert origin_of("http://[::1]:80/") == "http://[::1]:80"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@api.example.com/v1/api/pipelines/infer/p-1",
        "ftp://api.example.com/p",
        "https://api.example.com:99999/p",
        "/relative/path",
    ],
)
def test_urls_with_user_info_or_not_http_are_refused_whatever_the_origin(url):
    from wallaroo_operator.wallaroo.http import require_trusted_origin

    with pytest.raises(UntrustedInferenceHost) as failure:
        require_trusted_origin(url, {"https://api.example.com:443"}, "pipeline 'p'")
    assert "pw" not in failure.value.message and "user:" not in failure.value.message
