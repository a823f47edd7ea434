"""The history database: every check's outcome, the event log, mutes and acknowledgements.

One SQLite file per tenant file, in the user data folder (:func:`history_path`). UI-free;
the board and the CLI use it like this:

Writing (the board; one :class:`HistoryWriter` per process, its own thread)::

    writer = HistoryWriter(history_path(config_path), retention_days=settings.history_days)
    writer.start()                     # opens (or creates) the file in the thread
    writer.add_results(results)        # CheckResults, any thread; cheap, never blocks
    writer.add_events(logged_events)   # eventlog.LoggedEvent
    future = writer.call(lambda db: db.add_mark(key, "mute", state, now, until=...))
    writer.error                       # the last HistoryError, or None: show it in the header
    writer.close()                     # at exit: writes what is queued, stops the thread

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
    db.version_spans(key), db.last_versions(keys), db.versions_first_seen()   # releases
    changed_while_closed(last_interval, first_observation) -> ClosedChange | None

At start the board reads ``last_recorded`` and ``last_run_end`` before its writer starts,
then for each tenant's first result calls ``changed_while_closed(last[key],
Observation.from_result(result))``; ``ClosedChange.describe()`` gives "Running → Unknown
while closed, between 18:02 and 08:15" for the event log.

Availability (pure, :mod:`tenantboard.availability`)::

    found = db.window_intervals(keys, now - timedelta(days=30), now)
    availability(found[key], start, now)   # uptime, coverage, incidents, maintenance, ...
    daily_strip(found[key], now, days=30)  # worst Severity per day, None for no data

Mutes and acknowledgements: ``add_mark(key, "mute"|"ack", outcome_label, now, until=...)``
(through ``writer.call``), ``expire_marks(now, {key: label})`` now and then (returns the
ended ones, for the log), ``end_mark(id, now)`` to clear one; ``Mark.compared_label(result)`` gives the outcome
label a mark is compared with (None after a failed check: only a state answer ends one).

Versions (schema 2): the writer also records the release each answer names
(:class:`VersionSeen`), one row per tenant per change of version, with when it was first seen;
a file of schema 1 is read as it is (no versions) and migrated by the first writer.

Folding: consecutive checks with the same outcome (state, running, endpoint host, error
kind) extend one interval's ``end``; a different outcome ends the interval at the new
check's time and starts another, so observed time has no holes. Two checks further apart
than ``gap`` (the board was closed, or stopped checking) leave a gap: unobserved time,
which availability does not count as up. The fold reads each tenant's last interval
inside the write transaction, so two processes writing one file (WAL, ``busy_timeout``)
interleave correctly; an observation older than the tenant's recorded end is dropped
(another writer has already recorded something later).

Failures are :class:`HistoryError` with a :class:`Reason`. A corrupt file is renamed aside
(``…sqlite3.corrupt-YYYYmmdd-HHMMSS``) by the writer, which then starts a new one; a
read-only open never renames anything. Nothing here touches the tenant file.
"""

from __future__ import annotations

import contextlib
import enum
import getpass
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tenantboard.files import FileError, set_aside, unused_name
from tenantboard.history.availability import Interval, outcome_label
from tenantboard.humanize import host_of
from tenantboard.paths import history_path
from tenantboard.releases import VersionSpan
from tenantboard.sanitize import clean
from tenantboard.tenant_file import Settings

if TYPE_CHECKING:
    from tenantboard.engine import CheckResult
    from tenantboard.eventlog import LoggedEvent

SCHEMA_VERSION = 2
#: How long one statement waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 5000
#: Two checks further apart than this leave an unobserved gap between them. Checks are at
#: most max_interval (15 min) apart plus backoff; twice that with room to spare.
DEFAULT_GAP = 2 * 900 + 120
#: Rows deleted per retention transaction: short enough that nobody waits for it.
PRUNE_CHUNK = 500
#: Queued observations kept while the file cannot be written; older ones are dropped.
MAX_PENDING = 200_000
#: While nothing changes, how often the writer still notes that this board is running.
HEARTBEAT = 30.0

