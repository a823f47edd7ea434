"""Availability from state intervals: uptime, incidents, maintenance time, a 30-day strip.

Pure: no I/O, no clock. The history database (:mod:`tenantboard.history`) stores each
tenant's checks folded into :class:`Interval` rows; this module turns a tenant's intervals
into the figures the report and the detail pane show.

Definitions (docs/history.md repeats them for users):

- **observed time**: the part of the window covered by intervals. Time with no interval
  (the board was closed, a tenant was not listed, or the board could not reach
  SuperOffice at all: our own outage) is a gap: it counts neither as up nor as down.
- **up**: observed time in which the answer's ``IsRunning`` was true. **Uptime** is up
  divided by observed time (None when nothing was observed), so it is always within
  [0, 1]; **coverage** is observed time divided by the window.
- **downtime**: observed time that was not up: an answer with ``IsRunning`` false, or a
  failed check (``failed`` counts the latter on its own). A failed check counts as down
  because nobody could reach the tenant's state either.
- **incident**: a stretch of not-up time that follows up time, i.e. a seen transition from
  running to not running or to failing checks; it lasts until the tenant is seen running
  again (gaps inside it included). A stretch made only of ``OfflineMaintenance`` is planned
  work, counted as downtime and maintenance time but not as an incident. A tenant never
  seen running has downtime but no incidents. An incident counts in a window when any of
  it falls inside; its length there is clipped to the window.
- **maintenance time**: observed time in ``OnlineMaintenance`` and ``OfflineMaintenance``.
- **daily strip**: one cell per day, the worst severity seen that day (None: no data).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from tenantboard.answers import Severity, State, time_from_json
from tenantboard.clock import utc_iso

MAINTENANCE_STATES = ("OnlineMaintenance", "OfflineMaintenance")
_PLANNED_STATE = "OfflineMaintenance"
_STATES = {state.name: state for state in State}


@dataclass(frozen=True, slots=True)
class Interval:
    """A stretch of time in which every check of one tenant gave the same outcome.

    ``state`` is None for a failed check (``error`` then holds its kind). Times are
    timezone-aware (UTC from the database). ``next_at`` is when the check after the one
    that set ``end`` was planned (None when not known): how long a silence after ``end``
    still counts as observed follows from it (see :func:`tenantboard.history.fold`).
    """

    key: str
    start: datetime
    end: datetime
    state: str | None
    code: int | None
    running: bool | None
    host: str | None = None
    error: str | None = None
    next_at: datetime | None = None

    @property
    def up(self) -> bool:
        return self.running is True and self.error is None

    @property
    def severity(self) -> Severity:
        if self.error is not None or self.state is None:
            return Severity.UNKNOWN
        state = _STATES.get(self.state)
        return state.severity if state is not None else Severity.UNKNOWN

    @property
    def label(self) -> str:
        """The outcome in a word: the state's name, or ``error:<kind>``."""
        return outcome_label(self.state, self.error)

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds())


def outcome_label(state: str | None, error: str | None) -> str:
    if error is not None or state is None:
        return f"error:{error or 'unknown'}"
    return state


@dataclass(frozen=True, slots=True)
class Incident:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Availability:
    """One tenant's figures for one window (seconds, except the shares)."""

    window_start: datetime
    window_end: datetime
    observed: float
    up: float
    failed: float
    incidents: int
    longest_incident: float
    maintenance: dict[str, float] = field(default_factory=dict)
    last_seen_running: datetime | None = None

    @property
    def window(self) -> float:
        return max(0.0, (self.window_end - self.window_start).total_seconds())

    @property
    def down(self) -> float:
        return max(0.0, self.observed - self.up)

    @property
    def uptime(self) -> float | None:
        """Share of observed time that was up; None when nothing was observed."""
        return self.up / self.observed if self.observed > 0 else None

    @property
    def coverage(self) -> float:
        """Share of the window that was observed."""
        return self.observed / self.window if self.window > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """The figures as ``report --json`` names them (the window itself is the caller's)."""
        return {
            "uptime": self.uptime,
            "coverage": self.coverage,
            "observed_seconds": self.observed,
            "up_seconds": self.up,
            "down_seconds": self.down,
            "failed_seconds": self.failed,
            "incidents": self.incidents,
            "longest_incident_seconds": self.longest_incident,
            "maintenance_seconds": {
                name: self.maintenance.get(name, 0.0) for name in MAINTENANCE_STATES
            },
            "last_seen_running": utc_iso(self.last_seen_running)
            if self.last_seen_running
            else None,
        }

    @classmethod
    def from_json(cls, data: Any, start: datetime, end: datetime) -> Availability:
        """The figures :meth:`as_json` wrote for the window [start, end), as another
        process sent them: ValueError for anything that is not such figures."""
        if not isinstance(data, dict):
            raise ValueError("availability figures must be an object")
        window = (end - start).total_seconds()
        observed = _seconds(data, "observed_seconds", window)
        up = _seconds(data, "up_seconds", observed)
        maintenance = data.get("maintenance_seconds") or {}
        if not isinstance(maintenance, dict):
            raise ValueError("maintenance_seconds must be an object")
        incidents = data.get("incidents")
        if not isinstance(incidents, int) or isinstance(incidents, bool) or incidents < 0:
            raise ValueError("incidents must be a count")
        running = data.get("last_seen_running")
        return cls(
            window_start=start,
            window_end=end,
            observed=observed,
            up=up,
            failed=_seconds(data, "failed_seconds", observed),
            incidents=incidents,
            longest_incident=_seconds(data, "longest_incident_seconds", window),
            maintenance={
                name: _seconds(maintenance, name, observed)
                for name in MAINTENANCE_STATES
                if name in maintenance
            },
            last_seen_running=None
            if running is None
            else time_from_json(running, "last_seen_running"),
        )


