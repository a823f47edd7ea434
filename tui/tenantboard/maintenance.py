"""Planned maintenance: SuperOffice's documented windows, the operator's, and ad hoc ones.

UI-free and clock-free: every function is given the time it is about.

- **SuperOffice's own windows** (``../shared/reference/state-api.md``): the nightly app-pool
  recycle 01:00-03:00, the weekly maintenance Saturday 20:00 - Sunday 06:00, the patch
  window Thursday 22:00 - Friday 06:00, and the upgrade windows on Tuesdays and Fridays of
  every third week, 20:00-05:00. SuperOffice writes the times as "UTC+1"; they are read in
  its home zone, ``Europe/Oslo``, with summer time, unless ``[superoffice_maintenance]``
  says another ``time_zone``. Which weeks bring upgrades is announced, not computable: an
  ``upgrade_anchor`` (a date in an upgrade week) starts the three-week cycle, or
  ``upgrade_dates`` lists the announced days; with neither, no upgrade window is assumed.
  Each of the four can be switched off, for every environment or for one.
- **The operator's windows**: ``[[maintenance]]`` tables in the tenant file, once or
  repeating, covering all tenants or some (environments, hosts, tags, context ids).
- **Ad hoc windows**: started from the board or ``tenantboard maintenance start`` for a
  while, kept in the history database (so every process on the tenant file sees them),
  ended early at will.

A :class:`Rule` says when a window comes back; :meth:`Rule.occurrences` gives each
:class:`Window` (one stretch of time, in UTC) in a period. :class:`MaintenanceWatch` keeps
what is open now and answers "which window covers this tenant?".

Wall times are turned into moments day by day in the window's zone, so a window keeps its
wall-clock times across summer time: the nightly 01:00-03:00 lasts one hour on the night
the clocks go forward and three on the night they go back. A ``duration`` is elapsed time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tenantboard.answers import time_from_json
from tenantboard.clock import utc_iso
from tenantboard.errors import CheckError
from tenantboard.humanize import did_you_mean, host_of, parse_span
from tenantboard.sanitize import clean, quoted
from tenantboard.tenant import ENVIRONMENTS, Tenant, check_tag, normalize_context_id, normalize_env

#: SuperOffice's home time zone, in which its documented windows are read.
SUPEROFFICE_ZONE = "Europe/Oslo"
#: Where a window comes from.
SOURCES = ("superoffice", "file", "adhoc")
#: The longest a window may last: longer is a mistake, not maintenance.
LONGEST = timedelta(days=7)
DAY = timedelta(days=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {
    **{name: number for number, name in enumerate(WEEKDAYS)},
    **{
        name: number
        for number, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}
REPEATS: dict[str, frozenset[int]] = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}


# -- what a window covers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What a window covers: every tenant, or those that match each kind given (a tenant
    must match one value of every kind given: ``envs = ["online"]`` and ``tags = ["acme"]``
    is acme's tenants in online)."""

    everything: bool = False
    envs: frozenset[str] = frozenset()
    #: Endpoint hosts, full (``online3.superoffice.com``) or short (``online3``).
    hosts: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    #: Context ids, in every environment.
    context_ids: frozenset[str] = frozenset()
    #: Tenants by key (``online:Cust1``): the board's "this tenant" and "the shown ones".
    keys: frozenset[str] = frozenset()

    @property
    def needs_host(self) -> bool:
        return bool(self.hosts) and not self.everything

    def covers(self, tenant: Tenant, host: str | None) -> bool:
        if self.everything:
            return True
        if self.envs and tenant.env not in self.envs:
            return False
        if self.context_ids and tenant.context_id not in self.context_ids:
            return False
        if self.keys and tenant.key not in self.keys:
            return False
        if self.tags and self.tags.isdisjoint(tenant.tags):
            return False
        return not self.hosts or host_matches(host, self.hosts)

    def describe(self) -> str:
        """E.g. ``every tenant``, ``online``, ``host online3.superoffice.com``."""
        if self.everything:
            return "every tenant"
        parts = []
        for word, values in (
            ("environment", self.envs),
            ("host", self.hosts),
            ("tag", self.tags),
            ("tenant", self.context_ids | {key.replace(":", " ") for key in self.keys}),
        ):
            if values:
                shown = sorted(values)
                text = ", ".join(shown[:3]) + (
                    f" and {len(shown) - 3} more" if len(shown) > 3 else ""
                )
                parts.append(f"{word}{'s' if len(shown) > 1 else ''} {text}")
        return "; ".join(parts) or "nothing"

    def as_json(self) -> dict[str, Any]:
        if self.everything:
            return {"all": True}
        return {
            name: sorted(values)
            for name, values in (
                ("envs", self.envs),
                ("hosts", self.hosts),
                ("tags", self.tags),
                ("context_ids", self.context_ids),
                ("keys", self.keys),
            )
            if values
        }

    @classmethod
    def from_json(cls, data: Any) -> Scope:
        """The scope as :meth:`as_json` wrote it; what is not understood covers nothing
        (the history is not ours alone to trust)."""
        if not isinstance(data, dict):
            return cls()
        if data.get("all") is True:
            return EVERYTHING

        def values(name: str) -> frozenset[str]:
            found = data.get(name, [])
            if not isinstance(found, list):
                return frozenset()
            return frozenset(clean(str(value), 80) for value in found if isinstance(value, str))

        return cls(
            envs=values("envs"),
            hosts=values("hosts"),
            tags=values("tags"),
            context_ids=values("context_ids"),
            keys=values("keys"),
        )


