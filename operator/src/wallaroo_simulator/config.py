"""The simulator's configuration: the world it serves (users, clients, workspaces, pipelines) and its faults.

Loaded from YAML or JSON (see ``example-config.yaml``); ``default_config()`` is the seed tutorial's world.
Unknown keys are rejected so that a typo in a config file fails loudly instead of being ignored.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Reserved fault targets: pipeline names are DNS labels, so they can never contain "@".
MLOPS_TARGET = "@mlops"
KEYCLOAK_TARGET = "@keycloak"

# The error bodies a client can meet (errors.error_body builds each one).
ErrorShape = Literal[
    "plain-text", "platform", "engine", "engine-500", "load-balancer", "legacy-engine", "mlops", "keycloak"
]

_USER_ID_NAMESPACE = uuid.UUID("6f0d5c52-3d8e-4a43-9c1e-6b2f1c0b7a11")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenLifetimes(_Strict):
    """Keycloak token lifetimes in seconds (the SDK saw 60 s to 7200 s; tests may use a few seconds)."""

    access_seconds: int = Field(3600, ge=1)
    refresh_seconds: int = Field(1800, ge=1)


class FaultSpec(_Strict):
    """Faults injected into one target (a pipeline's inference endpoint, the MLOps API or Keycloak).

    A request "fails" when the ``fail_next`` budget is not used up (deterministic) or, failing that, with
    probability ``rate`` drawn from a generator seeded with ``seed``. A failing request gets ``failure``:
    an ``error`` answer (``status`` with the body ``body``), a ``hang`` of ``hang_seconds`` before a normal
    answer, or a ``drop`` (the connection is closed without an answer). Latency applies to every request.
    """

    latency_seconds: float = Field(0.0, ge=0)
    latency_per_row_seconds: float = Field(0.0, ge=0)
    failure: Literal["error", "hang", "drop"] = "error"
    status: int = Field(503, ge=400, le=599)
    body: ErrorShape | None = None  # None: the shape Wallaroo uses for `status` on this target
    message: str | None = None  # None: the message Wallaroo uses for `status`
    retry_after: int | None = Field(None, ge=0)  # seconds, sent as a Retry-After header on errors
    fail_next: int = Field(0, ge=0)
    rate: float = Field(0.0, ge=0, le=1)
    seed: int | None = None
    hang_seconds: float = Field(30.0, ge=0)
    max_payload_bytes: int | None = Field(None, ge=1)  # larger bodies get the load balancer's 503


class UserConfig(_Strict):
    username: str
    password: str = Field(repr=False)
    email: str | None = None  # defaults to the username (Wallaroo usernames are emails)
    id: str | None = None  # Keycloak user id; defaults to a UUID derived from the username
    first_name: str | None = None  # the token's given_name (and name, with last_name)
    last_name: str | None = None
    enabled: bool = True  # false: the password grant answers "Account disabled"
    # Keycloak required actions (VERIFY_EMAIL, UPDATE_PASSWORD, ...): any pending one makes the
    # password grant answer "Account is not fully set up".
    required_actions: list[str] = []

    @model_validator(mode="after")
    def _fill_defaults(self) -> UserConfig:
        self.email = self.email or self.username
        self.id = self.id or str(uuid.uuid5(_USER_ID_NAMESPACE, self.username))
        return self


class ClientConfig(_Strict):
    """A Keycloak client: confidential when it has a secret, public (like ``sdk-client``) otherwise."""

    client_id: str
    secret: str | None = Field(None, repr=False)
    service_account: bool = True  # allows client_credentials (confidential clients only)
    direct_access_grants: bool = True  # allows the password grant
    tokens: TokenLifetimes | None = None  # overrides the realm's lifetimes for this client

    @property
    def is_public(self) -> bool:
        return self.secret is None


class BruteForceConfig(_Strict):
    """Keycloak's brute-force detection with temporary lockout (off by default, as in Keycloak): after
    ``failure_factor`` failed logins in a row a user is locked for ``wait_seconds``, and every login,
    the right password included, answers "Invalid user credentials"; a successful login resets the count."""

    failure_factor: int = Field(30, ge=1)
    wait_seconds: float = Field(60, gt=0)


class InputSpec(_Strict):
    name: str
    width: int = Field(ge=1)
    dtype: Literal["int", "float"] = "float"


class OutputSpec(_Strict):
    name: str
    width: int = Field(1, ge=1)
    type: Literal["Float", "Double"] = "Float"


class ModelSpec(_Strict):
    name: str
    version: str
    sha: str


class PipelineConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    id: int
    deployment_id: int
    deployed: bool = True
    url_form: Literal["legacy", "current"] = "current"  # infer/{p}-{id} (2022) or infer/{p}-{id}/{p} (2023+)
    version: str = ""  # pipeline_version reported in pandas-records metadata
    input: InputSpec
    outputs: list[OutputSpec] = Field(min_length=1)
    model: ModelSpec
    faults: FaultSpec | None = None


class WorkspaceConfig(_Strict):
    id: int
    name: str
    created_by: str = ""  # a user's name (reported as that user's id), a UUID, or empty as seen in the wild
    created_at: str = "2022-11-30T15:19:57.293347+00:00"
    archived: bool = False
    pipelines: list[PipelineConfig] = []


class SimulatorConfig(_Strict):
    users: list[UserConfig] = Field(min_length=1)
    clients: list[ClientConfig] = Field(min_length=1)
    workspaces: list[WorkspaceConfig] = []
    tokens: TokenLifetimes = TokenLifetimes()
    brute_force: BruteForceConfig | None = None  # Keycloak's brute-force detection; None: off
    external_urls_enabled: bool = True  # an administrator switch in a real install
    mlops_faults: FaultSpec | None = None
    keycloak_faults: FaultSpec | None = None

    @model_validator(mode="after")
    def _check_unique_names(self) -> SimulatorConfig:
        _require_unique("username", [u.username for u in self.users])
        _require_unique("client_id", [c.client_id for c in self.clients])
        _require_unique("workspace id", [w.id for w in self.workspaces])
        # Workspace names may repeat, as in Wallaroo: clients must notice and refuse to guess.
        # Pipelines are addressed by name in the admin API, so names are unique across workspaces.
        _require_unique("pipeline name", [p.name for p in self.pipelines()])
        _require_unique("pipeline id", [p.id for p in self.pipelines()])
        _require_unique("deployment id", [p.deployment_id for p in self.pipelines()])
        return self

    def pipelines(self) -> list[PipelineConfig]:
        return [p for w in self.workspaces for p in w.pipelines]

    def pipeline(self, name: str) -> PipelineConfig:
        for pipeline in self.pipelines():
            if pipeline.name == name:
                return pipeline
        raise KeyError(name)

    def client(self, client_id: str) -> ClientConfig:
        return next(c for c in self.clients if c.client_id == client_id)

    @property
    def confidential_client(self) -> ClientConfig:
        """The first client with a secret (the seed tutorial's CLIENT/SECRET), else the first client."""
        return next((c for c in self.clients if not c.is_public), self.clients[0])


def _require_unique(what: str, values: list[object]) -> None:
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(duplicates)}")


def load_config(path: str | Path) -> SimulatorConfig:
    """Read a YAML or JSON config file (JSON is YAML, but .json files get JSON's clearer errors)."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    return SimulatorConfig.model_validate(data or {})


ALOHA_OUTPUTS = (
    "banjori",
    "corebot",
    "cryptolocker",
    "dircrypt",
    "gozi",
    "kraken",
    "locky",
    "main",
    "matsnu",
    "pykspa",
    "qakbot",
    "ramdo",
    "ramnit",
    "simda",
    "suppobox",
)


def aloha_pipeline(name: str, pipeline_id: int, deployment_id: int) -> PipelineConfig:
    """The seed's model: 50 token ids in, one probability per malware family (15 outputs) out."""
    return PipelineConfig(
        name=name,
        id=pipeline_id,
        deployment_id=deployment_id,
        url_form="legacy",
        version="5b2b6e3f-1c8a-4c4e-9b0e-2a7c5b1e9d01",
        input=InputSpec(name="text_input", width=50, dtype="int"),
        outputs=[OutputSpec(name=family) for family in ALOHA_OUTPUTS],
        model=ModelSpec(
            name="urldemomodel",
            version="47299047-a3e0-4637-9b87-cc243f4552f3",
            sha="d71d9ffc61aaac58c2b1ed70a2db13d1416fb9d3f5b891e5e4e2e97180fe22f8",
        ),
    )


def ccfraud_pipeline(name: str, pipeline_id: int, deployment_id: int) -> PipelineConfig:
    """The credit-card fraud model of the later tutorials: 29 floats in, ``dense_1`` out."""
    return PipelineConfig(
        name=name,
        id=pipeline_id,
        deployment_id=deployment_id,
        url_form="current",
        version="f1a270ed-867c-407d-9b15-c0584db7c463",
        input=InputSpec(name="tensor", width=29, dtype="float"),
        outputs=[OutputSpec(name="dense_1")],
        model=ModelSpec(
            name="ccfraud",
            version="bdfc8c60-b5bc-4c0e-aa87-157cd52895b6",
            sha="bc85ce596945f876256f41515c7501c399fd97ebcb9ab3dd41bf03f8937b4507",
        ),
    )


# Obviously fake credentials: the simulator only ever listens where its operator tells it to.
DEFAULT_USERNAME = "demo.user@example.com"
DEFAULT_PASSWORD = "simulator-demo-password"
DEFAULT_CLIENT_SECRET = "simulator-demo-client-secret"


def default_config() -> SimulatorConfig:
    """The seed tutorial's world, plus a ccfraud-shaped pipeline using the current URL form."""
    return SimulatorConfig(
        users=[UserConfig(username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)],
        clients=[
            ClientConfig(client_id="api-client", secret=DEFAULT_CLIENT_SECRET),
            ClientConfig(client_id="sdk-client"),
        ],
        workspaces=[
            WorkspaceConfig(
                id=16,
                name="urldemoworkspace",
                created_by=DEFAULT_USERNAME,
                pipelines=[aloha_pipeline("urldemopipeline", 8, 5)],
            ),
            WorkspaceConfig(
                id=17,
                name="ccfraudworkspace",
                created_by=DEFAULT_USERNAME,
                created_at="2024-07-22T21:50:12.104271+00:00",
                pipelines=[ccfraud_pipeline("ccfraudpipeline", 9, 14)],
            ),
        ],
    )
