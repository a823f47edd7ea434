"""What the board knows about each tenant, kept up to date from check results.

Pure and UI-free: the widgets read it, the app feeds it. It keeps the last result, the
last good answer, the session's history of state changes and endpoint moves, the
version-info cache, and the counts the header shows.
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tenantboard.answers import Severity, State, TenantState, VersionAnswer
from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError
from tenantboard.groups import NO_GROUP, group_sort_key, group_values, version_label
from tenantboard.humanize import ago, duration, host_of, until
from tenantboard.releases import describe_change, version_matches
from tenantboard.tenant import Tenant

if TYPE_CHECKING:
    from tenantboard.maintenance import Window

#: Lines of a view without groups looked up one at a time (:meth:`BoardModel.index_of`)
#: before their positions are made.
SCANS_BEFORE_POSITIONS = 8
#: A filter that lets fewer than this share of the list through is grouped from the
#: tenants it lets through; more, from each group's tenants kept (:meth:`BoardModel.
#: _shown_members`): a pass in Python over the few, or a pass in C over them all.
FEW_SHOWN = 0.4
#: Per tenant, the newest events kept for the detail pane, and severity changes kept for the
#: timeline. Bounded so that memory stays flat when thousands of tenants keep changing all
#: day; the event log keeps the longer story.
HISTORY_LIMIT = 12
TIMELINE_LIMIT = 24
_REVISIONS = itertools.count()
ERROR_BUCKET = "error"
PENDING_BUCKET = "not checked yet"
_BUCKET_SEVERITY: dict[str, Severity | None] = {state.name: state.severity for state in State}
_BUCKET_SEVERITY[ERROR_BUCKET] = Severity.UNKNOWN
_BUCKET_SEVERITY[PENDING_BUCKET] = None


def bucket_severity(bucket: str) -> Severity | None:
    """The severity of what the header counts a row as (a state name not documented is
    an unknown state; not checked yet is None)."""
    return _BUCKET_SEVERITY.get(bucket, Severity.UNKNOWN)


class Bounded(list):  # type: ignore[type-arg]
    """A list that keeps only its newest ``maxlen`` items, as ``deque(maxlen=...)`` does.

    A tenant's row keeps two of these from its first check on: an empty deque costs 760
    bytes (it allocates a block of 64 slots), a list of one item about 100, which is
    130 MB less at 100,000 tenants."""

    __slots__ = ("maxlen",)

    def __init__(self, maxlen: int, items: Iterable[Any] = ()) -> None:
        super().__init__()
        self.maxlen = maxlen
        if items:  # (a new row's two are empty: 200,000 calls saved at 100,000 tenants)
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
    kind: str  # "state", "endpoint", "version", "failure", "recovery"
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
    #: Checks that observed the tenant (not those failed in our own outage), and how many
    #: of them answered running: the detail pane's share.
    observed_checks: int = 0
    running_checks: int = 0
    endpoint_moved: bool = False
    #: When the last successful check answered: a stale row's age is measured from it.
    last_success_at: datetime | None = None
    #: The last endpoint an answer named: a move is logged from it to the next one named,
    #: even across states that name none (maintenance, provisioning).
    last_endpoint: str | None = None
    #: The host of :attr:`last_endpoint` ("" before any answer named one): the tenant's
    #: group by host, and the host a host incident is about.
    host: str = ""
    #: The last version an answer named: a change is logged from it to the next one named,
    #: even across answers that name none (seeded from the history at start).
    last_version: str | None = None
    #: (version, endpoint host) of the last answer, None before one: what the versions
    #: view and /metrics count (:attr:`BoardModel.versions`).
    running_on: tuple[str | None, str | None] | None = None
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
    #: The answer :attr:`version_label` was last made from, and what it made: grouping
    #: 10,000 rows by version asks for it 10,000 times.
    _labelled: TenantState | None = None
    _label: str | None = None

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
        last, state = self.last, self.state  # (asked of every row when grouping)
        if last is None:
            return PENDING_BUCKET
        if state is None or (last.error is not None and not last.during_outage):
            return ERROR_BUCKET  # (with a state, failing in our own outage is stale)
        return state.state_name

    @property
    def version_label(self) -> str | None:
        """The Version column: the release the state answer names, and only that (the
        NetServer version from the Api link is in the detail pane), so the column means
        the same for every row whether or not its pane was opened."""
        state = self.state
        if state is not self._labelled:
            self._labelled = state
            self._label = version_label(state.version) if state is not None else None
        return self._label

    @property
    def needs_attention(self) -> bool:
        """Not OK: a warning or critical state, a failed check, or a contradictory answer;
        and not muted or acknowledged (someone is on it already), nor in a maintenance
        window (planned)."""
        if self.mark is not None or self.window is not None:
            return False
        return self.not_ok

    @property
    def not_ok(self) -> bool:
        """A warning or critical state, a failed check, or a contradictory answer, whether
        or not someone is on it or a maintenance window covers it."""
        severity = self.severity
        if severity is None:
            return False
        return severity is not Severity.OK or bool(self.state and self.state.running_mismatch)

    @property
    def search_text(self) -> str:
        """What the filter matches: context id, label, environment, host, state, version.

        Made anew each time: the model keeps every row's, and makes again only those of
        the rows that changed (:meth:`BoardModel.search_texts`)."""
        state = self.state
        parts = [self.tenant.context_id, self.tenant.label, self.tenant.env, self.bucket]
        if state is not None:
            parts += [state.endpoint or "", state.state_name, state.version or ""]
        return " ".join(parts).casefold()

    def group_values(self, dimension: str) -> tuple[str, ...]:
        """The groups of ``dimension`` this tenant is in (see groups.py)."""
        version = self.version_label if dimension == "version" else None
        return group_values(dimension, self.tenant, self.host, version)

    def version_is_stale(self) -> bool:
        """True when version info should be (re)fetched for the current endpoint."""
        if self.state is None or not self.state.is_running:
            return False
        entry = self.version
        if entry is None:
            return True
        outdated = entry.endpoint != self.state.endpoint or entry.error is not None
        return outdated and entry.check_number < self.checks


#: Events that never count as a change for the worse, whatever the state did meanwhile.
NEVER_WORSE = frozenset({"endpoint", "version"})


def _version_is(row: TenantRow, wanted: str) -> bool:
    return row.state is not None and version_matches(row.state.version, wanted)


def _starts_with(values: tuple[str, ...], wanted: str) -> bool:
    wanted = wanted.casefold()
    return any(value.casefold().startswith(wanted) for value in values)


#: The filter's ``name:value`` terms: each name and what a row must be to match it. The
#: groups (groups.py) by the start of their names, in any case: ``host:online3`` finds
#: ``online3.superoffice.com``, ``tag:acme`` a tenant tagged ``Acme``; a version as
#: releases.py matches it.
FIELD_FILTERS: dict[str, Callable[[TenantRow, str], bool]] = {
    "version": _version_is,
    "host": lambda row, wanted: _starts_with((row.host,), wanted),
    "env": lambda row, wanted: _starts_with((row.tenant.env,), wanted),
    "tag": lambda row, wanted: _starts_with(row.tenant.tags, wanted),
}


def filter_terms(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The filter's free text (matched against :attr:`TenantRow.search_text`) and its
    field terms, e.g. ``version:Release_11.10_2026.02.24-02`` (one word each). A word
    whose name is not in :data:`FIELD_FILTERS` (``online:Cust1001``) is free text."""
    words: list[str] = []
    terms: list[tuple[str, str]] = []
    for word in text.split():
        name, colon, value = word.partition(":")
        if colon and value and name.casefold() in FIELD_FILTERS:
            terms.append((name.casefold(), value))
        else:
            words.append(word)
    return " ".join(words).casefold(), terms


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
    #: The dimension the rows are grouped by (groups.DIMENSIONS), or None.
    group_by: str | None = None
    #: The groups folded to their header line, per dimension.
    collapsed: dict[str, set[str]] = field(default_factory=dict)

    @property
    def depends_on_results(self) -> bool:
        """True when new results can change which rows show or their order."""
        return self.sort in ("severity", "next") or bool(self.filter_text) or self.attention_only


