"""A day of chaos, as fast as the machine goes: the headless board against the simulator
with its fault plan on (what `tenantboard simulate --chaos` serves).

The board is the monitor, the rows and the event log (no Textual) on a virtual clock shared
with the simulator: time moves a second at a time, and only once every check that fell due
has finished. So a day of 3,000 tenants takes as long as its ~1.5 million checks take the
CPU, and a slow machine makes a slow run, never a board that falls behind. The simulator
is served in-process (``SimulatorTransport``): the plan's outages refuse connections,
resets and cut-off bodies raise what httpx raises for them; the same faults over a real
socket are pinned by tests/test_chaos.py. At the end it checks what a long day must leave
behind and prints the figures (``--json`` for bench/run.py).

    python bench/chaos_soak.py                  # 3,000 tenants, 24 scenario hours
    python bench/chaos_soak.py --hours 3        # a shorter look
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aligned import print_aligned
from tenantboard.client import TenantClient
from tenantboard.connectivity import OUTAGE_MIN_TENANTS, RECOVERY_SPREAD, Outage
from tenantboard.engine import CheckResult, Monitor
from tenantboard.eventlog import EventLog, LoggedEvent, logged_events
from tenantboard.history.db import HistoryDB, HistoryWriter
from tenantboard.rows import HISTORY_LIMIT, TIMELINE_LIMIT, BoardModel, TenantRow
from tenantboard.schedule import RefreshPolicy
from tenantboard.simulator import Simulator, SimulatorTransport
from tenantboard.simulator.scenario import Chaos
from tenantboard.tenant import make_tenant
from tenantboard.tenant_file import TenantStore

#: A tenant is stuck when it goes this long (scenario seconds) without a check outside an
#: outage: the longest planned wait (900 s plus its jitter) and a margin for the queue.
STEADY_BOUND = 900 * 1.1 + 60
#: After an outage ends every tenant must be checked within this (scenario seconds): the
#: recovery spread, and as much again for a machine that cannot quite keep the pace.
RECOVERY_BOUND = 2 * RECOVERY_SPREAD


class VirtualClock:
    """The board's and the simulator's clock: it moves only when the soak moves it."""

    def __init__(self) -> None:
        self._elapsed = 0.0
        self._start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self._elapsed += seconds

    def elapsed(self) -> float:
        return self._elapsed

    def monotonic(self) -> float:
        return 1_000_000.0 + self._elapsed

    def wall(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def epoch(self) -> float:
        return self._start.timestamp() + self._elapsed


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Sample:
    """The soak's figures at one scenario hour."""

    hour: float
    #: The process's resident set (MB): the board, the simulator served in-process, the
    #: history writer's SQLite, the interpreter.
    rss: float
    #: Entries in the rows' bounded per-tenant history (events and severity changes)...
    held: int
    #: ...and what they take (MB, see :func:`history_bytes`).
    history: float
    #: Results and events queued for the history writer, not yet written.
    backlog: int


def history_bytes(rows: Iterable[TenantRow]) -> int:
    """Bytes the rows' per-tenant history holds: its events and severity changes, their
    times and texts (a text shared by many events counted once). Objects the row keeps
    anyway (the last result's time) are not counted, nor the deques' fixed blocks: this
    is what the history adds as it fills, up to HISTORY_LIMIT + TIMELINE_LIMIT a tenant.

    Counted a row at a time (times are a row's own; texts are shared), so that counting
    does not itself take megabytes for a moment and raise the next sample's RSS."""
    texts: set[int] = set()
    total = 0
    for row in rows:
        seen = {id(row.last.checked_at) if row.last else 0, id(row.last_success_at)}
        times = [event.at for event in row.history] + [at for at, _ in row.severity_changes]
        for at in times:
            if id(at) not in seen:
                seen.add(id(at))
                total += sys.getsizeof(at)
        for event in row.history:
            total += sys.getsizeof(event)
            if id(event.text) not in texts:
                texts.add(id(event.text))
                total += sys.getsizeof(event.text)
        total += sum(sys.getsizeof(change) for change in row.severity_changes)
    return total


