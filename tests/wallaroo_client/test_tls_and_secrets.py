"""HTTPS with a private CA (trusted, untrusted, disabled) and a scan for leaked secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from wallaroo_operator.wallaroo import (
    AuthenticationFailed,
    InvalidInput,
    ServerError,
    TLSVerificationFailed,
    WallarooApi,
    WallarooError,
    run_inference,
)
from wallaroo_simulator import MLOPS_TARGET, RunningSimulator, run_simulator

from .conftest import ALOHA, FAST_RETRY, aloha_rows, expected, provider_for, resolver_for


@pytest.fixture
def tls_sim() -> Iterator[RunningSimulator]:
    with run_simulator(tls=True) as running:
        yield running


def test_https_with_the_servers_ca_bundle(tls_sim: RunningSimulator) -> None:
    assert tls_sim.ca_file and tls_sim.api_url.startswith("https://")
    tokens = provider_for(tls_sim)  # verify=tls_sim.ca_file
    api = WallarooApi(tls_sim.api_url, tokens, verify=tls_sim.ca_file)
    data = aloha_rows(30)
    outcome = run_inference(
        resolver_for(api, ALOHA), data, input_name="text_input", batch_size=7, tokens=tokens, verify=tls_sim.ca_file
    )
    assert outcome.outputs == expected(tls_sim, ALOHA[1], data, legacy=True)


def test_untrusted_certificate_fails_without_retrying(tls_sim: RunningSimulator) -> None:
    tokens = provider_for(tls_sim)
    api = WallarooApi(tls_sim.api_url, tokens, verify=tls_sim.ca_file)
    url = resolver_for(api, ALOHA)()
    with pytest.raises(TLSVerificationFailed, match="CA bundle") as caught:
        run_inference(
            lambda force=False: url,
            aloha_rows(2),
            input_name="text_input",
            tokens=tokens,
            verify=True,
            retry=FAST_RETRY,
        )
    assert not caught.value.retryable and caught.value.reason == "TLSVerificationFailed"


def test_untrusted_keycloak_certificate(tls_sim: RunningSimulator) -> None:
    tokens = provider_for(tls_sim)
    tokens_without_ca = type(tokens)(tokens.token_url, tokens.credentials)  # verify=True: system CAs only
    with pytest.raises(TLSVerificationFailed, match="logging in as user"):
        tokens_without_ca.token()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_explicitly_disabled(tls_sim: RunningSimulator) -> None:
    tokens = type(provider_for(tls_sim))(tls_sim.keycloak_token_url, provider_for(tls_sim).credentials, verify=False)
    assert WallarooApi(tls_sim.api_url, tokens, verify=False).workspace_id("urldemoworkspace") == 16


def test_no_secret_reaches_messages_reprs_or_logs(sim: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = provider_for(sim)
    api = WallarooApi(sim.api_url, tokens)
    resolver = resolver_for(api, ALOHA)
    texts: list[str] = [repr(tokens), str(tokens.credentials), repr(api)]

    def failure(action, kind: type[WallarooError]) -> None:
        with pytest.raises(kind) as caught:
            action()
        texts.extend([str(caught.value), repr(caught.value), caught.value.message])

    def infer(rows: list[list[int | None]] | None = None):
        data = rows or aloha_rows(2)
        return lambda: run_inference(resolver, data, input_name="text_input", tokens=tokens, retry=FAST_RETRY)

    sim.admin.set_faults(ALOHA[1], fail_next=3, status=401, message=f"Bearer {tokens.token()} rejected")
    failure(infer(), AuthenticationFailed)
    sim.admin.set_faults(ALOHA[1], fail_next=100, status=503, message=f"echo {sim.password} {sim.secret}")
    failure(infer(), ServerError)
    sim.admin.clear_faults()
    failure(infer([[None] * 50]), InvalidInput)
    sim.admin.set_faults(MLOPS_TARGET, fail_next=2, status=401)
    failure(api.list_workspaces, AuthenticationFailed)
    failure(provider_for(sim, password="not-the-password").token, AuthenticationFailed)
    failure(provider_for(sim, client_secret="not-the-secret").token, AuthenticationFailed)
    texts.extend(record.getMessage() for record in caplog.records)

    secrets = {sim.password, sim.secret, "not-the-password", "not-the-secret", *tokens.secret_values()}
    leaks = [(secret, text) for text in texts for secret in secrets if secret in text]
    assert not leaks
    assert not any("Bearer ey" in text or "Basic " in text for text in texts)
