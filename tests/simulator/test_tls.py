"""HTTPS with the simulator's own CA: verification works with the bundle and fails without it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509

from tests.simulator.conftest import password_grant
from wallaroo_simulator import RunningSimulator, run_simulator


@pytest.fixture(scope="module")
def tls_sim() -> Iterator[RunningSimulator]:
    with run_simulator(tls=True, hostnames=("sim.example.test",)) as sim:
        yield sim


def test_tls_with_the_ca_bundle(tls_sim: RunningSimulator) -> None:
    assert tls_sim.base_url.startswith("https://") and tls_sim.ca_file
    for url in (tls_sim.token_url, tls_sim.keycloak_token_url):
        token = password_grant(tls_sim, url)["access_token"]
    response = requests.post(
        tls_sim.api_url + "/workspaces/list",
        json={},
        verify=tls_sim.ca_file,
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("listener", ["token_url", "keycloak_token_url"])
def test_tls_verification_fails_without_the_bundle(tls_sim: RunningSimulator, listener: str) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(getattr(tls_sim, listener), data={"grant_type": "password"}, timeout=10)


def test_certificate_covers_the_names(tls_sim: RunningSimulator) -> None:
    host, port = tls_sim.base_url.removeprefix("https://").split(":")
    pem = ssl.get_server_certificate((host, int(port)))
    names = (
        x509.load_pem_x509_certificate(pem.encode())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert {"localhost", "sim.example.test"} <= set(names.get_values_for_type(x509.DNSName))
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


def test_temporary_tls_files_are_removed_on_exit() -> None:
    with run_simulator(tls=True) as sim:
        ca_file = Path(sim.ca_file or "")
        assert ca_file.is_file()
    assert not ca_file.exists()
