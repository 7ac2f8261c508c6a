"""Assembling the simulator: the API listener (MLOps API, inference, Keycloak on the same host, admin)
and a second listener standing for the seed era's separate ``keycloak`` host; in-process or foreground."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.log import access_logger as aiohttp_access_logger

from . import api, inference, keycloak
from .admin import ADMIN_PREFIX, AdminClient, add_admin_routes
from .config import SimulatorConfig, default_config
from .endpoints import STATE, endpoint
from .state import SimulatorState
from .tls import TlsFiles, write_tls_files
from .world import INFER_PREFIX

MAX_BODY_BYTES = 256 * 1024 * 1024  # far above any real upload; size limits are a configurable fault
SHUTDOWN_SECONDS = 1.0  # hung requests must not hold up a test's teardown


@dataclass
class ServeOptions:
    config: SimulatorConfig = field(default_factory=default_config)
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    keycloak_port: int = 0
    tls: bool = False
    hostnames: tuple[str, ...] = ()  # extra names the TLS certificate covers
    public_url: str | None = None  # base of the URLs the API hands out, when it stands behind another name
    state_dir: Path | None = None  # where TLS files go (a temporary directory when None)
    access_log: bool = False


def build_api_app(state: SimulatorState) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    _add_keycloak_routes(app, token_endpoint_name="token")
    mlops = {
        "config": api.config,
        "workspaces/list": api.list_workspaces,
        "admin/get_pipeline_external_url": api.get_pipeline_external_url,
        "status/get_deployment": api.get_deployment,
        "pipelines/get_pipeline_by_name": api.get_pipeline_by_name,
    }
    for name, handler in mlops.items():
        method = "GET" if name == "config" else "POST"
        app.router.add_route(method, f"{api.API_PREFIX}/{name}", endpoint(name, "mlops")(handler))
    infer = endpoint("infer", "engine-500")(inference.infer)
    app.router.add_post(INFER_PREFIX + "{deployment}", infer)
    app.router.add_post(INFER_PREFIX + "{deployment}/{pipeline}", infer)
    add_admin_routes(app)
    return app


def build_keycloak_app(state: SimulatorState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    _add_keycloak_routes(app, token_endpoint_name="keycloak_token")
    return app


def _add_keycloak_routes(app: web.Application, token_endpoint_name: str) -> None:
    app.router.add_post(keycloak.TOKEN_PATH, endpoint(token_endpoint_name, "keycloak")(keycloak.token))
    app.router.add_get(keycloak.CERTS_PATH, endpoint("certs", "keycloak")(keycloak.certs))
    app.router.add_get(keycloak.DISCOVERY_PATH, endpoint("discovery", "keycloak")(keycloak.discovery))
    app.router.add_post(keycloak.LOGOUT_PATH, endpoint("logout", "keycloak")(keycloak.logout))
    app.router.add_route("*", keycloak.OTHER_REALM_PATH, endpoint("realms", "keycloak")(keycloak.unknown_realm))


class SimulatorServer:
    """Both listeners of one simulator, on the event loop that calls ``start``."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.state = SimulatorState(options.config, options.public_url)
        self.tls_files: TlsFiles | None = None
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        options = self.options
        ssl_context = None
        if options.tls:
            self.tls_files = write_tls_files(self._state_dir(), self._certificate_names())
            ssl_context = self.tls_files.server_context()
        scheme = "https" if options.tls else "http"
        api_socket = _listening_socket(options.host, options.port)
        keycloak_socket = _listening_socket(options.host, options.keycloak_port)
        self.state.base_url = _url(scheme, options.host, api_socket.getsockname()[1])
        self.state.keycloak_url = _url(scheme, options.host, keycloak_socket.getsockname()[1])
        await self._serve(build_api_app(self.state), api_socket, ssl_context)
        await self._serve(build_keycloak_app(self.state), keycloak_socket, ssl_context)

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def _serve(self, app: web.Application, sock: socket.socket, ssl_context: Any) -> None:
        access_log = aiohttp_access_logger if self.options.access_log else None
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=SHUTDOWN_SECONDS, access_log=access_log)
        await runner.setup()
        self._runners.append(runner)
        await web.SockSite(runner, sock, ssl_context=ssl_context).start()

    def _state_dir(self) -> Path:
        if self.options.state_dir is None:
            raise ValueError("TLS needs a state_dir to write its CA and certificate into")
        return self.options.state_dir

    def _certificate_names(self) -> list[str]:
        names = [self.options.host, *self.options.hostnames]
        if self.options.public_url:
            names.append(urlsplit(self.options.public_url).hostname or "")
        return [n for n in names if n and n not in ("0.0.0.0", "::")]

    def connection_info(self) -> dict[str, Any]:
        """What a client needs to reach this simulator (the ``connection.json`` of ``up``)."""
        config = self.state.config
        client = config.confidential_client
        user = config.users[0]
        base, keycloak_base = self.state.base_url, self.state.keycloak_url
        first_pipeline = next(iter(self.state.world.pipelines.values()), None)
        info: dict[str, Any] = {
            "base_url": base,
            "api_url": base + api.API_PREFIX,
            "token_url": base + keycloak.TOKEN_PATH,
            "keycloak_url": keycloak_base,
            "keycloak_token_url": keycloak_base + keycloak.TOKEN_PATH,
            "admin_url": base + ADMIN_PREFIX,
            "public_url": self.state.public_url,
            "client": client.client_id,
            "secret": client.secret,
            "username": user.username,
            "password": user.password,
            "pid": os.getpid(),
        }
        if first_pipeline is not None:
            workspace = next(w for w in self.state.world.workspaces if first_pipeline in w.pipelines)
            info.update(workspace=workspace.config.name, pipeline=first_pipeline.name)
        if self.tls_files is not None:
            info["ca_file"] = str(self.tls_files.ca_file.resolve())
        return info


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bind first, so the chosen port is known before serving (port 0 picks a free one)."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return socket.create_server(address[:2], family=family, backlog=1024)


