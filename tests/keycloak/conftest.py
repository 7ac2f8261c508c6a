"""One realm, two identity providers: the simulator and a real Keycloak 26, set up the same way.

Every test in this folder takes ``idp`` and runs once against each; the same assertions passing on
both is what shows the simulator answers as Keycloak does. The real Keycloak is started once per
test run (tests/support/keycloak.py); without a JDK or Maven its half of the tests is skipped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import keycloak as kc
from wallaroo_simulator import run_simulator
from wallaroo_simulator.config import (
    ClientConfig,
    SimulatorConfig,
    TokenLifetimes,
    UserConfig,
)

PASSWORD = "demo-password+%:é"  # in the form body, where requests encodes it anyway
API_SECRET = "api-client-secret"
# Everything RFC 6749 section 2.3.1's encoding is about: "+", "%" (also a malformed escape), ":" and non-ASCII.
ODD_SECRET = "p+q%20r:s%zz é€"
SHORT_REFRESH_SECONDS = 3


@dataclass(frozen=True)
class User:
    username: str
    enabled: bool = True
    required_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None
    direct_access_grants: bool = True
    service_account: bool = True
    refresh_seconds: int | None = None  # a short session: refresh tokens expire after this


USERS = (
    User("demo.user@example.com"),
    User("session.user@example.com"),  # the logout tests end this one's sessions
    User("disabled.user@example.com", enabled=False),
    User("pending.user@example.com", required_actions=("UPDATE_PASSWORD",)),
    User("locked.user@example.com"),  # the brute-force test locks this one
)
CLIENTS = (
    Client("api-client", API_SECRET),
    Client("odd-secret-client", ODD_SECRET),
    Client("no-direct-client", API_SECRET, direct_access_grants=False),
    Client("no-service-client", API_SECRET, service_account=False),
    Client("short-session-client", API_SECRET, refresh_seconds=SHORT_REFRESH_SECONDS),
    Client("sdk-client", None),
)


@dataclass
class IdentityProvider:
    """What a test needs of either provider."""

    name: str
    base_url: str  # ending in /auth
    logout_user: Any = field(repr=False)  # (username) -> None: end all of the user's sessions
    set_brute_force: Any = field(repr=False)  # (failure_factor) -> None: temporary lockout on
    clear_brute_force: Any = field(repr=False)  # () -> None: off, lockouts cleared

    @property
    def realm_url(self) -> str:
        return f"{self.base_url}/realms/master"

    @property
    def token_url(self) -> str:
        return f"{self.realm_url}/protocol/openid-connect/token"

    @property
    def logout_url(self) -> str:
        return f"{self.realm_url}/protocol/openid-connect/logout"


def simulator_config() -> SimulatorConfig:
    users = [
        UserConfig(
            username=u.username,
            password=PASSWORD,
            enabled=u.enabled,
            first_name="Test",
            last_name="User",
            required_actions=list(u.required_actions),
        )
        for u in USERS
    ]
    clients = [
        ClientConfig(
            client_id=c.client_id,
            secret=c.secret,
            direct_access_grants=c.direct_access_grants,
            service_account=c.service_account,
            tokens=TokenLifetimes(access_seconds=60, refresh_seconds=c.refresh_seconds) if c.refresh_seconds else None,
        )
        for c in CLIENTS
    ]
    # Keycloak's defaults for realm master: 60 s access tokens, 30 min idle sessions.
    return SimulatorConfig(users=users, clients=clients, tokens=TokenLifetimes(access_seconds=60, refresh_seconds=1800))


def configure(keycloak: kc.Keycloak) -> None:
    """The same realm through Keycloak's admin REST API."""
    for client in CLIENTS:
        attributes = {"client.session.idle.timeout": str(client.refresh_seconds)} if client.refresh_seconds else {}
        keycloak.create_client(
            client.client_id,
            client.secret,
            direct_access_grants=client.direct_access_grants,
            service_account=client.service_account,
            attributes=attributes,
        )
    for user in USERS:
        keycloak.create_user(user.username, PASSWORD, enabled=user.enabled, required_actions=user.required_actions)


@pytest.fixture(scope="session")
def real_keycloak() -> Iterator[kc.Keycloak]:
    reason = kc.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="keycloak-") as state_dir:
        keycloak = kc.Keycloak(kc.distribution(), Path(state_dir))
        keycloak.start()
        try:
            configure(keycloak)
            yield keycloak
        finally:
            keycloak.stop()


@pytest.fixture(params=["simulator", "keycloak"])
def idp(request: pytest.FixtureRequest) -> Iterator[IdentityProvider]:
    if request.param == "keycloak":
        keycloak: kc.Keycloak = request.getfixturevalue("real_keycloak")
        yield IdentityProvider(
            "keycloak", keycloak.base_url, keycloak.logout_user, keycloak.set_brute_force, keycloak.clear_brute_force
        )
        return
    with run_simulator(simulator_config()) as sim:
        yield IdentityProvider(
            "simulator",
            sim.base_url + "/auth",
            sim.admin.logout_user,
            sim.admin.set_brute_force,
            sim.admin.clear_brute_force,
        )


class CountingSession(requests.Session):
    """Counts the requests the token client really sends (to show refusals are not retried)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent += 1
        return super().request(*args, **kwargs)
