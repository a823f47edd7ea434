"""Hermetic fixtures: no test touches the network or the developer's real config."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest

from tenantboard.clock import Clock

FIXED_NOW = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
#: Set to 1 in CI (.ci/run): the tests that need root (tmpfs mounts) fail there, not skip.
REQUIRE_ROOT = "TENANTBOARD_REQUIRE_ROOT"


def skip_unless_required(reason: str, required_by: str, *, module: bool = False) -> NoReturn:
    """Skip a test that cannot run here (no root, no browser), or fail it where
    ``required_by`` is set to 1: CI sets each (``.ci/run``), so that a test it must run
    never passes there by skipping."""
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{required_by}=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


@pytest.fixture(autouse=True)
def hermetic_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every platformdirs folder and our own variables at a temp folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    # Every option's variable (TENANTBOARD_CONFIG, _LISTEN, ...; not CI's TENANTBOARD_REQUIRE_*)
    # and a shell's completion request.
    ours = [
        name
        for name in os.environ
        if name.startswith("TENANTBOARD_") and not name.startswith("TENANTBOARD_REQUIRE_")
    ]
    for name in (
        *ours,
        "_ARGCOMPLETE",
        "STATE_DIRECTORY",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "NO_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TZ", "UTC")  # times on screen are local: make them the same everywhere
    time.tzset()
    return home


class FakeClock(Clock):
    """Monotonic and wall time that move only when a test says so; what sleeps on it
    wakes when :meth:`advance` passes its time."""

    def __init__(self, start: datetime = FIXED_NOW) -> None:
        self._wall = start
        self._mono = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self._mono += seconds
        self._wall += timedelta(seconds=seconds)
        waiting = []
        for deadline, woken in self._sleepers:
            if deadline <= self._mono:
                if not woken.done():
                    woken.get_loop().call_soon_threadsafe(_wake, woken)
            else:
                waiting.append((deadline, woken))
        self._sleepers = waiting

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, woken))
        await woken

    @property
    def epoch(self) -> float:
        return self._wall.timestamp()


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_board(
    clock: FakeClock,
    tenants: list | None = None,
    transport=None,
    **options,
):
    """A board on the in-process simulator (or a given transport), on a fake clock.
    ``options`` are :class:`SessionConfig`'s fields, or the board's own (``demo``,
    ``tick_interval``, ``group_by``)."""
    import random

    from tenantboard.session import SessionConfig
    from tenantboard.simulator import Simulator, SimulatorTransport, demo_tenants
    from tenantboard.tenant_file import Settings
    from tenantboard.ui.app import BoardConfig, TenantBoardApp

    if transport is None:
        transport = SimulatorTransport(Simulator(now=lambda: clock.epoch, slow_delay=0))
    board = {
        name: options.pop(name) for name in ("demo", "tick_interval", "group_by") if name in options
    }
    options.setdefault("watch_interval", 3600)
    session = SessionConfig(
        tenants=demo_tenants() if tenants is None else tenants,
        settings=options.pop("settings", Settings(concurrency=4)),
        transport=transport,
        rng=random.Random(7),
        **options,
    )
    return TenantBoardApp(BoardConfig(session=session, clock=clock, **board))


#: The host the fleet boards' simulator fails a minute in (for fifteen minutes).
FAILING_HOST = "online3.superoffice.com"


def make_fleet_board(clock: FakeClock, **options):
    """A board on the demo's fleet (52 tenants on a few hosts, tagged), on the in-process
    simulator, where :data:`FAILING_HOST` fails a minute in."""
    from tenantboard.simulator import HostFailure, Simulator, SimulatorTransport, demo_fleet

    failure = HostFailure(FAILING_HOST, start=60, duration=900)
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0, host_failure=failure)
    return make_board(clock, demo_fleet(), SimulatorTransport(simulator), **options)


async def open_host_incident(pilot, app, clock: FakeClock) -> None:
    """Let the fleet board's host fail and every tenant be checked again: an incident."""
    clock.advance(90)
    await pilot.press("R")
    await settle_board(pilot, app)
    await until(pilot, lambda: FAILING_HOST in app.board.session.incidents.open)
    await settle_board(pilot, app)  # the host's other tenants, re-checked at once


async def settle_board(pilot, app) -> None:
    """Wait (without sleeping on a timer) until every tenant has been checked once and the
    board has drawn it all: results, the header, the view."""
    board = app.board
    for _ in range(500):
        await pilot.pause()
        if board.model.pending() == 0 and app.monitor.in_flight == 0 and board.pacing.quiet:
            await pilot.pause()
            return
        let_results_through(app, drawn=True)
    raise AssertionError("the board never finished its first pass")


def let_results_through(app, *, drawn: bool = False) -> None:
    """The board gathers results for 50 ms of its clock before it draws them (and redraws
    its header and view a moment later): while something waits, move the fake clock on by
    that much, and no more, so that times on screen stay put. ``drawn``: wait for the
    header and the view too, not only the results."""
    from tenantboard.ui.pacing import BATCH_DELAY

    board = getattr(app, "board", None)
    if board is None or not isinstance(app.clock, FakeClock):
        return
    waiting = not board.pacing.quiet if drawn else not board.pacing.idle
    if waiting:
        app.clock.advance(BATCH_DELAY)


async def until(pilot, condition, tries: int = 100) -> None:
    """Let the app run (its threads too) until ``condition`` holds; notifications and
    results arrive as messages."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.01)
        let_results_through(pilot.app)
    raise AssertionError("never happened")


async def let_time_pass(pilot, clock: FakeClock, seconds: float) -> None:
    """Move the fake clock on a second at a time, letting the app run at each step: what
    the session does now and then (looking at the tenant file, marks) happens."""
    for _ in range(round(seconds)):
        clock.advance(1)
        await pilot.pause()


async def choose_in_palette(pilot, text: str) -> None:
    """Open the command palette, search for ``text`` and run the first match."""
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*text)
    await pilot.pause(0.3)  # the palette searches after a short debounce
    await pilot.press("enter")


@pytest.fixture(autouse=True)
def no_superoffice_windows_by_default(request, monkeypatch):
    """SuperOffice's built-in maintenance windows (every night 01:00-03:00 in Oslo, and
    more) are on by default, and a session judges them by its clock: a test on the real
    clock then read its tenants as planned work whenever the suite ran inside one (CI at
    00:15 UTC failed 40 tests). Off unless the test is about them (the maintenance tests,
    or ``@pytest.mark.superoffice_windows``), which use a fake clock."""
    if "maintenance" in request.module.__name__ or request.node.get_closest_marker(
        "superoffice_windows"
    ):
        return
    from tenantboard.maintenance import SuperOfficeWindows

    defaults = SuperOfficeWindows.__init__.__defaults__
    monkeypatch.setattr(SuperOfficeWindows.__init__, "__defaults__", (frozenset(), *defaults[1:]))
