"""What a session tells its faces: the typed changes (:data:`SessionChange`) a face
subscribes to with :meth:`tenantboard.session.Session.subscribe` and shows.

Each is a frozen record of something that happened in the session: results applied, events
logged, our own outage, the list or its file, settings, hooks, marks, windows, what the
history said, the poller's role, a host incident, an attached board's server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult
from tenantboard.eventlog import LoggedEvent
from tenantboard.history.db import HistoryError
from tenantboard.incidents import HostIncident
from tenantboard.maintenance import Window
from tenantboard.rows import TenantRow
from tenantboard.tenant import Tenant


@dataclass(frozen=True, slots=True)
class ResultsApplied:
    """Results were applied: each result with its row, in the order they came."""

    results: tuple[CheckResult, ...]
    rows: tuple[TenantRow, ...]


@dataclass(frozen=True, slots=True)
class EventsLogged:
    """Events went into the event log (and the history). ``told``: those worth a notice,
    a bell or a message (not muted or acknowledged)."""

    events: tuple[LoggedEvent, ...]
    told: tuple[LoggedEvent, ...]


@dataclass(frozen=True, slots=True)
class OutageChanged:
    """Our own loss of the network began (``outage.ended`` is None) or ended. ``held``:
    rows whose check failed in it before it was detected, now held like the others (stale,
    their "check failed" taken back from the event log)."""

    outage: Outage
    held: tuple[TenantRow, ...] = ()


@dataclass(frozen=True, slots=True)
class ListChanged:
    """The list changed: ``source`` is "here" (changed through this session), "file" (the
    tenant file changed on disk) or "server" (an attached board's server)."""

    tenants: tuple[Tenant, ...]
    removed: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class FileStatus:
    """The tenant file cannot be used (``problem``), or can again (``problem`` None)."""

    problem: str | None
    message: str


@dataclass(frozen=True, slots=True)
class SettingsChanged:
    """``[settings]`` (or ``[keys]``) changed in the tenant file: what was applied."""

    applied: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class HooksChanged:
    count: int
    message: str


@dataclass(frozen=True, slots=True)
class CommandsRefused:
    """The file's command hooks are not run (``reason``: whom the file lets change it and
    how to fix it), or are run again (None)."""

    reason: str | None


@dataclass(frozen=True, slots=True)
class MarksChanged:
    """Mutes or acknowledgements of these tenants began or ended."""

    keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class MarkNotCleared:
    """An attached board's server did not clear a mark; ``message`` says which and why."""

    message: str


@dataclass(frozen=True, slots=True)
class MaintenanceChanged:
    """Maintenance windows opened or closed (or were started, ended or changed in the
    file); ``keys``: the tenants a window began or stopped covering."""

    opened: tuple[Window, ...]
    closed: tuple[Window, ...]
    keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """The start-up read of the history is done (the log, marks, when it last ran)."""

    error: HistoryError | None


@dataclass(frozen=True, slots=True)
class HistoryProblem:
    """The history cannot be written now (``error``), or can again (None)."""

    error: HistoryError | None


@dataclass(frozen=True, slots=True)
class AvailabilityRead:
    keys: tuple[str, ...]
    #: The rows whose 24-hour uptime changed and nothing else meanwhile: (key, revision
    #: before, revision after). serve mends their kept JSON instead of making it again.
    uptime_changed: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class VersionFetched:
    key: str


@dataclass(frozen=True, slots=True)
class VersionHistoryRead:
    """A tenant's versions were read from the history (:attr:`Session.version_history`)."""

    key: str


@dataclass(frozen=True, slots=True)
class RoleChanged:
    """This session became the poller (``polling``), or another process is."""

    polling: bool
    message: str


@dataclass(frozen=True, slots=True)
class IncidentChanged:
    """A host incident opened, grew (tenants joined it or came back) or was resolved."""

    incident: HostIncident
    what: str


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """An attached board's server: reached (``connected``), or lost / refusing. ``refused``:
    it refused this board (401, 403); the feed has stopped asking."""

    message: str
    connected: bool
    refused: bool = False


SessionChange = (
    ResultsApplied
    | EventsLogged
    | OutageChanged
    | ListChanged
    | FileStatus
    | SettingsChanged
    | HooksChanged
    | CommandsRefused
    | MarksChanged
    | MarkNotCleared
    | MaintenanceChanged
    | HistoryRead
    | HistoryProblem
    | AvailabilityRead
    | VersionFetched
    | VersionHistoryRead
    | RoleChanged
    | ServerStatus
    | IncidentChanged
)
Listener = Callable[[SessionChange], None]
