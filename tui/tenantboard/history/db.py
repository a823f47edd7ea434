"""The history database: every check's outcome, the event log, mutes and acknowledgements.

One SQLite file per tenant file, in the user data folder (:func:`history_path`). UI-free;
the board and the CLI use it like this:

Writing (the board; one :class:`HistoryWriter` per process, its own thread)::

    writer = HistoryWriter(history_path(config_path), retention_days=settings.history_days)
    writer.start()                     # opens (or creates) the file in the thread
    writer.add_results(results)        # CheckResults, any thread; cheap, never blocks
    writer.add_events(logged_events)   # eventlog.LoggedEvent
    writer.outage_changed(outage)      # connectivity.Outage: when our own outage begins/ends
    future = writer.call(lambda db: db.add_mark(key, "mute", state, now, until=...))
    writer.error                       # the last HistoryError, or None: show it in the header
    writer.close()                     # at exit: writes what is queued, holds each
                                       # tenant's last outcome until now, stops the thread

The thread writes a batch every ``flush_interval`` seconds (or on :meth:`HistoryWriter.flush`)
in one short transaction, so a crash or ``kill -9`` loses at most that batch and never
leaves a half-written one. Retention runs in the same thread, a few hundred rows per
transaction, so other readers and writers never wait long.

Reading (the board at start, ``report``, ``history``, ``check``)::

    db = HistoryDB.open(path, read_only=True)         # HistoryError when it cannot be used
    db.last_recorded(keys)         # {key: Interval}: the last outcome recorded per tenant
    db.last_run_end()              # when a board last wrote (for "board last ran at ...")
    db.intervals(key, since, until), db.window_intervals(keys, since, until)
    db.events(key=None, since=None, limit=2000)       # newest first, as LoggedEvents
    db.marks(keys, now, current)   # active mutes / acknowledgements
    db.outages(since, until)       # our own outages (connectivity.Outage), oldest first
    db.version_spans(key), db.last_versions(keys), db.versions_first_seen()   # releases
    db.incidents(host=, key=, since=, until=)  # host incidents (IncidentRecord), oldest first
    db.open_incidents()            # those not resolved, with their members (a new poller's)
    changed_while_closed(last_interval, first_observation) -> ClosedChange | None

At start the board reads ``last_recorded`` and ``last_run_end`` before its writer starts,
then for each tenant's first result calls ``changed_while_closed(last[key],
Observation.from_result(result))``; ``ClosedChange.describe()`` gives "Running → Unknown
while closed, between 18:02 and 08:15" for the event log.

Availability (pure, :mod:`tenantboard.availability`)::

    found = db.window_intervals(keys, now - timedelta(days=30), now)
    availability(found[key], start, now)   # uptime, coverage, incidents, maintenance, ...
    daily_strip(found[key], now, days=30)  # worst Severity per day, None for no data

Versions (schema 3): the writer also records the release each answer names
(:class:`VersionSeen`), one row per tenant per change of version, with when it was first
seen; an older file is read as it is (no versions) and upgraded by the next writer.

Mutes and acknowledgements: ``add_mark(key, "mute"|"ack", outcome_label, now, until=...)``
(through ``writer.call``), ``expire_marks(now, {key: label})`` now and then (returns the
ended ones, for the log), ``end_mark(id, now)`` to clear one; ``Mark.compared_label(result)`` gives the outcome
label a mark is compared with (None after a failed check: only a state answer ends one).

Folding: consecutive checks with the same outcome (state, running, endpoint host, error
kind) extend one interval's ``end``; a different outcome ends the interval at the new
check's time and starts another, so observed time has no holes. Each interval keeps when
the check after its last one was planned (``next_at``, from the monitor's schedule): a
check that comes later than that plan allows (:func:`allowed_silence`: the planned delay
+ 50 % + 2 minutes) leaves a gap: unobserved time (the board was closed, paused or
stopped checking), which availability does not count as up. Rows from before the plan was
kept fall back to ``gap`` (:data:`DEFAULT_GAP`). When the writer closes, each tenant it
recorded is observed up to the close (:func:`held_until`: within the allowed silence,
never past our own outage's start): the outcome of the last check held until then, so a
"down" check just before closing is downtime, not an interval of zero seconds. The fold reads each tenant's last interval
inside the write transaction, so two processes writing one file (WAL, ``busy_timeout``)
interleave correctly; an observation older than the tenant's recorded end is dropped
(another writer has already recorded something later).

Our own outage (the board could not reach SuperOffice at all, see
:mod:`tenantboard.connectivity`) is not the tenants': results during it are not
observations, and when it begins the writer re-classes what it recorded since its first
failure: network failures (:data:`~tenantboard.connectivity.NETWORK_KINDS`) from then on
become unobserved, the intervals they ended are cut back to that moment, and their "check
failed" events are withdrawn. The outage itself is kept (``outages``: start, end, reason,
probes), and no interval is stretched across it: the period is a gap, so coverage falls
and uptime does not.

The file, its ``-wal`` and ``-shm``, and the folders made for them are the user's only
(0600 and 0700): they hold labels, marks and who set them.

Failures are :class:`HistoryError` with a :class:`Reason`. A corrupt file is renamed aside
(``…sqlite3.corrupt-YYYYmmdd-HHMMSS``) by the writer, which then starts a new one; a
read-only open never renames anything. Nothing here touches the tenant file.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import getpass
import heapq
import json
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tenantboard.answers import time_from_json
from tenantboard.clock import utc_iso
from tenantboard.connectivity import NETWORK_KINDS, Outage
from tenantboard.files import (
    PRIVATE_FILE,
    FileError,
    private_file,
    private_folder,
    set_aside,
    unused_name,
)
from tenantboard.history.availability import Interval, outcome_label
from tenantboard.humanize import host_of, time_range
from tenantboard.maintenance import Scope, Window, scope_text
from tenantboard.paths import history_path
from tenantboard.releases import VersionSpan
from tenantboard.sanitize import clean
from tenantboard.tenant_file import Settings

if TYPE_CHECKING:
    from tenantboard.engine import CheckResult
    from tenantboard.eventlog import LoggedEvent

SCHEMA_VERSION = 5
#: How long one statement waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 5000
#: For rows that do not say when the next check was planned (written before schema 2):
#: two checks further apart than this leave an unobserved gap between them. Checks were at
#: most max_interval (15 min) apart plus backoff; twice that with room to spare.
DEFAULT_GAP = 2 * 900 + 120
#: A check still continues the observation when it comes within the planned delay times
#: this, plus :data:`PLANNED_MARGIN` seconds: a busy queue or a slow answer is not a gap.
PLANNED_SLACK = 1.5
PLANNED_MARGIN = 120.0
#: Rows deleted per retention transaction: short enough that nobody waits for it.
PRUNE_CHUNK = 500
#: Tenants from which :meth:`HistoryDB.window_intervals` reads the whole table in one pass
#: rather than two queries per tenant.
BULK_READ = 2000
#: Results (and, apart, events) that may wait to be written: more arrive than the file
#: takes (a slow or locked disk), and the newest are dropped, counted in ``dropped``.
MAX_PENDING = 200_000
#: Keys looked up in one ``IN (...)`` (SQLite allows 32,766 variables; a few hundred keep
#: each statement small).
_IN_CHUNK = 500
#: Variables in one multi-row INSERT (SQLite before 3.32 allows 999).
_INSERT_VARIABLES = 900
#: The error kinds of failures that are our own outage's when they fall in it.
_NETWORK_ERRORS = frozenset(str(kind) for kind in NETWORK_KINDS)
#: While nothing changes, how often the writer still notes that this board is running.
HEARTBEAT = 30.0

#: Each schema version's statements, in order: a file at version N runs those after N.
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS tenants (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS intervals (
    id INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL REFERENCES tenants(id),
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    state TEXT,
    code INTEGER,
    running INTEGER,
    host TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS intervals_by_tenant ON intervals(tenant, start_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    tenant INTEGER NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    severity TEXT NOT NULL,
    worse INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_tenant ON events(tenant, at);
CREATE TABLE IF NOT EXISTS marks (
    id INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL CHECK (kind IN ('mute', 'ack')),
    created_at INTEGER NOT NULL,
    until INTEGER,
    by TEXT NOT NULL,
    state TEXT NOT NULL,
    ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS marks_open ON marks(ended_at, tenant);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
"""
#: 2: when each interval's next check was planned (the gap follows the schedule), and our
#: own outages (a gap in the history, never the tenants' downtime).
_SCHEMA_V2 = """
ALTER TABLE intervals ADD COLUMN next_at INTEGER;
CREATE TABLE IF NOT EXISTS outages (
    id INTEGER PRIMARY KEY,
    run INTEGER,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    reason TEXT NOT NULL,
    tenants INTEGER NOT NULL DEFAULT 0,
    probes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outages_by_end ON outages(ended_at);
"""
#: 3: the windows of planned maintenance that were open (SuperOffice's and the tenant
#: file's, recorded as they open) or started (ad hoc), so reports can tell planned from
#: unplanned downtime. ``end_at`` is the planned end, ``ended_at`` an early one.
_MAINTENANCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS maintenance_windows (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    covers TEXT NOT NULL,
    by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    ended_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS maintenance_once ON maintenance_windows(source, name, start_at)
    WHERE source != 'adhoc';
CREATE INDEX IF NOT EXISTS maintenance_by_end ON maintenance_windows(end_at);
"""
#: Each schema version's statements, in order: a file at version N runs those after it.
#: 4 (releases): each version a tenant was seen on, from when (a new row when the version
#: an answer names differs from the tenant's last row's).
_SCHEMA_V4 = """
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL REFERENCES tenants(id),
    version TEXT NOT NULL,
    host TEXT,
    first_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_by_tenant ON versions(tenant, first_seen);
"""
#: 5: host incidents (incidents.py): one row per incident, keyed by its host and when it
#: began (so the writer updates it without knowing its id), and its member tenants.
_SCHEMA_FLEET = """
CREATE TABLE IF NOT EXISTS host_incidents (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    since INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    resolved_at INTEGER,
    state TEXT NOT NULL,
    tenants INTEGER NOT NULL,
    members INTEGER NOT NULL,
    peak INTEGER NOT NULL,
    back INTEGER NOT NULL DEFAULT 0,
    UNIQUE (host, since)
);
CREATE TABLE IF NOT EXISTS host_incident_tenants (
    incident INTEGER NOT NULL REFERENCES host_incidents(id),
    tenant INTEGER NOT NULL REFERENCES tenants(id),
    PRIMARY KEY (incident, tenant)
);
CREATE INDEX IF NOT EXISTS host_incident_tenants_by_tenant ON host_incident_tenants(tenant);
"""
_MIGRATIONS = (_SCHEMA_V1, _SCHEMA_V2, _MAINTENANCE_SCHEMA, _SCHEMA_V4, _SCHEMA_FLEET)
assert len(_MIGRATIONS) == SCHEMA_VERSION
#: The first schema with host incidents: an older file has none (reads as such).
FLEET_SCHEMA = 5


# -- errors ----------------------------------------------------------------------------------


class Reason(enum.StrEnum):
    CORRUPT = "corrupt"
    LOCKED = "locked"
    NEWER_SCHEMA = "newer-schema"
    READ_ONLY = "read-only"
    DISK_FULL = "disk-full"
    UNAVAILABLE = "unavailable"
    #: The writer could not keep up: the newest results were dropped.
    BEHIND = "behind"


class HistoryError(Exception):
    """The history database cannot be used as asked; ``str()`` says which file and why."""

    def __init__(
        self, reason: Reason, path: Path, detail: str, *, set_aside: Path | None = None
    ) -> None:
        self.reason = reason
        self.path = path
        self.detail = detail
        self.set_aside = set_aside
        moved = f"; moved aside to {set_aside.name}, a new one is started" if set_aside else ""
        super().__init__(f"history {path}: {detail}{moved}")


_REASONS = {
    "SQLITE_CORRUPT": (Reason.CORRUPT, "the file is damaged"),
    "SQLITE_NOTADB": (Reason.CORRUPT, "not an SQLite database"),
    "SQLITE_BUSY": (Reason.LOCKED, "locked by another process for too long"),
    "SQLITE_LOCKED": (Reason.LOCKED, "locked by another process for too long"),
    "SQLITE_READONLY": (Reason.READ_ONLY, "the file or its folder is read-only"),
    "SQLITE_PERM": (Reason.READ_ONLY, "no permission to write"),
    "SQLITE_FULL": (Reason.DISK_FULL, "the disk is full"),
    "SQLITE_CANTOPEN": (Reason.UNAVAILABLE, "cannot open the file"),
    "SQLITE_IOERR": (Reason.UNAVAILABLE, "input/output error"),
}


def classify(exc: BaseException, path: Path) -> HistoryError:
    """An sqlite3 or OS error as a HistoryError with a reason a person can act on."""
    if isinstance(exc, HistoryError):
        return exc
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
    if base == "SQLITE_CANTOPEN" and not _writable(path):
        name = base = "SQLITE_READONLY"  # WAL needs a -shm beside the file: read-only disk
    for key in (name, base):
        if key in _REASONS:
            reason, detail = _REASONS[key]
            return HistoryError(reason, path, detail)
    text = str(exc)
    if isinstance(exc, OSError):
        if exc.errno in (28,):  # ENOSPC
            return HistoryError(Reason.DISK_FULL, path, "the disk is full")
        if exc.errno in (13, 30):  # EACCES, EROFS
            return HistoryError(Reason.READ_ONLY, path, "the file or its folder is read-only")
        text = exc.strerror or text
    if "malformed" in text or "not a database" in text:
        return HistoryError(Reason.CORRUPT, path, "the file is damaged")
    return HistoryError(Reason.UNAVAILABLE, path, clean(text, 200))


def _writable(path: Path) -> bool:
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(path.parent, os.W_OK)


def _uri(path: Path, *, read_only: bool, immutable: bool = False) -> str:
    """The file as an SQLite URI, its path quoted: a ``#``, ``?`` or ``%`` in a folder's
    name (from the tenant file's) must not end the path or open the query, which would
    put two tenant files in one database or drop ``mode=ro``."""
    uri = path.absolute().as_uri()
    if read_only:
        # On a read-only disk nobody can write it, and WAL cannot make its -shm there:
        # read the file as it stands.
        uri += "?mode=ro&immutable=1" if immutable else "?mode=ro"
    return uri


def _make_private(path: Path) -> None:
    """The history file and its -wal and -shm as the user's only, if an earlier version
    left them readable by others (best effort: the file may be someone else's)."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        companion = path.with_name(name)
        with contextlib.suppress(OSError):
            if companion.stat().st_mode & 0o077:
                os.chmod(companion, PRIVATE_FILE)


# -- paths -----------------------------------------------------------------------------------


# -- values ----------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return round(moment.timestamp())


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class Observation:
    """One check's outcome, as the history keeps it."""

    key: str
    at: datetime
    state: str | None
    code: int | None
    running: bool | None
    host: str | None = None
    error: str | None = None
    #: When the monitor planned the next check of this tenant (None: not known).
    next_at: datetime | None = None

    @classmethod
    def from_result(cls, result: CheckResult) -> Observation:
        state = result.state
        planned = result.next_check
        next_at = result.checked_at + timedelta(seconds=planned.delay) if planned else None
        if result.error is not None or state is None:
            kind = str(result.error.kind) if result.error else "no-answer"
            return cls(result.tenant.key, result.checked_at, None, None, None, None, kind, next_at)
        return cls(
            key=result.tenant.key,
            at=result.checked_at,
            state=clean(state.state_name, 60),
            code=state.state_code,
            running=state.is_running,
            host=host_of(state.endpoint) or None,
            next_at=next_at,
        )

    @property
    def network_failure(self) -> bool:
        """No answer came back at all: in our own outage, that is the outage's."""
        return self.error in _NETWORK_ERRORS

    @property
    def label(self) -> str:
        return outcome_label(self.state, self.error)

    def same_outcome(self, interval: Interval) -> bool:
        return (self.state, self.code, self.running, self.host, self.error) == (
            interval.state,
            interval.code,
            interval.running,
            interval.host,
            interval.error,
        )

    def as_interval(self) -> Interval:
        at = _moment(_epoch(self.at))
        return Interval(
            self.key,
            at,
            at,
            self.state,
            self.code,
            self.running,
            self.host,
            self.error,
            self.next_at,  # the file keeps whole seconds, as for ``at``
        )


@dataclass(frozen=True, slots=True)
class VersionSeen:
    """The version one check's answer named (recorded only when it changes)."""

    key: str
    at: datetime
    version: str
    host: str | None

    @classmethod
    def from_result(cls, result: CheckResult) -> VersionSeen | None:
        state = result.state
        if result.error is not None or state is None or not state.version:
            return None
        host = host_of(state.endpoint) or None
        return cls(result.tenant.key, result.checked_at, state.version, host)


if TYPE_CHECKING:
    #: What the writer queues in order: results, log events, and our own outages.
    Step = Observation | LoggedEvent | Outage | VersionSeen


def allowed_silence(interval: Interval, gap: float = DEFAULT_GAP) -> float:
    """Seconds after ``interval.end`` within which the next check still continues the
    observation: the planned delay + 50 % + 2 minutes (``gap`` when no plan is known)."""
    if interval.next_at is None:
        return gap
    planned = max(0.0, (interval.next_at - interval.end).total_seconds())
    return planned * PLANNED_SLACK + PLANNED_MARGIN


def outage_in(silence_from: datetime, to: datetime, outages: Iterable[Outage]) -> datetime | None:
    """When our own outage began within the silence from ``silence_from`` to ``to`` (no
    earlier than ``silence_from``), or None. An outage still open counts only when it began
    after ``silence_from``: a writer that kept observing meanwhile was not in it."""
    found: datetime | None = None
    for outage in outages:
        if outage.since >= to:
            continue
        ended = outage.ended
        inside = outage.since >= silence_from if ended is None else ended > silence_from
        if inside:
            begun = max(outage.since, silence_from)
            found = begun if found is None else min(found, begun)
    return found


def fold(
    last: Interval | None,
    observations: Iterable[Observation],
    gap: float = DEFAULT_GAP,
    outages: Sequence[Outage] = (),
) -> tuple[Interval | None, list[Interval]]:
    """Fold one tenant's observations (oldest first) onto its last recorded interval.

    A check continues the interval before it when it came within :func:`allowed_silence`
    and none of our own ``outages`` lies between them; across an outage, the interval
    before it lasts until the outage began (if that was within the allowed silence), and
    the check starts a new one: the outage is a gap.

    Returns that interval as it should now be (None if there was none) and the new
    intervals to add after it. Pure: the database and the property tests share it.
    """
    updated = last
    new: list[Interval] = []

    def put(interval: Interval) -> None:
        nonlocal updated
        if new:
            new[-1] = interval
        else:
            updated = interval

    for observation in observations:
        at = _moment(_epoch(observation.at))
        current = new[-1] if new else updated
        if current is not None and at < current.end:
            continue  # older than what is recorded: another writer got there first
        if current is not None:
            allowed = allowed_silence(current, gap)
            cut = outage_in(current.end, at, outages) if outages else None
            if cut is not None:
                if (cut - current.end).total_seconds() <= allowed:
                    put(replace(current, end=_moment(_epoch(cut)), next_at=None))
            elif (at - current.end).total_seconds() <= allowed:
                # observed up to now, changed or not
                current = replace(current, end=at, next_at=observation.next_at)
                put(current)
                if observation.same_outcome(current):
                    continue
        new.append(observation.as_interval())
    return updated, new


def held_until(
    last: Interval, moment: datetime, gap: float = DEFAULT_GAP, outages: Sequence[Outage] = ()
) -> Interval:
    """A tenant's last interval when its writer closes at ``moment``: the outcome of its
    last check held until then, so the interval is observed up to the close (a "down"
    check just before closing is downtime, not zero seconds). Only within the allowed
    silence (a close later than the next check was due is no observation: a gap, as
    :func:`fold` has it), and never past the start of our own outage."""
    end = _moment(_epoch(moment))
    cut = outage_in(last.end, end, outages) if outages else None
    if cut is not None:
        end = _moment(_epoch(cut))
    if end <= last.end or (end - last.end).total_seconds() > allowed_silence(last, gap):
        return last
    return replace(last, end=end)


@dataclass(frozen=True, slots=True)
class ClosedChange:
    """A tenant whose outcome changed while no board was recording it."""

    key: str
    before: Interval
    after: Observation

    @property
    def closed_from(self) -> datetime:
        return self.before.end

    @property
    def closed_to(self) -> datetime:
        return self.after.at

    def describe(self) -> str:
        """E.g. ``Running → Unknown while closed, between Mar 01 18:02 and Mar 02 08:15``
        (to the second when the minutes would read alike)."""
        start, end = time_range(self.closed_from, self.closed_to)
        return f"{self.before.label} → {self.after.label} while closed, between {start} and {end}"


def changed_while_closed(last: Interval | None, first: Observation) -> ClosedChange | None:
    """Given a tenant's last recorded interval and its first answer in this run: the
    change that happened meanwhile, or None (nothing recorded, or the same outcome)."""
    if last is None or first.at < last.end or first.same_outcome(last):
        return None
    return ClosedChange(first.key, last, first)


#: The longest name a mark keeps of who made it.
MAX_BY = 60


@dataclass(frozen=True, slots=True)
class Mark:
    """A mute or an acknowledgement of one tenant."""

    id: int
    key: str
    kind: str  # "mute" or "ack"
    created_at: datetime
    until: datetime | None  # None: until the tenant's outcome changes
    by: str
    state: str  # the outcome label when it was made
    ended_at: datetime | None = None

    @staticmethod
    def compared_label(result: CheckResult | None) -> str | None:
        """The outcome label a mark is compared with (:meth:`active`'s ``current``): the
        state the last check answered, or None when it got no state answer. A failed check
        (our network, a timeout, a 503) says nothing about the tenant's state, so it never
        ends an acknowledgement; only a real answer with another state does."""
        if result is None or result.error is not None or result.state is None:
            return None
        return Observation.from_result(result).label

    def active(self, now: datetime, current: str | None) -> bool:
        """Still in force at ``now`` with the tenant's current outcome label (None: not
        known, which does not end a mark); ``current`` is :meth:`compared_label`'s."""
        if self.ended_at is not None:
            return False
        if self.until is not None:
            return now < self.until
        return current is None or current == self.state

    def as_json(self) -> dict[str, Any]:
        """``id``: what ``serve`` clears it by (negative: kept in one process's memory)."""
        return {
            "id": self.id,
            "by": self.by,
            "created_at": utc_iso(self.created_at),
            "until": utc_iso(self.until) if self.until else None,
            "state": self.state,
        }

    @classmethod
    def from_json(cls, data: Any, key: str, kind: str) -> Mark:
        """A mark as :meth:`as_json` wrote it, from another process (a ``serve``): its
        texts cleaned; ValueError for anything that is not one."""
        if not isinstance(data, dict):
            raise ValueError("a mark must be an object")
        mark_id = data.get("id")
        if not isinstance(mark_id, int) or isinstance(mark_id, bool) or abs(mark_id) > 2**62:
            raise ValueError("a mark's id must be a whole number")
        until = data.get("until")
        return cls(
            id=mark_id,
            key=key,
            kind=kind,
            created_at=time_from_json(data.get("created_at"), "created_at"),
            until=None if until is None else time_from_json(until, "until"),
            by=clean(str(data.get("by") or "unknown"), MAX_BY),
            state=clean(str(data.get("state") or ""), 120),
        )


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """A host incident as the history keeps it (see incidents.py for what one is)."""

    host: str
    since: datetime
    opened_at: datetime
    resolved_at: datetime | None
    #: The most common bad state of its members ("Unknown", "failing checks").
    state: str
    #: The host's tenants, its members (tenants that turned bad), the most bad at once,
    #: and how many were back when it was resolved.
    tenants: int
    members: int
    peak: int
    back: int = 0
    #: Written: members to add (all when it opens, then those that joined); read: empty.
    member_keys: tuple[str, ...] = ()

    @property
    def seconds(self) -> float | None:
        end = self.resolved_at
        return (end - self.since).total_seconds() if end is not None else None

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "since": utc_iso(self.since),
            "opened_at": utc_iso(self.opened_at),
            "resolved_at": utc_iso(self.resolved_at) if self.resolved_at else None,
            "seconds": self.seconds,
            "state": self.state,
            "tenants_on_host": self.tenants,
            "members": self.members,
            "peak": self.peak,
            "back": self.back,
        }


def current_user() -> str:
    try:
        return clean(getpass.getuser(), MAX_BY) or "unknown"
    except (OSError, KeyError, ImportError):
        return "unknown"


# -- the database ------------------------------------------------------------------------------

T = TypeVar("T")


class HistoryDB:
    """One connection to a history file. Not thread-safe: one per thread."""

    def __init__(self, connection: sqlite3.Connection, path: Path, read_only: bool) -> None:
        self.connection = connection
        self.path = path
        self.read_only = read_only
        #: The file's schema version (a read-only open reads older ones as they are).
        self.schema = SCHEMA_VERSION
        self._tenant_ids: dict[str, int] = {}
        #: key -> (version, first seen) of its last versions row, as this connection
        #: wrote or read it; forgotten when another connection has written the file.
        self._last_versions: dict[str, tuple[str, int]] = {}
        self._data_version: int | None = None

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        read_only: bool = False,
        check: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_MS / 1000,
    ) -> HistoryDB:
        """Open (or, unless read-only, create) the file; HistoryError when it is unusable.

        ``check`` runs SQLite's quick integrity check, which reads the whole file: the
        writer does it once, off the event loop."""
        path = Path(path)
        if read_only and not path.exists():
            raise HistoryError(Reason.UNAVAILABLE, path, "no history recorded yet")
        try:
            if not read_only:
                private_folder(path.parent)
                if not private_file(path):
                    _make_private(path)
            immutable = read_only and not _writable(path)
            connection = sqlite3.connect(
                _uri(path, read_only=read_only, immutable=immutable),
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=0,
            )
        except (sqlite3.Error, OSError) as exc:
            raise classify(exc, path) from None
        db = cls(connection, path, read_only)
        try:
            db._prepare(check, busy_timeout)
        except BaseException as exc:
            connection.close()
            raise classify(exc, path) from None
        return db

    def _prepare(self, check: bool, busy_timeout: float) -> None:
        run = self.connection.execute
        run(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        version = self.schema = run("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(
                Reason.NEWER_SCHEMA,
                self.path,
                f"written by a newer tenantboard (schema {version}, this one reads up to "
                f"{SCHEMA_VERSION}); left as it is",
            )
        if check:
            result = run("PRAGMA quick_check(1)").fetchone()[0]
            if result != "ok":
                raise HistoryError(Reason.CORRUPT, self.path, "the file is damaged")
        if self.read_only:
            if version < 1:
                raise HistoryError(Reason.UNAVAILABLE, self.path, "no history recorded yet")
            return  # an older schema is read as it is: the writer upgrades it
        if run("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise HistoryError(Reason.UNAVAILABLE, self.path, "cannot switch to WAL mode")
        run("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
        run("PRAGMA journal_size_limit = 4194304")
        if version < SCHEMA_VERSION:
            with self.transaction():
                found = run("PRAGMA user_version").fetchone()[0]  # another process may have
                for migration in _MIGRATIONS[found:]:
                    for statement in migration.split(";"):
                        if statement.strip():
                            run(statement)
                run(f"PRAGMA user_version = {max(found, SCHEMA_VERSION)}")
            self.schema = SCHEMA_VERSION

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.connection.close()

    def __enter__(self) -> HistoryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front (waiting up to
        busy_timeout), so a transaction never fails half-way for a lock."""
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise classify(exc, self.path) from None
        try:
            yield self.connection
            self.connection.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self.connection.execute("ROLLBACK")
            self._tenant_ids.clear()  # ids inserted by this transaction are gone again
            self._last_versions.clear()  # and so are the versions rows it added
            if isinstance(exc, sqlite3.Error | OSError):
                raise classify(exc, self.path) from None
            raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise classify(exc, self.path) from None

    # -- writing (inside a transaction) --------------------------------------------------

    def _tenant_id(self, key: str) -> int:
        known = self._tenant_ids.get(key)
        if known is not None:
            return known
        run = self.connection.execute
        run("INSERT OR IGNORE INTO tenants(key) VALUES (?)", (key,))
        tenant_id = int(run("SELECT id FROM tenants WHERE key = ?", (key,)).fetchone()[0])
        self._tenant_ids[key] = tenant_id
        return tenant_id

    def _insert_rows(self, head: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """``head`` ("INSERT INTO t(a, b) VALUES") for every row, many rows a statement.
        ``executemany`` runs one statement a row, and lets go of the interpreter lock for
        each: while serve's event loop is busy, every time the writer wants it back it
        waits for its turn, and a fleet's first pass outran the writer that way."""
        if not rows:
            return
        width = len(rows[0])
        per = max(1, _INSERT_VARIABLES // width)
        one = "(" + ", ".join("?" * width) + ")"
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join([one] * len(chunk))
            self.connection.execute(f"{head} {values}", [item for row in chunk for item in row])

    def _tenant_ids_for(self, keys: Iterable[str]) -> set[str]:
        """Inside a transaction: every key's id known (:attr:`_tenant_ids`), those not in
        the file yet added, in a few statements whatever their number (a fleet's first
        batch is thousands of tenants); returns the keys added (they have no history)."""
        unknown = [key for key in dict.fromkeys(keys) if key not in self._tenant_ids]
        if not unknown:
            return set()
        run = self.connection.execute
        for start in range(0, len(unknown), _IN_CHUNK):
            chunk = unknown[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found = run(f"SELECT key, id FROM tenants WHERE key IN ({marks})", chunk)
            self._tenant_ids.update((str(key), int(id_)) for key, id_ in found)
        added = [key for key in unknown if key not in self._tenant_ids]
        if added:
            self._insert_rows("INSERT INTO tenants(key) VALUES", [(key,) for key in added])
            for start in range(0, len(added), _IN_CHUNK):
                chunk = added[start : start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                found = run(f"SELECT key, id FROM tenants WHERE key IN ({marks})", chunk)
                self._tenant_ids.update((str(key), int(id_)) for key, id_ in found)
        return set(added)

    @property
    def _columns(self) -> str:
        """An interval's columns; a file read at schema 1 has no ``next_at`` yet."""
        planned = "i.next_at" if self.schema >= 2 else "NULL"
        return f"i.start_at, i.end_at, i.state, i.code, i.running, i.host, i.error, {planned}"

    def record(self, observations: Sequence[Observation], gap: float = DEFAULT_GAP) -> None:
        """Fold observations into intervals, in one transaction."""
        self.write(observations, gap=gap)

    def _last_rows(
        self, keys: Iterable[str]
    ) -> tuple[dict[str, tuple[Any, ...] | None], list[Outage]]:
        """Inside a transaction: each tenant's last interval row (its id first), and our
        outages since the oldest of those intervals ended (what may cut them). A few
        statements whatever the number of tenants: a statement a tenant let go of the
        interpreter lock twice a tenant (see :meth:`_insert_rows`)."""
        keys = list(keys)
        added = self._tenant_ids_for(keys)
        ids = [self._tenant_ids[key] for key in keys if key not in added]
        found: dict[int, tuple[Any, ...]] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            tenants = ", ".join(["(?)"] * len(chunk))
            rows = self.connection.execute(
                f"WITH k(tenant) AS (VALUES {tenants}) "
                f"SELECT k.tenant, i.id, {self._columns} FROM k JOIN intervals i ON i.id = "
                "(SELECT j.id FROM intervals j WHERE j.tenant = k.tenant "
                "ORDER BY j.start_at DESC, j.id DESC LIMIT 1)",
                chunk,
            )
            found.update((row[0], row[1:]) for row in rows)
        lasts = {key: found.get(self._tenant_ids[key]) for key in keys}
        ends = [row[2] for row in lasts.values() if row is not None]
        return lasts, self._outages_after(min(ends)) if ends else []

    def _update_ends(self, updates: Sequence[tuple[int, int | None, int]]) -> None:
        """Each interval's new end and planned next check (``(end_at, next_at, id)``), a
        few statements whatever their number: ``executemany`` steps once a row, and lets go
        of the interpreter lock each time (see :meth:`_insert_rows`)."""
        per = _INSERT_VARIABLES // 5
        for start in range(0, len(updates), per):
            chunk = updates[start : start + per]
            cases = " ".join(["WHEN ? THEN ?"] * len(chunk))
            ids = ", ".join("?" * len(chunk))
            self.connection.execute(
                f"UPDATE intervals SET end_at = CASE id {cases} END, "
                f"next_at = CASE id {cases} END WHERE id IN ({ids})",
                [
                    *(value for end, _, row_id in chunk for value in (row_id, end)),
                    *(value for _, planned, row_id in chunk for value in (row_id, planned)),
                    *(row_id for _, _, row_id in chunk),
                ],
            )

    def _record(self, by_key: Mapping[str, list[Observation]], gap: float) -> None:
        """Fold each tenant's observations onto its last interval, minding our outages
        since the oldest of those intervals; the changes written in one statement each
        (updated ends, new intervals)."""
        lasts, outages = self._last_rows(by_key)
        updates: list[tuple[Any, ...]] = []
        inserts: list[tuple[Any, ...]] = []
        for key, items in by_key.items():
            row = lasts[key]
            last = _interval(key, row[1:]) if row else None
            updated, new = fold(last, sorted(items, key=lambda o: o.at), gap, outages)
            if row is not None and updated is not None and updated != last:
                updates.append((_epoch(updated.end), _epoch_or_none(updated.next_at), row[0]))
            tenant_id = self._tenant_ids[key]
            inserts.extend((tenant_id, *_interval_row(item)) for item in new)
        self._update_ends(updates)
        self._insert_rows(
            "INSERT INTO intervals(tenant, start_at, end_at, state, code, running, host, "
            "error, next_at) VALUES",
            inserts,
        )

    def add_events(self, events: Iterable[LoggedEvent]) -> int:
        rows = [
            (
                event.at.timestamp(),
                self._tenant_id(event.key),
                event.name,
                event.kind,
                event.text,
                event.severity,
                int(event.worse),
            )
            for event in events
        ]
        self._insert_rows(
            "INSERT INTO events(at, tenant, name, kind, text, severity, worse) VALUES", rows
        )
        return len(rows)

    def write(
        self,
        observations: Sequence[Observation] = (),
        events: Sequence[LoggedEvent] = (),
        *,
        run_id: int | None = None,
        now: datetime | None = None,
        gap: float = DEFAULT_GAP,
        steps: Sequence[Step] = (),
    ) -> None:
        """One batch in one transaction: observations, events, then ``steps`` in their
        order (observations, events and our outages as they came: what was recorded
        before an outage began must be in the file when it is re-classed), and the run's
        heartbeat."""
        with self.transaction():
            self._write_steps([*observations, *events, *steps], gap, run_id)
            if run_id is not None:
                self.connection.execute(
                    "UPDATE runs SET last_seen = ? WHERE id = ?",
                    (_epoch(now or datetime.now(UTC)), run_id),
                )

    def _write_steps(self, steps: Sequence[Step], gap: float, run_id: int | None) -> None:
        """Our outages applied where they came (what was recorded before one began must be
        in the file when it is re-classed); what came between two of them written
        together, each kind in one go (:meth:`_write_between`)."""
        between: list[Step] = []
        for step in steps:
            if isinstance(step, Outage):
                self._write_between(between, gap)
                between = []
                self._outage_step(step, run_id)
            else:
                between.append(step)
        self._write_between(between, gap)

    def _write_between(self, steps: Sequence[Step], gap: float) -> None:
        """Observations folded together, versions and events added. Each kind has its own
        table, so their order among themselves does not matter; serve queues a result at
        a time, and folding each run of one kind apart cost a tenant lookup, an outage
        query and a version query per result, so the writer fell behind a fleet's checks."""
        by_key: dict[str, list[Observation]] = {}
        versions: list[VersionSeen] = []
        events: list[LoggedEvent] = []
        for step in steps:
            if isinstance(step, Observation):
                by_key.setdefault(step.key, []).append(step)
            elif isinstance(step, VersionSeen):
                versions.append(step)
            else:
                events.append(step)  # type: ignore[arg-type]  # the rest are LoggedEvents
        if by_key:
            self._record(by_key, gap)
        if versions:
            self._record_versions(versions)
        if events:
            self.add_events(events)

    def close_run(
        self,
        recorded: Mapping[str, int],
        now: datetime,
        *,
        run_id: int | None = None,
        gap: float = DEFAULT_GAP,
    ) -> int:
        """A writer closes at ``now``: each tenant it recorded (``recorded``: key -> the end,
        epoch seconds, it last wrote for it) is observed up to ``now`` (:func:`held_until`),
        unless another writer has recorded it since; and the run's last heartbeat is
        ``now``. One transaction; returns how many intervals were stretched."""
        stretched = 0
        with self.transaction() as connection:
            rows, outages = self._last_rows(recorded)
            updates = []
            for key, row in rows.items():
                if row is None or row[2] != recorded[key]:
                    continue  # gone (retention), cut back by our outage, or written since
                last = _interval(key, row[1:])
                held = held_until(last, now, gap, outages)
                if held != last:
                    updates.append((_epoch(held.end), row[8], row[0]))  # next_at as it was
            self._update_ends(updates)
            stretched = len(updates)
            if run_id is not None:
                connection.execute(
                    "UPDATE runs SET last_seen = ? WHERE id = ?", (_epoch(now), run_id)
                )
        return stretched

    def _record_versions(self, seen: Sequence[VersionSeen]) -> None:
        """A row for each version change (inside the write's transaction). Each tenant's
        last row is read once and then remembered, so a batch of unchanged versions costs
        a dictionary lookup each; what another process wrote (``PRAGMA data_version``)
        makes this connection read again."""
        run = self.connection.execute
        data_version = run("PRAGMA data_version").fetchone()[0]
        if data_version != self._data_version:
            self._last_versions.clear()
            self._data_version = data_version
        self._read_last_versions([item.key for item in seen])
        added: list[tuple[Any, ...]] = []
        for item in sorted(seen, key=lambda item: item.at):
            at = _epoch(item.at)
            last = self._last_versions.get(item.key, ("", -1))
            if item.version == last[0] or at < last[1]:
                continue  # the same, or older than what is there
            added.append((self._tenant_id(item.key), item.version, item.host, at))
            self._last_versions[item.key] = (item.version, at)
        self._insert_rows("INSERT INTO versions(tenant, version, host, first_seen) VALUES", added)

    def _read_last_versions(self, keys: Iterable[str]) -> None:
        """Each key's last version row into :attr:`_last_versions` (``("", -1)``: none),
        for the keys not there yet: a few statements whatever their number."""
        unknown = [key for key in dict.fromkeys(keys) if key not in self._last_versions]
        for start in range(0, len(unknown), _IN_CHUNK):
            chunk = unknown[start : start + _IN_CHUNK]
            self._last_versions.update((key, ("", -1)) for key in chunk)
            marks = ", ".join("?" * len(chunk))
            found = self.connection.execute(
                "SELECT t.key, v.version, v.first_seen FROM versions v JOIN tenants t "
                f"ON t.id = v.tenant WHERE t.key IN ({marks}) ORDER BY v.first_seen, v.id",
                chunk,
            )
            for key, version, first_seen in found:  # oldest first: the last one stays
                self._last_versions[str(key)] = (str(version), int(first_seen))

    # -- our own outages -------------------------------------------------------------------

    def _outage_step(self, outage: Outage, run_id: int | None) -> None:
        """Inside a transaction: our outage began (``ended`` None) or ended."""
        if outage.ended is None:
            self.connection.execute(
                "INSERT INTO outages(run, started_at, reason, tenants, probes) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, _epoch(outage.since), clean(outage.reason, 80), outage.tenants, 0),
            )
            self.unobserve_since(outage.since)
            return
        updated = self.connection.execute(
            "UPDATE outages SET ended_at = ?, probes = ? WHERE id = (SELECT id FROM outages "
            "WHERE started_at = ? AND ended_at IS NULL AND run IS ? ORDER BY id DESC LIMIT 1)",
            (_epoch(outage.ended), outage.probes, _epoch(outage.since), run_id),
        ).rowcount
        if not updated:  # its start was not recorded (the file could not be opened then)
            self.connection.execute(
                "INSERT INTO outages(run, started_at, ended_at, reason, tenants, probes) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    _epoch(outage.since),
                    _epoch(outage.ended),
                    clean(outage.reason, 80),
                    outage.tenants,
                    outage.probes,
                ),
            )
            self.unobserve_since(outage.since)

    def unobserve_since(self, since: datetime) -> set[str]:
        """Inside a transaction: network failures recorded at or after ``since`` (our own
        outage's first failure) become unobserved; an interval that such a failure ended
        is cut back to ``since``; their "check failed" events are withdrawn. Returns the
        tenant keys whose failures were re-classed."""
        cutoff = _epoch(since)
        # Per tenant (CROSS JOIN keeps tenants outside), through its index: the interval that
        # began last before the cutoff and those after it; a year of history is not scanned
        # for a minute's failures.
        rows = self.connection.execute(
            "SELECT i.id, i.tenant, t.key, i.start_at, i.error FROM tenants t "
            "CROSS JOIN intervals i ON i.tenant = t.id AND i.start_at >= COALESCE("
            "(SELECT MAX(j.start_at) FROM intervals j WHERE j.tenant = t.id AND j.start_at < ?), ?)"
            " WHERE i.end_at >= ? ORDER BY i.tenant, i.start_at, i.id",
            (cutoff, cutoff, cutoff),
        ).fetchall()
        deleted: list[tuple[int]] = []
        cut: list[tuple[int, None, int]] = []  # (end_at, next_at, id)
        touched: dict[str, int] = {}
        for _, group in groupby(rows, key=lambda row: row[1]):
            spans = list(group)
            for index, (row_id, tenant_id, key, start, error) in enumerate(spans):
                following = spans[index + 1][4] if index + 1 < len(spans) else None
                if error in _NETWORK_ERRORS:
                    touched[key] = tenant_id
                    if start >= cutoff:
                        deleted.append((row_id,))
                    else:
                        cut.append((cutoff, None, row_id))
                elif following in _NETWORK_ERRORS:
                    cut.append((max(start, cutoff), None, row_id))
        run_many = self.connection.executemany
        run_many("DELETE FROM intervals WHERE id = ?", deleted)
        run_many("UPDATE intervals SET end_at = ?, next_at = ? WHERE id = ?", cut)
        run_many(
            "DELETE FROM events WHERE tenant = ? AND kind = 'failure' AND at >= ?",
            [(tenant_id, since.timestamp()) for tenant_id in touched.values()],
        )
        return set(touched)

    def _outages_after(self, moment: int) -> list[Outage]:
        """Our outages still open or ended after ``moment`` (epoch seconds)."""
        rows = self._query(
            "SELECT started_at, ended_at, reason, tenants, probes FROM outages "
            "WHERE ended_at IS NULL OR ended_at > ? ORDER BY started_at, id",
            (moment,),
        )
        return [_outage(row) for row in rows]

    def outages(self, since: datetime | None = None, until: datetime | None = None) -> list[Outage]:
        """Our own outages overlapping [since, until), oldest first (none in a file from
        before they were kept)."""
        if self.schema < 2:
            return []
        rows = self._query(
            "SELECT started_at, ended_at, reason, tenants, probes FROM outages "
            "WHERE (ended_at IS NULL OR ended_at >= ?) AND started_at < ? "
            "ORDER BY started_at, id",
            (_bound(since, 0), _bound(until, 2**62)),
        )
        return [_outage(row) for row in rows]

    def close_orphan_outages(self, run_id: int | None, now: datetime) -> int:
        """End the outages left open by a board or serve that stopped during one, at its
        last heartbeat: its process is gone (killed, and started again at once), or its
        last heartbeat is long past. A run still alive keeps its outage open. Returns
        how many were ended."""
        stale = _epoch(now) - 3 * HEARTBEAT
        with self.transaction() as connection:
            found = connection.execute(
                "SELECT o.id, o.started_at, r.pid, r.last_seen FROM outages o "
                "LEFT JOIN runs r ON r.id = o.run WHERE o.ended_at IS NULL AND o.run IS NOT ?",
                (run_id,),
            ).fetchall()
            ended = [
                (max(started, last_seen or started), outage_id)
                for outage_id, started, pid, last_seen in found
                if last_seen is None or last_seen < stale or _process_gone(pid)
            ]
            connection.executemany("UPDATE outages SET ended_at = ? WHERE id = ?", ended)
        return len(ended)

    def start_run(self, now: datetime) -> int:
        with self.transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO runs(pid, started_at, last_seen) VALUES (?, ?, ?)",
                (os.getpid(), _epoch(now), _epoch(now)),
            )
        return int(cursor.lastrowid or 0)

    def add_mark(
        self,
        key: str,
        kind: str,
        state: str,
        now: datetime,
        *,
        until: datetime | None = None,
        by: str | None = None,
    ) -> Mark:
        """Mute (``until`` a time, or None: until the outcome changes) or acknowledge
        (always until the outcome changes) a tenant; ``state`` is its outcome label now."""
        if kind not in ("mute", "ack"):
            raise ValueError(f"a mark is 'mute' or 'ack', not {kind!r}")
        if kind == "ack":
            until = None
        who = by or current_user()
        with self.transaction() as connection:
            tenant_id = self._tenant_id(key)
            cursor = connection.execute(
                "INSERT INTO marks(tenant, kind, created_at, until, by, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (tenant_id, kind, _epoch(now), _epoch(until) if until else None, who, state),
            )
        return Mark(
            int(cursor.lastrowid or 0),
            key,
            kind,
            _moment(_epoch(now)),
            _moment(_epoch(until)) if until else None,
            who,
            state,
        )

    def end_mark(self, mark_id: int, now: datetime) -> None:
        """Clear a mark by hand (the palette's "clear")."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE marks SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                (_epoch(now), mark_id),
            )

    def expire_marks(self, now: datetime, current: Mapping[str, str | None]) -> list[Mark]:
        """End the marks no longer in force (time up, or the outcome changed); returns
        them, so the board can say so. ``current``: outcome label per tenant key."""
        expired = [
            mark for mark in self.marks(now=None) if not mark.active(now, current.get(mark.key))
        ]
        if expired:
            with self.transaction() as connection:
                connection.executemany(
                    "UPDATE marks SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                    [(_epoch(now), mark.id) for mark in expired],
                )
        return expired

    def save_incident(self, record: IncidentRecord) -> None:
        """Add or update a host incident (by its host and start) and add its members."""
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO host_incidents(host, since, opened_at, resolved_at, state, tenants, "
                "members, peak, back) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(host, since) DO UPDATE SET resolved_at = excluded.resolved_at, "
                "state = excluded.state, tenants = excluded.tenants, members = excluded.members, "
                "peak = excluded.peak, back = excluded.back",
                (
                    record.host,
                    _epoch(record.since),
                    _epoch(record.opened_at),
                    _epoch(record.resolved_at) if record.resolved_at else None,
                    record.state,
                    record.tenants,
                    record.members,
                    record.peak,
                    record.back,
                ),
            )
            (incident_id,) = connection.execute(
                "SELECT id FROM host_incidents WHERE host = ? AND since = ?",
                (record.host, _epoch(record.since)),
            ).fetchone()
            connection.executemany(
                "INSERT OR IGNORE INTO host_incident_tenants(incident, tenant) VALUES (?, ?)",
                [(incident_id, self._tenant_id(key)) for key in record.member_keys],
            )

    def prune(self, older_than: datetime, chunk: int = PRUNE_CHUNK) -> int:
        """Delete up to ``chunk`` rows of each table older than ``older_than``, in one
        short transaction; returns how many went. Call again until it returns 0."""
        cutoff = _epoch(older_than)
        statements = (
            "DELETE FROM intervals WHERE id IN "
            "(SELECT id FROM intervals WHERE end_at < ? ORDER BY id LIMIT ?)",
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? ORDER BY id LIMIT ?)",
            "DELETE FROM marks WHERE id IN (SELECT id FROM marks WHERE ended_at IS NOT NULL "
            "AND ended_at < ? ORDER BY id LIMIT ?)",
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE last_seen < ? LIMIT ?)",
            "DELETE FROM host_incident_tenants WHERE incident IN (SELECT id FROM host_incidents "
            "WHERE resolved_at IS NOT NULL AND resolved_at < ? ORDER BY id LIMIT ?)",
            "DELETE FROM host_incidents WHERE id IN (SELECT id FROM host_incidents WHERE "
            "resolved_at IS NOT NULL AND resolved_at < ? AND id NOT IN "
            "(SELECT incident FROM host_incident_tenants) ORDER BY id LIMIT ?)",
            "DELETE FROM outages WHERE id IN (SELECT id FROM outages WHERE ended_at IS NOT NULL "
            "AND ended_at < ? ORDER BY id LIMIT ?)",
            "DELETE FROM maintenance_windows WHERE id IN (SELECT id FROM maintenance_windows "
            "WHERE end_at < ? ORDER BY id LIMIT ?)",
            # A version row goes once the next one began before the cutoff: the version a
            # tenant still runs is kept, however long ago it came, with its first sighting.
            "DELETE FROM versions WHERE id IN (SELECT v.id FROM versions v WHERE EXISTS ("
            "SELECT 1 FROM versions w WHERE w.tenant = v.tenant AND w.first_seen > v.first_seen "
            "AND w.first_seen < ?1) ORDER BY v.id LIMIT ?2)",
        )
        deleted = 0
        with self.transaction() as connection:
            for sql in statements:
                deleted += connection.execute(sql, (cutoff, chunk)).rowcount
        return deleted

    # -- maintenance windows -----------------------------------------------------------------

    def add_window(self, window: Window, now: datetime) -> Window:
        """Record a window: an ad hoc one as a new row (its id returned on the window), a
        scheduled one once (again is a no-op: every process records it as it opens)."""
        with self.transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO maintenance_windows(source, name, start_at, end_at, "
                "covers, by, created_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    window.source,
                    window.name,
                    _epoch(window.start),
                    _epoch(window.end),
                    scope_text(window.scope),
                    window.by,
                    _epoch(now),
                    None if window.ended_at is None else _epoch(window.ended_at),
                ),
            )
        if window.source != "adhoc":
            return window
        return replace(
            window,
            id=int(cursor.lastrowid or 0),
            start=_moment(_epoch(window.start)),
            end=_moment(_epoch(window.end)),
        )

    def end_window(self, window: Window, now: datetime) -> bool:
        """End a window early (an ad hoc one by id, a scheduled one by what it is); False
        when it was over or ended already."""
        if window.source == "adhoc":
            where, params = "id = ?", [window.id]
        else:
            where = "source = ? AND name = ? AND start_at = ?"
            params = [window.source, window.name, _epoch(window.start)]
        with self.transaction() as connection:
            cursor = connection.execute(
                f"UPDATE maintenance_windows SET ended_at = ? WHERE {where} "
                "AND ended_at IS NULL AND end_at > ?",
                (_epoch(now), *params, _epoch(now)),
            )
        return cursor.rowcount > 0

    def windows(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        source: str | None = None,
    ) -> list[Window]:
        """Recorded windows open at some moment of [since, until), by start; names and
        scopes cleaned on the way out (the file is not ours alone to trust)."""
        if self.schema < 3:
            return []
        where = ["COALESCE(MIN(end_at, ended_at), end_at) > ?", "start_at < ?"]
        params: list[Any] = [_bound(since, 0), _bound(until, 2**62)]
        if source is not None:
            where.append("source = ?")
            params.append(source)
        rows = self._query(
            "SELECT id, source, name, start_at, end_at, covers, by, ended_at "
            f"FROM maintenance_windows WHERE {' AND '.join(where)} ORDER BY start_at, id",
            params,
        )
        found = []
        for window_id, kind, name, start, end, covers, by, ended in rows:
            try:
                scope = Scope.from_json(json.loads(covers))
            except (ValueError, TypeError, RecursionError):
                scope = Scope()
            found.append(
                Window(
                    source=clean(str(kind), 20),
                    name=clean(str(name), 60),
                    start=_moment(start),
                    end=_moment(end),
                    scope=scope,
                    id=int(window_id),
                    by=clean(str(by), 60),
                    ended_at=None if ended is None else _moment(ended),
                )
            )
        return found

    # -- reading ---------------------------------------------------------------------------

    def incidents(
        self,
        *,
        host: str | None = None,
        key: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[IncidentRecord]:
        """Host incidents overlapping [since, until) (one still open overlaps everything
        after it began), of one host or with one tenant among its members, oldest first.
        None in a file from before they were kept."""
        if self.schema < FLEET_SCHEMA:
            return []
        where = ["i.since < ?", "(i.resolved_at IS NULL OR i.resolved_at >= ?)"]
        params: list[Any] = [_bound(until, 2**62), _bound(since, 0)]
        if host is not None:
            where.append("i.host = ?")
            params.append(host)
        if key is not None:
            where.append(
                "i.id IN (SELECT m.incident FROM host_incident_tenants m "
                "JOIN tenants t ON t.id = m.tenant WHERE t.key = ?)"
            )
            params.append(key)
        rows = self._query(
            "SELECT i.host, i.since, i.opened_at, i.resolved_at, i.state, i.tenants, i.members, "
            f"i.peak, i.back FROM host_incidents i WHERE {' AND '.join(where)} "
            "ORDER BY i.since, i.id",
            params,
        )
        return [
            IncidentRecord(
                host=clean(str(found_host), 80),
                since=_moment(started),
                opened_at=_moment(opened),
                resolved_at=_moment(resolved) if resolved is not None else None,
                state=clean(str(state), 60),
                tenants=int(tenants),
                members=int(members),
                peak=int(peak),
                back=int(back),
            )
            for found_host, started, opened, resolved, state, tenants, members, peak, back in rows
        ]

    def open_incidents(self) -> list[IncidentRecord]:
        """Host incidents not resolved yet, each with its members' keys: what a process
        that takes over as the poller carries on (the one before may have ended mid-way)."""
        found = [record for record in self.incidents() if record.resolved_at is None]
        return [
            replace(
                record,
                member_keys=tuple(
                    clean(str(key), 120)
                    for (key,) in self._query(
                        "SELECT t.key FROM host_incident_tenants m "
                        "JOIN tenants t ON t.id = m.tenant "
                        "JOIN host_incidents i ON i.id = m.incident "
                        "WHERE i.host = ? AND i.since = ? ORDER BY t.key",
                        (record.host, _epoch(record.since)),
                    )
                ),
            )
            for record in found
        ]

    def tenant_keys(self) -> list[str]:
        """Every tenant recorded (``env:CustN``): not the key "" that events about no one
        tenant (our own outage, a host incident) are filed under."""
        rows = self._query("SELECT key FROM tenants WHERE key LIKE '%:%' ORDER BY key")
        return [row[0] for row in rows]

    def intervals(
        self, key: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Interval]:
        """One tenant's intervals overlapping [since, until), oldest first."""
        rows = self._query(
            f"SELECT {self._columns} "
            "FROM intervals i JOIN tenants t ON t.id = i.tenant "
            "WHERE t.key = ? AND i.end_at >= ? AND i.start_at < ? ORDER BY i.start_at, i.id",
            (key, _bound(since, 0), _bound(until, 2**62)),
        )
        return [_interval(key, row) for row in rows]

    def window_intervals(
        self, keys: Iterable[str], since: datetime, until: datetime
    ) -> dict[str, list[Interval]]:
        """Per tenant, the intervals overlapping the window plus the one just before it
        (so availability sees a transition at the window's start). For many tenants the
        table is read in one pass (:meth:`_all_window_intervals`)."""
        keys = list(keys)
        if len(keys) >= BULK_READ:
            return self._all_window_intervals(keys, since, until)
        found: dict[str, list[Interval]] = {}
        for key in keys:
            before = self._query(
                f"SELECT {self._columns} "
                "FROM intervals i JOIN tenants t ON t.id = i.tenant "
                "WHERE t.key = ? AND i.end_at < ? ORDER BY i.start_at DESC LIMIT 1",
                (key, _epoch(since)),
            )
            found[key] = [_interval(key, row) for row in before] + self.intervals(key, since, until)
        return found

    def _all_window_intervals(
        self, keys: list[str], since: datetime, until: datetime
    ) -> dict[str, list[Interval]]:
        """:meth:`window_intervals` in two queries over every tenant instead of two per
        tenant (a report of 100,000 tenants: 200,000 queries, 2 s of them)."""
        found: dict[str, list[Interval]] = {key: [] for key in keys}
        for key, spans in self.each_window_intervals(since, until):
            if key in found:
                found[key] = spans
        return found

    def each_window_intervals(
        self, since: datetime, until: datetime
    ) -> Iterator[tuple[str, list[Interval]]]:
        """Every tenant's :meth:`window_intervals`, a tenant at a time (those with none are
        left out): a read of every tenant that never holds them all (`serve`'s uptime each
        minute: 100,000 tenants' intervals at once grew it by 70 MB)."""
        names = dict(self._query("SELECT id, key FROM tenants"))
        try:
            before = self.connection.execute(
                f"SELECT i.tenant, {self._columns} FROM intervals i WHERE i.id IN ("
                " SELECT (SELECT j.id FROM intervals j WHERE j.tenant = t.id AND j.end_at < ?"
                "  ORDER BY j.start_at DESC LIMIT 1) FROM tenants t) ORDER BY i.tenant",
                (_epoch(since),),
            )
            inside = self.connection.execute(
                f"SELECT i.tenant, {self._columns} FROM intervals i "
                "WHERE i.end_at >= ? AND i.start_at < ? ORDER BY i.tenant, i.start_at, i.id",
                (_epoch(since), _epoch(until)),
            )
            # merge() keeps a tenant's interval before the window ahead of those inside it
            rows = heapq.merge(before, inside, key=lambda row: row[0])
            for tenant_id, group in groupby(rows, key=lambda row: row[0]):
                key = names.get(tenant_id)
                if key is not None:
                    yield key, [_interval(key, row[1:]) for row in group]
        except sqlite3.Error as exc:
            raise classify(exc, self.path) from None

    def last_recorded(self, keys: Iterable[str]) -> dict[str, Interval]:
        """The last interval recorded for each of ``keys`` that has one."""
        found: dict[str, Interval] = {}
        for key in keys:
            rows = self._query(
                f"SELECT {self._columns} "
                "FROM intervals i JOIN tenants t ON t.id = i.tenant "
                "WHERE t.key = ? ORDER BY i.start_at DESC, i.id DESC LIMIT 1",
                (key,),
            )
            if rows:
                found[key] = _interval(key, rows[0])
        return found

    def last_run_end(self, excluding: int | None = None) -> datetime | None:
        """When a board last wrote to this file (``excluding`` this process's own run)."""
        rows = self._query(
            "SELECT MAX(last_seen) FROM runs WHERE id != ?",
            (-1 if excluding is None else excluding,),
        )
        return _moment(rows[0][0]) if rows and rows[0][0] is not None else None

    def version_spans(self, key: str, limit: int = 50) -> list[VersionSpan]:
        """One tenant's versions, newest first: each from when it was first seen until
        the next was (the newest: None, still running it as far as recorded)."""
        if self.schema < 4:
            return []  # a file from before versions were kept, read as it is
        rows = self._query(
            "SELECT v.version, v.host, v.first_seen FROM versions v JOIN tenants t "
            "ON t.id = v.tenant WHERE t.key = ? ORDER BY v.first_seen DESC, v.id DESC LIMIT ?",
            (key, limit),
        )
        spans: list[VersionSpan] = []
        until = None
        for version, host, first_seen in rows:
            since = _moment(first_seen)
            spans.append(VersionSpan(_version_text(version), _host_text(host), since, until))
            until = since
        return spans

    def last_versions(self, keys: Iterable[str]) -> dict[str, VersionSpan]:
        """The version each of ``keys`` was last recorded on (those with one)."""
        found: dict[str, VersionSpan] = {}
        for key in keys if self.schema >= 4 else ():
            spans = self.version_spans(key, limit=1)
            if spans:
                found[key] = spans[0]
        return found

    def versions_first_seen(self) -> dict[str, datetime]:
        """When each version was first recorded on any tenant."""
        if self.schema < 4:
            return {}
        rows = self._query("SELECT version, MIN(first_seen) FROM versions GROUP BY version")
        return {_version_text(version): _moment(first) for version, first in rows}

    def events(
        self, key: str | None = None, since: datetime | None = None, limit: int = 2000
    ) -> list[LoggedEvent]:
        """Events newest first (the event log's order); text cleaned again on the way out,
        since the file is not ours alone to trust."""
        from tenantboard.eventlog import LoggedEvent

        where, params = ["e.at >= ?"], [since.timestamp() if since else 0.0]
        if key is not None:
            where.append("t.key = ?")
            params.append(key)  # type: ignore[arg-type]
        rows = self._query(
            "SELECT e.at, t.key, e.name, e.kind, e.text, e.severity, e.worse FROM events e "
            f"JOIN tenants t ON t.id = e.tenant WHERE {' AND '.join(where)} "
            "ORDER BY e.at DESC, e.id DESC LIMIT ?",
            (*params, limit),
        )
        return [
            LoggedEvent(
                at=_moment(at),
                key=clean(str(tenant_key), 80),
                name=clean(str(name), 120),
                kind=clean(str(kind), 20),
                text=clean(str(text), 400),
                severity=clean(str(severity), 20),
                worse=bool(worse),
            )
            for at, tenant_key, name, kind, text, severity, worse in rows
        ]

    def marks(
        self,
        keys: Iterable[str] | None = None,
        now: datetime | None = None,
        current: Mapping[str, str | None] | None = None,
        *,
        include_ended: bool = False,
    ) -> list[Mark]:
        """Marks not ended (or all, with ``include_ended``), oldest first; with ``now``,
        only those still in force given ``current`` outcome labels."""
        where = "" if include_ended else "WHERE m.ended_at IS NULL"
        rows = self._query(
            "SELECT m.id, t.key, m.kind, m.created_at, m.until, m.by, m.state, m.ended_at "
            f"FROM marks m JOIN tenants t ON t.id = m.tenant {where} ORDER BY m.created_at, m.id"
        )
        wanted = set(keys) if keys is not None else None
        found = []
        for mark_id, key, kind, created, until, by, state, ended in rows:
            if wanted is not None and key not in wanted:
                continue
            mark = Mark(
                int(mark_id),
                str(key),
                str(kind),
                _moment(created),
                _moment(until) if until is not None else None,
                clean(str(by), 60),
                clean(str(state), 80),
                _moment(ended) if ended is not None else None,
            )
            if now is None or mark.active(now, (current or {}).get(mark.key)):
                found.append(mark)
        return found


def _version_text(value: Any) -> str:
    return clean(str(value), 200)  # the file is not ours alone to trust


def _host_text(value: Any) -> str | None:
    return None if value is None else clean(str(value), 60)


def _bound(moment: datetime | None, default: int) -> int:
    return default if moment is None else _epoch(moment)


def _epoch_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else _epoch(moment)


def _interval(key: str, row: Sequence[Any]) -> Interval:
    start, end, state, code, running, host, error, next_at = row
    return Interval(
        key,
        _from_epoch(start, UTC),
        _from_epoch(end, UTC),
        None if state is None else _text(state, 60),
        None if code is None else int(code),
        None if running is None else bool(running),
        None if host is None else _text(host, 60),
        None if error is None else _text(error, 40),
        None if next_at is None else _from_epoch(next_at, UTC),
    )


_from_epoch = datetime.fromtimestamp


@functools.lru_cache(maxsize=4096)
def _text(value: Any, limit: int) -> str:
    """A text column as shown (states, hosts and error kinds repeat: a report of 100,000
    tenants reads a million intervals holding a few hundred distinct ones)."""
    return clean(str(value), limit)


def _interval_row(item: Interval) -> tuple[Any, ...]:
    return (
        _epoch(item.start),
        _epoch(item.end),
        item.state,
        item.code,
        None if item.running is None else int(item.running),
        item.host,
        item.error,
        _epoch_or_none(item.next_at),
    )


def _process_gone(pid: int | None) -> bool:
    """True when no process has this id (the history file is on this machine: SQLite's
    write-ahead log is not for network file systems). One that is someone else's is there."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _outage(row: Sequence[Any]) -> Outage:
    started, ended, reason, tenants, probes = row
    return Outage(
        since=_moment(started),
        reason=clean(str(reason), 80),
        tenants=int(tenants or 0),
        probes=int(probes or 0),
        ended=None if ended is None else _moment(ended),
    )


# -- the old event log --------------------------------------------------------------------------


def import_event_log(db: HistoryDB, path: Path) -> int:
    """Move an ``events.jsonl`` from before the history database into it, once: the events
    are added in one transaction, then the file is renamed to ``events.jsonl.imported``
    (never deleted). Unreadable lines are skipped. Returns how many were imported."""
    from tenantboard.eventlog import LoggedEvent

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise classify(exc, path) from None
    events = [event for line in text.splitlines() if (event := LoggedEvent.from_json(line))]
    with db.transaction():
        db.add_events(events)
    target = unused_name(path, ".imported")
    try:
        os.replace(path, target)
    except OSError as exc:
        raise classify(exc, path) from None
    return len(events)


# -- the writer thread ---------------------------------------------------------------------------


class _Inbox:
    """The writer thread's queue. What it writes every ``flush_interval`` (results, events,
    our outages) waits here without waking it; a flush, a call and the stop wake it at
    once. `serve` applies each result as it comes: a ``queue.Queue`` woke the writer for
    every one, a handoff of the interpreter lock and two context switches per check (a
    tenth of serve's CPU in a pass of 100,000 tenants)."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def put(self, item: Any, *, urgent: bool = False) -> None:
        with self._lock:
            self._items.append(item)
        if urgent:
            self._wake.set()

    def take(self, timeout: float) -> list[Any]:
        """Everything waiting, once something urgent came or ``timeout`` passed."""
        self._wake.wait(timeout)
        with self._lock:
            self._wake.clear()
            items = list(self._items)
            self._items.clear()
        return items

    def qsize(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class _Flush:
    done: threading.Event


_STOP = object()
#: Failures that pass (a lock released, space freed, a damaged file replaced): the batch
#: is kept for the next try. Any other failure loses that batch, not the ones after it.
_PASSING = frozenset({Reason.LOCKED, Reason.DISK_FULL, Reason.READ_ONLY, Reason.CORRUPT})


class HistoryWriter:
    """Writes observations and events in batches from its own thread (see the module doc).

    Every method may be called from any thread and returns at once, except :meth:`flush`
    and :meth:`close`, which wait for the thread. Errors never raise into the caller: the
    last one is in :attr:`error` (and passed to ``on_error``, from the writer's thread);
    a batch that could not be written is kept and tried again with the next one.

    At most :data:`MAX_PENDING` results (and as many events) wait to be written, whether
    the file cannot be written for now or the disk is merely slower than the checks: past
    that, the newest are dropped at the door and counted (:attr:`dropped`,
    :attr:`dropped_events`); the time they covered is then a gap or, when it is shorter
    than the planned check, folded as if the outcome held.
    """

    def __init__(
        self,
        path: Path,
        *,
        retention_days: int = Settings().history_days,
        flush_interval: float = 2.0,
        gap: float = DEFAULT_GAP,
        on_error: Callable[[HistoryError], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        import_events_from: Path | None = None,
        busy_timeout: float = BUSY_TIMEOUT_MS / 1000,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.retention_days = retention_days
        self.flush_interval = flush_interval
        self.gap = gap
        self.error: HistoryError | None = None
        self.run_id: int | None = None
        #: Results not recorded: more waited than :data:`MAX_PENDING`, or their batch
        #: failed in a way a retry would not mend.
        self.dropped = 0
        #: Events not recorded, likewise.
        self.dropped_events = 0
        self._on_error = on_error
        self._now = now
        self._import_from = import_events_from
        self._queue = _Inbox()
        #: Results and events admitted and not yet written or dropped (see :meth:`_admit`).
        self._waiting = 0
        self._waiting_events = 0
        self._door = threading.Lock()
        self._dropped_told = 0
        self._next_behind_note = 0.0
        #: Our latest outage as last told (its network failures are not observations).
        self._outage: Outage | None = None
        #: Observations, events and our outages taken from the queue, in their order.
        self._pending: list[Step] = []
        #: Per tenant this writer recorded, its newest observation written (epoch
        #: seconds): at close, what each one's last interval is stretched from.
        self._recorded: dict[str, int] = {}
        self._db: HistoryDB | None = None
        self._next_prune = 0.0
        self._next_heartbeat = 0.0
        self._pruning = False
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)

    # -- the caller's side -----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def add_results(self, results: Iterable[CheckResult]) -> None:
        """Queue results as they are: they become observations in the writer's thread, so
        the caller (the board's event loop) pays one queue append per batch. A result
        from our own outage (``during_outage``) is no observation: it leaves a gap."""
        batch = list(results)
        if self._admit(len(batch)):
            self._queue.put(("results", batch))

    def add_observations(self, observations: Iterable[Observation]) -> None:
        batch = list(observations)
        if self._admit(len(batch)):
            self._queue.put(("observations", batch))

    def add_events(self, events: Iterable[LoggedEvent]) -> None:
        batch = list(events)
        if self._admit(len(batch), events=True):
            self._queue.put(("events", batch))

    def outage_changed(self, outage: Outage) -> None:
        """Our own outage began (``outage.ended`` None) or ended (the monitor's
        ``on_outage``). When it begins, network failures recorded since ``outage.since``
        become unobserved and their "check failed" events are withdrawn; the outage is
        kept (start, end, reason, probes) and is a gap in every tenant's history."""
        self._queue.put(("outage", replace(outage)))  # a copy: the monitor changes its own

    def _admit(self, count: int, *, events: bool = False) -> bool:
        """Room for ``count`` more? Otherwise they are dropped here, counted."""
        with self._door:
            waiting = self._waiting_events if events else self._waiting
            if waiting + count > MAX_PENDING:
                if events:
                    self.dropped_events += count
                else:
                    self.dropped += count
                return False
            if events:
                self._waiting_events += count
            else:
                self._waiting += count
            return True

    def _release(self, results: int, events: int = 0) -> None:
        with self._door:
            self._waiting -= results
            self._waiting_events -= events

    def call(self, function: Callable[[HistoryDB], T]) -> Future[T]:
        """Run ``function(db)`` in the writer's thread (after what is queued); e.g. to add a
        mark. The future holds its result, or a HistoryError."""
        future: Future[T] = Future()
        self._queue.put(("call", function, future), urgent=True)
        return future

    @property
    def waiting(self) -> int:
        """Results admitted and not yet written or dropped: what :data:`MAX_PENDING`
        bounds (a moment's reading from another thread)."""
        return self._waiting

    @property
    def backlog(self) -> int:
        """What waits to be written: calls queued, plus observations and events taken from
        the queue but not written yet. 0 right after :meth:`flush`; read from another
        thread, a moment's estimate."""
        return self._queue.qsize() + len(self._pending)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Write everything queued so far; False if the thread did not answer in time."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.put(_Flush(done), urgent=True)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop. A writer never started (its session closed while
        the history's start-up read was still going) starts now, so nothing queued is lost."""
        if self._thread.ident is None:
            self._thread.start()
        if self._thread.is_alive():
            self._queue.put(_STOP, urgent=True)
            self._thread.join(timeout)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        self._open()
        self._prune_some()
        last_write = time.monotonic()
        while True:
            wait = max(0.0, self.flush_interval - (time.monotonic() - last_write))
            for item in self._queue.take(wait):
                if item is _STOP:
                    self._write()
                    self._close_run()
                    if self._db is not None:
                        self._db.close()
                    return
                flush = item if isinstance(item, _Flush) else None
                try:
                    self._take(item)
                    if flush is not None:
                        self._write()
                        self._prune_some()
                        last_write = time.monotonic()
                except Exception as exc:  # a bug must not stop the recording for good
                    self._report(classify(exc, self.path))
                    self._lose_pending()  # the batch that failed is the one lost
                finally:
                    if flush is not None:
                        flush.done.set()
            try:
                self._say_if_behind()
                if time.monotonic() - last_write >= self.flush_interval:
                    self._write()
                    self._prune_some()
                    last_write = time.monotonic()
            except Exception as exc:  # a bug must not stop the recording for good
                self._report(classify(exc, self.path))
                self._lose_pending()

    def _take(self, item: Any) -> None:
        if not isinstance(item, tuple):
            return
        if item[0] == "results":
            results = item[1]
            observed = [Observation.from_result(r) for r in results if not self._outages(r)]
            self._release(len(results) - len(observed))  # our outage's: a gap, not data
            self._pending.extend(observed)
            seen = (VersionSeen.from_result(result) for result in results)
            self._pending.extend(version for version in seen if version is not None)
        elif item[0] in ("observations", "events"):
            self._pending.extend(item[1])
        elif item[0] == "outage":
            self._outage = item[1]
            self._pending.append(item[1])
        elif item[0] == "call":
            self._write()
            _, function, future = item
            if self._db is None:
                self._open()
            if self._db is None:
                future.set_exception(
                    self.error or HistoryError(Reason.UNAVAILABLE, self.path, "not open")
                )
            else:
                try:
                    future.set_result(function(self._db))
                except BaseException as exc:  # handed to the caller through the future
                    future.set_exception(
                        classify(exc, self.path) if isinstance(exc, sqlite3.Error) else exc
                    )

    def _outages(self, result: CheckResult) -> bool:
        """The result is our outage's: held in it, or a network failure within it that
        reached us before the monitor could tell (or after, late)."""
        outage = self._outage
        return result.during_outage or (
            outage is not None and outage.covers(result.error, result.checked_at)
        )

    def _open(self) -> None:
        try:
            self._db = HistoryDB.open(self.path, check=True, busy_timeout=self.busy_timeout)
        except HistoryError as exc:
            if exc.reason is not Reason.CORRUPT or not self.path.exists():
                self._report(exc)
                return
            try:
                moved = set_aside(
                    self.path, self._now(), label="corrupt", companions=("-wal", "-shm")
                )
                self._db = HistoryDB.open(self.path, busy_timeout=self.busy_timeout)
            except (OSError, FileError, HistoryError) as again:
                self._report(classify(again, self.path))
                return
            self._report(HistoryError(exc.reason, self.path, exc.detail, set_aside=moved))
        try:
            self.run_id = self._db.start_run(self._now())
            self._db.close_orphan_outages(self.run_id, self._now())
            if self._import_from is not None:
                import_event_log(self._db, self._import_from)
                self._import_from = None
        except HistoryError as exc:
            self._report(exc)

    def _write(self) -> None:
        if not self._pending:
            if self._db is not None and time.monotonic() >= self._next_heartbeat:
                with contextlib.suppress(HistoryError):
                    self._db.write(run_id=self.run_id, now=self._now())
                self._next_heartbeat = time.monotonic() + HEARTBEAT
            return
        if self._db is None:
            self._open()
        if self._db is None:
            return  # kept: the door keeps what waits bounded
        try:
            self._db.write(steps=self._pending, run_id=self.run_id, now=self._now(), gap=self.gap)
        except HistoryError as exc:
            self._report(exc)
            if exc.reason is Reason.CORRUPT:
                self._db.close()
                self._db = None  # reopened (and the damaged file set aside) next time
            if exc.reason not in _PASSING:
                self._lose_pending()  # it would fail again: lose this one only
            return  # else kept, and tried again with the next batch
        recorded = self._recorded
        for step in self._pending:
            if isinstance(step, Observation):
                at = _epoch(step.at)
                if at > recorded.get(step.key, -1):
                    recorded[step.key] = at
        self._release(*_counts(self._pending))
        self._pending.clear()
        self._next_heartbeat = time.monotonic() + HEARTBEAT
        if self.error is not None:
            self.error = None

    def _close_run(self) -> None:
        """At stop, once what was queued is written: each tenant's last outcome held until
        now (:meth:`HistoryDB.close_run`). Not when a batch could not be written: what the
        file holds is then older than what this writer saw."""
        if self._db is None or self._pending:
            return
        try:
            self._db.close_run(self._recorded, self._now(), run_id=self.run_id, gap=self.gap)
        except HistoryError as exc:
            self._report(exc)

    def _lose_pending(self) -> None:
        results, events = _counts(self._pending)
        self.dropped += results
        self.dropped_events += events
        self._release(results, events)
        self._pending.clear()

    def _say_if_behind(self) -> None:
        """Results dropped at the door are said, at most once a minute."""
        dropped = self.dropped + self.dropped_events
        if dropped > self._dropped_told and time.monotonic() >= self._next_behind_note:
            self._dropped_told = dropped
            self._next_behind_note = time.monotonic() + 60
            self._report(
                HistoryError(
                    Reason.BEHIND, self.path, "cannot keep up: the newest results are dropped"
                )
            )

    def _prune_some(self) -> None:
        """Retention: one short chunk per batch while there is something to delete,
        looked for once an hour."""
        if self._db is None:
            return
        now = time.monotonic()
        if not self._pruning and now < self._next_prune:
            return
        cutoff = _moment(self._now().timestamp() - self.retention_days * 86_400)
        try:
            deleted = self._db.prune(cutoff)
        except HistoryError as exc:
            self._report(exc)
            return
        self._pruning = deleted > 0
        if not self._pruning:
            self._next_prune = now + 3600

    def _report(self, error: HistoryError) -> None:
        self.error = error
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error(error)


def _counts(steps: Sequence[Step]) -> tuple[int, int]:
    """How many observations and how many events ``steps`` holds (versions seen come with
    the results, and are not admitted apart)."""
    results = sum(isinstance(step, Observation) for step in steps)
    others = sum(isinstance(step, Outage | VersionSeen) for step in steps)
    return results, len(steps) - results - others


# -- `check`: mutes from the database, read-only ------------------------------------------------


def marks_for(
    path: Path, current: Mapping[str, str | None], now: datetime
) -> tuple[dict[str, dict[str, Mark]], HistoryError | None]:
    """Active marks per tenant key and kind, read without writing anything; an absent
    file is simply no marks. ``current``: each tenant's outcome label now."""
    if not Path(path).exists():
        return {}, None
    try:
        with HistoryDB.open(path, read_only=True) as db:
            found: dict[str, dict[str, Mark]] = {}
            for mark in db.marks(current.keys(), now, current):
                found.setdefault(mark.key, {})[mark.kind] = mark
            return found, None
    except HistoryError as exc:
        if exc.reason is Reason.UNAVAILABLE and "no history" in exc.detail:
            return {}, None
        return {}, exc


def recorded_windows(
    path: Path, now: datetime, *, source: str | None = None
) -> tuple[list[Window], HistoryError | None]:
    """The windows recorded as open now or later (``source``: only those), read without
    writing anything; an absent file is simply none."""
    if not Path(path).exists():
        return [], None
    try:
        with HistoryDB.open(path, read_only=True) as db:
            return db.windows(now, None, source=source), None
    except HistoryError as exc:
        if exc.reason is Reason.UNAVAILABLE and "no history" in exc.detail:
            return [], None
        return [], exc


def dumps_interval(interval: Interval) -> dict[str, Any]:
    return {
        "start": utc_iso(interval.start),
        "end": utc_iso(interval.end),
        "seconds": interval.seconds,
        "state": interval.state,
        "state_code": interval.code,
        "is_running": interval.running,
        "host": interval.host,
        "error": interval.error,
        "next_check_planned": utc_iso(interval.next_at) if interval.next_at else None,
    }


def dumps_outage(outage: Outage) -> dict[str, Any]:
    """Our own outage for JSON: a period in which nothing was observed."""
    return {
        "start": utc_iso(outage.since),
        "end": utc_iso(outage.ended) if outage.ended else None,
        "reason": outage.reason,
        "probes": outage.probes,
        "tenants": outage.tenants,
    }


__all__ = [
    "MAX_PENDING",
    "SCHEMA_VERSION",
    "ClosedChange",
    "HistoryDB",
    "HistoryError",
    "HistoryWriter",
    "IncidentRecord",
    "Interval",
    "Mark",
    "Observation",
    "Reason",
    "VersionSeen",
    "allowed_silence",
    "changed_while_closed",
    "dumps_interval",
    "dumps_outage",
    "fold",
    "history_path",
    "import_event_log",
    "marks_for",
    "recorded_windows",
]
