"""What operators hit on a first day (issue 10), each the way the operator met it.

The command-line items have their tests beside the CLI's; these are the board's.
"""

from __future__ import annotations

import httpx
import pytest
from rich.text import Text
from textual import events

from tenantboard.engine import check_once
from tenantboard.errors import ErrorKind
from tenantboard.eventlog import LoggedEvent
from tenantboard.tenant import Tenant, make_tenant
from tenantboard.tenant_file import TenantStore
from tenantboard.ui.widgets.change_line import ChangeLine
from tenantboard.ui.widgets.detail import _chop
from tenantboard.ui.widgets.event_log import EventLogPanel, event_line
from tenantboard.ui.widgets.keybar import KeyBar
from tenantboard.ui.widgets.table import TenantTable, layout_columns

from .conftest import FIXED_NOW, make_board, settle_board, until
from .test_board import cursor_to


async def type_fast(app, text: str) -> None:
    """Keys as a terminal delivers a quick typist's burst: all queued before any is handled."""
    names = {"/": "slash"}
    for character in text:
        app.post_message(events.Key(names.get(character, character), character))


def said(app, text: str) -> bool:
    """Whether a notification on screen says ``text``."""
    return any(text in str(notification.message) for notification in app._notifications)


# -- 1. the filter line shows what is typed ---------------------------------------------------


