"""A board attached to a running `tenantboard serve`: its rows come from the server's
snapshot and event stream, and it asks SuperOffice nothing."""

from __future__ import annotations

import asyncio
from collections import deque

import httpx
import pytest

from tenantboard.answers import State
from tenantboard.cli import main
from tenantboard.remote import (
    AttachTarget,
    EventBacklog,
    ServerEvent,
    SnapshotReader,
    server_events,
    server_row,
)
from tenantboard.session_changes import ListChanged, ResultsApplied, ServerStatus
from tenantboard.tenant import Tenant

from .conftest import FIXED_NOW, make_board, until
from .serve_helpers import ThreadedServer, failed, idle_watcher, ok
from .test_first_day import said

TENANTS = [
    Tenant("Cust1001", "online", "Northwind"),
    Tenant("Cust1008", "online", "<b>Litware</b>"),
]


class NoSuperOffice(httpx.AsyncBaseTransport):
    """Fails the test if anything but the server is asked."""

    def __init__(self, server_url: str) -> None:
        self.server = httpx.URL(server_url)
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == self.server.host and request.url.port == self.server.port
        return await self.real.handle_async_request(request)


@pytest.fixture
def server():
    from tenantboard.errors import ErrorKind

    watcher = idle_watcher(TENANTS)
    watcher.record(ok(TENANTS[0], State.Running, version="Release_11.10_2026.02.24-02"))
    watcher.record(failed(TENANTS[1], ErrorKind.UNAVAILABLE))
    with ThreadedServer(watcher) as running:
        yield running


def state_of(app, key: str) -> str | None:
    row = app.board.model.rows.get(key)
    return row.state.state_name if row and row.state else None


async def test_the_attached_board_shows_the_servers_tenants_and_follows_its_checks(
    clock, server
) -> None:
    target = AttachTarget.parse(server.url)
    app = make_board(clock, [], attach=target, transport=NoSuperOffice(server.url))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: app.board.model.total == 2, tries=500)
        await until(pilot, lambda: state_of(app, "online:Cust1001") == "Running", tries=500)
        row = app.board.model.rows["online:Cust1008"]
        assert row.error is not None and row.error.status == 503
        assert row.tenant.label == "<b>Litware</b>"  # data, shown as typed
        assert "attached to" in app.board.summary.render().plain

        # A check on the server reaches the board through the event stream.
        server.call(server.watcher.record, ok(TENANTS[1], State.Suspended, at=60))
        await until(pilot, lambda: state_of(app, "online:Cust1008") == "Suspended", tries=500)

        await pilot.press("a")
        await until(pilot, lambda: said(app, "the list lives on the server"))
        await pilot.press("r")
        await until(pilot, lambda: said(app, "checks run on the server"))


async def test_an_attached_board_says_when_it_loses_the_server(clock) -> None:
    """Lost is a standing problem on the change line, there until the server is back."""
    target = AttachTarget.parse("http://127.0.0.1:9")  # nothing listens there
    app = make_board(clock, [], attach=target, transport=httpx.AsyncHTTPTransport())
    async with app.run_test(size=(120, 30)) as pilot:
        line = app.board.change_line
        await until(pilot, lambda: "lost http://127.0.0.1:9" in line.render().plain, tries=500)
        assert line.display
        assert app.is_running  # it says so and keeps trying; it does not stop
        app.board.session_changed(ServerStatus("connected to http://127.0.0.1:9", True))
        await until(pilot, lambda: said(app, "connected to"))
        assert "lost" not in line.render().plain


class Counting(httpx.AsyncBaseTransport):
    """The real transport, counting the requests made."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.real.handle_async_request(request)


@pytest.mark.parametrize(
    ("token", "said_instead"),
    [
        (None, "asks for a token: give it with --attach-token-file FILE"),
        ("not-the-servers-token-0123", "refused the token from --attach-token-file"),
    ],
)
async def test_a_refused_board_says_how_to_give_the_token_and_stops_asking(
    clock, token, said_instead
) -> None:
    """401 is not a network error: asking again the same way cannot help. The board says
    which option gives the token (not serve's --token-file), says it where the empty
    list's "No tenants yet: press a" would be, and asks no more."""
    watcher = idle_watcher(TENANTS)
    with ThreadedServer(watcher, token="the-servers-token-0123456789") as server:
        transport = Counting()
        target = AttachTarget.parse(server.url, token)
        app = make_board(clock, [], attach=target, transport=transport)
        async with app.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: said(app, said_instead), tries=500)
            assert said(app, f"the server at {server.url}")
            hint = app.board.table.render_line(1).text
            assert said_instead in hint and "No tenants yet" not in hint
            await pilot.pause(1.2)  # past the first retry's delay (at most 1 s)
            assert transport.requests == 1


