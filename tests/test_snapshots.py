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
