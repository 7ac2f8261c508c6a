"""The simulator's own admin API under /_sim (a prefix Wallaroo never uses), and a client for tests.

It changes the world at run time: faults, deployments, token lifetimes, counters. It has no
authentication (the simulator is a loopback test tool) and never reveals passwords or client secrets.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote

import requests
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import BruteForceConfig, ClientConfig, FaultSpec, TokenLifetimes, UserConfig
from .endpoints import STATE, Handler
from .errors import ErrorAnswer, json_response
from .state import SimulatorState
from .world import PipelineState

ADMIN_PREFIX = "/_sim"


class _RedeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starting_seconds: float = Field(0.0, ge=0)


class _LifetimesRequest(TokenLifetimes):
    client_id: str | None = None


class _UserUpdate(BaseModel):
    """What an administrator can change on a user at run time (unset fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, repr=False)
    enabled: bool | None = None
    required_actions: list[str] | None = None


class _ClientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str | None = Field(None, repr=False)
    direct_access_grants: bool | None = None
    service_account: bool | None = None


def add_admin_routes(app: web.Application) -> None:
    routes = [
        web.get("/health", _health),
        web.get("/world", _world),
        web.get("/counters", _counters),
        web.post("/counters/reset", _reset_counters),
        web.get("/faults", _faults),
        web.put("/faults/{target}", _set_faults),
        web.delete("/faults/{target}", _clear_faults),
        web.delete("/faults", _clear_faults),
        web.post("/pipelines/{name}/undeploy", _undeploy),
        web.post("/pipelines/{name}/redeploy", _redeploy),
        web.put("/tokens", _set_token_lifetimes),
        web.get("/tokens/issued", _issued_tokens),
        web.patch("/users/{username}", _update_user),
        web.post("/users/{username}/logout", _logout_user),
        web.patch("/clients/{client_id}", _update_client),
        web.put("/brute-force", _set_brute_force),
        web.delete("/brute-force", _set_brute_force),
    ]
    for route in routes:
        app.router.add_route(route.method, ADMIN_PREFIX + route.path, _answering(route.handler))


def _admin_error(status: int, message: str) -> ErrorAnswer:
    return ErrorAnswer(json_response({"error": message}, status))


def _answering(handler: Handler) -> Handler:
    """Admin calls are not counted: tests reset and read the counters through them."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ErrorAnswer as error:
            return error.response

    return answer


async def _parse(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        raise _admin_error(400, str(error)) from None


def _pipeline(state: SimulatorState, name: str) -> PipelineState:
    try:
        return state.world.pipelines[name]
    except KeyError:
        raise _admin_error(404, f"no pipeline named {name!r}") from None


def pipeline_summary(state: SimulatorState, pipeline: PipelineState) -> dict[str, Any]:
    return {
        "name": pipeline.name,
        "workspace_id": pipeline.workspace_id,
        "deployed": pipeline.deployed,
        "starting": pipeline.is_starting(),
        "deployment_id": pipeline.deployment_id,
        "deployment_name": pipeline.deployment_name,
        "url_form": pipeline.config.url_form,
        "url": state.external_url(pipeline),
        "input": pipeline.config.input.model_dump(),
        "outputs": [o.model_dump() for o in pipeline.config.outputs],
    }


async def _health(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def _world(request: web.Request) -> web.Response:
    state = request.app[STATE]
    world = state.world
    return json_response(
        {
            "base_url": state.base_url,
            "keycloak_url": state.keycloak_url,
            "public_url": state.public_url,
            "users": [u.username for u in world.users.values()],
            "user_states": {
                u.username: {"enabled": u.enabled, "required_actions": u.required_actions} for u in world.users.values()
            },
            "clients": [
                {
                    "client_id": c.client_id,
                    "public": c.is_public,
                    "direct_access_grants": c.direct_access_grants,
                    "service_account": c.service_account,
                }
                for c in world.clients.values()
            ],
            "sessions": len(state.sessions),
            "workspaces": [
                {"id": w.id, "name": w.config.name, "pipelines": [p.name for p in w.pipelines]}
                for w in world.workspaces
            ],
            "pipelines": {name: pipeline_summary(state, p) for name, p in world.pipelines.items()},
            "tokens": state.issuer.realm_lifetimes.model_dump(),
        }
    )


async def _counters(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].counters.snapshot())


async def _issued_tokens(request: web.Request) -> web.Response:
    return json_response({"tokens": list(request.app[STATE].issuer.issued)})


async def _reset_counters(request: web.Request) -> web.Response:
    request.app[STATE].counters.reset()
    return json_response({"ok": True})


async def _faults(request: web.Request) -> web.Response:
    return json_response({target: f.describe() for target, f in request.app[STATE].faults.items()})


async def _set_faults(request: web.Request) -> web.Response:
    spec = await _parse(request, FaultSpec)
    target = request.match_info["target"]
    try:
        request.app[STATE].set_faults(target, spec)
    except KeyError:
        raise _admin_error(404, f"no fault target named {target!r}") from None
    return json_response(request.app[STATE].faults[target].describe())


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].clear_faults(request.match_info.get("target"))
    return json_response({"ok": True})


async def _undeploy(request: web.Request) -> web.Response:
    state = request.app[STATE]
    pipeline = _pipeline(state, request.match_info["name"])
    return json_response(pipeline_summary(state, state.world.undeploy(pipeline.name)))


async def _redeploy(request: web.Request) -> web.Response:
    state = request.app[STATE]
    pipeline = _pipeline(state, request.match_info["name"])
    options = await _parse(request, _RedeployRequest)
    return json_response(pipeline_summary(state, state.world.redeploy(pipeline.name, options.starting_seconds)))


async def _set_token_lifetimes(request: web.Request) -> web.Response:
    state = request.app[STATE]
    options = await _parse(request, _LifetimesRequest)
    if options.client_id is not None and options.client_id not in state.world.clients:
        raise _admin_error(404, f"no client named {options.client_id!r}")
    lifetimes = TokenLifetimes(access_seconds=options.access_seconds, refresh_seconds=options.refresh_seconds)
    state.issuer.set_lifetimes(lifetimes, options.client_id)
    return json_response({"ok": True})


def _user(state: SimulatorState, username: str) -> UserConfig:
    try:
        return state.world.users[username]
    except KeyError:
        raise _admin_error(404, f"no user named {username!r}") from None


async def _update_user(request: web.Request) -> web.Response:
    """Like Keycloak's admin console: enable/disable, set required actions, reset the password."""
    state = request.app[STATE]
    user = _user(state, request.match_info["username"])
    update = await _parse(request, _UserUpdate)
    changed = user.model_copy(update=update.model_dump(exclude_none=True))
    state.world.users[user.username] = changed
    return json_response(
        {"username": changed.username, "enabled": changed.enabled, "required_actions": changed.required_actions}
    )


