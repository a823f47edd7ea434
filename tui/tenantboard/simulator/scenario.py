"""A faithful stand-in for SuperOffice's state API and version endpoint.

Tenants follow scripted profiles whose state changes over time (every documented state
appears), endpoints move between hosts, the discovery hosts answer 421 to API calls,
``ValidUntil`` is short for some and long for others, and a few tenants are slow or
failing. The scenario is a pure function of (tenant, time), so it serves any number of
tenants with no per-tenant memory.

A tenant's state can also be set by hand while the simulator runs (:meth:`Simulator.control`:
``PUT /_simulator/state/CTX/STATE`` and ``DELETE /_simulator/state/CTX``), so that an
end-to-end test can turn a tenant Suspended and back and watch the alert rules follow.

This module is the scenario and its routing (:meth:`Simulator.respond`), with no I/O. Two
ways in: :mod:`.transport` (in-process, no socket: the demo and the tests) and
:mod:`.server` (``tenantboard simulate``: HTTP/1.1 on 127.0.0.1 for end-to-end tests and
benchmarks). Both route by the request's host, as the real service does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from functools import lru_cache

from tenantboard.answers import State
from tenantboard.maintenance import Rule, SuperOfficeWindows, Window, scheduled
from tenantboard.releases import parse_release
from tenantboard.tenant import DISCOVERY_HOSTS, ENV_HOSTS, Tenant

WRONG_SUBDOMAIN = "Wrong subdomain used to access tenant"
#: The first path segment of the control requests; the real API has no such path.
CONTROL_PREFIX = "_simulator"
_STATE_NAME = re.compile(r"[A-Za-z]{1,40}")
_DOCUMENTED = {state.name.lower(): state for state in State}


@dataclass(frozen=True, slots=True)
class SimResponse:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    #: A fault below HTTP (chaos): "reset" drops the connection without an answer, "cut"
    #: sends the head and part of the body, then drops it.
    transport_fault: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the scenario says about one tenant at one moment."""

    state: str
    is_running: bool
    host: str | None
    valid_for: float
    api_host: str | None = None
    fault: str | None = None
    retry_after: int | None = None
    #: The release the answer names (``Version``); None: the scenario's default.
    version: str | None = None


Profile = Callable[[int, float, str], Answer]
#: What the tenants answer as their Version when no rollout is acted out (odd numbers only:
#: the field is optional, and the board must cope with answers that leave it out).
DEFAULT_VERSION = "Release_11.10_2026.02.24-02"


def _numbered(env: str, number: int, shift: int = 0) -> str:
    base = ENV_HOSTS[env].split(".", 1)[0]
    return f"{base}{2 + (number + shift) % 3}.superoffice.com"


def _moved(env: str, host: str) -> str:
    """Another of the environment's numbered hosts (a chaos move); others stay."""
    base = ENV_HOSTS[env].split(".", 1)[0]
    for index in range(3):
        if host == f"{base}{2 + index}.superoffice.com":
            return f"{base}{2 + (index + 1) % 3}.superoffice.com"
    return host


def _phase(number: int, elapsed: float, period: float) -> float:
    """Where in its own cycle a tenant is (0..period), offset so tenants do not move in step."""
    return (elapsed + (number * 37) % period) % period


def steady(number: int, elapsed: float, env: str) -> Answer:
    return Answer("Running", True, _numbered(env, number), 300)


