"""What the screen shows, as SVG snapshots: fixed size, fixed clock, fixed scenario.

Update after an intended change with `.venv/bin/pytest tests/test_snapshots.py --snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

import pytest

from .conftest import (
    FAILING_HOST,
    FakeClock,
    make_board,
    make_fleet_board,
    open_host_incident,
    settle_board,
)

THEMES = ["textual-dark", "textual-light"]


def settled(theme: str, keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        pilot.app.theme = theme
        await settle_board(pilot, pilot.app)
        for key in keys:
            await pilot.press(key)
        await settle_board(pilot, pilot.app)
        await history_read(pilot)
        for _ in range(5):
            await pilot.pause()
        pilot.app.board.update_summary()  # its own timer, in real time, may not have come

    return run_before


async def history_read(pilot) -> None:
    """Wait until the board has read what the history holds (in threads)."""
    board = pilot.app.board
    for _ in range(300):
        loaded = board.session.history_loaded
        key = board.detail_key
        pane = (
            key is None
            or board.session.config.history_path is None
            or key in board.session.availability
        )
        if loaded and pane:
            return
        await pilot.pause(0.01)
    raise AssertionError("the history was never read")


@pytest.mark.parametrize("theme", THEMES)
def test_board(snap_compare, clock: FakeClock, theme: str) -> None:
    assert snap_compare(make_board(clock), terminal_size=(160, 30), run_before=settled(theme))


def test_board_at_80x24(snap_compare, clock: FakeClock) -> None:
    assert snap_compare(
        make_board(clock), terminal_size=(80, 24), run_before=settled("textual-dark")
    )


@pytest.mark.parametrize("theme", THEMES)
def test_detail_pane(snap_compare, clock: FakeClock, theme: str) -> None:
    keys = ("down",) * 11 + ("enter",)  # Cust1012: the stale Api host, corrected after a 421
    assert snap_compare(make_board(clock), terminal_size=(160, 40), run_before=settled(theme, keys))


def test_add_tenant_form(snap_compare, clock: FakeClock) -> None:
    keys = ("a", *"Cust12x")  # a context id that is not valid yet: the form says why
    assert snap_compare(
        make_board(clock), terminal_size=(80, 24), run_before=settled("textual-dark", keys)
    )


@pytest.mark.parametrize("size", [(200, 50), (80, 24)], ids=["200x50", "80x24"])
def test_help_screen(snap_compare, clock: FakeClock, size: tuple[int, int]) -> None:
    """Wide: the keys in two columns and both legends, no scrolling. Narrow: one column."""
    assert snap_compare(
        make_board(clock),
        terminal_size=size,
        run_before=settled("textual-dark", ("question_mark",)),
    )


def test_header_at_80x24(snap_compare, clock: FakeClock, tmp_path) -> None:
    """More to say than fits in 80 columns (paused, demo, a view note, the history note):
    the counts by state lead and stay whole, the rest is cut from the right."""
    history = write_history(tmp_path / "data")
    app = make_board(clock, demo=True, data_dir=tmp_path / "data", history_path=history)
    keys = ("p", "exclamation_mark")
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled("textual-dark", keys))


def test_event_log(snap_compare, clock: FakeClock, tmp_path) -> None:
    history = write_history(tmp_path / "data")
    app = make_board(clock, data_dir=tmp_path / "data", history_path=history)
    assert snap_compare(app, terminal_size=(120, 36), run_before=settled("textual-dark", ("l",)))


def test_detail_pane_with_availability(snap_compare, clock: FakeClock, tmp_path) -> None:
    history = write_history(tmp_path / "data")
    app = make_board(clock, data_dir=tmp_path / "data", history_path=history)
    keys = ("down",) * 11 + ("enter",)  # Cust1012, with a month of recorded history
    assert snap_compare(app, terminal_size=(160, 50), run_before=settled("textual-dark", keys))


def write_history(data_dir, *, closed_change: bool = False):
    """A history database as earlier sessions would have left it: a month of Cust1012's
    checks (two incidents, a maintenance night), events, and (optionally) Cust1006 last seen suspended.
    Returns its path. With ``closed_change``, Cust1006 was last recorded Suspended, so the
    board finds a change while closed: when it logs that depends on whether its first
    answers come before the history is read, so snapshots leave it out."""
    import json
    from datetime import timedelta

    from tenantboard.eventlog import LoggedEvent
    from tenantboard.history.db import HistoryDB, Observation

    from .conftest import FIXED_NOW

    CODES = {"Running": 2, "Unknown": 0, "OfflineMaintenance": 6}
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "history.sqlite3"
    last_ran = FIXED_NOW - timedelta(minutes=90)
    start = last_ran - timedelta(days=30)
    trouble = {  # 15-minute step -> (state, running, error)
        **{step: ("Unknown", False, None) for step in range(480, 488)},
        **{step: ("OfflineMaintenance", False, None) for step in range(2500, 2504)},
        **{step: (None, None, "timeout") for step in range(2800, 2803)},
    }
    observations = []
    for step in range(30 * 96 + 1):
        if 1300 <= step < 1400:
            continue  # nobody watched for a day: a gap, neither up nor down
        state, running, error = trouble.get(step, ("Running", True, None))
        at = start + timedelta(minutes=15 * step)
        code, host = (CODES[state], "online3.superoffice.com") if state else (None, None)
        observations.append(Observation("online:Cust1012", at, state, code, running, host, error))
    if closed_change:
        observations.append(Observation("online:Cust1006", last_ran, "Suspended", 4, False))
    log = [
        LoggedEvent(
            FIXED_NOW - timedelta(hours=20),
            "online:Cust1003",
            "Fabrikam (nightly maintenance)",
            "state",
            "Running → OfflineMaintenance",
            "warning",
            True,
        ),
        LoggedEvent(
            FIXED_NOW - timedelta(hours=19, minutes=55),
            "online:Cust1003",
            "Fabrikam (nightly maintenance)",
            "state",
            "OfflineMaintenance → Running",
            "ok",
        ),
        LoggedEvent(
            FIXED_NOW - timedelta(hours=2),
            "online:Cust1002",
            "Contoso (moves hosts)",
            "endpoint",
            "endpoint https://online3.superoffice.com/Cust1002 → https://online4.superoffice.com/Cust1002",
            "ok",
        ),
    ]
    with HistoryDB.open(path) as db:
        run = db.start_run(last_ran - timedelta(hours=9))
        db.write(observations, log, run_id=run, now=last_ran)
    (data_dir / "ui-state.json").write_text(json.dumps({"last_seen": "2026-03-02T08:00:00+00:00"}))
    return path


def test_grouped_board(snap_compare, clock: FakeClock) -> None:
    """The demo's fleet grouped by endpoint host: a header line per host with its counts."""
    app = make_fleet_board(clock, group_by="host")
    assert snap_compare(app, terminal_size=(160, 40), run_before=settled("textual-dark"))


def test_host_incident(snap_compare, clock: FakeClock) -> None:
    """online3 fails: one line under the header, its group's header says so, the detail
    pane of one of its tenants points to it, and the event log has one event for it."""

    async def run_before(pilot) -> None:
        await settled("textual-dark")(pilot)
        await open_host_incident(pilot, pilot.app, clock)
        board = pilot.app.board
        member = "online:Cust1105"  # Acme Tromsø, one of online3's tenants that failed
        assert member in board.session.incidents.open[FAILING_HOST].members
        board.jump_to(member)
        await pilot.press("enter", "l")
        pilot.app.clear_notifications()  # the pop-ups would cover the pane
        for _ in range(5):
            await pilot.pause()

    app = make_fleet_board(clock, group_by="host")
    assert snap_compare(app, terminal_size=(160, 44), run_before=run_before)
