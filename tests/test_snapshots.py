"""What the screen shows, as SVG snapshots: fixed size, fixed clock, fixed scenario.

Update after an intended change with `.venv/bin/pytest tests/test_snapshots.py --snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

import pytest

from .conftest import FakeClock, make_board, settle_board

THEMES = ["textual-dark", "textual-light"]


def settled(theme: str, keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        pilot.app.theme = theme
        await settle_board(pilot, pilot.app)
        for key in keys:
            await pilot.press(key)
        await settle_board(pilot, pilot.app)
        for _ in range(5):
            await pilot.pause()

    return run_before


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


def test_help_screen(snap_compare, clock: FakeClock) -> None:
    assert snap_compare(
        make_board(clock),
        terminal_size=(100, 50),
        run_before=settled("textual-dark", ("question_mark",)),
    )


def test_event_log(snap_compare, clock: FakeClock, tmp_path) -> None:
    write_history(tmp_path / "data")
    app = make_board(clock, data_dir=tmp_path / "data")
    assert snap_compare(app, terminal_size=(120, 36), run_before=settled("textual-dark", ("l",)))


def write_history(data_dir) -> None:
    """A previous session's events, as the board would have logged them."""
    import json
    from datetime import timedelta

    from tenantboard.eventlog import EventLog, LoggedEvent

    from .conftest import FIXED_NOW

    log = EventLog(data_dir / "events.jsonl")
    log.add(
        [
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
            LoggedEvent(
                FIXED_NOW - timedelta(minutes=40),
                "online:Cust1006",
                "Adventure Works",
                "state",
                "Running → Unknown",
                "critical",
                True,
            ),
        ]
    )
    log.flush()
    (data_dir / "ui-state.json").write_text(json.dumps({"last_seen": "2026-03-02T08:00:00+00:00"}))
