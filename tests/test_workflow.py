"""The operator workflow: managing the list in the board, finding tenants, what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantboard.eventlog import EventLog, LoggedEvent
from tenantboard.history.db import HistoryDB
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import TenantStore
from tenantboard.ui.screens.help import HelpScreen
from tenantboard.ui.screens.tenant_form import ConfirmScreen, TenantForm
from tenantboard.ui.widgets.event_log import EventLogPanel
from tenantboard.ui.widgets.table import TenantTable
from tenantboard.ui_state import load_ui_state

from .conftest import (
    FIXED_NOW,
    FakeClock,
    choose_in_palette,
    let_time_pass,
    make_board,
    settle_board,
    until,
)

HAND_WRITTEN = """\
# ops tenants -- keep me
[[tenants]]
context_id = "Cust1001"
env = "online"
label = "Northwind"   # big customer

[[tenants]]
context_id = "Cust1008"
env = "online"
label = "Litware"
"""


@pytest.fixture
def store(tmp_path: Path) -> TenantStore:
    path = tmp_path / "tenants.toml"
    path.write_text(HAND_WRITTEN)
    return TenantStore(path)


def board_on(store: TenantStore, clock: FakeClock, tmp_path: Path, **options):
    return make_board(
        clock, store.load().tenants, store=store, data_dir=tmp_path / "data", **options
    )


def form(app) -> TenantForm:
    assert isinstance(app.screen, TenantForm)
    return app.screen


async def type_into(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.value = ""
    widget.focus()
    await pilot.press(*text)


# -- managing the list -----------------------------------------------------------------------


async def test_add_validates_as_you_type_saves_at_once_and_checks_the_new_tenant(
    store: TenantStore, clock: FakeClock, tmp_path: Path
) -> None:
    app = board_on(store, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("a")
        error = lambda: str(form(app).query_one("#form-error").render())  # noqa: E731
        save = lambda: form(app).query_one("#save").disabled  # noqa: E731
        assert "a context id is required" in error() and save()
        await type_into(pilot, "#context-id", "Cust12x")
        assert "not a context id" in error() and save()
        await type_into(pilot, "#context-id", "cust1008")
        assert "already in the list" in error() and save()
        form(app).query_one("#env").value = "sod"
        await pilot.pause()
        assert error() == "" and not save()
        await type_into(pilot, "#label", "Litware (dev)")
        await pilot.press("enter")
        await settle_board(pilot, app)
        assert "sod:Cust1008" in app.board.model.rows
        assert app.board.model.rows["sod:Cust1008"].checks == 1  # checked at once
        assert app.board.table.cursor_key == "sod:Cust1008"
    text = store.path.read_text()
    assert text.startswith("# ops tenants -- keep me") and "# big customer" in text
    assert TenantStore(store.path).load().tenants[-1] == Tenant("Cust1008", "sod", "Litware (dev)")


async def test_keys_typed_fast_after_tab_go_to_the_next_field(
    store: TenantStore, clock: FakeClock, tmp_path: Path
) -> None:
    """Typed faster than the board draws (or pasted by a terminal as keys), the text after
    Tab went to the field before it: "Cust7", Tab, Tab, "Acme" put "Cust7Acme" in the
    context id."""
    from textual import events

    app = board_on(store, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("a")
        burst = [*"Cust7", "tab", "tab", *"Acme", "tab", *"gold"]
        for key in burst:  # all queued at once, as a terminal delivers a burst
            app.post_message(events.Key(key, key if len(key) == 1 else "\t"))
        await until(pilot, lambda: form(app).query_one("#tags").value == "gold")
        fields = {name: form(app).query_one(f"#{name}").value for name in ("context-id", "label")}
        assert fields == {"context-id": "Cust7", "label": "Acme"}


async def test_an_add_the_file_refuses_keeps_the_form_and_what_was_typed(
    store, clock, tmp_path
) -> None:
    """Someone adds the same tenant to the file while the form is open: saving is refused,
    the form stays with everything typed, the context id marked and the reason under the
    fields; changed, it saves."""
    app = board_on(store, clock, tmp_path, watch_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("a")
        await type_into(pilot, "#context-id", "Cust77")
        await type_into(pilot, "#label", "Acme test")
        await type_into(pilot, "#tags", "acme")
        store.path.write_text(HAND_WRITTEN + '\n[[tenants]]\ncontext_id = "Cust77"\n')
        await pilot.press("enter")
        error = lambda: str(form(app).query_one("#form-error").render())  # noqa: E731
        await until(pilot, lambda: "already in the list" in error())
        assert error().startswith("not saved: Cust77 (online) is already in the list")
        values = [form(app).query_one(f"#{name}").value for name in ("context-id", "label", "tags")]
        assert values == ["Cust77", "Acme test", "acme"]
        context = form(app).query_one("#context-id")
        assert context.has_class("-invalid") and context.has_focus
        assert form(app).query_one("#save").disabled
        await pilot.press("end", "8")  # Cust778
        assert error() == "" and not form(app).query_one("#save").disabled
        await pilot.press("enter")
        await until(pilot, lambda: "online:Cust778" in app.board.model.rows)
        assert not isinstance(app.screen, TenantForm)
    assert TenantStore(store.path).load().tenants[-1] == Tenant(
        "Cust778", "online", "Acme test", ("acme",)
    )


async def test_an_add_to_a_file_that_cannot_be_read_keeps_the_form(clock, tmp_path) -> None:
    """The file broke under the board: saving says why it cannot, in the form, and keeps
    what was typed; the file is left as it is. A long reason scrolls in the form at 80x24
    rather than push its buttons off the screen."""
    folder = tmp_path / "a folder with a long name, as synced folders have" / "tenantboard"
    folder.mkdir(parents=True)
    (folder / "tenants.toml").write_text(HAND_WRITTEN)
    store = TenantStore(folder / "tenants.toml")
    app = board_on(store, clock, tmp_path, watch_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("a")
        await type_into(pilot, "#context-id", "Cust77")
        broken = HAND_WRITTEN + "\n[[tenants]\n"
        store.path.write_text(broken)
        await pilot.press("enter")
        error = lambda: str(form(app).query_one("#form-error").render())  # noqa: E731
        await until(pilot, lambda: error().startswith("not saved: "))
        assert str(store.path) in error()
        assert form(app).query_one("#context-id").value == "Cust77"
        box = form(app).query_one("#form")
        assert box.region.y >= 0 and box.region.bottom <= 24  # scrolls, never cut off
        box.scroll_end(animate=False)
        await pilot.pause()
        assert form(app).query_one("#save").region.bottom <= 24
    assert store.path.read_text() == broken


async def test_a_bad_label_is_refused_in_the_form(store, clock, tmp_path) -> None:
    app = board_on(store, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await type_into(pilot, "#context-id", "Cust5")
        await type_into(pilot, "#label", "x" * 130)
        assert "longer than 120" in str(form(app).query_one("#form-error").render())
        assert form(app).query_one("#save").disabled
        await pilot.press("escape")
        assert not isinstance(app.screen, TenantForm)
    assert store.path.read_text() == HAND_WRITTEN


async def test_edit_changes_the_tenant_in_place(store, clock, tmp_path) -> None:
    app = board_on(store, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("e")
        assert form(app).query_one("#context-id").value == "Cust1001"
        await type_into(pilot, "#label", "Northwind Traders")
        await pilot.press("enter")
        await settle_board(pilot, app)
        assert app.board.model.rows["online:Cust1001"].tenant.label == "Northwind Traders"
    assert 'label = "Northwind Traders"' in store.path.read_text()
    assert "# ops tenants -- keep me" in store.path.read_text()


async def test_the_form_sets_a_tenants_tags_and_the_file_keeps_its_comments(
    store, clock, tmp_path
) -> None:
    app = board_on(store, clock, tmp_path, group_by="tag")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        app.board.jump_to("online:Cust1001")
        await pilot.press("e")
        await type_into(pilot, "#tags", "two words!")
        assert "is not 1-40 letters" in str(form(app).query_one("#form-error").render())
        assert form(app).query_one("#save").disabled
        await type_into(pilot, "#tags", "acme, gold")
        await pilot.press("enter")
        await settle_board(pilot, app)
        tenant = app.board.model.rows["online:Cust1001"].tenant
        assert tenant.tags == ("acme", "gold")
        groups = [header.value for header in app.board.model.headers.values()]
        assert groups == ["acme", "gold", ""]  # grouped by tag: its groups at once
    text = store.path.read_text()
    assert 'tags = ["acme", "gold"]' in text and 'label = "Northwind"   # big customer' in text


async def test_an_edit_that_would_overwrite_a_newer_change_on_disk_is_refused(
    store, clock, tmp_path
) -> None:
    app = board_on(store, clock, tmp_path, watch_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("e")
        # Someone else relabels the same tenant while the form is open.
        store.path.write_text(HAND_WRITTEN.replace('label = "Northwind"', 'label = "Theirs"'))
        await type_into(pilot, "#label", "Mine")
        await pilot.press("enter")
        await settle_board(pilot, app)
        await until(
            pilot, lambda: "was changed in" in str(form(app).query_one("#form-error").render())
        )
        assert form(app).query_one("#label").value == "Mine"  # refused, the form keeps it
        assert form(app).query_one("#save").disabled
        await until(pilot, lambda: app.board.model.rows["online:Cust1001"].tenant.label == "Theirs")
        await pilot.press("escape")
    assert 'label = "Theirs"' in store.path.read_text()
    assert "Mine" not in store.path.read_text()


async def test_remove_asks_first_and_saves(store, clock, tmp_path) -> None:
    app = board_on(store, clock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("down", "delete")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert len(app.board.model) == 2
        await pilot.press("delete", "y")
        await settle_board(pilot, app)
        assert list(app.board.model.rows) == ["online:Cust1001"]
    assert "Cust1008" not in store.path.read_text()
    assert "# ops tenants -- keep me" in store.path.read_text()


async def test_changes_to_the_file_on_disk_are_picked_up(store, clock, tmp_path) -> None:
    app = board_on(store, clock, tmp_path, watch_interval=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        store.path.write_text(HAND_WRITTEN + '\n[[tenants]]\ncontext_id = "Cust1009"\n')
        await let_time_pass(pilot, clock, 3)  # the session looks at the file every 2 s
        await until(pilot, lambda: "online:Cust1009" in app.board.model.rows)
        await settle_board(pilot, app)
        assert app.board.model.rows["online:Cust1009"].state is not None


async def test_a_corrupt_file_appearing_while_the_board_runs_is_reported_and_left_alone(
    store, clock, tmp_path
) -> None:
    app = board_on(store, clock, tmp_path, watch_interval=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        broken = HAND_WRITTEN + "\n[[tenants]\ncontext_id = 'oops'\n"
        store.path.write_text(broken)
        await let_time_pass(pilot, clock, 3)
        line = app.board.change_line
        await until(pilot, lambda: bool(line.problems))
        problem = line.problems.get("tenant file", "")
        assert str(store.path) in problem and "cannot be used" in problem
        assert len(app.board.model) == 2  # the board keeps the list it had
        await pilot.press("a")
        await type_into(pilot, "#context-id", "Cust77")
        await pilot.press("enter")
        await settle_board(pilot, app)
        assert "online:Cust77" not in app.board.model.rows
    assert store.path.read_text() == broken


# -- finding and ordering --------------------------------------------------------------------


def shown(app) -> list[str]:
    return [key.split(":")[1] for key in app.board.model.order]


async def test_filter_as_you_type(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", *"cust100")
        assert shown(app) == [f"Cust100{i}" for i in range(1, 10)]
        await pilot.press(*"8")
        assert shown(app) == ["Cust1008"]
        await pilot.press("enter")
        assert app.focused is app.board.table and app.query_one("#filter").display
        await pilot.press("slash", "escape")
        assert len(app.board.model) == 22


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("suspended", ["Cust1008"]),  # state
        ("app.superoffice", ["Cust1011"]),  # host
        ("LITWARE", ["Cust1008"]),  # label, any case
        ("stage", ["Cust1013", "Cust1015", "Cust1019"]),  # environment
    ],
)
async def test_filter_matches_state_host_label_and_environment(clock, text, expected) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", *text)
        assert shown(app) == expected


async def test_attention_only_and_sorting_survive_a_restart(clock, tmp_path) -> None:
    data = tmp_path / "data"
    app = make_board(clock, data_dir=data)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("exclamation_mark")
        attention = shown(app)
        assert "Cust1001" not in attention and "Cust1008" in attention and "Cust1017" in attention
        assert "Cust1019" in attention  # IsRunning disagreeing with State needs a look too
        await pilot.press("s")
        await pilot.pause()
        severities = [app.board.model.rows[k].severity for k in app.board.model.order]
        assert severities == sorted(severities, reverse=True)
    assert load_ui_state(data / "ui-state.json").sort == "severity"
    again = make_board(FakeClock(), data_dir=data)
    async with again.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, again)
        assert again.board.model.view.sort == "severity" and again.board.model.view.attention_only
        assert shown(again) == shown(app)


async def test_sort_by_name_and_back_to_the_list_order(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("s", "s")
        names = [
            app.board.model.rows[k].tenant.display_name.casefold() for k in app.board.model.order
        ]
        assert names == sorted(names)
        cursor = app.board.table.cursor_key
        await pilot.press("s", "s", "s", "s")  # env, next check, uptime 24 h, list
        assert app.board.model.view.sort == "list" and shown(app)[0] == "Cust1001"
        assert app.board.table.cursor_key == cursor  # the cursor stays on its tenant


# -- what changed ----------------------------------------------------------------------------


async def test_state_changes_are_logged_and_notified(clock, tmp_path) -> None:
    """(The bell they ring is heard on a real terminal in test_terminal.py.)"""
    history = tmp_path / "history.sqlite3"
    tenants = [Tenant("Cust1003", "online", "Fabrikam")]  # Running, then OfflineMaintenance
    app = make_board(clock, tenants, history_path=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        first = app.board.model.rows["online:Cust1003"].state.state_name
        for _ in range(12):  # walk the simulated clock until the state changes
            clock.advance(30)
            app.monitor.recheck("online:Cust1003")
            await settle_board(pilot, app)
            if app.board.model.rows["online:Cust1003"].state.state_name != first:
                break
        await pilot.press("l")
        await let_time_pass(pilot, clock, 2)  # state changes are announced once a second
        events = list(app.board.event_log.events)
        assert events and events[0].kind == "state" and "→" in events[0].text
        assert any((n.title or "") == "state changed" for n in app._notifications)
        assert app.query_one(EventLogPanel).display
    with HistoryDB.open(history, read_only=True) as db:  # written by the time the board closed
        recorded = db.events()
        assert recorded[0].key == "online:Cust1003" and "→" in recorded[0].text
        assert db.intervals("online:Cust1003")  # and every check's outcome, folded


def record_events(history: Path, events: list[LoggedEvent]) -> None:
    with HistoryDB.open(history) as db, db.transaction():
        db.add_events(events)


async def test_the_log_is_restored_after_a_restart_with_the_time_last_seen(clock, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    history = tmp_path / "history.sqlite3"
    record_events(
        history,
        [
            LoggedEvent(
                FIXED_NOW, "online:Cust1", "Acme", "state", "Running → Suspended", "critical", True
            )
        ],
    )
    (data / "ui-state.json").write_text(
        json.dumps({"log_open": True, "last_seen": "2026-03-01T18:00:00+00:00"})
    )
    app = make_board(clock, [Tenant("Cust1001")], data_dir=data, history_path=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        panel = app.query_one(EventLogPanel)
        for _ in range(200):
            if "Running → Suspended" in panel.render_line(1).text:
                break
            await pilot.pause(0.01)
        assert panel.display
        assert "last seen running 2026-03-01 18:00" in panel.title
        assert "Running → Suspended" in panel.render_line(1).text


def test_the_event_log_keeps_the_newest_events_this_session_first() -> None:
    log = EventLog(limit=10)
    for number in range(5):
        log.add([LoggedEvent(FIXED_NOW, f"k{number}", "n", "state", str(number), "ok")])
    recorded = [LoggedEvent(FIXED_NOW, "old", "n", "state", f"old{n}", "ok") for n in range(20)]
    log.restore(recorded)  # read from the database after this session logged its first
    texts = [event.text for event in log.events]
    assert texts[:6] == ["4", "3", "2", "1", "0", "old0"] and len(texts) == 10


async def test_an_old_events_file_is_imported_once_skipping_damaged_lines(clock, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "events.jsonl"
    good = LoggedEvent(FIXED_NOW, "k", "n", "state", "Running → Suspended", "critical").to_json()
    path.write_text(f'{good}\nnot json\n{{"at": 5}}\n{good}\n')
    history = tmp_path / "history.sqlite3"
    app = make_board(clock, [Tenant("Cust1001")], data_dir=data, history_path=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        for _ in range(200):
            if app.board.event_log.events:
                break
            await pilot.pause(0.01)
        shown = [event.text for event in app.board.event_log.events]
        assert shown == ["Running → Suspended"] * 2
    assert not path.exists() and (data / "events.jsonl.imported").exists()
    with HistoryDB.open(history, read_only=True) as db:
        assert len(db.events()) == 2


async def test_timeline_and_running_share_in_the_detail_pane(clock) -> None:
    from .test_board import detail_text

    app = make_board(clock, [Tenant("Cust1003", "online", "Fabrikam")])
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        for _ in range(10):
            clock.advance(30)
            app.monitor.recheck("online:Cust1003")
            await settle_board(pilot, app)
        await pilot.press("enter")
        await pilot.pause()
        text = detail_text(app)
        assert "Timeline" in text and "▁" in text and "▄" in text
        row = app.board.model.rows["online:Cust1003"]
        share = round(100 * row.running_checks / row.observed_checks)
        assert f"in {share}% of {row.observed_checks} checks" in text and 0 < share < 100


# -- help, commands, pause, theme, keys --------------------------------------------------------


async def test_help_lists_every_key_and_the_legend(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.board.key_help())
        for action_key in ("r", "R", "a", "e", "/", "s", "l", "p", "q"):
            assert action_key in keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize(("size", "scrolls"), [((200, 50), False), ((80, 24), True)])
async def test_help_uses_the_width_so_the_legend_needs_no_scrolling(clock, size, scrolls) -> None:
    """At 200x50 the keys stand in two columns and every key and both legends show at once;
    at 80x24 it is one column to scroll through."""
    app = make_board(clock)
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        box = app.screen.query_one("#help")
        assert (box.max_scroll_y > 0) is scrolls
        if not scrolls:
            assert box.outer_size.width > 150


async def test_pause_stops_refreshing_and_says_so(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("p")
        assert app.monitor.paused
        assert "PAUSED" in app.board.summary.render().plain
        assert "paused" in app.board.describe_times(app.board.model.rows["online:Cust1001"])[1]
        await pilot.press("p")
        assert not app.monitor.paused


async def test_the_theme_is_remembered(clock, tmp_path) -> None:
    data = tmp_path / "data"
    app = make_board(clock, data_dir=data)
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = "textual-light"
        await pilot.pause()
    again = make_board(FakeClock(), data_dir=data)
    async with again.run_test(size=(120, 40)):
        assert again.theme == "textual-light"


async def test_keys_can_be_remapped_by_binding_id(clock) -> None:
    app = make_board(clock, keys={"toggle_pause": "f9"})
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("f9")
        assert app.monitor.paused
        assert ("f9", "pause or resume refreshing") in [
            (keys.lower(), text) for keys, text in app.board.key_help()
        ]


async def test_the_command_palette_offers_actions_and_tenants(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await choose_in_palette(pilot, "lucerne")
        await pilot.pause()
        assert app.board.table.cursor_key == "online:Cust1022"
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Refresh", "Add", "Filter", "Sort", "Log", "Pause"} <= titles


async def test_palette_jump_clears_a_filter_that_hides_the_tenant(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", *"sod", "enter")
        app.board.jump_to("online:Cust1001")
        assert app.board.table.cursor_key == "online:Cust1001"
        assert app.board.model.view.filter_text == ""


async def test_cursor_moves_keep_working_with_a_filter(clock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", *"online", "enter", "down", "down")
        assert app.query_one(TenantTable).cursor == 2


def test_a_burst_of_state_changes_is_one_summary_notice() -> None:
    from tenantboard.eventlog import notices

    def change(number: int, worse: bool) -> LoggedEvent:
        return LoggedEvent(
            FIXED_NOW, f"k{number}", f"T{number}", "state", "Running → Unknown", "critical", worse
        )

    few = notices([change(1, True), change(2, False)], most=3)
    assert [(n.message, n.worse) for n in few] == [
        ("T1: Running → Unknown", True),
        ("T2: Running → Unknown", False),
    ]
    burst = notices([change(n, n % 2 == 0) for n in range(40)], most=3)
    assert len(burst) == 1 and burst[0].message.startswith(
        "40 tenants changed state (20 for the worse)"
    )
    moves = [LoggedEvent(FIXED_NOW, "k", "T", "endpoint", "a → b", "ok")]
    assert notices(moves, most=3) == []


async def test_alert_hooks_changed_in_the_file_are_picked_up(store, clock, tmp_path) -> None:
    """The file's [[notify]] hooks are reloaded with the list, as serve reloads them, even
    when the tenants themselves did not change."""
    app = board_on(store, clock, tmp_path, watch_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_board(pilot, app)
        assert app.session.notifier.runners == []
        store.path.write_text(
            HAND_WRITTEN + '\n[[notify]]\nname = "ops"\ncommand = ["true"]\non = ["worse"]\n'
        )
        await app.session.look_at_file()
        assert [runner.hook.name for runner in app.session.notifier.runners] == ["ops"]
        assert len(app.board.model) == 2
        await pilot.pause()
        assert any("alert hooks reloaded" in n.message for n in app._notifications)
        store.path.write_text(HAND_WRITTEN)
        await app.session.look_at_file()
        assert app.session.notifier.runners == []