#: A group's header line is named by this and its value in the view's lines: no tenant key
#: (``env:CustN``) starts with a control character.
GROUP_LINE = "\x1d"


def group_line_id(value: str) -> str:
    """The line id of a group's header line in :attr:`BoardModel.lines`."""
    return f"{GROUP_LINE}{value}"


@dataclass(slots=True, eq=False)
class GroupLine:
    """A header line of the grouped view: one group, and what its tenants shown add up to.

    Its counts and uptime are made when first asked (the table asks only for the headers
    on screen: a view of 30,000 tenants in a hundred groups draws two or three), then
    ``counts`` follows results as they arrive (:meth:`BoardModel.apply`), so the header is
    current between two recomputations of the view."""

    dimension: str
    value: str
    #: The group's tenants that pass the filter, in the view's order (folded ones too).
    keys: list[str]
    #: Every row by key, and every row's bucket (:attr:`BoardModel.buckets`): what the
    #: counts and uptime are made from.
    rows: Mapping[str, TenantRow] = field(repr=False)
    buckets: Mapping[str, str] = field(repr=False)
    collapsed: bool = False
    revision: int = field(default_factory=lambda: next(_REVISIONS))
    _counts: Counter[str] | None = field(default=None, init=False, repr=False)
    _uptime: float | None = field(default=None, init=False, repr=False)
    _uptime_made: bool = field(default=False, init=False, repr=False)

    @property
    def line_id(self) -> str:
        return group_line_id(self.value)

    def bump(self) -> None:
        self.revision = next(_REVISIONS)

    @property
    def counts(self) -> Counter[str]:
        """Tenants per bucket (state name, errors, not checked yet)."""
        if self._counts is None:
            self._counts = Counter(map(self.buckets.__getitem__, self.keys))
        return self._counts

    def moved(self, bucket_before: str, bucket: str) -> None:
        """One of its tenants went from one bucket to another."""
        if self._counts is not None:
            self._counts[bucket_before] -= 1
            self._counts[bucket] += 1
        self.bump()

    @property
    def uptime(self) -> float | None:
        """The mean of its tenants' 24-hour uptime, where known."""
        if not self._uptime_made:
            self._uptime = _mean(map(_UPTIME_OF, map(self.rows.__getitem__, self.keys)))
            self._uptime_made = True
        return self._uptime

    def uptime_changed(self) -> None:
        """Its tenants' uptime was read again."""
        self._uptime_made = False
        self.bump()

    def by_severity(self) -> Counter[Severity | None]:
        found: Counter[Severity | None] = Counter()
        for bucket, number in self.counts.items():
            found[bucket_severity(bucket)] += number
        return found

    @property
    def worst_bucket(self) -> str | None:
        """The bucket of the worst tenants in it (None when it has none)."""
        present = [bucket for bucket, number in self.counts.items() if number > 0]
        if not present:
            return None
        return max(present, key=lambda bucket: (_rank(bucket_severity(bucket)), bucket))

    @property
    def worst(self) -> Severity | None:
        bucket = self.worst_bucket
        return bucket_severity(bucket) if bucket is not None else None