async def test_server_sent_events_are_parsed_as_the_server_writes_them() -> None:
    lines = [": keep-alive", "id: 7", "event: result", 'data: {"key": "a"}', "", "id: 8"]
    lines += ["event: reset", 'data: {"seq": 8}', "", 'data: {"x": 1}', ""]

    async def stream():
        for line in lines:
            yield line

    events = [event async for event in server_events(stream())]
    assert [(e.id, e.kind, e.data) for e in events] == [
        (7, "result", {"key": "a"}),
        (8, "reset", {"seq": 8}),
        (None, "message", {"x": 1}),
    ]


def test_attach_options_are_checked(capsys) -> None:
    assert main(["--attach", "ftp://example"]) == 64
    assert "http(s) URL" in capsys.readouterr().err
    assert main(["--attach-token-file", "x"]) == 64
    assert main(["--attach", "http://127.0.0.1:9464", "--demo"]) == 64


# -- marks, availability and windows: the server's, on the attached board ---------------------


@pytest.fixture
def history_server(clock, tmp_path):
    """A serve with a history database (a bad day recorded for Cust1001), on the test's
    clock, its alert hooks delivered to a recorder; both tenants checked once."""
    from tenantboard.notify import Notifier

    from .serve_helpers import with_notifier
    from .test_board_history import a_bad_day, seed
    from .test_notify import Recorder, hook

    history = tmp_path / "history.sqlite3"
    seed(history, a_bad_day(TENANTS[0].key))
    watcher = idle_watcher(TENANTS, history_path=history, clock=clock)
    session = watcher.session
    recorder = Recorder()
    with_notifier(
        watcher,
        Notifier([hook()], deliverer=recorder, is_silenced=session.is_silenced),
    )
    watcher.record(ok(TENANTS[0]))
    watcher.record(ok(TENANTS[1], State.Suspended))
    try:
        with ThreadedServer(watcher) as running:
            running.run(session.read_availability(list(session.model.list_order), with_strip=False))
            running.recorder = recorder
            yield running
    finally:
        session.writer.close()


def recorded_marks(server, *, include_ended: bool = False):
    from tenantboard.history.db import HistoryDB

    assert server.watcher.session.writer.flush()
    with HistoryDB.open(server.watcher.session.config.history_path, read_only=True) as db:
        return db.marks(include_ended=include_ended)


async def attached(pilot, app) -> None:
    await until(pilot, lambda: state_of(app, "online:Cust1001") == "Running", tries=500)
    await until(pilot, lambda: state_of(app, "online:Cust1008") == "Suspended", tries=500)


async def test_a_mute_on_the_attached_board_is_the_servers(clock, history_server) -> None:
    """m on an attached board: the server records it (with who muted), tells every face,
    and its alert hooks stay silent for that tenant; M clears it on the server."""
    from tenantboard.history.db import current_user
    from tenantboard.ui.screens.chooser import ChooserScreen

    from .test_notify import drained

    server = history_server
    session = server.watcher.session
    key = "online:Cust1001"
    app = make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await attached(pilot, app)
        app.board.jump_to(key)
        await pilot.press("m")
        assert isinstance(app.screen, ChooserScreen)
        await pilot.press("enter")  # for 1 hour
        await until(pilot, lambda: said(app, "muted by"), tries=500)
        assert session.is_silenced(key)  # the server's session: its hooks
        (mark,) = recorded_marks(server)
        assert (mark.key, mark.kind, mark.by) == (key, "mute", current_user())
        row = app.board.model.rows[key]
        assert row.mark == "mute" and app.session.marks.of(key)[0].id == mark.id

        # The server's hooks: a change for the worse of the muted tenant is not sent.
        server.run(_record(server.watcher, ok(TENANTS[0], State.Suspended, at=60)))
        server.run(drained(session.notifier))
        assert server.recorder.payloads == []
        assert session.notifier.counts[("test", "silenced")] == 1

        await pilot.press("M")
        await until(pilot, lambda: isinstance(app.screen, ChooserScreen), tries=400)
        await pilot.press("enter")
        await until(pilot, lambda: row.mark is None, tries=500)
        assert not session.is_silenced(key)
        (ended,) = recorded_marks(server, include_ended=True)
        assert ended.ended_at is not None
        assert any(
            event.text.startswith(f"mute cleared by {current_user()}")
            for event in session.event_log.events
        )


async def _record(watcher, result) -> None:
    watcher.record(result)


