"""How big the history database gets: 10,000 tenants over a simulated month.

Each tenant follows the simulator's bulk mix (`profile_for`: 80% steady, 10% moving
between hosts, 5% offline maintenance, 3% online maintenance, 2% incidents), with the
scenario's clock slowed down so that its five-minute maintenance cycle becomes a day:
daily maintenance windows, a host move about every 14 hours, an incident every day or so.
That is far more change than real tenants show, so the size is an upper bound.

Checks come at the answer's ValidUntil clamped to 30 s .. 15 min, as the board does. The
bulk profiles are periodic, so one period of checks per tenant is computed and repeated
over the month; runs of identical outcomes are reduced to their first and last check
and written through the real fold (:meth:`HistoryDB.write`, with the month as the gap
limit since these checks have no holes: the same intervals as feeding every check), with
one event per state change or endpoint move, as the board logs them.

    python bench/history_size.py [--tenants N] [--days D]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenantboard.eventlog import LoggedEvent
from tenantboard.history.db import HistoryDB, Observation
from tenantboard.simulator.scenario import (
    incident,
    maintenance,
    mover,
    online_maintenance,
    profile_for,
    steady,
)

#: The scenario's seconds per real second: its 300 s maintenance cycle lasts a day.
SLOWDOWN = 288.0
START = datetime(2026, 1, 1, tzinfo=UTC)
#: The period (scenario seconds) of each bulk profile; None never changes.
PERIODS = {
    steady: None,
    mover: 360.0,
    maintenance: 300.0,
    online_maintenance: 240.0,
    incident: 360.0,
}
_CODES = {"Running": 2, "OnlineMaintenance": 5, "OfflineMaintenance": 6, "Unknown": 0}


@dataclass(frozen=True)
class SizeFigure:
    tenants: int
    days: int
    bytes: int
    intervals: int
    events: int
    seconds: float

    @property
    def megabytes(self) -> float:
        return self.bytes / 1_000_000


def _outcome(number: int, real_elapsed: float) -> tuple[tuple[str, bool, str | None], float]:
    answer = profile_for(number)(number, real_elapsed / SLOWDOWN, "online")
    step = min(900.0, max(30.0, answer.valid_for))
    return (answer.state, answer.is_running, answer.host), step


#: What of a bulk tenant's number its timeline depends on, besides ``number % 3`` (which
#: of the environment's hosts it is on): its offset in its profile's cycle.
_SHAPES: dict[object, Callable[[int], tuple[int, ...]]] = {
    steady: lambda number: (),
    mover: lambda number: (number * 11 % 360,),
    maintenance: lambda number: (number * 37 % 300,),
    online_maintenance: lambda number: (number * 37 % 240,),
    incident: lambda number: (number * 37 % 360,),
}


def _shape(number: int) -> tuple[object, ...]:
    """Tenants with the same shape have the same timeline (bench at 100,000 tenants: a few
    thousand shapes are computed instead of every tenant's month); the demo's numbers
    have profiles of their own."""
    profile = profile_for(number)
    shape = _SHAPES.get(profile)
    return (number,) if shape is None else (profile, number % 3, *shape(number))


_timelines: dict[tuple[object, ...], list[tuple[float, tuple[str, bool, str | None]]]] = {}


def _tenant_checks(number: int, total: float) -> list[tuple[float, tuple[str, bool, str | None]]]:
    """(time, outcome) at the first and last check of each run of equal outcomes (the same
    list for tenants of the same :func:`_shape`)."""
    shape = (_shape(number), total)
    found = _timelines.get(shape)
    if found is None:
        found = _timelines[shape] = _checks_of(number, total)
    return found


def _checks_of(number: int, total: float) -> list[tuple[float, tuple[str, bool, str | None]]]:
    period = PERIODS.get(profile_for(number))  # type: ignore[arg-type]
    horizon = total if period is None else min(total, period * SLOWDOWN)
    runs: list[tuple[float, tuple[str, bool, str | None]]] = []
    elapsed = 0.0
    previous: tuple[str, bool, str | None] | None = None
    last_time = 0.0
    while elapsed < horizon:
        outcome, step = _outcome(number, elapsed)
        if period is None:
            step = max(step, horizon / 4)  # a steady tenant: nothing to find in between
        if outcome != previous:
            if previous is not None and runs[-1][0] != last_time:
                runs.append((last_time, previous))
            runs.append((elapsed, outcome))
            previous = outcome
        last_time = elapsed
        elapsed += step
    if previous is not None and runs[-1][0] != last_time:
        runs.append((last_time, previous))
    if period is None or horizon >= total:
        return runs
    repeated = []
    cycle = period * SLOWDOWN
    for index in range(int(total // cycle) + 1):
        for at, outcome in runs:
            moment = at + index * cycle
            if moment < total:
                repeated.append((moment, outcome))
    return repeated


def _event(
    key: str, at: datetime, before: tuple[str, str | None], after: tuple[str, str | None]
) -> LoggedEvent:
    """What the board logs for a change: the state's, else the endpoint's move."""
    name = key.split(":", 1)[1]
    if before[0] != after[0]:
        text = f"{before[0]} → {after[0]}"
        return LoggedEvent(at, key, name, "state", text, "ok", after[0] != "Running")
    return LoggedEvent(at, key, name, "endpoint", f"moved {before[1]} → {after[1]}", "ok")


def measure_history_size(
    tenants: int = 10_000, days: int = 30, folder: Path | None = None
) -> SizeFigure:
    started = time.perf_counter()
    total = days * 86_400.0
    with tempfile.TemporaryDirectory() as scratch:
        path = (folder or Path(scratch)) / "history.sqlite3"
        with HistoryDB.open(path) as db:
            batch: list[Observation] = []
            events: list[LoggedEvent] = []
            for number in range(1, tenants + 1):
                key = f"online:Cust{number}"
                before: tuple[str, str | None] | None = None
                for at, (state, running, host) in _tenant_checks(number, total):
                    moment = START + timedelta(seconds=at)
                    batch.append(Observation(key, moment, state, _CODES.get(state), running, host))
                    if before is not None and before != (state, host):
                        events.append(_event(key, moment, before, (state, host)))
                    before = (state, host)
                if len(batch) > 20_000:
                    db.write(batch, events, gap=total)
                    batch, events = [], []
            db.write(batch, events, gap=total)
            db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            intervals = db.connection.execute("SELECT COUNT(*) FROM intervals").fetchone()[0]
            event_count = db.connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        size = sum(
            candidate.stat().st_size
            for candidate in path.parent.glob(path.name + "*")
            if candidate.is_file()
        )
    return SizeFigure(tenants, days, size, intervals, event_count, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    figure = measure_history_size(args.tenants, args.days)
    print(
        f"history db size, {figure.tenants} tenants, {figure.days} days: "
        f"{figure.megabytes:.1f} MB ({figure.intervals} intervals, {figure.events} events; "
        f"built in {figure.seconds:.0f} s)"
    )


if __name__ == "__main__":
    main()
