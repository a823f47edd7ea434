"""What the board knows about each tenant, kept up to date from check results.

Pure and UI-free: the widgets read it, the app feeds it. It keeps the last result, the
last good answer, the session's history of state changes and endpoint moves, the
version-info cache, and the counts the header shows.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tenantboard.answers import Severity, TenantState, VersionAnswer
from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError
from tenantboard.humanize import ago, duration, until
from tenantboard.tenant import Tenant

if TYPE_CHECKING:
    from tenantboard.maintenance import Window

#: Per tenant, the newest events kept for the detail pane, and severity changes kept for the
#: timeline. Bounded so that memory stays flat when thousands of tenants keep changing all
#: day; the event log keeps the longer story.
HISTORY_LIMIT = 12
TIMELINE_LIMIT = 24
_REVISIONS = itertools.count()
ERROR_BUCKET = "error"
PENDING_BUCKET = "not checked yet"


class Bounded(list):  # type: ignore[type-arg]
    """A list that keeps only its newest ``maxlen`` items, as ``deque(maxlen=...)`` does.

    A tenant's row keeps two of these from its first check on: an empty deque costs 760
    bytes (it allocates a block of 64 slots), a list of one item about 100, which is
    130 MB less at 100,000 tenants."""

    __slots__ = ("maxlen",)

    def __init__(self, maxlen: int, items: Iterable[Any] = ()) -> None:
        super().__init__()
        self.maxlen = maxlen
        self.extend(items)

    def append(self, item: Any) -> None:
        super().append(item)
        if len(self) > self.maxlen:
            del self[0]

    def extend(self, items: Iterable[Any]) -> None:
        super().extend(items)
        if len(self) > self.maxlen:
            del self[: len(self) - self.maxlen]


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    kind: str  # "state", "endpoint", "failure", "recovery"
    text: str

    def __post_init__(self) -> None:
        # Events repeat (a tenant moving between the same two hosts all day): share the text.
        object.__setattr__(self, "text", sys.intern(self.text))


@dataclass(frozen=True, slots=True)
class Change:
    """An event worth telling the operator about, with whether it made things worse."""

    row: TenantRow
    event: Event
    worse: bool


@dataclass(slots=True)
class VersionEntry:
    endpoint: str | None
    answer: VersionAnswer | None
    error: CheckError | None
    fetched_at: datetime
    #: The check count when fetched: never fetch more often than the state is checked.
    check_number: int


@dataclass(slots=True)
class TenantRow:
    tenant: Tenant
    last: CheckResult | None = None
    #: The last successful answer; kept while later checks fail, so the row still says
    #: what was last known.
    state: TenantState | None = None
    checks: int = 0
    running_checks: int = 0
    endpoint_moved: bool = False
    #: When the last successful check answered: a stale row's age is measured from it.
    last_success_at: datetime | None = None
    #: The last endpoint an answer named: a move is logged from it to the next one named,
    #: even across states that name none (maintenance, provisioning).
    last_endpoint: str | None = None
    #: True while a "check failed" event stands unanswered: only then is the recovery
    #: worth an event (failures during the board's own outage log neither).
    failure_logged: bool = False
    history: Bounded = field(default_factory=lambda: Bounded(HISTORY_LIMIT))
    version: VersionEntry | None = None
    #: (when, severity) each time the severity changed this session: the timeline.
    severity_changes: Bounded = field(default_factory=lambda: Bounded(TIMELINE_LIMIT))
    #: True once older events fell out of :attr:`history`.
    history_trimmed: bool = False
    #: "mute" or "ack" while the tenant is muted or acknowledged (history marks), else None.
    mark: str | None = None
    #: The maintenance window that covers the tenant now (its changes are planned), or None.
    window: Window | None = None
    #: Share of the last 24 hours it was up (history), None while unknown or unobserved.
    uptime_24h: float | None = None
    #: Changed on every change, so a widget can cache what it drew for this row. Unique
    #: across rows, too: a tenant removed and added again never shows the old row's line.
    revision: int = field(default_factory=lambda: next(_REVISIONS))
    _search: str = ""
    _search_revision: int = -1

    def bump(self) -> None:
        """Mark the row changed."""
        self.revision = next(_REVISIONS)

    @property
    def error(self) -> CheckError | None:
        return self.last.error if self.last else None

    @property
    def stale(self) -> bool:
        """The last check failed in the board's own outage: the last known state stands,
        as of :attr:`last_success_at`."""
        return bool(self.last and self.last.during_outage and self.state is not None)

    @property
    def stale_since(self) -> datetime | None:
        return self.last_success_at if self.stale else None

    @property
    def severity(self) -> Severity | None:
        """None while never checked; UNKNOWN while the last check failed (unless it failed
        in our own outage: then the last known state's)."""
        if self.last is None:
            return None
        if self.state is None or (self.last.error is not None and not self.stale):
            return Severity.UNKNOWN
        return self.state.severity

    @property
    def bucket(self) -> str:
        """What the header counts this row as: a state name, errors, or not yet checked."""
        if self.last is None:
            return PENDING_BUCKET
        if self.state is None or (self.last.error is not None and not self.stale):
            return ERROR_BUCKET
        return self.state.state_name

    @property
    def version_label(self) -> str | None:
        """The Version column: the release the state answer names, and only that (the
        NetServer version from the Api link is in the detail pane), so the column means
        the same for every row whether or not its pane was opened."""
        if self.state is None or not self.state.version:
            return None
        return self.state.version.removeprefix("Release_").removeprefix("Release")

    @property
    def needs_attention(self) -> bool:
        """Not OK: a warning or critical state, a failed check, or a contradictory answer;
        and not muted or acknowledged (someone is on it already), nor in a maintenance
        window (planned)."""
        severity = self.severity
        if severity is None or self.mark is not None or self.window is not None:
            return False
        return severity is not Severity.OK or bool(self.state and self.state.running_mismatch)

    @property
    def search_text(self) -> str:
        """What the filter matches: context id, label, environment, host and state.

        Cached per revision: filtering 10,000 rows runs on every keystroke."""
        if self._search_revision != self.revision:
            state = self.state
            parts = [self.tenant.context_id, self.tenant.label, self.tenant.env, self.bucket]
            if state is not None:
                parts += [state.endpoint or "", state.state_name]
            self._search = " ".join(parts).casefold()
            self._search_revision = self.revision
        return self._search

    def version_is_stale(self) -> bool:
        """True when version info should be (re)fetched for the current endpoint."""
        if self.state is None or not self.state.is_running:
            return False
        entry = self.version
        if entry is None:
            return True
        outdated = entry.endpoint != self.state.endpoint or entry.error is not None
        return outdated and entry.check_number < self.checks


#: Shown beside a muted or acknowledged tenant's name, or one in a maintenance window.
MARK_GLYPHS = {"mute": "⊘", "ack": "✓", "maintenance": "⚒"}

SORTS: dict[str, str] = {
    "list": "the list's order",
    "severity": "worst first",
    "name": "name",
    "env": "environment",
    "next": "next check",
    "uptime": "uptime 24 h",
}


@dataclass(slots=True)
class ViewOptions:
    """What the table shows and in which order; chosen by the operator."""

    sort: str = "list"
    filter_text: str = ""
    attention_only: bool = False

    @property
    def depends_on_results(self) -> bool:
        """True when new results can change which rows show or their order."""
        return self.sort in ("severity", "next") or bool(self.filter_text) or self.attention_only


class BoardModel:
    """All rows, the view of them (filtered and sorted), and the per-bucket counts."""

    def __init__(self, tenants: Iterable[Tenant]) -> None:
        self.rows: dict[str, TenantRow] = {}
        self.list_order: list[str] = []
        #: The keys shown, in the order shown.
        self.order: list[str] = []
        self._position: dict[str, int] = {}
        self.counts: Counter[str] = Counter()
        self.view = ViewOptions()
        self.changes: list[Change] = []
        #: Our latest outage as last told (:meth:`outage_changed`).
        self.outage: Outage | None = None
        self.set_tenants(tenants)

    def __len__(self) -> int:
        return len(self.order)

    @property
    def total(self) -> int:
        return len(self.rows)

    def row_at(self, index: int) -> TenantRow | None:
        if 0 <= index < len(self.order):
            return self.rows[self.order[index]]
        return None

    def index_of(self, key: str) -> int | None:
        return self._position.get(key)

    def set_tenants(self, tenants: Iterable[Tenant]) -> None:
        """Adopt the list's order; rows of tenants still listed keep what they know."""
        rows: dict[str, TenantRow] = {}
        for tenant in tenants:
            row = self.rows.get(tenant.key)
            if row is None:
                row = TenantRow(tenant)
            elif row.tenant != tenant:
                row.tenant = tenant
                row.bump()
            rows[tenant.key] = row
        self.rows = rows
        self.list_order = list(rows)
        self.counts = Counter(row.bucket for row in rows.values())
        self.recompute_view()

    def recompute_view(self, due_at: Callable[[str], float | None] | None = None) -> None:
        """Recompute which rows show and their order from the view options."""
        view = self.view
        keys = self.list_order
        if view.filter_text or view.attention_only:
            needle = view.filter_text.casefold().strip()
            keys = [
                key
                for key in keys
                if (not view.attention_only or self.rows[key].needs_attention)
                and (not needle or needle in self.rows[key].search_text)
            ]
        if view.sort != "list":
            position = {key: index for index, key in enumerate(self.list_order)}
            keys = sorted(keys, key=self._sort_key(view.sort, position, due_at))
        self.order = list(keys)
        self._position = {key: index for index, key in enumerate(self.order)}

    def _sort_key(
        self,
        sort: str,
        position: dict[str, int],
        due_at: Callable[[str], float | None] | None,
    ) -> Callable[[str], tuple[Any, ...]]:
        rows = self.rows
        if sort == "severity":
            return lambda key: (-_severity_rank(rows[key]), position[key])
        if sort == "name":
            return lambda key: (rows[key].tenant.display_name.casefold(), position[key])
        if sort == "env":
            return lambda key: (rows[key].tenant.env, position[key])
        if sort == "uptime":  # lowest first; never observed last
            return lambda key: (_uptime_rank(rows[key]), position[key])
        if sort == "next" and due_at is not None:
            return lambda key: (due_at(key) if due_at(key) is not None else math.inf, position[key])
        return lambda key: (position[key],)

    def apply(self, result: CheckResult) -> TenantRow | None:
        """Record one result; returns the row, or None for a tenant no longer listed.

        Changes worth telling the operator about (not a tenant's first state) are kept
        in :attr:`changes` until the app takes them with :meth:`take_changes`.
        """
        row = self.rows.get(result.tenant.key)
        if row is None:
            return None
        outage = self.outage
        if outage and not result.during_outage and outage.covers(result.error, result.checked_at):
            result = replace(result, during_outage=True)  # failed before it was detected
        self.counts[row.bucket] -= 1
        if self.counts[row.bucket] == 0:
            del self.counts[row.bucket]
        previous_state = row.state
        severity_before = row.severity
        failed_before = row.failure_logged
        row.last = result
        row.checks += 1
        row.bump()
        events: list[Event] = []
        if result.error is None and result.state is not None:
            row.state = result.state
            row.last_success_at = result.checked_at
            row.failure_logged = False
            if result.state.is_running:
                row.running_checks += 1
            events = self._changes(row, previous_state, result, failed_before)
        elif not failed_before and not result.during_outage:
            # During the board's own outage the outage is the one event, not each tenant.
            message = result.error.message if result.error else "no answer"
            events = [Event(result.checked_at, "failure", f"check failed: {message}")]
            row.failure_logged = True
        self.counts[row.bucket] += 1
        severity_after = row.severity
        if not row.severity_changes or row.severity_changes[-1][1] != severity_after:
            row.severity_changes.append((result.checked_at, severity_after))
        worse = _rank(severity_after) > _rank(severity_before) and severity_before is not None
        for event in events:
            row.history.append(event)
            if row.history.maxlen and len(row.history) == row.history.maxlen:
                row.history_trimmed = True
            if previous_state is not None or event.kind != "state":
                self.changes.append(Change(row, event, worse and event.kind != "endpoint"))
        return row

    def take_changes(self) -> list[Change]:
        changes, self.changes = self.changes, []
        return changes

    def outage_changed(self, outage: Outage) -> list[TenantRow]:
        """Our own outage began (``outage.ended`` None) or ended. When it begins, the rows
        whose last check failed the network way since its first failure failed because of
        it, before the monitor could tell: they read as the others held in the outage do
        (stale, from their last known state), and their "check failed" events are
        withdrawn (so no "checks succeed again" follows); such failures applied later
        (results still on their way) are the outage's too. Returns the rows changed; the
        caller withdraws the events it logged (:meth:`~tenantboard.eventlog.EventLog.
        withdraw_failures`)."""
        self.outage = replace(outage)  # a copy: the monitor changes its own
        if outage.ended is not None:
            return []
        since = outage.since
        found = []
        for row in self.rows.values():
            last = row.last
            if last is None or last.during_outage or not outage.covers(last.error, last.checked_at):
                continue
            self.counts[row.bucket] -= 1
            if self.counts[row.bucket] == 0:
                del self.counts[row.bucket]
            row.last = replace(last, during_outage=True)
            self.counts[row.bucket] += 1
            kept = [e for e in row.history if not (e.kind == "failure" and e.at >= since)]
            if len(kept) < len(row.history):  # its "check failed" was this outage's
                row.failure_logged = False
                row.history.clear()
                row.history.extend(kept)
            while row.severity_changes and row.severity_changes[-1][0] >= since:
                row.severity_changes.pop()
            if not row.severity_changes or row.severity_changes[-1][1] != row.severity:
                row.severity_changes.append((last.checked_at, row.severity))
            row.bump()
            found.append(row)
        keys = {row.tenant.key for row in found}
        self.changes = [
            change
            for change in self.changes
            if not (
                change.event.kind == "failure"
                and change.event.at >= since
                and change.row.tenant.key in keys
            )
        ]
        return found

    def _changes(
        self,
        row: TenantRow,
        before: TenantState | None,
        result: CheckResult,
        failed_before: bool,
    ) -> list[Event]:
        after = result.state
        assert after is not None
        at = result.checked_at
        events: list[Event] = []
        if failed_before:
            events.append(Event(at, "recovery", "checks succeed again"))
        if before is None or before.state_name != after.state_name:
            was = f"{before.state_name} → " if before else ""
            events.append(Event(at, "state", f"{was}{after.state_name}"))
        moved = before is not None and before.endpoint != after.endpoint
        row.endpoint_moved = moved and bool(before and before.endpoint and after.endpoint)
        # A state without an endpoint (maintenance, provisioning) is told by the state
        # event; the move is logged when an endpoint is named again, from the last one.
        previous_endpoint = row.last_endpoint
        if after.endpoint:
            row.last_endpoint = after.endpoint
            if previous_endpoint and previous_endpoint != after.endpoint:
                events.append(
                    Event(at, "endpoint", f"endpoint {previous_endpoint} → {after.endpoint}")
                )
        return events

    def set_version(
        self,
        key: str,
        endpoint: str | None,
        answer: VersionAnswer | None,
        error: CheckError | None,
        at: datetime,
    ) -> TenantRow | None:
        row = self.rows.get(key)
        if row is None:
            return None
        row.version = VersionEntry(endpoint, answer, error, at, row.checks)
        row.bump()
        return row

    def pending(self) -> int:
        return self.counts.get(PENDING_BUCKET, 0)


def _uptime_rank(row: TenantRow) -> float:
    return math.inf if row.uptime_24h is None else row.uptime_24h


def _rank(severity: Severity | None) -> int:
    return -1 if severity is None else int(severity)


def _severity_rank(row: TenantRow) -> int:
    return _rank(row.severity)


def checked_text(row: TenantRow, now: datetime, *, outage: bool = False) -> str:
    """The Checked cell: how long ago the row was checked; while our own outage lasts
    (``outage``), or when its last check failed in it, how old its last known state is
    ("stale 1m"): every row then reads alike, whether checked just before the outage or
    failed in it."""
    if row.last is None:
        return "never"
    if (row.stale or outage) and row.last_success_at is not None:
        age = max(0.0, (now - row.last_success_at).total_seconds())
        return f"stale {duration(age) if age >= 60 else f'{int(age) // 5 * 5}s'}"
    return ago(row.last.checked_at, now)


def describe_next(
    row: TenantRow,
    *,
    checking: bool,
    paused: bool,
    due: float | None,
    now: float,
    outage: bool = False,
) -> tuple[str, str]:
    """When the row is checked next, short (for the table), and why (for the detail pane).

    ``outage``: the board cannot reach SuperOffice (``Monitor.outage``), so no tenant is
    checked on its own schedule until a probe gets through."""
    if checking:
        return "checking…", "a check is in flight"
    if paused:
        return "paused", "refreshing is paused"
    if outage or (row.last is not None and row.last.during_outage):
        return "waiting", "SuperOffice cannot be reached: re-checked when a probe gets through"
    if due is None:
        return "-", "not scheduled"
    planned = row.last.next_check if row.last else None
    if planned is None:
        return ("queued" if due <= now else until(due, now)), "first check"
    if row.last is not None and row.last.next_due is not None and due < row.last.next_due - 1:
        return "queued", "manual refresh, ahead of the queue"
    left = duration(due - now)
    if planned.reason == "Retry-After":
        return f"retry {left}", "the server asked us to wait (Retry-After)"
    if planned.reason.startswith("backoff"):
        return f"backoff {left}", planned.reason
    return until(due, now), planned.reason
