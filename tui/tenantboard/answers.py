"""The state API's answers as typed values: pure parsing, no I/O.

Everything here treats the answer as untrusted data. A parse either returns a typed
value or raises :class:`ParseError` with a short reason; nothing else escapes.
"""

from __future__ import annotations

import enum
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenantboard.sanitize import clean


class ParseError(ValueError):
    """The answer had the wrong shape; ``str(error)`` is a short human reason."""


class Severity(enum.IntEnum):
    """How bad a tenant's situation is; shared by the board's colours and `check`'s exit code.

    The order is the order of badness used when sorting. The exit code follows the Nagios
    plugin convention, where CRITICAL outranks UNKNOWN although its number is smaller.
    """

    OK = 0
    WARNING = 1
    UNKNOWN = 2
    CRITICAL = 3

    @property
    def exit_code(self) -> int:
        return {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2, Severity.UNKNOWN: 3}[
            self
        ]


class State(enum.IntEnum):
    """The documented tenant states, with their documented numbers (7 and 9 are unassigned)."""

    Unknown = 0
    Provisioning = 1
    Running = 2
    Deleted = 3
    Suspended = 4
    OnlineMaintenance = 5
    OfflineMaintenance = 6
    ProvisioningFailed = 8
    Deleting = 10
    DeleteFailed = 11
    MigrationPending = 12

    @property
    def severity(self) -> Severity:
        return STATE_SEVERITY[self]

    @property
    def meaning(self) -> str:
        return STATE_MEANING[self]

    @property
    def is_running(self) -> bool:
        """Documented: IsRunning is true exactly for these two states."""
        return self in (State.Running, State.OnlineMaintenance)


STATE_SEVERITY: dict[State, Severity] = {
    State.Running: Severity.OK,
    State.OnlineMaintenance: Severity.OK,
    State.Provisioning: Severity.WARNING,
    State.OfflineMaintenance: Severity.WARNING,
    State.Deleting: Severity.WARNING,
    State.MigrationPending: Severity.WARNING,
    State.Unknown: Severity.CRITICAL,
    State.Suspended: Severity.CRITICAL,
    State.Deleted: Severity.CRITICAL,
    State.ProvisioningFailed: Severity.CRITICAL,
    State.DeleteFailed: Severity.CRITICAL,
}

STATE_MEANING: dict[State, str] = {
    State.Unknown: "The tenant is unknown, or something is wrong with the environment. "
    "A tenant that was in another state before probably means an incident.",
    State.Provisioning: "The tenant is being provisioned; it should be ready shortly.",
    State.Running: "The tenant is running. All is good.",
    State.Deleted: "The tenant has been deleted.",
    State.Suspended: "The tenant is in termination; APIs are not available. "
    "The customer can still reactivate the subscription.",
    State.OnlineMaintenance: "Background tasks are running; normal operation and the API "
    "are available.",
    State.OfflineMaintenance: "Offline for maintenance, typically an upgrade; APIs are not "
    "available. Usually lasts minutes.",
    State.ProvisioningFailed: "Provisioning has failed.",
    State.Deleting: "The tenant is being deleted; expect it to be deleted shortly.",
    State.DeleteFailed: "Deleting the tenant failed; expect it to be deleted in a while.",
    State.MigrationPending: "A migration to Online that is not yet complete; "
    "this can last days or weeks.",
}

#: Each state's name (``State.name`` goes through the enum's descriptor: slow at 30,000 rows).
_STATE_NAMES: dict[State, str] = {state: state.name for state in State}
_STATES_BY_NAME = {state.name.lower(): state for state in State}
_STATES_BY_NUMBER = {int(state): state for state in State}