_SCHEMA = """
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
#: Schema 2 (releases): each version a tenant was seen on, from when (a new row when the
#: version an answer names differs from the tenant's last row's).
_VERSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL REFERENCES tenants(id),
    version TEXT NOT NULL,
    host TEXT,
    first_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_by_tenant ON versions(tenant, first_seen);
"""
#: The statements that bring a file up from the schema before each version (in order).
_MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _SCHEMA), (2, _VERSIONS_SCHEMA))
#: The oldest schema a read-only open reads (a table added later reads as empty).
READABLE_SCHEMA = 1


# -- errors ----------------------------------------------------------------------------------


class Reason(enum.StrEnum):
    CORRUPT = "corrupt"
    LOCKED = "locked"
    NEWER_SCHEMA = "newer-schema"
    READ_ONLY = "read-only"
    DISK_FULL = "disk-full"
    UNAVAILABLE = "unavailable"


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

    @classmethod
    def from_result(cls, result: CheckResult) -> Observation:
        state = result.state
        if result.error is not None or state is None:
            kind = str(result.error.kind) if result.error else "no-answer"
            return cls(result.tenant.key, result.checked_at, None, None, None, None, kind)
        return cls(
            key=result.tenant.key,
            at=result.checked_at,
            state=clean(state.state_name, 60),
            code=state.state_code,
            running=state.is_running,
            host=host_of(state.endpoint) or None,
        )

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
            self.key, at, at, self.state, self.code, self.running, self.host, self.error
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


def fold(
    last: Interval | None, observations: Iterable[Observation], gap: float = DEFAULT_GAP
) -> tuple[Interval | None, list[Interval]]:
    """Fold one tenant's observations (oldest first) onto its last recorded interval.

    Returns that interval as it should now be (None if there was none) and the new
    intervals to add after it. Pure: the database and the property tests share it.
    """
    updated = last
    new: list[Interval] = []
    for observation in observations:
        at = _moment(_epoch(observation.at))
        current = new[-1] if new else updated
        if current is not None and at < current.end:
            continue  # older than what is recorded: another writer got there first
        if current is not None and (at - current.end).total_seconds() <= gap:
            current = replace(current, end=at)  # observed up to now, changed or not
            if new:
                new[-1] = current
            else:
                updated = current
            if observation.same_outcome(current):
                continue
        new.append(observation.as_interval())
    return updated, new


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
        """E.g. ``Running → Unknown while closed, between 18:02 and 08:15``."""
        start = self.closed_from.astimezone()
        end = self.closed_to.astimezone()
        fmt = "%H:%M" if start.date() == end.date() or (end - start).days < 1 else "%b %d %H:%M"
        return (
            f"{self.before.label} → {self.after.label} while closed, between "
            f"{start.strftime(fmt)} and {end.strftime(fmt)}"
        )