EVERYTHING = Scope(everything=True)


def scope_misses(
    scope: Scope, tenants: Sequence[Tenant], hosts: Mapping[str, str | None]
) -> str | None:
    """Why ``scope`` covers none of ``tenants`` (``hosts``: each one's last known endpoint
    host, by key), for ``maintenance start``: each value given that matches no tenant, with
    the close matches among those that exist (a typo in ``--host`` would otherwise start a
    window that covers nothing); None when every value matches a tenant and the scope as a
    whole covers one."""
    known_hosts = {host.lower() for host in hosts.values() if host}
    kinds = (
        ("--env", scope.envs, {tenant.env for tenant in tenants}, "environments in the list"),
        ("--tag", scope.tags, {tag for t in tenants for tag in t.tags}, "tags in the list"),
        ("", scope.context_ids, {tenant.context_id for tenant in tenants}, "tenants in the list"),
    )
    misses = [
        _miss(f"{option} {value}".strip(), did_you_mean(value, known, what))
        for option, values, known, what in kinds
        for value in sorted(values)
        if value not in known
    ]
    for host in sorted(scope.hosts):
        if not any(host_matches(known, {host}) for known in known_hosts):
            names = known_hosts if "." in host else {name.split(".")[0] for name in known_hosts}
            hint = did_you_mean(host, names, "last known hosts")
            misses.append(
                _miss(f"--host {host}", hint or "no tenant's host is known yet: none was checked")
            )
    if misses:
        return "; ".join(misses)
    if scope.everything or any(scope.covers(t, hosts.get(t.key)) for t in tenants):
        return None
    return f"{scope.describe()} together match no tenant in the list"


def _miss(given: str, hint: str) -> str:
    """``--host onlin3 matches no tenant (did you mean online3?)``."""
    return f"{given} matches no tenant" + (f" ({hint})" if hint else "")


def host_matches(host: str | None, hosts: Iterable[str]) -> bool:
    """``online3.superoffice.com`` matches ``online3.superoffice.com`` and ``online3``."""
    if not host:
        return False
    host = host.lower()
    short = host.split(".", 1)[0]
    return any(host == wanted or ("." not in wanted and short == wanted) for wanted in hosts)


_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def check_host(text: str) -> str:
    """A host name as windows match it (lower case), or ValueError."""
    host = text.strip().lower()
    if not _HOST.fullmatch(host) or len(host) > 253:
        raise ValueError(f"{quoted(text, 60)} is not a host name (e.g. online3.superoffice.com)")
    return host