#: Longest string kept from an answer's field; longer values are cut, never trusted to fit.
MAX_FIELD_LENGTH = 2048
#: Deepest JSON nesting accepted in an answer.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True, slots=True)
class TenantState:
    """One parsed state answer.

    ``state`` is None when the answer's State was not a documented value; ``state_raw``
    then keeps what the server said, verbatim (cleaned of control characters).
    """

    context_id: str
    state: State | None
    state_raw: str
    is_running: bool | None
    endpoint: str | None
    api: str | None
    valid_until: datetime | None
    valid_until_raw: str | None
    version: str | None = None

    @property
    def severity(self) -> Severity:
        return self.state.severity if self.state is not None else Severity.UNKNOWN

    @property
    def state_name(self) -> str:
        return _STATE_NAMES[self.state] if self.state is not None else self.state_raw

    @property
    def state_code(self) -> int | None:
        return int(self.state) if self.state is not None else None

    @property
    def running_mismatch(self) -> bool:
        """True when IsRunning disagrees with what the documented State implies."""
        if self.state is None or self.is_running is None:
            return False
        return self.is_running != self.state.is_running


def _optional_url(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"{key} is {_json_type(value)}, expected a string")
    value = clean(value, MAX_FIELD_LENGTH).strip()
    return value or None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_state_value(value: Any) -> tuple[State | None, str]:
    """Read State as a name (documented) or as the enum's number (some servers/clients)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ParseError(f"State is {_json_type(value)}, expected a name or a number")
    if isinstance(value, int):
        return _STATES_BY_NUMBER.get(value), str(value)
    # Interned: thousands of tenants answer the same few states (one string, not one each).
    raw = sys.intern(clean(value, MAX_FIELD_LENGTH).strip())
    if raw.isdigit() and len(raw) < 6:
        return _STATES_BY_NUMBER.get(int(raw)), raw
    return _STATES_BY_NAME.get(raw.lower()), raw


_FRACTION = re.compile(r"(\.\d+)")


def parse_timestamp(text: str) -> datetime | None:
    """Parse an ISO 8601 time such as ``2020-10-05T09:52:01.9342965Z``; no offset means UTC.

    Returns None for anything unparseable (the caller decides what that means).
    """
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:  # most times, and every one an attached board reads (100,000 rows: no regex)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # datetime.fromisoformat wants at most 6 fractional digits on some inputs; the API
        # sends 7. Extra precision below a microsecond is meaningless here, so trim it.
        trimmed = _FRACTION.sub(lambda m: m.group(1)[:7], text, count=1)
        try:
            parsed = datetime.fromisoformat(trimmed)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def time_from_json(value: Any, what: str) -> datetime:
    """A time in JSON another process wrote (ISO 8601, UTC when no offset is given);
    ValueError naming ``what`` for anything else."""
    moment = parse_timestamp(value) if isinstance(value, str) else None
    if moment is None:
        raise ValueError(f"{what} is not a time: {clean(repr(value), 60)}")
    return moment


def parse_state(payload: Any, expected_context_id: str) -> TenantState:
    """Turn a decoded JSON state answer into a :class:`TenantState`.

    Unknown fields are ignored; a missing or unparseable ValidUntil is kept as None
    (the scheduler then falls back to its minimum interval).
    """
    if not isinstance(payload, dict):
        raise ParseError(f"the answer is {_json_type(payload)}, expected an object")
    answered_for = payload.get("ContextIdentifier")
    if answered_for is not None:
        if not isinstance(answered_for, str):
            raise ParseError(f"ContextIdentifier is {_json_type(answered_for)}")
        if answered_for.strip().lower() != expected_context_id.lower():
            shown = clean(answered_for, 40)
            raise ParseError(f"the answer is for {shown!r}, not {expected_context_id}")
    if "State" not in payload:
        raise ParseError("the answer has no State")
    state, state_raw = parse_state_value(payload["State"])
    is_running = payload.get("IsRunning")
    if is_running is not None and not isinstance(is_running, bool):
        raise ParseError(f"IsRunning is {_json_type(is_running)}, expected true or false")
    valid_raw = payload.get("ValidUntil")
    if valid_raw is not None and not isinstance(valid_raw, str):
        raise ParseError(f"ValidUntil is {_json_type(valid_raw)}, expected a time")
    version = payload.get("Version")
    if version is not None and not isinstance(version, str):
        version = None  # optional, informational: a wrong type is ignored, not fatal
    valid_until = parse_timestamp(valid_raw) if valid_raw else None
    return TenantState(
        context_id=expected_context_id,
        state=state,
        state_raw=state_raw,
        is_running=is_running,
        endpoint=_optional_url(payload, "Endpoint"),
        api=_optional_url(payload, "Api"),
        valid_until=valid_until,
        # The text only when it is not a time we can read (the detail pane says so): a
        # string per tenant less, kept for as long as its answer.
        valid_until_raw=clean(valid_raw, 80) if valid_raw and valid_until is None else None,
        version=sys.intern(clean(version, 200)) if version else None,  # a few releases
    )


def json_depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """The version document behind a tenant's ``Api`` link; keys vary by release."""

    netserver_version: str | None = None
    netserver_numbers: tuple[int, ...] = ()
    label: str | None = None
    date: str | None = None
    assembly: str | None = None
    netserver: str | None = None
    services: str | None = None
    services_current: str | None = None
    v1: str | None = None
    api_version: str | None = None
    documentation: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def services_differ(self) -> bool:
        return bool(self.services and self.services_current) and (
            self.services != self.services_current
        )

    @property
    def build(self) -> str | None:
        """The third number of NetServerVersion (.NET's major.minor.build.revision)."""
        return str(self.netserver_numbers[2]) if len(self.netserver_numbers) >= 3 else None

    def as_json(self) -> dict[str, Any]:
        return {
            "netserver_version": self.netserver_version,
            "netserver_numbers": list(self.netserver_numbers),
            "label": self.label,
            "date": self.date,
            "assembly": self.assembly,
            "netserver": self.netserver,
            "services": self.services,
            "services_current": self.services_current,
            "v1": self.v1,
            "version": self.api_version,
            "documentation": self.documentation,
            "extra": dict(self.extra),
        }


