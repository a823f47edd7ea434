"""The Textual app: configuration, the engine's lifecycle, theme and remembered choices.

The board itself lives on its screen (:mod:`tenantboard.screens.board`). The app builds the
one shared HTTP client and the monitor, runs the monitor as a worker, hands both to the
board, remembers the operator's choices between runs, and closes everything on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterable
from functools import partial

from textual import constants, events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from tenantboard.client import TenantClient
from tenantboard.clock import Clock, SystemClock
from tenantboard.engine import Monitor, unexpected
from tenantboard.palette import TenantCommands
from tenantboard.remote import AttachedMonitor, AttachTarget, ServerFeed
from tenantboard.schedule import RefreshPolicy
from tenantboard.screens.board import BoardConfig, BoardScreen
from tenantboard.textual_overrides import EXIT_ON_SIGNAL, HangupAwareDriver
from tenantboard.ui_state import read_ui_state, save_ui_state

__all__ = ["BoardConfig", "TenantBoardApp", "binding_ids", "run_board"]


class TenantBoardApp(App[int]):
    CSS_PATH = "board.tcss"
    TITLE = "tenantboard"
    COMMANDS = App.COMMANDS | {TenantCommands}
    # ctrl+c quits, as operators expect of a terminal tool (Textual's default only says
    # "press ctrl+q"); priority, so it works in the filter line and every dialog too.
    # Shown in the key bar only where q is not (the filter line types q).
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", priority=True, id="app.quit_ctrl_c")]

    def __init__(self, config: BoardConfig) -> None:
        super().__init__()
        self.config = config
        self.clock: Clock = config.clock or SystemClock()
        self.ui_state_path = config.data_dir / "ui-state.json" if config.data_dir else None
        #: A damaged file of remembered choices is set aside; this says so, once.
        self.ui, self._ui_state_report = read_ui_state(self.ui_state_path)
        #: When the board last ran before this session (the event log says so).
        self.previous_session = self.ui.last_seen
        self.board = BoardScreen(config, self.clock, self.ui)
        self.client: TenantClient | None = None
        self.monitor: Monitor | None = None
        self._monitor_worker: Worker[None] | None = None
        self.feed: ServerFeed | None = None

    def get_default_screen(self) -> Screen:
        return self.board

    def get_driver_class(self) -> type[Driver]:
        if sys.platform == "linux" and constants.DRIVER is None:
            return HangupAwareDriver
        return super().get_driver_class()

    def _apply_keymap(self) -> None:
        """Remap keys by binding id ([keys] in the tenant file); an id nobody knows is said
        and left out, never a reason not to start (list, check and add read the same file)."""
        known = binding_ids()
        wanted = self.config.keys
        unknown = sorted(set(wanted) - known)
        if unknown:
            self.notify(
                f"[keys] in the tenant file: unknown binding id(s) {', '.join(unknown)} ignored "
                f"(known: {', '.join(sorted(known))})",
                severity="warning",
                timeout=30,
                markup=False,
            )
        keymap = {binding_id: keys for binding_id, keys in wanted.items() if binding_id in known}
        if keymap:
            self.set_keymap(keymap)

    def _exit_on_signals(self) -> None:
        """SIGTERM, SIGHUP and SIGINT end the board the orderly way: what it keeps is saved
        and the terminal is restored (alternate screen, mouse, cursor, cooked mode). The
        hang-up aware driver (Linux) does this itself, even with the event loop stuck."""
        loop = asyncio.get_running_loop()
        for number, code in EXIT_ON_SIGNAL.items():
            loop.add_signal_handler(number, partial(self.exit, return_code=code))

    def on_mount(self) -> None:
        if self.config.attach is not None:
            self._follow_server(self.config.attach)
        else:
            self._start_checking()
        if self.ui.theme in self.available_themes:
            self.theme = self.ui.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_keymap()
        if self._ui_state_report:
            self.notify(self._ui_state_report, severity="warning", timeout=30, markup=False)
        self.set_interval(60, self.remember_choices)
        if not self.is_headless and not issubclass(self.get_driver_class(), HangupAwareDriver):
            self._exit_on_signals()

    def _start_checking(self) -> None:
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
            on_result=self.board.result_arrived,
            clock=self.clock,
            on_outage=self.board.outage_changed,
        )
        self.board.attach(self.client, self.monitor)
        # Checking starts once the first screen is drawn: the first request imports aiohttp
        # (a quarter of a second) and the first results would compete with the first paint.
        self.call_after_refresh(self._run_monitor)

    def _run_monitor(self) -> None:
        if self.monitor is None:
            return
        self._monitor_worker = self.run_worker(
            self.monitor.run(), name="monitor", group="monitor", exit_on_error=False
        )

    def _follow_server(self, target: AttachTarget) -> None:
        """--attach: the rows come from a running `tenantboard serve`, not from checks."""
        board = self.board
        self.feed = ServerFeed(
            target,
            on_tenants=board.adopt_tenants,
            on_result=board.result_arrived,
            on_status=self._server_status,
            transport=self.config.transport,
        )
        monitor = AttachedMonitor(self.feed)
        board.attach(None, monitor)
        self._monitor_worker = self.run_worker(
            monitor.run(), name="server feed", group="monitor", exit_on_error=False
        )

    def _server_status(self, message: str, connected: bool) -> None:
        """The server the board follows: gone is a standing problem, until it is back."""
        self.board.standing_problem("server", "" if connected else message)
        if connected:
            self.notify(message, timeout=4, markup=False)

    async def on_unmount(self) -> None:
        """Quit at once: cancel the checks in flight, then close the shared client."""
        self._remember(in_thread=False)
        worker = self._monitor_worker
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        if self.client is not None:
            await self.client.aclose()
        if self.feed is not None:
            await self.feed.aclose()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is self._monitor_worker and event.state is WorkerState.ERROR:
            reason = unexpected(worker.error).message if worker.error else "unknown error"
            self.notify(f"checking stopped: {reason}", severity="error", timeout=30, markup=False)

    async def on_event(self, event: events.Event) -> None:
        # Seen here, before any binding: the board's pacing lets results wait while keys come.
        if isinstance(event, events.Key):
            self.board.pacing.key_pressed()
        await super().on_event(event)

    # -- remembered choices ---------------------------------------------------------------------

    def remember_choices(self) -> None:
        """Save the operator's choices and the time the board was last seen running."""
        self._remember(in_thread=True)

    def _remember(self, *, in_thread: bool) -> None:
        view = self.board.model.view
        self.ui.last_seen = self.clock.wall()
        self.ui.sort = view.sort
        self.ui.attention_only = view.attention_only
        self.ui.log_open = bool(self.board.log_panel.display)
        if in_thread:  # an fsync under the operator's fingers is a stuck key
            snapshot = self.ui.copy()
            work = asyncio.to_thread(save_ui_state, self.ui_state_path, snapshot)
            self.run_worker(work, group="disk", exit_on_error=False)
        else:
            save_ui_state(self.ui_state_path, self.ui)

    def _theme_changed(self, theme: object) -> None:
        self.ui.theme = self.theme
        self.remember_choices()

    # -- the command palette --------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in BoardScreen.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action in ("app.quit", "help"):
                continue
            yield SystemCommand(
                binding.description, binding.tooltip, partial(self.board.run_action, binding.action)
            )
        yield SystemCommand(
            "Help", "every key, and what the colours and glyphs mean", self.board.action_help
        )


def binding_ids() -> set[str]:
    """The ids that [keys] in the tenant file may remap."""
    return {b.id for b in BoardScreen.BINDINGS if isinstance(b, Binding) and b.id}


def run_board(config: BoardConfig) -> int:
    if config.demo and config.transport is None:
        from tenantboard.simulator import Simulator, SimulatorTransport

        config.transport = SimulatorTransport(Simulator())
    app = TenantBoardApp(config)
    app.run()
    return app.return_code or 0
