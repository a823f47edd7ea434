"""The board as an operator uses it, driven with Textual's Pilot."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from tenantboard.answers import Severity
from tenantboard.errors import ErrorKind
from tenantboard.tenant import Tenant
from tenantboard.ui.widgets.detail import DetailPane, plain_text
from tenantboard.ui.widgets.table import TenantTable, row_cells

from .conftest import FakeClock, make_board, settle_board, until


def screen_text(app) -> str:
    """What the table shows, line by line, as plain text."""
    table = app.query_one(TenantTable)
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


def detail_text(app) -> str:
    """The detail pane's content as plain text, laid out for 100 columns."""
    from tenantboard.ui.widgets.detail import detail_entries, plain_text

    row = app.board.model.rows[app.board.detail_key]
    return plain_text(detail_entries(row, app.board.detail_context(row)), 100)


def cursor_to(app, context_id: str) -> None:
    index = next(i for i, key in enumerate(app.board.model.order) if key.endswith(f":{context_id}"))
    app.query_one(TenantTable).move_cursor_to(index)


async def test_first_pass_fills_every_row_with_its_state(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle_board(pilot, app)
        text = screen_text(app)
        assert "✔ Northwind Traders" in text
        assert "✖ Litware (unpaid)" in text and "Suspended" in text
        assert "▲ Proseware migration" in text and "MigrationPending" in text
        assert "? Typo in the list" in text and "not found (404)" in text
        assert "Hibernating?" in text and "unrecognised state" in text
        assert "IsRunning disagrees with State" in text
        assert app.board.model.counts["Running"] >= 8
        assert app.board.model.counts["error"] == 3


async def test_rows_keep_their_order_and_the_cursor_its_tenant(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        order = list(app.board.model.order)
        cursor_to(app, "Cust1008")
        await settle_board(pilot, app)
        assert app.board.model.order == order
        assert app.query_one(TenantTable).cursor_key == "online:Cust1008"


async def test_refresh_asks_again_for_the_selected_tenant_only(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        cursor_to(app, "Cust1008")
        await pilot.press("r")
        await settle_board(pilot, app)
        checks = {key: row.checks for key, row in app.board.model.rows.items()}
        assert checks["online:Cust1008"] == 2
        assert sum(checks.values()) == len(checks) + 1


async def test_refresh_all_asks_for_every_tenant(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("R")
        await settle_board(pilot, app)
        assert all(row.checks == 2 for row in app.board.model.rows.values())


async def test_tenants_are_checked_again_when_valid_until_expires(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        row = app.board.model.rows["online:Cust1005"]  # Provisioning: ValidUntil 30 s
        assert "in 30s" in screen_text(app) or "in 31s" in screen_text(app)
        clock.advance(40)
        app.monitor.poke()
        await settle_board(pilot, app)
        assert row.checks == 2
        assert app.board.model.rows["online:Cust1008"].checks == 1  # ValidUntil 15 min away


async def test_failures_show_backoff_and_retry_after(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle_board(pilot, app)
        text = screen_text(app)
        flaky = next(line for line in text.splitlines() if "Flaky gateway" in line)
        assert "retry 4" in flaky and "service unavailable (503)" in flaky
        broken = next(line for line in text.splitlines() if "Broken proxy" in line)
        assert "backoff" in broken and "not JSON" in broken


async def test_detail_pane_shows_state_meaning_timing_and_version(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle_board(pilot, app)
        cursor_to(app, "Cust1012")
        await pilot.press("enter")
        await settle_board(pilot, app)
        await pilot.pause()
        text = detail_text(app)
        assert app.query_one(DetailPane).display
        assert "Running (2)" in text and "All is good" in text
        assert "ValidUntil  2026-03-02 09:35:00 UTC (in 4m)" in text  # 50 ms of batching later
        assert "NetServer   11.10.721.0 (build 721)" in text
        assert "421" in text  # the stale Api host was corrected through the Endpoint
        assert "History" in text and "state    Running" in text
        await pilot.press("enter")
        assert not app.query_one(DetailPane).display


async def test_detail_pane_explains_why_there_is_no_version_info(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle_board(pilot, app)
        cursor_to(app, "Cust1008")
        await pilot.press("enter")
        await pilot.pause()
        text = detail_text(app)
        assert "none while the tenant is Suspended" in text
        assert app.board.model.rows["online:Cust1008"].version is None  # and nothing was asked


async def test_detail_pane_follows_the_cursor(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter", "down")
        await pilot.pause()
        assert "Cust1002 · online" in detail_text(app)


def pane_screen_text(app) -> str:
    """What the detail pane shows on screen (the lines Textual keeps drawn), as plain text."""
    from textual.geometry import Region

    pane = app.query_one(DetailPane)
    assert pane.scrollable_content_region.width == 87, "laid out for 87 columns below"
    return "\n".join(strip.text for strip in pane.render_lines(Region(0, 0, *pane.outer_size)))


async def test_the_open_pane_shows_each_line_as_it_reads_now(clock: FakeClock) -> None:
    """The open pane repaints only the lines that read differently (here the times, as the
    clock moves on): every line on screen is the line as it reads now, none left over."""
    app = make_board(clock, [Tenant("Cust1", "online", "Acme")])
    async with app.run_test(size=(200, 50)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        await settle_board(pilot, app)
        before = pane_screen_text(app)
        clock.advance(30)
        app.board.tick()
        await settle_board(pilot, app)
        shown = pane_screen_text(app)
        assert shown != before and "(30s ago)" in shown
        # Each line on screen: the pane's border, its padding, then the line as laid out.
        on_screen = [line[2:].rstrip() for line in shown.splitlines()]
        laid_out = plain_text(app.query_one(DetailPane)._entries, 87).splitlines()
        assert on_screen[: len(laid_out)] == laid_out


async def test_a_url_too_wide_for_the_pane_at_120_columns_shows_whole(clock: FakeClock) -> None:
    """At 120 columns the pane's value column is narrower than an endpoint URL: it was cut
    with ``…`` and wrapped (``…superoffice.com/Cust…`` then ``1001``), so copying it gave
    a wrong address. It now shows whole on a line of its own, under its label."""
    from textual.geometry import Region

    app = make_board(clock, [Tenant("Cust1001", "online", "Northwind")])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        await settle_board(pilot, app)
        pane = app.query_one(DetailPane)
        strips = pane.render_lines(Region(0, 0, *pane.outer_size))
        shown = [strip.text[1:].strip() for strip in strips]
        endpoint = shown.index("Endpoint")
        assert shown[endpoint + 1] == "https://online4.superoffice.com/Cust1001", shown
        assert not any("…" in line for line in shown if "superoffice.com" in line), shown


async def test_services_difference_is_marked(clock: FakeClock) -> None:
    tenants = [Tenant("Cust1020", "sod", "Old release")]  # 1020 % 5 == 0: the 9.1 document
    app = make_board(clock, tenants)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        for _ in range(20):
            await pilot.pause()
        text = detail_text(app)
        assert "Services87  ≠ ServicesCurrent Services88" in text
        assert "Services80" in text  # an extra key, shown raw


HOSTILE = "[bold]x[/] [/x] \x1b[31mred\x1b[0m \x07bell"


def hostile_transport() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        ctx = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(
            200,
            json={
                "ContextIdentifier": ctx,
                "State": HOSTILE,
                "IsRunning": True,
                "Endpoint": f"https://online3.superoffice.com/{ctx}[/x]",
                "Api": None,
                "ValidUntil": "2026-03-02T09:40:00Z",
                "Version": "[red]v[/red]",
            },
        )

    return httpx.MockTransport(handler)


async def test_network_and_file_text_is_shown_literally_never_as_markup(clock: FakeClock) -> None:
    tenants = [Tenant("Cust1", "online", "[bold]Acme[/] [/x]")]
    app = make_board(clock, tenants, transport=hostile_transport())
    async with app.run_test(size=(200, 40)) as pilot:
        await settle_board(pilot, app)
        table = screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert "[bold]Acme[/] [/x]" in table
        assert "[bold]x[/] [/x] r…" in table  # cut to the column, still literal
        text = detail_text(app)
        assert "[bold]x[/] [/x] red" in text and "[red]v[/red]" in text
        assert "\x1b" not in table + text and "\x07" not in table + text


async def test_a_hung_server_shows_a_timeout_on_its_row_and_the_board_stays_usable(
    clock: FakeClock,
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    from tenantboard.tenant_file import Settings

    app = make_board(
        clock,
        [Tenant("Cust1")],
        transport=httpx.MockTransport(hang),
        settings=Settings(timeout=0.5),
    )
    async with app.run_test(size=(200, 20)) as pilot:
        row = app.board.model.rows["online:Cust1"]
        await until(pilot, lambda: row.last is not None)  # the request's real 0.5 s, then drawn
        assert row.error is not None and row.error.kind is ErrorKind.TIMEOUT
        assert row.severity is Severity.UNKNOWN
        assert "no complete answer within 0.5 s" in screen_text(app)


async def test_quitting_is_immediate_with_checks_in_flight(clock: FakeClock) -> None:
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    app = make_board(
        clock, [Tenant(f"Cust{i}") for i in range(1, 20)], transport=httpx.MockTransport(hang)
    )

    async def run() -> None:
        async with app.run_test(size=(120, 20)) as pilot:
            await started.wait()
            assert app.monitor.in_flight == 4
            await pilot.press("q")

    await asyncio.wait_for(run(), timeout=5)
    assert app.client is not None and app.client._http.is_closed


def test_row_cells_never_include_control_characters() -> None:
    from tenantboard.rows import TenantRow

    row = TenantRow(Tenant("Cust1", "online", "a\x1b[2Jb"))
    cells = row_cells(row, "never", "due")
    assert all("\x1b" not in value for value in cells.values())


@pytest.mark.parametrize(("width", "hidden"), [(80, "Endpoint host"), (200, None)])
async def test_columns_fit_the_screen(clock: FakeClock, width: int, hidden: str | None) -> None:
    app = make_board(clock)
    async with app.run_test(size=(width, 24)) as pilot:
        await settle_board(pilot, app)
        header = app.query_one(TenantTable).render_line(0).text
        assert len(header) == app.query_one(TenantTable).scrollable_content_region.width
        assert "Tenant" in header and "State" in header and "Checked" in header
        if hidden:
            assert hidden not in header
        else:
            assert "Endpoint host" in header and "Version" in header


def test_every_checked_text_fits_its_column_at_80_columns() -> None:
    """Whatever age a row's Checked cell says, checked or stale in our own outage, it shows
    whole in the column as laid out for an 80-column screen ("stale 10m" read "stale 1…")."""
    from datetime import timedelta

    from tenantboard.engine import CheckResult
    from tenantboard.rows import TenantRow, checked_text
    from tenantboard.ui.widgets.table import fit, layout_columns

    from .conftest import FIXED_NOW

    widths = {column.key: width for column, width in layout_columns(78)}
    assert "state" in widths  # the state stays at 80 columns
    row = TenantRow(Tenant("Cust1"))
    ages = [*range(0, 3600, 5), *range(3600, 3 * 86400, 60), *range(3 * 86400, 10**8, 86400)]
    for seconds in ages:
        checked_at = FIXED_NOW - timedelta(seconds=seconds)
        row.last = CheckResult(Tenant("Cust1"), None, None, checked_at, 0.0)
        row.last_success_at = checked_at
        for outage in (False, True):
            text = checked_text(row, FIXED_NOW, outage=outage)
            assert fit(text, widths["checked"]).rstrip() == text, (seconds, text)


async def test_stale_rows_say_how_old_their_state_is_at_80_columns(clock: FakeClock) -> None:
    """Our own outage, ten minutes on, on an 80x24 screen: every row reads "stale 10m",
    whole, beside its last known state."""
    from .test_outage import Network

    network = Network(clock)
    tenants = [Tenant(f"Cust{number}") for number in range(1, 6)]
    app = make_board(clock, tenants, transport=httpx.MockTransport(network.handle))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        network.down = httpx.ConnectError
        app.board.action_recheck_list()
        await until(pilot, lambda: app.monitor.outage is not None, tries=500)
        clock.advance(600)
        lines = screen_text(app).splitlines()[1:6]
        assert all("Running" in line and "stale 10m " in line for line in lines), lines


async def test_the_header_leads_with_the_counts_and_cuts_the_rest_from_the_right(
    clock: FakeClock, tmp_path
) -> None:
    """At 80 columns, a paused demo board showing only what needs attention, with a
    history note, has more to say than fits: the counts by state come first and stay
    whole; what does not fit goes from the right."""
    from .test_snapshots import write_history

    history = write_history(tmp_path / "data")
    app = make_board(clock, demo=True, data_dir=tmp_path / "data", history_path=history)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("p", "exclamation_mark")
        await pilot.pause()
        header = app.board.summary.render().plain
        assert header.startswith(
            " ✖3 ?4 ▲3 ✔12   PAUSED    DEMO   22 tenants (11 needing attention)  "
        )  # the view in fewer words, whole
        assert len(header) == 80 and header.endswith("…")
    history = write_history(tmp_path / "wide")
    app = make_board(clock, demo=True, data_dir=tmp_path / "wide", history_path=history)
    async with app.run_test(size=(200, 24)) as pilot:  # room for all: the time at the right
        await settle_board(pilot, app)
        await until(pilot, lambda: "not checked" not in app.board.summary.render().plain)
        header = app.board.summary.render().plain
        assert header.startswith(" ✖3 ?4 ▲3 ✔12   DEMO   22 tenants  ") and header.endswith(
            "  ⟳ 0 in flight  09:30 "
        )


def test_the_header_names_each_state_where_it_all_fits() -> None:
    from rich.text import Text

    from tenantboard.ui.widgets.summary import header_line

    counts = (Text("✖ 1 Suspended  ✔ 2 Running"), Text("✖1 ✔2"))
    status, activity = (Text("3 tenants"), Text("3 tenants")), Text("⟳ 0 in flight  09:30")
    wide = header_line(counts, status, activity, 70).plain
    assert wide == " ✖ 1 Suspended  ✔ 2 Running  3 tenants" + " " * 11 + "⟳ 0 in flight  09:30 "
    assert header_line(counts, status, activity, 40).plain == (
        " ✖1 ✔2  3 tenants" + " " * 2 + "⟳ 0 in flight  09:30 "
    )
    assert header_line(counts, status, activity, 20).plain == " ✖1 ✔2  3 tenants  …"


def test_the_header_says_the_view_in_fewer_words_where_that_makes_it_fit() -> None:
    from rich.text import Text

    from tenantboard.ui.widgets.summary import header_line

    counts = (Text("✖ 1 Suspended  ✔ 2 Running"), Text("✖1 ✔2"))
    status = (Text("3 tenants (grouped by endpoint host)"), Text("3 tenants (by host)"))
    activity = Text("⟳ 0 in flight  09:30")
    assert header_line(counts, status, activity, 90).plain.startswith(
        " ✖ 1 Suspended  ✔ 2 Running  3 tenants (grouped by endpoint host)  "
    )
    assert header_line(counts, status, activity, 70).plain.startswith(
        " ✖1 ✔2  3 tenants (grouped by endpoint host)  "
    )
    assert header_line(counts, status, activity, 60).plain == (
        " ✖1 ✔2  3 tenants (by host)" + " " * 12 + "⟳ 0 in flight  09:30 "
    )


async def test_an_open_maintenance_window_leaves_room_for_the_rest_at_80_columns(
    clock: FakeClock,
) -> None:
    """The window's whole name ate the 80-column header: "... until 02:00  9 tenant…", the
    view, the checks in flight and the clock never shown."""
    from tenantboard.maintenance import Scope

    app = make_board(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await app.session.start_window(
            Scope(), timedelta(hours=2), "SuperOffice app-pool recycle (nightly)"
        )
        app.board.update_summary()
        header = app.board.summary.render().plain
        assert "⚒ maintenance until 11:30  22 tenants" in header
        assert header.rstrip().endswith("⟳ 0 in flight  09:30")
    async with make_board(clock).run_test(size=(200, 24)) as pilot:
        board = pilot.app.board
        await settle_board(pilot, pilot.app)
        await pilot.app.session.start_window(Scope(), timedelta(hours=2), "deploy")
        board.update_summary()
        assert "maintenance: deploy until 11:30" in board.summary.render().plain


# -- pop-ups ----------------------------------------------------------------------------------


def visible_toasts(screen) -> list:
    from textual.widgets._toast import Toast

    return [toast for toast in screen.query(Toast) if toast.visible]


async def test_x_dismisses_every_pop_up_and_a_click_dismisses_one(clock: FakeClock) -> None:
    """An alert stays ten minutes unless dismissed: x takes every pop-up away, a click one."""
    app = make_board(clock, [Tenant("Cust1001")])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle_board(pilot, app)
        app.board.alert("the tenant file cannot be used: see the change line")
        app.notify("saved", timeout=30)
        await until(pilot, lambda: len(visible_toasts(app.board)) == 2)
        await pilot.click(visible_toasts(app.board)[0])
        await until(pilot, lambda: len(app._notifications) == 1)
        await pilot.press("x")
        await until(pilot, lambda: not visible_toasts(app.board))
        assert not app._notifications


@pytest.mark.parametrize("key", ["a", "w", "m", "delete"])
async def test_pop_ups_wait_while_a_dialog_is_open(clock: FakeClock, key: str) -> None:
    """The add form, a chooser or a confirmation at 80x24: no pop-up covers its fields and
    buttons, neither one raised before it opened nor one raised while it is open; those
    still current show again on the board once it closes."""
    from textual.screen import ModalScreen

    app = make_board(clock, [Tenant("Cust1001"), Tenant("Cust1002")])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle_board(pilot, app)
        app.board.alert("before: an alert that stays ten minutes")
        await until(pilot, lambda: bool(visible_toasts(app.board)))
        await pilot.press(key)
        await until(pilot, lambda: isinstance(app.screen, ModalScreen))
        app.board.alert("during: another alert")
        await until(pilot, lambda: len(app._notifications) == 2)
        await pilot.pause(0.1)
        assert not visible_toasts(app.screen)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.board)
        await until(pilot, lambda: len(visible_toasts(app.board)) == 2)


async def test_a_choosers_long_choice_wraps_whole_at_80_columns(clock: FakeClock) -> None:
    """A mark's description is longer than a chooser is wide at 80 columns: it wraps, and
    every word of it shows inside the box."""
    from textual.widgets import OptionList

    from tenantboard.ui.screens.chooser import ChooserScreen

    choice = (
        "Litware (unpaid): acknowledged by root at 19:36, until its state changes (from Suspended)"
    )
    app = make_board(clock, [Tenant("Cust1001")])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        title = "Maintenance window: every tenant on its host, " + "x" * 30 + ".superoffice.com"
        app.push_screen(ChooserScreen(title, [("1", choice)]))
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        box = app.screen.query_one("Vertical")
        assert options.region.right <= box.content_region.right
        assert app.screen.query_one("Label").region.right <= box.content_region.right
        shown = [options.render_line(y).text.strip() for y in range(options.size.height)]
        assert " ".join(shown).split() == choice.split(), shown