async def test_a_mark_made_on_the_server_shows_on_the_attached_board(clock, history_server):
    """Another board (or the server) acknowledges: the attached board's row has the mark,
    its pane says who and until when; when it ends there, it ends here. A row the server
    sends again for a mark is not another check."""
    from datetime import timedelta

    from .test_board import detail_text

    server = history_server
    session = server.watcher.session
    key = "online:Cust1008"
    app = make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await attached(pilot, app)
        row = app.board.model.rows[key]
        checks = row.checks
        server.run(session.add_mark(key, "ack", None, by="bo"))
        await until(pilot, lambda: row.mark == "ack", tries=500)
        assert app.session.is_silenced(key)
        app.board.jump_to(key)
        app.board.toggle_detail()
        assert "acknowledged by bo at 09:30, until its state changes (from Suspended)" in (
            detail_text(app)
        )
        # The same check, sent again with its mark, is not another check: a real one of
        # the other tenant, sent after it, arrives; this row's count has not moved.
        other = app.board.model.rows["online:Cust1001"]
        other_checks = other.checks
        server.call(server.watcher.record, ok(TENANTS[0], at=30))
        await until(pilot, lambda: other.checks > other_checks, tries=500)
        assert row.checks == checks

        until_noon = clock.wall() + timedelta(hours=2, minutes=30)
        server.run(session.add_mark(key, "mute", until_noon, by="cy"))
        await until(pilot, lambda: row.mark == "mute", tries=500)
        assert "muted by cy at 09:30, until 12:00" in detail_text(app)

        server.call(session.end_marks, session.marks.of(key), "cleared")
        await until(pilot, lambda: row.mark is None, tries=500)
        assert not app.session.is_silenced(key)


async def test_availability_on_the_attached_board_is_the_servers(clock, history_server) -> None:
    """The Up 24h column from the server's rows; the pane's figures and 30-day strip from
    its history (not "no history database")."""
    from .test_board import detail_text

    server = history_server
    app = make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
    )
    async with app.run_test(size=(160, 50)) as pilot:
        await attached(pilot, app)
        row = app.board.model.rows["online:Cust1001"]
        await until(pilot, lambda: row.uptime_24h is not None, tries=500)
        await pilot.press("U")
        await pilot.pause()
        assert "91.6%" in app.board.table.render_line(1).text
        app.board.jump_to("online:Cust1001")
        await pilot.press("enter")
        await until(pilot, lambda: "online:Cust1001" in app.session.availability, tries=500)
        text = detail_text(app)
        assert "Up 24 h     91.6% up, observed all of the last 24 h" in text
        assert "Incidents   1 in 30 d, longest 2h 00m" in text
        assert "30 days" in text
        assert "no history database" not in text


async def test_a_maintenance_window_on_the_server_shows_on_the_attached_board(
    clock, history_server
) -> None:
    """A window the server has open covers the row (⚒, out of "needs attention") and
    leads the header, as on a local board; when it ends there, it ends here."""
    from datetime import timedelta

    from tenantboard.maintenance import Scope

    server = history_server
    session = server.watcher.session
    key = "online:Cust1008"
    app = make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await attached(pilot, app)
        row = app.board.model.rows[key]
        window, _ = server.run(
            session.start_window(Scope(keys=frozenset({key})), timedelta(minutes=30), "db move")
        )
        await until(pilot, lambda: row.window is not None, tries=500)
        assert row.window.name == "db move"
        assert app.board.model.rows["online:Cust1001"].window is None
        await until(pilot, lambda: "maintenance: db move until 10:00" in header(app), tries=200)
        line = app.board.table.render_line(app.board.model.index_of(key) + 1).text
        assert "⚒ " in line
        server.run(session.end_window(window))
        await until(pilot, lambda: row.window is None, tries=500)
        await until(pilot, lambda: "maintenance:" not in header(app), tries=200)


def header(app) -> str:
    app.board.update_summary()
    return app.board.summary.render().plain


async def test_a_mark_the_server_cannot_take_is_said_and_not_kept(clock) -> None:
    """The server gone: m says why it was not saved; no mark only this board knows."""
    watcher = idle_watcher(TENANTS, clock=clock)
    watcher.record(ok(TENANTS[0]))
    watcher.record(ok(TENANTS[1], State.Suspended))
    server = ThreadedServer(watcher).__enter__()
    running = True
    try:
        target = AttachTarget.parse(server.url)
        app = make_board(clock, [], attach=target, transport=httpx.AsyncHTTPTransport())
        async with app.run_test(size=(160, 40)) as pilot:
            await attached(pilot, app)
            server.__exit__(None, None, None)  # the server stops
            running = False
            key = "online:Cust1008"
            app.board.add_mark(key, "ack", None)
            await until(pilot, lambda: said(app, "not saved:"), tries=500)
            assert said(app, f"{server.url}: cannot connect")
            assert app.board.model.rows[key].mark is None and not app.session.marks.of(key)
    finally:
        if running:
            server.__exit__(None, None, None)


