"""Soak: the board (headless) re-checks every tenant continuously for N full passes against a
simulator whose clock runs fast (state changes, endpoint moves); prints RSS in MB after the
first pass and after the last. Run by bench/run.py."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

from run import board_config  # bench/ is on the path: this script lives there
from tenantboard.tenant import make_tenant
from tenantboard.tenant_file import Settings
from tenantboard.ui.app import TenantBoardApp


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def soak(url: str, count: int, passes: int) -> tuple[float, float]:
    tenants = [make_tenant(f"Cust{i}", "online", f"Bench tenant {i}") for i in range(1, count + 1)]
    config = board_config(url, tenants, Settings(concurrency=16, min_interval=1, max_interval=1))
    app = TenantBoardApp(config)
    first = 0.0
    async with app.run_test(size=(200, 50)) as pilot:
        while True:
            await asyncio.sleep(0.5)
            done = sum(row.checks for row in app.board.model.rows.values())
            if not first and done >= count:
                await pilot.pause()
                gc.collect()
                first = rss_mb()
            if done >= count * passes:
                break
        await pilot.pause()
        gc.collect()
        last = rss_mb()
    return first, last


if __name__ == "__main__":
    url, count, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    first, last = asyncio.run(soak(url, count, passes))
    print(f"{first:.1f} {last:.1f}")
