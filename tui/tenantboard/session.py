"""One watched tenant file, with no screen: the core that the board and `serve` sit on.

A :class:`Session` keeps the list in step with the tenant file (its tenants, settings, keys
and alert hooks), runs the checks (the engine's :class:`~tenantboard.engine.Monitor`, or a
running `serve`'s feed for an attached board), owns what is known per tenant (the
:class:`~tenantboard.rows.BoardModel`), records results and events in the history database,
keeps the mutes and acknowledgements, and feeds the alert hooks. It tells whoever listens
what happened through typed changes (:data:`~tenantboard.session_changes.SessionChange`): a face subscribes and shows them.
The board (``screens/board.py``) is view and keys over a session; `serve` is HTTP, metrics
and the status page over one. Neither wires any of this itself.

One tenant file has one *poller*: the session that holds its lease (:mod:`.lease`) records
the history and sends the alerts; another session on the same file (a second board, or a
board beside `serve`) checks for its own screen only, and takes over when the poller ends.

Data flows one way: a result goes monitor -> :meth:`Session.apply` -> model, history,
marks, hooks -> :class:`ResultsApplied` and :class:`EventsLogged` to the faces. The face may
gather results before they are applied (the board draws in batches): it passes ``gate``.

Time is the injected clock's, sleeping included (:meth:`Clock.sleep`), so tests drive a
whole session on a fake clock with no network (the simulator's transport) and no screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantboard.answers import Severity
from tenantboard.client import BaseUrl, TenantClient
from tenantboard.clock import Clock, SystemClock
from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult, Monitor, unexpected
from tenantboard.errors import CheckError
from tenantboard.eventlog import TENANT_KINDS, EventLog, LoggedEvent, logged_events, outage_event
from tenantboard.groups import TALLIED, GroupTally, memberships
from tenantboard.history.availability import outcome_label
from tenantboard.history.db import (
    ClosedChange,
    HistoryError,
    HistoryWriter,
    IncidentRecord,
    Mark,
    Observation,
    classify,
    current_user,
)
from tenantboard.history.reader import (
    ClosedWatch,
    MarkBook,
    StartHistory,
    TenantAvailability,
    mark_text,
    read_availability,
    read_start,
    read_uptime,
    read_version_history,
)
from tenantboard.humanize import SEVERITY_WORDS, plural
from tenantboard.incidents import HostIncident, IncidentChange, IncidentDetector
from tenantboard.interpreter_lock import loop_first
from tenantboard.lease import RETRY_EVERY, Holder, PollerLease, lease_paths
from tenantboard.list_keeper import ChangeKind, ListKeeper
from tenantboard.maintenance import MaintenancePlan, MaintenanceWatch, Scope, Window, tenant_host
from tenantboard.notify import Notifier, state_text
from tenantboard.pushed import PushedChange
from tenantboard.releases import FirstSeen, VersionSpan, VersionSummary, summarize
from tenantboard.remote import AttachedMonitor, AttachTarget, NotDone, ServerFeed, ServerRow
from tenantboard.rows import BoardModel, TenantRow
from tenantboard.sanitize import clean
from tenantboard.schedule import RefreshPolicy
from tenantboard.session_changes import (
    AvailabilityRead,
    CommandsRefused,
    EventsLogged,
    FileStatus,
    HistoryProblem,
    HistoryRead,
    HooksChanged,
    IncidentChanged,
    ListChanged,
    Listener,
    MaintenanceChanged,
    MarkNotCleared,
    MarksChanged,
    OutageChanged,
    ResultsApplied,
    RoleChanged,
    ServerStatus,
    SessionChange,
    SettingsChanged,
    VersionFetched,
    VersionHistoryRead,
)
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import (
    IncidentRules,
    NotifyHook,
    Settings,
    StateChangeConfig,
    StoreError,
    TenantList,
    TenantStore,
)

if TYPE_CHECKING:  # the transport is injected
    import httpx

log = logging.getLogger("tenantboard.session")

#: Rows given their new 24-hour uptime per turn of the event loop (about 5 ms).
UPTIME_SLICE = 10_000

#: Seconds between the session's housekeeping rounds (overdue checks, a writer that failed).
TICK = 1.0
#: Seconds between looks for marks whose time is up.
MARKS_EVERY = 15.0
#: Seconds between reads of the marks in the database (made by other processes).
MARKS_READ_EVERY = 30.0
#: Seconds between reads of every tenant's 24-hour uptime while a face wants it.
AVAILABILITY_EVERY = 60.0


class MarkRefused(ValueError):
    """A mute or acknowledgement that makes no sense now; the message says why."""


class MarkNotSaved(MarkRefused):
    """An attached board's server did not take a mark (refused, or not reached); the
    message says why. Nothing is kept: a mark only this board knew would silence nothing."""


# -- configuration -----------------------------------------------------------------------------


@dataclass
class SessionConfig:
    """What a session watches, and how. Built by the command line (or a test)."""

    tenants: list[Tenant]
    settings: Settings = field(default_factory=Settings)
    #: The settings the command line gave, which win over the file's whenever it is read.
    overrides: dict[str, Any] = field(default_factory=dict)
    #: The tenant file; None keeps the list in memory (the demo, an attached board).
    store: TenantStore | None = None
    hooks: list[NotifyHook] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    #: The history database; None keeps everything in memory.
    history_path: Path | None = None
    #: The tenant file's own data folder (an old events.jsonl to import; the lease when
    #: the tenant file's folder cannot be written).
    data_dir: Path | None = None
    base_url: BaseUrl | None = None
    #: Injected in tests and the demo (the in-process simulator); None means the network.
    transport: httpx.AsyncBaseTransport | None = None
    rng: random.Random | None = None
    #: Seconds between looks at the tenant file for changes made elsewhere.
    watch_interval: float = 2.0
    #: "board" or "serve": how this process describes itself to the others.
    kind: str = "board"
    #: Where a `serve` can be reached, for the others' headers.
    url: str = ""
    #: Follow a running `serve` instead of checking (an attached board).
    attach: AttachTarget | None = None
    #: Why the file's command hooks are not run (``TenantList.commands_refused``).
    commands_refused: str | None = None
    #: SuperOffice's maintenance windows and the file's ``[[maintenance]]``.
    maintenance: MaintenancePlan = field(default_factory=MaintenancePlan)
    #: The file's ``[state_change]``: checking what SuperOffice pushes (`serve`).
    state_change: StateChangeConfig | None = None
    #: [incidents]: when tenants of one host turning bad together are one incident.
    incidents: IncidentRules = field(default_factory=IncidentRules)


def with_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """The file's settings with the command line's on top."""
    given = {name: value for name, value in overrides.items() if value is not None}
    return dataclasses.replace(settings, **given).validated() if given else settings


# -- the session ---------------------------------------------------------------------------------


class Session:
    """One watched tenant file (see the module's docstring)."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        clock: Clock | None = None,
        gate: Callable[[CheckResult], None] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.settings = with_overrides(config.settings, config.overrides)
        self.keys = dict(config.keys)
        self.model = BoardModel(config.tenants)
        self.keeper = ListKeeper(
            config.store, config.tenants, config.hooks, config.commands_refused
        )
        self.event_log = EventLog()
        self.marks = MarkBook()
        self.maintenance_plan = config.maintenance
        self.maintenance = MaintenanceWatch(config.maintenance.rules())
        #: Per tenant a window covers: its severity when the window began to cover it.
        self._window_baseline: dict[str, Severity] = {}
        #: Per tenant no window covers any more: the window that last covered it.
        self._left_window: dict[str, Window] = {}
        self._local_window_ids = 0
        self.closed = ClosedWatch()
        #: Availability per tenant as last read with its strip (the detail pane's).
        self.availability: dict[str, TenantAvailability] = {}
        #: Per tenant, why an attached board's server gave no availability at the last ask.
        self.availability_problems: dict[str, str] = {}
        #: An attached board's: the window the server says covers each tenant.
        self._server_windows: dict[str, Window] = {}
        #: Set by a face that shows every tenant's 24-hour uptime.
        self.uptime_wanted = False
        self.fetching_versions: set[str] = set()
        #: When each version was first seen on a tenant (the history's, then this session's).
        self.first_seen = FirstSeen()
        #: Each tenant's versions as last read from the history (the detail pane's).
        self.version_history: dict[str, list[VersionSpan]] = {}
        #: The tenant file's ``[state_change]`` as last read.
        self.state_change = config.state_change
        #: Why the tenant file cannot be used now, or None.
        self.file_problem: str | None = None
        #: When a process last recorded into this history (before this session).
        self.last_ran: datetime | None = None
        self.history_read_error: HistoryError | None = None
        self.history_loaded = False
        self._listeners: list[Listener] = []
        self._gate = gate
        #: The monitor's results that arrived this turn of the event loop, not applied
        #: yet (:meth:`_gather`).
        self._arrived: list[CheckResult] = []
        self._turn_applied = False
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._local_mark_ids = -1
        self._next: dict[str, float] = {}
        self._reported_writer_error: str | None = None
        self._closed_down = False
        #: Set once :meth:`aclose` has finished (a second caller waits for the first).
        self._closed = asyncio.Event()
        #: Host incidents: many tenants of one host turning bad together (incidents.py).
        self.incidents = IncidentDetector(config.incidents, detects=config.attach is None)
        #: Tenants per group and severity, over the whole list (serve's /metrics), kept
        #: once a face asks for them (:meth:`keep_group_counts`): a board has no use for
        #: them, and at 30,000 tenants they cost every result and the start.
        self.groups = GroupTally()
        self._tallying = False
        self.notifier = Notifier(
            config.hooks,
            is_silenced=self.is_silenced,
            may_send=lambda: self.polling,
            in_window=self.window_name,
            holds=self.incidents.holds,
        )
        self.writer = self._make_writer()
        self.lease = self._make_lease()
        self.client: TenantClient | None = None
        self.feed: ServerFeed | None = None
        self.monitor: Monitor | AttachedMonitor = self._make_monitor()

    # -- building ----------------------------------------------------------------------------

    def _make_writer(self) -> HistoryWriter | None:
        path = self.config.history_path
        if path is None or self.config.attach is not None:
            return None
        return HistoryWriter(path, retention_days=self.settings.history_days, now=self.clock.wall)

    def _make_lease(self) -> PollerLease | None:
        store = self.config.store
        if store is None or self.config.attach is not None:
            return None  # a list in memory is nobody else's
        paths = lease_paths(store.path, self.config.data_dir)
        history = str(self.config.history_path or "")
        return PollerLease(paths, kind=self.config.kind, url=self.config.url, history=history)

    def _make_client(self) -> TenantClient:
        return TenantClient(
            base_url=self.config.base_url,
            timeout=self.settings.timeout,
            transport=self.config.transport,
            max_connections=self.settings.concurrency,
            clock=self.clock,
        )

    def _make_monitor(self) -> Monitor | AttachedMonitor:
        target = self.config.attach
        if target is not None:
            self.feed = ServerFeed(
                target,
                on_tenants=lambda tenants: self.adopt_tenants(tenants, source="server"),
                on_result=self._result_arrived,
                on_results=self.apply,  # a snapshot's, a slice at a time
                on_status=lambda text, up: self._emit(ServerStatus(text, up)),
                on_refused=lambda text: self._emit(ServerStatus(text, False, refused=True)),
                on_rows=self._server_rows,
                on_windows=self._server_windows_open,
                on_outage=self._server_outage,
                on_file_error=self._server_file_problem,
                on_incidents=self._server_incidents,
                transport=self.config.transport,
            )
            return AttachedMonitor(self.feed)
        self.client = self._make_client()
        return Monitor(
            self.client,
            self.config.tenants,
            policy=self._policy(),
            concurrency=self.settings.concurrency,
            on_result=partial(self._result_arrived, gather=True),
            clock=self.clock,
            on_outage=self._outage_changed,
        )

    def _policy(self) -> RefreshPolicy:
        settings = self.settings
        return RefreshPolicy(settings.min_interval, settings.max_interval, rng=self.config.rng)

    def set_gate(self, gate: Callable[[CheckResult], None]) -> None:
        """Where results go before they are applied: a face that draws in batches gathers
        them and calls :meth:`apply` with each batch."""
        self._gate = gate

    # -- listening -----------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Be told every change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, change: SessionChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # one face's bug must not stop the checks or the others
                log.exception("a listener failed on %s", type(change).__name__)

    # -- who records -----------------------------------------------------------------------

    @property
    def polling(self) -> bool:
        """True when this session records the history and sends the alerts."""
        if self.config.attach is not None:
            return False
        return self.lease is None or self.lease.held

    @property
    def attached(self) -> bool:
        return self.config.attach is not None

    def poller(self) -> Holder | None:
        """The process that records, when it is another one."""
        if self.lease is None or self.lease.held:
            return None
        return self.lease.holder()

    def records_elsewhere(self) -> str | None:
        """The poller's history database when it is not this session's own (a board and
        `serve` on one tenant file with different ``--data-dir``): marks made here would
        never reach the poller, which sends the alerts. None when they are one."""
        return self._history_of(self.poller())

    def _history_of(self, holder: Holder | None) -> str | None:
        """:meth:`records_elsewhere` for a holder already read (the lease file is read
        once per header, message or mark, not once per question about it)."""
        own = self.config.history_path
        if holder is None or not holder.history or own is None:
            return None
        if Path(holder.history).resolve() == Path(own).resolve():
            return None
        return holder.history

    def _try_lease(self) -> None:
        if self.lease is None or self.lease.held:
            return
        if self.lease.try_take(self.clock.wall()):
            self._spawn("adopt-incidents", self.adopt_open_incidents())
            message = self.role_message()
            log.info("%s", message)
            self._emit(RoleChanged(True, message))

    def role_message(self) -> str:
        """Who polls this session's tenant file, in a sentence (the log's, a notice's)."""
        store = self.config.store
        where = str(store.path) if store is not None else "the tenant list"
        if self.polling:
            return f"checking the tenants of {where} (this process polls: it records the history and sends the alerts)"
        holder = self.poller()
        who = holder.describe() if holder is not None else "another process"
        elsewhere = self._history_of(holder)
        if elsewhere is not None:
            return (
                f"{who} polls {where} and records to {elsewhere}, not to this process's "
                f"{self.config.history_path}: marks made here would not reach it (give both "
                "the same --data-dir)"
            )
        return f"{who} polls {where}; following its history"

    @property
    def outage(self) -> Outage | None:
        """Our own outage while it lasts (attached: the server's), else None."""
        return self.monitor.outage

    def role_text(self) -> str:
        """For a header: who records, when it is not this session."""
        holder = self.poller()
        if holder is None:
            return "" if self.polling else "not recording"
        elsewhere = (
            " in another history: marks here do not reach it" if self._history_of(holder) else ""
        )
        return f"recorded by {holder.describe()}{elsewhere}"

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Check, record and watch the file until cancelled; then close everything. The
        event loop gets the interpreter lock back from the session's threads within half a
        millisecond meanwhile (interpreter_lock.py)."""
        with loop_first():
            await self._run()

    async def _run(self) -> None:
        try:
            if self.commands_refused:
                log.error("%s", self.commands_refused)
            if self.lease is not None:
                await asyncio.to_thread(self.lease.try_take, self.clock.wall())
                log.info("%s", self.role_message())
            self._spawn("history", self._start_history())
            self.look_at_windows()
            monitor = asyncio.create_task(self.monitor.run(), name="monitor")
            self._tasks["monitor"] = monitor
            while True:
                await self.clock.sleep(TICK)
                if monitor.done():
                    await monitor  # surfaces the monitor's crash
                self.housekeeping()
        finally:
            # Shielded: the board's exit cancels its workers more than once, and a second
            # cancel would cut the closing short (the queue unwritten, alerts unsent).
            await asyncio.shield(self.aclose())

    def housekeeping(self) -> None:
        """Once a :data:`TICK`: what is due now and then (tests call it directly)."""
        self.monitor.wake_if_overdue()
        self._say_writer_error()
        self.look_at_windows()
        if self._due("marks", MARKS_EVERY):
            self.end_expired_marks()
        if self.writer is not None and self._due("marks-read", MARKS_READ_EVERY):
            self._spawn("marks-read", self.read_marks())
            self._spawn("windows-read", self.read_windows())
        if self.keeper.saves_to_file and self._due("file", self.config.watch_interval):
            self._spawn("file", self.look_at_file())
        if self.lease is not None and not self.lease.held and self._due("lease", RETRY_EVERY):
            self._try_lease()
        if self.uptime_wanted and self._due("uptime", AVAILABILITY_EVERY):
            self.refresh_uptime()

    def _due(self, job: str, every: float) -> bool:
        now = self.clock.monotonic()
        if now < self._next.get(job, now):
            return False
        self._next[job] = now + every
        return True

    def _spawn(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` as a task of this session, unless one of that name still runs."""
        running = self._tasks.get(name)
        if running is not None and not running.done():
            work.close()
            return
        task = asyncio.create_task(work, name=f"session {name}")
        self._tasks[name] = task
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self) -> None:
        """Stop checking, write what is queued, send what hooks hold, let go of the lease.
        Called again (the board's exit, while the session's task closes it), it waits until
        the first call has finished."""
        if self._closed_down:
            await self._closed.wait()
            return
        self._closed_down = True
        try:
            await self._close_down()
        finally:  # a second caller never waits for a closing that failed
            self._closed.set()

    async def _close_down(self) -> None:
        self._apply_arrived()
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)  # writes what is queued
        await self.notifier.aclose(grace=2.0)
        if self.client is not None:
            await self.client.aclose()
        if self.feed is not None:
            await self.feed.aclose()
        if self.lease is not None:
            self.lease.release()

    # -- results ---------------------------------------------------------------------------

    def _result_arrived(self, result: CheckResult, *, gather: bool = False) -> None:
        """A result (the monitor's or the server's): to the face's gate; without one,
        applied, and with ``gather`` (the monitor's) together with the others of its turn
        of the event loop (:meth:`_gather`)."""
        if self._gate is not None:
            self._gate(result)
        elif gather:
            self._gather(result)
        else:
            self.apply([result])

    def _gather(self, result: CheckResult) -> None:
        """Apply the result, or, when another was applied earlier in this turn of the event
        loop, keep it to be applied with the others that finish in this turn at its end:
        what every batch costs (the windows looked at, the faces told, the host incidents
        weighed) is then paid once for them, not per check (a first pass finishes several
        checks a turn). The first of a turn is applied at once, as it always was. Anything
        that must see the kept ones applied first takes them before it acts
        (:meth:`apply`, :meth:`_outage_changed`, :meth:`aclose`)."""
        if self._turn_applied:
            self._arrived.append(result)
            return
        self._turn_applied = True
        asyncio.get_running_loop().call_soon(self._turn_ended)
        self.apply([result])

    def _turn_ended(self) -> None:
        self._turn_applied = False
        self._apply_arrived()

    def _apply_arrived(self) -> None:
        if self._arrived:
            self.apply([])

    def _take_arrived(self, results: list[CheckResult]) -> list[CheckResult]:
        """``results`` after the gathered results that came before them."""
        if not self._arrived:
            return results
        arrived, self._arrived = self._arrived, []
        return arrived + results

    def apply(self, results: Iterable[CheckResult]) -> list[TenantRow]:
        """Take finished checks: the rows, the history, the marks, the hooks, the log."""
        results = self._take_arrived(list(results))
        self.look_at_windows()
        if self.writer is not None and self.polling:
            self.writer.add_results(results)
        applied: list[CheckResult] = []
        rows: list[TenantRow] = []
        firsts: list[CheckResult] = []
        marked = False
        for result in results:
            row = self.model.apply(result)
            if row is None:
                continue  # no longer listed
            applied.append(result)
            rows.append(row)
            if result.state is not None:
                self.first_seen.saw(result.state.version, result.checked_at)
            key = row.tenant.key
            if self.feed is None and self.closed.is_first(result) and self.polling:
                # Only the poller compares: while another process polls, it records
                # every change; none was missed "while closed". (An attached board
                # never polls: it keeps no set of the tenants seen, 4 MB at 100,000.)
                firsts.append(result)
            marked = marked or key in self.marks.by_key
        if marked:
            self.end_expired_marks()  # an outcome changed: marks "until it changes" end
        if self.maintenance.needs_host:  # a tenant that moved may enter or leave a window
            self._windows_of(rows, announce=True)
        if self.feed is not None:  # the server's window came before the check it was sent with
            for row in rows:
                if row.window is not None and row.severity is not None:
                    self._window_baseline.setdefault(row.tenant.key, row.severity)
        self._tally(rows)
        incident_changes = self.incidents.observe(zip(applied, rows, strict=True))
        for change in incident_changes:
            self._incident_acted_on(change)
        if self.notifier.runners:  # every session decides; only the poller sends
            for row in rows:
                self.notifier.observe(row)
        if firsts:
            self._compare_firsts(firsts)
        self._emit(ResultsApplied(tuple(applied), tuple(rows)))
        self.tell(logged_events(self.model.take_changes()))
        self._incidents_told(incident_changes)
        return rows

    def tell(self, events: list[LoggedEvent], *, record: bool = True) -> None:
        """Log events (the event log, and with ``record`` the history) and tell the faces
        which are worth a notice: a muted or acknowledged tenant's are logged, not told, and
        so are a tenant's own while a maintenance window covers it (logged as planned). A
        host incident's members' are recorded in the history only: the incident's one event
        speaks for them in the event log (hundreds of "Running → Unknown" would bury it)."""
        if not events:
            return
        planned = [self._planned_in(event) for event in events]
        events = [
            replace(event, text=f"{event.text} (planned: {window.name})") if window else event
            for event, window in zip(events, planned, strict=True)
        ]
        if self.writer is not None and self.polling and record:
            self.writer.add_events(events)
        shown = [
            (event, window)
            for event, window in zip(events, planned, strict=True)
            if not self.incidents.holds(event.key)
        ]
        if not shown:
            return
        logged = [event for event, _ in shown]
        self.event_log.add(logged)
        told = tuple(
            event for event, window in shown if window is None and not self.is_silenced(event.key)
        )
        self._emit(EventsLogged(tuple(logged), told))

    # -- groups and host incidents ------------------------------------------------------------

    def keep_group_counts(self) -> None:
        """Keep :attr:`groups` up to date from now on (serve's /metrics reads it)."""
        self._tallying = True
        self._tally(self.model.rows.values())

    def _tally(self, rows: Iterable[TenantRow]) -> None:
        """Count the rows in their groups (for /metrics), as they are now."""
        if not self._tallying:
            return
        for row in rows:
            groups = memberships(row.tenant, row.host, None, TALLIED)
            self.groups.update(row.tenant.key, groups, SEVERITY_WORDS[row.severity])

    def _incident_acted_on(self, change: IncidentChange) -> None:
        """What an incident does before the tenants' own results are judged: the alert
        hooks hear of it first (its members' waiting messages are withdrawn), the history
        records it, and when it opens the host's other tenants are checked at once."""
        incident = change.incident
        if change.what == "opened":
            self.notifier.incident_opened(incident)
            others = self.incidents.host_tenants(incident.host) - set(incident.members)
            if isinstance(self.monitor, Monitor):
                self.recheck(sorted(others))
        elif change.what == "resolved":
            rows = [self.model.rows[key] for key in incident.members if key in self.model.rows]
            self.notifier.incident_resolved(incident, rows)
        if self.writer is not None and self.polling:
            record = _incident_record(incident, change.joined)
            self.writer.call(lambda db: db.save_incident(record))

    async def adopt_open_incidents(self) -> None:
        """This session has become the poller: the host incidents the poller before it
        recorded and did not resolve (it ended mid-way) are carried on, so each is
        resolved in the history when it ends, never opened a second time, and its alert is
        not sent again."""
        if self.writer is None or not self.polling:
            return
        try:
            found: list[IncidentRecord] = await asyncio.wrap_future(
                self.writer.call(lambda db: db.open_incidents())
            )
        except HistoryError as exc:
            log.warning("open host incidents not read: %s", exc)
            return
        for record in found:
            incident = self.incidents.adopt(_recorded_incident(record), self.model.rows)
            self.notifier.incident_opened(incident, announce=False)
            saved = _incident_record(incident, incident.members)
            self.writer.call(lambda db, saved=saved: db.save_incident(saved))
            log.info("host incident carried on from the poller before: %s", incident.headline())
            self._emit(IncidentChanged(incident, "grew"))

    def _incidents_told(self, changes: list[IncidentChange]) -> None:
        """The one event of an incident opening or resolving, and every change to the faces."""
        events = [change.incident.event() for change in changes if change.what != "grew"]
        self.tell(events)
        for change in changes:
            self._emit(IncidentChanged(change.incident, change.what))

    def _planned_in(self, event: LoggedEvent) -> Window | None:
        """The window a tenant's own event falls in, or None."""
        if event.kind not in TENANT_KINDS:
            return None
        row = self.model.rows.get(event.key)
        return row.window if row is not None else None

    def _outage_changed(self, outage: Outage) -> None:
        """Our own network trouble: a gap in the history, never the tenants' downtime (the
        writer keeps the outage and re-classes the failures just before it was detected);
        those failures' rows held like the others; one event for the whole of it, when it
        ends (the history keeps it as an outage, not as an event)."""
        self._apply_arrived()  # the results that came before it, as they came
        if self.writer is not None and self.polling:
            self.writer.outage_changed(outage)
        held = self.model.outage_changed(outage)
        self.event_log.withdraw_failures([row.tenant.key for row in held], outage.since)
        if outage.ended is None:
            log.warning("%s; probing instead of checking every tenant", outage.headline)
            self.notifier.outage_began(outage)
        else:
            self.notifier.outage_ended(outage)
            self.tell([outage_event(outage)], record=False)
        self._emit(OutageChanged(outage, tuple(held)))

    # -- checking ---------------------------------------------------------------------------

    def recheck(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.monitor.recheck(key)

    def pushed(self, change: PushedChange) -> list[str]:
        """SuperOffice says a tenant changed (a call `serve` checked): check it now, and
        log what was said. It never sets the state: the next answer does. Returns the keys
        re-checked (none when the tenant is not in the list)."""
        keys = [
            key
            for key in self.model.list_order
            if change.names(self.model.rows[key].tenant.context_id, self.model.rows[key].tenant.env)
        ]
        self.recheck(keys)
        events = []
        for key in keys:
            row = self.model.rows[key]
            events.append(
                LoggedEvent(
                    at=self.clock.wall(),
                    key=key,
                    name=row.tenant.display_name,
                    kind="pushed",
                    text=f"{change.describe()}; checking now",
                    severity=SEVERITY_WORDS[row.severity],
                )
            )
        self.tell(events)
        return keys

    def pause(self) -> None:
        self.monitor.pause()

    def resume(self) -> None:
        self.monitor.resume()

    async def fetch_version(self, key: str) -> None:
        """Fetch the version document of a running tenant (for the detail pane)."""
        row = self.model.rows.get(key)
        if (
            self.client is None
            or row is None
            or row.state is None
            or key in self.fetching_versions
            or not row.version_is_stale()
        ):
            return
        self.fetching_versions.add(key)
        state = row.state
        answer = None
        error: CheckError | None = None
        try:
            answer = await self.client.fetch_version(state, row.tenant.env)
        except CheckError as exc:
            error = exc
        except Exception as exc:
            error = unexpected(exc)
        finally:
            self.fetching_versions.discard(key)
        endpoint = answer.fresh_state.endpoint if answer and answer.fresh_state else state.endpoint
        if self.model.set_version(key, endpoint, answer, error, self.clock.wall()) is not None:
            self._emit(VersionFetched(key))

    # -- the list and the file ----------------------------------------------------------------

    async def change_list(
        self, change: ChangeKind, tenant: Tenant, old: Tenant | None = None
    ) -> None:
        """Save one change (atomically, off the event loop) and adopt it; a new or edited
        tenant is checked at once. Raises ValueError (refused) or StoreError (not saved)."""
        try:
            tenants = await self.keeper.change(change, tenant, old)
        except (ValueError, StoreError):
            self._spawn("file", self.look_at_file())  # show the file as it is now
            raise
        self.adopt_tenants(tenants, source="here")
        if change != "remove":
            self.monitor.recheck(tenant.key)

    def adopt_tenants(self, tenants: list[Tenant], *, source: str) -> None:
        """A new list: rows of tenants still listed keep what they know, new ones are
        checked at once, removed ones are forgotten."""
        removed = self.model.set_tenants(tenants)
        self.monitor.set_tenants(tenants)
        self.groups.forget(removed)
        self._tally(self.model.rows.values())
        if removed:
            self.notifier.forget(removed)
            for key in removed:
                self._window_baseline.pop(key, None)
            changes = self.incidents.forget(removed)
            for change in changes:
                self._incident_acted_on(change)
            self._incidents_told(changes)
        if self.maintenance.open:  # new tenants, or new tags
            self._windows_of(self.model.rows.values(), announce=True)
        for key in list(self.marks.by_key):
            self._show_mark_of(key)
        self._emit(ListChanged(tuple(tenants), removed, source))

    async def look_at_file(self, *, force: bool = False) -> None:
        """Pick up what changed in the tenant file (read off the event loop): the list,
        the settings, the keys and the alert hooks (``force``: read it even if it looks
        unchanged). A file that cannot be used is told once, and the session keeps what
        it had; when it can be used again, that is told."""
        refused_before = self.keeper.commands_refused
        try:
            loaded = await asyncio.to_thread(self.keeper.reload_if_changed, force=force)
        except StoreError as exc:
            if str(exc) == self.file_problem:
                return  # told already (a SIGHUP's reply says it again)
            self.file_problem = str(exc)
            message = (
                f"the tenant file cannot be used: {exc}. "
                "Kept the list and settings it had; the file was left as it is."
            )
            log.error("%s", message)
            self._emit(FileStatus(self.file_problem, message))
            return
        if loaded is None:
            return
        if self.file_problem is not None:
            self.file_problem = None
            log.info("the tenant file can be used again")
            self._emit(FileStatus(None, "the tenant file can be read again: reloaded"))
        self._adopt_file(loaded, refused_before)

    async def reload(self) -> str:
        """Read the tenant file and its hooks now, as the watch would when it changes
        (serve's SIGHUP); the checks, the history's queue and the faces carry on. Returns
        what came of it, in a sentence for the log."""
        store = self.config.store
        if store is None or not self.keeper.saves_to_file:
            return "no tenant file to re-read"
        while (watching := self._tasks.get("file")) is not None and not watching.done():
            await asyncio.wait([watching])  # one read of the file at a time
        reading = asyncio.create_task(self.look_at_file(force=True), name="session file")
        self._tasks["file"] = reading
        reading.add_done_callback(self._task_done)
        await asyncio.wait([reading])
        kept = plural(len(self.model.list_order), "tenant")
        if self.file_problem is not None:
            return f"{store.path} not re-read ({self.file_problem}); kept {kept}"
        hooks = plural(len(self.notifier.runners), "alert hook")
        return f"re-read {store.path}: {kept}, {hooks}"

    @property
    def commands_refused(self) -> str | None:
        """Why the tenant file's command hooks are not run, or None."""
        return self.keeper.commands_refused

    def _adopt_file(self, loaded: TenantList, refused_before: str | None) -> None:
        if loaded.state_change != self.state_change:
            self.state_change = loaded.state_change
            message = "[state_change] applied from the tenant file"
            log.info("%s", message)
            self._emit(SettingsChanged(("[state_change]",), message))
        if loaded.commands_refused != refused_before:
            if loaded.commands_refused:
                log.error("%s", loaded.commands_refused)
            self._emit(CommandsRefused(loaded.commands_refused))
        if tuple(loaded.notify) != tuple(runner.hook for runner in self.notifier.runners):
            self.notifier.set_hooks(loaded.notify)
            message = f"alert hooks reloaded from the tenant file: {len(loaded.notify)} configured"
            log.info("%s", message)
            self._emit(HooksChanged(len(loaded.notify), message))
        self._adopt_settings(loaded.settings, loaded.keys, loaded.incidents)
        if loaded.maintenance != self.maintenance_plan:
            self.maintenance_plan = loaded.maintenance
            self.maintenance.set_rules(loaded.maintenance.rules())
            log.info("maintenance windows reloaded from the tenant file")
            self.look_at_windows()
        if loaded.tenants != [self.model.rows[key].tenant for key in self.model.list_order]:
            before = len(self.model.list_order)
            self.adopt_tenants(loaded.tenants, source="file")
            log.info(
                "tenant file reloaded: %s (was %d)", plural(len(loaded.tenants), "tenant"), before
            )

    def _adopt_settings(
        self, from_file: Settings, keys: dict[str, str], incidents: IncidentRules | None = None
    ) -> None:
        """Apply changed ``[settings]`` at once: intervals and concurrency to the schedule,
        the timeout to the next requests, retention to the history; and say what changed."""
        try:
            settings = with_overrides(from_file, self.config.overrides)
        except ValueError as exc:  # an option given on the command line no longer fits
            self._emit(FileStatus(str(exc), f"[settings] not applied: {exc}"))
            return
        changed = [
            f"{item.name} {getattr(self.settings, item.name)!r} → {getattr(settings, item.name)!r}"
            for item in dataclasses.fields(Settings)
            if getattr(self.settings, item.name) != getattr(settings, item.name)
        ]
        if keys != self.keys:
            changed.append("[keys]")
            self.keys = dict(keys)
        if incidents is not None and incidents != self.incidents.rules:
            changed.append("[incidents]")
            self.incidents.set_rules(incidents)
        if not changed:
            return
        before, self.settings = self.settings, settings
        self._apply_settings(before)
        message = f"settings applied from the tenant file: {', '.join(changed)}"
        log.info("%s", message)
        self._emit(SettingsChanged(tuple(changed), message))

    def _apply_settings(self, before: Settings) -> None:
        settings = self.settings
        if self.writer is not None:
            self.writer.retention_days = settings.history_days
        monitor = self.monitor
        if not isinstance(monitor, Monitor):
            return
        if (settings.min_interval, settings.max_interval) != (
            before.min_interval,
            before.max_interval,
        ):
            monitor.set_policy(self._policy())
        if (settings.concurrency, settings.timeout) != (before.concurrency, before.timeout):
            old, self.client = self.client, self._make_client()
            monitor.set_client(self.client, self.settings.concurrency)
            if old is not None:  # requests in flight end within the old timeout
                self._spawn(f"close-client-{id(old)}", _close_later(old, before.timeout + 1))

    # -- marks ------------------------------------------------------------------------------

    def is_silenced(self, key: str) -> bool:
        return self.marks.is_silenced(key)

    async def add_mark(
        self, key: str, kind: str, until: datetime | None, *, by: str | None = None
    ) -> tuple[Mark, bool]:
        """Mute (``kind`` "mute") or acknowledge ("ack") a tenant, as ``by`` (default: who
        runs this process); written to the history database (kept in memory when there is
        none or it cannot be written), or, attached, made by the server. Returns the mark
        and whether it was saved. Raises MarkRefused when there is nothing to mark, and
        MarkNotSaved when the server did not take it."""
        row = self.model.rows.get(key)
        if row is None or row.last is None:
            raise MarkRefused("not checked yet: nothing to silence")
        holder = self.poller() if self.feed is None else None
        if (elsewhere := self._history_of(holder)) is not None:
            raise MarkRefused(
                f"{holder.describe() if holder else 'another process'} sends the alerts and "
                f"reads marks from {elsewhere}, not from this board's history: a mark made "
                "here would silence nothing (start the board with the same --data-dir)"
            )
        if self.feed is not None:
            mark, saved = await self._mark_on_server(key, kind, until), True
        else:
            mark, saved = await self._mark_here(row, kind, until, by or current_user())
        if mark.id not in {known.id for known in self.marks.of(key)}:
            self.marks.add(mark)  # (the server's row may have brought it already)
        self._show_mark_of(key)
        self.tell([self._mark_event(mark, mark_text(mark))])
        self._emit(MarksChanged(frozenset({key})))
        return mark, saved

    async def _mark_here(
        self, row: TenantRow, kind: str, until: datetime | None, by: str
    ) -> tuple[Mark, bool]:
        key, label, now = row.tenant.key, _state_label(row), self.clock.wall()
        if self.writer is not None:
            try:
                mark = await asyncio.wrap_future(
                    self.writer.call(
                        lambda db: db.add_mark(key, kind, label, now, until=until, by=by)
                    )
                )
                return mark, True
            except HistoryError as exc:
                log.warning("mark not saved: %s; kept until this session ends", exc)
        self._local_mark_ids -= 1
        return Mark(self._local_mark_ids, key, kind, now, until, by, label), False

    async def _mark_on_server(self, key: str, kind: str, until: datetime | None) -> Mark:
        """An attached board's mark, made by its server (which tells every board)."""
        assert self.feed is not None
        try:
            return await self.feed.add_mark(key, kind, until, current_user())
        except NotDone as exc:
            what = "mute" if kind == "mute" else "acknowledgement"
            log.warning("%s of %s not saved on the server: %s", what, key, exc)
            raise MarkNotSaved(f"not saved: {exc}") from None

    def _mark_event(self, mark: Mark, text: str) -> LoggedEvent:
        row = self.model.rows.get(mark.key)
        return LoggedEvent(
            at=self.clock.wall(),
            key=mark.key,
            name=row.tenant.display_name if row else mark.key,
            kind="mark",
            text=text,
            severity=SEVERITY_WORDS[row.severity if row else None],
        )

    def end_marks(self, ended: list[Mark], why: str) -> None:
        """End marks (``why``: "ended", "cleared", "cleared by ana"), in memory, the
        database and the log; attached, the server ends them (in the background: a failure
        is told as :class:`MarkNotCleared`)."""
        if not ended:
            return
        if self.feed is not None:
            ids = ",".join(str(mark.id) for mark in ended)
            self._spawn(f"clear-{ids}", self._clear_on_server(ended, why))
            return
        now = self.clock.wall()
        saved = [mark.id for mark in ended if mark.id > 0]
        if self.writer is not None and saved:
            self.writer.call(lambda db: [db.end_mark(mark_id, now) for mark_id in saved])
        self._marks_gone(ended, why)

    async def _clear_on_server(self, marks: list[Mark], why: str) -> None:
        assert self.feed is not None
        cleared = []
        for mark in marks:
            try:
                await self.feed.clear_mark(mark.id, current_user())
            except NotDone as exc:
                if exc.status != 404:  # not found: it has ended there already
                    row = self.model.rows.get(mark.key)
                    name = row.tenant.display_name if row else mark.key
                    what = "mute" if mark.kind == "mute" else "acknowledgement"
                    message = f"the {what} of {name} was not cleared: {exc}"
                    log.warning("%s", message)
                    self._emit(MarkNotCleared(message))
                    continue
            cleared.append(mark)
        self._marks_gone(cleared, why)

    def _marks_gone(self, ended: list[Mark], why: str) -> None:
        """Marks no longer in force: out of memory, off the rows, into the log."""
        if not ended:
            return
        self.marks.remove(mark.id for mark in ended)
        events = []
        for mark in ended:
            self._show_mark_of(mark.key)
            what = "mute" if mark.kind == "mute" else "acknowledgement"
            events.append(self._mark_event(mark, f"{what} {why} ({mark_text(mark)})"))
        self.tell(events)
        self._emit(MarksChanged(frozenset(mark.key for mark in ended)))

    def end_expired_marks(self) -> None:
        """Marks whose time is up, or whose tenant's outcome changed, end (logged). An
        attached board's marks are the server's: it ends them, and the rows say so."""
        if not self.marks.by_key or self.feed is not None:
            return
        labels = {}
        for key in self.marks.by_key:
            row = self.model.rows.get(key)
            if row is not None:
                labels[key] = Mark.compared_label(row.last)
        self.end_marks(self.marks.ended(self.clock.wall(), labels), "ended")

    async def read_marks(self) -> None:
        """Adopt the marks in the database: other processes (a board beside `serve`, a
        board attached to it) mute and acknowledge too."""
        if self.writer is None:
            return
        try:
            recorded: list[Mark] = await asyncio.wrap_future(
                self.writer.call(lambda db: db.marks())
            )
        except HistoryError as exc:
            log.warning("mutes not read: %s", exc)
            return
        before = {mark.id: mark.key for mark in self.marks.all()}
        local = [mark for mark in self.marks.all() if mark.id < 0]
        self.marks = MarkBook([*recorded, *local])
        after = {mark.id: mark.key for mark in self.marks.all()}
        changed = {before[i] for i in before.keys() - after.keys()}
        changed |= {after[i] for i in after.keys() - before.keys()}
        for key in changed:
            self._show_mark_of(key)
        if changed:
            self._emit(MarksChanged(frozenset(changed)))
        self.end_expired_marks()

    def _mirror_marks(self, key: str, marks: Iterable[Mark]) -> bool:
        """An attached board: the tenant's marks are the server's; True when they changed."""
        marks = set(marks)
        known = set(self.marks.of(key))
        if marks == known:
            return False
        self.marks.remove(mark.id for mark in known)
        for mark in marks:
            self.marks.add(mark)
        self._show_mark_of(key)
        return True

    def _show_mark_of(self, key: str) -> None:
        """The row's mark follows the marks in force."""
        row = self.model.rows.get(key)
        if row is None:
            return
        kinds = {mark.kind for mark in self.marks.of(key)}
        mark = "mute" if "mute" in kinds else "ack" if kinds else None
        if row.mark != mark:
            row.mark = mark
            row.bump()

    def marks_by_kind(self) -> dict[str, dict[str, Mark]]:
        """The marks in force now, by tenant key and kind (as ``check --json`` shows them)."""
        now = self.clock.wall()
        found: dict[str, dict[str, Mark]] = {}
        for mark in self.marks.all():
            if mark.active(now, None):  # one whose time ran out since the last look is gone
                found.setdefault(mark.key, {})[mark.kind] = mark
        return found

    # -- an attached board's server -----------------------------------------------------------

    def _server_rows(self, known: list[ServerRow]) -> None:
        """What the server knows of these tenants besides their checks: their marks,
        24-hour uptime and covering window, shown as a local board shows its own."""
        rows, marked, uptime = [], set(), []
        for item in known:
            row = self.model.rows.get(item.key)
            if row is None:
                continue
            rows.append(row)
            if self._mirror_marks(item.key, item.marks):
                marked.add(item.key)
            if row.uptime_24h != item.uptime_24h:
                row.uptime_24h = item.uptime_24h
                row.bump()
                uptime.append(item.key)
            if item.window is not None:
                self._server_windows[item.key] = item.window
            else:
                self._server_windows.pop(item.key, None)
        self._windows_of(rows, announce=True)
        if marked:
            self._emit(MarksChanged(frozenset(marked)))
        if uptime:
            self._emit(AvailabilityRead(tuple(uptime)))

    def _server_windows_open(self, windows: list[Window]) -> None:
        """The maintenance windows open on the server now (the header's); openings and
        closings are logged as a local board logs its own."""
        now_open = tuple(sorted(windows, key=lambda window: window.closes, reverse=True))
        before = self.maintenance.open
        self.maintenance.open = now_open
        opened = [window for window in now_open if window not in before]
        closed = [window for window in before if window not in now_open]
        if opened or closed:
            self._windows_changed(opened, closed)

    def _server_outage(self, outage: Outage | None) -> None:
        """The server's own outage (it cannot reach SuperOffice), as it says it began or
        ended (None: it has none now): shown exactly as a local board shows its own (the
        header, the rows held as stale, one event when it ends)."""
        assert isinstance(self.monitor, AttachedMonitor)
        current = self.monitor.outage
        if outage is not None and outage.ended is None:
            if current is not None and current.since == outage.since:
                current.probes = outage.probes
                return
            if current is not None:  # another one: the one known ended unseen
                self._server_outage(None)
            self.monitor.outage = outage
            self._outage_changed(outage)
            return
        if current is None:
            return
        if outage is None or outage.since != current.since:
            outage = replace(current, ended=max(self.clock.wall(), current.since))
        self.monitor.outage = None
        self._outage_changed(outage)

    def _server_incidents(self, incidents: list[HostIncident], read: bool) -> None:
        """Host incidents as the server reports them (it detects them; an attached board
        holds no checks to detect its own), told as a local board tells its own. Those
        only ``read`` (on attaching) and open are shown, not logged: they did not open now."""
        changes = [change for found in incidents if (change := self.incidents.take(found))]
        if read:
            changes = [
                replace(change, what="grew") if change.what == "opened" else change
                for change in changes
            ]
        for change in changes:
            self._incident_acted_on(change)
        self._incidents_told(changes)

    def _server_file_problem(self, problem: str | None) -> None:
        """Why the server's tenant file cannot be used (None: it can), as the server says
        when it changes: told as a local board tells its own file's, as the server's."""
        if problem == self.file_problem:
            return
        self.file_problem = problem
        if problem is None:
            self._emit(FileStatus(None, "the server's tenant file can be read again"))
            return
        message = (
            f"the server's tenant file cannot be used: {problem}. "
            "The server keeps the list and settings it had."
        )
        self._emit(FileStatus(problem, message))

    # -- maintenance windows ----------------------------------------------------------------

    def window_name(self, key: str) -> str | None:
        """The name of the maintenance window covering a tenant now, or None."""
        row = self.model.rows.get(key)
        return row.window.name if row is not None and row.window is not None else None

    def look_at_windows(self) -> None:
        """Open and close windows as their times come (cheap between those times): the
        rows follow, openings and closings are logged, scheduled windows recorded. An
        attached board's windows are the server's (:meth:`_server_windows_open`)."""
        if self.feed is not None:
            return
        opened, closed = self.maintenance.look(self.clock.wall())
        if opened or closed:
            self._windows_changed(opened, closed)

    def _windows_changed(self, opened: list[Window], closed: list[Window]) -> None:
        now = self.clock.wall()
        keys = self._windows_of(self.model.rows.values(), announce=False)
        covered: dict[str, int] = {}
        for row in self.model.rows.values():
            if row.window is not None:
                covered[row.window.name] = covered.get(row.window.name, 0) + 1
        self._record_windows(opened, closed, now)
        events = [
            self._window_event(
                f"maintenance window opened: {window.describe(now)}, covering "
                f"{covered.get(window.name, 0)} of {self.model.total} tenants",
                now,
            )
            for window in opened
        ]
        events += [
            self._window_event(f"maintenance window closed: {window.name}", now)
            for window in closed
        ]
        self.tell(events)
        self._report_not_back(keys)
        self._emit(MaintenanceChanged(tuple(opened), tuple(closed), frozenset(keys)))

    def _window_event(self, text: str, now: datetime) -> LoggedEvent:
        return LoggedEvent(now, "", "maintenance", "maintenance", text, "ok", False)

    def _record_windows(self, opened: list[Window], closed: list[Window], now: datetime) -> None:
        """The poller records scheduled windows as they open (ad hoc ones are recorded when
        started), and one closed before its time (taken out of the tenant file)."""
        if self.writer is None or not self.polling:
            return
        to_add = [window for window in opened if window.source != "adhoc"]
        cut = [w for w in closed if w.source != "adhoc" and w.end > now + timedelta(seconds=1)]
        if to_add or cut:
            self.writer.call(
                lambda db: (
                    [db.add_window(window, now) for window in to_add],
                    [db.end_window(window, now) for window in cut],
                )
            )

    def _windows_of(self, rows: Iterable[TenantRow], *, announce: bool) -> set[str]:
        """Follow which window covers each of ``rows``; returns the keys that changed. A
        tenant a window stops covering is compared with how it was when the window began:
        one still worse is reported (here, or by the caller when ``announce`` is False)."""
        changed: set[str] = set()
        for row in rows:
            key = row.tenant.key
            window = self._covering(row)
            before = row.window
            if window == before:
                continue
            row.window = window
            row.bump()
            changed.add(key)
            if before is None and (row.last is not None or self.feed is None):
                self._window_baseline[key] = row.severity or Severity.OK
            # (attached, a row's check may still be on its way: apply() takes the baseline)
            elif window is None:
                self._left_window[key] = before
        if announce and changed:
            self._report_not_back(changed)
            self._emit(MaintenanceChanged((), (), frozenset(changed)))
        return changed

    def _covering(self, row: TenantRow) -> Window | None:
        """The open window that covers the row's tenant: the server's say, attached."""
        if self.feed is not None:
            return self._server_windows.get(row.tenant.key)
        watch = self.maintenance
        return watch.covering(row.tenant, tenant_host(row.last_endpoint)) if watch.open else None

    def _report_not_back(self, keys: Iterable[str]) -> None:
        """Tenants no window covers any more that are worse than when their window began:
        a change for the worse now (a notice, the bell, the hooks)."""
        events = []
        for key in keys:
            row = self.model.rows.get(key)
            if row is None or row.window is not None or key not in self._window_baseline:
                continue
            baseline = self._window_baseline.pop(key)
            ended = self._left_window.pop(key, None)
            if row.severity is None or row.severity <= baseline:
                continue
            name = ended.name if ended is not None else "its maintenance window"
            self.notifier.observe(row, ended_window=name)
            events.append(
                LoggedEvent(
                    at=self.clock.wall(),
                    key=key,
                    name=row.tenant.display_name,
                    kind="state",
                    text=f"still {state_text(row)} after {name} ended",
                    severity=SEVERITY_WORDS[row.severity],
                    worse=True,
                )
            )
        self.tell(events)

    async def read_windows(self) -> None:
        """Adopt the ad hoc windows in the database: other processes (the command line,
        another board, `serve`) start and end them too."""
        if self.writer is None:
            return
        now = self.clock.wall()
        try:
            recorded: list[Window] = await asyncio.wrap_future(
                self.writer.call(lambda db: db.windows(now, None, source="adhoc"))
            )
        except HistoryError as exc:
            log.warning("maintenance windows not read: %s", exc)
            return
        local = [window for window in self.maintenance.adhoc.values() if (window.id or 0) < 0]
        if set(recorded) | set(local) != set(self.maintenance.adhoc.values()):
            self.maintenance.set_adhoc([*recorded, *local])
            self.look_at_windows()

    async def start_window(
        self, scope: Scope, length: timedelta, name: str = ""
    ) -> tuple[Window, bool]:
        """An ad hoc window from now, for ``length``; written to the history database
        (kept in memory when there is none or it cannot be written). Returns the window
        and whether it was saved."""
        now = self.clock.wall().replace(microsecond=0)
        by = current_user()
        window = Window("adhoc", name or f"ad hoc, by {by}", now, now + length, scope, by=by)
        self._local_window_ids -= 1
        saved_window, saved = replace(window, id=self._local_window_ids), False
        if self.writer is not None:
            try:
                saved_window = await asyncio.wrap_future(
                    self.writer.call(lambda db: db.add_window(window, now))
                )
                saved = True
            except HistoryError as exc:
                log.warning("maintenance window not saved: %s; kept until this session ends", exc)
        self.maintenance.set_adhoc([*self.maintenance.adhoc.values(), saved_window])
        self.look_at_windows()
        return saved_window, saved

    async def end_window(self, window: Window) -> None:
        """End an ad hoc window now (in the database too)."""
        now = self.clock.wall()
        if self.writer is not None and (window.id or 0) > 0:
            try:
                await asyncio.wrap_future(self.writer.call(lambda db: db.end_window(window, now)))
            except HistoryError as exc:
                log.warning("the window's end not saved: %s", exc)
        self.maintenance.set_adhoc(
            [
                replace(known, ended_at=now) if known.id == window.id else known
                for known in self.maintenance.adhoc.values()
            ]
        )
        self.look_at_windows()

    # -- history ------------------------------------------------------------------------------

    async def _start_history(self) -> None:
        """Read what earlier sessions recorded (in a thread), then start the writer."""
        path = self.config.history_path
        if path is None or self.writer is None:
            self.closed.loaded({})  # nothing recorded: no first result is a change
            self.history_loaded = True
            return
        data_dir = self.config.data_dir
        old_log = data_dir / "events.jsonl" if data_dir else None
        keys = list(self.model.list_order)
        try:
            found = await asyncio.to_thread(read_start, path, keys, import_from=old_log)
        except Exception as exc:  # a bug must not keep the session from recording
            found = StartHistory(error=classify(exc, path))
        self.writer.start()
        self._history_read(found)
        await self.adopt_open_incidents()  # one a poller that ended left open

    def _history_read(self, found: StartHistory) -> None:
        self.history_read_error = found.error
        if found.last_run_end is not None:
            self.last_ran = found.last_run_end
        self.event_log.restore(found.events)
        for mark in found.marks:
            self.marks.add(mark)
        for key in list(self.marks.by_key):
            self._show_mark_of(key)
        self.end_expired_marks()
        self.history_loaded = True
        self._compare_firsts(self.closed.loaded(found.last_recorded))
        self.first_seen.adopt(found.versions_first_seen)
        changed = self.model.seed_versions(found.last_versions, self.clock.wall())
        self.tell(logged_events(changed))
        if found.error is not None:
            log.error("history not read: %s; working from memory", found.error)
        self._emit(HistoryRead(found.error))
        if self.uptime_wanted:
            self.refresh_uptime()

    def _compare_firsts(self, results: list[CheckResult]) -> None:
        """Tenants' first results against what was recorded, in a thread."""
        results = self.closed.to_compare(results) if self.closed.last is None else results
        if results and self.closed.last:
            self._spawn(f"closed-{id(results)}", self._changes_while_closed(results))

    async def _changes_while_closed(self, results: list[CheckResult]) -> None:
        changes = await asyncio.to_thread(self.closed.compare, results)
        self.tell(self._closed_events(changes))

    def _closed_events(self, changes: list[ClosedChange]) -> list[LoggedEvent]:
        """Changes found between the last recorded outcome and this session's first."""
        events = []
        for change in changes:
            row = self.model.rows.get(change.key)
            if row is None:
                continue
            after = change.after.as_interval().severity
            kind, text = "state", change.describe()
            if change.before.label == change.after.label:  # the same state on another host
                when = text[text.index(" while closed") :]
                before, now = change.before.host or "?", change.after.host or "?"
                kind, text = "endpoint", f"endpoint host {before} → {now}{when}"
            events.append(
                LoggedEvent(
                    at=change.closed_to,
                    key=change.key,
                    name=row.tenant.display_name,
                    kind=kind,
                    text=text,
                    severity=SEVERITY_WORDS[after],
                    worse=after > change.before.severity,
                )
            )
        return events

    @property
    def history_error(self) -> HistoryError | None:
        """What keeps the history from being written or read now, if anything."""
        return (self.writer.error if self.writer else None) or self.history_read_error

    def _say_writer_error(self) -> None:
        error = self.writer.error if self.writer else None
        text = str(error) if error else None
        if text != self._reported_writer_error:
            self._reported_writer_error = text
            if error is not None:
                log.error("%s; working from memory", error)
            self._emit(HistoryProblem(error))

    @property
    def keeps_availability(self) -> bool:
        """True when there is availability to read: a history database, or the server's."""
        return self.writer is not None or self.feed is not None

    def availability_note(self, key: str) -> str:
        """Why there are no figures for a tenant (yet), for the detail pane."""
        if self.feed is not None:
            problem = self.availability_problems.get(key)
            return f"not read from the server: {problem}" if problem else "asking the server…"
        if self.config.history_path is None:
            return "no history database (demo): history is kept in memory only"
        return "reading the history…"

    async def read_availability(
        self, keys: list[str], *, with_strip: bool
    ) -> dict[str, TenantAvailability]:
        """Read availability in a thread (after the writer has written what it holds), or,
        attached, from the server (with the strip only: the rows bring the uptime); the
        rows' 24-hour uptime follows. A failure leaves the figures as they were."""
        if self.feed is not None:
            found = await self._server_availability(keys) if with_strip else None
            keys = list(found or ())  # a tenant the server did not answer for keeps its figures
        else:
            found = await self._recorded_availability(keys, with_strip)
        if found is None:
            return {}
        if with_strip:
            self.availability.update((key, found[key]) for key in keys if key in found)
        self._set_uptime(keys, {key: figures.uptime_24h for key, figures in found.items()})
        return found

    def _set_uptime(self, keys: list[str], uptime: Mapping[str, float | None]) -> None:
        """The rows' 24-hour uptime as read (None for a tenant not in ``uptime``)."""
        self._emit(AvailabilityRead(tuple(keys), tuple(self._uptime_changes(keys, uptime))))

    def _uptime_changes(
        self, keys: list[str], uptime: Mapping[str, float | None]
    ) -> list[tuple[str, int, int]]:
        """Set the rows' uptime; for each row changed, its key and revisions before and after."""
        changed = []
        for key in keys:
            row = self.model.rows.get(key)
            figure = uptime.get(key)
            if row is not None and row.uptime_24h != figure:
                before = row.revision
                row.uptime_24h = figure
                row.bump()
                changed.append((key, before, row.revision))
        return changed

    async def _recorded_availability(
        self, keys: list[str], with_strip: bool
    ) -> dict[str, TenantAvailability] | None:
        path = self.config.history_path
        if path is None or self.writer is None:
            return None
        now = self.clock.wall()
        try:
            await asyncio.to_thread(self.writer.flush, 2.0)
            return await asyncio.to_thread(
                read_availability, path, keys, now, with_strip=with_strip
            )
        except HistoryError as exc:
            self.history_read_error = exc
            return None

    async def _server_availability(self, keys: list[str]) -> dict[str, TenantAvailability]:
        assert self.feed is not None
        found = {}
        for key in keys:
            try:
                found[key] = await self.feed.availability(key)
            except NotDone as exc:
                self.availability_problems[key] = str(exc)
                self._emit(AvailabilityRead((key,)))
                continue
            self.availability_problems.pop(key, None)
        return found

    async def read_version_history(self, key: str) -> list[VersionSpan]:
        """One tenant's versions from the history, read in a thread (after the writer has
        written what it holds); kept in :attr:`version_history`. A failure keeps the last."""
        path = self.config.history_path
        if path is None or self.writer is None:
            return []
        try:
            await asyncio.to_thread(self.writer.flush, 2.0)
            spans = await asyncio.to_thread(read_version_history, path, key)
        except HistoryError as exc:
            self.history_read_error = exc
            return self.version_history.get(key, [])
        self.version_history[key] = spans
        self._emit(VersionHistoryRead(key))
        return spans

    def version_summaries(self) -> list[VersionSummary]:
        """Each version the tenants answered with, newest first: how many run it, on which
        hosts, and when it was first seen (the versions view, `/metrics`)."""
        return summarize(self.model.versions, self.first_seen.at)

    def refresh_uptime(self) -> None:
        """Every tenant's 24-hour uptime, read in the background (attached: the server's
        rows bring it)."""
        if self.feed is not None:
            return
        self._spawn("uptime", self._read_uptime(list(self.model.list_order)))

    async def _read_uptime(self, keys: list[str]) -> None:
        """The rows' 24-hour uptime from the history: a number per tenant (reader.read_uptime),
        kept by nothing but the rows (a finished task keeps what it returned)."""
        path = self.config.history_path
        if path is None or self.writer is None:
            return
        now = self.clock.wall()
        try:
            await asyncio.to_thread(self.writer.flush, 2.0)
            uptime = await asyncio.to_thread(read_uptime, path, keys, now)
        except HistoryError as exc:
            self.history_read_error = exc
            return
        changed = []
        for start in range(0, len(keys), UPTIME_SLICE):  # 100,000 rows took 50 ms at once
            changed += self._uptime_changes(keys[start : start + UPTIME_SLICE], uptime)
            await asyncio.sleep(0)
        self._emit(AvailabilityRead(tuple(keys), tuple(changed)))

    def availability_age(self, key: str) -> float | None:
        """Seconds since the tenant's availability was read with its strip, or None."""
        known = self.availability.get(key)
        return (self.clock.wall() - known.read_at).total_seconds() if known else None


def _state_label(row: TenantRow) -> str:
    """What a mark made now is compared with later: the last real state answer (a mark made
    while checks fail, in our outage say, is about the state the tenant was last seen in),
    or the failure when no answer ever came."""
    if row.state is not None:
        return outcome_label(clean(row.state.state_name, 60), None)
    return Observation.from_result(row.last).label if row.last else "not checked"


def _incident_record(incident: HostIncident, joined: Iterable[str]) -> IncidentRecord:
    """The incident as the history keeps it, with the members to add."""
    return IncidentRecord(
        host=incident.host,
        since=incident.since,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        state=incident.state,
        tenants=incident.tenants,
        members=len(incident.members),
        peak=incident.peak,
        back=incident.back,
        member_keys=tuple(joined),
    )


def _recorded_incident(record: IncidentRecord) -> HostIncident:
    """An open incident as the history keeps it, for the detector to carry on."""
    return HostIncident(
        number=0,
        host=record.host,
        since=record.since,
        opened_at=record.opened_at,
        members=dict.fromkeys(record.member_keys, True),
        tenants=record.tenants,
        state=record.state,
        peak=record.peak,
    )


async def _close_later(client: TenantClient, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()


__all__ = [
    "AvailabilityRead",
    "CommandsRefused",
    "EventsLogged",
    "FileStatus",
    "HistoryProblem",
    "HistoryRead",
    "HooksChanged",
    "IncidentChanged",
    "ListChanged",
    "MarkNotCleared",
    "MarkNotSaved",
    "MarkRefused",
    "MarksChanged",
    "OutageChanged",
    "ResultsApplied",
    "RoleChanged",
    "ServerStatus",
    "Session",
    "SessionChange",
    "SessionConfig",
    "SettingsChanged",
    "VersionFetched",
    "VersionHistoryRead",
    "with_overrides",
]
