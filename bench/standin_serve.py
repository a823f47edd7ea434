"""A stand-in `tenantboard serve` fed by hand, for a board attached to 100,000 tenants.

    python bench/standin_serve.py --tenants 100000 [--rate 2000]

It serves `serve`'s real aiohttp app (``serve.server.build_app``, the real snapshot and
event stream) over a session that checks nothing: every tenant's result is made from the
simulator's scenario in this process (its answer for the tenant, parsed as the client
parses it), applied once before it listens (every tenant checked), and then ``--rate``
results a second are applied in the list's order, round and round, with the scenario's
clock running 60 times faster so that states change and endpoints move. What the attached
board is measured against is then the board's own work, not a server and a simulator
sharing the machine's two cores with it. It prints ``listening on URL`` once it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serve_helpers import idle_watcher  # noqa: E402

from tenantboard.answers import ParseError, parse_state  # noqa: E402
from tenantboard.engine import CheckResult  # noqa: E402
from tenantboard.errors import CheckError, ErrorKind  # noqa: E402
from tenantboard.serve.server import Limits, build_app, listen  # noqa: E402
from tenantboard.simulator import Simulator  # noqa: E402
from tenantboard.tenant import Tenant, make_tenant  # noqa: E402

#: Results are applied this many times a second, each time the share of ``--rate`` due.
FEEDS_A_SECOND = 20
HOST = "online.superoffice.com"


def fleet(count: int) -> list[Tenant]:
    """The bench's tenants (bench/run.py: ``bench_tenants``)."""
    return [make_tenant(f"Cust{i}", "online", f"Bench tenant {i}") for i in range(1, count + 1)]


def result_for(simulator: Simulator, tenant: Tenant) -> CheckResult:
    """The tenant's check as the simulator answers it now, without the network."""
    response = simulator.respond("GET", HOST, f"/api/state/{tenant.context_id}")
    now = datetime.now(UTC)
    state, error = None, None
    if response.status == 200:
        try:
            state = parse_state(json.loads(response.body), tenant.context_id)
        except (ParseError, ValueError) as exc:
            error = CheckError(ErrorKind.BAD_ANSWER, f"bad answer: {exc}")
    else:
        kind = ErrorKind.UNAVAILABLE if response.status == 503 else ErrorKind.HTTP_STATUS
        error = CheckError(kind, f"HTTP {response.status}", status=response.status)
    return CheckResult(tenant=tenant, state=state, error=error, checked_at=now, duration=0.05)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="results a second")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the watcher logs every change
    tenants = fleet(args.tenants)
    watcher = idle_watcher(tenants)
    session = watcher.session
    simulator = Simulator(slow_delay=0, tenant_count=args.tenants, speed=60)
    for start in range(0, len(tenants), 1000):
        session.apply(result_for(simulator, tenant) for tenant in tenants[start : start + 1000])
    runner = await listen(build_app(watcher), "127.0.0.1", 0, Limits(max_connections=64))
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stopped.set)
    per_feed = args.rate / FEEDS_A_SECOND
    owed, position = 0.0, 0
    next_feed = time.monotonic()
    try:
        while not stopped.is_set():
            next_feed += 1 / FEEDS_A_SECOND
            owed += per_feed
            batch = []
            while owed >= 1:
                batch.append(result_for(simulator, tenants[position]))
                position = (position + 1) % len(tenants)
                owed -= 1
            session.apply(batch)
            await asyncio.sleep(max(0.0, next_feed - time.monotonic()))
    finally:
        watcher.hub.close()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
