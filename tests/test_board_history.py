"""The board and the history database: changes while closed, availability, mutes and
acknowledgements, alert hooks; and the watcher of `serve` recording into the same file."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tenantboard.eventlog import LoggedEvent
from tenantboard.history.db import HistoryDB, Observation
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import NotifyHook
from tenantboard.ui.screens.chooser import ChooserScreen

from .conftest import FIXED_NOW, choose_in_palette, make_board, settle_board, until
from .serve_helpers import failed, idle_watcher, ok
from .test_board import detail_text


def seed(history: Path, observations=(), *, last_ran=None) -> None:
    with HistoryDB.open(history) as db:
        run = db.start_run(last_ran or FIXED_NOW - timedelta(hours=2))
        db.write(list(observations), run_id=run, now=last_ran or FIXED_NOW - timedelta(hours=2))


def flushed(app) -> None:
    assert app.session.writer is not None and app.session.writer.flush()


async def written(app) -> None:
    await asyncio.to_thread(flushed, app)


def events_text(app) -> list[str]:
    return [event.text for event in app.board.event_log.events]


# -- changes while closed ------------------------------------------------------------------


async def test_a_change_while_closed_is_logged_with_the_gap_and_the_last_run_shown(
    clock, tmp_path
) -> None:
    history = tmp_path / "history.sqlite3"
    seen = FIXED_NOW - timedelta(hours=2)  # 07:30; the board starts at 09:30
    seed(history, [Observation("online:Cust1001", seen, "Suspended", 4, False)], last_ran=seen)
    app = make_board(clock, [Tenant("Cust1001", "online", "Acme")], history_path=history)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle_board(pilot, app)
        await until(
            pilot, lambda: any("while closed" in text for text in events_text(app)), tries=400
        )
        (text,) = [text for text in events_text(app) if "while closed" in text]
        assert text == "Suspended → Running while closed, between 07:30 and 09:30"
        assert "last ran 07:30" in app.board.summary.render().plain
        await written(app)
    with HistoryDB.open(history, read_only=True) as db:
        assert any("while closed" in event.text for event in db.events())


async def test_a_first_answer_before_anything_was_recorded_is_no_change(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    app = make_board(clock, [Tenant("Cust1001")], history_path=history)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle_board(pilot, app)
        await until(pilot, lambda: app.session.history_loaded, tries=400)
        await settle_board(pilot, app)
        assert not any("while closed" in text for text in events_text(app))
        assert "last ran" not in app.board.summary.render().plain


# -- availability ----------------------------------------------------------------------------


def a_bad_day(key: str) -> list[Observation]:
    """The last 24 hours in 15-minute checks: up, except two hours not running."""
    start = FIXED_NOW - timedelta(hours=24)
    found = []
    for step in range(24 * 4 + 1):
        down = 40 <= step < 48
        state, code, running = ("Suspended", 4, False) if down else ("Running", 2, True)
        found.append(Observation(key, start + timedelta(minutes=15 * step), state, code, running))
    return found


async def test_the_detail_pane_shows_uptime_incidents_and_the_strip(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    seed(history, a_bad_day("online:Cust1001"))
    app = make_board(clock, [Tenant("Cust1001")], history_path=history)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: "online:Cust1001" in app.session.availability, tries=400)
        text = detail_text(app)
        assert "Up 24 h     91.6% up, observed all of the last 24 h" in text
        assert "Incidents   1 in 30 d, longest 2h 00m" in text
        assert "30 days" in text and "·" in text  # days without data show as dots


async def test_the_up_24h_column_is_off_until_asked_and_remembered(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    seed(history, a_bad_day("online:Cust1001"))
    app = make_board(clock, [Tenant("Cust1001"), Tenant("Cust1002")], history_path=history)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle_board(pilot, app)
        assert "Up 24h" not in app.board.table.render_line(0).text
        await pilot.press("U")
        row = app.board.model.rows["online:Cust1001"]
        await until(pilot, lambda: row.uptime_24h is not None, tries=400)
        await pilot.pause()
        assert "Up 24h" in app.board.table.render_line(0).text
        assert "91.6%" in app.board.table.render_line(1).text
        assert app.ui.show_uptime
        app.board.model.view.sort = "uptime"
        app.board.apply_view()
        assert app.board.model.order == ["online:Cust1001", "online:Cust1002"]  # lowest first


async def test_minutes_of_data_read_as_minutes_observed_not_zero_percent(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    key = "online:Cust1001"
    checks = [FIXED_NOW - timedelta(minutes=minutes) for minutes in (12, 6)]
    seed(history, [Observation(key, at, "Running", 2, True) for at in checks])
    app = make_board(clock, [Tenant("Cust1001")], history_path=history)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: key in app.session.availability, tries=400)
        text = detail_text(app)
        # Up to the board's own first check at 09:30: twelve minutes, not "0.8%".
        assert "Up 24 h     100% up, observed 12m of the last 24 h" in text
        assert "Up 7 d      100% up, observed 12m of the last 7 d" in text


async def test_up_24h_is_read_as_soon_as_the_history_is(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    seed(history, a_bad_day("online:Cust1001"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "ui-state.json").write_text('{"show_uptime": true}', encoding="utf-8")
    app = make_board(clock, [Tenant("Cust1001")], history_path=history, data_dir=data)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle_board(pilot, app)
        row = app.board.model.rows["online:Cust1001"]
        # Not a minute later (the next periodic read): right after the start-up read.
        await until(pilot, lambda: row.uptime_24h is not None, tries=300)
        assert "91.6%" in app.board.table.render_line(1).text


async def test_one_event_is_one_event(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    with HistoryDB.open(history) as db:
        db.write(events=[LoggedEvent(FIXED_NOW, "online:Cust1001", "Acme", "state", "x", "ok")])
    app = make_board(clock, [Tenant("Cust1001")], history_path=history)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        await until(pilot, lambda: len(app.board.event_log.events) == 1, tries=300)
        await pilot.press("l")
        await pilot.pause()
        assert app.board.log_panel.title.startswith("Event log: 1 event, newest first")


# -- mutes and acknowledgements ----------------------------------------------------------------


def a_problem(app) -> str:
    return next(key for key, row in app.board.model.rows.items() if row.needs_attention)


@pytest.mark.parametrize("keys", [("m", "enter"), ("A",)], ids=["mute", "acknowledge"])
async def test_a_mark_in_the_attention_view_leaves_the_cursor_on_the_next_row(
    clock, keys: tuple[str, ...]
) -> None:
    """Muted or acknowledged, a tenant leaves the attention view: the cursor goes to the
    row that took its place, not to the top; on the last row, to the row before it."""
    app = make_board(clock)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("exclamation_mark")
        assert len(app.board.model.order) >= 4
        for place, after in ((2, 3), (-1, -2)):
            order = list(app.board.model.order)
            marked, expected = order[place], order[after]
            app.board.jump_to(marked)
            await pilot.press(*keys)
            row = app.board.model.rows[marked]
            await until(pilot, lambda row=row: row.mark is not None, tries=400)
            await until(pilot, lambda marked=marked: marked not in app.board.model.order)
            assert app.board.table.cursor_key == expected


async def test_a_mute_silences_leaves_the_attention_filter_and_ends_by_itself(
    clock, tmp_path
) -> None:
    history = tmp_path / "history.sqlite3"
    app = make_board(clock, history_path=history)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        key = a_problem(app)
        app.board.jump_to(key)
        await pilot.press("m")
        assert isinstance(app.screen, ChooserScreen)
        await pilot.press("enter")  # the first choice: 1 hour
        row = app.board.model.rows[key]
        await until(pilot, lambda: row.mark == "mute", tries=400)
        assert "⊘ " in app.board.table.render_line(app.board.model.index_of(key) + 1).text
        await pilot.press("exclamation_mark")
        assert key not in app.board.model.order  # out of the attention filter
        await pilot.press("exclamation_mark")
        app.session.tell(
            [LoggedEvent(FIXED_NOW, key, "x", "state", "Running → Unknown", "critical", True)]
        )
        await pilot.pause(1.2)  # no bell either: test_terminal.py hears it (or not) for real
        assert not any((n.title or "") == "state changed" for n in app._notifications)
        await written(app)
        with HistoryDB.open(history, read_only=True) as db:
            (mark,) = db.marks()
            assert mark.key == key and mark.kind == "mute"
            assert mark.until == FIXED_NOW + timedelta(hours=1)
        clock.advance(3601)
        app.session.end_expired_marks()
        assert row.mark is None
        assert any(text.startswith("mute ended") for text in events_text(app))
        await written(app)
    with HistoryDB.open(history, read_only=True) as db:
        assert db.marks() == []  # ended in the file too


async def test_marks_survive_a_restart_and_show_in_the_detail_pane(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    with HistoryDB.open(history) as db:
        db.add_mark(
            "online:Cust1001", "mute", "Running", FIXED_NOW, until=FIXED_NOW + timedelta(hours=8)
        )
    app = make_board(clock, [Tenant("Cust1001")], history_path=history)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        row = app.board.model.rows["online:Cust1001"]
        await until(pilot, lambda: row.mark == "mute", tries=400)
        await pilot.press("enter")
        assert "Silenced    muted by" in detail_text(app)
        assert "until 17:30" in detail_text(app)


async def test_an_acknowledgement_ends_when_the_state_changes(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    tenants = [Tenant("Cust1003", "online", "Fabrikam")]  # Running, then OfflineMaintenance
    app = make_board(clock, tenants, history_path=history)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        row = app.board.model.rows["online:Cust1003"]
        await pilot.press("A")  # running: nothing to acknowledge
        assert row.mark is None

        async def walk_until_changed() -> None:
            first = row.state.state_name
            for _ in range(40):
                clock.advance(30)
                app.monitor.recheck("online:Cust1003")
                await settle_board(pilot, app)
                if row.state.state_name != first:
                    return
            raise AssertionError("the state never changed")

        await walk_until_changed()
        await pilot.press("A")
        await until(pilot, lambda: row.mark == "ack", tries=400)
        await walk_until_changed()
        assert row.mark is None
        assert any(text.startswith("acknowledgement ended") for text in events_text(app))


async def test_a_tenant_in_trouble_in_a_maintenance_window_can_be_acknowledged(
    clock, tmp_path
) -> None:
    """A window takes every tenant out of the attention view; `A` on a critical one then
    said "nothing to acknowledge: this tenant is ok"."""
    from tenantboard.maintenance import Scope

    app = make_board(clock, history_path=tmp_path / "history.sqlite3")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        key = a_problem(app)
        row = app.board.model.rows[key]
        await app.session.start_window(Scope(), timedelta(hours=2), "deploy")
        assert row.window is not None and not row.needs_attention
        app.board.jump_to(key)
        await pilot.press("A")
        await until(pilot, lambda: row.mark == "ack", tries=400)
        assert not any("this tenant is ok" in str(n.message) for n in app._notifications)


async def test_an_acknowledgement_outlasts_failed_checks(clock, tmp_path) -> None:
    """Acknowledge a tenant in maintenance, lose the network: a check that gets no answer
    is not "its state changed"; the acknowledgement ends only when another state is
    answered."""
    import httpx

    from .test_outage import Network

    network = Network(clock)
    network.endpoints["Cust1"] = None  # OfflineMaintenance
    key = "online:Cust1"
    app = make_board(
        clock,
        [Tenant("Cust1")],
        transport=httpx.MockTransport(network.handle),
        history_path=tmp_path / "history.sqlite3",
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        row = app.board.model.rows[key]
        app.board.add_mark(key, "ack", None)
        await until(pilot, lambda: row.mark == "ack", tries=400)

        async def recheck() -> None:
            checks = row.checks
            clock.advance(30)
            app.monitor.recheck(key)
            await until(pilot, lambda: row.checks > checks, tries=400)

        network.down = httpx.ConnectError
        await recheck()
        assert row.error is not None and row.error.kind == "connect"
        app.session.end_expired_marks()  # the 15-second look, too
        assert row.mark == "ack"
        network.down = None
        await recheck()  # the same state again: still acknowledged
        assert row.mark == "ack"
        del network.endpoints["Cust1"]  # Running
        await recheck()
        assert row.mark is None
        assert any(text.startswith("acknowledgement ended") for text in events_text(app))


async def test_the_palette_lists_marks_and_clears_one(clock, tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    app = make_board(clock, [Tenant("Cust1001", "online", "Acme")], history_path=history)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        app.board.add_mark("online:Cust1001", "mute", None)
        row = app.board.model.rows["online:Cust1001"]
        await until(pilot, lambda: row.mark == "mute", tries=400)
        await choose_in_palette(pilot, "Muted and acknowledged")
        await until(pilot, lambda: isinstance(app.screen, ChooserScreen), tries=400)
        await pilot.press("enter")
        assert row.mark is None
        await written(app)
        with HistoryDB.open(history, read_only=True) as db:
            assert db.marks() == [] and db.marks(include_ended=True)


async def test_without_a_history_file_marks_are_kept_in_memory(clock) -> None:
    app = make_board(clock, [Tenant("Cust1001")])
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        app.board.add_mark("online:Cust1001", "mute", None)
        row = app.board.model.rows["online:Cust1001"]
        await until(pilot, lambda: row.mark == "mute")
        await pilot.press("enter")
        assert "no history database" in detail_text(app)


# -- alert hooks on the board --------------------------------------------------------------------


def a_recording_hook(path: Path) -> NotifyHook:
    script = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read())"
    return NotifyHook("rec", command=(sys.executable, "-c", script, str(path)), group_seconds=0.0)


async def walk_to_maintenance(pilot, app, clock, key: str = "online:Cust1003") -> None:
    row = app.board.model.rows[key]
    for _ in range(40):
        clock.advance(30)
        app.monitor.recheck(key)
        await settle_board(pilot, app)
        if row.state.state_name == "OfflineMaintenance":
            return
    raise AssertionError("never went into maintenance")


async def test_the_board_runs_alert_hooks_but_not_for_a_muted_tenant(clock, tmp_path) -> None:
    sent = tmp_path / "sent.json"
    tenants = [Tenant("Cust1003", "online", "Fabrikam")]
    app = make_board(clock, tenants, hooks=[a_recording_hook(sent)])
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        await walk_to_maintenance(pilot, app, clock)
        await until(
            pilot, lambda: sent.exists() and "OfflineMaintenance" in sent.read_text(), tries=400
        )

    sent.unlink()
    clock = type(clock)()
    app = make_board(clock, tenants, hooks=[a_recording_hook(sent)])
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        app.board.add_mark("online:Cust1003", "mute", FIXED_NOW + timedelta(hours=8))
        await walk_to_maintenance(pilot, app, clock)
        await until(pilot, lambda: app.session.notifier.counts[("rec", "silenced")] == 1, tries=400)
        assert not sent.exists()


async def test_the_boards_own_outage_sends_no_alert(clock, tmp_path) -> None:
    """The board hands results over in batches, so the failures that made the case for
    its own outage reach the hooks after the outage was declared: they send nothing,
    neither then nor as "resolved" when the network is back."""
    import httpx

    from .test_outage import Network

    network = Network(clock)
    sent = tmp_path / "sent.json"
    tenants = [Tenant(f"Cust{number}") for number in range(1, 6)]
    hook = a_recording_hook(sent)
    app = make_board(clock, tenants, transport=httpx.MockTransport(network.handle), hooks=[hook])
    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        network.down = httpx.ConnectError
        app.board.action_recheck_list()
        await until(pilot, lambda: app.monitor.outage is not None, tries=500)
        await pilot.pause(0.3)
        network.down = None
        for _ in range(20):
            clock.advance(30)
            app.monitor.wake_if_overdue()
            await pilot.pause(0.05)
        await until(pilot, lambda: app.monitor.outage is None, tries=500)
        await settle_board(pilot, app)
        await pilot.pause(0.3)
        assert all(row.error is None for row in app.board.model.rows.values())
        assert app.session.notifier.counts[("rec", "sent")] == 0
    assert not sent.exists()


async def test_the_board_says_while_command_hooks_are_refused(clock, tmp_path) -> None:
    """A tenant file others can change: its command hooks are not run, the board says so
    (an alert that stays), and `chmod go-w` brings them back."""
    from tenantboard.tenant_file import TenantStore

    path = tmp_path / "tenants.toml"
    path.write_text(
        '[[tenants]]\ncontext_id = "Cust1001"\n\n[[notify]]\nname = "pager"\ncommand = ["true"]\n',
        encoding="utf-8",
    )
    path.chmod(0o666)
    store = TenantStore(path)
    loaded = store.load()
    app = make_board(
        clock,
        loaded.tenants,
        store=store,
        hooks=loaded.notify,
        commands_refused=loaded.commands_refused,
    )

    async with app.run_test(size=(140, 40)) as pilot:
        await settle_board(pilot, app)
        line = app.board.change_line
        assert app.session.notifier.runners == []
        problem = line.problems.get("hooks", "")  # leads the change line while it lasts
        assert problem.startswith("[[notify]] command hooks not run (pager): other users can")
        assert problem.endswith(f"fix: chmod go-w {path}") and line.display
        path.chmod(0o644)
        await app.session.look_at_file()
        assert [runner.hook.name for runner in app.session.notifier.runners] == ["pager"]
        assert "hooks" not in line.problems


# -- serve: the watcher records into the same file; mutes silence its hooks -----------------------


async def test_the_watcher_records_results_and_changes_in_the_history(tmp_path) -> None:
    history = tmp_path / "history.sqlite3"
    tenant = Tenant("Cust1")
    watcher = idle_watcher([tenant], history_path=history)
    writer = watcher.session.writer
    watcher.record(ok(tenant))
    watcher.record(failed(tenant, at=60))
    await asyncio.to_thread(writer.close)
    with HistoryDB.open(history, read_only=True) as db:
        intervals = db.intervals("online:Cust1")
        assert [interval.label for interval in intervals] == ["Running", "error:timeout"]
        assert db.events()


async def test_serve_silences_hooks_from_the_history_marks(tmp_path) -> None:
    """Marks made by another process (a board) reach serve's session through the database."""
    history = tmp_path / "history.sqlite3"
    tenant, other = Tenant("Cust1"), Tenant("Cust2")
    watcher = idle_watcher([tenant, other], history_path=history)
    writer = watcher.session.writer
    watcher.record(ok(tenant))
    watcher.record(ok(other))
    now = watcher.clock.wall()
    await asyncio.wrap_future(
        writer.call(lambda db: db.add_mark(tenant.key, "mute", "Running", now))
    )
    await asyncio.wrap_future(
        writer.call(
            lambda db: db.add_mark(other.key, "mute", "Running", now, until=now - timedelta(1))
        )
    )
    await watcher.session.read_marks()
    session = watcher.session
    assert session.is_silenced(tenant.key) and not session.is_silenced(other.key)
    await asyncio.to_thread(writer.close)
    with HistoryDB.open(history, read_only=True) as db:
        assert [mark.key for mark in db.marks()] == [tenant.key]  # the one run out is ended