async def test_a_window_open_when_the_board_attaches_ends_without_false_alarms(
    clock, history_server
) -> None:
    """A tenant already Suspended when the window began is not "still Suspended after it
    ended": the attached board compares with the state the server sent with the window,
    not with "not checked yet" (its checks are on their way when the window arrives)."""
    from datetime import timedelta

    from tenantboard.maintenance import EVERYTHING

    server = history_server
    session = server.watcher.session
    window, _ = server.run(session.start_window(EVERYTHING, timedelta(minutes=30), "db move"))
    app = make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await attached(pilot, app)
        row = app.board.model.rows["online:Cust1008"]
        await until(pilot, lambda: row.window is not None, tries=500)
        server.run(session.end_window(window))
        await until(pilot, lambda: row.window is None, tries=500)
        await until(pilot, lambda: said_in_log(app, "maintenance window closed: db move"))
        assert not said_in_log(app, "after db move ended")


def said_in_log(app, text: str) -> bool:
    return any(text in event.text for event in app.session.event_log.events)


def test_a_servers_row_is_checked_before_the_board_believes_it() -> None:
    """Marks, uptime and the window come from another process: what does not check out
    is left out, texts are cleaned."""
    from datetime import timedelta

    from tenantboard.maintenance import EVERYTHING, Window

    window = Window("adhoc", "db move", FIXED_NOW, FIXED_NOW + timedelta(hours=1), EVERYTHING, 7)
    good_mark = {"id": 3, "by": "ana\x1b[2J", "created_at": "2026-03-02T09:30:00Z"}
    row = {
        "marks": {
            "muted": {**good_mark, "until": "2026-03-02T10:30:00Z", "state": "Running"},
            "acknowledged": {"id": "x", "by": "bo", "created_at": "2026-03-02T09:30:00Z"},
        },
        "uptime_24h": 0.5,
        "maintenance": window.as_json(),
    }
    found = server_row(row, TENANTS[0])
    (mark,) = found.marks
    assert (mark.id, mark.kind, mark.by, mark.key) == (3, "mute", "ana", TENANTS[0].key)
    assert found.uptime_24h == 0.5 and found.window == window
    for uptime in (1.5, -0.1, "0.5", True, float("nan")):
        assert server_row({**row, "uptime_24h": uptime}, TENANTS[0]).uptime_24h is None
    for bad in ({"source": "adhoc"}, {**window.as_json(), "end": "2027-01-01T00:00:00Z"}, []):
        assert server_row({**row, "maintenance": bad}, TENANTS[0]).window is None
    assert server_row({"marks": "muted"}, TENANTS[0]).marks == ()


def test_a_servers_readable_valid_until_keeps_no_text_of_it() -> None:
    """As a local check keeps it: the ValidUntil text only when it is not a time (the
    detail pane then shows it as sent), not a string per row of 100,000 for nothing."""
    from tenantboard.remote import result_from_row

    result = {"state": "Running", "state_code": 2, "recognised": True, "is_running": True}
    readable = {"result": {**result, "valid_until": "2026-03-02T09:35:00Z"}}
    state = result_from_row(readable, TENANTS[0]).state
    assert state.valid_until is not None and state.valid_until_raw is None
    unreadable = result_from_row({"result": {**result, "valid_until": "soon"}}, TENANTS[0])
    assert unreadable.state.valid_until is None and unreadable.state.valid_until_raw == "soon"


async def test_uptimes_from_the_server_resort_the_board_at_most_once_a_second(clock) -> None:
    """Sorted by Up 24h, a burst of rows whose uptime moved (each check the server sends
    brings it) redoes the view once, not once a row: at fleet scale that is every check."""
    watcher = idle_watcher(TENANTS, clock=clock)
    watcher.record(ok(TENANTS[0]))
    watcher.record(ok(TENANTS[1], State.Suspended))
    with ThreadedServer(watcher) as server:
        app = make_board(
            clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
        )
        async with app.run_test(size=(160, 40)) as pilot:
            await attached(pilot, app)
            app.board.model.view.sort = "uptime"
            app.board.apply_view()
            redone = []
            recompute = app.board.model.recompute_view
            app.board.model.recompute_view = lambda *a: (redone.append(1), recompute(*a))[1]
            row = app.board.model.rows["online:Cust1001"]

            def burst() -> None:
                for second in range(1, 21):
                    watcher.model.rows[TENANTS[0].key].uptime_24h = 1 - second / 100
                    watcher.record(ok(TENANTS[0], at=second))

            server.call(burst)
            await until(pilot, lambda: row.uptime_24h == 0.8, tries=500)
            await pilot.pause()
            assert len(redone) <= 2
            clock.advance(1.0)  # the view is redone within the second
            await until(pilot, lambda: len(redone) >= 1, tries=200)


# -- a fleet's snapshot ----------------------------------------------------------------------


