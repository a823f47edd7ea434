"""`serve`'s only changes, marks (``POST /api/marks``, ``POST /api/marks/ID/clear``):
who may make them (the token in the header, never the cookie alone; only JSON; never from
a page of another site), what they do (recorded, logged with who and from where, silence
the hooks, reach attached boards), and one tenant's availability (``/api/availability``).
All over a real server on loopback."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from tenantboard.answers import State
from tenantboard.history.db import HistoryDB
from tenantboard.history.reader import TenantAvailability
from tenantboard.serve.server import AllowedHosts, build_app, cookie_value, same_origin
from tenantboard.tenant import Tenant

from .conftest import FIXED_NOW, FakeClock
from .serve_helpers import idle_watcher, ok
from .test_board_history import a_bad_day, seed
from .test_serve import client_for_app, restore_logging  # noqa: F401 (a fixture)

TOKEN = "s3cret-token-0123456789"
A = Tenant("Cust1", "online", "Acme")
B = Tenant("Cust2", "online", "")
NOT_CHECKED = Tenant("Cust3", "online", "never checked")
MUTE = {"key": A.key, "kind": "mute", "until": "2026-03-02T10:30:00Z", "by": "ana"}


@pytest.fixture
def history(tmp_path):
    path = tmp_path / "history.sqlite3"
    seed(path, a_bad_day(A.key))
    return path


@pytest.fixture
async def served(history):
    """(client, session) of a serve with a history database, on a fake clock; A and B
    checked, Cust3 not yet. ``client.app_with(...)`` is not needed: each test builds its
    own app through :func:`serving`."""
    watcher = idle_watcher([A, B, NOT_CHECKED], history_path=history, clock=FakeClock())
    watcher.record(ok(A))
    watcher.record(ok(B, State.Suspended))
    yield watcher
    await asyncio.to_thread(watcher.session.writer.close)


async def serving(watcher, **options):
    return await client_for_app(build_app(watcher, **options))


def host_of(client) -> str:
    return f"127.0.0.1:{client.port}"


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def recorded(watcher, *, include_ended: bool = False):
    assert watcher.session.writer.flush()
    with HistoryDB.open(watcher.session.config.history_path, read_only=True) as db:
        return db.marks(include_ended=include_ended)


# -- who may mark --------------------------------------------------------------------------------


async def test_a_mark_needs_the_token_in_the_header_never_the_cookie_alone(served) -> None:
    """The status page's cookie reads, but does not change: a page that can make the
    browser send it (SameSite aside) still cannot mute a tenant."""
    client = await serving(served, token=TOKEN)
    try:
        cookie = {"Cookie": f"tenantboard_token={cookie_value(TOKEN)}"}
        assert (await client.get("/api/snapshot", headers=cookie)).status == 200
        for headers in ({}, cookie, bearer("not-the-token-0123456789")):
            response = await client.post("/api/marks", json=MUTE, headers=headers)
            assert response.status == 401
            assert "Authorization: Bearer TOKEN" in await response.text()
        assert not served.session.is_silenced(A.key)
        response = await client.post("/api/marks", json=MUTE, headers=bearer())
        assert response.status == 201
        assert served.session.is_silenced(A.key)
    finally:
        await client.close()


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", None],
)
async def test_a_form_cannot_make_a_mark(served, content_type) -> None:
    """What an HTML form (or a "simple" cross-site fetch) can send is refused: only JSON,
    which a browser sends to another site only after asking (CORS), which this server
    never allows."""
    for token in (TOKEN, None):
        client = await serving(served, token=token)
        try:
            headers = bearer() if token else {}
            if content_type:
                headers["Content-Type"] = content_type
            body = b'{"key": "online:Cust1", "kind": "ack", "by": "x"}'
            response = await client.post("/api/marks", data=body, headers=headers)
            assert response.status == 415
            assert "Content-Type: application/json" in await response.text()
        finally:
            await client.close()
    assert not served.session.is_silenced(A.key)


async def test_a_page_of_another_site_cannot_make_a_mark(served) -> None:
    """On loopback without a token, and with one: a browser's request whose Origin is
    not this server (another name, another port, a sandboxed page's "null"), or that the
    browser says is cross-site, is refused; the server's own page's is taken."""
    for token in (None, TOKEN):
        client = await serving(served, token=token)
        try:
            auth = bearer() if token else {}
            own = f"http://{host_of(client)}"
            for headers in (
                {"Origin": "http://evil.example"},
                {"Origin": "http://127.0.0.1:1"},  # another server on this machine
                {"Origin": "null"},
                {"Sec-Fetch-Site": "cross-site"},
                {"Origin": own, "Sec-Fetch-Site": "same-site"},
            ):
                response = await client.post("/api/marks", json=MUTE, headers=auth | headers)
                assert response.status == 403, headers
                assert "another site" in await response.text()
            assert not served.session.is_silenced(A.key)
            same = {"Origin": own, "Sec-Fetch-Site": "same-origin"}
            response = await client.post("/api/marks", json=MUTE, headers=auth | same)
            assert response.status == 201
            mark_id = (await response.json())["mark"]["id"]
            response = await client.post(
                f"/api/marks/{mark_id}/clear", json={"by": "ana"}, headers=auth | same
            )
            assert response.status == 200
        finally:
            await client.close()


async def test_without_a_token_only_a_loopback_server_takes_marks(served) -> None:
    """--insecure-public lets everyone read; it does not let everyone silence alerts."""
    client = await serving(served, hosts=AllowedHosts.for_listen("0.0.0.0"))
    try:
        assert (await client.get("/api/snapshot")).status == 200
        response = await client.post("/api/marks", json=MUTE)
        assert response.status == 403
        assert "--token-file" in await response.text()
    finally:
        await client.close()
    assert not served.session.is_silenced(A.key)


async def test_nothing_else_is_changed_by_any_method(served) -> None:
    client = await serving(served)
    try:
        for method, path in (
            ("DELETE", "/api/marks"),
            ("PUT", "/api/marks"),
            ("OPTIONS", "/api/marks"),  # a browser's CORS question: no
            ("POST", "/api/snapshot"),
            ("POST", "/api/marks/1"),
            ("POST", "/api/marks/x/clear"),
        ):
            response = await client.request(method, path, json=MUTE)
            assert response.status == 405, (method, path)
    finally:
        await client.close()


# -- what a mark does ------------------------------------------------------------------------------


async def test_a_mark_is_recorded_told_and_cleared_with_who_made_it(served, caplog) -> None:
    """Recorded as given (``by``), logged with where it came from and how it was let in,
    published to attached boards; cleared the same way, with who cleared it."""
    session = served.session
    client = await serving(served, token=TOKEN)
    caplog.set_level(logging.INFO, logger="tenantboard")
    try:
        response = await client.post("/api/marks", json=MUTE, headers=bearer())
        assert response.status == 201
        answer = await response.json()
        mark = answer["mark"]
        assert answer["saved"] is True
        assert {key: mark[key] for key in ("key", "kind", "by", "until", "state")} == {
            "key": A.key,
            "kind": "mute",
            "by": "ana",
            "until": "2026-03-02T10:30:00Z",
            "state": "Running",
        }
        (saved,) = recorded(served)
        assert (saved.id, saved.by, saved.until) == (
            mark["id"],
            "ana",
            FIXED_NOW + timedelta(hours=1),
        )
        assert "through the API from 127.0.0.1, with the token" in caplog.text
        assert "muted by ana at 09:30, until 10:30" in caplog.text
        last = served.hub.recent[-1]
        assert last.kind == "result" and b'"by": "ana"' in last.data  # to attached boards

        response = await client.post(
            f"/api/marks/{mark['id']}/clear", json={"by": "bo"}, headers=bearer()
        )
        assert response.status == 200
        assert not session.is_silenced(A.key)
        (ended,) = recorded(served, include_ended=True)
        assert ended.ended_at is not None
        assert session.event_log.events[0].text.startswith("mute cleared by bo (muted by ana")
        again = await client.post(
            f"/api/marks/{mark['id']}/clear", json={"by": "bo"}, headers=bearer()
        )
        assert again.status == 404
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[]", 400, "JSON object"),
        ({**MUTE, "colour": "red"}, 400, "unknown field 'colour'"),
        ({**MUTE, "kind": "snooze"}, 400, '"kind" must be'),
        ({**MUTE, "by": "  "}, 400, '"by" must say who'),
        ({k: v for k, v in MUTE.items() if k != "by"}, 400, '"by" must say who'),
        ({**MUTE, "until": "tomorrow"}, 400, '"until" is not a time'),
        ({**MUTE, "until": "2026-03-02T09:00:00Z"}, 400, "later than now"),
        ({**MUTE, "until": "2026-06-02T09:00:00Z"}, 400, "within 31 days"),
        ({**MUTE, "kind": "ack"}, 400, "until the state changes"),
        ({**MUTE, "key": "online:Nobody"}, 404, "no tenant 'online:Nobody'"),
        ({**MUTE, "key": NOT_CHECKED.key}, 409, "not checked yet"),
        ({**MUTE, "by": "x" * 2000}, 413, ""),
    ],
)
async def test_a_mark_request_is_checked(served, body, status, said) -> None:
    client = await serving(served)
    try:
        if isinstance(body, bytes):
            headers = {"Content-Type": "application/json"}
            response = await client.post("/api/marks", data=body, headers=headers)
        else:
            response = await client.post("/api/marks", json=body)
        assert response.status == status
        if response.content_type == "application/json":
            assert said in (await response.json())["error"]
        else:
            assert said in await response.text()
    finally:
        await client.close()
    assert not served.session.marks.all()


async def test_a_name_is_recorded_as_given_but_never_as_control_characters(served) -> None:
    client = await serving(served)
    try:
        body = {**MUTE, "by": "ana\x1b[31m\n<b>"}
        response = await client.post("/api/marks", json=body)
        assert response.status == 201
        assert (await response.json())["mark"]["by"] == "ana <b>"
    finally:
        await client.close()


# -- one tenant's availability -----------------------------------------------------------------


async def test_one_tenants_availability_with_its_strip(served) -> None:
    """What the detail pane shows, as JSON, read from the history database; the token
    rules of every read."""
    client = await serving(served, token=TOKEN)
    try:
        assert (await client.get(f"/api/availability/{A.key}")).status == 401
        response = await client.get(f"/api/availability/{A.key}", headers=bearer())
        assert response.status == 200
        data = await response.json()
        assert data["key"] == A.key and data["read_at"] == "2026-03-02T09:30:00Z"
        assert [window["label"] for window in data["windows"]] == ["24 h", "7 d", "30 d"]
        day = data["windows"][0]
        assert day["uptime"] == pytest.approx(0.9166, abs=1e-3)
        assert day["from"] == "2026-03-01T09:30:00Z" and day["to"] == "2026-03-02T09:30:00Z"
        assert day["incidents"] == 1 and day["longest_incident_seconds"] == 7200
        assert data["strip_days"] == 30 and len(data["strip"]) == 30
        assert data["strip"][-2:] == ["CRITICAL", "OK"] and data["strip"][0] is None
        figures = TenantAvailability.from_json(data)  # what an attached board reads
        assert figures == served.session.availability[A.key]
        for path in ("/api/availability/online:Nobody", "/api/availability/online%3ANobody"):
            response = await client.get(path, headers=bearer())
            assert response.status == 404 and "no tenant" in await response.text()
    finally:
        await client.close()


async def test_a_server_without_history_says_so(served) -> None:
    watcher = idle_watcher([A])
    watcher.record(ok(A))
    client = await serving(watcher)
    try:
        response = await client.get(f"/api/availability/{A.key}")
        assert response.status == 404
        assert "keeps no history database" in (await response.json())["error"]
    finally:
        await client.close()


# -- the rules and the shapes, one by one ----------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:9464", "127.0.0.1:9464", True),
        ("http://LOCALHOST:9464", "localhost:9464", True),
        ("https://status.example.com", "status.example.com", True),
        ("https://status.example.com:443", "status.example.com", True),
        ("http://[::1]:9464", "[::1]:9464", True),
        ("http://127.0.0.1:9465", "127.0.0.1:9464", False),
        ("https://127.0.0.1:9464", "127.0.0.1:9464", True),  # a TLS proxy on the same port
        ("http://status.example.com", "status.example.com:8443", False),
        ("http://evil.example", "127.0.0.1:9464", False),
        ("null", "127.0.0.1:9464", False),
        ("http://127.0.0.1:9464/path", "127.0.0.1:9464", False),
        ("ftp://127.0.0.1:9464", "127.0.0.1:9464", False),
        ("http://127.0.0.1:9464", None, False),
    ],
)
def test_same_origin(origin, host, same) -> None:
    assert same_origin(origin, host) is same


@pytest.mark.parametrize(
    "change",
    [
        {"windows": []},
        {"read_at": "soon"},
        {"strip": ["PURPLE"]},
        {"strip": [None] * 31},
        {"windows": [{"label": "1 y"}]},
    ],
)
async def test_availability_that_does_not_check_out_is_refused(served, change) -> None:
    await served.session.read_availability([A.key], with_strip=True)
    good = served.session.availability[A.key].as_json()
    with pytest.raises(ValueError):
        TenantAvailability.from_json({**good, **change})
    day = {**good["windows"][0], "observed_seconds": float("inf")}
    with pytest.raises(ValueError):
        TenantAvailability.from_json({**good, "windows": [day]})