async def test_the_filter_line_shows_what_is_typed_even_when_typed_fast(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle_board(pilot, app)
        await type_fast(app, "/sod")
        await pilot.pause(0.2)
        line = app.board.filter_line
        assert line.value == "sod" and app.board.model.view.sort == "list"  # no key went astray
        assert line.size.height == 1 and "sod" in line.render_line(0).text


# -- 2. notifications do not bury the board ---------------------------------------------------


async def test_a_burst_of_state_changes_is_one_line_not_a_pile_of_toasts(clock) -> None:
    app = make_board(clock, [Tenant("Cust1001")])
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.pause(0.1)
        before = len(app._notifications)
        for burst in range(5):
            events_now = [
                LoggedEvent(
                    FIXED_NOW,
                    f"online:Cust{n}",
                    f"T{n}",
                    "state",
                    "Running → Unknown",
                    "critical",
                    True,
                )
                for n in range(burst * 10, burst * 10 + 10)
            ]
            app.board._announce(events_now)
        await pilot.pause(0.1)
        assert len(app._notifications) - before <= 1  # one summary at most, then the line
        line = app.query_one(ChangeLine)
        assert line.display and "(+9 more)" in line.text.plain and "T49" in line.text.plain


async def test_change_popups_can_be_turned_off_and_it_is_remembered(clock, tmp_path) -> None:
    from tenantboard.ui_state import load_ui_state

    data = tmp_path / "data"
    app = make_board(clock, [Tenant("Cust1001")], data_dir=data)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("n")
        assert not app.board.remembered.notify_changes
    assert load_ui_state(data / "ui-state.json").notify_changes is False


# -- 3. narrow terminals keep what identifies a tenant, and help and quit --------------------


def test_narrow_tables_keep_the_name_state_and_context_id() -> None:
    for width in (60, 80, 120):
        shown = {column.key for column, _ in layout_columns(width)}
        assert {"name", "state", "context"} <= shown, width
    assert "version" not in {column.key for column, _ in layout_columns(100)}


async def test_help_and_quit_always_show_in_the_key_bar(clock) -> None:
    for width in (60, 80):
        app = make_board(clock)
        async with app.run_test(size=(width, 24)) as pilot:
            await settle_board(pilot, app)
            text = app.query_one(KeyBar).render_line(0).text
            assert "Help" in text and "Quit" in text, (width, text)


# -- 4. whatever is cut shows that it was cut -------------------------------------------------


def test_a_long_url_in_the_detail_pane_is_never_cut_with_an_ellipsis() -> None:
    """Too wide for the value column, it gets lines of its own the pane's whole width; too
    wide for that too, it is broken as a terminal wraps: no ``…`` to be copied with it."""
    url = "https://online3.superoffice.com/Cust1002"
    assert _chop(f"{url} moved", 30, 44) == [(url, True), ("moved", False)]
    pieces = _chop(url, 20, 30)
    assert all(outdented for _, outdented in pieces)
    assert "".join(piece for piece, _ in pieces) == url


async def test_a_cut_event_log_line_ends_in_an_ellipsis(clock, tmp_path) -> None:
    app = make_board(clock, [Tenant("Cust1001")])
    async with app.run_test(size=(60, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("l")
        long_text = (
            "endpoint https://online3.superoffice.com/Cust1 → https://online4.superoffice.com/Cust1"
        )
        app.board.event_log.add(
            [LoggedEvent(FIXED_NOW, "online:Cust1001", "Northwind", "endpoint", long_text, "ok")]
        )
        app.board.update_log()
        await pilot.pause()
        assert app.query_one(EventLogPanel).render_line(1).text.rstrip().endswith("…")


async def test_the_event_log_shows_what_happened_whole_at_80_columns(clock) -> None:
    """At 80 columns a failure's reason ("answer is not JSON (text/html)") shows whole: the
    line leaves out the kind of event, which what happened says too."""
    app = make_board(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("l")
        await pilot.pause()
        panel = app.query_one(EventLogPanel)
        lines = [panel.render_line(y).text.rstrip() for y in range(1, panel.size.height)]
        failed = [line for line in lines if "check failed" in line]
        assert " Broken proxy (HTM… check failed: answer is not JSON (text/html)" in failed[1]


# -- 5. one meaning for the Version column; versions fetched where the cursor rests ------------


async def test_the_version_column_is_the_state_answers_release(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle_board(pilot, app)
        cursor_to(app, "Cust1001")
        row = app.board.model.rows["online:Cust1001"]
        before = row.version_label
        await pilot.press("enter")  # the pane fetches the NetServer version...
        await pilot.pause(0.5)
        await settle_board(pilot, app)
        assert row.version is not None and row.version.answer is not None
        assert row.version_label == before == "11.10_2026.02.24-02"  # ...the column is unchanged


async def test_scrolling_with_the_pane_open_fetches_only_where_the_cursor_rests(clock) -> None:
    from tenantboard.simulator import Simulator, SimulatorTransport
    from tenantboard.simulator.scenario import profile_for, steady
    from tenantboard.ui.screens.detail_actions import VERSION_REST

    fetched: list[str] = []

    class Counting(SimulatorTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/api"):
                fetched.append(request.url.path)
            return await super().handle_async_request(request)

    # Every row running, so each row the cursor passes has a version that could be fetched.
    running = [n for n in range(1, 200) if profile_for(n) is steady][:40]
    tenants = [Tenant(f"Cust{n}") for n in running]
    sim = Simulator(now=lambda: clock.epoch, slow_delay=0, tenant_count=200)
    app = make_board(clock, tenants, transport=Counting(sim))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: fetched == [f"/Cust{running[0]}/api"])
        fetched.clear()
        await type_fast(app, "j" * 16)  # j held down: the cursor passes 16 rows, rests on the 17th
        await until(pilot, lambda: fetched)
        await pilot.pause(2 * VERSION_REST)  # time for any fetch of a row passed to start
        assert app.board.table.cursor_key == f"online:Cust{running[16]}"
        assert fetched == [f"/Cust{running[16]}/api"]


# -- 6. event-log columns line up for wide characters ----------------------------------------


def test_event_log_names_are_padded_by_terminal_cells() -> None:
    from rich.cells import cell_len

    wide = LoggedEvent(FIXED_NOW, "k", "東京の顧客", "state", "Running", "ok")
    narrow = LoggedEvent(FIXED_NOW, "k", "Tokyo", "state", "Running", "ok")
    wide_line, narrow_line = event_line(wide, FIXED_NOW), event_line(narrow, FIXED_NOW)
    assert cell_len(wide_line[: wide_line.index("state")]) == cell_len(
        narrow_line[: narrow_line.index("state")]
    )


# -- 7. without colour the worst rows stand out most ------------------------------------------


async def test_without_colour_critical_rows_stand_out_most(clock, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_board(clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        table = app.query_one(TenantTable)
        rows = {
            app.board.model.rows[k].tenant.context_id: i
            for i, k in enumerate(app.board.model.order)
        }
        table.move_cursor_to(len(app.board.model) - 1)
        await pilot.pause()

        def emphasis(context_id: str) -> int:
            style = next(iter(table.render_line(rows[context_id] + 1))).style
            return (
                4 * bool(style.reverse)
                + 2 * bool(style.bold)
                + bool(style.underline)
                - bool(style.dim)
            )

        critical, unknown, warning, ok = (
            emphasis(c) for c in ("Cust1008", "Cust1017", "Cust1009", "Cust1001")
        )
        assert critical > unknown > warning > ok


# -- 8. an empty board says what to do; "1 tenant"; a file readable again says so -------------


async def test_an_empty_board_says_how_to_add_a_tenant(clock) -> None:
    app = make_board(clock, [])
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        assert "press a to add one" in app.query_one(TenantTable).render_line(1).text


async def test_one_tenant_is_one_tenant_in_the_header(clock) -> None:
    app = make_board(clock, [Tenant("Cust1001")])
    async with app.run_test(size=(120, 24)) as pilot:
        await settle_board(pilot, app)
        assert " 1 tenant " in app.board.summary.render().plain


def board_on_a_file(clock, tmp_path, *context_ids: str):  # type: ignore[no-untyped-def]
    """A board on a tenant file (tenants.toml in ``tmp_path``) listing ``context_ids``:
    (its path, the board)."""
    path = tmp_path / "tenants.toml"
    path.write_text("".join(f'[[tenants]]\ncontext_id = "{cid}"\n' for cid in context_ids))
    store = TenantStore(path)
    return path, make_board(clock, store.load().tenants, store=store)


async def test_a_broken_file_is_on_the_change_line_until_it_is_readable_again(
    clock, tmp_path
) -> None:
    """What stays true until it is not is state, not a notice: it leads the change line
    (the event log open or not) and goes when the file can be read again."""
    path, app = board_on_a_file(clock, tmp_path, "Cust1001")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("l")  # the event log open: the change line steps aside for it
        line = app.query_one(ChangeLine)
        path.write_text("[[tenants]\n")
        await app.session.look_at_file()
        await until(pilot, lambda: "cannot be used" in line.render().plain)
        assert line.display
        path.write_text(
            '[[tenants]]\ncontext_id = "Cust1001"\n[[tenants]]\ncontext_id = "Cust1002"\n'
        )
        await app.session.look_at_file()
        await until(pilot, lambda: said(app, "can be read again"))
        assert "cannot be used" not in line.render().plain and not line.display
        assert not said(app, "cannot be used")


async def test_a_broken_files_reason_is_read_whole_at_80_columns(clock, tmp_path) -> None:
    """Why the file cannot be read (its line and what is wrong there) is what the operator
    needs to fix it: at 80x24 the change line wraps it, whole, above the newest change."""
    path, app = board_on_a_file(clock, tmp_path, "Cust1001")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        line = app.query_one(ChangeLine)
        line.show(Text("09:30:00 Cust1001: Running → Unknown"))
        path.write_text('[[tenants]]\ncontext_id = "Cust1001"\nlabel = "unterminated\n')
        await app.session.look_at_file()
        await until(pilot, lambda: bool(line.problems))
        await pilot.pause()
        problem = line.problems["tenant file"]
        assert "line 3" in problem and problem.endswith("the file was left as it is.")
        shown = [line.render_line(y).text.strip() for y in range(line.size.height)]
        assert " ".join(shown[:-1]).split() == problem.split(), shown
        assert shown[-1] == "09:30:00 Cust1001: Running → Unknown"
        assert app.board.table.size.height >= 24 - 2 - len(shown) - 1


# -- 9 and 10. R re-checks what is shown; manual re-checks run while paused --------------------


async def test_refresh_with_a_filter_rechecks_the_shown_tenants_only(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        checks = {key: row.checks for key, row in app.board.model.rows.items()}
        await type_fast(app, "/Cust100")
        await pilot.pause(0.2)
        await pilot.press("enter")
        shown = set(app.board.model.order)
        assert 0 < len(shown) < len(checks)
        await pilot.press("R")
        await settle_board(pilot, app)
        again = {key for key, row in app.board.model.rows.items() if row.checks > checks[key]}
        assert again == shown
        await pilot.press("ctrl+r")  # the whole list, shown or not
        await settle_board(pilot, app)
        assert all(row.checks >= checks[k] + 1 for k, row in app.board.model.rows.items())


async def test_a_manual_refresh_runs_while_paused(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("p")
        cursor_to(app, "Cust1001")
        row = app.board.model.rows["online:Cust1001"]
        checks = row.checks
        await pilot.press("r")
        await settle_board(pilot, app)
        assert row.checks == checks + 1
        clock.advance(3600)  # ...but nothing runs by itself
        app.monitor.wake_if_overdue()
        await settle_board(pilot, app)
        assert row.checks == checks + 1


# -- 11. ctrl+c quits; remove has a key every laptop has ---------------------------------------


async def test_ctrl_c_quits_even_from_the_filter_line(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", "x", "ctrl+c")
        await pilot.pause()
        assert app._exit


async def test_backspace_removes_a_tenant_as_delete_does(clock) -> None:
    from tenantboard.ui.screens.tenant_form import ConfirmScreen

    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("backspace")
        assert isinstance(app.screen, ConfirmScreen)


# -- 12. unknown key ids warn and the board goes on; remapped help closes help ----------------


async def test_an_unknown_key_id_is_a_warning_not_a_stop(clock) -> None:
    app = make_board(clock, [Tenant("Cust1001")], keys={"help": "h", "frobnicate": "x"})
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await until(pilot, lambda: said(app, "frobnicate"))
        from tenantboard.ui.screens.help import HelpScreen

        await pilot.press("h")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("h")
        assert not isinstance(app.screen, HelpScreen)


# -- 13. a tenant's identity out of the board ----------------------------------------------------


async def test_copy_the_context_id_and_endpoint_and_open_the_endpoint(clock) -> None:
    app = make_board(clock)
    copied: list[str] = []
    opened: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    app.open_url = lambda url, **_: opened.append(url)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        cursor_to(app, "Cust1001")
        await pilot.press("c", "u", "o")
        endpoint = app.board.model.rows["online:Cust1001"].state.endpoint
        assert copied == ["Cust1001", endpoint] and opened == [endpoint]
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Copy id", "Copy URL", "Open"} <= titles


# -- 15. a tenant file that disappears is reported, the list and its history kept --------------


async def test_a_deleted_tenant_file_keeps_the_list_and_its_history(clock, tmp_path) -> None:
    path, app = board_on_a_file(clock, tmp_path, "Cust1001", "Cust1008")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        row = app.board.model.rows["online:Cust1001"]
        checks = row.checks
        text = path.read_text()
        path.unlink()
        await app.session.look_at_file()
        line = app.board.change_line
        await until(pilot, lambda: "gone" in line.render().plain)
        assert app.board.model.total == 2
        path.write_text(text)
        await app.session.look_at_file()
        await settle_board(pilot, app)
        assert app.board.model.rows["online:Cust1001"] is row and row.checks == checks
        assert not line.problems


async def test_no_tenant_is_added_while_the_tenant_file_is_gone(clock, tmp_path) -> None:
    """Adding began a new file with the one tenant: the list the board kept was replaced
    (and the header still said it was kept)."""
    from tenantboard.files import FileError

    path, app = board_on_a_file(clock, tmp_path, "Cust1001", "Cust1008")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        moved = path.rename(tmp_path / "tenants.moved")
        for noticed in (False, True):  # before the board looked at the file again, and after
            if noticed:
                await app.session.look_at_file()
            with pytest.raises(FileError, match="gone"):
                await app.session.change_list("add", make_tenant("Cust55", "online"))
            assert not path.exists() and app.board.model.total == 2
        moved.rename(path)
        await app.session.look_at_file()
        await app.session.change_list("add", make_tenant("Cust55", "online"))
        listed = TenantStore(path).load().tenants
        assert [t.context_id for t in listed] == ["Cust1001", "Cust1008", "Cust55"]


def test_the_first_add_begins_the_tenant_file(tmp_path) -> None:
    store = TenantStore(tmp_path / "tenants.toml")
    assert [t.context_id for t in store.add([make_tenant("Cust55", "online")])] == ["Cust55"]


# -- 17. one event log and one set of choices per tenant file -----------------------------------


def test_each_tenant_file_has_its_own_data_folder(tmp_path) -> None:
    from tenantboard.paths import board_data_dir

    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    assert board_data_dir(first) != board_data_dir(second)
    assert board_data_dir(first) == board_data_dir(tmp_path / "." / "a.toml")


def test_two_boards_on_one_file_keep_each_others_events(tmp_path) -> None:
    from tenantboard.history.db import HistoryDB, HistoryWriter

    path = tmp_path / "history.sqlite3"
    mine, theirs = HistoryWriter(path), HistoryWriter(path)
    mine.start()
    theirs.start()
    for number in range(30):
        writer = mine if number % 2 else theirs
        writer.add_events([LoggedEvent(FIXED_NOW, "k", "n", "state", str(number), "ok")])
        writer.flush()
    mine.close()
    theirs.close()
    with HistoryDB.open(path, read_only=True) as db:
        texts = [event.text for event in db.events()]
    assert sorted(texts, key=int) == [str(n) for n in range(30)]  # both boards' events


# -- 19. a history that cannot be saved says so ------------------------------------------------


async def test_history_write_failures_are_reported(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    history.mkdir()  # a folder where the file should be: nothing can be written
    app = make_board(clock, [Tenant("Cust1003")], history_path=history)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await until(pilot, lambda: "history: not saved" in str(app.board.summary.render()))
        await until(pilot, lambda: said(app, "keeps working from memory"))
        assert app.board.model.rows["online:Cust1003"].last is not None  # still checking


# -- memory: a failed check does not keep the failed request alive ------------------------------


async def test_a_failed_check_keeps_no_traceback_or_transport_exception(clock) -> None:
    from tenantboard.client import TenantClient

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with TenantClient(transport=httpx.MockTransport(refuse)) as client:
        result = await check_once(client, Tenant("Cust1"), clock)
    error = result.error
    assert error is not None and error.kind is ErrorKind.CONNECT
    assert error.__traceback__ is None and error.__context__ is None and error.__cause__ is None


# -- found in the field test --------------------------------------------------------------------


async def test_at_80_columns_j_moves_the_tenant_while_the_pane_covers_the_table(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        first = app.board.detail_key
        await pilot.press("j")
        assert app.board.detail_key not in (None, first)


async def test_escape_clears_a_filter_kept_with_enter(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle_board(pilot, app)
        await type_fast(app, "/cust101")
        await pilot.pause(0.2)
        await pilot.press("enter", "escape")
        assert app.board.model.view.filter_text == "" and len(app.board.model) == 22


async def test_the_key_bar_shows_a_way_out_while_typing_a_filter(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash")
        await pilot.pause()
        text = app.query_one(KeyBar).render_line(0).text
        assert "^c Quit" in text and "Help" in text


async def test_the_header_names_the_count_before_the_view_note(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("s")
        await pilot.pause()
        assert " 22 tenants (sorted by worst first)" in app.board.summary.render().plain


async def test_no_change_popup_covers_an_open_form(clock) -> None:
    app = make_board(clock, [Tenant("Cust1001")])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("a")
        before = len(app._notifications)
        change = LoggedEvent(
            FIXED_NOW, "online:Cust1001", "N", "state", "Running → Unknown", "critical", True
        )
        app.board._announce([change])
        await pilot.pause(0.1)
        assert len(app._notifications) == before and app.board.change_line.text.plain


async def test_last_seen_running_is_the_previous_run_not_this_one(clock, tmp_path) -> None:
    data = tmp_path / "data"
    app = make_board(clock, [Tenant("Cust1001")], data_dir=data)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        app.remember_choices()
        await pilot.press("l")
        await pilot.pause()
        assert "last seen running" not in app.query_one(EventLogPanel).title
