"""Telling our own outage from the tenants': pure, UI-free, driven by an injected clock.

When the machine running the board loses the network (VPN drop, Wi-Fi, DNS), every tenant
fails at once. Backing each of them off on its own then leaves most rows red long after
the network is back, and costs a thousand useless connection attempts. So the monitor
feeds every result to a :class:`ConnectivityDetector`; once it says "outage", the monitor
stops checking tenants one by one, probes with one request at a time, and re-checks
everyone, stalest first, when a probe gets through.

A tenant's own failures (404, 421, 429, 5xx, a bad answer) all come *with an answer from
SuperOffice*: they prove the network works, so they never start an outage and they end one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenantboard.answers import time_from_json
from tenantboard.clock import utc_iso
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.humanize import clock_time, length, plural, time_range
from tenantboard.sanitize import clean

#: Failures that say nothing about the tenant and everything about the path to it: no
#: answer came back at all. ``NETWORK`` (a reset or a body cut off mid-way) is left out on
#: purpose: something answered, so it neither starts an outage nor proves one over.
NETWORK_KINDS = frozenset({ErrorKind.DNS, ErrorKind.CONNECT, ErrorKind.TLS, ErrorKind.TIMEOUT})

#: How many *distinct tenants* must fail the network way, with no answer from anyone in
#: between, before it is our outage. Distinct tenants rather than distinct hosts: every
#: state call of one environment goes to that environment's single host
#: (online.superoffice.com), so a board with one environment only ever talks to one host,
#: and "several tenants, nothing answering" is the same evidence. Three is enough to rule
#: out one broken tenant and small enough to react within the first burst of checks.
OUTAGE_MIN_TENANTS = 3

#: The failures must fall within this many seconds of each other: three timeouts spread
#: over a quiet hour are three slow tenants, not an outage.
OUTAGE_WINDOW = 60.0

#: Seconds between probes while the outage lasts: quick at first (a Wi-Fi hiccup is over
#: in seconds), then at most every 30 s, so a ten-minute outage costs about 25 requests.
PROBE_DELAYS: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0)

#: When a probe gets through, every tenant is re-checked within this many seconds...
RECOVERY_SPREAD = 60.0
#: ...but never more than this far apart, so a short list is back in seconds, not a minute.
RECOVERY_MAX_GAP = 0.5


def is_network_failure(error: CheckError | None) -> bool:
    return error is not None and error.kind in NETWORK_KINDS


def is_contact(error: CheckError | None) -> bool:
    """True when the check got an answer from a server (good or bad)."""
    return error is None or error.kind not in NETWORK_KINDS | {ErrorKind.NETWORK}


def short_reason(error: CheckError) -> str:
    """A few words for the header: "connection refused", "cannot resolve host names"."""
    text = error.message.lower()
    if error.kind is ErrorKind.DNS:
        return "cannot resolve host names"
    if error.kind is ErrorKind.TLS:
        return "TLS handshakes fail"
    if error.kind is ErrorKind.TIMEOUT:
        return "requests time out"
    for marker, reason in (
        ("refused", "connection refused"),
        ("unreachable", "network unreachable"),
        ("reset", "connection reset"),
    ):
        if marker in text:
            return reason
    return "cannot connect"


@dataclass(slots=True)
class Outage:
    """Our own loss of the network, from the first failure that proved it to the probe
    that got through."""

    since: datetime
    reason: str
    #: How many tenants' failures made the case (at least :data:`OUTAGE_MIN_TENANTS`).
    tenants: int
    probes: int = 0
    ended: datetime | None = None

    def covers(self, error: CheckError | None, at: datetime) -> bool:
        """True for a network failure at ``at`` within this outage: the outage's, not the
        tenant's, even when it came before the outage was detected (or was handed on
        after that, late)."""
        ended = self.ended
        return is_network_failure(error) and self.since <= at and (ended is None or at <= ended)

    @property
    def headline(self) -> str:
        """One line for the header and the watcher: what is wrong and since when."""
        return f"cannot reach SuperOffice since {clock_time(self.since)}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        """The outage as `serve` tells it (the snapshot's ``outage``, the ``outage`` event)."""
        return {
            "since": utc_iso(self.since),
            "ended": utc_iso(self.ended),
            "reason": self.reason,
            "tenants": self.tenants,
            "probes": self.probes,
            "headline": self.headline if self.ended is None else self.summary(),
        }

    @classmethod
    def from_json(cls, data: Any) -> Outage:
        """An outage as :meth:`as_json` wrote it, from another process (the `serve` an
        attached board follows): its text cleaned; ValueError for anything that is not one."""
        if not isinstance(data, dict):
            raise ValueError("that is not an outage")
        since = time_from_json(data.get("since"), "since")
        ended = time_from_json(data["ended"], "ended") if data.get("ended") is not None else None
        if ended is not None and ended < since:
            raise ValueError("an outage must end after it begins")
        reason = clean(data["reason"], 120) if isinstance(data.get("reason"), str) else ""
        return cls(
            since=since,
            reason=reason or "cannot connect",
            tenants=_count(data.get("tenants")),
            probes=_count(data.get("probes")),
            ended=ended,
        )

    def summary(self, *, dates: bool = False) -> str:
        """The event log's one entry for the whole outage, written when it ends (``dates``:
        with the day, for reports spanning several)."""
        if self.ended is None:
            if not dates:
                return self.headline
            start = self.since.astimezone().strftime("%Y-%m-%d %H:%M")
            return (
                f"cannot reach SuperOffice since {start}: {self.reason}; "
                f"{plural(self.probes, 'probe')}"
            )
        start, end = time_range(self.since, self.ended, dates=dates)
        took = length((self.ended - self.since).total_seconds())
        return (
            f"could not reach SuperOffice from {start} to {end} ({took}): {self.reason}; "
            f"{plural(self.probes, 'probe')}"
        )


def _count(value: Any) -> int:
    """A count from JSON another process wrote; anything but a whole number is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class ConnectivityDetector:
    """Watches results; says when network failures across tenants add up to an outage."""

    def __init__(
        self, min_tenants: int = OUTAGE_MIN_TENANTS, window: float = OUTAGE_WINDOW
    ) -> None:
        self.min_tenants = min_tenants
        self.window = window
        #: (monotonic time, tenant key, when the check ended) of network failures since
        #: the last answer.
        self._failures: deque[tuple[float, str, datetime | None]] = deque()

    def observe(
        self, key: str, error: CheckError | None, now: float, at: datetime | None = None
    ) -> int:
        """Record one result (``at``: its wall time, kept as the outage's start should it
        be the first); returns how many distinct tenants failed the network way in the
        window with nothing answering (compare with :attr:`min_tenants`)."""
        if is_contact(error):
            self._failures.clear()
            return 0
        if is_network_failure(error):
            self._failures.append((now, key, at))
        while self._failures and self._failures[0][0] < now - self.window:
            self._failures.popleft()
        return len({failed for _, failed, _ in self._failures})

    def first_failure_at(self) -> float | None:
        """Monotonic time of the oldest failure still counted: when the outage began."""
        return self._failures[0][0] if self._failures else None

    def first_failure_wall(self) -> datetime | None:
        """The wall time of that failure's check, exactly as its result says: the history
        re-classes results from this moment on, so it must not be off by a rounding."""
        return self._failures[0][2] if self._failures else None

    def reset(self) -> None:
        self._failures.clear()


def probe_delay(probes: int) -> float:
    """Seconds before the next probe, after ``probes`` probes have failed."""
    return PROBE_DELAYS[min(probes, len(PROBE_DELAYS) - 1)]


def recovery_gap(tenants: int) -> float:
    """Seconds between re-checks after an outage: ``tenants`` spread over at most
    :data:`RECOVERY_SPREAD`, at most :data:`RECOVERY_MAX_GAP` apart."""
    if tenants <= 1:
        return 0.0
    return min(RECOVERY_MAX_GAP, RECOVERY_SPREAD / tenants)
