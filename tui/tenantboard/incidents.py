"""One incident per host: many tenants of one endpoint host turning bad together (UI-free).

When a host (``online3.superoffice.com``) fails, hundreds of its tenants turn Unknown at
once. The :class:`IncidentDetector` sees every applied result and opens one
:class:`HostIncident` for the host instead: one event, one header line, one alert message
in place of the tenants' own, and one "resolved" when most are back.

The rules (``[incidents]`` in the tenant file, :class:`~tenantboard.tenant_file.IncidentRules`):

- A tenant **turns bad** when a check answers worse than a warning (an Unknown, Suspended or
  other critical state, or a failed check that got an answer: a 5xx, a bad body) after it
  was OK or a warning this session. A tenant's first result is where it stands, not a
  change: a host full of long-deleted tenants is no incident.
- The host's tenants are those whose last named Endpoint is on it (``TenantRow.host``).
- An incident **opens** when, within ``within`` seconds (120), at least ``min_tenants`` (5)
  of the host's tenants turned bad and are still bad, and they are at least ``min_share``
  (half) of the host's tenants heard from in that time. Each tenant is checked on its own
  schedule, so "half of the host" is judged among those checked in the window; once it is
  open, its other tenants are re-checked at once (the session does) to know the size.
- While it is open, every tenant of the host that turns bad joins it; its **members'**
  own alert messages and notices are held back (they are still logged and recorded).
- It is **resolved** once ``resolved_share`` (80 %) of its members are back (not bad).
  Members still bad then are on their own again.
- **Our own outage comes first.** A check that got no answer at all (DNS, connect, TLS,
  timeout: :data:`~tenantboard.connectivity.NETWORK_KINDS`) says nothing about the tenant's
  host (every state call goes to the environment's discovery host), and a result in our
  own outage says nothing about anything: neither opens, joins nor resolves an incident.
- **Planned work is not an incident.** A tenant that a maintenance window covers
  (maintenance.py) is left out while it does.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tenantboard.answers import Severity
from tenantboard.clock import utc_iso
from tenantboard.connectivity import is_network_failure
from tenantboard.engine import CheckResult
from tenantboard.eventlog import LoggedEvent
from tenantboard.humanize import duration, time_range
from tenantboard.rows import ERROR_BUCKET, TenantRow
from tenantboard.tenant_file import IncidentRules

#: Resolved incidents kept in memory (for /api/incidents and the detail pane).
KEEP_RESOLVED = 50
#: How the checks that failed with an answer are named in an incident's headline.
FAILING_CHECKS = "failing checks"


def is_bad(severity: Severity | None) -> bool:
    """Worse than a warning: what a host failure looks like (maintenance is a warning)."""
    return severity is not None and severity >= Severity.UNKNOWN


def says_something_about_the_host(result: CheckResult) -> bool:
    """False for a result of our own outage or a check that got no answer at all."""
    return not result.during_outage and not is_network_failure(result.error)


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


@dataclass(eq=False)
class HostIncident:
    """One host's incident: its members (tenants that turned bad) and how many are back."""

    number: int
    host: str
    #: When its first member turned bad.
    since: datetime
    opened_at: datetime
    #: Member key -> still bad.
    members: dict[str, bool]
    #: The host's tenants (those last seen on it), kept up to date while it is open.
    tenants: int
    #: The most common bad state among the members still bad ("Unknown", "failing checks").
    state: str
    peak: int = 0
    resolved_at: datetime | None = None
    #: Its row in the history database, once written (the writer's thread sets it).
    history_id: int | None = None
    #: The members as they were first written to the history (the writer adds the rest).
    recorded: set[str] = field(default_factory=set)
    #: Members a maintenance window took over while it was open: planned work now, not this
    #: incident's (counted as no longer bad, but not as back).
    planned: set[str] = field(default_factory=set)

    @property
    def bad(self) -> int:
        return sum(self.members.values())

    @property
    def back(self) -> int:
        return len(self.members) - self.bad

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def id(self) -> str:
        """Stable across processes on the same file: the host and when it began."""
        return f"{self.host}@{self.since.strftime('%Y%m%dT%H%M%SZ')}"

    def headline(self) -> str:
        """``online3.superoffice.com: 412 of 530 tenants Unknown since 14:02``."""
        return f"{self.host}: {self._what()}"

    def resolved_text(self) -> str:
        """``online3.superoffice.com: resolved, 400 of 412 tenants back (14:02-14:19, 17m)``."""
        return f"{self.host}: {self._resolved()}"

    def _what(self) -> str:
        which = "tenant" if self.tenants == 1 else "tenants"
        return f"{self.bad} of {self.tenants} {which} {self.state} since {_local_time(self.since)}"

    def _resolved(self) -> str:
        end = self.resolved_at or self.since
        length = duration((end - self.since).total_seconds())
        handed = f", {len(self.planned)} in a maintenance window" if self.planned else ""
        return (
            f"resolved, {self.back - len(self.planned)} of {len(self.members)} tenants back"
            f"{handed} ({'-'.join(time_range(self.since, end))}, {length})"
        )

    def event(self) -> LoggedEvent:
        """The one event the incident logs when it opens, and the one when it resolves:
        named after the host (the event log shows ``online3.superoffice.com: 412 of 530
        tenants Unknown since 14:02``)."""
        if self.is_open:
            return LoggedEvent(
                self.opened_at, "", self.host, "incident", self._what(), "critical", True
            )
        assert self.resolved_at is not None
        return LoggedEvent(self.resolved_at, "", self.host, "incident", self._resolved(), "ok")

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "host": self.host,
            "status": "open" if self.is_open else "resolved",
            "state": self.state,
            "since": utc_iso(self.since),
            "opened_at": utc_iso(self.opened_at),
            "resolved_at": utc_iso(self.resolved_at),
            "tenants_on_host": self.tenants,
            "members": len(self.members),
            "bad": self.bad,
            "back": self.back,
            "peak": self.peak,
            "headline": self.headline() if self.is_open else self.resolved_text(),
            "member_keys": sorted(self.members),
        }


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """What happened to an incident in one batch: "opened", "grew" (members joined or came
    back), or "resolved"."""

    incident: HostIncident
    what: str
    #: Members that joined in this batch (all of them when it opened).
    joined: tuple[str, ...] = ()