def _url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


class RunningSimulator:
    """A simulator serving from a background thread (see ``run_simulator``); read its URLs and world here."""

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        info = server.connection_info()
        self.config: SimulatorConfig = server.options.config
        self.base_url: str = info["base_url"]
        self.api_url: str = info["api_url"]
        self.token_url: str = info["token_url"]
        self.keycloak_url: str = info["keycloak_url"]
        self.keycloak_token_url: str = info["keycloak_token_url"]
        self.admin_url: str = info["admin_url"]
        self.ca_file: str | None = info.get("ca_file")
        self.username: str = info["username"]
        self.password: str = info["password"]
        self.client: str = info["client"]
        self.secret: str | None = info["secret"]  # None when every client is public
        self.admin = AdminClient(self.base_url, verify=self.ca_file or True)

    @property
    def verify(self) -> bool | str:
        """The ``verify=`` argument for ``requests``: the CA bundle under TLS."""
        return self.ca_file or True

    def connection_info(self) -> dict[str, Any]:
        return self._server.connection_info()

    def external_url(self, pipeline: str) -> str:
        return self.admin.external_url(pipeline)


class _BackgroundLoop:
    """An asyncio loop running in a daemon thread, driven from the caller's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="wallaroo-simulator", daemon=True)
        self._thread.start()

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextmanager
def run_simulator(
    config: SimulatorConfig | None = None,
    *,
    tls: bool = False,
    hostnames: tuple[str, ...] = (),
    public_url: str | None = None,
    host: str = "127.0.0.1",
    state_dir: Path | None = None,
) -> Iterator[RunningSimulator]:
    """Serve a simulator on free loopback ports for the duration of a ``with`` block."""
    temporary_dir = None if state_dir is not None or not tls else Path(tempfile.mkdtemp(prefix="wallaroo-simulator-"))
    options = ServeOptions(
        config=config or default_config(),
        host=host,
        tls=tls,
        hostnames=hostnames,
        public_url=public_url,
        state_dir=state_dir or temporary_dir,
    )
    server = SimulatorServer(options)
    background = _BackgroundLoop()
    running: RunningSimulator | None = None
    try:
        background.run(server.start())
        running = RunningSimulator(server)
        yield running
    finally:
        if running is not None:
            running.admin.close()
        background.run(server.stop())  # also after a failed start: one listener may be up
        background.close()
        if temporary_dir is not None:
            shutil.rmtree(temporary_dir, ignore_errors=True)
