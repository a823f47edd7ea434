"""`python bench/run.py --board-fleet` (or `python bench/board_fleet.py`): the board at
30,000 tenants and a board attached to a `serve` of 100,000 (issue 22), each figure beside
its target and beside the 10,000-tenant board measured in the same rounds.

The rounds are interleaved, so that each figure at fleet size is measured next to its
baseline on a machine whose speed drifts (2 cores shared with other work): in each round,

1. first paint in a real pseudo-terminal (200x50), from exec to the first row: the board
   on 10,000 tenants (the baseline), on 30,000, and attached to the stand-in `serve` of
   100,000 (bench/standin_serve.py: `serve`'s real app, its results fed by hand at
   ``--stream-rate`` a second, about what `serve`'s own first pass of 100,000 sends);
2. keys during a full pass of the headless board (bench/run.py's operator: a cursor move
   every 0.1 s, every fifth step the detail pane and a one-character filter), rows as a
   list and grouped by host, at 10,000 and at 30,000 tenants;
3. keys on the headless board attached to the stand-in, from attaching (its snapshot of
   100,000 rows read and applied) until ``--stream-seconds`` of its event stream later.

Then once: the board on 30,000 tenants in its pseudo-terminal after its first pass and the
first minute (idle CPU over ``--idle-seconds``, resident memory), and the attached board
in its pseudo-terminal after ``--attach-seconds`` of the stream (resident memory, CPU).
The load average is printed before each phase; every figure's note gives its spread over
the rounds and its baseline.

    python bench/run.py --board-fleet             # about 12 minutes
    python bench/run.py --board-fleet --quick     # 2 rounds, 30 s windows (about 7)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from run import (
    ROOT,
    Figure,
    RenderProbe,
    TerminalBoard,
    bench_tenants,
    board_pass,
    end_cleanly_on_sigterm,
    operator_step,
    p95,
    print_table,
    simulator,
)
from tenantboard.tenant_file import TenantStore

#: The targets of issue 22.
FLEET_TENANTS = 30_000
ATTACHED_TENANTS = 100_000
FIRST_PAINT_S = 1.5
KEYS_P95_MS = 50.0
RSS_MB = 250.0
IDLE_PERCENT = 0.5
BASELINE_TENANTS = 10_000
CONCURRENCY = 16


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def standin_serve(tenants: int, rate: float) -> Iterator[str]:
    """bench/standin_serve.py in its own process; yields its address."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "standin_serve.py"),
        "--tenants",
        str(tenants),
        "--rate",
        str(rate),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            raise RuntimeError(f"the stand-in serve did not start: {line!r}")
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(10)


def tenant_file(workdir: Path, count: int) -> Path:
    path = workdir / f"tenants-{count}.toml"
    TenantStore(path).add(bench_tenants(count))
    return path


