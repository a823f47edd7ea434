"""The Textual app: thin glue between the monitor (domain) and the widgets (screen).

Data flows one way: the monitor asks the client, each result is batched into a typed
:class:`ResultsArrived` message, and the handlers update the model and redraw what
changed. The app owns the one shared ``httpx.AsyncClient`` and closes it on exit.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx
from textual import events, on
from textual.actions import SkipAction
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input

from tenantboard.answers import VersionAnswer
from tenantboard.client import BaseUrl, TenantClient
from tenantboard.clock import Clock, SystemClock
from tenantboard.engine import CheckResult, Monitor, unexpected
from tenantboard.errors import CheckError
from tenantboard.eventlog import (
    EventLog,
    LoggedEvent,
    logged_events,
    notices,
)
from tenantboard.humanize import ago
from tenantboard.list_keeper import ChangeKind, ListKeeper
from tenantboard.palette import ACTION_HELP, TenantCommands
from tenantboard.quietgc import QuietCollector
from tenantboard.rows import SORTS, BoardModel, Change, TenantRow, describe_next
from tenantboard.sanitize import clean
from tenantboard.schedule import RefreshPolicy
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import Settings, StoreError, TenantStore
from tenantboard.textual_overrides import BoardScreen
from tenantboard.ui_state import UiState, load_ui_state, save_ui_state
from tenantboard.widgets.detail import DetailContext, DetailPane
from tenantboard.widgets.forms import ConfirmScreen, FilterInput, TenantForm
from tenantboard.widgets.keybar import KeyBar
from tenantboard.widgets.panels import EventLogPanel, HelpScreen
from tenantboard.widgets.summary import SummaryBar, activity_text, counts_text
from tenantboard.widgets.table import TenantTable

NARROW_WIDTH = 110
#: More state changes than this in one batch make one summary notification, not many.
MAX_TOASTS = 3
#: Seconds state changes are gathered before they are announced.
NOTICE_DELAY = 1.0
#: Seconds between re-sorts/re-filters while results stream in.
VIEW_DELAY = 1.0
#: Seconds between header redraws while results stream in.
SUMMARY_DELAY = 0.2
#: Seconds results are gathered before they are delivered to the widgets as one batch.
BATCH_DELAY = 0.05
#: While keys arrive less than this many seconds apart, results and re-sorts wait, so the
#: screen answers the operator first...
INPUT_PRIORITY = 0.25
#: ...but never longer than this.
MAX_DEFER = 1.0


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
    #: Where the event log and remembered choices live; None keeps them in memory (demo).
    data_dir: Path | None = None
    #: Seconds between looks at the tenant file for changes made elsewhere.
    watch_interval: float = 2.0


class ResultsArrived(Message):
    """A batch of check results, in the order they finished."""

    def __init__(self, results: list[CheckResult]) -> None:
        super().__init__()
        self.results = results


class VersionArrived(Message):
    def __init__(
        self, key: str, endpoint: str | None, answer: VersionAnswer | None, error: CheckError | None
    ) -> None:
        super().__init__()
        self.key = key
        self.endpoint = endpoint
        self.answer = answer
        self.error = error


class TenantBoardApp(App[int]):
    CSS_PATH = "board.tcss"
    TITLE = "tenantboard"
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("R", "refresh_all", "Refresh all", id="refresh_all"),
        # Priority, like the table's cursor keys: answered as the key arrives, not after it
        # has bubbled through the DOM; the action leaves the key to a widget that wants it.
        Binding("enter", "toggle_detail", "Details", id="toggle_detail", priority=True),
        Binding("escape", "close_detail", "Close details", id="close_detail", show=False),
        Binding("a", "add_tenant", "Add", id="add_tenant"),
        Binding("e", "edit_tenant", "Edit", id="edit_tenant", show=False),
        Binding("delete", "remove_tenant", "Remove", id="remove_tenant", show=False),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("exclamation_mark", "attention", "Attention only", id="attention", show=False),
        Binding("s", "cycle_sort", "Sort", id="cycle_sort"),
        Binding("l", "toggle_log", "Log", id="toggle_log"),
        Binding("p", "toggle_pause", "Pause", id="toggle_pause"),
        Binding("t", "change_theme", "Theme", id="change_theme", show=False),
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, config: BoardConfig) -> None:
        super().__init__()
        self.config = config
        self.clock: Clock = config.clock or SystemClock()
        self.model = BoardModel(config.tenants)
        self.client: TenantClient | None = None
        self.monitor: Monitor | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        self._pending: list[CheckResult] = []
        self._pending_since = 0.0
        self._last_key = 0.0
        self._summary_timer: Timer | None = None
        self._fetching_versions: set[str] = set()
        self.detail_key: str | None = None
        # Kept as attributes, not queried: results may still arrive while the app is
        # shutting down and its widgets are already gone.
        self._summary = SummaryBar(id="summary")
        self._table = TenantTable(self.model, self.describe_times, id="table")
        self._detail = DetailPane(id="detail")
        self._log_panel = EventLogPanel(id="event-log")
        self._filter = FilterInput(
            self._filter_changed,
            placeholder="filter: context id, label, host or state",
            id="filter",
        )
        data_dir = config.data_dir
        self.ui_state_path = data_dir / "ui-state.json" if data_dir else None
        self.event_log = EventLog(data_dir / "events.jsonl" if data_dir else None)
        self.ui = UiState()
        self.previous_session: datetime | None = None
        self.keeper = ListKeeper(config.store, config.tenants)
        self.collector = QuietCollector()
        self._view_timer: Timer | None = None
        self._notice_timer: Timer | None = None
        self._unannounced: list[LoggedEvent] = []
        self._last_view = 0.0
        self._view_due = 0.0

    # -- set-up and tear-down ----------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return BoardScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield self._summary
        with Horizontal(id="main"):
            yield self._table
            yield self._detail
        yield self._log_panel
        yield self._filter
        yield KeyBar(id="keys")

    def _restore(self) -> None:
        """Bring back what the operator chose last time, and what happened before."""
        self.ui = load_ui_state(self.ui_state_path)
        self.previous_session = self.ui.last_seen
        self.event_log.load()
        if self.ui.theme in self.available_themes:
            self.theme = self.ui.theme
        self.model.view.sort = self.ui.sort if self.ui.sort in SORTS else "list"
        self.model.view.attention_only = self.ui.attention_only
        self.model.refresh_view()
        self._log_panel.display = self.ui.log_open
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.config.keys:
            self.set_keymap(self.config.keys)

    def on_mount(self) -> None:
        settings = self.config.settings
        self.client = TenantClient(
            base_url=self.config.base_url,
            timeout=settings.timeout,
            transport=self.config.transport,
            max_connections=settings.concurrency,
        )
        self.monitor = Monitor(
            self.client,
            self.config.tenants,
            policy=RefreshPolicy(settings.min_interval, settings.max_interval, rng=self.config.rng),
            concurrency=settings.concurrency,
            on_result=self._on_result,
            clock=self.clock,
        )
        self._monitor_task = asyncio.create_task(self.monitor.run())
        self._monitor_task.add_done_callback(self._monitor_stopped)
        self._restore()
        self.table.rows_changed()
        self.table.focus()
        self.update_summary()
        self.update_log()
        self.set_interval(self.config.tick_interval, self.tick)
        self.set_interval(60, self._remember)
        if self.keeper.saves_to_file:
            self.set_interval(self.config.watch_interval, self._watch_file)
        if self.event_log.write_error:
            self.notify(self.event_log.write_error, severity="warning", markup=False)
        self.collector.start()

    async def on_unmount(self) -> None:
        """Quit at once: cancel the checks in flight, then close the shared client."""
        self.collector.stop()
        self._remember()
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            await asyncio.gather(self._monitor_task, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()

    def _remember(self) -> None:
        """Save the operator's choices and the time the board was last seen running."""
        self.ui.last_seen = self.clock.wall()
        self.ui.sort = self.model.view.sort
        self.ui.attention_only = self.model.view.attention_only
        self.ui.log_open = bool(self._log_panel.display)
        save_ui_state(self.ui_state_path, self.ui)

    def _theme_changed(self, theme: object) -> None:
        self.ui.theme = self.theme
        self._remember()

    def _monitor_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.notify(
                f"checking stopped: {unexpected(task.exception()).message}",  # type: ignore[arg-type]
                severity="error",
                timeout=30,
                markup=False,
            )

    # -- widgets --------------------------------------------------------------------------------

    @property
    def table(self) -> TenantTable:
        return self._table

    @property
    def detail(self) -> DetailPane:
        return self._detail

    def on_resize(self, event: Resize) -> None:
        self.screen.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        self._show_detail(self.detail_key is not None)
        self.update_summary()

    # -- results flow in ------------------------------------------------------------------------

    def _on_result(self, result: CheckResult) -> None:
        """Called by the monitor for each finished check.

        Results are gathered for a few milliseconds and delivered as one message: during
        a full pass hundreds finish each second, and one message (and one redraw) each
        would cost the event loop more than the checks themselves.
        """
        self._pending.append(result)
        if len(self._pending) == 1:
            self._pending_since = time.monotonic()
            self.set_timer(BATCH_DELAY, self._deliver)

    def _operator_busy(self, since: float) -> bool:
        """True while keys are arriving and what waits has not waited too long."""
        now = time.monotonic()
        return now - self._last_key < INPUT_PRIORITY and now - since < MAX_DEFER

    def _deliver(self) -> None:
        if self._pending and self._operator_busy(self._pending_since):
            # Drawing a batch of rows and the header costs a frame; the key's answer first.
            self.set_timer(BATCH_DELAY, self._deliver)
            return
        batch, self._pending = self._pending, []
        if batch:
            self.post_message(ResultsArrived(batch))

    def on_results_arrived(self, message: ResultsArrived) -> None:
        table = self.table
        for result in message.results:
            row = self.model.apply(result)
            if row is None:
                continue
            index = self.model.index_of(row.tenant.key)
            if index is not None:
                table.row_updated(index)
            if row.tenant.key == self.detail_key:
                self.refresh_detail()
        self._tell(self.model.take_changes())
        if self.model.view.depends_on_results:
            self._view_soon()
        self._summary_soon()

    def _tell(self, changes: list[Change]) -> None:
        """Log changes, notify state changes, ring the bell for changes for the worse."""
        if not changes:
            return
        logged = logged_events(changes)
        self.event_log.add(logged)
        self.update_log()
        self._unannounced.extend(event for event in logged if event.kind == "state")
        if self._unannounced and self._notice_timer is None:
            self._notice_timer = self.set_timer(NOTICE_DELAY, self._announce)
        if self.config.settings.bell and any(event.worse for event in logged):
            self.bell()

    def _announce(self) -> None:
        """Notify the state changes gathered over the last moment: a few one by one, a
        burst (an incident, a maintenance window) as one summary, never a toast storm."""
        self._notice_timer = None
        events, self._unannounced = self._unannounced, []
        for notice in notices(events, MAX_TOASTS):
            severity = "warning" if notice.worse else "information"
            self.notify(notice.message, title=notice.title, severity=severity, markup=False)

    def _view_soon(self) -> None:
        """Re-filter and re-sort at most once a second while results stream in, so rows
        do not jump under the operator's eyes with every answer."""
        if self._view_timer is not None:
            return
        now = time.monotonic()
        wait = max(0.0, self._last_view + VIEW_DELAY - now)
        self._view_due = now + wait
        if wait <= 0 and not self._operator_busy(self._view_due):
            self.apply_view()
        else:
            self._view_timer = self.set_timer(max(wait, BATCH_DELAY), self._view_now)

    def _view_now(self) -> None:
        self._view_timer = None
        if self._operator_busy(self._view_due):
            self._view_timer = self.set_timer(BATCH_DELAY, self._view_now)
            return
        self.apply_view()

    def apply_view(self) -> None:
        """Recompute the rows shown and keep the cursor on its tenant."""
        key = self.table.cursor_key
        monitor = self.monitor
        self._last_view = time.monotonic()
        self.model.refresh_view(monitor.due_at if monitor else None)
        self.table.rows_changed()
        index = self.model.index_of(key) if key else None
        self.table.move_cursor_to(index if index is not None else 0)
        self.update_summary()

    def _summary_soon(self) -> None:
        """Redraw the header at most a few times a second while results stream in."""
        if self._summary_timer is None:
            self._summary_timer = self.set_timer(SUMMARY_DELAY, self._summary_now)

    def _summary_now(self) -> None:
        self._summary_timer = None
        self.update_summary()

    def on_version_arrived(self, message: VersionArrived) -> None:
        self._fetching_versions.discard(message.key)
        row = self.model.set_version(
            message.key, message.endpoint, message.answer, message.error, self.clock.wall()
        )
        if row is None:
            return
        index = self.model.index_of(message.key)
        if index is not None:
            self.table.row_updated(index)
        if message.key == self.detail_key:
            self.refresh_detail()

    # -- what the widgets show ------------------------------------------------------------------

    def describe_times(self, row: TenantRow) -> tuple[str, str]:
        """(checked, next) texts for a row, as of now; called as lines are drawn."""
        checked = ago(row.last.checked_at, self.clock.wall()) if row.last else "never"
        return checked, self.next_check_text(row)[0]

    def next_check_text(self, row: TenantRow) -> tuple[str, str]:
        """Short text for the table and the reason for the detail pane."""
        monitor = self.monitor
        if monitor is None:
            return "-", "not started"
        key = row.tenant.key
        return describe_next(
            row,
            checking=monitor.is_checking(key),
            paused=monitor.paused,
            due=monitor.due_at(key),
            now=self.clock.monotonic(),
        )

    def update_summary(self) -> None:
        monitor = self.monitor
        activity = activity_text(
            in_flight=monitor.in_flight if monitor else 0,
            now=self.clock.wall(),
            paused=bool(monitor and monitor.paused),
        )
        view = self.model.view
        shown = len(self.model)
        notes = []
        if view.filter_text or view.attention_only:
            notes.append(f"showing {shown}")
        if view.attention_only:
            notes.append("needing attention")
        if view.filter_text:
            notes.append(f"matching {clean(view.filter_text, 30)!r}")
        if view.sort != "list":
            notes.append(f"sorted by {SORTS[view.sort]}")
        note = ", ".join(notes)
        total = self.model.total
        demo = self.config.demo
        counts = counts_text(self.model.counts, total=total, demo=demo, note=note)
        if counts.cell_len + activity.cell_len > self.size.width:
            counts = counts_text(self.model.counts, total=total, demo=demo, compact=True, note=note)
        self._summary.show(counts, activity)

    def update_log(self) -> None:
        if not self._log_panel.display:
            return
        title = f"Event log: {len(self.event_log.events)} events, newest first"
        if self.previous_session is not None:
            title += (
                f"; board last seen running {self.previous_session.astimezone():%Y-%m-%d %H:%M}"
            )
        self._log_panel.show(self.event_log.events, title, self.clock.wall())

    def refresh_detail(self) -> None:
        key = self.detail_key
        row = self.model.rows.get(key) if key else None
        if row is None:
            self.detail.show(None, None)
            return
        self.detail.show(row, self.detail_context(row))
        # After the pane is on screen: starting the worker is not what the operator waits for.
        self.call_after_refresh(self._maybe_fetch_version, row)

    def detail_context(self, row: TenantRow) -> DetailContext:
        text, reason = self.next_check_text(row)
        return DetailContext(
            now=self.clock.wall(),
            next_text=text,
            next_reason=reason,
            fetching_version=row.tenant.key in self._fetching_versions,
        )

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
            self.collector.touched()
        await super().on_event(event)

    def tick(self) -> None:
        self.collector.maybe_collect()
        if self.monitor is not None:
            self.monitor.wake_if_overdue()
        self.update_summary()
        self.table.tick()
        if self.detail_key is not None:
            self.refresh_detail()

    # -- version info ---------------------------------------------------------------------------

    def _maybe_fetch_version(self, row: TenantRow) -> None:
        key = row.tenant.key
        if key in self._fetching_versions or not row.version_is_stale() or row.state is None:
            return
        self._fetching_versions.add(key)
        self.run_worker(self._fetch_version(row), group="versions", exit_on_error=False)

    async def _fetch_version(self, row: TenantRow) -> None:
        assert self.client is not None and row.state is not None
        state = row.state
        answer: VersionAnswer | None = None
        error: CheckError | None = None
        try:
            answer = await self.client.fetch_version(state, row.tenant.env)
        except CheckError as exc:
            error = exc
        except Exception as exc:
            error = unexpected(exc)
        endpoint = answer.fresh_state.endpoint if answer and answer.fresh_state else state.endpoint
        self.post_message(VersionArrived(row.tenant.key, endpoint, answer, error))

    # -- actions --------------------------------------------------------------------------------

    @on(TenantTable.Highlighted)
    def _follow_cursor(self, message: TenantTable.Highlighted) -> None:
        if self.detail_key is not None and message.key is not None:
            self.detail_key = message.key
            self.refresh_detail()

    @on(TenantTable.Chosen)
    def _chosen(self, message: TenantTable.Chosen) -> None:
        self.toggle_detail()

    def action_refresh(self) -> None:
        key = self.table.cursor_key
        if key and self.monitor:
            self.monitor.refresh(key)
            self._redraw_key(key)

    def action_refresh_all(self) -> None:
        if self.monitor:
            self.monitor.refresh_all()
            self.table.refresh()
            self.notify(f"refreshing all {len(self.model)} tenants", timeout=3, markup=False)

    def _redraw_key(self, key: str) -> None:
        index = self.model.index_of(key)
        if index is not None:
            self.call_later(self.table.row_updated, index)

    def action_toggle_detail(self) -> None:
        # A priority binding sees the key before any widget does: the filter line, a form,
        # a dialog or the command palette keeps its enter.
        if len(self.screen_stack) > 1 or isinstance(self.focused, Input):
            raise SkipAction()
        self.toggle_detail()

    def toggle_detail(self) -> None:
        if self.detail_key is None:
            key = self.table.cursor_key
            if key is None:
                return
            self.detail_key = key
            self.refresh_detail()
            self._show_detail(True)
        else:
            self.action_close_detail()

    def action_close_detail(self) -> None:
        self.detail_key = None
        self._show_detail(False)
        self.table.focus()

    def _show_detail(self, shown: bool) -> None:
        """Show or hide the pane by toggling display, not classes: a class on the screen
        would restyle every widget, and the pane should open at once."""
        self.detail.display = shown
        self.table.display = not (shown and self.size.width < NARROW_WIDTH)

    # -- finding and ordering -------------------------------------------------------------------

    def action_filter(self) -> None:
        self._filter.display = True
        self._filter.focus()

    def _filter_changed(self, text: str) -> None:
        if text != self.model.view.filter_text:
            self.model.view.filter_text = text
            self.apply_view()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self._filter.display = bool(self._filter.value)
        self.table.focus()

    @on(FilterInput.Cleared)
    def _filter_cleared(self) -> None:
        self._filter.value = ""
        self._filter.display = False
        self.table.focus()

    def action_attention(self) -> None:
        view = self.model.view
        view.attention_only = not view.attention_only
        self.apply_view()
        self._remember()
        shown = "only tenants that need attention" if view.attention_only else "every tenant"
        self.notify(f"showing {shown}", timeout=3, markup=False)

    def action_cycle_sort(self) -> None:
        names = list(SORTS)
        view = self.model.view
        view.sort = names[(names.index(view.sort) + 1) % len(names)]
        self.apply_view()
        self._remember()
        self.notify(f"sorted by {SORTS[view.sort]}", timeout=3, markup=False)

    def action_toggle_log(self) -> None:
        self._log_panel.display = not self._log_panel.display
        self.update_log()
        self._remember()

    def action_toggle_pause(self) -> None:
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

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, description) for every binding, with the operator's remapped keys."""
        rows = [("↑ ↓ j k, PgUp PgDn, Home End", "move between tenants")]
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys = self.config.keys.get(binding.id or "", binding.key)
            shown = ", ".join(self.get_key_display(Binding(key, "")) for key in keys.split(","))
            rows.append((shown, ACTION_HELP.get(binding.action, binding.description)))
        rows.append(("ctrl+p", "command palette: every action, and each tenant by name"))
        return rows

    def jump_to(self, key: str) -> None:
        """Put the cursor on a tenant, clearing a filter that hides it."""
        if self.model.index_of(key) is None:
            self.model.view.filter_text = ""
            self.model.view.attention_only = False
            self._filter.value = ""
            self._filter.display = False
            self.apply_view()
        index = self.model.index_of(key)
        if index is not None:
            self.table.move_cursor_to(index)
            self.table.focus()

    # -- managing the list ----------------------------------------------------------------------

    def _is_taken(self, tenant: Tenant) -> bool:
        return tenant.key in self.model.rows

    def _selected_tenant(self) -> Tenant | None:
        row = self.model.rows.get(self.table.cursor_key or "")
        return row.tenant if row else None

    def action_add_tenant(self) -> None:
        self.push_screen(TenantForm(is_taken=self._is_taken), self._added)

    def _added(self, tenant: Tenant | None) -> None:
        if tenant is not None:
            self.run_worker(self._change_list("add", tenant), group="list")

    def action_edit_tenant(self) -> None:
        tenant = self._selected_tenant()
        if tenant is None:
            return

        def edited(new: Tenant | None) -> None:
            if new is not None and new != tenant:
                self.run_worker(self._change_list("edit", new, tenant), group="list")

        self.push_screen(TenantForm(is_taken=self._is_taken, tenant=tenant), edited)

    def action_remove_tenant(self) -> None:
        tenant = self._selected_tenant()
        if tenant is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._change_list("remove", tenant), group="list")

        question = (
            f"Remove {tenant.display_name} ({tenant.context_id}, {tenant.env}) from the list?"
        )
        self.push_screen(ConfirmScreen(question), confirmed)

    async def _change_list(
        self, change: ChangeKind, tenant: Tenant, old: Tenant | None = None
    ) -> None:
        """Save one change at once (atomically, off the event loop), then show it."""
        try:
            tenants = await self.keeper.change(change, tenant, old)
        except (ValueError, StoreError) as exc:
            self.notify(f"not saved: {exc}", severity="error", timeout=15, markup=False)
            self._watch_file()
            return
        self.adopt_tenants(tenants)
        if change != "remove":
            self.jump_to(tenant.key)
            if self.monitor is not None:
                self.monitor.refresh(tenant.key)
        verb = {"add": "added", "edit": "saved", "remove": "removed"}[change]
        where = "" if self.keeper.saves_to_file else " (demo: not saved to a file)"
        self.notify(f"{verb} {tenant.display_name}{where}", timeout=4, markup=False)

    def adopt_tenants(self, tenants: list[Tenant]) -> None:
        """A new list (edited here or on disk): rows keep what they know, new ones are checked."""
        self.model.set_tenants(tenants)
        if self.monitor is not None:
            self.monitor.set_tenants(tenants)
        if self.detail_key is not None and self.detail_key not in self.model.rows:
            self.action_close_detail()
        self.apply_view()

    def _watch_file(self) -> None:
        """Pick up changes made to the tenant file elsewhere; report a broken file once."""
        try:
            tenants = self.keeper.outside_change()
        except StoreError as exc:
            self.notify(
                f"the tenant file changed but cannot be read: {exc}. "
                "The board keeps the list it had; the file was left as it is.",
                severity="error",
                timeout=30,
                markup=False,
            )
            return
        if tenants is not None:
            self.adopt_tenants(tenants)
            self.notify("the tenant file changed on disk: list reloaded", timeout=5, markup=False)

    # -- the command palette --------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action in ACTION_HELP and binding.action not in ("quit", "help"):
                yield SystemCommand(
                    binding.description,
                    ACTION_HELP[binding.action],
                    partial(self.run_action, binding.action),
                )
        yield SystemCommand(
            "Help", "every key, and what the colours and glyphs mean", self.action_help
        )


TenantBoardApp.COMMANDS = App.COMMANDS | {TenantCommands}


def binding_ids() -> set[str]:
    """The ids that [keys] in the tenant file may remap."""
    ids = {b.id for b in TenantBoardApp.BINDINGS if isinstance(b, Binding) and b.id}
    return ids


def run_board(config: BoardConfig) -> int:
    if config.demo and config.transport is None:
        from tenantboard.simulator import Simulator, SimulatorTransport

        config.transport = SimulatorTransport(Simulator())
    app = TenantBoardApp(config)
    app.run()
    return app.return_code or 0
