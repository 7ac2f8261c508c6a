"""A real Keycloak for tests: fetched once from Maven Central, started in dev mode on loopback.

The distribution (``org.keycloak:keycloak-quarkus-dist``) comes through Maven into the local
repository, is unpacked under ``~/.cache/wallaroo-operator/keycloak/`` and keeps its one-time build
step there, so later starts are faster. It runs under Wallaroo's layout (``/auth``, realm ``master``)
with an in-memory database, so every start is a fresh realm, and is configured through the admin
REST API. The process dies with the test run: it is stopped by PID (SIGTERM, then SIGKILL), and
kc.sh and the JVM both carry ``PR_SET_PDEATHSIG`` so a killed pytest leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from localcluster.processes import free_port, is_running, spawn, stop
from tests.support import secret_scan

VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:tar.gz"
CACHE = Path(os.environ.get("KEYCLOAK_TEST_CACHE", Path.home() / ".cache" / "wallaroo-operator" / "keycloak"))
START_TIMEOUT = 900.0  # measured 101-449 s here, growing with the machine's load (docs/testing.md)
STOP_TIMEOUT = 30.0
ADMIN_USER = "admin"
REALM = "master"


class KeycloakFailed(RuntimeError):
    """Keycloak could not be fetched or started; the message ends with its log's tail."""