@dataclass
class Watch:
    """What the soak records while the board runs, in scenario seconds."""

    clock: VirtualClock
    checks: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_check: dict[str, float] = field(default_factory=dict)
    worst_gap: float = 0.0
    outages: list[Outage] = field(default_factory=list)
    in_outage_since: float | None = None
    last_outage_end: float = -1.0
    #: Per ended outage: (when it ended, tenants not checked since).
    recovering: list[tuple[float, set[str]]] = field(default_factory=list)
    recovery_times: list[float] = field(default_factory=list)
    probes: list[int] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    #: "check failed" events logged while an outage was on (the outage is the event).
    failures_in_outages: int = 0
    outage_entries: int = 0

    def result(self, result: CheckResult) -> None:
        now = self.clock.monotonic()
        key = result.tenant.key
        self.checks += 1
        if result.error is not None:
            self.errors[str(result.error.kind)] += 1
        before = self.last_check.get(key)
        if before is not None and self.in_outage_since is None and before > self.last_outage_end:
            self.worst_gap = max(self.worst_gap, now - before)
        self.last_check[key] = now
        for ended, waiting in self.recovering:
            if key in waiting:
                waiting.discard(key)
                if not waiting:
                    self.recovery_times.append(now - ended)
        self.recovering = [entry for entry in self.recovering if entry[1]]

    def outage(self, outage: Outage, tenants: list[str]) -> None:
        now = self.clock.monotonic()
        if outage.ended is None:
            self.in_outage_since = now
            return
        self.in_outage_since = None
        self.last_outage_end = now
        self.outages.append(outage)
        self.probes.append(outage.probes)
        self.recovering.append((now, set(tenants)))


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    tenants = [make_tenant(f"Cust{i}", "online", f"Soak {i}") for i in range(1, args.tenants + 1)]
    config = workdir / "tenants.toml"
    TenantStore(config).add(tenants)
    file_before = hashlib.sha256(config.read_bytes()).hexdigest()
    tenants = TenantStore(config).load().tenants
    keys = [tenant.key for tenant in tenants]

    clock = VirtualClock()
    simulator = Simulator(
        now=clock.epoch, slow_delay=0.0, tenant_count=args.tenants, chaos=Chaos(seed=args.seed)
    )
    watch = Watch(clock)
    model = BoardModel(tenants)
    rows = list(model.rows.values())
    log = EventLog()
    # The board's history: every result and event, written from the writer's own thread.
    history = workdir / "history.sqlite3"
    writer = HistoryWriter(history, now=clock.wall)
    writer.start()
    logged = 0

    def record(events: list[LoggedEvent]) -> None:
        nonlocal logged
        log.add(events)
        writer.add_events(events)
        logged += len(events)

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: watch.crashes.append(str(context)[:300]))

    def on_result(result: CheckResult) -> None:
        model.apply(result)
        writer.add_results((result,))
        watch.result(result)

    def on_outage(outage: Outage) -> None:
        watch.outage(outage, keys)
        if outage.ended is not None:  # the outage's one entry, with its start and end
            text = outage.summary()
            record([LoggedEvent(outage.ended, "-", "SuperOffice", "outage", text, "unknown")])
            watch.outage_entries += 1

    async with TenantClient(
        transport=SimulatorTransport(simulator), max_connections=args.concurrency
    ) as client:
        monitor = Monitor(
            client,
            tenants,
            policy=RefreshPolicy(),
            concurrency=args.concurrency,
            on_result=on_result,
            on_outage=on_outage,
            clock=clock,
        )
        task = asyncio.create_task(monitor.run())
        end = args.hours * 3600
        samples: list[Sample] = []
        next_sample = args.sample_every
        next_flush = writer.flush_interval
        traced: tracemalloc.Snapshot | None = None
        while clock.elapsed() < end and not task.done():
            clock.advance(1.0)
            monitor.wake_if_overdue()  # the board's tick (its loop timer runs in real time)
            while True:  # everything due by now starts and finishes before time moves on
                await asyncio.sleep(0)
                due = monitor.next_due()
                if not monitor.in_flight and (due is None or due > clock.monotonic()):
                    break
            changes = model.take_changes()
            if monitor.outage is not None:
                watch.failures_in_outages += sum(c.event.kind == "failure" for c in changes)
            record(logged_events(changes))
            if clock.elapsed() >= next_flush:
                # The writer writes every flush_interval seconds of real time; the soak's
                # scenario second takes a few milliseconds, so without this the queue of
                # results for it grows with the soak's speed, not the board's (tens of MB).
                if not writer.flush(timeout=60):
                    watch.crashes.append("the history writer did not answer within 60 s")
                next_flush += writer.flush_interval
            if clock.elapsed() >= next_sample:
                gc.collect()
                hour = clock.elapsed() / 3600
                held = sum(len(row.history) + len(row.severity_changes) for row in rows)
                samples.append(
                    Sample(hour, rss_mb(), held, history_bytes(rows) / 2**20, writer.backlog)
                )
                print(
                    f"  hour {hour:4.1f}: {watch.checks} checks, {len(watch.outages)} outages, "
                    f"rss {samples[-1].rss:.1f} MB, {held} history entries held "
                    f"({samples[-1].history:.1f} MB)",
                    file=sys.stderr,
                    flush=True,
                )
                next_sample += args.sample_every
                if args.trace and traced is None and hour >= 2:
                    traced = tracemalloc.take_snapshot()
        if args.trace and traced is not None:
            gc.collect()
            report_growth(traced, tracemalloc.take_snapshot())
        if task.done() and task.exception() is not None:
            watch.crashes.append(repr(task.exception()))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        loop.set_exception_handler(None)

    writer.close(timeout=120)
    with HistoryDB.open(history, read_only=True) as db:
        recorded = len(db.events(limit=10**9))
    file_after = hashlib.sha256(config.read_bytes()).hexdigest()
    planned = Chaos(seed=args.seed).outages(end)
    never_checked = sum(1 for key in keys if key not in watch.last_check)
    return {
        "tenants": args.tenants,
        "scenario_hours": args.hours,
        "seed": args.seed,
        "checks": watch.checks,
        "errors": dict(watch.errors.most_common()),
        "planned_outages": len(planned),
        "outages_seen": len(watch.outages),
        "probes_per_outage_max": max(watch.probes, default=0),
        "recovery_seconds_max": max(watch.recovery_times, default=0.0),
        "recoveries_unfinished": len(watch.recovering),
        "worst_gap_seconds": watch.worst_gap,
        "never_checked": never_checked,
        "samples": [asdict(sample) for sample in samples],
        "event_lines": logged,
        "event_lines_valid": recorded,
        "outage_events": watch.outage_entries,
        "failures_in_outages": watch.failures_in_outages,
        "tenant_file_identical": file_after == file_before,
        "crashes": watch.crashes,
    }


