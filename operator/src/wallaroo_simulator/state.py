"""Everything one running simulator holds: its world, token issuer, faults, counters and URLs."""

from __future__ import annotations

from .config import KEYCLOAK_TARGET, MLOPS_TARGET, FaultSpec, SimulatorConfig
from .counters import Counters
from .faults import FaultState
from .keycloak import BruteForceGuard, Sessions, TokenIssuer
from .world import PipelineState, World


class SimulatorState:
    def __init__(self, config: SimulatorConfig, public_url: str | None = None) -> None:
        self.config = config
        self.world = World(config)
        self.issuer = TokenIssuer(config)
        self.sessions = Sessions()
        self.brute_force = BruteForceGuard(config.brute_force)
        self.counters = Counters()
        self.public_url = public_url.rstrip("/") if public_url else None
        self.base_url = ""  # the API listener's real URL, known once it listens
        self.keycloak_url = ""
        self.faults: dict[str, FaultState] = {}
        for target, spec in _configured_faults(config).items():
            self.set_faults(target, spec)

    def set_faults(self, target: str, spec: FaultSpec) -> None:
        """Replace the faults of a pipeline (by name), MLOPS_TARGET or KEYCLOAK_TARGET."""
        if target not in (MLOPS_TARGET, KEYCLOAK_TARGET) and target not in self.world.pipelines:
            raise KeyError(target)
        self.faults[target] = FaultState(spec)

    def clear_faults(self, target: str | None = None) -> None:
        if target is None:
            self.faults.clear()
        else:
            self.faults.pop(target, None)

    def faults_for_pipeline(self, pipeline: PipelineState) -> FaultState | None:
        return self.faults.get(pipeline.name)

    def faults_for_mlops(self) -> FaultState | None:
        return self.faults.get(MLOPS_TARGET)

    def faults_for_keycloak(self) -> FaultState | None:
        return self.faults.get(KEYCLOAK_TARGET)

    @property
    def external_base_url(self) -> str:
        """The base of the URLs the API hands out: ``--public-url`` when given, else where it listens."""
        return self.public_url or self.base_url

    def external_url(self, pipeline: PipelineState) -> str:
        return self.external_base_url + pipeline.infer_path


def _configured_faults(config: SimulatorConfig) -> dict[str, FaultSpec]:
    faults = {p.name: p.faults for p in config.pipelines() if p.faults}
    if config.mlops_faults:
        faults[MLOPS_TARGET] = config.mlops_faults
    if config.keycloak_faults:
        faults[KEYCLOAK_TARGET] = config.keycloak_faults
    return faults