# -- one window -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """One stretch of planned maintenance, open from ``start`` until ``end`` (UTC), or until
    ``ended_at`` when it was ended early."""

    source: str  # one of SOURCES
    name: str
    start: datetime
    end: datetime
    scope: Scope = EVERYTHING
    #: The history database's row (ad hoc windows; negative: kept in memory only).
    id: int | None = None
    #: Who started an ad hoc window.
    by: str = ""
    ended_at: datetime | None = None

    @property
    def closes(self) -> datetime:
        """When it closes (or closed): its end, or earlier when it was ended early."""
        return min(self.end, self.ended_at) if self.ended_at is not None else self.end

    def open_at(self, now: datetime) -> bool:
        return self.start <= now < self.closes

    @property
    def identity(self) -> tuple[str, str, datetime]:
        return (self.source, self.name, self.start)

    @property
    def source_text(self) -> str:
        return {"superoffice": "SuperOffice", "file": "tenant file", "adhoc": "ad hoc"}.get(
            self.source, self.source
        )

    def until_text(self, now: datetime) -> str:
        """``until 06:00``, or ``until Sun 06:00`` when that is not today (local time)."""
        end = self.closes.astimezone()
        today = now.astimezone().date()
        return f"until {end:%H:%M}" if end.date() == today else f"until {end:%a %H:%M}"

    def describe(self, now: datetime) -> str:
        """E.g. ``SuperOffice weekly maintenance (SuperOffice) until Sun 06:00``."""
        return f"{self.name} ({self.source_text}) {self.until_text(now)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "name": self.name,
            "start": utc_iso(self.start),
            "end": utc_iso(self.closes),
            "planned_end": utc_iso(self.end),
            "ended_early": self.ended_at is not None and self.ended_at < self.end,
            "covers": self.scope.as_json(),
            "by": self.by or None,
        }

    @classmethod
    def from_json(cls, data: Any) -> Window:
        """A window as :meth:`as_json` wrote it, from another process (a ``serve``): its
        texts cleaned; ValueError for anything that is not one."""
        if not isinstance(data, dict) or data.get("source") not in SOURCES:
            raise ValueError("that is not a maintenance window")
        name = clean(data["name"], 120) if isinstance(data.get("name"), str) else ""
        if not name.strip():
            raise ValueError("a maintenance window needs a name")
        window_id = data.get("id")
        if window_id is not None and (
            not isinstance(window_id, int) or isinstance(window_id, bool)
        ):
            raise ValueError("a maintenance window's id must be a whole number")
        start = time_from_json(data.get("start"), "start")
        end = time_from_json(data.get("planned_end", data.get("end")), "planned_end")
        closes = time_from_json(data.get("end"), "end")
        if not start < end or closes > end:
            raise ValueError("a maintenance window must end after it starts")
        return cls(
            source=data["source"],
            name=name,
            start=start,
            end=end,
            scope=Scope.from_json(data.get("covers")),
            id=window_id,
            by=clean(str(data.get("by") or ""), 60),
            ended_at=closes if data.get("ended_early") is True else None,
        )


def scope_text(scope: Scope) -> str:
    return json.dumps(scope.as_json(), sort_keys=True)


# -- when windows come back --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """A window that comes back: from ``at`` (local wall time in ``zone``) on the days it
    starts on, until ``until`` (wall time, the next day when not after ``at``) or for
    ``length`` (elapsed).

    The days: ``weekdays`` (Monday 0), within ``first`` .. ``last``; only ``dates`` when
    they are given; and with ``anchor``, only in every ``every_weeks``-th week (Monday to
    Sunday) counted from the anchor's.
    """

    source: str
    name: str
    zone: tzinfo
    at: time
    until: time | None = None
    length: timedelta | None = None
    weekdays: frozenset[int] = REPEATS["daily"]
    first: date | None = None
    last: date | None = None
    dates: frozenset[date] | None = None
    anchor: date | None = None
    every_weeks: int = 1
    scope: Scope = EVERYTHING

    def starts_on(self, day: date) -> bool:
        if day.weekday() not in self.weekdays:
            return False
        if (self.first and day < self.first) or (self.last and day > self.last):
            return False
        if self.dates is not None and day not in self.dates:
            return False
        if self.anchor is not None:
            weeks = (_monday(day) - _monday(self.anchor)).days // 7
            return weeks % self.every_weeks == 0
        return True

    @property
    def longest(self) -> timedelta:
        return self.length if self.length is not None else DAY

    def window_on(self, day: date) -> Window:
        """The window that starts on ``day`` (which :meth:`starts_on`)."""
        start = datetime.combine(day, self.at, self.zone).astimezone(UTC)
        if self.length is not None:
            end = start + self.length  # elapsed: in UTC, whatever the clocks do meanwhile
        else:
            assert self.until is not None
            end_day = day if self.until > self.at else day + DAY
            end = datetime.combine(end_day, self.until, self.zone).astimezone(UTC)
        return Window(self.source, self.name, start, end, self.scope)

    def occurrences(self, since: datetime, until: datetime) -> Iterator[Window]:
        """Every window of this rule open at some moment of [since, until), oldest first."""
        day = since.astimezone(self.zone).date() - timedelta(days=self.longest.days + 1)
        last_day = until.astimezone(self.zone).date()
        if self.first is not None:
            day = max(day, self.first)
        if self.last is not None:
            last_day = min(last_day, self.last)
        while day <= last_day:
            if self.starts_on(day):
                window = self.window_on(day)
                if window.start < until and window.end > since:
                    yield window
            day += DAY


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


# -- SuperOffice's windows ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuiltIn:
    key: str
    name: str
    at: time
    until: time
    weekdays: frozenset[int]
    text: str


#: SuperOffice's documented windows, by the name the tenant file uses for each.
BUILT_IN: dict[str, BuiltIn] = {
    item.key: item
    for item in (
        BuiltIn(
            "recycle",
            "SuperOffice app-pool recycle",
            time(1),
            time(3),
            REPEATS["daily"],
            "every night 01:00-03:00",
        ),
        BuiltIn(
            "weekly",
            "SuperOffice weekly maintenance",
            time(20),
            time(6),
            frozenset({5}),
            "Saturday 20:00 - Sunday 06:00",
        ),
        BuiltIn(
            "patch",
            "SuperOffice patch window",
            time(22),
            time(6),
            frozenset({3}),
            "Thursday 22:00 - Friday 06:00",
        ),
        BuiltIn(
            "upgrade",
            "SuperOffice upgrade window",
            time(20),
            time(5),
            frozenset({1, 4}),
            "Tuesdays and Fridays of every third week, 20:00-05:00",
        ),
    )
}
UPGRADE_EVERY_WEEKS = 3


@dataclass(frozen=True, slots=True)
class SuperOfficeWindows:
    """``[superoffice_maintenance]``: which of SuperOffice's windows are expected, where."""

    #: The windows expected in every environment not named in ``per_env``.
    windows: frozenset[str] = frozenset(BUILT_IN)
    #: Per environment, the windows expected there instead (none: off there).
    per_env: tuple[tuple[str, frozenset[str]], ...] = ()
    zone_name: str = SUPEROFFICE_ZONE
    upgrade_anchor: date | None = None
    upgrade_dates: frozenset[date] = frozenset()

    @property
    def upgrades_known(self) -> bool:
        return self.upgrade_anchor is not None or bool(self.upgrade_dates)

    def envs_with(self, key: str) -> frozenset[str]:
        per_env = dict(self.per_env)
        return frozenset(env for env in ENVIRONMENTS if key in per_env.get(env, self.windows))

    def rules(self) -> list[Rule]:
        zone = parse_zone(self.zone_name)
        rules = []
        for key, item in BUILT_IN.items():
            envs = self.envs_with(key)
            if not envs or (key == "upgrade" and not self.upgrades_known):
                continue
            scope = EVERYTHING if envs == frozenset(ENVIRONMENTS) else Scope(envs=envs)
            rule = Rule(
                "superoffice",
                item.name,
                zone,
                item.at,
                until=item.until,
                weekdays=item.weekdays,
                scope=scope,
            )
            if key != "upgrade":
                rules.append(rule)
                continue
            if self.upgrade_anchor is not None:
                cycle = replace(rule, anchor=self.upgrade_anchor, every_weeks=UPGRADE_EVERY_WEEKS)
                rules.append(cycle)
            if self.upgrade_dates:  # announced days: whatever their weekday
                rules.append(replace(rule, weekdays=REPEATS["daily"], dates=self.upgrade_dates))
        return rules


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    """What the tenant file says: SuperOffice's windows and the operator's rules."""

    superoffice: SuperOfficeWindows = field(default_factory=SuperOfficeWindows)
    windows: tuple[Rule, ...] = ()

    def rules(self) -> list[Rule]:
        return [*self.superoffice.rules(), *self.windows]