def mover(number: int, elapsed: float, env: str) -> Answer:
    shift = int((elapsed + number * 11) // 180) % 2
    return Answer("Running", True, _numbered(env, number, shift), 60)


def maintenance(number: int, elapsed: float, env: str) -> Answer:
    if _phase(number, elapsed, 300) < 60:
        return Answer("OfflineMaintenance", False, _numbered(env, number), 30)
    return Answer("Running", True, _numbered(env, number), 120)


def online_maintenance(number: int, elapsed: float, env: str) -> Answer:
    if _phase(number, elapsed, 240) < 120:
        return Answer("OnlineMaintenance", True, _numbered(env, number), 60)
    return Answer("Running", True, _numbered(env, number), 60)


def provisioning(number: int, elapsed: float, env: str) -> Answer:
    if elapsed < 90:
        return Answer("Provisioning", False, None, 30)
    return Answer("Running", True, _numbered(env, number), 300)


def incident(number: int, elapsed: float, env: str) -> Answer:
    if _phase(number, elapsed, 360) < 60:
        return Answer("Unknown", False, None, 30)
    return Answer("Running", True, _numbered(env, number), 90)


def deleting(number: int, elapsed: float, env: str) -> Answer:
    phase = _phase(number, elapsed, 600)
    if phase < 200:
        return Answer("Deleting", False, None, 60)
    if phase < 400:
        return Answer("DeleteFailed", False, None, 120)
    return Answer("Deleted", False, None, 600)


def constant(state: str, valid_for: float = 900) -> Profile:
    def profile(number: int, elapsed: float, env: str) -> Answer:
        return Answer(state, False, None, valid_for)

    return profile


def app_host(number: int, elapsed: float, env: str) -> Answer:
    """The 2026 hosts have no number: they must not be mistaken for discovery hosts."""
    return Answer("Running", True, "app.superoffice.com", 300)


def stale_api_host(number: int, elapsed: float, env: str) -> Answer:
    """Api names the discovery host, which answers 421; Endpoint names the right one."""
    return Answer("Running", True, _numbered(env, number), 300, api_host=ENV_HOSTS[env])


def fault(kind: str, every: float = 0.0, retry_after: int | None = None) -> Profile:
    """Running, but the state call fails with ``kind`` (always, or half of each period)."""

    def profile(number: int, elapsed: float, env: str) -> Answer:
        failing = not every or _phase(number, elapsed, every) < every / 2
        return Answer(
            "Running",
            True,
            _numbered(env, number),
            120,
            fault=kind if failing else None,
            retry_after=retry_after,
        )

    return profile


def unrecognised(number: int, elapsed: float, env: str) -> Answer:
    return Answer("Hibernating", False, None, 300)


def disagreeing(number: int, elapsed: float, env: str) -> Answer:
    return Answer("Running", False, _numbered(env, number), 300, fault="running-mismatch")


#: The demo's tenants: one per behaviour, so every state and failure shows on the board.
DEMO_PROFILES: dict[int, tuple[str, str, Profile]] = {
    1001: ("Northwind Traders", "online", steady),
    1002: ("Contoso (moves hosts)", "online", mover),
    1003: ("Fabrikam (nightly maintenance)", "online", maintenance),
    1004: ("Tailspin Toys", "online", online_maintenance),
    1005: ("New customer onboarding", "online", provisioning),
    1006: ("Adventure Works", "online", incident),
    1007: ("Old trial account", "online", deleting),
    1008: ("Litware (unpaid)", "online", constant("Suspended")),
    1009: ("Proseware migration", "online", constant("MigrationPending", 7200)),
    1010: ("Failed signup", "sod", constant("ProvisioningFailed")),
    1011: ("Wingtip (2026 host)", "online", app_host),
    1012: ("Margie's Travel (stale Api host)", "online", stale_api_host),
    1013: ("Slow tenant", "stage", fault("slow")),
    1014: ("Flaky gateway", "online", fault("unavailable", every=180, retry_after=45)),
    1015: ("Broken proxy (HTML)", "stage", fault("html")),
    1016: ("Rate limited", "sod", fault("rate-limited", every=240, retry_after=90)),
    1017: ("Typo in the list", "online", fault("not-found")),
    1018: ("Future state", "sod", unrecognised),
    1019: ("Confused server", "stage", disagreeing),
    1020: ("Blue Yonder", "sod", steady),
    1021: ("Deleted long ago", "online", constant("Deleted")),
    1022: ("Lucerne Publishing", "online", mover),
}


def demo_tenants() -> list[Tenant]:
    return [
        Tenant(f"Cust{number}", env, label) for number, (label, env, _) in DEMO_PROFILES.items()
    ]


def profile_for(number: int) -> Profile:
    """The demo's explicit profiles, else a realistic mix for bulk tenants (benchmarks)."""
    if number in DEMO_PROFILES:
        return DEMO_PROFILES[number][2]
    bucket = zlib.crc32(number.to_bytes(8, "little")) % 100
    if bucket < 80:
        return steady
    if bucket < 90:
        return mover
    if bucket < 95:
        return maintenance
    if bucket < 98:
        return online_maintenance
    return incident


HOUR = 3600.0
DAY = 86400.0
YEAR = 365 * DAY


def _roll(seed: int, *parts: object) -> float:
    """A number in [0, 1) that depends only on the seed and ``parts``: the chaos plan is
    the same on every run with the same seed, and needs no memory per tenant."""
    text = ":".join(str(part) for part in (seed, *parts)).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class Chaos:
    """The faults of a long day, as a pure function of (seed, scenario time, tenant).

    Times are scenario seconds. Per tenant and minute: connection resets, answers cut off
    mid-body, short (truncated) bodies, slow answers, 429 with Retry-After. Per quarter
    hour: bursts of 5xx across a quarter of the tenants. Per hour: extra endpoint moves,
    and now and then a server ``Date`` (and ValidUntil with it) an hour or a year off.
    Per two hours, most likely an outage of the whole server, 1 to 20 minutes long, during
    which :mod:`.server` refuses every connection.
    """

    seed: int = 1
    reset: float = 0.004
    cut: float = 0.003
    short: float = 0.003
    slow: float = 0.005
    rate_limited: float = 0.003
    burst_chance: float = 0.1
    burst_share: float = 0.25
    move: float = 0.03
    date_jump_chance: float = 0.1
    outage_chance: float = 0.75
    outage_period: float = 2 * HOUR
    outage_shortest: float = 60.0
    outage_longest: float = 20 * 60.0

    def outage_in(self, period: int) -> tuple[float, float] | None:
        """The whole-server outage of one period, as (start, end), or None."""
        if _roll(self.seed, "outage", period) >= self.outage_chance:
            return None
        spread = self.outage_longest - self.outage_shortest
        length = self.outage_shortest + spread * _roll(self.seed, "length", period)
        begin = period * self.outage_period
        start = begin + (self.outage_period - length) * _roll(self.seed, "start", period)
        return start, start + length

    def server_down(self, elapsed: float) -> bool:
        window = self.outage_in(int(elapsed // self.outage_period))
        return window is not None and window[0] <= elapsed < window[1]

    def outages(self, until: float) -> list[tuple[float, float]]:
        """Every planned outage that starts before ``until`` (scenario seconds)."""
        periods = range(int(until // self.outage_period) + 1)
        windows = [self.outage_in(period) for period in periods]
        return [window for window in windows if window is not None and window[0] < until]

    def date_offset(self, elapsed: float) -> float:
        """Seconds the server's clock is off this hour (it sends Date and ValidUntil by it)."""
        hour = int(elapsed // HOUR)
        if _roll(self.seed, "date", hour) >= self.date_jump_chance:
            return 0.0
        return (-YEAR, -HOUR, HOUR, YEAR)[int(_roll(self.seed, "jump", hour) * 4)]

    def moved(self, number: int, elapsed: float) -> bool:
        return _roll(self.seed, "move", number, int(elapsed // HOUR)) < self.move

    def fault(self, number: int, elapsed: float) -> str | None:
        """This tenant's fault this minute: reset, cut, short, slow, rate-limited, 5xx."""
        quarter = int(elapsed // 900)
        bursting = _roll(self.seed, "burst", quarter) < self.burst_chance
        if bursting and _roll(self.seed, "burst-member", quarter, number) < self.burst_share:
            return "5xx"
        pick = _roll(self.seed, "fault", number, int(elapsed // 60))
        for name, chance in (
            ("reset", self.reset),
            ("cut", self.cut),
            ("short", self.short),
            ("slow", self.slow),
            ("rate-limited", self.rate_limited),
        ):
            if pick < chance:
                return name
            pick -= chance
        return None

    def respond(
        self, fault: str, number: int, elapsed: float, ok: SimResponse, slow_delay: float
    ) -> SimResponse:
        """The faulty form of the good answer ``ok``."""
        minute = int(elapsed // 60)
        if fault == "5xx":
            status = (500, 502, 503, 503)[int(_roll(self.seed, "status", number, minute) * 4)]
            retry = (("Retry-After", "120"),) if status == 503 else ()
            return _text(status, "Service Unavailable", ok.headers[:1] + retry)
        if fault == "rate-limited":
            wait = str(30 + int(270 * _roll(self.seed, "retry", number, minute)))
            return _text(429, "Too Many Requests", (*ok.headers[:1], ("Retry-After", wait)))
        if fault == "short":
            return replace(ok, body=ok.body[: len(ok.body) // 2])
        if fault == "slow":
            return replace(ok, delay=slow_delay * (0.25 + 1.75 * _roll(self.seed, number, minute)))
        return replace(ok, transport_fault=fault)  # reset, cut: the server drops the line


@dataclass
class MaintenanceNight:
    """SuperOffice's maintenance windows acted out, as a pure function of (seed, tenant,
    window): in each window, ``share`` of the tenants go OfflineMaintenance for 5 to 30
    minutes at a moment of their own; ``overrun`` of those stay down 10 to 40 minutes past
    the window's end. Times are wall-clock (the windows are), whatever the scenario's speed.

    ``rules``: SuperOffice's documented windows (recycle, weekly, patch) by default; a test
    or ``simulate --maintenance-night now`` gives its own."""

    rules: tuple[Rule, ...] = field(default_factory=lambda: tuple(SuperOfficeWindows().rules()))
    seed: int = 1
    share: float = 0.6
    overrun: float = 0.05
    _by_hour: dict[int, list[Window]] = field(default_factory=dict, repr=False)

    def windows_near(self, at: float) -> list[Window]:
        """The windows that may hold a tenant down at ``at`` (cached per hour)."""
        hour = int(at // 3600)
        found = self._by_hour.get(hour)
        if found is None:
            start = datetime.fromtimestamp(hour * 3600, UTC)
            found = scheduled(self.rules, start - timedelta(hours=1), start + timedelta(hours=1))
            self._by_hour = {hour: found}  # one hour at a time: memory stays flat
        return found

    def down_between(self, number: int, window: Window) -> tuple[float, float] | None:
        """When the tenant is down in ``window`` (epoch seconds), or None."""
        opens, closes = window.start.timestamp(), window.closes.timestamp()
        if _roll(self.seed, "night", number, opens) >= self.share:
            return None
        length = closes - opens
        start = opens + _roll(self.seed, "night-start", number, opens) * max(0.0, length - 1800)
        end = min(start + 300 + 1500 * _roll(self.seed, "night-length", number, opens), closes - 60)
        if _roll(self.seed, "night-overrun", number, opens) < self.overrun:
            end = closes + 600 + 1800 * _roll(self.seed, "overrun-length", number, opens)
        return start, end

    def down(self, number: int, at: float) -> bool:
        for window in self.windows_near(at):
            stretch = self.down_between(number, window)
            if stretch is not None and stretch[0] <= at < stretch[1]:
                return True
        return False


@dataclass(frozen=True, slots=True)
class Rollout:
    """SuperOffice rolling a release out over days, host by host (``simulate --rollout``).

    Each environment's numbered hosts (``online2``, ``online3``, ``online4``) take their
    turn, one a simulated day, and hosts without a number (``app.superoffice.com``) the
    day after; a tenant's turn is its home host's (where it lives when it does not move).
    On its host's day each tenant is upgraded at its own moment inside the night's upgrade
    window (20:00-05:00, the first ``window`` of the day): ``OfflineMaintenance`` for a few
    minutes, then running on the new release. Before, it answers the old one. A pure
    function of (tenant, scenario time), like the rest of the scenario.
    """

    old: str = "Release_11.9_2026.01.20-01"
    new: str = DEFAULT_VERSION
    #: Scenario seconds in one simulated day (``simulate --rollout-day``).
    day: float = DAY
    #: The share of a day the upgrades of one host spread over (9 hours of 24).
    window: float = 9 / 24
    #: Seconds each tenant is offline while upgraded (at most a 48th of a day).
    offline: float = 600.0

    def wave(self, host: str | None) -> int:
        """The day (from 0) the host is upgraded on."""
        name = (host or "").split(".", 1)[0]
        digits = name[len(name.rstrip("0123456789")) :]
        return int(digits) - 2 if digits and 2 <= int(digits) <= 4 else 3

    def upgraded_at(self, number: int, host: str | None) -> float:
        """Scenario seconds at which the tenant goes offline to be upgraded."""
        return (self.wave(host) + self.window * _roll(0, "rollout", number)) * self.day

    def at(self, number: int, host: str | None, elapsed: float) -> tuple[str, bool]:
        """The release the tenant runs at ``elapsed``, and whether it is offline for it."""
        start = self.upgraded_at(number, host)
        if elapsed < start:
            return self.old, False
        return self.new, elapsed < start + min(self.offline, self.day / 48)


def format_valid_until(moment: datetime) -> str:
    """The API's own format: 7 fractional digits and Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


# The simulator must stay well ahead of the fastest client (docs/performance.md): formatting
# the two times was a fifth of the Python work per answer, and within a second most
# answers share them.


@lru_cache(maxsize=8)
def _http_date(second: int) -> str:
    return formatdate(second, usegmt=True)


@lru_cache(maxsize=4096)
def _valid_until_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _valid_until(moment: float) -> str:
    """``format_valid_until`` for an epoch time, the second's text cached."""
    second = math.floor(moment)
    micro = round((moment - second) * 1_000_000)
    if micro == 1_000_000:
        second, micro = second + 1, 0
    return f"{_valid_until_second(second)}.{micro:06d}0Z"


@dataclass
class Simulator:
    """The scenario and the HTTP routing; ``now`` is injected (seconds since the epoch)."""

    now: Callable[[], float] = time.time
    slow_delay: float = 4.0
    #: With a number, tenants Cust1..CustN exist (plus the demo's); others are Unknown.
    tenant_count: int | None = None
    #: Scenario time runs this many times faster than real time (soak tests: more
    #: state changes and endpoint moves per minute); ValidUntil shrinks to match.
    speed: float = 1.0
    started: float = field(default=0.0)
    #: The faults of a long day (``simulate --chaos``), or None for a well-behaved server.
    chaos: Chaos | None = None
    #: States set by hand (:meth:`control`): tenant number -> the state it answers instead
    #: of its profile's, until cleared.
    overrides: dict[int, str] = field(default_factory=dict)
    #: SuperOffice's maintenance windows acted out (``simulate --maintenance-night``).
    maintenance: MaintenanceNight | None = None
    #: A release rolling out (``simulate --rollout``), or None: the default version.
    rollout: Rollout | None = None

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.now()

    def answer(self, number: int, env: str) -> Answer:
        beyond = self.tenant_count is not None and number > self.tenant_count
        if beyond and number not in DEMO_PROFILES:
            return Answer("Unknown", False, None, 900)
        elapsed = self.elapsed()
        answer = profile_for(number)(number, elapsed, env)
        if number in self.overrides:
            answer = _overridden(answer, self.overrides[number], number, env)
        if self.chaos is not None and answer.host and self.chaos.moved(number, elapsed):
            answer = replace(answer, host=_moved(env, answer.host), api_host=None)
        if self.maintenance is not None and self.maintenance.down(number, self.now()):
            answer = Answer("OfflineMaintenance", False, answer.host, min(answer.valid_for, 60))
        if self.rollout is not None:
            answer = self._rolled_out(answer, number, env, elapsed)
        if self.speed != 1.0:
            answer = replace(answer, valid_for=answer.valid_for / self.speed)
        return answer

    def _rolled_out(self, answer: Answer, number: int, env: str, elapsed: float) -> Answer:
        """The answer as the rollout has it: its release, offline while upgraded, and
        asked again soon enough to see the rollout move (an eighth of its day at most)."""
        assert self.rollout is not None
        version, offline = self.rollout.at(number, _numbered(env, number), elapsed)
        valid_for = min(answer.valid_for, self.rollout.day / 8)
        if offline:
            return Answer("OfflineMaintenance", False, None, min(valid_for, 60.0), version=version)
        return replace(answer, version=version, valid_for=valid_for)

    def elapsed(self) -> float:
        """Scenario seconds since the start."""
        return max(0.0, self.now() - self.started) * self.speed

    def server_down(self) -> bool:
        """True while the chaos plan has the whole server out (it refuses connections)."""
        return self.chaos is not None and self.chaos.server_down(self.elapsed())

    def respond(self, method: str, host: str, path: str) -> SimResponse:
        host = host.split(":", 1)[0].lower()
        parts = [part for part in path.split("?", 1)[0].split("/") if part]
        if parts and parts[0] == CONTROL_PREFIX:
            return self.control(method, parts[1:])
        if method not in ("GET", "HEAD"):
            return _text(405, "Method Not Allowed")
        if len(parts) == 3 and parts[:2] == ["api", "state"]:
            return self._state(host, parts[2])
        if len(parts) == 2 and parts[1].lower() == "api":
            return self._version(host, parts[0])
        return _text(404, "Not Found")

    def control(self, method: str, parts: list[str]) -> SimResponse:
        """Set a tenant's state by hand, clear it, or list what is set:

        - ``PUT /_simulator/state/CTX/STATE``: CTX answers STATE (a documented state, or
          any other word for an undocumented one) until cleared; 204.
        - ``DELETE /_simulator/state/CTX``: CTX follows its profile again; 204.
        - ``GET /_simulator/state``: ``{"Cust1001": "Suspended", ...}``.

        The next answer shows it; a client that is told ``ValidUntil`` far ahead only asks
        again then (``simulate --speed`` shortens it).
        """
        if not parts or parts[0] != "state" or len(parts) > 3:
            return _text(404, "Not Found")
        if len(parts) == 1:
            if method not in ("GET", "HEAD"):
                return _text(405, "Method Not Allowed")
            listed = {f"Cust{number}": state for number, state in sorted(self.overrides.items())}
            return SimResponse(200, json.dumps(listed).encode())
        number = _number(parts[1])
        if number is None:
            return _text(404, "Not Found")
        if method == "PUT" and len(parts) == 3:
            if not _STATE_NAME.fullmatch(parts[2]):
                return _text(400, "A state is a word of letters, e.g. Suspended")
            documented = _DOCUMENTED.get(parts[2].lower())
            self.overrides[number] = documented.name if documented else parts[2]
            return SimResponse(204, b"")
        if method == "DELETE" and len(parts) == 2:
            self.overrides.pop(number, None)
            return SimResponse(204, b"")
        return _text(405, "Method Not Allowed")

    def _env_of(self, host: str) -> str:
        for env, env_host in ENV_HOSTS.items():
            if host == env_host or host.startswith(env_host.split(".", 1)[0]):
                return env
        return "online"

    def _state(self, host: str, context_id: str) -> SimResponse:
        number = _number(context_id)
        if number is None:
            return _text(404, "Not Found")
        env = self._env_of(host)
        answer = self.answer(number, env)
        now = self.now()
        chaos_fault = None
        if self.chaos is not None:
            now += self.chaos.date_offset(self.elapsed())
            chaos_fault = self.chaos.fault(number, self.elapsed())
        headers = (("Date", _http_date(int(now))),)
        if answer.fault:
            faulty = _fault_response(answer, headers)
            if faulty is not None:
                return faulty
        ctx = f"Cust{number}"
        endpoint = f"https://{answer.host}/{ctx}" if answer.host else None
        api_host = answer.api_host or answer.host
        payload = {
            "ContextIdentifier": ctx,
            "Endpoint": endpoint,
            "State": answer.state,
            "IsRunning": answer.is_running if answer.fault != "running-mismatch" else False,
            "ValidUntil": _valid_until(now + answer.valid_for),
            "Api": f"https://{api_host}/{ctx}/api" if api_host else None,
        }
        version = answer.version or (DEFAULT_VERSION if number % 2 else None)
        if version:
            payload["Version"] = version
        delay = self.slow_delay if answer.fault == "slow" else 0.0
        ok = SimResponse(200, json.dumps(payload).encode(), headers=headers, delay=delay)
        if self.chaos is not None and chaos_fault is not None:
            return self.chaos.respond(chaos_fault, number, self.elapsed(), ok, self.slow_delay)
        return ok

    def _version(self, host: str, context_id: str) -> SimResponse:
        number = _number(context_id)
        if number is None:
            return _text(404, "Not Found")
        if host in DISCOVERY_HOSTS:
            return _text(421, WRONG_SUBDOMAIN)
        answer = self.answer(number, self._env_of(host))
        if not answer.is_running:
            return _text(503, "Service Unavailable")
        if answer.host != host:
            return _text(421, WRONG_SUBDOMAIN)
        document = version_document(number, host, answer.version)
        return SimResponse(200, json.dumps(document).encode())


def _overridden(answer: Answer, state: str, number: int, env: str) -> Answer:
    """The profile's answer with the state set by hand: IsRunning as documented for it
    (false for a state the API does not document), no fault, the same ValidUntil."""
    documented = _DOCUMENTED.get(state.lower())
    running = documented is not None and documented.is_running
    host = answer.host or (_numbered(env, number) if running else None)
    return Answer(state, running, host, answer.valid_for)


def version_document(number: int, host: str, release: str | None = None) -> dict[str, str]:
    """The document behind ``Api``; with ``release`` (a rollout), that release's label."""
    ctx = f"Cust{number}"
    if number % 5 == 0 and release is None:  # an older release, with the ServicesNN keys
        return {
            "v1": f"https://{host}:443/{ctx}/api/v1/",
            "NetServerVersion": "9.1.7583.012",
            "NetServerAssembly": "9.1.0.0",
            "NetServerDate": "2020-10-05",
            "NetServerLabel": "Release9_C-2020.10.05-01",
            "NetServer": "SuperOffice 9.1 R3 NetServer 9.1 Release (Build: Release9_C-2020.10.05-01)",
            "Services": "Services87",
            "ServicesCurrent": "Services88",
            "Services80": "https://" + host + f"/{ctx}/Remote/Services80/",
            "Version": "v1",
        }
    document = {
        "v1": f"https://{host}:443/{ctx}/api/v1/",
        "NetServerVersion": "11.10.721.0",
        "NetServerAssembly": "11.10.0.0",
        "NetServerDate": "2026-02-24",
        "NetServerLabel": "Release_11.10_2026.02.24-02",
        "NetServer": "SuperOffice 11.10 NetServer (Build: Release_11.10_2026.02.24-02)",
        "Services": "Services88",
        "ServicesCurrent": "Services88",
        "Version": "v1",
        "Documentation": "https://docs.superoffice.com/",
    }
    label = parse_release(release)
    if release is not None and label is not None:
        major, minor = label.numbers[:2]
        document["NetServerLabel"] = release
        document["NetServer"] = f"SuperOffice {major}.{minor} NetServer (Build: {release})"
        document["NetServerVersion"] = f"{major}.{minor}.721.0"
        document["NetServerAssembly"] = f"{major}.{minor}.0.0"
        if label.date is not None:
            document["NetServerDate"] = "{:04d}-{:02d}-{:02d}".format(*label.date)
    return document


def _number(context_id: str) -> int | None:
    if context_id[:4].lower() != "cust" or not context_id[4:].isdigit() or len(context_id) > 16:
        return None
    return int(context_id[4:])


def _text(status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> SimResponse:
    return SimResponse(status, text.encode(), "text/plain; charset=utf-8", headers)


def _fault_response(answer: Answer, headers: tuple[tuple[str, str], ...]) -> SimResponse | None:
    retry = (("Retry-After", str(answer.retry_after)),) if answer.retry_after else ()
    if answer.fault == "unavailable":
        return _text(503, "Service Unavailable", headers + retry)
    if answer.fault == "rate-limited":
        return _text(429, "Too Many Requests", headers + retry)
    if answer.fault == "not-found":
        return _text(404, "Not Found", headers)
    if answer.fault == "html":
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        return SimResponse(200, body, "text/html", headers)
    return None
