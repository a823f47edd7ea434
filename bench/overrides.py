"""Each of textual_overrides.py's reaches into Textual on its own: what does it buy?

Two figures, each measured for every variant in the same run (ratios to the board as it is
are what to read: this machine is shared, and its speed moves by half from hour to hour):

- ``idle``: idle CPU of the board in a 200x50 pseudo-terminal at 10,000 tenants with nothing
  due (``--min-interval 900``), after its first pass and its first minute, as ``make bench``
  measures it. Every variant's board runs at once (each started after the one before has
  finished its first pass), and every window measures them all over the same seconds.
- ``keys``: key latency during a full pass (``make bench``'s operator pass: cursor, detail
  pane, filter), the variants taking turns round after round; each round's median is
  compared with the same round's for the board as it is.

A variant is the board with one override taken away (patched before the board starts), or,
with ``--before DIR``, the board of another checkout (its ``tui/`` first on the path):

    python bench/overrides.py idle [--rounds 5] [--window 60] [--before DIR]
    python bench/overrides.py keys [--rounds 4] [--before DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aligned import print_aligned
from run import TerminalBoard, bench_tenants, board_pass, simulator
from tenantboard.tenant_file import TenantStore

BENCH = Path(__file__).resolve().parent

#: Python run before the board starts, per variant: each takes one override away.
VARIANTS: dict[str, str] = {
    "as it is": "",
    "Textual's driver (its input thread polls)": (
        "from textual.drivers.linux_driver import LinuxDriver\n"
        "from tenantboard.ui.app import TenantBoardApp\n"
        "TenantBoardApp.get_driver_class = lambda self: LinuxDriver\n"
    ),
    "header clock to the second": (
        "import tenantboard.ui.widgets.summary as s\ns.CLOCK_FORMAT = '%H:%M:%S'\n"
    ),
    "without the frame timer": (
        "import tenantboard.ui.textual_overrides as o\ndel o.FrameTimerScreen._update_timer\n"
    ),
}
IDLE_VARIANTS = [
    "as it is",
    "Textual's driver (its input thread polls)",
    "header clock to the second",
]
KEY_VARIANTS = ["as it is", "without the frame timer"]


def add_before(checkout: Path) -> str:
    """A variant that runs another checkout's board (``--before``): its ``tui/`` first."""
    name = f"before: {checkout}"
    VARIANTS[name] = f"import sys\nsys.path.insert(0, {str(checkout / 'tui')!r})\n"
    IDLE_VARIANTS.append(name)
    KEY_VARIANTS.append(name)
    return name


def board_command(patch: str) -> list[str]:
    """``python -c`` that applies ``patch`` and runs the board's command line."""
    code = f"{patch}\nimport sys\nfrom tenantboard.cli import main\nsys.exit(main())\n"
    return [sys.executable, "-c", code]


def idle(rounds: int, window: float, tenants: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tenantboard-overrides-"))
    config = workdir / "tenants.toml"
    TenantStore(config).add(bench_tenants(tenants))
    boards: dict[str, TerminalBoard] = {}
    with simulator(tenants) as url:
        args = ["--config", str(config), "--base-url", url]
        args += ["--min-interval", "900", "--max-interval", "1800"]
        try:
            for name in IDLE_VARIANTS:
                home = workdir / f"home-{len(boards)}"
                board = TerminalBoard(args, home=home, command=board_command(VARIANTS[name]))
                boards[name] = board
                board.wait_for_first_pass(timeout=300)
                board.settle()
                print(f"{name}: first pass done", flush=True)
            time.sleep(60)  # the last board's first minute (see make bench's idle figure)
            shares: dict[str, list[float]] = {name: [] for name in boards}
            for number in range(rounds):
                before = {name: board.cpu_seconds() for name, board in boards.items()}
                started = time.perf_counter()
                time.sleep(window)
                seconds = time.perf_counter() - started
                for name, board in boards.items():
                    shares[name].append((board.cpu_seconds() - before[name]) / seconds * 100)
                load = os.getloadavg()[0]
                print(f"window {number + 1}/{rounds} done (load {load:.1f})", flush=True)
        finally:
            for board in boards.values():
                board.stop()
    baseline = shares["as it is"]
    rows = [("variant", "idle CPU, % of a core", "per window", "to as it is (median)")]
    for name, values in shares.items():
        ratios = [
            value / base if base else float("nan")
            for value, base in zip(values, baseline, strict=True)
        ]
        rows.append(
            (
                name,
                f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})",
                " ".join(f"{value:.2f}" for value in values),
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
            )
        )
    print(f"\n{tenants} tenants, 200x50, {rounds} windows of {window:.0f} s, all boards at once")
    print_aligned(rows)


def one_pass(url: str, tenants: int) -> None:
    """In a variant's process: one operator pass; its latencies as JSON on stdout."""
    _, latencies = asyncio.run(board_pass(url, bench_tenants(tenants), 16, operator=True))
    print(json.dumps(latencies))


def keys(rounds: int, tenants: int) -> None:
    #: variant -> key -> one list of latencies per round
    samples: dict[str, dict[str, list[list[float]]]] = {name: {} for name in KEY_VARIANTS}
    with simulator(tenants) as url:
        for number in range(rounds):
            for name in KEY_VARIANTS:
                code = (
                    f"{VARIANTS[name]}\nimport sys\nsys.path.insert(0, {str(BENCH)!r})\n"
                    f"from overrides import one_pass\none_pass({url!r}, {tenants})\n"
                )
                done = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                )
                for kind, values in json.loads(done.stdout.splitlines()[-1]).items():
                    samples[name].setdefault(kind, []).append(values)
            print(f"round {number + 1}/{rounds} done (load {os.getloadavg()[0]:.1f})", flush=True)
    rows = [("variant", "key", "samples", "median ms", "p95 ms", "round medians to as it is")]
    for name, kinds in samples.items():
        for kind, per_round in kinds.items():
            values = [value for values in per_round for value in values]
            base = samples["as it is"][kind]
            ratios = [
                statistics.median(ours) / statistics.median(theirs)
                for ours, theirs in zip(per_round, base, strict=True)
                if ours and theirs
            ]
            p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
            rows.append(
                (
                    name,
                    kind,
                    str(len(values)),
                    f"{statistics.median(values) * 1000:.1f}",
                    f"{p95 * 1000:.1f}",
                    f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
                )
            )
    print(f"\n{tenants} tenants, {rounds} interleaved rounds of one operator pass each")
    print_aligned(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=["idle", "keys"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=60.0, help="idle: seconds a window")
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument(
        "--before", type=Path, help="also run the board of this checkout (e.g. the main branch)"
    )
    args = parser.parse_args()
    if args.before:
        add_before(args.before.resolve())
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {os.uname().machine}")
    if args.figure == "idle":
        idle(args.rounds, args.window, args.tenants)
    else:
        keys(args.rounds, args.tenants)


if __name__ == "__main__":
    main()
