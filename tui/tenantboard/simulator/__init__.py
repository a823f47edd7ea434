"""A stand-in for SuperOffice's state API, shipped so the board runs with no account.

:mod:`.scenario` says what each tenant answers over time, :mod:`.transport` serves it to
httpx in-process, :mod:`.server` serves it over HTTP on loopback.
"""

from tenantboard.simulator.scenario import (
    DEMO_PROFILES,
    Rollout,
    SimResponse,
    Simulator,
    demo_tenants,
)
from tenantboard.simulator.server import serve
from tenantboard.simulator.transport import SimulatorTransport

__all__ = [
    "DEMO_PROFILES",
    "Rollout",
    "SimResponse",
    "Simulator",
    "SimulatorTransport",
    "demo_tenants",
    "serve",
]
