"""A stand-in for SuperOffice's state API, shipped so the board runs with no account.

:mod:`.scenario` says what each tenant answers over time, :mod:`.transport` serves it to
httpx in-process, :mod:`.server` serves it over HTTP on loopback.
"""

from tenantboard.simulator.scenario import (
    DEMO_HOST_FAILURE,
    DEMO_PROFILES,
    HostFailure,
    Rollout,
    SimResponse,
    Simulator,
    demo_fleet,
    demo_tenants,
)
from tenantboard.simulator.server import serve
from tenantboard.simulator.transport import SimulatorTransport

__all__ = [
    "DEMO_HOST_FAILURE",
    "DEMO_PROFILES",
    "HostFailure",
    "Rollout",
    "SimResponse",
    "Simulator",
    "SimulatorTransport",
    "demo_fleet",
    "demo_tenants",
    "serve",
]