def _seconds(data: dict[str, Any], name: str, most: float) -> float:
    """A number of seconds from JSON: finite, from 0 to ``most`` (a little over it is
    rounding, and is cut)."""
    value = data.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise ValueError(f"{name} must be a number of seconds")
    return min(float(value), most)


def _clip(start: float, end: float, lo: float, hi: float) -> float:
    return max(0.0, min(end, hi) - max(start, lo))


def ordered(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted by start and made disjoint: a later interval starts no earlier than the one
    before it ends (the store never writes overlaps; this guards the sums anyway)."""
    items = list(intervals)
    if all(
        earlier.end <= later.start and earlier.start < later.start
        for earlier, later in itertools.pairwise(items)
    ):
        return items  # as the database gives them: a report of 100,000 tenants sorts none
    result: list[Interval] = []
    for interval in sorted(items, key=_order_key):
        if result and interval.start < result[-1].end:
            if interval.end <= result[-1].end:
                continue
            interval = replace(interval, start=result[-1].end)
        result.append(interval)
    return result


def _order_key(item: Interval) -> tuple[datetime, datetime, str, str, str, int, int]:
    """By start and end, then by what the interval says: intervals of no length at one
    instant (two answers in the same second) come out in one order, however they came in."""
    code = -1 if item.code is None else item.code
    running = -1 if item.running is None else int(item.running)
    return (
        item.start,
        item.end,
        item.state or "",
        item.error or "",
        item.host or "",
        code,
        running,
    )


def incidents(intervals: Sequence[Interval]) -> list[Incident]:
    """Every incident in ``intervals`` (see the module's definition), unclipped."""
    found: list[Incident] = []
    start: datetime | None = None
    end: datetime | None = None
    planned_only = True
    seen_up = False
    for interval in ordered(intervals):
        if interval.up:
            if start is not None and end is not None and not planned_only:
                found.append(Incident(start, end))
            start = end = None
            seen_up = True
            continue
        if start is not None:
            end = interval.end
            planned_only = planned_only and interval.state == _PLANNED_STATE
        elif seen_up:
            start, end = interval.start, interval.end
            planned_only = interval.state == _PLANNED_STATE and interval.error is None
    if start is not None and end is not None and not planned_only:
        found.append(Incident(start, end))
    return found


def availability(intervals: Iterable[Interval], start: datetime, end: datetime) -> Availability:
    """A tenant's figures for the window [start, end).

    Pass the intervals that overlap the window and, for incidents, the one just before it
    (so a transition at the window's start is seen); anything outside is clipped away.
    """
    spans = ordered(intervals)
    lo, hi = start.timestamp(), end.timestamp()
    observed = up = failed = 0.0
    maintenance = dict.fromkeys(MAINTENANCE_STATES, 0.0)
    last_running: datetime | None = None
    for interval in spans:
        begins = interval.start.timestamp()
        seconds = _clip(begins, interval.end.timestamp(), lo, hi)
        observed += seconds
        if interval.up:
            up += seconds
            if begins < hi:
                last_running = min(interval.end, end)
        elif interval.error is not None or interval.state is None:
            failed += seconds
        if interval.state in maintenance and interval.error is None:
            maintenance[interval.state] += seconds
    lengths = [
        _clip(item.start.timestamp(), item.end.timestamp(), lo, hi)
        for item in incidents(spans)
        if item.end.timestamp() >= lo and item.start.timestamp() < hi
    ]
    return Availability(
        window_start=start,
        window_end=end,
        observed=observed,
        up=up,
        failed=failed,
        incidents=len(lengths),
        longest_incident=max(lengths, default=0.0),
        maintenance=maintenance,
        last_seen_running=last_running,
    )


def daily_strip(
    intervals: Iterable[Interval], end: datetime, days: int = 30, tz: tzinfo | None = None
) -> list[Severity | None]:
    """The worst severity of each of the ``days`` calendar days up to ``end`` (oldest
    first; the last cell is ``end``'s day so far), in ``tz`` (default: local time)."""
    local_end = end.astimezone(tz)
    today = local_end.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=days - 1 - index) for index in range(days)]
    cells: list[Severity | None] = [None] * days
    spans = ordered(intervals)
    for index, day_start in enumerate(starts):
        day_end = day_start + timedelta(days=1)
        for interval in spans:
            inside = interval.start < day_end and interval.end >= day_start
            if inside and interval.start <= local_end:
                worst = cells[index]
                if worst is None or interval.severity > worst:
                    cells[index] = interval.severity
    return cells
