"""What a running board keeps of the history database in memory (UI-free).

The board writes through one :class:`~tenantboard.history.HistoryWriter`; everything it
reads from the file is read here, in a thread, never on the event loop:

- :func:`read_start` once at start: the last outcome recorded per tenant, when a board
  last ran, the newest events (and our own outages) for the event log, the active mutes
  and acknowledgements (and an old ``events.jsonl`` imported first, once).
- :func:`read_availability` when the detail pane opens (and each minute while it is open),
  or for every tenant while the "Up 24h" column or its sort is on.
- :func:`read_version_history` when the detail pane opens: the tenant's versions.

:class:`ClosedWatch` turns each tenant's first state answer of the session into a change "while
closed", and :class:`MarkBook` answers "is this tenant muted or acknowledged?" from memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tenantboard.answers import Severity, time_from_json
from tenantboard.clock import utc_iso
from tenantboard.engine import CheckResult
from tenantboard.eventlog import LoggedEvent, outage_event
from tenantboard.history.availability import Availability, availability, daily_strip
from tenantboard.history.db import (
    ClosedChange,
    HistoryDB,
    HistoryError,
    Interval,
    Mark,
    Observation,
    Reason,
    changed_while_closed,
    import_event_log,
)
from tenantboard.releases import VersionSpan
from tenantboard.sanitize import clean

#: The availability windows the detail pane shows: (label, length).
WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("24 h", timedelta(hours=24)),
    ("7 d", timedelta(days=7)),
    ("30 d", timedelta(days=30)),
)
STRIP_DAYS = 30


@dataclass(slots=True)
class StartHistory:
    """What the board reads from the history file as it starts."""

    last_recorded: dict[str, Interval] = field(default_factory=dict)
    last_run_end: datetime | None = None
    #: Newest first, as the event log shows them.
    events: list[LoggedEvent] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    #: The version each tenant was last recorded on, and when each version was first seen.
    last_versions: dict[str, str] = field(default_factory=dict)
    versions_first_seen: dict[str, datetime] = field(default_factory=dict)
    imported: int = 0
    error: HistoryError | None = None


def read_start(
    path: Path, keys: Iterable[str], *, import_from: Path | None = None, limit: int = 2000
) -> StartHistory:
    """Read what the board needs at start (blocking: call it in a thread). A file that
    cannot be used gives an empty result with its error; the writer then reports (and,
    for a damaged file, sets it aside) on its own."""
    found = StartHistory()
    try:
        if import_from is not None and import_from.exists():
            with HistoryDB.open(path) as db:
                found.imported = import_event_log(db, import_from)
        if not path.exists():
            return found
        with HistoryDB.open(path, read_only=True) as db:
            found.last_recorded = db.last_recorded(keys)
            found.last_run_end = db.last_run_end()
            outages = [outage_event(o) for o in db.outages()[-limit:] if o.ended is not None]
            found.events = sorted(
                [*db.events(limit=limit), *outages], key=lambda event: event.at, reverse=True
            )[:limit]
            found.marks = db.marks()
            found.last_versions = {
                key: span.version for key, span in db.last_versions(keys).items()
            }
            found.versions_first_seen = db.versions_first_seen()
    except HistoryError as exc:
        if not (exc.reason is Reason.UNAVAILABLE and "no history" in exc.detail):
            found.error = exc
    return found


@dataclass(frozen=True, slots=True)
class TenantAvailability:
    """One tenant's figures for the detail pane."""

    windows: tuple[tuple[str, Availability], ...]
    #: Worst severity per day, oldest first; None for a day with no data.
    strip: tuple[Severity | None, ...]
    read_at: datetime

    @property
    def uptime_24h(self) -> float | None:
        return self.windows[0][1].uptime

    def as_json(self) -> dict[str, Any]:
        """As ``serve``'s ``/api/availability/KEY`` sends it (docs/serve.md)."""
        return {
            "read_at": utc_iso(self.read_at),
            "windows": [
                {
                    "label": label,
                    "from": utc_iso(figures.window_start),
                    "to": utc_iso(figures.window_end),
                    **figures.as_json(),
                }
                for label, figures in self.windows
            ],
            "strip_days": len(self.strip),
            "strip": [severity.name if severity is not None else None for severity in self.strip],
        }

    @classmethod
    def from_json(cls, data: Any) -> TenantAvailability:
        """What :meth:`as_json` wrote, as a server sent it: only the windows the pane
        shows (:data:`WINDOWS`), and a strip of at most :data:`STRIP_DAYS` days;
        ValueError for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("windows"), list):
            raise ValueError("that is not a tenant's availability")
        read_at = time_from_json(data.get("read_at"), "read_at")
        known = {label: length for label, length in WINDOWS}
        windows = []
        for entry in data["windows"]:
            label = entry.get("label") if isinstance(entry, dict) else None
            if label not in known or any(label == seen for seen, _ in windows):
                raise ValueError(f"unknown availability window: {clean(repr(label), 40)}")
            start = time_from_json(entry.get("from"), "from")
            end = time_from_json(entry.get("to"), "to")
            if not timedelta(0) <= end - start <= known[label] + timedelta(minutes=1):
                raise ValueError(f"the {label} window is not {label} long")
            windows.append((label, Availability.from_json(entry, start, end)))
        if not windows or windows[0][0] != WINDOWS[0][0]:
            raise ValueError("the availability has no 24-hour window")
        strip = data.get("strip") or []
        if not isinstance(strip, list) or len(strip) > STRIP_DAYS:
            raise ValueError(f"the strip must be a list of at most {STRIP_DAYS} days")
        try:
            cells = tuple(None if cell is None else Severity[cell] for cell in strip)
        except (KeyError, TypeError):
            raise ValueError("a day of the strip is not a severity") from None
        return cls(tuple(windows), cells, read_at)


def read_availability(
    path: Path, keys: Iterable[str], now: datetime, *, with_strip: bool = True
) -> dict[str, TenantAvailability]:
    """Availability per tenant for each of :data:`WINDOWS` (blocking: call it in a thread).
    An absent file is no data; other failures raise HistoryError."""
    keys = list(keys)
    if not path.exists():
        return {}
    longest = max(length for _, length in WINDOWS) if with_strip else WINDOWS[0][1]
    with HistoryDB.open(path, read_only=True) as db:
        found = db.window_intervals(keys, now - longest - timedelta(days=1), now)
    result = {}
    for key in keys:
        spans = found.pop(key, [])  # let go as it goes: 100,000 tenants' intervals
        windows = tuple(
            (label, availability(spans, now - length, now))
            for label, length in WINDOWS
            if with_strip or length == WINDOWS[0][1]
        )
        strip = tuple(daily_strip(spans, now, days=STRIP_DAYS)) if with_strip else ()
        result[key] = TenantAvailability(windows, strip, now)
    return result


def read_uptime(path: Path, keys: Iterable[str], now: datetime) -> dict[str, float | None]:
    """Each tenant's uptime over the first of :data:`WINDOWS` (24 hours), as
    :attr:`TenantAvailability.uptime_24h` (blocking: call it in a thread): a number per
    tenant, not its figures, for `serve`'s read of every tenant each minute (100,000
    tenants' figures made at once grew it by 90 MB)."""
    keys = list(keys)
    if not path.exists():
        return {}
    _, length = WINDOWS[0]
    wanted = set(keys)
    with HistoryDB.open(path, read_only=True) as db:
        found = {
            key: availability(spans, now - length, now).uptime
            for key, spans in db.each_window_intervals(now - length - timedelta(days=1), now)
            if key in wanted
        }
    return {key: found.get(key) for key in keys}


