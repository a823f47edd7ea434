"""The board: the screen that shows every tenant, and every key that works on it.

Data flows one way: the monitor reports each finished check to :meth:`BoardScreen.result_arrived`,
the pacing policy gathers results into one :class:`~tenantboard.messages.ResultsArrived`
message, and its handler updates the rows and redraws what changed. Each binding carries its
own help text (``tooltip``): the help screen, the key bar, the command palette and the
docs/board.md's key table all come from :data:`BoardScreen.BINDINGS`.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Input

from tenantboard.client import BaseUrl, TenantClient
from tenantboard.clock import Clock
from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult, Monitor, unexpected
from tenantboard.errors import CheckError
from tenantboard.eventlog import EventLog, LoggedEvent, logged_events, notices
from tenantboard.history import (
    ClosedChange,
    HistoryError,
    HistoryWriter,
    classify,
)
from tenantboard.humanize import SEVERITY_WORDS, ago
from tenantboard.list_keeper import ChangeKind, ListKeeper
from tenantboard.messages import ResultsArrived, VersionArrived
from tenantboard.notify import Notifier
from tenantboard.pacing import Pacing
from tenantboard.remote import AttachedMonitor, AttachTarget
from tenantboard.rows import SORTS, BoardModel, TenantRow, describe_next
from tenantboard.sanitize import clean
from tenantboard.screens.board_keys import BOARD_BINDINGS, MOVE_KEYS, PALETTE_KEY
from tenantboard.screens.help import HelpScreen
from tenantboard.screens.marks import MarkActions
from tenantboard.screens.tenant_form import ConfirmScreen, TenantForm
from tenantboard.session_history import (
    ClosedWatch,
    MarkBook,
    StartHistory,
    TenantAvailability,
    mark_text,
    read_availability,
    read_start,
)
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import NotifyHook, Settings, StoreError, TenantStore
from tenantboard.textual_overrides import FrameTimerScreen
from tenantboard.ui_state import UiState
from tenantboard.widgets.change_line import ChangeLine
from tenantboard.widgets.detail import DetailContext, DetailPane
from tenantboard.widgets.event_log import EventLogPanel
from tenantboard.widgets.filter_line import FilterLine
from tenantboard.widgets.keybar import KeyBar
from tenantboard.widgets.summary import SummaryBar, activity_text, counts_text, status_text
from tenantboard.widgets.table import TenantTable

#: Below this width the detail pane takes the whole screen instead of covering the right side.
NARROW_WIDTH = 110
#: More state changes than this in one moment make one summary notification, not many.
MAX_TOASTS = 3
#: After a state-change pop-up, the next waits this long (seconds): at fleet scale changes
#: come every few seconds, and the change line tells them all.
TOAST_GAP = 10.0
#: Seconds a message that needs the operator (a change not saved, a broken file) stays up.
NEEDS_OPERATOR_SECONDS = 600
#: The change line's standing problem while the tenant file cannot be read.
TENANT_FILE_PROBLEM = "tenant file"
#: Seconds the cursor rests on a row before the detail pane fetches its version document.
VERSION_REST = 0.3
#: The keys that move between tenants (the table's own bindings), for the help screen.
#: Seconds between reads of availability while the pane is open or the column is shown.
AVAILABILITY_EVERY = 60.0
#: Seconds between looks for mutes whose time is up (and writer errors that cleared).
MARKS_EVERY = 15.0
#: Seconds between redraws of the table's relative times ("10s ago", "in 4m"), on the
#: wall clock's 5-second marks so that rows whose texts change in the same few seconds are
#: drawn in one frame (an idle board at 10,000 tenants drew a frame a second for them).
#: A row is still drawn at once when its result arrives; the header's clock and the detail
#: pane count every second.
TABLE_TIMES_EVERY = 5


@dataclass
class BoardConfig:
    tenants: list[Tenant]
    settings: Settings = field(default_factory=Settings)
    base_url: BaseUrl | None = None
    demo: bool = False
    store: TenantStore | None = None
    #: Injected in tests and the demo (the in-process simulator); None means the network.
    transport: httpx.AsyncBaseTransport | None = None
    clock: Clock | None = None
    rng: random.Random | None = None
    #: Seconds between redraws of relative times and the clock.
    tick_interval: float = 1.0
    #: [keys] from the tenant file: binding id -> keys.
    keys: dict[str, str] = field(default_factory=dict)
    #: Where remembered choices live (and an old events.jsonl to import); None: memory.
    data_dir: Path | None = None
    #: The history database (``paths.history_path``); None keeps history in memory (demo).
    history_path: Path | None = None
    #: ``[[notify]]`` alert hooks from the tenant file, run as ``serve`` runs them.
    hooks: list[NotifyHook] = field(default_factory=list)
    #: Seconds between looks at the tenant file for changes made elsewhere.
    watch_interval: float = 2.0
    #: A running `tenantboard serve` to follow instead of checking (--attach): its list,
    #: its checks; nothing is asked of SuperOffice from here.
    attach: AttachTarget | None = None


class BoardScreen(MarkActions, FrameTimerScreen):
    """Every tenant as a row, a detail pane, the event log, the filter line and the key bar."""

    BINDINGS = BOARD_BINDINGS

    def __init__(self, config: BoardConfig, clock: Clock, remembered: UiState) -> None:
        super().__init__(id="board")
        self.config = config
        self.clock = clock
        self.remembered = remembered
        #: When a board on this tenant file last ran before this one (not this run).
        self.previous_session = remembered.last_seen
        self.model = BoardModel(config.tenants)
        self.keeper = ListKeeper(config.store, config.tenants, config.hooks)
        self.event_log = EventLog()
        #: Writes results, events and marks to the history database (its own thread).
        self.writer: HistoryWriter | None = None
        self.marks = MarkBook()
        self.closed = ClosedWatch()
        #: When a board last ran on this tenant file (history, or remembered choices).
        self.last_ran: datetime | None = remembered.last_seen
        #: The history could not be read at start (the writer reports its own errors).
        self.history_read_error: HistoryError | None = None
        #: Availability per tenant, as last read (the detail pane's cache).
        self.availability: dict[str, TenantAvailability] = {}
        self.notifier = Notifier(config.hooks, is_silenced=self.marks.is_silenced)
        self._local_mark_ids = itertools.count(-1, -1)
        self.client: TenantClient | None = None
        self.monitor: Monitor | AttachedMonitor | None = None
        #: The tenant the detail pane shows, or None while it is closed.
        self.detail_key: str | None = None
        self.fetching_versions: set[str] = set()
        self._last_toast = -TOAST_GAP
        self._version_timer: Timer | None = None
        self._reported_history_error: str | None = None
        #: The header's counts (by state, compact) and what they were made from: once a
        #: second the clock changes and the counts, mostly, do not.
        self._counts_drawn: tuple[tuple, tuple[Text, Text]] | None = None
        self._table_times_slot = 0
        self.pacing: Pacing[CheckResult, LoggedEvent] = Pacing(
            now=time.monotonic,
            start_timer=self.set_timer,
            deliver=lambda batch: self.post_message(ResultsArrived(batch)),
            redo_view=self.apply_view,
            redraw_header=self.update_summary,
            announce=self._announce,
        )
        # Kept as attributes, not queried: results may still arrive while the app is
        # shutting down and its widgets are already gone.
        self.summary = SummaryBar(id="summary")
        self.table = TenantTable(self.model, self.describe_times, id="table")
        self.detail = DetailPane(id="detail")
        self.log_panel = EventLogPanel(id="event-log")
        self.change_line = ChangeLine(id="changes")
        self.filter_line = FilterLine(
            self._filter_changed,
            placeholder="filter: context id, label, host or state",
            id="filter",
            compact=True,
        )

    # -- set-up ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.summary
        with Horizontal(id="main"):
            yield self.table
            yield self.detail
        yield self.log_panel
        yield self.change_line
        yield self.filter_line
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self._start_history()
        view = self.model.view
        view.sort = self.remembered.sort if self.remembered.sort in SORTS else "list"
        view.attention_only = self.remembered.attention_only
        self.model.recompute_view()
        self.log_panel.display = self.remembered.log_open
        self.table.rows_changed()
        self.table.focus()
        self.update_summary()
        self.update_log()
        self.set_interval(self.config.tick_interval, self.tick)
        self.set_interval(MARKS_EVERY, self._end_expired_marks)
        self.set_interval(AVAILABILITY_EVERY, self._refresh_availability)
        self.table.show_column("uptime", self.remembered.show_uptime)
        if self.keeper.saves_to_file:
            self.set_interval(self.config.watch_interval, self._look_at_tenant_file)
        self.set_class(self.app.no_color, "-no-color")
        self.pacing.collector.start()

    async def on_unmount(self) -> None:
        self.pacing.stop()
        self.pacing.collector.stop()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)  # writes what is queued
        await self.notifier.aclose(grace=2.0)

    # -- history --------------------------------------------------------------------------------

    def _start_history(self) -> None:
        """Read what earlier sessions recorded (in a thread), then start the writer."""
        path = self.config.history_path
        if path is None:
            self.closed.loaded({})  # nothing recorded: no first result is a change
            return
        self.writer = HistoryWriter(
            path, retention_days=self.config.settings.history_days, now=self.clock.wall
        )
        self.run_worker(self._read_start(path), group="history", exit_on_error=False)

    async def _read_start(self, path: Path) -> None:
        data_dir = self.config.data_dir
        old_log = data_dir / "events.jsonl" if data_dir else None
        keys = list(self.model.list_order)
        try:
            found = await asyncio.to_thread(read_start, path, keys, import_from=old_log)
        except Exception as exc:  # a bug must not keep the board from recording
            found = StartHistory(error=classify(exc, path))
        writer = self.writer
        if writer is not None:
            writer.start()
        self._history_read(found)

    def _history_read(self, found: StartHistory) -> None:
        self.history_read_error = found.error
        if found.last_run_end is not None:
            self.last_ran = found.last_run_end
        self.event_log.restore(found.events)
        for mark in found.marks:
            self.marks.add(mark)
        for key in list(self.marks.by_key):
            self._show_mark_of(key)
        self._end_expired_marks()
        self._compare_firsts(self.closed.loaded(found.last_recorded))
        if found.error is not None:
            self.alert(f"history not read: {found.error}. The board keeps working from memory.")
        self.update_log()
        self.update_summary()
        if self.model.view.attention_only:
            self.apply_view()

    def _compare_firsts(self, results: list[CheckResult]) -> None:
        """Tenants' first results against what was recorded, in a thread."""
        results = self.closed.to_compare(results) if self.closed.last is None else results
        if results and self.closed.last:
            self.run_worker(self._changes_while_closed(results), group="closed")

    async def _changes_while_closed(self, results: list[CheckResult]) -> None:
        changes = await asyncio.to_thread(self.closed.compare, results)
        self._tell(self._closed_events(changes))

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

    def history_note(self) -> tuple[str, bool]:
        """The header's history note and whether it is a problem."""
        error = (self.writer.error if self.writer else None) or self.history_read_error
        if error is not None:
            return f"history: not saved ({clean(error.detail, 40)})", True
        if self.last_ran is None:
            return "", False
        now = self.clock.wall().astimezone()
        ran = self.last_ran.astimezone()
        shown = f"{ran:%H:%M}" if ran.date() == now.date() else f"{ran:%b %d %H:%M}"
        return f"last ran {shown}", False

    def attach(self, client: TenantClient | None, monitor: Monitor | AttachedMonitor) -> None:
        """The app started the engine: the board can ask it and be told by it."""
        self.client, self.monitor = client, monitor

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        self._show_detail(self.detail_key is not None)
        self.update_summary()

    # -- results flow in ------------------------------------------------------------------------

    def result_arrived(self, result: CheckResult) -> None:
        """Called by the monitor for each finished check; delivered in batches (pacing)."""
        self.pacing.add(result)

    def on_results_arrived(self, message: ResultsArrived) -> None:
        table = self.table
        results = message.results
        if self.writer is not None:
            self.writer.add_results(results)
        closed = self.closed
        marked = self.marks.by_key
        rows = []
        firsts: list[CheckResult] = []
        touched_marks = False
        for result in results:
            row = self.model.apply(result)
            if row is None:
                continue
            key = row.tenant.key
            rows.append(row)
            if closed.is_first(key):
                firsts.append(result)
            if key in marked:
                touched_marks = True
            index = self.model.index_of(key)
            if index is not None:
                table.row_updated(index)
            if key == self.detail_key:
                self.show_detail_of_cursor_row()
        if touched_marks:
            self._end_expired_marks()  # an outcome changed: marks "until it changes" end
        if self.notifier.runners:
            for row in rows:
                self.notifier.observe(row)
        if firsts:
            self._compare_firsts(firsts)
        self._tell(logged_events(self.model.take_changes()))
        if self.model.view.depends_on_results:
            self.pacing.view_soon()
        self.pacing.header_soon()

    def _tell(self, logged: list[LoggedEvent]) -> None:
        """Log changes, gather state changes for a notice, ring the bell for the worse."""
        if not logged:
            return
        self._log(logged)
        silenced = self.marks.is_silenced
        told = [event for event in logged if not silenced(event.key)]
        self.pacing.notice([event for event in told if event.kind == "state"])
        if self.config.settings.bell and any(event.worse for event in told):
            self.app.bell()

    def _log(self, logged: list[LoggedEvent]) -> None:
        """Into the event log panel and the history database; no notice, no bell."""
        if not logged:
            return
        self.event_log.add(logged)
        if self.writer is not None:
            self.writer.add_events(logged)
        self.update_log()

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
        now = time.monotonic()
        if not self.remembered.notify_changes or now - self._last_toast < TOAST_GAP:
            return
        if self.app.screen is not self:  # a form or dialog is open: no pop-up over its buttons
            return
        self._last_toast = now
        for notice in notices(events, MAX_TOASTS):
            severity = "warning" if notice.worse else "information"
            self.notify(notice.message, title=notice.title, severity=severity, markup=False)

    def alert(self, message: str) -> None:
        """A message that needs the operator: it stays up until read (or ten minutes)."""
        self.notify(message, severity="error", timeout=NEEDS_OPERATOR_SECONDS, markup=False)

    def standing_problem(self, kind: str, text: str) -> None:
        """A problem true until it is not (the tenant file cannot be read) leads the change
        line while it lasts, the log open or not; "" ends it."""
        self.change_line.set_problem(kind, text)
        self._show_change_line()

    def _show_change_line(self) -> None:
        line = self.change_line
        line.display = bool(line.problems) or (bool(line.text) and not self.log_panel.display)

    def outage_changed(self, outage: Outage) -> None:
        """The board's own network trouble: one alarm in the header while it lasts, one
        event with its start and end in the log (not one per tenant)."""
        if outage.ended is None:
            self.change_line.show(
                Text(f" {outage.headline}; rows show what was last known", "bold")
            )
            self._show_change_line()
        else:
            event = LoggedEvent(
                outage.ended, "", "SuperOffice", "outage", outage.summary(), "unknown", False
            )
            self.event_log.add([event])
            self.run_worker(self._save_event_log(), group="disk")
            self.update_log()
            self.change_line.show(Text(f" {outage.summary()}; re-checking every tenant"))
            self.notify(
                "reached SuperOffice again: every tenant is re-checked within a minute",
                timeout=6,
                markup=False,
            )
        self.update_summary()
        self.table.refresh()

    def on_version_arrived(self, message: VersionArrived) -> None:
        self.fetching_versions.discard(message.key)
        row = self.model.set_version(
            message.key, message.endpoint, message.answer, message.error, self.clock.wall()
        )
        if row is None:
            return
        index = self.model.index_of(message.key)
        if index is not None:
            self.table.row_updated(index)
        if message.key == self.detail_key:
            self.show_detail_of_cursor_row()

    def tick(self) -> None:
        """Once a second: relative times, the clock, a quiet GC, a schedule that slept."""
        self.pacing.tick()
        if self.monitor is not None:
            self.monitor.wake_if_overdue()
        self.update_summary()
        slot = int(self.clock.wall().timestamp()) // TABLE_TIMES_EVERY
        if slot != self._table_times_slot:
            self._table_times_slot = slot
            self.table.tick()
        if self.detail_key is not None:
            self.show_detail_of_cursor_row()
        self._say_history_error_once()

    def _say_history_error_once(self) -> None:
        """The header says it while it lasts; a pop-up says it once per new error."""
        error = self.writer.error if self.writer else None
        text = str(error) if error else None
        if text and text != self._reported_history_error:
            self.notify(
                f"{text}. The board keeps working from memory.",
                severity="error",
                timeout=30,
                markup=False,
            )
        self._reported_history_error = text

    # -- what the widgets show ------------------------------------------------------------------

    def apply_view(self) -> None:
        """Recompute the rows shown (filter, attention, sort); keep the cursor on its tenant."""
        key = self.table.cursor_key
        monitor = self.monitor
        self.pacing.view_done()
        self.model.recompute_view(monitor.due_at if monitor else None)
        self.table.rows_changed()
        index = self.model.index_of(key) if key else None
        self.table.move_cursor_to(index if index is not None else 0)
        self.update_summary()

    def describe_times(self, row: TenantRow) -> tuple[str, str]:
        """(checked, next) texts for a row, as of now; called as lines are drawn. A row
        held through the board's own outage says how old its last known state is."""
        now = self.clock.wall()
        if row.stale and row.last_success_at is not None:
            checked = f"stale {ago(row.last_success_at, now).removesuffix(' ago')}"
        else:
            checked = ago(row.last.checked_at, now) if row.last else "never"
        return checked, self.next_check_text(row)[0]

    def next_check_text(self, row: TenantRow) -> tuple[str, str]:
        """Short text for the table and the reason for the detail pane."""
        monitor = self.monitor
        if monitor is None:
            return "-", "not started"
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

    def update_summary(self) -> None:
        monitor = self.monitor
        history, problem = self.history_note()
        activity = activity_text(
            in_flight=monitor.in_flight if monitor else 0,
            now=self.clock.wall(),
            history=history,
            history_problem=problem,
        )
        counts = self.model.counts
        key = tuple(counts.items())
        if self._counts_drawn is None or self._counts_drawn[0] != key:
            self._counts_drawn = (key, (counts_text(counts), counts_text(counts, compact=True)))
        outage = monitor.outage if isinstance(monitor, Monitor) else None
        status = status_text(
            total=self.model.total,
            demo=self.config.demo,
            note=self._view_note(),
            alarm=outage.headline if outage is not None else "",
            paused=bool(monitor and monitor.paused),
        )
        self.summary.show(self._counts_drawn[1], status, activity)

    def _view_note(self) -> str:
        view = self.model.view
        notes = []
        if self.config.attach is not None:
            notes.append(f"attached to {clean(self.config.attach.url, 60)}")
        if view.filter_text or view.attention_only:
            notes.append(f"showing {len(self.model)}")
        if view.attention_only:
            notes.append("needing attention")
        if view.filter_text:
            notes.append(f"matching {clean(view.filter_text, 30)!r}")
        if view.sort != "list":
            notes.append(f"sorted by {SORTS[view.sort]}")
        return ", ".join(notes)

    def update_log(self) -> None:
        if not self.log_panel.display:
            return
        title = f"Event log: {len(self.event_log.events)} events, newest first"
        last_seen = self.last_ran
        if last_seen is not None:
            title += f"; board last seen running {last_seen.astimezone():%Y-%m-%d %H:%M}"
        self.log_panel.show(self.event_log.events, title, self.clock.wall())

    def show_detail_of_cursor_row(self, *, fetch: bool = True) -> None:
        """Redraw the detail pane for :attr:`detail_key` (and fetch its version if stale)."""
        key = self.detail_key
        row = self.model.rows.get(key) if key else None
        if row is None:
            self.detail.show(None, None)
            return
        self.detail.show(row, self.detail_context(row))
        if fetch:
            # After the pane is on screen: starting the worker is not what the operator waits for.
            self.call_after_refresh(self._maybe_fetch_version, row)

    def detail_context(self, row: TenantRow) -> DetailContext:
        text, reason = self.next_check_text(row)
        key = row.tenant.key
        if self.config.history_path is None:
            note = "no history database (demo): history is kept in memory only"
        else:
            note = "reading the history…"
        return DetailContext(
            now=self.clock.wall(),
            next_text=text,
            next_reason=reason,
            fetching_version=key in self.fetching_versions,
            availability=self.availability.get(key),
            availability_note=note,
            marks=tuple(mark_text(mark) for mark in self.marks.of(key)),
        )

    # -- version info ---------------------------------------------------------------------------

    def _maybe_fetch_version(self, row: TenantRow) -> None:
        key = row.tenant.key
        if key in self.fetching_versions or not row.version_is_stale() or row.state is None:
            return
        if self.client is None:
            return
        self.fetching_versions.add(key)
        self.run_worker(self._fetch_version(row), group="versions", exit_on_error=False)

    async def _fetch_version(self, row: TenantRow) -> None:
        assert self.client is not None and row.state is not None
        state = row.state
        answer = None
        error: CheckError | None = None
        try:
            answer = await self.client.fetch_version(state, row.tenant.env)
        except CheckError as exc:
            error = exc
        except Exception as exc:
            error = unexpected(exc)
        endpoint = answer.fresh_state.endpoint if answer and answer.fresh_state else state.endpoint
        self.post_message(VersionArrived(row.tenant.key, endpoint, answer, error))

    # -- actions: checking ----------------------------------------------------------------------

    def action_recheck(self) -> None:
        if self._on_the_server("checks"):
            return
        key = self.table.cursor_key
        if key and self.monitor:
            self.monitor.recheck(key)
            self._redraw_key(key)
            if self.monitor.paused:
                self.notify(
                    "refreshing this tenant (paused: no automatic checks)", timeout=3, markup=False
                )

    def action_recheck_shown(self) -> None:
        """Re-check the tenants shown: a filtered board re-checks what it shows."""
        if self._on_the_server("checks"):
            return
        filtered = len(self.model) < self.model.total
        what = f"the {len(self.model)} shown" if filtered else f"all {len(self.model)}"
        self._recheck(list(self.model.order), f"{what} tenant{_s(len(self.model))}")

    def action_recheck_list(self) -> None:
        if self._on_the_server("checks"):
            return
        total = self.model.total
        self._recheck(list(self.model.list_order), f"all {total} tenant{_s(total)} in the list")

    def _recheck(self, keys: list[str], what: str) -> None:
        monitor = self.monitor
        if monitor is None:
            return
        if not keys:
            self.notify("no tenant to refresh", timeout=3, markup=False)
            return
        for key in keys:
            monitor.recheck(key)
        self.table.refresh()
        paused = " (paused: no automatic checks after these)" if monitor.paused else ""
        self.notify(f"refreshing {what}{paused}", timeout=3, markup=False)

    def _redraw_key(self, key: str) -> None:
        index = self.model.index_of(key)
        if index is not None:
            self.call_later(self.table.row_updated, index)

    def action_toggle_pause(self) -> None:
        if self._on_the_server("checks"):
            return
        monitor = self.monitor
        if monitor is None:
            return
        if monitor.paused:
            monitor.resume()
            self.notify("refreshing resumed", timeout=3, markup=False)
        else:
            monitor.pause()
            self.notify("refreshing paused: press p to resume", timeout=3, markup=False)
        self.update_summary()
        self.table.refresh()

    # -- actions: the detail pane ---------------------------------------------------------------

    @on(TenantTable.Highlighted)
    def _follow_cursor(self, message: TenantTable.Highlighted) -> None:
        """The pane follows the cursor at once; the version document is fetched only for the
        row the cursor rests on, not for every row it passes."""
        if self.detail_key is not None and message.key is not None:
            self.detail_key = message.key
            self.show_detail_of_cursor_row(fetch=False)
            if self._version_timer is not None:
                self._version_timer.stop()
            self._version_timer = self.set_timer(VERSION_REST, self._fetch_for_resting_cursor)

    def _fetch_for_resting_cursor(self) -> None:
        self._version_timer = None
        row = self.model.rows.get(self.detail_key or "")
        if row is not None:
            self._maybe_fetch_version(row)
            self._availability_of_detail()

    @on(TenantTable.Chosen)
    def _chosen(self, message: TenantTable.Chosen) -> None:
        self.toggle_detail()

    def _leave_key_to_a_widget_that_types(self) -> None:
        """A priority binding sees its key before any widget does: the filter line, a form,
        a dialog or the command palette keeps it."""
        if self.app.screen is not self or isinstance(self.focused, Input):
            raise SkipAction()

    def action_toggle_detail(self) -> None:
        self._leave_key_to_a_widget_that_types()
        self.toggle_detail()

    def toggle_detail(self) -> None:
        if self.detail_key is None:
            key = self.table.cursor_key
            if key is None:
                return
            self.detail_key = key
            self.show_detail_of_cursor_row()
            self._show_detail(True)
            self._availability_of_detail()
        else:
            self.action_close_detail()

    def action_close_detail(self) -> None:
        """escape: close the detail pane, or else clear a filter that was kept with enter."""
        self._leave_key_to_a_widget_that_types()
        if self.detail_key is None and self.filter_line.value:
            self._filter_cleared()
            return
        self.detail_key = None
        self._show_detail(False)
        self._give_keys_to_the_table()

    def _give_keys_to_the_table(self) -> None:
        """Focus the table now, not after a turn of the loop (``Widget.focus``): a key queued
        right behind this one (escape, then /) must find the focus where this one left it,
        or the table takes it back from the filter line the slash has just opened."""
        self.set_focus(self.table)

    def _show_detail(self, shown: bool) -> None:
        """Show or hide the pane by toggling display, not classes: a class on the screen
        would restyle every widget, and the pane should open at once. The pane is a drawer
        over the table: once it is laid out, the table's columns fit what it leaves."""
        # The table stays displayed (and focused) even where the pane covers it all: the
        # cursor keys keep moving the selection, and the pane follows.
        self.detail.display = shown
        if shown:
            self.call_after_refresh(self._table_beside_pane)
        else:
            self.table.set_covered(0)
            self.call_after_refresh(self.table.refresh)

    def _table_beside_pane(self) -> None:
        if self.detail.display:
            self.table.set_covered(self.detail.outer_size.width)

    # -- actions: finding and ordering ----------------------------------------------------------

    def action_filter(self) -> None:
        self._leave_key_to_a_widget_that_types()
        self.filter_line.display = True
        # Focus now, not after a turn of the loop (Widget.focus): the keys typed right after
        # the slash are already queued, and must reach the filter line, not the board.
        self.set_focus(self.filter_line)

    def _filter_changed(self, text: str) -> None:
        if text != self.model.view.filter_text:
            self.model.view.filter_text = text
            self.apply_view()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.filter_line.display = bool(self.filter_line.value)
        self._give_keys_to_the_table()

    @on(FilterLine.Cleared)
    def _filter_cleared(self) -> None:
        self.filter_line.value = ""
        self.filter_line.display = False
        self._give_keys_to_the_table()

    def action_attention(self) -> None:
        view = self.model.view
        view.attention_only = not view.attention_only
        self.apply_view()
        self.app.remember_choices()
        shown = "only tenants that need attention" if view.attention_only else "every tenant"
        self.notify(f"showing {shown}", timeout=3, markup=False)

    def action_cycle_sort(self) -> None:
        names = list(SORTS)
        view = self.model.view
        view.sort = names[(names.index(view.sort) + 1) % len(names)]
        self.apply_view()
        if view.sort == "uptime":
            self._refresh_availability()
        self.app.remember_choices()
        self.notify(f"sorted by {SORTS[view.sort]}", timeout=3, markup=False)

    # -- actions: availability ------------------------------------------------------------------

    def action_toggle_uptime(self) -> None:
        shown = not self.remembered.show_uptime
        self.remembered.show_uptime = shown
        self.table.show_column("uptime", shown)
        self.app.remember_choices()
        if shown:
            self._refresh_availability()
        where = "" if self.size.width >= 100 or not shown else " (where the screen is wide enough)"
        self.notify(f"Up 24h column {'on' if shown else 'off'}{where}", timeout=3, markup=False)

    def _uptime_wanted(self) -> bool:
        return self.remembered.show_uptime or self.model.view.sort == "uptime"

    def _refresh_availability(self) -> None:
        """Each minute: the open pane's figures, and every row's 24 h uptime when shown."""
        if self.detail_key is not None:
            self._availability_of_detail(force=True)
        if self._uptime_wanted() and self.config.history_path is not None:
            keys = list(self.model.list_order)
            self.run_worker(
                self._read_availability(keys, with_strip=False),
                group="uptime",
                exclusive=True,
                exit_on_error=False,
            )

    def _availability_of_detail(self, *, force: bool = False) -> None:
        key = self.detail_key
        if key is None or self.config.history_path is None:
            return
        known = self.availability.get(key)
        age = (self.clock.wall() - known.read_at).total_seconds() if known else None
        if not force and age is not None and age < AVAILABILITY_EVERY:
            return
        self.run_worker(
            self._read_availability([key], with_strip=True),
            group="availability",
            exclusive=True,
            exit_on_error=False,
        )

    async def _read_availability(self, keys: list[str], *, with_strip: bool) -> None:
        """Read in a thread (after the writer has written what it holds); a failure leaves
        the figures as they were (the header says what is wrong with the file)."""
        path = self.config.history_path
        assert path is not None
        writer = self.writer
        now = self.clock.wall()
        try:
            if writer is not None:
                await asyncio.to_thread(writer.flush, 2.0)
            found = await asyncio.to_thread(
                read_availability, path, keys, now, with_strip=with_strip
            )
        except HistoryError as exc:
            self.history_read_error = exc
            return
        self._availability_read(keys, found, with_strip=with_strip)

    def _availability_read(
        self, keys: list[str], found: dict[str, TenantAvailability], *, with_strip: bool
    ) -> None:
        for key in keys:
            figures = found.get(key)
            if with_strip and figures is not None:
                self.availability[key] = figures
            row = self.model.rows.get(key)
            uptime = figures.uptime_24h if figures is not None else None
            if row is not None and row.uptime_24h != uptime:
                row.uptime_24h = uptime
                row.bump()
        if self.model.view.sort == "uptime":
            self.apply_view()
        else:
            self.table.refresh()
        if self.detail_key in keys:
            self.show_detail_of_cursor_row(fetch=False)

    def action_toggle_log(self) -> None:
        self.log_panel.display = not self.log_panel.display
        self._show_change_line()
        self.update_log()
        self.app.remember_choices()

    def _on_the_server(self, what: str) -> bool:
        """True (and said) when the board is attached: the server owns the list and checks."""
        target = self.config.attach
        if target is None:
            return False
        if what == "list":
            message = f"the list lives on the server ({target.url}): change its tenant file there"
        else:
            message = f"checks run on the server ({target.url}): it keeps the schedule"
        self.notify(message, severity="warning", timeout=6, markup=False)
        return True

    def action_toggle_notices(self) -> None:
        self.remembered.notify_changes = not self.remembered.notify_changes
        self.app.remember_choices()
        state = "on" if self.remembered.notify_changes else "off (the change line still tells)"
        self.notify(f"state-change pop-ups {state}", timeout=3, markup=False)

    def action_copy_context(self) -> None:
        tenant = self._selected_tenant()
        if tenant is not None:
            self._copy(tenant.context_id, f"context id {tenant.context_id}")

    def action_copy_endpoint(self) -> None:
        url = self._selected_endpoint()
        if url is not None:
            self._copy(url, "endpoint URL")

    def action_open_endpoint(self) -> None:
        url = self._selected_endpoint()
        if url is not None:
            self.app.open_url(url)
            self.notify(f"opening {url}", timeout=4, markup=False)

    def _copy(self, text: str, what: str) -> None:
        """To the clipboard through the terminal (OSC 52): works over SSH where the terminal
        allows it."""
        self.app.copy_to_clipboard(text)
        self.notify(f"copied the {what} to the clipboard", timeout=3, markup=False)

    def _selected_endpoint(self) -> str | None:
        row = self.model.rows.get(self.table.cursor_key or "")
        if row is None:
            return None
        if row.state is None or not row.state.endpoint:
            self.notify("no endpoint known for this tenant yet", timeout=3, markup=False)
            return None
        return row.state.endpoint

    def jump_to(self, key: str) -> None:
        """Put the cursor on a tenant, clearing a filter that hides it."""
        if self.model.index_of(key) is None:
            self.model.view.filter_text = ""
            self.model.view.attention_only = False
            self.filter_line.value = ""
            self.filter_line.display = False
            self.apply_view()
        index = self.model.index_of(key)
        if index is not None:
            self.table.move_cursor_to(index)
            self.table.focus()

    # -- actions: help --------------------------------------------------------------------------

    def action_help(self) -> None:
        help_keys = self.config.keys.get("help", "question_mark,f1")
        self.app.push_screen(HelpScreen(self.key_help(), close_keys=help_keys))

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, description) for every binding, with the operator's remapped keys."""
        rows = [MOVE_KEYS]
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys = self.config.keys.get(binding.id or "", binding.key)
            shown = ", ".join(self.app.get_key_display(Binding(key, "")) for key in keys.split(","))
            rows.append((shown, binding.tooltip or binding.description))
        rows.append(PALETTE_KEY)
        return rows

    # -- actions: managing the list -------------------------------------------------------------

    def _is_taken(self, tenant: Tenant) -> bool:
        return tenant.key in self.model.rows

    def _selected_tenant(self) -> Tenant | None:
        row = self.model.rows.get(self.table.cursor_key or "")
        return row.tenant if row else None

    def action_add_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        self.app.push_screen(TenantForm(is_taken=self._is_taken), self._added)

    def _added(self, tenant: Tenant | None) -> None:
        if tenant is not None:
            self.run_worker(self._change_list("add", tenant), group="list")

    def action_edit_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        tenant = self._selected_tenant()
        if tenant is None:
            return

        def edited(new: Tenant | None) -> None:
            if new is not None and new != tenant:
                self.run_worker(self._change_list("edit", new, tenant), group="list")

        self.app.push_screen(TenantForm(is_taken=self._is_taken, tenant=tenant), edited)

    def action_remove_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        tenant = self._selected_tenant()
        if tenant is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._change_list("remove", tenant), group="list")

        question = (
            f"Remove {tenant.display_name} ({tenant.context_id}, {tenant.env}) from the list?"
        )
        self.app.push_screen(ConfirmScreen(question), confirmed)

    async def _change_list(
        self, change: ChangeKind, tenant: Tenant, old: Tenant | None = None
    ) -> None:
        """Save one change at once (atomically, off the event loop), then show it."""
        try:
            tenants = await self.keeper.change(change, tenant, old)
        except (ValueError, StoreError) as exc:
            self.alert(f"not saved: {exc}")
            await self._read_tenant_file()
            return
        self.adopt_tenants(tenants)
        if change != "remove":
            self.jump_to(tenant.key)
            if self.monitor is not None:
                self.monitor.recheck(tenant.key)
        verb = {"add": "added", "edit": "saved", "remove": "removed"}[change]
        where = "" if self.keeper.saves_to_file else " (demo: not saved to a file)"
        self.notify(f"{verb} {tenant.display_name}{where}", timeout=4, markup=False)

    def adopt_tenants(self, tenants: list[Tenant]) -> None:
        """A new list (edited here or on disk): rows keep what they know, new ones are checked."""
        self.model.set_tenants(tenants)
        if self.monitor is not None:
            self.monitor.set_tenants(tenants)
        for key in list(self.marks.by_key):
            self._show_mark_of(key)
        if self.detail_key is not None and self.detail_key not in self.model.rows:
            self.action_close_detail()
        self.apply_view()

    def _look_at_tenant_file(self) -> None:
        self.run_worker(self._read_tenant_file, group="list-watch", exclusive=True)

    async def _read_tenant_file(self) -> None:
        """Pick up changes made to the tenant file elsewhere (read off the event loop);
        report a broken file once."""
        try:
            tenants = await asyncio.to_thread(self.keeper.outside_change)
        except StoreError as exc:
            self.standing_problem(
                TENANT_FILE_PROBLEM,
                f"tenant file cannot be read (the board keeps its list, the file is left as "
                f"it is): {exc}",
            )
            return
        self._adopt_hooks()
        if TENANT_FILE_PROBLEM in self.change_line.problems and not self.keeper.unreadable:
            self.standing_problem(TENANT_FILE_PROBLEM, "")
            self.notify("the tenant file can be read again", timeout=5, markup=False)
        if tenants is None:
            return
        self.adopt_tenants(tenants)
        self.notify("the tenant file changed on disk: list reloaded", timeout=5, markup=False)

    def _adopt_hooks(self) -> None:
        """The file's [[notify]] hooks as the notifier's, when the file changed them (as
        serve does; a hook's pending messages and failure counts are kept)."""
        hooks = list(self.keeper.hooks)
        if hooks != [runner.hook for runner in self.notifier.runners]:
            self.notifier.set_hooks(hooks)
            self.notify(
                f"alert hooks reloaded from the tenant file: {len(hooks)} configured",
                timeout=5,
                markup=False,
            )


def _s(count: int) -> str:
    return "" if count == 1 else "s"