def scheduled(rules: Iterable[Rule], since: datetime, until: datetime) -> list[Window]:
    """Every window of ``rules`` open at some moment of [since, until), by start."""
    found = [window for rule in rules for window in rule.occurrences(since, until)]
    return sorted(found, key=lambda window: (window.start, window.name))


# -- what is open now --------------------------------------------------------------------------


class MaintenanceWatch:
    """The windows open now (scheduled and ad hoc) and which covers a tenant."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        #: Ad hoc windows by id, open or to come.
        self.adhoc: dict[int, Window] = {}
        #: Open at the last look, the one that closes last first.
        self.open: tuple[Window, ...] = ()
        self._next_look: datetime | None = None

    def set_rules(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self._next_look = None

    def set_adhoc(self, windows: Iterable[Window]) -> None:
        self.adhoc = {window.id: window for window in windows if window.id is not None}
        self._next_look = None

    def open_at(self, now: datetime) -> tuple[Window, ...]:
        found = scheduled(self.rules, now, now + timedelta(seconds=1))
        found = [window for window in found if window.open_at(now)]
        found += [window for window in self.adhoc.values() if window.open_at(now)]
        return tuple(sorted(found, key=lambda window: window.closes, reverse=True))

    def look(self, now: datetime) -> tuple[list[Window], list[Window]]:
        """The windows that opened and closed since the last look (cheap until the next
        time something opens or closes, or the windows change)."""
        if self._next_look is not None and now < self._next_look:
            return [], []
        open_now = self.open_at(now)
        soon = scheduled(self.rules, now, now + DAY)
        times = [window.closes for window in open_now]
        times += [window.start for window in soon if window.start > now]
        times += [window.start for window in self.adhoc.values() if window.start > now]
        self._next_look = min(times, default=now + DAY)
        opened = [window for window in open_now if window not in self.open]
        closed = [window for window in self.open if window not in open_now]
        self.open = open_now
        return opened, closed

    def covering(self, tenant: Tenant, host: str | None) -> Window | None:
        """The open window that covers the tenant (the one that closes last), or None."""
        for window in self.open:
            if window.scope.covers(tenant, host):
                return window
        return None

    @property
    def needs_host(self) -> bool:
        """True when an open window covers by host (a tenant that moves may enter or leave)."""
        return any(window.scope.needs_host for window in self.open)


def header_text(windows: Sequence[Window], now: datetime, *, compact: bool = False) -> str:
    """The board's header: ``maintenance: SuperOffice weekly maintenance until Sun 06:00
    (+1 more)``; ``compact`` (80 columns) without the name: ``maintenance until Sun 06:00
    (+1)``, so that the tenants, the view and the clock still fit. Empty when none is open."""
    if not windows:
        return ""
    first = windows[0]
    if compact:
        more = f" (+{len(windows) - 1})" if len(windows) > 1 else ""
        return f"maintenance {first.until_text(now)}{more}"
    more = f" (+{len(windows) - 1} more)" if len(windows) > 1 else ""
    return f"maintenance: {first.name} {first.until_text(now)}{more}"


def tenant_host(endpoint: str | None) -> str | None:
    """The host a window matches for a tenant: its last named endpoint's."""
    return host_of(endpoint) or None