class BoardModel:
    """All rows, the view of them (filtered and sorted), and the per-bucket counts."""

    def __init__(self, tenants: Iterable[Tenant]) -> None:
        self.rows: dict[str, TenantRow] = {}
        self.list_order: list[str] = []
        #: The tenants of :attr:`list_order`, each its row's (``rows[key].tenant``).
        self._listed: list[Tenant] = []
        #: The tenants shown (passing the filter), in the order shown, each once.
        self.order: list[str] = []
        #: What the table draws, a line each: tenant keys and, grouped, the groups' header
        #: lines (:attr:`headers`); a folded group's tenants are not among them. Without
        #: grouping it is :attr:`order` itself.
        self.lines: list[str] = self.order
        #: The grouped view's header lines by line id.
        self.headers: dict[str, GroupLine] = {}
        #: Each tenant's header line(s) (several when grouped by tag).
        self.groups_of: dict[str, Sequence[GroupLine]] = {}
        #: True when a result moved a tenant to another group: the view is out of date.
        self.regroup_needed = False
        #: Each line's index by its id; None until asked for often enough after the view
        #: was made (:meth:`index_of`).
        self._position: dict[str, int] | None = {}
        #: Lines looked up one by one since the view was made without :attr:`_position`.
        self._scans = 0
        #: A tenant's further lines, when it is shown under several tags.
        self._more_positions: dict[str, list[int]] = {}
        self.counts: Counter[str] = Counter()
        #: Each row's :attr:`TenantRow.bucket`, kept with :attr:`counts`: a group's counts
        #: are made from it in C (10,000 rows in a millisecond, not five).
        self.buckets: dict[str, str] = {}
        #: Tenants per (version, endpoint host) of their last answer, kept as results come,
        #: so that counting 10,000 tenants by version costs nothing at a scrape.
        self.versions: Counter[tuple[str | None, str | None]] = Counter()
        #: One tuple of each (version, endpoint host) seen, shared by the rows that run
        #: on it (a tuple a row is 5.6 MB at 100,000 tenants; there are a few hundred).
        self._places: dict[tuple[str | None, str | None], tuple[str | None, str | None]] = {}
        self.view = ViewOptions()
        self.changes: list[Change] = []
        #: Our latest outage as last told (:meth:`outage_changed`).
        self.outage: Outage | None = None
        #: Every row's :attr:`TenantRow.search_text`, in the list's order, from the first
        #: filter on (:meth:`search_texts`), kept with the rows as results come. A
        #: keystroke in the filter then reads a string per row, not a row, its tenant and
        #: its state, nor makes again those of the rows changed since the last (at 100,000
        #: tenants: a few milliseconds, not tens).
        self._texts: dict[str, str] = {}
        #: The dimension grouped by and each of its groups' tenants, of the whole list in
        #: its order (:meth:`_listed_members`); None when not kept.
        self._members: tuple[str, dict[str, list[str]]] | None = None
        self.set_tenants(tenants)

    def __len__(self) -> int:
        """The lines the table draws."""
        return len(self.lines)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def shown(self) -> int:
        """The tenants shown (folded groups' too): those that pass the filter."""
        return len(self.order)

    def row_at(self, index: int) -> TenantRow | None:
        if 0 <= index < len(self.lines):
            return self.rows.get(self.lines[index])
        return None

    def header_at(self, index: int) -> GroupLine | None:
        if 0 <= index < len(self.lines) and self.headers:
            return self.headers.get(self.lines[index])
        return None

    def index_of(self, key: str) -> int | None:
        """The (first) line of a tenant, or of a header line by its id.

        A view without groups is made without its lines' positions (100,000 of them cost
        a keystroke tens of milliseconds), and the first few lookups after it scan the
        lines (in C: a fraction of a millisecond); more, and the positions are made."""
        position = self._position
        if position is None:
            if self._scans < SCANS_BEFORE_POSITIONS:
                self._scans += 1
                try:
                    return self.lines.index(key)
                except ValueError:
                    return None
            self._position = position = _positions(self.lines)
        return position.get(key)

    def indexes_of(self, key: str) -> list[int]:
        """Every line of a tenant (one, or one per tag when grouped by tag)."""
        first = self.index_of(key)
        if first is None:
            return []
        return [first, *self._more_positions.get(key, ())]

    def set_tenants(self, tenants: Iterable[Tenant]) -> tuple[str, ...]:
        """Adopt the list's order; rows of tenants still listed keep what they know.
        Returns the keys of the tenants no longer listed, in the old list's order."""
        tenants = list(tenants)
        shown = len(self.list_order)
        self._members = None
        removed: tuple[str, ...] = ()
        if not self._extend(tenants):
            removed = self._replace(tenants)
        elif self._plain_view() and len(self.order) == shown:
            self._show_added(shown)  # (an attached board's list, a step at a time)
            return removed
        self.recompute_view()
        return removed

    def _plain_view(self) -> bool:
        """Every tenant shown, in the list's order, not grouped."""
        view = self.view
        return not (view.filter_text or view.attention_only or view.group_by) and (
            view.sort == "list"
        )

    def _show_added(self, start: int) -> None:
        """The plain view with the tenants added to the list from ``start`` on shown at
        its end: what :meth:`recompute_view` would make, without a pass over every row."""
        added = self.list_order[start:]
        self.order.extend(added)
        if self._position is not None:
            self._position.update(zip(added, range(start, start + len(added)), strict=True))
        self.regroup_needed = False

    def _extend(self, tenants: list[Tenant]) -> bool:
        """When ``tenants`` is the list as it is with new tenants at its end (an attached
        board's list arriving piece by piece), add their rows and return True: the rows
        already there are left as they are, counts and all. Otherwise change nothing."""
        rows, order = self.rows, self.list_order
        if len(tenants) < len(order):
            return False
        listed = self._listed
        # (compared in C, each item by identity first: 100,000 tenants in a millisecond)
        if tenants[: len(order)] != listed:
            return False
        added = tenants[len(order) :]
        keys = [tenant.key for tenant in added]
        if len(set(keys)) != len(keys) or not rows.keys().isdisjoint(keys):
            return False  # a tenant listed twice: the whole list decides
        for tenant, key in zip(added, keys, strict=True):
            rows[key] = TenantRow(tenant)
        order += keys
        listed += added
        if self._texts:
            self._texts.update({key: rows[key].search_text for key in keys})
        self.buckets.update(dict.fromkeys(keys, PENDING_BUCKET))
        self.counts[PENDING_BUCKET] += len(added)
        if not self.counts[PENDING_BUCKET]:
            del self.counts[PENDING_BUCKET]
        return True

    def _replace(self, tenants: list[Tenant]) -> tuple[str, ...]:
        rows: dict[str, TenantRow] = {}
        for tenant in tenants:
            row = self.rows.get(tenant.key)
            if row is None:
                row = TenantRow(tenant)
            elif row.tenant != tenant:
                row.tenant = tenant
                row.bump()
            rows[tenant.key] = row
        removed = tuple(key for key in self.list_order if key not in rows)
        self.rows = rows
        self.list_order = list(rows)
        self._listed = [row.tenant for row in rows.values()]
        self._texts = {}  # made again by the next filter
        self.buckets = {key: row.bucket for key, row in rows.items()}
        self.counts = Counter(self.buckets.values())
        self.versions = Counter(row.running_on for row in rows.values() if row.running_on)
        return removed

    def recompute_view(self, due_at: Callable[[str], float | None] | None = None) -> None:
        """Recompute which rows show and their order from the view options (and, grouped,
        the groups' header lines)."""
        view = self.view
        self.regroup_needed = False
        filtered = bool(view.filter_text or view.attention_only)
        if view.group_by is not None and view.sort == "list":
            self._group(self._shown_members(view.group_by), view.group_by)
            return
        self._members = None  # (its rows' moves are not followed while it is not used)
        keys = self.list_order
        if filtered:
            keys = self._filtered(view.filter_text, view.attention_only)
        if view.sort != "list":
            position = _positions(self.list_order)
            keys = sorted(keys, key=self._sort_key(view.sort, position, due_at))
        if view.group_by is None:
            self.order = self.lines = list(keys)
            self.headers, self.groups_of, self._more_positions = {}, {}, {}
            self._position, self._scans = None, 0  # made when asked (:meth:`index_of`)
            return
        self._group(self._members_of(keys, view.group_by), view.group_by)

    def _filtered(self, text: str, attention_only: bool) -> list[str]:
        """The keys, in the list's order, whose rows pass the filter line (free text, and
        its ``name:value`` terms: one of each name's values must match, every name given
        must) and, with ``attention_only``, need attention. Each test is a pass over
        what the one before let through, the free text's over strings alone."""
        rows = self.rows
        needle, terms = filter_terms(text)
        wanted: dict[str, list[str]] = {}
        for name, value in terms:
            wanted.setdefault(name, []).append(value)
        if needle:
            found = [key for key, text in self.search_texts().items() if needle in text]
        else:
            found = self.list_order
        if attention_only:
            found = [key for key in found if rows[key].needs_attention]
        for name, values in wanted.items():
            test = FIELD_FILTERS[name]
            found = [key for key in found if any(test(rows[key], value) for value in values)]
        return found

    def search_texts(self) -> dict[str, str]:
        """Every row's :attr:`TenantRow.search_text`, in the list's order (made on the
        first call, then kept as the rows change)."""
        if not self._texts:
            rows = self.rows
            self._texts = {key: rows[key].search_text for key in self.list_order}
        return self._texts

    def _text_changed(self, row: TenantRow) -> None:
        if self._texts:
            self._texts[row.tenant.key] = row.search_text

    def _shown_members(self, dimension: str) -> dict[str, list[str]]:
        """Each group of ``dimension`` and its tenants that pass the filter, in the list's
        order. Each group's tenants of the whole list are kept from one view to the next
        (until one moves to another group): a filter that lets many through keeps those
        of each group that pass (in C); one that lets few through groups those few."""
        view = self.view
        if self._members is not None and self._members[0] != dimension:
            self._members = None  # (its rows' moves are not followed while not grouped so)
        if not (view.filter_text or view.attention_only):
            return self._listed_members(dimension)
        found = self._filtered(view.filter_text, view.attention_only)
        if len(found) < len(self.list_order) * FEW_SHOWN:
            return self._members_of(found, dimension)
        passing = set(found)
        return {
            value: kept
            for value, keys in self._listed_members(dimension).items()
            if (kept := list(filter(passing.__contains__, keys)))
        }

    def _listed_members(self, dimension: str) -> dict[str, list[str]]:
        """Each group of ``dimension`` and its tenants, of the whole list in its order:
        made again only when a tenant moved to another group (:meth:`apply`) or the list
        changed (:meth:`set_tenants`)."""
        if self._members is None:
            self._members = (dimension, self._members_of(self.list_order, dimension))
        return self._members[1]

    def _members_of(self, keys: list[str], dimension: str) -> dict[str, list[str]]:
        """Each group of ``dimension`` and its tenants among ``keys``, in their order (in
        the order each group is first met). A pass in Python over the rows, made tight:
        30,000 by host in about 5 ms."""
        rows = self.rows
        members: defaultdict[str, list[str]] = defaultdict(list)
        value_of = _GROUP_OF.get(dimension)
        if value_of is not None:  # one group per tenant: its name in one call per row
            for key, value in zip(keys, map(value_of, map(rows.__getitem__, keys)), strict=True):
                members[value].append(key)
        else:
            for key in keys:
                for value in rows[key].group_values(dimension):
                    members[value].append(key)
        return members

    def _group(self, members: dict[str, list[str]], dimension: str) -> None:
        """The lines of the grouped view from each group's tenants shown: each group's
        header line, then its tenants (in the view's order) unless it is folded. Groups go
        by name, or worst first when the rows are sorted worst first. The lines and
        positions are built in C; the headers' counts are made when drawn."""
        rows = self.rows
        collapsed = self.view.collapsed.get(dimension, set())
        headers = [
            GroupLine(dimension, value, group_keys, rows, self.buckets, value in collapsed)
            for value, group_keys in members.items()
        ]
        # (by the name as written too: tags "Gold" and "gold" in the same order always)
        if self.view.sort == "severity":
            headers.sort(key=lambda h: (-_rank(h.worst), group_sort_key(h.value), h.value))
        else:
            headers.sort(key=lambda h: (group_sort_key(h.value), h.value))
        lines: list[str] = []
        groups_of: dict[str, Sequence[GroupLine]] = {}
        for header in headers:
            lines.append(header.line_id)
            if not header.collapsed:
                lines.extend(header.keys)
            if dimension != "tag":  # one group each: one shared tuple per group
                groups_of.update(dict.fromkeys(header.keys, (header,)))
        # Each tenant once, in the order of its (first) group.
        order: Iterable[str] = itertools.chain.from_iterable(header.keys for header in headers)
        if dimension == "tag":
            order = iter(dict.fromkeys(order))
        more: dict[str, list[int]] = {}
        if dimension == "tag":  # a tenant under each of its tags
            tagged: dict[str, list[GroupLine]] = {}
            for header in headers:
                for key in header.keys:
                    found = tagged.get(key)
                    if found is None:
                        tagged[key] = [header]
                    else:
                        found.append(header)
            groups_of = dict(tagged)
            position: dict[str, int] | None = {}
            for index, line in enumerate(lines):
                if line in position:
                    more.setdefault(line, []).append(index)
                else:
                    position[line] = index
        else:
            position, self._scans = None, 0  # a line each: made when asked (:meth:`index_of`)
        self.headers = {header.line_id: header for header in headers}
        self.groups_of, self._position, self._more_positions = groups_of, position, more
        self.lines, self.order = lines, list(order)

    def toggle_group(self, header: GroupLine) -> None:
        """Fold a group to its header line, or unfold it."""
        folded = self.view.collapsed.setdefault(header.dimension, set())
        folded.symmetric_difference_update({header.value})

    def refresh_group_uptime(self) -> None:
        """The headers' 24-hour uptime again (when next drawn), after the rows' was read."""
        for header in self.headers.values():
            header.uptime_changed()

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
        bucket_before = row.bucket
        grouped_before = self._grouped_as(row)
        self.counts[bucket_before] -= 1
        if self.counts[bucket_before] == 0:
            del self.counts[bucket_before]
        previous_state = row.state
        severity_before = row.severity
        failed_before = row.failure_logged
        row.last = result
        row.checks += 1
        if not result.during_outage:
            row.observed_checks += 1
        row.bump()
        events: list[Event] = []
        if result.error is None and result.state is not None:
            row.state = result.state
            row.last_success_at = result.checked_at
            self._count_version(row, previous_state, result.state)
            row.failure_logged = False
            if result.state.is_running:
                row.running_checks += 1
            events = self._changes(row, previous_state, result, failed_before)
        elif not failed_before and not result.during_outage:
            # During the board's own outage the outage is the one event, not each tenant.
            message = result.error.message if result.error else "no answer"
            events = [Event(result.checked_at, "failure", f"check failed: {message}")]
            row.failure_logged = True
        bucket = self.buckets[result.tenant.key] = row.bucket
        self.counts[bucket] += 1
        self._text_changed(row)
        if grouped_before is not None:
            self._regroup_row(row, bucket_before, bucket, grouped_before)
        severity_after = row.severity
        if not row.severity_changes or row.severity_changes[-1][1] != severity_after:
            row.severity_changes.append((result.checked_at, severity_after))
        worse = _rank(severity_after) > _rank(severity_before) and severity_before is not None
        for event in events:
            row.history.append(event)
            if row.history.maxlen and len(row.history) == row.history.maxlen:
                row.history_trimmed = True
            if previous_state is not None or event.kind != "state":
                self.changes.append(Change(row, event, worse and event.kind not in NEVER_WORSE))
        return row

    def _grouped_as(self, row: TenantRow) -> tuple[str, ...] | None:
        dimension = self.view.group_by
        if dimension and (self.headers or self._members is not None):
            return row.group_values(dimension)
        return None

    def _regroup_row(
        self,
        row: TenantRow,
        bucket_before: str,
        bucket: str,
        grouped_before: tuple[str, ...],
    ) -> None:
        """Keep the headers' counts with the row; a row that moved to another group
        (another host, another version) makes the view out of date."""
        if bucket != bucket_before:
            for header in self.groups_of.get(row.tenant.key, ()):
                header.moved(bucket_before, bucket)
        if grouped_before != self._grouped_as(row):
            self.regroup_needed = True
            self._members = None

    def _count_version(
        self, row: TenantRow, before: TenantState | None, state: TenantState
    ) -> None:
        if before is not None and (before.version, before.endpoint) == (
            state.version,
            state.endpoint,
        ):
            return  # most answers: nothing to recount
        running_on = (state.version or None, host_of(state.endpoint) or None)
        running_on = self._places.setdefault(running_on, running_on)
        if running_on == row.running_on:
            return
        if row.running_on is not None:
            self.versions[row.running_on] -= 1
            if not self.versions[row.running_on]:
                del self.versions[row.running_on]
        self.versions[running_on] += 1
        row.running_on = running_on

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
            row.observed_checks -= 1  # its last check was the outage's, not the tenant's
            self.counts[row.bucket] += 1
            self.buckets[row.tenant.key] = row.bucket
            self._text_changed(row)
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
            # (a first answer's event says the state itself: no copy of it a tenant)
            text = f"{before.state_name} → {after.state_name}" if before else after.state_name
            events.append(Event(at, "state", text))
        moved = before is not None and before.endpoint != after.endpoint
        row.endpoint_moved = moved and bool(before and before.endpoint and after.endpoint)
        # A state without an endpoint (maintenance, provisioning) is told by the state
        # event; the move is logged when an endpoint is named again, from the last one.
        previous_endpoint = row.last_endpoint
        if after.endpoint:
            if after.endpoint != previous_endpoint:
                row.host = host_of(after.endpoint)
            row.last_endpoint = after.endpoint
            if previous_endpoint and previous_endpoint != after.endpoint:
                events.append(
                    Event(at, "endpoint", f"endpoint {previous_endpoint} → {after.endpoint}")
                )
        # Likewise a version: an answer that names none (maintenance) changes nothing.
        previous_version = row.last_version
        if after.version:
            row.last_version = after.version
            if previous_version and previous_version != after.version:
                events.append(
                    Event(at, "version", describe_change(previous_version, after.version))
                )
        return events

    def seed_versions(self, recorded: Mapping[str, str], at: datetime) -> list[Change]:
        """Each tenant's last recorded version (from the history, read as the session
        starts), so that the first answer naming another one is a change. A tenant whose
        answer already came, naming another version, changed while nothing watched it:
        that is returned as a change (at ``at``), to be told."""
        changes = []
        for key, version in recorded.items():
            row = self.rows.get(key)
            if row is None or not version or row.last_version == version:
                continue
            if row.last_version is None:
                row.last_version = version
                continue
            event = Event(at, "version", describe_change(version, row.last_version))
            row.history.append(event)
            row.bump()
            changes.append(Change(row, event, False))
        return changes

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