def test_the_snapshot_is_read_as_it_arrives_whatever_the_pieces() -> None:
    """Rows are handed on as soon as each is complete, however the bytes are cut (a
    piece may end inside a row, a number, a multi-byte character); the other members
    come at the end, and what is not a serve's snapshot is refused."""
    import json

    snapshot = {
        "seq": 12345,
        "maintenance": [{"name": "db move"}],
        "tenants": [{"key": "online:Cust1", "label": "Nørd ]}"}, {"key": "online:Cust2"}],
        "total": 2,
    }
    text = json.dumps(snapshot, ensure_ascii=False).encode()
    for size in (1, 2, 5, 64, len(text)):
        reader, rows = SnapshotReader(), []
        for start in range(0, len(text), size):
            rows += reader.feed(text[start : start + size])
            if size == 64 and start == 64:
                assert rows == snapshot["tenants"][:1]  # before the document ends
        head, rest = reader.finish()
        assert rows + rest == snapshot["tenants"]
        assert head == {"seq": 12345, "maintenance": [{"name": "db move"}], "total": 2}
    for bad in (b"[]", b'{"seq": 1}', b'{"tenants": [{"key": 1}', b'{"tenants": []} {}', b"<html>"):
        with pytest.raises(ValueError, match="not a tenantboard serve snapshot"):
            reader = SnapshotReader()
            reader.feed(bad)
            reader.finish()


FLEET = [Tenant(f"Cust{number}", "online", f"Fleet tenant {number}") for number in range(1, 1201)]


