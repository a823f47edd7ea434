"""The board's releases: the versions view (key and palette) following a rollout, choosing a
version to filter the board, and the detail pane's version history from the history."""

from __future__ import annotations

import re
from datetime import timedelta

from tenantboard.history.db import HistoryDB, VersionSeen
from tenantboard.simulator import Rollout, Simulator, SimulatorTransport
from tenantboard.tenant import Tenant
from tenantboard.ui.screens.versions import VersionsScreen

from .conftest import FIXED_NOW, choose_in_palette, let_time_pass, make_board, settle_board, until
from .test_board import detail_text

OLD, NEW = Rollout().old, Rollout().new
TENANTS = [Tenant(f"Cust{number}", "online", f"Tenant {number}") for number in range(1, 7)]


def rollout_board(clock, day: float = 600, **options):
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0, rollout=Rollout(day=day))
    return make_board(clock, TENANTS, transport=SimulatorTransport(simulator), **options)


def shown_versions(app) -> list[tuple[str | None, int]]:
    screen = app.screen
    assert isinstance(screen, VersionsScreen)
    return [(item.version, item.tenants) for item in screen._shown]


async def open_versions(pilot, app) -> None:  # type: ignore[no-untyped-def]
    """The board's first pass done, then the versions view opened with `v`."""
    await settle_board(pilot, app)
    await pilot.press("v")
    await until(pilot, lambda: isinstance(app.screen, VersionsScreen))


async def test_the_versions_view_follows_a_rollout_and_filters_the_board(clock) -> None:
    app = rollout_board(clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_versions(pilot, app)
        assert shown_versions(app) == [(OLD, 6)]
        assert "1 release on 6 tenants" in str(app.screen.title_label.render())
        # The first host's day: its tenants (Cust3, Cust6 live on online2) move; the view,
        # still open, follows within a second.
        await let_time_pass(pilot, clock, 600)
        await until(pilot, lambda: shown_versions(app) == [(NEW, 2), (OLD, 4)], tries=200)
        line = app.screen.choices.get_option_at_index(0).prompt
        assert "online2 2" in str(line) and "first seen Mar 02 09:" in str(line)
        # The highlight stayed on 11.9 as 11.10 came in above it: up to the newest.
        assert app.screen.choices.highlighted == 1
        await pilot.press("up", "enter")
        await until(pilot, lambda: not isinstance(app.screen, VersionsScreen))
        assert app.board.filter_line.value == f"version:{NEW.casefold()}"
        assert sorted(app.board.model.order) == ["online:Cust3", "online:Cust6"]


async def test_the_palette_opens_the_versions_view_and_escape_changes_nothing(clock) -> None:
    app = rollout_board(clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        await choose_in_palette(pilot, "Versions")
        await until(pilot, lambda: isinstance(app.screen, VersionsScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, VersionsScreen))
        assert app.board.filter_line.value == ""
        assert len(app.board.model.order) == len(TENANTS)


async def test_the_detail_pane_shows_the_tenants_version_history(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    earlier = "Release_11.8_2025.11.11-01"
    with HistoryDB.open(history) as db:
        db.write(
            steps=[
                VersionSeen(
                    "online:Cust1",
                    FIXED_NOW - timedelta(days=60),
                    earlier,
                    "online3.superoffice.com",
                ),
                VersionSeen(
                    "online:Cust1", FIXED_NOW - timedelta(days=20), OLD, "online3.superoffice.com"
                ),
            ]
        )
    app = rollout_board(clock, history_path=history)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")  # Cust1's detail pane
        await until(pilot, lambda: "online:Cust1" in app.session.version_history, tries=400)
        await pilot.pause()
        text = detail_text(app)
        assert "Versions  from the history database, newest first" in text
        assert f"2026-02-10  09:30  {OLD} on online3.superoffice.com, upgraded, still" in text
        assert f"2026-01-01  09:30  {earlier} on online3.superoffice.com" in text


def test_the_versions_title_counts_the_tenants_on_releases_apart_from_those_without() -> None:
    """``1 release on 8 tenants that answered`` read as 8 on the release, where 4 were and 4
    named no version: each count says what it counts."""
    from tenantboard.releases import VersionSummary
    from tenantboard.ui.screens.versions import title_text

    on_old = VersionSummary(OLD, 4, (("online3.superoffice.com", 4),), FIXED_NOW)
    without = VersionSummary(None, 4, (("online3.superoffice.com", 4),), None)
    title = title_text([on_old, without])
    assert "1 release on 4 tenants" in title and "4 more answered with no version" in title
    assert "8" not in title
    assert "4 more" not in title_text([on_old])
    assert title_text([without]).startswith("Versions: no release named by the 4 tenants")


async def test_first_seen_stays_on_the_line_of_its_date_at_80_columns(clock) -> None:
    app = rollout_board(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_versions(pilot, app)
        await pilot.pause()
        choices = app.screen.choices
        lines = [choices.render_line(y).text.strip() for y in range(choices.size.height)]
        seen = [line for line in lines if "first seen" in line]
        assert seen and all(re.search(r"first seen \w{3} \d\d \d\d:\d\d", x) for x in seen), lines
