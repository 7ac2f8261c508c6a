"""A faithful Wallaroo stand-in on loopback: Keycloak, the MLOps API and pipeline inference.

See docs/simulator.md. In tests::

    with run_simulator() as sim:
        sim.admin.set_faults("urldemopipeline", fail_next=1, status=503, retry_after=1)
"""

from .admin import AdminClient
from .config import KEYCLOAK_TARGET, MLOPS_TARGET, FaultSpec, SimulatorConfig, default_config, load_config
from .model import expected_outputs
from .server import RunningSimulator, ServeOptions, run_simulator

__all__ = [
    "KEYCLOAK_TARGET",
    "MLOPS_TARGET",
    "AdminClient",
    "FaultSpec",
    "RunningSimulator",
    "ServeOptions",
    "SimulatorConfig",
    "default_config",
    "expected_outputs",
    "load_config",
    "run_simulator",
]