def changed_while_closed(last: Interval | None, first: Observation) -> ClosedChange | None:
    """Given a tenant's last recorded interval and its first answer in this run: the
    change that happened meanwhile, or None (nothing recorded, or the same outcome)."""
    if last is None or first.at < last.end or first.same_outcome(last):
        return None
    return ClosedChange(first.key, last, first)


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
        return {
            "by": self.by,
            "created_at": _iso(self.created_at),
            "until": _iso(self.until) if self.until else None,
            "state": self.state,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def current_user() -> str:
    try:
        return clean(getpass.getuser(), 60) or "unknown"
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
                path.parent.mkdir(parents=True, exist_ok=True)
            uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
            if read_only and not _writable(path):
                # On a read-only disk nobody can write it, and WAL cannot make its -shm
                # there: read the file as it stands.
                uri += "&immutable=1"
            connection = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=0
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
        version = run("PRAGMA user_version").fetchone()[0]
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
            if version < READABLE_SCHEMA:
                raise HistoryError(Reason.UNAVAILABLE, self.path, "no history recorded yet")
            return
        if run("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise HistoryError(Reason.UNAVAILABLE, self.path, "cannot switch to WAL mode")
        run("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
        run("PRAGMA journal_size_limit = 4194304")
        if version < SCHEMA_VERSION:
            with self.transaction():
                found = run("PRAGMA user_version").fetchone()[0]
                for target, script in _MIGRATIONS:
                    if found < target:
                        for statement in script.split(";"):
                            if statement.strip():
                                run(statement)
                run(f"PRAGMA user_version = {max(found, SCHEMA_VERSION)}")

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

    def record(self, observations: Sequence[Observation], gap: float = DEFAULT_GAP) -> None:
        """Fold observations into intervals, in one transaction."""
        self.write(observations, gap=gap)

    def _record_one(self, key: str, items: list[Observation], gap: float) -> int:
        run = self.connection.execute
        tenant_id = self._tenant_id(key)
        row = run(
            "SELECT id, start_at, end_at, state, code, running, host, error FROM intervals "
            "WHERE tenant = ? ORDER BY start_at DESC, id DESC LIMIT 1",
            (tenant_id,),
        ).fetchone()
        last = _interval(key, row[1:]) if row else None
        updated, new = fold(last, items, gap)
        if row is not None and updated is not None and updated != last:
            run("UPDATE intervals SET end_at = ? WHERE id = ?", (_epoch(updated.end), row[0]))
        if new:
            self.connection.executemany(
                "INSERT INTO intervals(tenant, start_at, end_at, state, code, running, host, "
                "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(tenant_id, *_interval_row(item)) for item in new],
            )
        return len(new)

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
        if rows:
            self.connection.executemany(
                "INSERT INTO events(at, tenant, name, kind, text, severity, worse) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
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
        versions: Sequence[VersionSeen] = (),
    ) -> None:
        """One batch in one transaction: observations, events, versions seen, and the
        run's heartbeat."""
        by_key: dict[str, list[Observation]] = {}
        for observation in observations:
            by_key.setdefault(observation.key, []).append(observation)
        with self.transaction():
            for key, items in by_key.items():
                self._record_one(key, sorted(items, key=lambda o: o.at), gap)
            self.add_events(events)
            self._record_versions(versions)
            if run_id is not None:
                self.connection.execute(
                    "UPDATE runs SET last_seen = ? WHERE id = ?",
                    (_epoch(now or datetime.now(UTC)), run_id),
                )

    def _record_versions(self, seen: Sequence[VersionSeen]) -> None:
        """A row for each version change (inside the write's transaction). Each tenant's
        last row is read once and then remembered, so a batch of unchanged versions costs
        a dictionary lookup each; what another process wrote (``PRAGMA data_version``)
        makes this connection read again."""
        if not seen:
            return
        run = self.connection.execute
        data_version = run("PRAGMA data_version").fetchone()[0]
        if data_version != self._data_version:
            self._last_versions.clear()
            self._data_version = data_version
        for item in sorted(seen, key=lambda item: item.at):
            at = _epoch(item.at)
            last = self._last_versions.get(item.key)
            if last is None:
                row = run(
                    "SELECT v.version, v.first_seen FROM versions v JOIN tenants t "
                    "ON t.id = v.tenant WHERE t.key = ? ORDER BY v.first_seen DESC, v.id DESC "
                    "LIMIT 1",
                    (item.key,),
                ).fetchone()
                last = (str(row[0]), int(row[1])) if row else ("", -1)
            if item.version == last[0] or at < last[1]:
                self._last_versions[item.key] = last  # the same, or older than what is there
                continue
            run(
                "INSERT INTO versions(tenant, version, host, first_seen) VALUES (?, ?, ?, ?)",
                (self._tenant_id(item.key), item.version, item.host, at),
            )
            self._last_versions[item.key] = (item.version, at)

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

    # -- reading ---------------------------------------------------------------------------

    def tenant_keys(self) -> list[str]:
        return [row[0] for row in self._query("SELECT key FROM tenants ORDER BY key")]

    def intervals(
        self, key: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Interval]:
        """One tenant's intervals overlapping [since, until), oldest first."""
        rows = self._query(
            "SELECT i.start_at, i.end_at, i.state, i.code, i.running, i.host, i.error "
            "FROM intervals i JOIN tenants t ON t.id = i.tenant "
            "WHERE t.key = ? AND i.end_at >= ? AND i.start_at < ? ORDER BY i.start_at, i.id",
            (key, _bound(since, 0), _bound(until, 2**62)),
        )
        return [_interval(key, row) for row in rows]

    def window_intervals(
        self, keys: Iterable[str], since: datetime, until: datetime
    ) -> dict[str, list[Interval]]:
        """Per tenant, the intervals overlapping the window plus the one just before it
        (so availability sees a transition at the window's start)."""
        found: dict[str, list[Interval]] = {}
        for key in keys:
            before = self._query(
                "SELECT i.start_at, i.end_at, i.state, i.code, i.running, i.host, i.error "
                "FROM intervals i JOIN tenants t ON t.id = i.tenant "
                "WHERE t.key = ? AND i.end_at < ? ORDER BY i.start_at DESC LIMIT 1",
                (key, _epoch(since)),
            )
            found[key] = [_interval(key, row) for row in before] + self.intervals(key, since, until)
        return found

    def last_recorded(self, keys: Iterable[str]) -> dict[str, Interval]:
        """The last interval recorded for each of ``keys`` that has one."""
        found: dict[str, Interval] = {}
        for key in keys:
            rows = self._query(
                "SELECT i.start_at, i.end_at, i.state, i.code, i.running, i.host, i.error "
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

    def _has_versions(self) -> bool:
        """False for a file of schema 1 read as it is (read-only: nothing migrates it)."""
        rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'versions'")
        return bool(rows)

    def version_spans(self, key: str, limit: int = 50) -> list[VersionSpan]:
        """One tenant's versions, newest first: each from when it was first seen until
        the next was (the newest: None, still running it as far as recorded)."""
        if not self._has_versions():
            return []
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
        if not self._has_versions():
            return {}
        found: dict[str, VersionSpan] = {}
        for key in keys:
            spans = self.version_spans(key, limit=1)
            if spans:
                found[key] = spans[0]
        return found

    def versions_first_seen(self) -> dict[str, datetime]:
        """When each version was first recorded on any tenant."""
        if not self._has_versions():
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


def _interval(key: str, row: Sequence[Any]) -> Interval:
    start, end, state, code, running, host, error = row
    return Interval(
        key=key,
        start=_moment(start),
        end=_moment(end),
        state=None if state is None else clean(str(state), 60),
        code=None if code is None else int(code),
        running=None if running is None else bool(running),
        host=None if host is None else clean(str(host), 60),
        error=None if error is None else clean(str(error), 40),
    )


def _interval_row(item: Interval) -> tuple[Any, ...]:
    return (
        _epoch(item.start),
        _epoch(item.end),
        item.state,
        item.code,
        None if item.running is None else int(item.running),
        item.host,
        item.error,
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
        #: Observations dropped because the file could not be written for too long.
        self.dropped = 0
        self._on_error = on_error
        self._now = now
        self._import_from = import_events_from
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending: list[Observation] = []
        self._pending_events: list[LoggedEvent] = []
        self._pending_versions: list[VersionSeen] = []
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
        the caller (the board's event loop) pays one queue append per batch."""
        self._queue.put(("results", list(results)))

    def add_observations(self, observations: Iterable[Observation]) -> None:
        self._queue.put(list(observations))

    def add_events(self, events: Iterable[LoggedEvent]) -> None:
        self._queue.put(("events", list(events)))

    def call(self, function: Callable[[HistoryDB], T]) -> Future[T]:
        """Run ``function(db)`` in the writer's thread (after what is queued); e.g. to add a
        mark. The future holds its result, or a HistoryError."""
        future: Future[T] = Future()
        self._queue.put(("call", function, future))
        return future

    @property
    def backlog(self) -> int:
        """What waits to be written: calls queued, plus observations and events taken from
        the queue but not written yet. 0 right after :meth:`flush`; read from another
        thread, a moment's estimate."""
        return self._queue.qsize() + len(self._pending) + len(self._pending_events)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Write everything queued so far; False if the thread did not answer in time."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.put(_Flush(done))
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        self._open()
        self._prune_some()
        last_write = time.monotonic()
        while True:
            wait = max(0.0, self.flush_interval - (time.monotonic() - last_write))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write()
                if self._db is not None:
                    self._db.close()
                return
            flush = item if isinstance(item, _Flush) else None
            try:
                self._take(item)
                if flush is not None or time.monotonic() - last_write >= self.flush_interval:
                    self._write()
                    self._prune_some()
                    last_write = time.monotonic()
            except Exception as exc:  # a bug must not stop the recording for good
                self._report(classify(exc, self.path))
                self._clear_pending()  # the batch that failed is the one lost
            finally:
                if flush is not None:
                    flush.done.set()

    def _take(self, item: Any) -> None:
        if isinstance(item, list):
            self._pending.extend(item)
        elif isinstance(item, tuple) and item[0] == "results":
            self._pending.extend(Observation.from_result(result) for result in item[1])
            seen = (VersionSeen.from_result(result) for result in item[1])
            self._pending_versions.extend(version for version in seen if version is not None)
        elif isinstance(item, tuple) and item[0] == "events":
            self._pending_events.extend(item[1])
        elif isinstance(item, tuple) and item[0] == "call":
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
            if self._import_from is not None:
                import_event_log(self._db, self._import_from)
                self._import_from = None
        except HistoryError as exc:
            self._report(exc)

    def _clear_pending(self) -> None:
        self._pending.clear()
        self._pending_events.clear()
        self._pending_versions.clear()

    def _write(self) -> None:
        if not self._pending and not self._pending_events and not self._pending_versions:
            if self._db is not None and time.monotonic() >= self._next_heartbeat:
                with contextlib.suppress(HistoryError):
                    self._db.write(run_id=self.run_id, now=self._now())
                self._next_heartbeat = time.monotonic() + HEARTBEAT
            return
        if self._db is None:
            self._open()
        if self._db is None:
            self._trim()
            return
        try:
            self._db.write(
                self._pending,
                self._pending_events,
                run_id=self.run_id,
                now=self._now(),
                gap=self.gap,
                versions=self._pending_versions,
            )
        except HistoryError as exc:
            self._report(exc)
            if exc.reason is Reason.CORRUPT:
                self._db.close()
                self._db = None  # reopened (and the damaged file set aside) next time
            if exc.reason in _PASSING:
                self._trim()  # kept, and tried again with the next batch
            else:
                self.dropped += len(self._pending)  # it would fail again: lose this one only
                self._clear_pending()
            return
        self._clear_pending()
        self._next_heartbeat = time.monotonic() + HEARTBEAT
        if self.error is not None:
            self.error = None

    def _trim(self) -> None:
        excess = len(self._pending) - MAX_PENDING
        if excess > 0:
            del self._pending[:excess]
            self.dropped += excess
        del self._pending_events[: max(0, len(self._pending_events) - MAX_PENDING)]
        del self._pending_versions[: max(0, len(self._pending_versions) - MAX_PENDING)]

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


def dumps_interval(interval: Interval) -> dict[str, Any]:
    return {
        "start": _iso(interval.start),
        "end": _iso(interval.end),
        "seconds": interval.seconds,
        "state": interval.state,
        "state_code": interval.code,
        "is_running": interval.running,
        "host": interval.host,
        "error": interval.error,
    }


__all__ = [
    "SCHEMA_VERSION",
    "ClosedChange",
    "HistoryDB",
    "HistoryError",
    "HistoryWriter",
    "Interval",
    "Mark",
    "Observation",
    "Reason",
    "VersionSeen",
    "changed_while_closed",
    "fold",
    "history_path",
    "import_event_log",
    "marks_for",
]
