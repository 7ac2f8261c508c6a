"""The admin API lists every token the simulator issued: what the suite's secret scan looks for."""

from __future__ import annotations

import requests

from tests.simulator.conftest import password_grant


def test_every_access_and_refresh_token_issued_is_listed(sim):
    assert sim.admin.issued_tokens() == []
    first = password_grant(sim)
    second = password_grant(sim)
    service = requests.post(
        sim.token_url, auth=(sim.client, sim.secret), data={"grant_type": "client_credentials"}, timeout=10
    ).json()

    issued = sim.admin.issued_tokens()

    assert set(issued) == {
        first["access_token"],
        first["refresh_token"],
        second["access_token"],
        second["refresh_token"],
        service["access_token"],
    }
    assert "refresh_token" not in service  # a service account gets no refresh token, so none is listed
