"""The board: the screen that shows every tenant of a session, and every key that works on it.

The board is view and keys over a :class:`~tenantboard.session.Session`, which checks,
records and alerts without a screen. Data flows one way: the session's checks pass the
board's pacing (:class:`~tenantboard.pacing.Pacing` gathers them into one
:class:`~tenantboard.messages.ResultsArrived` message), the board hands each batch to
:meth:`Session.apply`, and the session's typed changes (:data:`~tenantboard.session_changes.SessionChange`)
come back to :meth:`BoardScreen.session_changed`, which redraws what changed. Each binding
carries its own help text (``tooltip``): the help screen, the key bar, the command palette and
docs/board.md's key table all come from :data:`BoardScreen.BINDINGS`.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Resize
from textual.widgets import Input

from tenantboard.clock import Clock
from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult, Monitor
from tenantboard.eventlog import EventLog, LoggedEvent, notices
from tenantboard.groups import DIMENSION_NAMES, DIMENSIONS
from tenantboard.humanize import plural
from tenantboard.incidents import HostIncident
from tenantboard.maintenance import header_text
from tenantboard.remote import AttachedMonitor
from tenantboard.rows import (
    SORTS,
    BoardModel,
    GroupLine,
    TenantRow,
    checked_text,
    describe_next,
    group_line_id,
)
from tenantboard.sanitize import clean
from tenantboard.session import Session, SessionConfig
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
from tenantboard.ui.messages import ResultsArrived
from tenantboard.ui.pacing import Pacing, Timer, clock_timers
from tenantboard.ui.screens.board_keys import BOARD_BINDINGS
from tenantboard.ui.screens.check_actions import CheckActions
from tenantboard.ui.screens.detail_actions import AVAILABILITY_EVERY, VERSION_REST, DetailActions
from tenantboard.ui.screens.list_actions import ListActions
from tenantboard.ui.screens.maintenance import MaintenanceActions
from tenantboard.ui.screens.marks import MarkActions
from tenantboard.ui.screens.view_actions import ViewActions
from tenantboard.ui.textual_overrides import FrameTimerScreen
from tenantboard.ui.widgets.change_line import ChangeLine, IncidentLine
from tenantboard.ui.widgets.detail import DetailPane
from tenantboard.ui.widgets.event_log import EventLogPanel
from tenantboard.ui.widgets.filter_line import FilterLine
from tenantboard.ui.widgets.keybar import KeyBar
from tenantboard.ui.widgets.summary import SummaryBar, activity_text, counts_text, status_text
from tenantboard.ui.widgets.table import TenantTable
from tenantboard.ui_state import UiState

#: Below this width the detail pane takes the whole screen instead of covering the right side.
NARROW_WIDTH = 110
#: More state changes than this in one moment make one summary notification, not many.
MAX_TOASTS = 3
#: After a state-change pop-up, the next waits this long (seconds): at fleet scale changes
#: come every few seconds, and the change line tells them all.
TOAST_GAP = 10.0
#: Seconds a message that needs the operator (a change not saved, a broken file) stays up.
NEEDS_OPERATOR_SECONDS = 600
#: Seconds between redraws of the table's relative times ("10s ago", "in 4m"), on the
#: wall clock's 5-second marks so that rows whose texts change in the same few seconds are
#: drawn in one frame (an idle board at 10,000 tenants drew a frame a second for them).
#: A row is still drawn at once when its result arrives; the header's clock and the detail
#: pane count every second.
TABLE_TIMES_EVERY = 5


@dataclass
class BoardConfig:
    """The board: its session, and what only a screen needs."""

    session: SessionConfig
    demo: bool = False
    clock: Clock | None = None
    #: Seconds between redraws of relative times and the clock.
    tick_interval: float = 1.0
    #: How rows are grouped when the operator has not chosen (the demo groups by host).
    group_by: str | None = None


class BoardScreen(
    DetailActions,
    ViewActions,
    CheckActions,
    ListActions,
    MarkActions,
    MaintenanceActions,
    FrameTimerScreen,
):
    """Every tenant as a row, a detail pane, the event log, the filter line and the key bar."""

    BINDINGS = BOARD_BINDINGS

    def __init__(
        self, session: Session, config: BoardConfig, clock: Clock, remembered: UiState
    ) -> None:
        super().__init__(id="board")
        self.session = session
        self.config = config
        self.clock = clock
        self.remembered = remembered
        if session.last_ran is None:
            session.last_ran = remembered.last_seen
        #: The tenant the detail pane shows, or None while it is closed.
        self.detail_key: str | None = None
        self._last_toast = -TOAST_GAP
        self._version_timer: Timer | None = None
        #: Whose availability the pane last asked for, and when (monotonic).
        self._availability_asked: tuple[str | None, float] = (None, 0.0)
        #: The header's counts as last drawn, and what they were drawn from (once a second
        #: the clock changes and the counts, mostly, do not).
        self._counts_drawn: tuple[tuple, tuple[Text, Text]] | None = None
        self._table_times_slot = 0
        self._unsubscribe: Callable[[], None] | None = None
        #: One-shot timers on the injected clock (a test moves them with its fake clock).
        self.start_timer = clock_timers(clock, self.call_later)
        self.pacing: Pacing[CheckResult, LoggedEvent] = Pacing(
            now=clock.monotonic,
            start_timer=self.start_timer,
            deliver=lambda batch: self.post_message(ResultsArrived(batch)),
            redo_view=self.apply_view,
            redraw_header=self.update_summary,
            announce=self._announce,
        )
        session.set_gate(self.pacing.add)
        # Kept as attributes, not queried: results may still arrive while the app is
        # shutting down and its widgets are already gone.
        self.summary = SummaryBar(id="summary")
        self.table = TenantTable(self.model, self.describe_times, self.group_note, id="table")
        self._attached_hint(connected=False)
        #: The open host incidents, one line under the header while there are any.
        self.incident_line = IncidentLine(id="incidents")
        self.detail = DetailPane(id="detail")
        self.log_panel = EventLogPanel(id="event-log")
        self.change_line = ChangeLine(id="changes")
        self.filter_line = FilterLine(
            self._filter_changed,
            placeholder="filter: context id, label, env, host, state, version; host: tag: env: version:",
            id="filter",
            compact=True,
        )

    @property
    def model(self) -> BoardModel:
        return self.session.model

    @property
    def monitor(self) -> Monitor | AttachedMonitor:
        return self.session.monitor

    @property
    def event_log(self) -> EventLog:
        return self.session.event_log

    # -- set-up ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.summary
        yield self.incident_line
        with Horizontal(id="main"):
            # The pane first: Textual numbers the paint order of #main's children from its
            # last, so the table keeps its place whether the pane is shown or not, and
            # opening the pane repaints only the pane (the table before it was repainted
            # whole: a second full screen per key).
            yield self.detail
            yield self.table
        yield self.log_panel
        yield self.change_line
        yield self.filter_line
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self._unsubscribe = self.session.subscribe(self.session_changed)
        view = self.model.view
        view.sort = self.remembered.sort if self.remembered.sort in SORTS else "list"
        view.attention_only = self.remembered.attention_only
        remembered = self.remembered.group_by
        view.group_by = remembered if remembered in DIMENSIONS else self.config.group_by
        if remembered == "":
            view.group_by = None  # the operator turned grouping off
        self.model.recompute_view()
        self.log_panel.display = self.remembered.log_open
        self.table.rows_changed()
        self.table.focus()
        self.update_summary()
        self.update_log()
        self.set_interval(self.config.tick_interval, self.tick)
        self.table.show_column("uptime", self.remembered.show_uptime)
        self.session.uptime_wanted = self._uptime_wanted()
        self.set_class(self.app.no_color, "-no-color")
        self._say_commands_refused()
        self.pacing.collector.start()

    async def on_unmount(self) -> None:
        self.pacing.stop()
        self.pacing.collector.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        self._show_detail(self.detail_key is not None)
        self.update_summary()

    # -- what the session tells -----------------------------------------------------------------

    def on_results_arrived(self, message: ResultsArrived) -> None:
        self.session.apply(message.results)

    def session_changed(self, change: SessionChange) -> None:
        """Every change the session tells, drawn (one way: session -> screen)."""
        match change:
            case ResultsApplied(rows=rows):
                self._rows_changed(rows)
            case EventsLogged(told=told):
                self._tell(told)
            case OutageChanged(outage=outage):
                self._outage_changed(outage)
            case ListChanged(source=source):
                self._list_changed(source)
            case FileStatus(problem=problem, message=message):
                self._file_status(problem, message)
            case SettingsChanged(message=message):
                self.app.apply_keymap()
                self.notify(message, timeout=6, markup=False)
            case HooksChanged(message=message):
                self.notify(message, timeout=6, markup=False)
            case CommandsRefused():
                self._say_commands_refused()
            case MarksChanged(keys=keys) | MaintenanceChanged(keys=keys):
                self._marks_changed(keys)
                self.update_summary()
            case MarkNotCleared(message=message):
                self.notify(message, severity="error", timeout=10, markup=False)
            case HistoryRead(error=error):
                if error is not None:
                    self.alert(f"history not read: {error}. The board keeps working from memory.")
                self.update_log()
                self.update_summary()
                if self.model.view.attention_only:
                    self.apply_view()
            case HistoryProblem(error=error) if error is not None:
                self.notify(
                    f"{error}. The board keeps working from memory.",
                    severity="error",
                    timeout=30,
                    markup=False,
                )
            case AvailabilityRead(keys=keys):
                self._availability_read(keys)
            case VersionFetched(key=key):
                self._redraw_keys({key})
                if key == self.detail_key:
                    self.show_detail_of_cursor_row(fetch=False)
            case VersionHistoryRead(key=key) if key == self.detail_key:
                self.show_detail_of_cursor_row(fetch=False)
            case RoleChanged(message=message):
                self.notify(message, timeout=8, markup=False)
                self.update_summary()
            case IncidentChanged(incident=incident, what=what):
                self._incident_changed(incident, what)
            case ServerStatus(message=message, connected=connected, refused=refused):
                if refused:
                    self.server_refused(message)
                else:
                    self._attached_hint(connected)
                    if connected:  # (the server's snapshot is in: its rows are here to stay)
                        self.pacing.collector.settle()
                        self.notify(message, timeout=4, markup=False)
                self.standing_problem("server", "" if connected else message)

    def _rows_changed(self, rows: tuple[TenantRow, ...]) -> None:
        model = self.model
        changed = {row.tenant.key for row in rows}
        if model.groups_of:  # the groups' counts changed with their rows
            for key in list(changed):
                changed.update(header.line_id for header in model.groups_of.get(key, ()))
        if self.detail_key in changed:
            self.show_detail_of_cursor_row()
        self.table.lines_updated(changed)
        if model.view.depends_on_results or model.regroup_needed:
            self.pacing.view_soon()
        self.pacing.header_soon()

    def _tell(self, told: tuple[LoggedEvent, ...]) -> None:
        """The log shows every event; state changes worth telling make a notice, and one
        for the worse rings the bell (``bell = true``)."""
        self.update_log()
        self.pacing.notice([event for event in told if event.kind in ("state", "incident")])
        if self.session.settings.bell and any(event.worse for event in told):
            self.app.bell()

    def _announce(self, events: list[LoggedEvent]) -> None:
        """State changes go to the change line, all of them; pop-ups only for a few at a
        time, at most one every :data:`TOAST_GAP` seconds, and only while the operator
        wants them: at fleet scale they would bury the board."""
        newest = events[-1]
        more = f"  (+{len(events) - 1} more)" if len(events) > 1 else ""
        line = Text(no_wrap=True)
        line.append(f" {newest.at.astimezone():%H:%M:%S} ", "bold")
        line.append(f"{newest.name}: {newest.text}{more}")
        line.append("   l: event log", "dim")
        self.change_line.show(line)
        self._show_change_line()
        now = self.clock.monotonic()
        if not self.remembered.notify_changes or now - self._last_toast < TOAST_GAP:
            return
        if self.app.screen is not self:  # a form or dialog is open: no pop-up over its buttons
            return
        self._last_toast = now
        for notice in notices(events, MAX_TOASTS):
            severity = "warning" if notice.worse else "information"
            self.notify(notice.message, title=notice.title, severity=severity, markup=False)

    def server_refused(self, message: str) -> None:
        """--attach: the server refused this board (no token, or not its token). Said in
        the table instead of the empty list's hint, and as an alert; nothing is retried."""
        self.table.empty_hint = message
        self.table.refresh()
        self.alert(message)

    def _attached_hint(self, connected: bool) -> None:
        """An attached board's list is the server's (``a`` is refused): its empty list says
        whether the server has answered."""
        target = self.session.config.attach
        if target is None:
            return
        url = clean(target.url, 80)
        self.table.empty_hint = (
            f"The server's list is empty ({url}): tenants are added to its tenant file."
            if connected
            else f"Waiting for {url} to answer: its list shows here once it does."
        )
        self.table.refresh()

    def alert(self, message: str) -> None:
        """A message that needs the operator: it stays up until read (or ten minutes)."""
        self.notify(message, severity="error", timeout=NEEDS_OPERATOR_SECONDS, markup=False)

    def standing_problem(self, kind: str, text: str) -> None:
        """A problem true until it is not (the tenant file cannot be used, the server an
        attached board follows is gone) leads the change line while it lasts, the log open
        or not; "" ends it."""
        self.change_line.set_problem(kind, text)
        self._show_change_line()

    def _show_change_line(self) -> None:
        line = self.change_line
        line.display = bool(line.problems) or (bool(line.text) and not self.log_panel.display)

    def _outage_changed(self, outage: Outage) -> None:
        """The board's own network trouble: one alarm in the header and a standing problem
        on the change line (whole, wrapped) while it lasts; the session logs one event with
        its start and end."""
        if outage.ended is None:
            self.standing_problem("outage", f"{outage.headline}; rows show what was last known")
        else:
            self.standing_problem("outage", "")
            self.change_line.show(Text(f" {outage.summary()}; re-checking every tenant"))
            self._show_change_line()
            self.notify(
                "reached SuperOffice again: every tenant is re-checked within a minute",
                timeout=6,
                markup=False,
            )
        self.update_summary()
        self.update_log()  # failures it held back are no longer the tenants'
        self.table.refresh()

    def _incident_changed(self, incident: HostIncident, what: str) -> None:
        """A host incident: the line under the header says what is open; opening and
        resolving pop up once (the change line and the event log tell them too)."""
        self.show_incidents()
        if self.model.view.group_by == "host":
            index = self.model.index_of(group_line_id(incident.host))
            if index is not None:
                self.table.row_updated(index)
        if self.detail_key in incident.members:
            self.show_detail_of_cursor_row(fetch=False)
        if what == "opened":
            self.notify(incident.headline(), title="host incident", severity="error", markup=False)
        elif what == "resolved":
            self.notify(incident.resolved_text(), title="host incident", markup=False)

    def show_incidents(self) -> None:
        """The line under the header: the newest open host incident (and how many more)."""
        open_now = [i for i in self.session.incidents.all() if i.is_open]
        self.incident_line.display = bool(open_now)
        if not open_now:
            return
        text = Text(no_wrap=True)
        text.append(f" ✖ host incident: {open_now[0].headline()}")
        if len(open_now) > 1:
            others = ", ".join(incident.host for incident in open_now[1:3])
            more = "…" if len(open_now) > 3 else ""
            text.append(f"   +{len(open_now) - 1} more: {others}{more}")
        text.append("   (its tenants' own alerts are held back)", "dim")
        self.incident_line.show(text)

    def group_note(self, header: GroupLine) -> str:
        """A host group's header names the host's open incident."""
        if header.dimension != "host":
            return ""
        incident = self.session.incidents.open.get(header.value)
        if incident is None:
            return ""
        return f"✖ host incident since {incident.since.astimezone():%H:%M}"

    def _list_changed(self, source: str) -> None:
        if self.detail_key is not None and self.detail_key not in self.model.rows:
            self.action_close_detail()
        if source == "server":  # a big server's list comes in steps: the view once a second
            self.pacing.view_soon()
        else:
            self.apply_view()
        if source == "file":
            self.notify("the tenant file changed on disk: list reloaded", timeout=5, markup=False)

    def _file_status(self, problem: str | None, message: str) -> None:
        self.standing_problem("tenant file", message if problem is not None else "")
        if problem is None:
            self.notify(message, timeout=5, markup=False)

    def _say_commands_refused(self) -> None:
        """While the tenant file's command hooks are refused, the change line says why (it
        goes when the file is fixed: its mode and owner are part of what the session
        watches)."""
        self.standing_problem("hooks", self.session.commands_refused or "")

    def _marks_changed(self, keys: frozenset[str]) -> None:
        self._redraw_keys(keys)
        if self.detail_key in keys:
            self.show_detail_of_cursor_row(fetch=False)
        if self.model.view.attention_only:
            self.apply_view()

    def _availability_read(self, keys: tuple[str, ...]) -> None:
        if self.model.view.sort == "uptime":  # at most once a second (an attached board's
            self.pacing.view_soon()  # uptimes come with each row the server sends)
        else:
            self.model.refresh_group_uptime()
            self.table.refresh()
        if self.detail_key in keys:
            self.show_detail_of_cursor_row(fetch=False)

    def tick(self) -> None:
        """Once a second: relative times, the clock, the open pane."""
        self.pacing.tick()
        self.update_summary()
        slot = int(self.clock.wall().timestamp()) // TABLE_TIMES_EVERY
        if slot != self._table_times_slot:
            self._table_times_slot = slot
            self.table.tick()
        if self.detail_key is not None:
            self.show_detail_of_cursor_row()
            self._availability_of_detail(only_if_older=AVAILABILITY_EVERY)

    # -- what the widgets show ------------------------------------------------------------------

    def apply_view(self) -> None:
        """Recompute the rows shown (filter, attention, sort, groups); keep the cursor on
        its tenant (on a group's header line, on the same line: groups come and go as
        answers name their hosts). A tenant that left the view (marked in the attention
        view) leaves the cursor on the line that took its place, not on the first."""
        key = self.table.cursor_key
        on_line = self.table.cursor
        lines_before = self.model.lines
        self.pacing.view_done()
        self.model.recompute_view(self.monitor.due_at)
        self.table.rows_changed()
        index = self.model.index_of(key) if key else on_line if key is None else None
        if index is None and key in self.model.groups_of:  # its group was folded
            index = self.model.index_of(self.model.groups_of[key][0].line_id)
        if index is None:
            index = self._line_in_its_place(lines_before, on_line)
        self.table.move_cursor_to(index)
        self.update_summary()

    def _line_in_its_place(self, lines_before: list[str], gone: int) -> int:
        """Where the cursor goes when the line it was on (``gone`` in ``lines_before``)
        is no longer shown: the first line after it still shown, else the last before it."""
        model = self.model
        after, before = lines_before[gone + 1 :], reversed(lines_before[:gone])
        for line in (*after, *before):
            index = model.index_of(line)
            if index is not None:
                return index
        return 0

    def describe_times(self, row: TenantRow) -> tuple[str, str]:
        """(checked, next) texts for a row, as of now; called as lines are drawn. A row
        held through the board's own outage says how old its last known state is."""
        checked = checked_text(row, self.clock.wall(), outage=self.monitor.outage is not None)
        return checked, self.next_check_text(row)[0]

    def next_check_text(self, row: TenantRow) -> tuple[str, str]:
        """Short text for the table and the reason for the detail pane."""
        monitor = self.monitor
        if isinstance(monitor, AttachedMonitor):
            return "on server", f"checked by {monitor.feed.target.url}, which keeps the schedule"
        key = row.tenant.key
        return describe_next(
            row,
            checking=monitor.is_checking(key),
            paused=monitor.paused,
            due=monitor.due_at(key),
            now=self.clock.monotonic(),
            outage=monitor.outage is not None,
        )

    def history_note(self) -> tuple[str, bool]:
        """The header's history note and whether it is a problem."""
        session = self.session
        error = session.history_error
        if error is not None:
            return f"history: not saved ({clean(error.detail, 40)})", True
        role = session.role_text()
        if role:
            return role, False
        if session.last_ran is None:
            return "", False
        now = self.clock.wall().astimezone()
        ran = session.last_ran.astimezone()
        shown = f"{ran:%H:%M}" if ran.date() == now.date() else f"{ran:%b %d %H:%M}"
        return f"last ran {shown}", False

    def update_summary(self) -> None:
        monitor = self.monitor
        history, problem = self.history_note()
        activity = activity_text(
            in_flight=monitor.in_flight,
            now=self.clock.wall(),
            history=history,
            history_problem=problem,
        )
        counts = self.model.counts
        key = tuple(counts.items())
        if self._counts_drawn is None or self._counts_drawn[0] != key:
            self._counts_drawn = (key, (counts_text(counts), counts_text(counts, compact=True)))
        statuses = tuple(
            status_text(
                total=self.model.total,
                demo=self.config.demo,
                note=self._view_note(compact=compact),
                alarm=monitor.outage.headline if monitor.outage is not None else "",
                paused=monitor.paused,
                planned=header_text(
                    self.session.maintenance.open, self.clock.wall(), compact=compact
                ),
            )
            for compact in (False, True)
        )
        self.summary.show(self._counts_drawn[1], statuses, activity)

    def _view_note(self, *, compact: bool = False) -> str:
        """What the view shows, for the header; ``compact`` says it in fewer words (80
        columns: "by host, 11 needing attention")."""
        view = self.model.view
        notes = []
        target = self.session.config.attach
        if target is not None:
            notes.append("attached" if compact else f"attached to {clean(target.url, 60)}")
        if view.group_by is not None:
            grouped = view.group_by if compact else DIMENSION_NAMES[view.group_by]
            notes.append(f"{'' if compact else 'grouped '}by {grouped}")
        shown = self.model.shown
        if view.attention_only:
            notes.append(f"{shown} needing attention" if compact else f"showing {shown}")
            if not compact:
                notes.append("needing attention")
        elif view.filter_text:
            notes.append(f"{shown} shown" if compact else f"showing {shown}")
        if view.filter_text:
            notes.append(f"matching {clean(view.filter_text, 20 if compact else 30)!r}")
        if view.sort != "list":
            notes.append(SORTS[view.sort] if compact else f"sorted by {SORTS[view.sort]}")
        return ", ".join(notes)

    def update_log(self) -> None:
        if not self.log_panel.display:
            return
        events = self.event_log.events
        title = f"Event log: {plural(len(events), 'event')}, newest first"
        last_seen = self.session.last_ran
        if last_seen is not None:
            title += f"; board last seen running {last_seen.astimezone():%Y-%m-%d %H:%M}"
        self.log_panel.show(events, title, self.clock.wall())

    def _redraw_keys(self, keys: Container[str]) -> None:
        """Redraw these tenants' lines once the current message is handled: one callback
        for them all (a window opening over 100,000 tenants of an attached board made as
        many callbacks, 10 s of work), and only the lines on screen are looked at."""
        self.call_later(self.table.lines_updated, keys)

    # -- the widgets' messages and the focus ------------------------------------------------------

    @on(TenantTable.Highlighted)
    def _follow_cursor(self, message: TenantTable.Highlighted) -> None:
        """The pane follows the cursor at once; the version document is fetched only for the
        row the cursor rests on, not for every row it passes."""
        if self.detail_key is not None and message.key is not None:
            self.detail_key = message.key
            self.show_detail_of_cursor_row(fetch=False)
            if self._version_timer is not None:
                self._version_timer.stop()
            self._version_timer = self.start_timer(VERSION_REST, self._fetch_for_resting_cursor)

    @on(TenantTable.Chosen)
    def _chosen(self, message: TenantTable.Chosen) -> None:
        self.toggle_detail()

    def _leave_key_to_a_widget_that_types(self) -> None:
        """A priority binding sees its key before any widget does: the filter line, a form,
        a dialog or the command palette keeps it."""
        if self.app.screen is not self or isinstance(self.focused, Input):
            raise SkipAction()

    def _give_keys_to_the_table(self) -> None:
        """Focus the table now, not after a turn of the loop (``Widget.focus``): a key queued
        right behind this one (escape, then /) must find the focus where this one left it,
        or the table takes it back from the filter line the slash has just opened."""
        self.set_focus(self.table)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.filter_line.display = bool(self.filter_line.value)
        self._give_keys_to_the_table()

    @on(FilterLine.Cleared)
    def _filter_cleared(self) -> None:
        self.filter_line.value = ""
        self.filter_line.display = False
        self._give_keys_to_the_table()