# -- maintenance windows ---------------------------------------------------------------------


async def test_a_maintenance_window_from_the_board_marks_the_row_and_the_header(
    clock, tmp_path
) -> None:
    """``w``: this tenant, for 30 minutes; the row is marked, out of the attention
    filter, the header says what is open and until when; saved for every process on the
    file; the palette lists the open windows and ends one."""
    history = tmp_path / "history.sqlite3"
    app = make_board(clock, history_path=history)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle_board(pilot, app)
        key = a_problem(app)
        app.board.jump_to(key)
        await pilot.press("w")
        assert isinstance(app.screen, ChooserScreen)
        await pilot.press("enter")  # the first choice: this tenant
        await until(pilot, lambda: isinstance(app.screen, ChooserScreen), tries=400)
        await pilot.press("enter")  # the first length: 30 minutes
        row = app.board.model.rows[key]
        await until(pilot, lambda: row.window is not None, tries=400)
        assert "⚒ " in app.board.table.render_line(app.board.model.index_of(key) + 1).text
        assert "⚒ maintenance: ad hoc, by" in app.board.summary.render().plain
        assert "until 10:00" in app.board.summary.render().plain  # FIXED_NOW 09:30 + 30 min
        assert sum(r.window is not None for r in app.board.model.rows.values()) == 1
        await pilot.press("exclamation_mark")
        assert key not in app.board.model.order  # out of the attention filter
        await pilot.press("exclamation_mark")
        app.board.jump_to(key)
        app.board.toggle_detail()
        assert "in maintenance: ad hoc, by" in detail_text(app)
        app.board.action_close_detail()
        await written(app)
        with HistoryDB.open(history, read_only=True) as db:
            (saved,) = db.windows(source="adhoc")
            assert saved.scope.keys == {key} and saved.end == FIXED_NOW + timedelta(minutes=30)
        await choose_in_palette(pilot, "Maintenance windows")
        await until(pilot, lambda: isinstance(app.screen, ChooserScreen), tries=400)
        await pilot.press("enter")
        await until(pilot, lambda: row.window is None, tries=400)
        assert "maintenance:" not in app.board.summary.render().plain
        await written(app)
    with HistoryDB.open(history, read_only=True) as db:
        (ended,) = db.windows(source="adhoc")
        assert ended.ended_at is not None
