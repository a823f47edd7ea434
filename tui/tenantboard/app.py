"""The Textual app: thin glue between the monitor (domain) and the widgets (screen).

Data flows one way: the monitor asks the client, each result is batched into a typed
:class:`ResultsArrived` message, and the handlers update the model and redraw what
changed. The app owns the one shared ``httpx.AsyncClient`` and closes it on exit.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import httpx
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Resize
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer

from tenantboard.board_model import BoardModel, TenantRow
from tenantboard.client import BaseUrl, TenantClient, VersionAnswer
from tenantboard.engine import CheckResult, Clock, Monitor, SystemClock, unexpected
from tenantboard.errors import CheckError
from tenantboard.format import ago, duration, until
from tenantboard.schedule import RefreshPolicy
from tenantboard.store import Settings, Tenant, TenantStore
from tenantboard.widgets.detail import DetailContext, DetailPane
from tenantboard.widgets.summary import SummaryBar, activity_text, counts_text
from tenantboard.widgets.table import TenantTable

NARROW_WIDTH = 110
#: Seconds between header redraws while results stream in.
SUMMARY_DELAY = 0.2
#: Seconds results are gathered before they are delivered to the widgets as one batch.
BATCH_DELAY = 0.05


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
        Binding("enter", "toggle_detail", "Details", id="toggle_detail", priority=True),
        Binding("escape", "close_detail", "Close", id="close_detail", show=False),
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
        self._summary_timer: Timer | None = None
        self._fetching_versions: set[str] = set()
        self.detail_key: str | None = None
        # Kept as attributes, not queried: results may still arrive while the app is
        # shutting down and its widgets are already gone.
        self._summary = SummaryBar(id="summary")
        self._table = TenantTable(self.model, self.describe_times, id="table")
        self._detail = DetailPane(id="detail")

    # -- set-up and tear-down ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self._summary
        with Horizontal(id="main"):
            yield self._table
            yield self._detail
        yield Footer()

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
        self.table.rows_changed()
        self.table.focus()
        self.update_summary()
        self.set_interval(self.config.tick_interval, self.tick)

    async def on_unmount(self) -> None:
        """Quit at once: cancel the checks in flight, then close the shared client."""
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            await asyncio.gather(self._monitor_task, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()

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
            self.set_timer(BATCH_DELAY, self._deliver)

    def _deliver(self) -> None:
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
        self._summary_soon()

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
        if monitor.is_checking(key):
            return "checking…", "a check is in flight"
        if monitor.paused:
            return "paused", "refreshing is paused"
        due = monitor.due_at(key)
        if due is None:
            return "-", "not scheduled"
        now = self.clock.monotonic()
        planned = row.last.next_check if row.last else None
        if planned is None:
            return ("queued" if due <= now else until(due, now)), "first check"
        if row.last is not None and row.last.next_due is not None and due < row.last.next_due - 1:
            return "queued", "manual refresh, ahead of the queue"
        left = duration(due - now)
        if planned.reason == "Retry-After":
            return f"retry {left}", "the server asked us to wait (Retry-After)"
        if planned.reason.startswith("backoff"):
            return f"backoff {left}", planned.reason
        return until(due, now), planned.reason

    def update_summary(self) -> None:
        monitor = self.monitor
        activity = activity_text(
            in_flight=monitor.in_flight if monitor else 0,
            now=self.clock.wall(),
            paused=bool(monitor and monitor.paused),
        )
        counts = counts_text(self.model.counts, total=len(self.model), demo=self.config.demo)
        if counts.cell_len + activity.cell_len > self.size.width:
            counts = counts_text(
                self.model.counts, total=len(self.model), demo=self.config.demo, compact=True
            )
        self._summary.show(counts, activity)

    def refresh_detail(self) -> None:
        key = self.detail_key
        row = self.model.rows.get(key) if key else None
        if row is None:
            self.detail.show(None, None)
            return
        self._maybe_fetch_version(row)
        self.detail.show(row, self.detail_context(row))

    def detail_context(self, row: TenantRow) -> DetailContext:
        text, reason = self.next_check_text(row)
        return DetailContext(
            now=self.clock.wall(),
            next_text=text,
            next_reason=reason,
            fetching_version=row.tenant.key in self._fetching_versions,
        )

    def tick(self) -> None:
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
        self.action_toggle_detail()

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


def run_board(config: BoardConfig) -> int:
    if config.demo and config.transport is None:
        from tenantboard.simulator import Simulator, SimulatorTransport

        config.transport = SimulatorTransport(Simulator())
    app = TenantBoardApp(config)
    app.run()
    return app.return_code or 0
