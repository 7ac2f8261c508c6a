"""The simulated installation at run time: users, clients, workspaces and each pipeline's deployment."""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field

from .config import ClientConfig, PipelineConfig, SimulatorConfig, UserConfig, WorkspaceConfig

INFER_PREFIX = "/v1/api/pipelines/infer/"


@dataclass
class PipelineState:
    """A pipeline and its current deployment; the deployment id (and so the URL) changes on redeploy."""

    config: PipelineConfig
    workspace_id: int
    deployment_id: int
    deployed: bool
    ready_at: float = 0.0  # time.monotonic() at which a fresh deployment stops "Starting"

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def deployment_name(self) -> str:
        return f"{self.name}-{self.deployment_id}"

    @property
    def infer_path(self) -> str:
        legacy = self.config.url_form == "legacy"
        return INFER_PREFIX + self.deployment_name + ("" if legacy else f"/{self.name}")

    @property
    def engine_name(self) -> str:
        """A stable engine pod name per deployment, reported as ``partition`` and in statuses."""
        digest = hashlib.sha256(self.deployment_name.encode()).hexdigest()
        return f"engine-{digest[:10]}-{digest[10:15]}"

    def is_starting(self) -> bool:
        return time.monotonic() < self.ready_at


@dataclass
class WorkspaceState:
    config: WorkspaceConfig
    owner: str | None = None  # set for a user's default workspace, visible to that user only
    pipelines: list[PipelineState] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.config.id


class World:
    """Lookups and the few state changes (undeploy, redeploy) the admin API can make."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.users: dict[str, UserConfig] = {u.username: u for u in config.users}
        self.clients: dict[str, ClientConfig] = {c.client_id: c for c in config.clients}
        self.workspaces = _default_workspaces(config) + [_workspace_state(w) for w in config.workspaces]
        self.pipelines: dict[str, PipelineState] = {p.name: p for w in self.workspaces for p in w.pipelines}
        self._deployment_ids = itertools.count(max((p.deployment_id for p in self.pipelines.values()), default=0) + 1)
        self._model_ids = {name: i for i, name in enumerate(self.pipelines, start=1)}

    def visible_workspaces(self, username: str | None) -> list[WorkspaceState]:
        """Shared workspaces plus the user's own default one; service accounts (no user) see none."""
        if username is None:
            return []
        return [w for w in self.workspaces if w.owner in (None, username)]

    def find_workspace(self, username: str | None, workspace_id: int) -> WorkspaceState | None:
        return next((w for w in self.visible_workspaces(username) if w.id == workspace_id), None)

    def find_deployment(self, deployment_name: str) -> PipelineState | None:
        return next((p for p in self.pipelines.values() if p.deployed and p.deployment_name == deployment_name), None)

    def undeploy(self, pipeline_name: str) -> PipelineState:
        pipeline = self.pipelines[pipeline_name]
        pipeline.deployed = False
        return pipeline

    def redeploy(self, pipeline_name: str, starting_seconds: float = 0.0) -> PipelineState:
        """Deploy again under a new deployment id, "Starting" for ``starting_seconds``."""
        pipeline = self.pipelines[pipeline_name]
        pipeline.deployment_id = next(self._deployment_ids)
        pipeline.deployed = True
        pipeline.ready_at = time.monotonic() + starting_seconds
        return pipeline

    def user_id(self, name: str) -> str:
        """Workspaces report ``created_by`` as the creator's id when the creator is a known user."""
        user = self.users.get(name)
        return user.id if user and user.id else name

    def model_id(self, pipeline: PipelineState) -> int:
        return self._model_ids[pipeline.name]


def _workspace_state(config: WorkspaceConfig) -> WorkspaceState:
    pipelines = [PipelineState(p, config.id, p.deployment_id, p.deployed) for p in config.pipelines]
    return WorkspaceState(config, pipelines=pipelines)


def _default_workspaces(config: SimulatorConfig) -> list[WorkspaceState]:
    """Every Wallaroo user has "<email> - Default Workspace"; give each the lowest free id."""
    taken = {w.id for w in config.workspaces}
    free_ids = (i for i in itertools.count(1) if i not in taken)
    return [
        WorkspaceState(
            WorkspaceConfig(id=next(free_ids), name=f"{user.email} - Default Workspace", created_by=user.username),
            owner=user.username,
        )
        for user in config.users
    ]
