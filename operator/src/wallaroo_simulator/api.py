"""The MLOps API under /v1/api: the calls the seed tutorial and the operator make (reference section 3).

Errors use the MLOps body ``{"msg": ..., "code": ...}``. Choices where no source showed the real answer:
a bad or missing token is 401 with Envoy's wording in ``msg``; an unknown (or not visible) workspace or
pipeline is 404; an undeployed pipeline still gets its URL (inference there answers 404 "Deployment not
found", which tells a client to resolve the URL again); service-account tokens see no workspaces.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .endpoints import STATE, verified_claims
from .errors import InvalidToken, json_response, mlops_error
from .faults import add_latency, inject_failure
from .state import SimulatorState
from .world import PipelineState, WorkspaceState

API_PREFIX = "/v1/api"


async def config(request: web.Request) -> web.Response:
    """GET /v1/api/config: no auth; every SDK client calls it first."""
    await _mlops_faults(request)
    return json_response({"default_arch": "x86"})


async def list_workspaces(request: web.Request) -> web.Response:
    state, username, body = await _authorized(request)
    user_id = body.get("user_id")
    if user_id is not None:  # another user's view, by Keycloak id
        username = next((u.username for u in state.world.users.values() if u.id == user_id), None)
    workspaces = state.world.visible_workspaces(username)
    return json_response({"workspaces": [_workspace_json(state, w) for w in workspaces]})


async def get_pipeline_external_url(request: web.Request) -> web.Response:
    state, username, body = await _authorized(request)
    _, pipeline = _find_pipeline(state, username, body)
    if not state.config.external_urls_enabled:
        raise mlops_error(403, "External inference endpoints are not enabled for this Wallaroo instance")
    return json_response({"url": state.external_url(pipeline)})


async def get_deployment(request: web.Request) -> web.Response:
    state, _, body = await _authorized(request)
    name = _required(body, "name", str)
    pipeline = state.world.find_deployment(name)
    if pipeline is None:
        raise mlops_error(404, f"Deployment {name} not found")
    return json_response(_deployment_status(pipeline))


async def get_pipeline_by_name(request: web.Request) -> web.Response:
    state, username, body = await _authorized(request)
    workspace, pipeline = _find_pipeline(state, username, body)
    return json_response({"pipeline": _pipeline_json(state, pipeline), "workspace": _workspace_json(state, workspace)})


async def _authorized(request: web.Request) -> tuple[SimulatorState, str | None, dict[str, Any]]:
    """Check the token, apply the MLOps faults, and read the JSON body: (state, username, body)."""
    try:
        claims = verified_claims(request)
    except InvalidToken as refused:
        raise mlops_error(401, refused.reason) from None
    await _mlops_faults(request)
    body = await _json_body(request)
    # Service-account tokens (client_credentials) carry no email: they belong to no user.
    username = claims.get("preferred_username") if "email" in claims else None
    return request.app[STATE], username, body


async def _mlops_faults(request: web.Request) -> None:
    faults = request.app[STATE].faults_for_mlops()
    await inject_failure(faults, "mlops")
    await add_latency(faults)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        raise mlops_error(400, f"Failed to parse the request body as JSON: {error}") from None
    if not isinstance(body, dict):
        raise mlops_error(400, "Failed to deserialize the JSON body: expected an object")
    return body


def _required(body: dict[str, Any], field: str, kind: type) -> Any:
    value = body.get(field)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise mlops_error(
            400, f"Failed to deserialize the JSON body: missing or invalid field `{field}` (expected {kind.__name__})"
        )
    return value


def _find_pipeline(
    state: SimulatorState, username: str | None, body: dict[str, Any]
) -> tuple[WorkspaceState, PipelineState]:
    workspace_id = _required(body, "workspace_id", int)
    pipeline_name = _required(body, "pipeline_name", str)
    workspace = state.world.find_workspace(username, workspace_id)
    if workspace is None:
        raise mlops_error(404, f"Workspace {workspace_id} not found")
    pipeline = next((p for p in workspace.pipelines if p.name == pipeline_name), None)
    if pipeline is None:
        raise mlops_error(404, f"Pipeline {pipeline_name} not found in workspace {workspace_id}")
    return workspace, pipeline


def _workspace_json(state: SimulatorState, workspace: WorkspaceState) -> dict[str, Any]:
    config = workspace.config
    return {
        "id": config.id,
        "name": config.name,
        "created_at": config.created_at,
        "created_by": state.world.user_id(config.created_by),
        "archived": config.archived,
        "models": [state.world.model_id(p) for p in workspace.pipelines],
        "pipelines": [p.config.id for p in workspace.pipelines],
    }


def _pipeline_json(state: SimulatorState, pipeline: PipelineState) -> dict[str, Any]:
    """Inferred shape: no recorded get_pipeline_by_name answer was available."""
    return {
        "id": pipeline.config.id,
        "name": pipeline.name,
        "workspace_id": pipeline.workspace_id,
        "version": pipeline.config.version,
        "deployed": pipeline.deployed,
        "deployment": {"id": pipeline.deployment_id, "name": pipeline.deployment_name, "deployed": pipeline.deployed},
        "models": [
            {
                "id": state.world.model_id(pipeline),
                "name": pipeline.config.model.name,
                "version": pipeline.config.model.version,
                "sha": pipeline.config.model.sha,
            }
        ],
    }


def _deployment_status(pipeline: PipelineState) -> dict[str, Any]:
    """Modelled on the recorded ``status/get_deployment`` answer."""
    status = "Starting" if pipeline.is_starting() else "Running"
    model = pipeline.config.model
    engine = {
        "ip": "10.244.3.145",
        "name": pipeline.engine_name,
        "status": status,
        "reason": None,
        "details": [],
        "pipeline_statuses": {"pipelines": [{"id": pipeline.name, "status": status}]},
        "model_statuses": {
            "models": [{"name": model.name, "version": model.version, "sha": model.sha, "status": status}]
        },
    }
    engine_lb_name = pipeline.engine_name.replace("engine-", "engine-lb-", 1)
    engine_lb = {"ip": "10.244.4.157", "name": engine_lb_name, "status": "Running", "reason": None, "details": []}
    return {"status": status, "details": [], "engines": [engine], "engine_lbs": [engine_lb], "sidekicks": []}