# -- the tenant file ---------------------------------------------------------------------------


class BadWindow(ValueError):
    """A maintenance setting that cannot be used; ``key`` is the one to look at, if any."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def parse_zone(text: str) -> tzinfo:
    """An IANA zone (``Europe/Oslo``), or a fixed offset as SuperOffice writes it
    (``UTC+1``, ``UTC+01:00``, ``UTC``); ValueError otherwise."""
    found = re.fullmatch(r"UTC(?:([+-])(\d{1,2})(?::?(\d{2}))?)?", text.strip(), re.IGNORECASE)
    if found:
        sign, hours, minutes = found.groups()
        offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        if offset > timedelta(hours=14):
            raise ValueError(f"{quoted(text, 20)} is more than 14 hours from UTC")
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{quoted(text, 40)} is not a time zone (e.g. Europe/Oslo, or UTC+1)"
        ) from None


def _windows_list(value: Any, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadWindow(f"{key} is a list of window names: {', '.join(BUILT_IN)}", key)
    unknown = sorted(set(value) - set(BUILT_IN))
    if unknown:
        raise BadWindow(
            f"{key}: no window {quoted(unknown[0])} (known: {', '.join(BUILT_IN)})", key
        )
    return frozenset(value)


def _date(value: Any, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise BadWindow(f"{key} is a date, e.g. 2026-03-03", key)


_SUPEROFFICE_KEYS = ("windows", "time_zone", "upgrade_anchor", "upgrade_dates", "envs")


def parse_superoffice(raw: Any) -> SuperOfficeWindows:
    """``[superoffice_maintenance]``; BadWindow naming the key at fault."""
    if not isinstance(raw, dict):
        raise BadWindow("[superoffice_maintenance] must be a table")
    unknown = sorted(set(raw) - set(_SUPEROFFICE_KEYS))
    if unknown:
        raise BadWindow(
            f"unknown key {quoted(unknown[0])} (known: {', '.join(_SUPEROFFICE_KEYS)})", unknown[0]
        )
    values: dict[str, Any] = {}
    if "windows" in raw:
        values["windows"] = _windows_list(raw["windows"], "windows")
    if "time_zone" in raw:
        zone = raw["time_zone"]
        try:
            parse_zone(zone if isinstance(zone, str) else "")
        except ValueError as exc:
            raise BadWindow(str(exc), "time_zone") from None
        values["zone_name"] = zone.strip()
    if "upgrade_anchor" in raw:
        values["upgrade_anchor"] = _date(raw["upgrade_anchor"], "upgrade_anchor")
    if "upgrade_dates" in raw:
        dates = raw["upgrade_dates"]
        if not isinstance(dates, list):
            raise BadWindow("upgrade_dates is a list of dates, e.g. [2026-03-03]", "upgrade_dates")
        values["upgrade_dates"] = frozenset(_date(item, "upgrade_dates") for item in dates)
    per_env = raw.get("envs", {})
    if not isinstance(per_env, dict):
        raise BadWindow("envs is a table: env = [windows], e.g. sod = []", "envs")
    envs: dict[str, frozenset[str]] = {}
    for name, listed in per_env.items():
        try:
            env = normalize_env(name)
        except CheckError as exc:
            raise BadWindow(f"envs: {exc.message}", name) from None
        envs[env] = _windows_list(listed, name)
    values["per_env"] = tuple(sorted(envs.items()))
    found = SuperOfficeWindows(**values)
    listed_upgrade = "upgrade" in raw.get("windows", []) or any(
        "upgrade" in listed for listed in envs.values()
    )
    if listed_upgrade and not found.upgrades_known:
        raise BadWindow(
            "upgrade is listed, but neither upgrade_anchor nor upgrade_dates says which weeks "
            "(SuperOffice announces them)",
            "windows",
        )
    return found


_WINDOW_KEYS = (
    "name", "start", "duration", "end", "repeat", "time_zone",
    "all", "envs", "hosts", "tags", "context_ids",
)  # fmt: skip
_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,60}")


def parse_window(entry: Any, index: int) -> Rule:
    """One ``[[maintenance]]`` table as a rule; BadWindow naming the key at fault."""
    if not isinstance(entry, dict):
        raise BadWindow("not a table")
    unknown = sorted(set(entry) - set(_WINDOW_KEYS))
    if unknown:
        raise BadWindow(
            f"unknown key {quoted(unknown[0])} (known: {', '.join(_WINDOW_KEYS)})", unknown[0]
        )
    name = entry.get("name", f"maintenance {index + 1}")
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise BadWindow("name is 1-60 characters of text", "name")
    zone_text = entry.get("time_zone", SUPEROFFICE_ZONE)
    try:
        zone = parse_zone(zone_text if isinstance(zone_text, str) else "")
    except ValueError as exc:
        raise BadWindow(str(exc), "time_zone") from None
    scope = _parse_scope(entry)
    start = _moment(entry.get("start"), "start")
    if isinstance(start, datetime) and start.tzinfo is not None:
        if "repeat" in entry:
            raise BadWindow("a repeating window starts at a local time; give time_zone", "start")
        zone, start = start.tzinfo, start.replace(tzinfo=None)
    weekdays, first, last = _repeat(entry, start)
    rule = Rule("file", name.strip(), zone, _time_of(start), weekdays=weekdays, scope=scope)
    rule = replace(rule, first=first, last=last)
    return _with_end(rule, entry, start)


def _moment(value: Any, key: str) -> datetime | time:
    """A TOML date-time or time, or the same as text (``22:00``, ``2026-03-07 22:00``)."""
    if isinstance(value, datetime | time):
        return value
    if isinstance(value, str):
        for parse in (time.fromisoformat, datetime.fromisoformat):
            try:
                return parse(value.strip())
            except ValueError:
                continue
    if value is None:
        raise BadWindow(f"{key} is missing: a date and time (2026-03-07T22:00), or a time "
                        "(22:00) with repeat", key)  # fmt: skip
    raise BadWindow(f"{key} is a date and time (2026-03-07T22:00:00) or a time of day (22:00)", key)


def _time_of(moment: datetime | time) -> time:
    return (moment.time() if isinstance(moment, datetime) else moment).replace(tzinfo=None)


def _repeat(entry: dict[str, Any], start: datetime | time) -> tuple[frozenset[int], Any, Any]:
    """(weekdays, first day, last day) from ``repeat`` and ``start``."""
    repeat = entry.get("repeat")
    day = start.date() if isinstance(start, datetime) else None
    if repeat is None:
        if day is None:
            raise BadWindow("a window without repeat starts at a date and time", "start")
        return REPEATS["daily"], day, day
    if repeat == "weekly":
        if day is None:
            raise BadWindow('repeat = "weekly" needs a start date (its weekday)', "start")
        return frozenset({day.weekday()}), day, None
    if isinstance(repeat, str) and repeat in REPEATS:
        return REPEATS[repeat], day, None
    if isinstance(repeat, list) and repeat and all(isinstance(item, str) for item in repeat):
        days = {_DAY_NAMES.get(item.strip().lower()) for item in repeat}
        if None not in days:
            return frozenset(d for d in days if d is not None), day, None
    raise BadWindow(
        'repeat is "daily", "weekdays", "weekends", "weekly" or days, e.g. ["mon", "thu"]',
        "repeat",
    )


def _with_end(rule: Rule, entry: dict[str, Any], start: datetime | time) -> Rule:
    if ("duration" in entry) == ("end" in entry):
        raise BadWindow("give either duration (e.g. 2h) or end", "duration")
    if "duration" in entry:
        text = entry["duration"]
        try:
            length = parse_span(text if isinstance(text, str) else "")
        except ValueError:
            raise BadWindow("duration is a span like 90m, 2h or 1d", "duration") from None
        if not timedelta(minutes=1) <= length <= LONGEST:
            raise BadWindow("duration is between 1 minute and 7 days", "duration")
        return replace(rule, length=length)
    end = _moment(entry["end"], "end")
    if isinstance(end, time):
        if end.replace(tzinfo=None) == rule.at:
            raise BadWindow("end is the same time as start", "end")
        return replace(rule, until=end.replace(tzinfo=None))
    if "repeat" in entry or not isinstance(start, datetime):
        raise BadWindow("a repeating window ends at a time of day (06:00)", "end")
    # In UTC: two times of one zone subtract as wall times, blind to a change of clocks.
    begins = datetime.combine(start.date(), rule.at, rule.zone).astimezone(UTC)
    length = end.replace(tzinfo=end.tzinfo or rule.zone).astimezone(UTC) - begins
    if not timedelta(minutes=1) <= length <= LONGEST:
        raise BadWindow("end is after start, at most 7 days later", "end")
    return replace(rule, length=length)


def _parse_scope(entry: dict[str, Any]) -> Scope:
    everything = entry.get("all", False)
    if not isinstance(everything, bool):
        raise BadWindow("all is true or false", "all")
    given = [key for key in ("envs", "hosts", "tags", "context_ids") if key in entry]
    if everything and given:
        raise BadWindow(f"all = true covers every tenant: leave out {given[0]}", given[0])
    if everything:
        return EVERYTHING
    if not given:
        raise BadWindow(
            "say what it covers: all = true, or envs, hosts, tags or context_ids", "all"
        )
    checks = {
        "envs": _env_name,
        "hosts": check_host,
        "tags": check_tag,
        "context_ids": normalize_context_id,
    }
    values: dict[str, frozenset[str]] = {}
    for key in given:
        listed = entry[key]
        if not isinstance(listed, list) or not listed:
            raise BadWindow(f'{key} is a non-empty list, e.g. {key} = ["..."]', key)
        try:
            values[key] = frozenset(checks[key](str(item)) for item in listed)
        except (ValueError, CheckError) as exc:
            message = exc.message if isinstance(exc, CheckError) else str(exc)
            raise BadWindow(f"{key}: {message}", key) from None
    return Scope(**values)


def _env_name(text: str) -> str:
    return normalize_env(text)