def report_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> None:
    """The allocation sites that grew most from scenario hour 2 to the end (stderr)."""
    drop = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(drop), after.filter_traces(drop)
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(f"  traced growth since hour 2: {total / 1e6:+.2f} MB", file=sys.stderr)
    for stat in after.compare_to(before, "traceback")[:25]:
        print(
            f"  {stat.size_diff / 1e3:+9.1f} kB {stat.count_diff:+8d} blocks "
            f"(now {stat.size / 1e3:.1f} kB)",
            file=sys.stderr,
        )
        for line in stat.traceback.format(limit=6):
            print(f"      {line}", file=sys.stderr)


def verdicts(figures: dict[str, object]) -> list[tuple[str, str, str, bool]]:
    """(figure, value, target, met) for the table."""
    samples = [Sample(**sample) for sample in figures["samples"]]  # type: ignore[attr-defined]
    nan = Sample(float("nan"), float("nan"), 0, float("nan"), 0)
    first, last = (samples[0], samples[-1]) if samples else (nan, nan)
    growth = (last.rss - first.rss) / first.rss * 100
    # The rest: all but the bounded per-tenant history, which fills for more than a day
    # (about an event an hour a tenant) and is counted on its own, against its bound.
    rest_first, rest_last = first.rss - first.history, last.rss - last.history
    rest_growth = (rest_last - rest_first) / rest_first * 100
    backlog = max((sample.backlog for sample in samples), default=0)
    recovery = float(figures["recovery_seconds_max"])  # type: ignore[arg-type]
    gap = float(figures["worst_gap_seconds"])  # type: ignore[arg-type]
    bound = int(figures["tenants"]) * (HISTORY_LIMIT + TIMELINE_LIMIT)  # type: ignore[call-overload]
    return [
        ("crashes", str(len(figures["crashes"])), "0", not figures["crashes"]),  # type: ignore[arg-type]
        (
            "outages seen / planned",
            f"{figures['outages_seen']} / {figures['planned_outages']}",
            "all, one each",
            figures["outages_seen"] == figures["planned_outages"],
        ),
        (
            "probes in the longest outage",
            str(figures["probes_per_outage_max"]),
            "<= 45 (20 min at <= 1 per 30 s)",
            int(figures["probes_per_outage_max"]) <= 45,  # type: ignore[call-overload]
        ),
        (
            "all re-checked after an outage (worst)",
            f"{recovery:.0f} s",
            f"<= {RECOVERY_BOUND:.0f} s",
            recovery <= RECOVERY_BOUND and figures["recoveries_unfinished"] == 0,
        ),
        (
            "longest wait between checks, no outage",
            f"{gap:.0f} s",
            f"<= {STEADY_BOUND:.0f} s",
            gap <= STEADY_BOUND and figures["never_checked"] == 0,
        ),
        (
            "per-tenant history held, hour 1 -> end",
            f"{first.held} -> {last.held} ({first.history:.1f} -> {last.history:.1f} MB)",
            f"<= {bound} entries (their bound)",
            last.held <= bound,
        ),
        (
            "memory less that history, hour 1 -> end",
            f"{rest_first:.1f} -> {rest_last:.1f} MB ({rest_growth:+.1f}%)",
            "< +10%",
            rest_growth < 10,
        ),
        (
            "resident set, hour 1 -> end",
            f"{first.rss:.1f} -> {last.rss:.1f} MB ({growth:+.1f}%)",
            "the two above",
            last.held <= bound and rest_growth < 10,
        ),
        (
            "results waiting for the history writer",
            f"{backlog} (most at an hourly sample)",
            "0 (written as scenario time passes)",
            backlog == 0,
        ),
        (
            "events recorded in the history database",
            f"{figures['event_lines_valid']} / {figures['event_lines']}",
            "all",
            figures["event_lines_valid"] == figures["event_lines"],
        ),
        (
            "outage entries logged",
            str(figures["outage_events"]),
            "one per outage",
            figures["outage_events"] == figures["outages_seen"],
        ),
        (
            "per-tenant failures logged as outages began",
            str(figures["failures_in_outages"]),
            f"< {OUTAGE_MIN_TENANTS} per outage",
            int(figures["failures_in_outages"])  # type: ignore[call-overload]
            < OUTAGE_MIN_TENANTS * max(1, int(figures["outages_seen"])),  # type: ignore[call-overload]
        ),
        (
            "tenant file byte-identical",
            str(figures["tenant_file_identical"]),
            "True",
            bool(figures["tenant_file_identical"]),
        ),
    ]


def print_verdicts(figures: dict[str, object], real_seconds: float) -> None:
    print(
        f"{figures['tenants']} tenants, {figures['scenario_hours']} h of scenario time "
        f"(seed {figures['seed']}) in {real_seconds / 60:.1f} min; "
        f"{figures['checks']} checks; failures by kind: {figures['errors']}"
    )
    rows = [("figure", "value", "target", "")]
    rows += [
        (name, value, target, "ok" if met else "MISSED")
        for name, value, target, met in verdicts(figures)
    ]
    print_aligned(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=3000)
    parser.add_argument("--hours", type=float, default=24.0, help="scenario hours (default 24)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--sample-every", type=float, default=3600.0, help="scenario seconds between samples"
    )
    parser.add_argument(
        "--trace",
        type=int,
        default=0,
        metavar="FRAMES",
        help="tracemalloc with FRAMES frames: the sites that grew from hour 2 to the end",
    )
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(args.trace)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tenantboard-chaos-") as folder:
        figures = asyncio.run(soak(args, Path(folder)))
    figures["real_seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(figures))
    else:
        print_verdicts(figures, float(figures["real_seconds"]))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