class Trickle(NoSuperOffice):
    """The server's answers as a slow network brings them: a few kilobytes at a time."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)

        async def pieces():
            async for chunk in response.aiter_raw():
                for start in range(0, len(chunk), 2048):
                    yield chunk[start : start + 2048]

        return httpx.Response(
            response.status_code, headers=response.headers, stream=_Stream(pieces(), response)
        )


class _Stream(httpx.AsyncByteStream):
    def __init__(self, pieces, response: httpx.Response) -> None:
        self.pieces, self.response = pieces, response

    async def __aiter__(self):
        async for piece in self.pieces:
            yield piece

    async def aclose(self) -> None:
        await self.response.aclose()


@pytest.fixture
def fleet_server():
    watcher = idle_watcher(FLEET)
    watcher.session.apply(ok(tenant, State.Running) for tenant in FLEET)
    with ThreadedServer(watcher) as running:
        yield running


async def test_a_big_snapshot_is_shown_as_it_comes_and_keys_are_answered_meanwhile(
    clock, fleet_server
) -> None:
    """An attached board on a server with many tenants does not wait for the whole
    snapshot: the first rows show while the rest is read, the list grows in the server's
    order, and the rows' checks are applied a slice at a time with the screen's turn in
    between, so a key pressed while they are applied is answered before they are all in."""
    from textual import events

    server = fleet_server
    app = make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=Trickle(server.url)
    )
    lists: list[int] = []
    applied: list[tuple[int, int]] = []  # (checks applied so far, the cursor then)

    def listen(change) -> None:
        if isinstance(change, ListChanged):
            lists.append(len(change.tenants))
        elif isinstance(change, ResultsApplied):
            done = (applied[-1][0] if applied else 0) + len(change.results)
            if not applied:
                app.post_message(events.Key("down", None))  # pressed as the checks come
            applied.append((done, app.board.table.cursor))

    app.session.subscribe(listen)
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: app.board.model.total == len(FLEET), tries=1000)
        await until(pilot, lambda: applied and applied[-1][0] == len(FLEET), tries=1000)
        assert lists[0] < len(FLEET) and lists[-1] == len(FLEET)  # shown before all read
        assert lists == sorted(lists)
        assert app.board.model.list_order == [tenant.key for tenant in FLEET]
        answered = [done for done, cursor in applied if cursor == 1]
        assert answered and answered[0] < len(FLEET)  # the key, before the last slice
        assert state_of(app, FLEET[-1].key) == "Running"


async def test_reading_the_snapshot_again_keeps_every_row_it_has(clock, fleet_server) -> None:
    """The server's list changed (a reset): the board reads the snapshot again, and the
    tenants it already shows keep their rows (and what they know) throughout; none is
    dropped and taken back while the new list comes in."""
    server = fleet_server
    app = make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
    )
    removed: list[str] = []
    app.session.subscribe(
        lambda change: removed.extend(change.removed) if isinstance(change, ListChanged) else None
    )
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: state_of(app, FLEET[-1].key) == "Running", tries=1000)
        rows = dict(app.board.model.rows)
        added = Tenant("Cust99999", "online", "New one")
        server.call(lambda: server.watcher.session.adopt_tenants([*FLEET, added], source="file"))
        await until(pilot, lambda: added.key in app.board.model.rows, tries=1000)
        assert removed == []
        assert all(app.board.model.rows[key] is row for key, row in rows.items())


class BusyServer(NoSuperOffice):
    """A busy server: checks finish between the board's requests (before each request for
    the event stream), more than the server keeps for a late listener. Counts snapshots."""

    def __init__(self, server, checks: int) -> None:
        super().__init__(server.url)
        self.serving, self.checks, self.snapshots, self.round = server, checks, 0, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/snapshot":
            self.snapshots += 1
        elif request.url.path == "/api/events" and self.round < 5:
            self.round += 1
            await asyncio.to_thread(self.serving.run, self._checks_finish(self.round))
        return await super().handle_async_request(request)

    async def _checks_finish(self, round_: int) -> None:
        for second in range(self.checks):
            self.serving.watcher.record(
                ok(FLEET[second], State.Suspended, at=round_ * 100 + second)
            )


async def test_a_busy_server_is_followed_without_reading_its_snapshot_again(
    clock, fleet_server
) -> None:
    """The checks that finish while the board reads the snapshot reach it, and it reads the
    snapshot once: had it asked for the stream only after the snapshot, the server would
    no longer have had those events (it keeps the newest few), answered ``reset``, and
    the board would have read the snapshot again, and again, never catching up."""
    server = fleet_server
    server.watcher.hub.recent = deque(maxlen=8)  # a busy server keeps few events
    transport = BusyServer(server, checks=150)  # (more than one packed batch of them)
    app = make_board(clock, [], attach=AttachTarget.parse(server.url), transport=transport)
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: state_of(app, FLEET[149].key) == "Suspended", tries=1000)
        await until(pilot, lambda: state_of(app, FLEET[-1].key) == "Running", tries=1000)
        await pilot.pause(0.3)
        assert transport.snapshots == 1
        assert app.session.feed is not None and app.session.feed.connected


async def test_events_waiting_for_the_board_come_out_each_once_in_order() -> None:
    """Events gathered faster than the board takes them (kept compressed in batches) come
    out as they came, each once, whatever the taking between the gathering; the end of the
    stream after them."""
    backlog = EventBacklog()
    sent = [
        ServerEvent(number, "result", f'{{"key": "online:Cust{number}", "n": "✔"}}')
        for number in range(1, 301)
    ]
    taken = []
    for number, event in enumerate(sent):
        backlog.put(event)
        if number % 7 == 0 or number > 280:
            taken.append(await backlog.get())
    backlog.put(None)
    assert len(backlog) == len(sent) - len(taken) + 1
    while (event := await backlog.get()) is not None:
        taken.append(event)
    assert taken == sent and len(backlog) == 0
    backlog.put(sent[0])
    backlog.clear()
    assert len(backlog) == 0
    backlog.put(sent[1])
    assert await backlog.get() == sent[1]


async def test_the_servers_own_outage_shows_on_the_attached_board_as_a_local_one(clock) -> None:
    """serve cannot reach SuperOffice: the attached board says so in its header as a local
    board says its own, its rows are held (stale, their last known state), nothing is a
    tenant's failure; when the server reaches SuperOffice again, one event says so."""
    from dataclasses import replace

    from tenantboard.errors import ErrorKind

    from .serve_helpers import begin_outage, end_outage

    watcher = idle_watcher(TENANTS, clock=clock)
    watcher.record(ok(TENANTS[0]))
    watcher.record(ok(TENANTS[1], State.Suspended))
    session = watcher.session
    with ThreadedServer(watcher) as server:
        app = make_board(
            clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
        )
        async with app.run_test(size=(160, 40)) as pilot:
            await attached(pilot, app)
            board = app.board
            # One tenant failed before the server could tell; the outage is found after.
            server.call(watcher.record, failed(TENANTS[0], ErrorKind.CONNECT, at=30))
            server.call(begin_outage, session, 30)
            await until(pilot, lambda: board.monitor.outage is not None, tries=500)
            assert "cannot reach SuperOffice since 09:30:30" in header(app)
            # A check that fails in it, sent as the server's monitor holds it.
            held = replace(failed(TENANTS[1], ErrorKind.TIMEOUT, at=60), during_outage=True)
            server.call(watcher.record, held)
            rows = board.model.rows
            await until(pilot, lambda: rows["online:Cust1008"].checks == 2, tries=500)
            for key, state in (("online:Cust1001", "Running"), ("online:Cust1008", "Suspended")):
                assert rows[key].stale and rows[key].state.state_name == state
                assert rows[key].bucket != "error"
            assert not said_in_log(app, "check failed")
            assert "cannot reach SuperOffice" in board.change_line.render().plain

            server.call(end_outage, session, 150)
            await until(pilot, lambda: board.monitor.outage is None, tries=500)
            assert "cannot reach SuperOffice" not in header(app)
            await until(pilot, lambda: said_in_log(app, "could not reach SuperOffice from"))
            assert not said_in_log(app, "check failed")


