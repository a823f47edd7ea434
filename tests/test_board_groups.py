"""Grouped rows and host incidents on the board, driven with Textual's Pilot."""

from __future__ import annotations

from tenantboard.rows import group_line_id
from tenantboard.ui.screens.chooser import ChooserScreen
from tenantboard.ui.widgets.change_line import IncidentLine
from tenantboard.ui.widgets.table import TenantTable

from .conftest import (
    FAILING_HOST,
    FakeClock,
    choose_in_palette,
    make_fleet_board,
    open_host_incident,
    settle_board,
    until,
)
from .test_board import detail_text, screen_text

ONLINE3 = FAILING_HOST
fleet_board = make_fleet_board


def header_lines(app) -> list[str]:
    lines = [line.strip() for line in screen_text(app).splitlines()]
    return [line for line in lines if line[:1] in ("▾", "▸")]


async def test_b_groups_the_rows_by_host_with_a_header_line_each(clock: FakeClock) -> None:
    app = fleet_board(clock)
    async with app.run_test(size=(160, 60)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("b")
        assert app.board.model.view.group_by == "host"
        headers = header_lines(app)
        assert [h.split("  ")[0] for h in headers[:4]] == [
            "▾ app.superoffice.com",  # the 2026 hosts have no number
            "▾ online2.superoffice.com",
            "▾ online3.superoffice.com",
            "▾ online4.superoffice.com",
        ]
        online3 = next(h for h in headers if h.startswith(f"▾ {ONLINE3}"))
        assert "tenants  ✔" in online3
        assert headers[-1].startswith("▾ no host  ")  # never named an endpoint: Deleted...
        assert "grouped by endpoint host" in str(app.board.summary.render())
        await pilot.press("b")  # environment
        assert [h.split("  ")[0] for h in header_lines(app)] == [
            "▾ online",
            "▾ sod",
            "▾ stage",
        ]
        for _ in range(3):  # version, tag, then none
            await pilot.press("b")
        assert app.board.model.view.group_by is None and header_lines(app) == []


async def test_space_folds_a_group_and_enter_on_its_header_unfolds_it(clock: FakeClock) -> None:
    app = fleet_board(clock, group_by="tag")
    async with app.run_test(size=(160, 60)) as pilot:
        await settle_board(pilot, app)
        table = app.query_one(TenantTable)
        assert table.cursor_header is not None and table.cursor_header.value == "acme"
        await pilot.press("down", "space")  # on a tenant: its group folds, the cursor on it
        acme = table.cursor_header
        assert acme is not None and acme.value == "acme" and acme.collapsed
        assert header_lines(app)[0].startswith("▸ acme  6 tenants  ✔ 6")
        assert header_lines(app)[1].startswith("▾ globex  6 tenants")  # right below it
        assert screen_text(app).count("Acme Oslo") == 1  # under gold, its other tag
        await pilot.press("enter")  # on a header line: unfold, no detail pane
        assert not table.cursor_header.collapsed and app.board.detail_key is None
        assert screen_text(app).count("Acme Oslo") == 2


async def test_the_filter_line_narrows_to_a_group(clock: FakeClock) -> None:
    app = fleet_board(clock, group_by="host")
    async with app.run_test(size=(160, 60)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", *"tag:gold host:online3", "enter")
        rows = [app.board.model.rows[key] for key in app.board.model.order]
        assert rows and {row.host for row in rows} == {ONLINE3}
        assert all("gold" in row.tenant.tags for row in rows)
        assert [h.split("  ")[0] for h in header_lines(app)] == [f"▾ {ONLINE3}"]


async def test_the_palette_groups_by_any_dimension(clock: FakeClock) -> None:
    app = fleet_board(clock)
    async with app.run_test(size=(160, 60)) as pilot:
        await settle_board(pilot, app)
        await choose_in_palette(pilot, "Group by tag")
        await until(pilot, lambda: app.board.model.view.group_by == "tag")
        assert "▾ partner-nordic  12 tenants" in "\n".join(header_lines(app))


async def test_a_failing_host_is_one_incident_on_the_board(clock: FakeClock) -> None:
    app = fleet_board(clock, group_by="host")
    async with app.run_test(size=(160, 60)) as pilot:
        await settle_board(pilot, app)
        line = app.query_one(IncidentLine)
        assert not line.display
        await open_host_incident(pilot, app, clock)  # online3 fails; every tenant re-checked
        await until(pilot, lambda: line.display)
        assert line.text.plain.startswith(f" ✖ host incident: {ONLINE3}: ")
        assert "tenants Unknown since 09:31" in line.text.plain
        header = screen_text(app).splitlines()[app.board.model.index_of(group_line_id(ONLINE3)) + 1]
        assert "✖ host incident since 09:31" in header
        incident = app.board.session.incidents.open[ONLINE3]
        member = sorted(incident.members)[0]
        app.board.jump_to(member)
        await pilot.press("enter")
        assert f"Incident    part of the host incident {ONLINE3}: " in detail_text(app)
        toasts = [n.message for n in app._notifications if n.title == "host incident"]
        assert toasts == [incident.headline()]
        clock.advance(900)  # online3 is back
        await pilot.press("R")
        await settle_board(pilot, app)
        await until(pilot, lambda: not line.display)
        assert "was part of the host incident on" in detail_text(app)


async def test_the_maintenance_chooser_counts_the_tenants_shown_not_the_lines(
    clock: FakeClock,
) -> None:
    """Grouped and showing only what needs attention, ``w`` offers "the N tenants shown"
    with N the tenants, not the tenants and the groups' header lines."""
    app = fleet_board(clock)
    async with app.run_test(size=(160, 60)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("b", "exclamation_mark")
        model = app.board.model
        assert model.headers and 0 < model.shown < len(model)
        await pilot.press("w")
        assert isinstance(app.screen, ChooserScreen)
        texts = [text for _, text in app.screen.choices]
        assert f"the {model.shown} tenants shown" in texts, texts


def test_a_group_line_too_wide_drops_whole_trailing_fields_never_cutting_a_number() -> None:
    """At 80 columns ``… worst OfflineMaintenance  up 24h 100%`` was cut to ``up 24h 10``
    (read as 10 %): a field that does not fit is left out whole, the host incident kept."""
    from tenantboard.rows import GroupLine, TenantRow
    from tenantboard.tenant import Tenant
    from tenantboard.ui.widgets.table import group_line_text

    row = TenantRow(Tenant("Cust1", "online", "Acme"), uptime_24h=1.0)
    header = GroupLine(
        "host",
        ONLINE3,
        ["online:Cust1"],
        {"online:Cust1": row},
        {"online:Cust1": "OfflineMaintenance"},
    )

    def line(note: str, width: int) -> str:
        return "".join(group_line_text(header, note, width))

    assert line("", 200) == f" ▾ {ONLINE3}  1 tenant  ▲ 1  worst OfflineMaintenance  up 24h 100%"
    assert line("", 79) == f" ▾ {ONLINE3}  1 tenant  ▲ 1  worst OfflineMaintenance"
    incident = "✖ host incident since 01:11"
    assert line(incident, 79) == f" ▾ {ONLINE3}  1 tenant  ▲ 1  {incident}"
    assert line("", 20) == f" ▾ {ONLINE3[:16]}…"


def test_the_filters_help_names_everything_the_filter_matches() -> None:
    """The help said "context id, label, host or state": environment and version, matched
    too, and the ``name:`` terms were missing from it."""
    from tenantboard.rows import FIELD_FILTERS
    from tenantboard.ui.screens.board_keys import BOARD_BINDINGS

    help_text = next(b.tooltip for b in BOARD_BINDINGS if b.id == "filter")
    for matched in ("context id", "label", "environment", "host", "state", "version"):
        assert matched in help_text, matched
    for name in FIELD_FILTERS:
        assert f"{name}:" in help_text, name


async def test_a_tenant_key_on_a_group_header_line_says_why_nothing_happens(
    clock: FakeClock,
) -> None:
    """Every key that acts on the selected tenant: ``m``, ``A`` and ``r`` did nothing there,
    silently."""
    app = fleet_board(clock, group_by="host")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        table = app.query_one(TenantTable)
        table.move_cursor_to(0)
        assert table.cursor_header is not None
        for key, doing in (
            ("e", "edit it"),
            ("delete", "remove it"),
            ("c", "copy its context id"),
            ("u", "copy its endpoint"),
            ("o", "open its endpoint"),
            ("m", "mute it"),
            ("A", "acknowledge it"),
            ("r", "refresh it"),
        ):
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.board, key  # no form, question or chooser
            said = [n.message for n in app._notifications]
            assert said == [
                f"the cursor is on a group's header line: move to a tenant to {doing}"
            ], key
