"""How long a /metrics scrape (and /api/snapshot) takes at 10,000 tenants, and how long it
holds up the event loop the checks run on.

    python bench/scrape.py [--tenants 10000] [--rounds 5]

The watcher is fed one full pass of results from the in-process simulator first (every
tenant checked), then `serve`'s real aiohttp app is scraped over 127.0.0.1 by curl (another
process, so the client's work is not counted) while a ticker on the server's loop measures
the longest stall the scrape causes. The first scrape formats every tenant; before each later
one, ``--changed`` tenants get a new result (a 15 s scrape interval sees about 250 of 10,000
tenants checked, their ValidUntil being 5 to 15 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serve_helpers import idle_watcher  # noqa: E402

from tenantboard.client import TenantClient  # noqa: E402
from tenantboard.engine import check_all  # noqa: E402
from tenantboard.schedule import NextCheck  # noqa: E402
from tenantboard.serve.server import Limits, build_app, listen  # noqa: E402
from tenantboard.simulator import Simulator, SimulatorTransport  # noqa: E402
from tenantboard.tenant import Tenant  # noqa: E402


async def longest_stall(stop: asyncio.Event, period: float = 0.002) -> float:
    """The longest the loop was late for a tick every ``period`` seconds."""
    worst = 0.0
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(period)
        worst = max(worst, time.perf_counter() - before - period)
    return worst


async def curl(url: str) -> tuple[float, int]:
    """(seconds, bytes) of one GET, timed by curl."""
    process = await asyncio.create_subprocess_exec(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{size_download}",
        url,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    took, size = out.decode().split()
    return float(took), int(size)


async def measure(url: str, refresh: Callable[[], None]) -> tuple[float, float, int]:
    """(seconds, longest loop stall, bytes) of one GET, after ``refresh``."""
    refresh()
    stop = asyncio.Event()
    ticker = asyncio.create_task(longest_stall(stop))
    took, size = await curl(url)
    stop.set()
    return took, await ticker, size


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--changed", type=int, default=250)
    args = parser.parse_args()
    tenants = [
        Tenant(f"Cust{number}", "online", f"Customer {number}")
        for number in range(1, args.tenants + 1)
    ]
    watcher = idle_watcher(tenants)
    simulator = Simulator(slow_delay=0, tenant_count=args.tenants)
    async with TenantClient(transport=SimulatorTransport(simulator), max_connections=64) as client:
        for result in await check_all(client, tenants, concurrency=64):
            # planned as the monitor plans it, so the next-check series is formatted too
            watcher.record(replace(result, next_check=NextCheck(300.0, "ValidUntil")))
    picker = random.Random(7)

    def check_some() -> None:
        for result in picker.sample(results, args.changed):
            watcher.record(replace(result, checked_at=result.checked_at + timedelta(seconds=15)))

    results = [watcher.model.rows[tenant.key].last for tenant in tenants]
    runner = await listen(build_app(watcher), "127.0.0.1", 0, Limits())  # as serve runs it
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    print(
        f"{args.tenants} tenants over 127.0.0.1; later scrapes: median of {args.rounds}, "
        f"{args.changed} tenants checked before each"
    )
    stop = asyncio.Event()
    ticker = asyncio.create_task(longest_stall(stop))
    await asyncio.sleep(2)
    stop.set()
    print(f"  the loop's longest stall over 2 s with no request: {await ticker * 1000:.0f} ms")
    for path in ("/metrics", "/api/snapshot", "/api/tenants"):
        first = await measure(url + path, lambda: None)
        later = [await measure(url + path, check_some) for _ in range(args.rounds)]
        took = statistics.median(took for took, _, _ in later)
        stall = max(stall for _, stall, _ in later)
        print(
            f"  {path:14} first {first[0] * 1000:5.0f} ms (loop stall {first[1] * 1000:4.0f} ms)"
            f"  later {took * 1000:5.0f} ms (worst loop stall {stall * 1000:4.0f} ms)"
            f"  {first[2] / 1e6:4.1f} MB"
        )
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