async def test_a_board_attached_during_the_servers_outage_shows_each_last_known_state(
    clock,
) -> None:
    """Attached while serve cannot reach SuperOffice, whose last checks all failed in it:
    the board shows each tenant's last known state as the server holds it (stale since
    its last answer), not "error"; a Suspended tenant is still critical."""
    from dataclasses import replace

    from tenantboard.answers import Severity
    from tenantboard.errors import ErrorKind

    from .serve_helpers import begin_outage

    watcher = idle_watcher(TENANTS, clock=clock)
    watcher.record(ok(TENANTS[0]))
    watcher.record(ok(TENANTS[1], State.Suspended))
    begin_outage(watcher.session, 30)
    for tenant in TENANTS:  # each checked again in the outage, held by the server's monitor
        watcher.record(replace(failed(tenant, ErrorKind.CONNECT, at=60), during_outage=True))
    with ThreadedServer(watcher) as server:
        app = make_board(
            clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
        )
        async with app.run_test(size=(160, 40)) as pilot:
            board = app.board
            await until(pilot, lambda: board.monitor.outage is not None, tries=500)
            await attached(pilot, app)
            rows = board.model.rows
            suspended = rows["online:Cust1008"]
            assert suspended.severity is Severity.CRITICAL
            for key in ("online:Cust1001", "online:Cust1008"):
                row = rows[key]
                assert row.stale and row.bucket != "error" and row.last.during_outage
                assert row.last_success_at == FIXED_NOW
                assert board.describe_times(row)[0].startswith("stale ")
            assert not said_in_log(app, "check failed")


async def test_the_servers_broken_tenant_file_shows_on_the_attached_board(clock, tmp_path) -> None:
    """serve's tenant file cannot be used (it keeps the list it had): a board attached
    then says so as it says its own file's problem, as the server's; when serve reads the
    file again, that goes; broken again later, the board is told at once."""
    from tenantboard.tenant_file import TenantStore

    path = tmp_path / "tenants.toml"
    good = '[[tenants]]\ncontext_id = "Cust1001"\n\n[[tenants]]\ncontext_id = "Cust1008"\n'
    path.write_text(good, encoding="utf-8")
    path.chmod(0o600)
    store = TenantStore(path)
    watcher = idle_watcher(store.load().tenants, clock=clock, store=store)
    session = watcher.session
    watcher.record(ok(TENANTS[0]))
    path.write_text("[[tenants]\n", encoding="utf-8")
    with ThreadedServer(watcher) as server:
        server.run(session.look_at_file(force=True))
        assert session.file_problem is not None
        app = make_board(
            clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
        )
        async with app.run_test(size=(160, 40)) as pilot:
            line = app.board.change_line
            await until(pilot, lambda: state_of(app, "online:Cust1001") == "Running", tries=500)
            await until(pilot, lambda: "server's tenant file" in line.render().plain, tries=500)
            assert "cannot be used" in line.render().plain

            path.write_text(good, encoding="utf-8")
            server.run(session.look_at_file(force=True))
            await until(pilot, lambda: "tenant file" not in line.render().plain, tries=500)

            path.write_text("[[tenants]\n", encoding="utf-8")
            server.run(session.look_at_file(force=True))
            await until(pilot, lambda: "server's tenant file" in line.render().plain, tries=500)


# -- host incidents: the server's -------------------------------------------------------------


def incident_fleet(**options):
    """A server of ten tenants on online3 and four on online2, every one Running at t=0."""
    from tests.test_incidents import FLEET, host_of

    watcher = idle_watcher(FLEET, **options)
    for tenant in FLEET:
        watcher.record(ok(tenant, host=host_of(tenant)))
    return watcher


def five_turn_bad(server, state: State = State.Unknown, at: float = 60) -> None:
    from tests.test_incidents import ON3, turn

    server.call(turn, server.watcher, ON3[:5], state, at)


def attached_board(clock, server):
    return make_board(
        clock, [], attach=AttachTarget.parse(server.url), transport=NoSuperOffice(server.url)
    )


def incident_events_of(app) -> list:
    return [e for e in app.board.session.event_log.events if e.kind == "incident"]