def _positions(keys: list[str]) -> dict[str, int]:
    """Each key's index in ``keys`` (made in C: 100,000 keys in a few milliseconds)."""
    return dict(zip(keys, range(len(keys)), strict=True))


def _mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values known (None: not known), or None when none is."""
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


#: A row's one group, per dimension whose tenants are each in one: what
#: :meth:`TenantRow.group_values` answers (groups.group_values), without a tuple per row.
_GROUP_OF: dict[str, Callable[[TenantRow], str]] = {
    "host": lambda row: row.host or NO_GROUP,
    "env": lambda row: row.tenant.env,
    "version": lambda row: row.version_label or NO_GROUP,
}
_UPTIME_OF: Callable[[TenantRow], float | None] = operator.attrgetter("uptime_24h")


def _uptime_rank(row: TenantRow) -> float:
    return math.inf if row.uptime_24h is None else row.uptime_24h


def _rank(severity: Severity | None) -> int:
    return -1 if severity is None else int(severity)


def _severity_rank(row: TenantRow) -> int:
    return _rank(row.severity)


#: The widest text :func:`checked_text` makes ("stale 23h59m"; "23h59m ago" is 10): the
#: table's Checked column is this wide, and a gutter.
CHECKED_TEXT_WIDTH = len("stale 23h59m")


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