async def _logout_user(request: web.Request) -> web.Response:
    """End every session of the user (Keycloak's "Sign out"): their refresh tokens stop working."""
    state = request.app[STATE]
    return json_response({"ended": state.sessions.end_all_of(_user(state, request.match_info["username"]))})


async def _update_client(request: web.Request) -> web.Response:
    state = request.app[STATE]
    client_id = request.match_info["client_id"]
    client = state.world.clients.get(client_id)
    if client is None:
        raise _admin_error(404, f"no client named {client_id!r}")
    update = await _parse(request, _ClientUpdate)
    changed: ClientConfig = client.model_copy(update=update.model_dump(exclude_none=True))
    state.world.clients[client_id] = changed
    return json_response(
        {
            "client_id": client_id,
            "public": changed.is_public,
            "direct_access_grants": changed.direct_access_grants,
            "service_account": changed.service_account,
        }
    )


async def _set_brute_force(request: web.Request) -> web.Response:
    """PUT: turn Keycloak's brute-force detection on (BruteForceConfig); DELETE: off. Either clears lockouts."""
    config = await _parse(request, BruteForceConfig) if request.method == "PUT" else None
    request.app[STATE].brute_force.configure(config)
    return json_response({"brute_force": config.model_dump() if config else None})


class AdminClient:
    """Drives a running simulator's admin API over HTTP, from the same process or another one."""

    def __init__(self, base_url: str, verify: bool | str = True, timeout: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + ADMIN_PREFIX
        self._session = requests.Session()
        self._session.verify = verify
        self._timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session.request(method, self.url + path, json=body, timeout=self._timeout)
        if response.status_code >= 400:
            raise RuntimeError(f"simulator admin {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def health(self) -> bool:
        return bool(self._call("GET", "/health").get("ok"))

    def world(self) -> dict[str, Any]:
        return self._call("GET", "/world")

    def external_url(self, pipeline: str) -> str:
        return self.world()["pipelines"][pipeline]["url"]

    def set_faults(self, target: str, **spec: Any) -> dict[str, Any]:
        """Replace the faults of ``target``: a pipeline name, MLOPS_TARGET or KEYCLOAK_TARGET (FaultSpec fields)."""
        return self._call("PUT", f"/faults/{target}", spec)

    def clear_faults(self, target: str | None = None) -> None:
        self._call("DELETE", "/faults" if target is None else f"/faults/{target}")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")

    def undeploy(self, pipeline: str) -> dict[str, Any]:
        return self._call("POST", f"/pipelines/{pipeline}/undeploy")

    def redeploy(self, pipeline: str, starting_seconds: float = 0.0) -> dict[str, Any]:
        """Deploy under a new deployment id (so a new URL); "Starting" (503s) for ``starting_seconds``."""
        return self._call("POST", f"/pipelines/{pipeline}/redeploy", {"starting_seconds": starting_seconds})

    def set_token_lifetimes(self, access_seconds: int, refresh_seconds: int, client_id: str | None = None) -> None:
        """Lifetimes of tokens issued from now on, for every client or for one."""
        self._call(
            "PUT",
            "/tokens",
            {"access_seconds": access_seconds, "refresh_seconds": refresh_seconds, "client_id": client_id},
        )

    def update_user(self, username: str, **changes: Any) -> dict[str, Any]:
        """Change ``password``, ``enabled`` or ``required_actions`` of a user."""
        return self._call("PATCH", f"/users/{quote(username, safe='')}", changes)

    def logout_user(self, username: str) -> int:
        """End the user's sessions; how many there were."""
        return self._call("POST", f"/users/{quote(username, safe='')}/logout")["ended"]

    def update_client(self, client_id: str, **changes: Any) -> dict[str, Any]:
        """Change ``secret``, ``direct_access_grants`` or ``service_account`` of a client."""
        return self._call("PATCH", f"/clients/{quote(client_id, safe='')}", changes)

    def set_brute_force(self, failure_factor: int = 30, wait_seconds: float = 60) -> None:
        """Turn Keycloak's brute-force detection on (temporary lockout), clearing lockouts."""
        self._call("PUT", "/brute-force", {"failure_factor": failure_factor, "wait_seconds": wait_seconds})

    def clear_brute_force(self) -> None:
        """Turn brute-force detection off and clear lockouts."""
        self._call("DELETE", "/brute-force")

    def counters(self) -> dict[str, Any]:
        return self._call("GET", "/counters")

    def reset_counters(self) -> None:
        self._call("POST", "/counters/reset")

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far (the newest 100,000): what must never leak."""
        return list(self._call("GET", "/tokens/issued")["tokens"])

    def close(self) -> None:
        self._session.close()