def unavailable_reason() -> str | None:
    """Why a real Keycloak cannot run here (one line), or None."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH: a real Keycloak needs a JDK 17+ and Maven to fetch it"
    return None


def distribution() -> Path:
    """The unpacked Keycloak, fetched through Maven (into ~/.m2) and unpacked once."""
    home = CACHE / f"keycloak-{VERSION}"
    if (home / "bin" / "kc.sh").exists():
        return home
    archive = _maven_artifact()
    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="unpack-", dir=CACHE))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="tar")
        os.replace(scratch / f"keycloak-{VERSION}", home)  # atomic: a half-unpacked tree is never used
    except OSError:
        if not (home / "bin" / "kc.sh").exists():  # not a concurrent unpack that won the race
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return home


def _maven_artifact() -> Path:
    group, artifact, version, packaging = ARTIFACT.split(":")
    local = Path.home() / ".m2" / "repository" / group.replace(".", "/") / artifact / version
    archive = local / f"{artifact}-{version}.{packaging}"
    if not archive.exists():
        result = subprocess.run(
            ["mvn", "-q", "-B", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if result.returncode != 0 or not archive.exists():
            raise KeycloakFailed(f"mvn could not fetch {ARTIFACT}: {_tail(result.stdout + result.stderr)}")
    return archive


def _java_wrapper() -> dict[str, str]:
    """kc.sh runs java as its child: give the JVM its own PDEATHSIG (via setpriv) so it dies with kc.sh."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return {}
    wrapper = CACHE / "java-with-pdeathsig"
    if not wrapper.exists():
        scratch = wrapper.with_suffix(f".{os.getpid()}")
        scratch.write_text(f'#!/bin/sh\nexec {setpriv} --pdeathsig KILL java "$@"\n')
        scratch.chmod(0o755)
        os.replace(scratch, wrapper)
    return {"JAVA": str(wrapper)}


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Keycloak:
    """One running Keycloak: its URLs, an admin session, and stop()."""

    def __init__(self, home: Path, state_dir: Path) -> None:
        self.home = home
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/auth"
        self.realm_url = f"{self.base_url}/realms/{REALM}"
        self.token_url = f"{self.realm_url}/protocol/openid-connect/token"
        self.log_file = state_dir / "keycloak.log"
        self._admin_password = os.urandom(12).hex()
        secret_scan.SESSION.register("the Keycloak admin password", self._admin_password)
        self._process: subprocess.Popen | None = None
        self._admin_token: tuple[str, float] | None = None
        self.session = requests.Session()
        self.started_in: float | None = None  # seconds from spawn to ready

    def start(self) -> None:
        env = {
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self._admin_password,
            "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
            **_java_wrapper(),
        }
        # `env` execs kc.sh in the same process, so the PDEATHSIG spawn() sets stays on it.
        args = [
            "env",
            *(f"{k}={v}" for k, v in env.items()),
            str(self.home / "bin" / "kc.sh"),
            "start-dev",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={free_port()}",
            "--http-relative-path=/auth",
            "--hostname-strict=false",
            "--db=dev-mem",
        ]
        began = time.monotonic()
        self._process = spawn(args, self.log_file, detached=False)
        self._wait_ready(began)
        self.started_in = time.monotonic() - began

    def _wait_ready(self, began: float) -> None:
        assert self._process is not None
        discovery = f"{self.realm_url}/.well-known/openid-configuration"
        while time.monotonic() - began < START_TIMEOUT:
            if self._process.poll() is not None:
                raise KeycloakFailed(
                    f"Keycloak exited with {self._process.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                if requests.get(discovery, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1.0)
        self.stop()
        raise KeycloakFailed(f"Keycloak did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process.pid, timeout=STOP_TIMEOUT)  # kc.sh passes SIGTERM on to java
            self._process.wait(timeout=10)
            self._process = None
        self.session.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and is_running(self._process.pid)

    def log_tail(self) -> str:
        try:
            return _tail(self.log_file.read_text(errors="replace"))
        except OSError:
            return "(no log)"

    # ---- the admin REST API ------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201, 204)) -> Any:
        """One admin REST call under /admin/realms/master; the JSON answer, if any."""
        url = f"{self.base_url}/admin/realms/{REALM}{path}"
        response = self.session.request(
            method, url, json=body, timeout=30, headers={"Authorization": f"Bearer {self._token()}"}
        )
        if response.status_code not in expect:
            raise KeycloakFailed(f"admin {method} {path}: HTTP {response.status_code} {response.text[:300]}")
        if response.status_code == 201:
            return response.headers.get("Location", "").rsplit("/", 1)[-1]
        return response.json() if response.content else None

    def _token(self) -> str:
        if self._admin_token and time.monotonic() < self._admin_token[1]:
            return self._admin_token[0]
        response = self.session.post(
            self.token_url,
            timeout=30,
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": ADMIN_USER,
                "password": self._admin_password,
            },
        )
        if response.status_code != 200:
            raise KeycloakFailed(f"admin login: HTTP {response.status_code} {response.text[:300]}")
        body = response.json()
        self._admin_token = (body["access_token"], time.monotonic() + body["expires_in"] - 10)
        return self._admin_token[0]

    def create_client(
        self,
        client_id: str,
        secret: str | None,
        *,
        direct_access_grants: bool = True,
        service_account: bool = True,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """A client as Wallaroo's api-client: confidential when it has a secret; its internal id."""
        representation: dict[str, Any] = {
            "clientId": client_id,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": secret is None,
            "directAccessGrantsEnabled": direct_access_grants,
            "serviceAccountsEnabled": service_account and secret is not None,
            "standardFlowEnabled": False,
            "attributes": dict(attributes or {}),
        }
        if secret is not None:
            representation |= {"clientAuthenticatorType": "client-secret", "secret": secret}
            secret_scan.SESSION.register(f"the secret of Keycloak client {client_id}", secret)
        return self.admin("POST", "/clients", representation)

    def create_user(
        self,
        username: str,
        password: str,
        *,
        enabled: bool = True,
        required_actions: tuple[str, ...] = (),
        email: str | None = None,
    ) -> str:
        """A user who can log in with the password grant (Keycloak 26 wants email and names); their id."""
        secret_scan.SESSION.register(f"the password of Keycloak user {username}", password)
        return self.admin(
            "POST",
            "/users",
            {
                "username": username,
                "enabled": enabled,
                "email": email or username,
                "emailVerified": True,
                "firstName": "Test",
                "lastName": "User",
                "requiredActions": list(required_actions),
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )

    def user_id(self, username: str) -> str:
        return self.admin("GET", f"/users?exact=true&username={requests.utils.quote(username)}")[0]["id"]

    def set_brute_force(self, failure_factor: int) -> None:
        """Brute-force detection with temporary lockout after ``failure_factor`` failures in a row. The
        quick-login check (two failures within its interval lock at once) is made too short to trigger."""
        self.admin(
            "PUT",
            "",
            {
                "bruteForceProtected": True,
                "permanentLockout": False,
                "failureFactor": failure_factor,
                "waitIncrementSeconds": 60,
                "maxFailureWaitSeconds": 900,
                "quickLoginCheckMilliSeconds": 1,
                "minimumQuickLoginWaitSeconds": 60,
            },
        )

    def clear_brute_force(self) -> None:
        """Brute-force detection off, every lockout cleared (Keycloak's default)."""
        self.admin("PUT", "", {"bruteForceProtected": False})
        self.admin("DELETE", "/attack-detection/brute-force/users")

    def logout_user(self, username: str) -> None:
        """End every session of the user (the admin console's "Sign out")."""
        self.admin("POST", f"/users/{self.user_id(username)}/logout")