def read_version_history(path: Path, key: str, limit: int = 20) -> list[VersionSpan]:
    """One tenant's versions, newest first (blocking: call it in a thread). An absent
    file is no data; other failures raise HistoryError."""
    if not path.exists():
        return []
    with HistoryDB.open(path, read_only=True) as db:
        return db.version_spans(key, limit)


class ClosedWatch:
    """Each tenant's first state answer of the session (a failed check is none), compared with what was last recorded.

    On the event loop the board only notes which results are first answers (:meth:`is_first`,
    a set lookup); the comparison (:meth:`compare`) runs in a thread. Firsts that arrive
    before the start-up read is done wait for :meth:`loaded`."""

    def __init__(self) -> None:
        self.last: dict[str, Interval] | None = None
        self._seen: set[str] = set()
        self._waiting: list[CheckResult] = []

    def is_first(self, result: CheckResult) -> bool:
        """True for the tenant's first state answer this session. A failed check is no
        answer (it says nothing of the tenant: our own outage, a restart while
        SuperOffice cannot be reached), so it is never compared; the first real answer
        that follows is."""
        key = result.tenant.key
        if key in self._seen or result.error is not None or result.state is None:
            return False
        self._seen.add(key)
        return True

    def to_compare(self, results: list[CheckResult]) -> list[CheckResult]:
        """The firsts that can be compared now (the others wait for :meth:`loaded`);
        none when nothing was recorded before."""
        if self.last is None:
            self._waiting.extend(results)
            return []
        return results if self.last else []

    def compare(self, results: Iterable[CheckResult]) -> list[ClosedChange]:
        """The changes while closed among first results (blocking work: in a thread)."""
        last = self.last or {}
        found = []
        for result in results:
            before = last.get(result.tenant.key)
            if before is not None:
                change = changed_while_closed(before, Observation.from_result(result))
                if change is not None:
                    found.append(change)
        return found

    def loaded(self, last: Mapping[str, Interval]) -> list[CheckResult]:
        """The recorded outcomes are known; returns the firsts that waited for them."""
        self.last = dict(last)
        waiting, self._waiting = self._waiting, []
        return self.to_compare(waiting)