@dataclass(slots=True)
class _Host:
    """What the detector knows of one host's tenants."""

    tenants: set[str] = field(default_factory=set)
    #: (when, key) of every real check of its tenants, the newest ``within`` seconds.
    checks: deque[tuple[datetime, str]] = field(default_factory=deque)
    checked: Counter[str] = field(default_factory=Counter)
    #: Tenants that turned bad and are still bad: when they turned.
    turned_bad: dict[str, datetime] = field(default_factory=dict)


class IncidentDetector:
    """Watches applied results for hosts whose tenants turn bad together (see the module)."""

    def __init__(self, rules: IncidentRules | None = None, *, detects: bool = True) -> None:
        self.rules = rules or IncidentRules()
        #: False on a board attached to `serve`: serve detects, and the board takes the
        #: incidents it reports (:meth:`take`), holding no checks of its own.
        self.detects = detects
        self.open: dict[str, HostIncident] = {}
        self.resolved: deque[HostIncident] = deque(maxlen=KEEP_RESOLVED)
        #: Incidents opened since the session began (for /metrics).
        self.opened_total = 0
        self._hosts: dict[str, _Host] = {}
        #: Each tenant's host and whether it was bad at its last result that counted.
        self._host_of: dict[str, str] = {}
        self._bad: dict[str, bool] = {}
        self._bucket: dict[str, str] = {}
        #: Members of incidents resolved by the latest batch that are back: their own
        #: recoveries in that batch are the incident's "resolved", not theirs.
        self._released: set[str] = set()
        self._numbers = 0

    # -- what the session asks -----------------------------------------------------------

    def holds(self, key: str) -> bool:
        """True while the tenant's own messages are held back by an incident."""
        if key in self._released:
            return True
        incident = self.open.get(self._host_of.get(key, ""))
        return incident is not None and key in incident.members

    def incident_of(self, key: str) -> HostIncident | None:
        """The open incident the tenant is part of, else the newest resolved one it was."""
        incident = self.open.get(self._host_of.get(key, ""))
        if incident is not None and key in incident.members:
            return incident
        for resolved in reversed(self.resolved):
            if key in resolved.members:
                return resolved
        return None

    def all(self) -> list[HostIncident]:
        """Open incidents, then resolved ones, newest first."""
        opened = sorted(self.open.values(), key=lambda i: i.opened_at, reverse=True)
        return [*opened, *reversed(self.resolved)]

    def host_tenants(self, host: str) -> set[str]:
        found = self._hosts.get(host)
        return set(found.tenants) if found else set()

    # -- watching --------------------------------------------------------------------------

    def observe(self, pairs: Iterable[tuple[CheckResult, TenantRow]]) -> list[IncidentChange]:
        """One batch of applied results (each with its row, already updated); the
        incidents it opened, grew or resolved."""
        self._released = set()
        if not self.detects:
            return []
        triggered: set[str] = set()
        touched: set[str] = set()
        newest: datetime | None = None
        for result, row in pairs:
            result = row.last or result  # as the model took it (our outage's, found late)
            if not says_something_about_the_host(result):
                continue  # our outage's
            key = row.tenant.key
            if row.window is not None:  # planned work in a maintenance window
                handed = self._hand_over(key)
                if handed:
                    touched.add(handed)
                    newest = result.checked_at if newest is None else max(newest, result.checked_at)
                continue
            host = self._follow_host(key, row.host)
            if not host:
                continue
            at = result.checked_at
            newest = at if newest is None or at > newest else newest
            place = self._hosts[host]
            place.checks.append((at, key))
            place.checked[key] += 1
            bad, was = is_bad(row.severity), self._bad.get(key)
            self._bad[key] = bad
            self._bucket[key] = row.bucket
            touched.add(host)
            if bad and was is False:
                place.turned_bad[key] = at
                triggered.add(host)
            elif not bad:
                place.turned_bad.pop(key, None)
        if newest is None:
            return []
        changes: list[IncidentChange] = []
        for host in sorted(touched):
            self._forget_old_checks(self._hosts[host], newest)
            change = self._look_at(host, newest, opening=host in triggered)
            if change is not None:
                changes.append(change)
        return changes

    def _hand_over(self, key: str) -> str | None:
        """A member of an open incident that a maintenance window now covers is planned
        work, no longer the incident's (so the incident can resolve while the window holds
        its tenants down); returns its host when it was such a member."""
        host = self._host_of.get(key)
        incident = self.open.get(host or "")
        if host is None or incident is None or not incident.members.get(key):
            return None
        incident.members[key] = False
        incident.planned.add(key)
        self._bad[key] = False
        self._hosts[host].turned_bad.pop(key, None)
        return host

    def _follow_host(self, key: str, host: str) -> str:
        """The tenant's host now; a tenant that moved leaves its old host (as if back)."""
        before = self._host_of.get(key)
        if before == host:
            return host
        if before:
            self._leave(key, before)
        if host:
            self._host_of[key] = host
            place = self._hosts.get(host)
            if place is None:  # not setdefault: a _Host made for every result costs
                place = self._hosts[host] = _Host()
            place.tenants.add(key)
        return host

    def _leave(self, key: str, host: str) -> None:
        place = self._hosts.get(host)
        if place is not None:
            place.tenants.discard(key)
            place.turned_bad.pop(key, None)
        incident = self.open.get(host)
        if incident is not None and key in incident.members:
            incident.members[key] = False
        self._host_of.pop(key, None)

    def _forget_old_checks(self, place: _Host, now: datetime) -> None:
        oldest = now - timedelta(seconds=self.rules.within)
        while place.checks and place.checks[0][0] < oldest:
            _, key = place.checks.popleft()
            place.checked[key] -= 1
            if place.checked[key] <= 0:
                del place.checked[key]

    def _look_at(self, host: str, now: datetime, *, opening: bool) -> IncidentChange | None:
        place = self._hosts[host]
        incident = self.open.get(host)
        if incident is None:
            if opening and self.rules.enabled:
                return self._maybe_open(host, place, now)
            return None
        joined = tuple(
            key
            for key, at in place.turned_bad.items()
            if at >= incident.since and key not in incident.members
        )
        changed = bool(joined)
        for key in joined:
            incident.members[key] = True
        for key, still_bad in incident.members.items():
            now_bad = self._bad.get(key, False) and self._host_of.get(key) == host
            if now_bad != still_bad:
                incident.members[key] = now_bad
                changed = True
        incident.tenants = len(place.tenants)
        incident.peak = max(incident.peak, incident.bad)
        incident.state = self._state_of(incident)
        if incident.back >= self.rules.resolved_share * len(incident.members):
            return self._resolve(incident, now, joined)
        return IncidentChange(incident, "grew", joined) if changed else None

    def _maybe_open(self, host: str, place: _Host, now: datetime) -> IncidentChange | None:
        rules = self.rules
        oldest = now - timedelta(seconds=rules.within)
        recent = {key: at for key, at in place.turned_bad.items() if at >= oldest}
        heard_from = len(place.checked)
        if len(recent) < rules.min_tenants or len(recent) < rules.min_share * heard_from:
            return None
        self._numbers += 1
        self.opened_total += 1
        incident = HostIncident(
            number=self._numbers,
            host=host,
            since=min(recent.values()),
            opened_at=now,
            members=dict.fromkeys(recent, True),
            tenants=len(place.tenants),
            state="",
        )
        incident.peak = incident.bad
        incident.state = self._state_of(incident)
        self.open[host] = incident
        return IncidentChange(incident, "opened", tuple(incident.members))

    def _resolve(
        self, incident: HostIncident, now: datetime, joined: tuple[str, ...]
    ) -> IncidentChange:
        incident.resolved_at = now
        del self.open[incident.host]
        self.resolved.append(incident)
        self._released = {key for key, bad in incident.members.items() if not bad}
        return IncidentChange(incident, "resolved", joined)

    def _state_of(self, incident: HostIncident) -> str:
        buckets = Counter(self._bucket.get(key, "") for key, bad in incident.members.items() if bad)
        if not buckets:
            return incident.state or "bad"
        bucket = buckets.most_common(1)[0][0]
        return FAILING_CHECKS if bucket == ERROR_BUCKET else bucket

    # -- taking over from another poller ----------------------------------------------------

    def adopt(
        self,
        recorded: HostIncident,
        rows: Mapping[str, TenantRow],
    ) -> HostIncident:
        """An incident the poller before this process opened and recorded, and had not
        resolved when it ended: carried on from here under its recorded start and opening
        (so resolving it updates the same history row, and no second one opens for the
        host). One this detector opened too, from its own checks, becomes that one. Each
        member is as bad as the detector knows it, else as its row's last result since the
        incident began, else still bad until it is heard from. Returns the incident kept."""
        host = recorded.host
        incident = self.open.get(host)
        if incident is None:
            self._numbers += 1
            incident = replace(recorded, number=self._numbers, members={}, recorded=set())
            self.open[host] = incident
        else:
            incident.since, incident.opened_at = recorded.since, recorded.opened_at
            incident.peak = max(incident.peak, recorded.peak)
        for key in recorded.members:
            if key in incident.members:
                continue
            row = rows.get(key)
            last = row.last if row is not None else None
            if last is None or last.checked_at < recorded.since:
                self._bad[key] = True  # not heard from since it began: bad until it is
            elif key not in self._bad and row is not None:
                self._bad[key] = is_bad(row.severity)
                self._bucket[key] = row.bucket
            if self._host_of.get(key) is None:
                self._follow_host(key, host)
            incident.members[key] = self._bad[key] and self._host_of.get(key) == host
        place = self._hosts.setdefault(host, _Host())
        incident.tenants = max(len(place.tenants), incident.tenants)
        incident.state = self._state_of(incident)
        return incident

    # -- taking the incidents another process detects ----------------------------------------

    def take(self, incident: HostIncident) -> IncidentChange | None:
        """An incident as `serve` reports it now (an attached board's): it replaces what
        was known of it. Returns what that is to this detector: "opened" (new and open),
        "grew", "resolved" (was open), or None (a resolved one not seen open: kept for
        the detail pane, nothing to tell)."""
        host = incident.host
        known = self.open.get(host)
        for key in incident.members:
            self._host_of[key] = host
        if incident.is_open:
            self.open[host] = incident
            if known is not None and known.id == incident.id:
                incident.number = known.number
                return IncidentChange(incident, "grew")
            self._numbers += 1
            incident.number = self._numbers
            self.opened_total += 1
            return IncidentChange(incident, "opened", tuple(incident.members))
        if any(seen.id == incident.id for seen in self.resolved):
            return None
        self.resolved.append(incident)
        if known is None or known.id != incident.id:
            return None
        incident.number = known.number
        del self.open[host]
        return IncidentChange(incident, "resolved")

    # -- the list and the rules -------------------------------------------------------------

    def forget(self, keys: Iterable[str]) -> list[IncidentChange]:
        """Tenants no longer listed: they leave their host (and its incident)."""
        changes = []
        for key in keys:
            host = self._host_of.get(key)
            self._bad.pop(key, None)
            self._bucket.pop(key, None)
            if host:
                self._leave(key, host)
                incident = self.open.get(host)
                if incident is not None:
                    incident.members.pop(key, None)
                    if not incident.members:
                        changes.append(self._resolve(incident, incident.opened_at, ()))
        return changes

    def set_rules(self, rules: IncidentRules) -> None:
        self.rules = rules