def first_paint(args: list[str], workdir: Path) -> float:
    """Seconds from exec to the first row, in a fresh data folder (no history)."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=workdir))
    terminal = TerminalBoard(args, home=home)
    try:
        return terminal.wait_for(b"Bench tenant 1 ", timeout=120)
    finally:
        terminal.stop()


def local_args(config: Path, url: str) -> list[str]:
    return ["--config", str(config), "--base-url", url, "--min-interval", "900"]


async def attached_keys(url: str, seconds: float) -> tuple[float, dict[str, list[float]]]:
    """The headless board attached to ``url``, an operator pressing keys from the start,
    through the snapshot's loading until ``seconds`` after every row was applied. Returns
    (seconds until every row was applied, the latencies)."""
    from tenantboard.remote import AttachTarget
    from tenantboard.session import SessionConfig
    from tenantboard.ui.app import BoardConfig, TenantBoardApp

    config = BoardConfig(session=SessionConfig(tenants=[], attach=AttachTarget.parse(url)))
    app = TenantBoardApp(config)
    latencies: dict[str, list[float]] = {"cursor": [], "detail": [], "filter": []}
    started = time.perf_counter()
    loaded = 0.0
    async with app.run_test(size=(200, 50)):
        probe = RenderProbe(app)
        model = app.board.model
        while model.total == 0:  # the first rows
            await asyncio.sleep(0.01)
        steps = 0
        while not loaded or time.perf_counter() < loaded + seconds:
            if not loaded and model.total == ATTACHED_TENANTS and not model.pending():
                loaded = time.perf_counter()
            if time.perf_counter() - started > 600:
                raise TimeoutError("the attached board never had every row")
            steps += 1
            await operator_step(app, probe, latencies, steps)
    return loaded - started, latencies


def spread(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    shown = [f"{value * scale:.2f}" for value in values]
    return f"rounds {', '.join(shown)}{unit}"


def key_figures(
    name: str, pooled: dict[str, list[float]], rounds: list[dict[str, list[float]]], note: str
) -> list[Figure]:
    figures = []
    for key, values in pooled.items():
        if not values:
            continue
        each = [p95(r[key]) * 1000 for r in rounds if r.get(key)]
        figures.append(
            Figure(
                f"{name}: {key}",
                p95(values) * 1000,
                "ms",
                f"< {KEYS_P95_MS:.0f} ms",
                p95(values) * 1000 / KEYS_P95_MS,
                f"{len(values)} samples, median {statistics.median(values) * 1000:.0f} ms; "
                f"p95 by round {', '.join(f'{v:.0f}' for v in each)}{note}",
            )
        )
    return figures


def pooled(rounds: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"cursor": [], "detail": [], "filter": []}
    for latencies in rounds:
        for key, values in latencies.items():
            found[key] += values
    return found


def run(args: argparse.Namespace) -> list[Figure]:
    workdir = Path(tempfile.mkdtemp(prefix="tenantboard-board-fleet-"))
    big, small = tenant_file(workdir, FLEET_TENANTS), tenant_file(workdir, BASELINE_TENANTS)
    tenants = {count: bench_tenants(count) for count in (BASELINE_TENANTS, FLEET_TENANTS)}
    paints: dict[str, list[float]] = {"10k": [], "30k": [], "attached": []}
    keys: dict[tuple[int, str | None], list[dict[str, list[float]]]] = {}
    attached: list[dict[str, list[float]]] = []
    loads: list[float] = []
    figures: list[Figure] = []
    print(f"starting the stand-in serve of {ATTACHED_TENANTS} tenants; {load()}", flush=True)
    with (
        standin_serve(ATTACHED_TENANTS, args.stream_rate) as server,
        simulator(FLEET_TENANTS) as url,
    ):
        for number in range(1, args.rounds + 1):
            print(f"round {number}: first paint; {load()}", flush=True)
            paints["10k"].append(first_paint(local_args(small, url), workdir))
            paints["30k"].append(first_paint(local_args(big, url), workdir))
            paints["attached"].append(first_paint(["--attach", server], workdir))
            print(f"round {number}: keys during a pass; {load()}", flush=True)
            for count in (BASELINE_TENANTS, FLEET_TENANTS):
                for group_by in (None, "host"):
                    _, latencies = asyncio.run(
                        board_pass(
                            url, tenants[count], CONCURRENCY, operator=True, group_by=group_by
                        )
                    )
                    keys.setdefault((count, group_by), []).append(latencies)
            print(f"round {number}: keys on the attached board; {load()}", flush=True)
            took, latencies = asyncio.run(attached_keys(server, args.stream_seconds))
            loads.append(took)
            attached.append(latencies)
        figures += paint_figures(paints)
        for count in (FLEET_TENANTS, BASELINE_TENANTS):
            for group_by in (None, "host"):
                rounds = keys[(count, group_by)]
                grouped = ", grouped by host" if group_by else ""
                name = f"keys during a pass, {count // 1000}k{grouped}"
                figures += key_figures(name, pooled(rounds), rounds, "")
        figures += key_figures(
            f"keys on the attached board, {ATTACHED_TENANTS // 1000}k",
            pooled(attached),
            attached,
            f"; every row applied {', '.join(f'{x:.1f}' for x in loads)} s after the "
            f"board started, then {args.stream_seconds:.0f} s of {args.stream_rate:.0f} "
            "results/s",
        )
        print(f"the 30k board left open; {load()}", flush=True)
        figures += left_open(big, url, workdir, args.idle_seconds)
        print(f"the attached board left open; {load()}", flush=True)
        figures += attached_open(server, workdir, args)
    print(f"done; {load()}", flush=True)
    return figures


def paint_figures(paints: dict[str, list[float]]) -> list[Figure]:
    baseline = statistics.median(paints["10k"])
    figures = []
    for name, key in (
        (f"first paint, {FLEET_TENANTS // 1000}k tenants (pty, from exec)", "30k"),
        (f"first paint, attached to {ATTACHED_TENANTS // 1000}k (pty, from exec)", "attached"),
        (f"first paint, {BASELINE_TENANTS // 1000}k tenants (the baseline)", "10k"),
    ):
        value = statistics.median(paints[key])
        figures.append(
            Figure(
                name,
                value,
                "s",
                f"< {FIRST_PAINT_S} s",
                value / FIRST_PAINT_S,
                f"median; {spread(paints[key], unit=' s')}; {value / baseline:.2f}x the 10k board",
            )
        )
    return figures


def left_open(config: Path, url: str, workdir: Path, window: float) -> list[Figure]:
    """The 30k board in its pseudo-terminal: after its first pass and the first minute,
    idle CPU over ``window`` seconds and resident memory."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=workdir))
    terminal = TerminalBoard(local_args(config, url), home=home)
    try:
        terminal.wait_for(b"Bench tenant 1 ", timeout=120)
        terminal.wait_for_first_pass(timeout=900)
        passed = time.perf_counter() - terminal.started
        terminal.settle()
        time.sleep(60)  # the first minute after a pass redraws "5s ago"s: not idle
        cpu_before, wall_before = terminal.cpu_seconds(), time.perf_counter()
        time.sleep(window)
        share = (terminal.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
        rss = terminal.rss_mb()
    finally:
        terminal.stop()
    return [
        Figure(
            f"idle CPU, {FLEET_TENANTS // 1000}k, after the first minute ({window:.0f} s)",
            share * 100,
            "% of a core",
            f"< {IDLE_PERCENT}%",
            share * 100 / IDLE_PERCENT,
            f"first pass done {passed:.0f} s after exec",
        ),
        Figure(
            f"resident memory, {FLEET_TENANTS // 1000}k tenants",
            rss,
            "MB",
            f"< {RSS_MB:.0f} MB",
            rss / RSS_MB,
            "after the first pass and a minute",
        ),
    ]


def attached_open(server: str, workdir: Path, args: argparse.Namespace) -> list[Figure]:
    """The attached board in its pseudo-terminal, ``--attach-seconds`` into the stream."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=workdir))
    terminal = TerminalBoard(["--attach", server], home=home)
    try:
        terminal.wait_for(b"Bench tenant 1 ", timeout=120)
        time.sleep(args.attach_seconds / 2)
        cpu_before, wall_before = terminal.cpu_seconds(), time.perf_counter()
        time.sleep(args.attach_seconds / 2)
        share = (terminal.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
        rss = terminal.rss_mb()
    finally:
        terminal.stop()
    return [
        Figure(
            f"resident memory, attached to {ATTACHED_TENANTS // 1000}k",
            rss,
            "MB",
            f"< {RSS_MB:.0f} MB",
            rss / RSS_MB,
            f"{args.attach_seconds:.0f} s after exec, {args.stream_rate:.0f} results/s "
            f"streaming: {share * 100:.0f}% of a core over the last half",
        )
    ]


def main(argv: list[str] | None = None) -> None:
    end_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, 30 s windows")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (3; 2 with --quick)")
    parser.add_argument(
        "--stream-rate", type=float, default=2000.0, help="the stand-in's results a second"
    )
    parser.add_argument(
        "--stream-seconds",
        type=float,
        default=20.0,
        help="keys on the attached board this long after its snapshot is applied",
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.idle_seconds = 30.0 if args.quick else 60.0
    args.attach_seconds = 60.0 if args.quick else 120.0
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {load()}")
    print_table(run(args))


if __name__ == "__main__":
    main()