class MarkBook:
    """The active mutes and acknowledgements, per tenant, in memory."""

    def __init__(self, marks: Iterable[Mark] = ()) -> None:
        self.by_key: dict[str, list[Mark]] = {}
        for mark in marks:
            self.add(mark)

    def add(self, mark: Mark) -> None:
        if mark.ended_at is None:
            self.by_key.setdefault(mark.key, []).append(mark)

    def remove(self, mark_ids: Iterable[int]) -> list[Mark]:
        """Drop marks by id; returns the ones that were there."""
        wanted = set(mark_ids)
        gone: list[Mark] = []
        for key in list(self.by_key):
            kept = []
            for mark in self.by_key[key]:
                (gone if mark.id in wanted else kept).append(mark)
            if kept:
                self.by_key[key] = kept
            else:
                del self.by_key[key]
        return gone

    def of(self, key: str) -> list[Mark]:
        return self.by_key.get(key, [])

    def is_silenced(self, key: str) -> bool:
        return key in self.by_key

    def all(self) -> list[Mark]:
        return sorted(
            (mark for marks in self.by_key.values() for mark in marks),
            key=lambda mark: (mark.created_at, mark.id),
        )

    def ended(self, now: datetime, labels: Mapping[str, str | None]) -> list[Mark]:
        """The marks no longer in force (time up, or the tenant's outcome changed), given
        each marked tenant's outcome label now; they stay until :meth:`remove`."""
        return [
            mark
            for marks in self.by_key.values()
            for mark in marks
            if not mark.active(now, labels.get(mark.key))
        ]


def mark_text(mark: Mark) -> str:
    """E.g. ``muted by ana at 09:30 until 10:30`` or ``acknowledged by ana at 09:30,
    until its state changes (from Running)``."""
    what = "muted" if mark.kind == "mute" else "acknowledged"
    made = mark.created_at.astimezone()
    until = (
        f"until {mark.until.astimezone():%H:%M}"
        + ("" if mark.until.date() == mark.created_at.date() else f" {mark.until:%b %d}")
        if mark.until is not None
        else f"until its state changes (from {mark.state})"
    )
    return f"{what} by {mark.by} at {made:%H:%M}, {until}"


__all__ = [
    "STRIP_DAYS",
    "WINDOWS",
    "ClosedWatch",
    "MarkBook",
    "StartHistory",
    "TenantAvailability",
    "mark_text",
    "read_availability",
    "read_start",
    "read_version_history",
]
