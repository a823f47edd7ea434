"""A board attached to a running `tenantboard serve`: its rows come from the server's
snapshot and event stream, and it asks SuperOffice nothing."""

from __future__ import annotations

import httpx
import pytest

from tenantboard.answers import State
from tenantboard.cli import main
from tenantboard.remote import AttachTarget, server_events
from tenantboard.session import ServerStatus
from tenantboard.tenant import Tenant

from .conftest import make_board, until
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