async def test_the_servers_host_incidents_show_on_the_attached_board(clock) -> None:
    """serve detects; the attached board shows the incident it reports (the line under the
    header, the event log once when it opens and once when it is resolved)."""
    from tests.test_incidents import ON3, ONLINE3, turn

    with ThreadedServer(incident_fleet()) as server:
        app = attached_board(clock, server)
        async with app.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: app.board.model.total == 14, tries=500)
            await until(pilot, lambda: app.board.session.feed.connected, tries=500)
            five_turn_bad(server)
            incidents = app.board.session.incidents
            await until(pilot, lambda: ONLINE3 in incidents.open, tries=500)
            assert incidents.open[ONLINE3].headline().startswith(f"{ONLINE3}: 5 of 10 tenants")
            assert "host incident" in app.board.incident_line.render().plain
            await until(pilot, lambda: len(incident_events_of(app)) == 1, tries=500)
            server.call(turn, server.watcher, ON3[:5], None, 120)
            await until(pilot, lambda: not incidents.open, tries=500)
            await until(pilot, lambda: len(incident_events_of(app)) == 2, tries=500)
            # Word for word what the server logged.
            on_server = [e for e in server.watcher.session.event_log.events if e.kind == "incident"]
            assert incident_events_of(app) == on_server


async def test_an_attached_board_detects_no_host_incident_of_its_own(clock) -> None:
    """The server decides what is an incident (here: none, as its rules say); the board
    holds none of the checks a detector of its own would hold."""
    from tenantboard.tenant_file import IncidentRules

    with ThreadedServer(incident_fleet(incidents=IncidentRules(enabled=False))) as server:
        app = attached_board(clock, server)
        async with app.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: app.board.model.total == 14, tries=500)
            await until(pilot, lambda: app.board.session.feed.connected, tries=500)
            five_turn_bad(server)
            await until(pilot, lambda: state_of(app, "online:Cust5") == "Unknown", tries=500)
            await pilot.pause()
            incidents = app.board.session.incidents
            assert incidents.open == {} and incident_events_of(app) == []
            assert incidents._hosts == {}


async def test_a_board_attached_during_a_host_incident_shows_it_without_a_new_event(
    clock,
) -> None:
    from tests.test_incidents import ONLINE3

    watcher = incident_fleet()
    with ThreadedServer(watcher) as server:
        five_turn_bad(server)
        app = attached_board(clock, server)
        async with app.run_test(size=(160, 30)) as pilot:
            incidents = app.board.session.incidents
            await until(pilot, lambda: ONLINE3 in incidents.open, tries=500)
            assert "online:Cust1" in incidents.open[ONLINE3].members
            assert app.board.session.incidents.holds("online:Cust1")
            assert incident_events_of(app) == []  # it opened before: nothing happened now
            assert "host incident" in app.board.incident_line.render().plain


def test_a_servers_incident_is_checked_before_the_board_believes_it() -> None:
    from tenantboard.remote import reported_incident, reported_incidents

    sent = {
        "host": "online3.superoffice.com\x1b[2J",
        "status": "open",
        "state": "Unknown\x07",
        "since": "2026-03-02T09:31:00Z",
        "opened_at": "2026-03-02T09:32:00Z",
        "resolved_at": None,
        "tenants_on_host": 10,
        "members": 5,
        "bad": 5,
        "back": 0,
        "peak": 5,
        "member_keys": ["online:Cust1", 7, "online:Cust2"],
    }
    incident = reported_incident(sent)
    assert incident is not None and incident.is_open
    assert (incident.host, incident.state) == ("online3.superoffice.com", "Unknown")
    assert list(incident.members) == ["online:Cust1", "online:Cust2"]
    assert (incident.bad, incident.back, incident.tenants) == (5, 0, 10)
    for broken in ({"bad": True}, {"since": "soon"}, {"member_keys": "online:Cust1"}, {"host": ""}):
        assert reported_incident({**sent, **broken}) is None, broken
    (found,) = reported_incidents({"incidents": [sent, {"host": 1}, "x"]})
    assert found.id == incident.id
    assert reported_incidents([sent]) == []


async def test_an_attached_boards_empty_list_hint_never_offers_the_refused_a(clock) -> None:
    """``a`` is refused on an attached board (the list is the server's), so the empty list
    says what is true: waiting for a server that does not answer, or its list is empty."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    target = AttachTarget.parse("http://127.0.0.1:9")
    app = make_board(clock, [], attach=target, transport=httpx.MockTransport(refused))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(
            pilot, lambda: "lost http://127.0.0.1:9" in app.board.change_line.render().plain
        )
        hint = app.board.table.render_line(1).text
        assert "Waiting for http://127.0.0.1:9" in hint and "press a" not in hint, hint

    with ThreadedServer(idle_watcher([])) as server:
        target = AttachTarget.parse(server.url)
        app = make_board(clock, [], attach=target, transport=NoSuperOffice(server.url))
        async with app.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: said(app, f"attached to {server.url}"), tries=500)
            hint = app.board.table.render_line(1).text
            assert "The server's list is empty" in hint and "press a" not in hint, hint