_VERSION_KEYS = {
    "NetServerVersion": "netserver_version",
    "NetServerLabel": "label",
    "NetServerDate": "date",
    "NetServerAssembly": "assembly",
    "NetServer": "netserver",
    "Services": "services",
    "ServicesCurrent": "services_current",
    "v1": "v1",
    "Version": "api_version",
    "Documentation": "documentation",
}
MAX_EXTRA_KEYS = 50


def parse_version(payload: Any) -> VersionInfo:
    """Parse the version document; known keys become fields, every other key is kept raw."""
    if not isinstance(payload, dict):
        raise ParseError(f"the version info is {_json_type(payload)}, expected an object")
    known: dict[str, str] = {}
    extra: dict[str, str] = {}
    for key, value in payload.items():
        name = clean(str(key), 80)
        if key in _VERSION_KEYS and isinstance(value, str):
            known[_VERSION_KEYS[key]] = clean(value, MAX_FIELD_LENGTH)
        elif len(extra) < MAX_EXTRA_KEYS:
            extra[name] = clean(value if isinstance(value, str) else repr(value), 200)
    numbers: tuple[int, ...] = ()
    version_text = known.get("netserver_version", "")
    if re.fullmatch(r"\d+(\.\d+)*", version_text):
        numbers = tuple(int(part) for part in version_text.split(".")[:6])
    return VersionInfo(netserver_numbers=numbers, extra=extra, **known)


@dataclass(frozen=True, slots=True)
class StateAnswer:
    """A state answer with what the HTTP exchange adds: the server's Date and our receipt time."""

    state: TenantState
    server_date: datetime | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class VersionAnswer:
    info: VersionInfo
    url: str
    #: Set when a 421 made the client read the tenant's state again.
    fresh_state: TenantState | None = None
