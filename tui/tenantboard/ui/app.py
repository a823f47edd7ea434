"""The Textual app: the session's lifecycle, theme, keys and remembered choices.

The board itself lives on its screen (:mod:`tenantboard.ui.screens.board`) and the checking,
recording and alerting in its :class:`~tenantboard.session.Session`. The app builds the
session, runs it as a worker once the first frame is drawn, remembers the operator's choices
between runs, and stops the session on exit (which writes what it holds).
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
from tenantboard.groups import DIMENSION_NAMES, DIMENSIONS
from tenantboard.humanize import plural
from tenantboard.remote import AttachedMonitor
from tenantboard.session import Session
from tenantboard.ui.palette import TenantCommands
from tenantboard.ui.screens.board import BoardConfig, BoardScreen
from tenantboard.ui.textual_overrides import EXIT_ON_SIGNAL, HangupAwareDriver
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
        data_dir = config.session.data_dir
        self.ui_state_path = data_dir / "ui-state.json" if data_dir else None
        #: A damaged file of remembered choices is set aside; this says so, once.
        self.ui, self._ui_state_report = read_ui_state(self.ui_state_path)
        self.session = Session(config.session, clock=self.clock)
        self.board = BoardScreen(self.session, config, self.clock, self.ui)
        self._session_worker: Worker[None] | None = None

    @property
    def monitor(self) -> Monitor | AttachedMonitor:
        return self.session.monitor

    @property
    def client(self) -> TenantClient | None:
        return self.session.client

    def get_default_screen(self) -> Screen:
        return self.board

    def get_driver_class(self) -> type[Driver]:
        if sys.platform == "linux" and constants.DRIVER is None:
            return HangupAwareDriver
        return super().get_driver_class()

    def apply_keymap(self) -> None:
        """Remap keys by binding id ([keys] in the tenant file; again whenever it changes);
        an id nobody knows is said and left out, never a reason not to start (list, check
        and add read the same file)."""
        known = binding_ids()
        wanted = self.session.keys
        unknown = sorted(set(wanted) - known)
        if unknown:
            self.notify(
                f"[keys] in the tenant file: {plural(len(unknown), 'unknown binding id')} "
                f"ignored: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})",
                severity="warning",
                timeout=30,
                markup=False,
            )
        keymap = {binding_id: keys for binding_id, keys in wanted.items() if binding_id in known}
        self.set_keymap(keymap)

    def _exit_on_signals(self) -> None:
        """SIGTERM, SIGHUP and SIGINT end the board the orderly way: what it keeps is saved
        and the terminal is restored (alternate screen, mouse, cursor, cooked mode). The
        hang-up aware driver (Linux) does this itself, even with the event loop stuck."""
        loop = asyncio.get_running_loop()
        for number, code in EXIT_ON_SIGNAL.items():
            loop.add_signal_handler(number, partial(self.exit, return_code=code))

    def on_mount(self) -> None:
        # Checking starts once the first screen is drawn: the first request imports aiohttp
        # (a quarter of a second) and the first results would compete with the first paint.
        self.call_after_refresh(self._run_session)
        if self.ui.theme in self.available_themes:
            self.theme = self.ui.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.apply_keymap()
        if self._ui_state_report:
            self.notify(self._ui_state_report, severity="warning", timeout=30, markup=False)
        self.set_interval(60, self.remember_choices)
        if not self.is_headless and not issubclass(self.get_driver_class(), HangupAwareDriver):
            self._exit_on_signals()

    def _run_session(self) -> None:
        self._session_worker = self.run_worker(
            self.session.run(), name="session", group="session", exit_on_error=False
        )

    async def on_unmount(self) -> None:
        """Quit at once: stop the session (checks in flight are cancelled; what it holds
        is written and sent)."""
        self._remember(in_thread=False)
        worker = self._session_worker
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        # A cancelled worker's wait returns at once, while its task still closes the
        # session: the app must not end (and cancel that closing) before it is done.
        await self.session.aclose()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is self._session_worker and event.state is WorkerState.ERROR:
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
        self.ui.group_by = view.group_by or ""
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
        for dimension in (*DIMENSIONS, None):
            name = f"Group by {DIMENSION_NAMES[dimension]}" if dimension else "Do not group"
            help_text = (
                f"a header line per {DIMENSION_NAMES[dimension]} with its counts, worst state "
                "and uptime; space folds a group"
                if dimension
                else "one line per tenant, no group header lines"
            )
            yield SystemCommand(name, help_text, partial(self.board.action_group_by, dimension))
        yield SystemCommand(
            "Help", "every key, and what the colours and glyphs mean", self.board.action_help
        )


def binding_ids() -> set[str]:
    """The ids that [keys] in the tenant file may remap."""
    return {b.id for b in BoardScreen.BINDINGS if isinstance(b, Binding) and b.id}


def run_board(config: BoardConfig) -> int:
    if config.demo and config.session.transport is None:
        from tenantboard.simulator import DEMO_HOST_FAILURE, Simulator, SimulatorTransport

        simulator = Simulator(host_failure=DEMO_HOST_FAILURE)
        config.session.transport = SimulatorTransport(simulator)
    app = TenantBoardApp(config)
    app.run()
    return app.return_code or 0
