"""`serve`: the endpoints, the token rules, reloading the tenant file, the event stream,
and a real `tenantboard serve` process stopping on SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tenantboard.answers import State
from tenantboard.check_output import check_record
from tenantboard.errors import ErrorKind
from tenantboard.serve.server import (
    AllowedHosts,
    Limits,
    ServeError,
    build_app,
    parse_listen,
    token_rule,
)
from tenantboard.serve.watcher import Watcher
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import TenantStore
from tests.serve_helpers import failed, idle_watcher, ok

TOKEN = "s3cret-token-0123456789"
A = Tenant("Cust1", "online", "Acme")
B = Tenant("Cust2", "sod", "")
C = Tenant("Cust3", "stage", "never checked")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`serve` run in-process points tenantboard's log at its stderr: undo that after."""
    loggers = [logging.getLogger(name) for name in ("tenantboard", "aiohttp")]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    yield
    for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
        logger.handlers[:], logger.propagate, logger.level = handlers, propagate, level


@pytest.fixture
def watcher() -> Watcher:
    watcher = idle_watcher([A, B, C])
    watcher.record(ok(A))
    watcher.record(failed(B, ErrorKind.UNAVAILABLE))
    return watcher


async def client_for(watcher: Watcher, token: str | None = None) -> TestClient:
    return await client_for_app(build_app(watcher, token=token))


async def client_for_app(app) -> TestClient:
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


# -- token rules --------------------------------------------------------------------------------


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("9464", "127.0.0.1", ":9464", "host:port", "1.2.3.4:70000"):
        with pytest.raises(ServeError):
            parse_listen(bad)


def test_loopback_needs_no_token_but_anything_else_does(tmp_path: Path) -> None:
    assert token_rule("127.0.0.1", None, False) is None
    assert token_rule("::1", None, False) is None
    assert token_rule("localhost", None, False) is None
    for host in ("0.0.0.0", "192.168.1.10", "::", "monitor.example.com"):
        with pytest.raises(ServeError, match="--token-file"):
            token_rule(host, None, False)
        assert token_rule(host, None, True) is None  # said in words: --insecure-public
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    assert token_rule("0.0.0.0", token_file, False) == TOKEN
    assert token_rule("127.0.0.1", token_file, False) == TOKEN  # given: enforced anywhere
    token_file.write_text("short\n")
    with pytest.raises(ServeError, match="at least 16"):
        token_rule("0.0.0.0", token_file, False)
    with pytest.raises(ServeError, match="cannot read"):
        token_rule("0.0.0.0", tmp_path / "missing", False)


def test_the_cli_refuses_a_public_address_without_a_token(capsys) -> None:
    from tenantboard.cli import main

    assert main(["serve", "--listen", "0.0.0.0:9464"]) == 64
    assert "--token-file" in capsys.readouterr().err


async def test_the_token_is_required_everywhere_but_healthz(watcher) -> None:
    client = await client_for(watcher, TOKEN)
    try:
        for path in ("/", "/metrics", "/api/tenants", "/api/snapshot", "/api/events"):
            response = await client.get(path)
            assert response.status == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = await client.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
            assert wrong.status == 401, path
        assert (await client.get("/healthz")).status == 200
        assert (
            await client.get("/api/tenants", headers={"Authorization": f"Bearer {TOKEN}"})
        ).status == 200
    finally:
        await client.close()


async def test_the_token_in_the_address_only_opens_the_page_then_a_cookie_carries_it(
    watcher,
) -> None:
    """?token= is taken on / only, answered with the same address without it and a strict
    cookie; the cookie opens the page and the JSON it reads, never /metrics; ?token= is
    refused everywhere else (it would stay in logs, history and Referer)."""
    client = await client_for(watcher, TOKEN)
    try:
        for path in ("/metrics", "/api/tenants", "/api/snapshot", "/api/events"):
            refused = await client.get(path, params={"token": TOKEN})
            assert refused.status == 401, path
            assert "only opens the status page" in await refused.text()
        opened = await client.get(f"/?token={TOKEN}&refresh=1", allow_redirects=False)
        assert opened.status == 303
        assert opened.headers["Location"] == "./?refresh=1"
        cookie = opened.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        assert TOKEN not in cookie  # the browser keeps a value made from it, not the token
        assert (await client.get("/", allow_redirects=False)).status == 200  # the cookie
        assert (await client.get("/api/snapshot")).status == 200
        assert (await client.get("/metrics")).status == 401  # the header only
        wrong = await client.get("/?token=not-the-token", allow_redirects=False)
        assert wrong.status == 401
        behind_tls = await client.get(
            f"/?token={TOKEN}", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False
        )
        assert "Secure" in behind_tls.headers["Set-Cookie"]
        assert behind_tls.headers["Location"] == "./"
    finally:
        await client.close()


async def test_no_response_names_the_servers_software_version(watcher) -> None:
    client = await client_for(watcher, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        responses = [
            await client.get("/healthz"),
            await client.get("/api/snapshot", headers=auth),
            await client.get("/api/tenants"),  # 401
            await client.get("/nowhere", headers=auth),  # 404
            await client.post("/", headers=auth),  # 405
            await client.get("/", headers={"Host": "elsewhere.example"}),  # 421
        ]
    finally:
        await client.close()
    assert [response.status for response in responses] == [200, 200, 401, 404, 405, 421]
    assert {response.headers.get("Server") for response in responses} == {"tenantboard"}


async def test_nothing_changes_anything(watcher) -> None:
    client = await client_for(watcher, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            for path in ("/", "/api/tenants", "/metrics", "/healthz", "/nowhere"):
                response = await client.request(method, path, headers=auth)
                assert response.status == 405, (method, path)
                assert response.headers["Allow"] == "GET,HEAD"
        assert (await client.head("/api/tenants", headers=auth)).status == 200
    finally:
        await client.close()


# -- the Host names it answers ------------------------------------------------------------------


def test_the_host_names_it_answers() -> None:
    loopback = AllowedHosts.for_listen("127.0.0.1")
    for host in ("127.0.0.1", "127.0.0.1:9464", "localhost", "LOCALHOST:9464", "localhost."):
        assert loopback.allows(host), host
    for host in ("rebind.attacker.example", "127.0.0.1.nip.io:9464", "[::1]:9464", "", None):
        assert not loopback.allows(host), host
    assert AllowedHosts.for_listen("::1").allows("[::1]:9464")
    assert AllowedHosts.for_listen("localhost").allows("[::1]:9464")
    public = AllowedHosts.for_listen("0.0.0.0", ["status.example.com", "Proxy.Example:443"])
    for host in ("10.1.2.3:9464", "[2001:db8::1]:9464", "status.example.com", "proxy.example"):
        assert public.allows(host), host
    for host in ("localhost", "other.example.com"):  # a name only when given
        assert not public.allows(host), host
    one = AllowedHosts.for_listen("192.168.1.10")
    assert one.allows("192.168.1.10:9464") and not one.allows("192.168.1.11")
    for bad in ("", "a b", "http://x", "x/y", "*"):
        with pytest.raises(ServeError, match="--allow-host"):
            AllowedHosts.for_listen("127.0.0.1", [bad])


async def test_a_page_on_another_host_name_cannot_read_it(watcher) -> None:
    """DNS rebinding: a web page on a name of the attacker's that now resolves to
    127.0.0.1 sends that name as Host; no token needed on loopback, so the name is what
    stops it. /healthz answers any Host (probes use addresses and names of their own)."""
    app = build_app(watcher, hosts=AllowedHosts.for_listen("127.0.0.1", ["board.example"]))
    client = await client_for_app(app)
    try:
        for path in ("/", "/api/snapshot", "/api/tenants", "/api/events", "/metrics"):
            response = await client.get(path, headers={"Host": "rebind.attacker.example"})
            assert response.status == 421, path
            text = await response.text()
            assert "--allow-host" in text and text.count("\n") == 1
        port = client.port
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "board.example"):
            assert (await client.get("/api/tenants", headers={"Host": host})).status == 200
        healthz = await client.get("/healthz", headers={"Host": "rebind.attacker.example"})
        assert healthz.status == 200
    finally:
        await client.close()


def test_the_cli_refuses_a_bad_allowed_host_name(capsys) -> None:
    from tenantboard.cli import main

    assert main(["serve", "--allow-host", "not a name"]) == 64
    assert "--allow-host" in capsys.readouterr().err
    assert main(["serve", "--max-connections", "0"]) == 64


# -- the endpoints ----------------------------------------------------------------------------------


async def test_api_tenants_is_exactly_what_check_json_prints(watcher) -> None:
    client = await client_for(watcher)
    try:
        response = await client.get("/api/tenants")
        assert response.headers["Content-Type"].startswith("application/json")
        got = await response.json()
    finally:
        await client.close()
    rows = watcher.model.rows
    expected = [check_record(rows[A.key].last), check_record(rows[B.key].last)]
    assert got == expected  # the tenant not checked yet is left out


async def test_api_tenants_entries_have_check_jsons_keys_and_marks(tmp_path, capsys) -> None:
    """A real `check --json` (against the simulator) and /api/tenants on the same tenant
    file, with a mute in its history database: one tenant's entry has the same keys, in
    the same order, and the same mute."""
    from tenantboard.cli import main
    from tenantboard.paths import history_path
    from tenantboard.simulator import Simulator
    from tenantboard.simulator import serve as simulate

    config = tmp_path / "tenants.toml"
    config.write_text("[[tenants]]\ncontext_id = 'Cust1001'\n")
    tenant = Tenant("Cust1001")
    watcher = idle_watcher([tenant], history_path=history_path(config))
    writer = watcher.session.writer
    simulator = await simulate(0, simulator=Simulator(slow_delay=0))
    try:
        now = watcher.clock.wall()
        await asyncio.wrap_future(
            writer.call(
                lambda db: db.add_mark(
                    tenant.key, "mute", "Running", now, until=now + timedelta(hours=1), by="ana"
                )
            )
        )
        url = f"http://127.0.0.1:{simulator.sockets[0].getsockname()[1]}"
        args = ["check", "--json", "--config", str(config), "--base-url", url]
        await asyncio.to_thread(main, args)
        (printed,) = json.loads(capsys.readouterr().out)
        watcher.record(ok(tenant))
        await watcher.session.read_marks()
        client = await client_for_app(build_app(watcher))
        try:
            (served,) = await (await client.get("/api/tenants")).json()
        finally:
            await client.close()
    finally:
        simulator.close()
        await simulator.wait_closed()
        await asyncio.to_thread(writer.close)
    assert list(served) == list(printed)
    assert served["muted"] == printed["muted"] != None  # noqa: E711
    assert served["muted"]["by"] == "ana"
    assert served["acknowledged"] is printed["acknowledged"] is None


async def test_api_tenants_drops_an_acknowledgement_once_the_outcome_changes(tmp_path) -> None:
    """Marks are read every 30 s; one that lasts until the tenant's outcome changes is
    gone from /api/tenants as soon as the change arrives, as `check --json` would say."""
    watcher = idle_watcher([A, B], history_path=tmp_path / "history.sqlite3")
    writer = watcher.session.writer
    try:
        watcher.record(ok(A))
        watcher.record(ok(B))
        now = watcher.clock.wall()
        for tenant in (A, B):
            await asyncio.wrap_future(
                writer.call(lambda db, key=tenant.key: db.add_mark(key, "ack", "Running", now))
            )
        await watcher.session.read_marks()
        watcher.record(ok(B, State.Suspended, at=60))
        client = await client_for_app(build_app(watcher))
        try:
            a, b = await (await client.get("/api/tenants")).json()
        finally:
            await client.close()
    finally:
        await asyncio.to_thread(writer.close)
    assert a["acknowledged"]["state"] == "Running" and a["muted"] is None
    assert b["acknowledged"] is None and b["state"] == "Suspended"


async def test_snapshot_rows_carry_uptime_and_marks_from_the_history(tmp_path) -> None:
    """As the board's Up 24h column and its mute marks: read from the history database
    (uptime in a thread each minute, marks every 30 s) into the rows and their ETag."""
    from .conftest import FakeClock
    from .test_board_history import a_bad_day, seed

    history = tmp_path / "history.sqlite3"
    seed(history, a_bad_day(A.key))  # two hours of the last 24 not running
    watcher = idle_watcher([A, B], history_path=history, clock=FakeClock())
    session, writer = watcher.session, watcher.session.writer
    assert session.uptime_wanted  # serve's session reads every tenant's uptime each minute
    watcher.record(ok(A))
    try:
        now = watcher.clock.wall()
        mute = await asyncio.wrap_future(
            writer.call(
                lambda db: db.add_mark(
                    B.key, "mute", "Running", now, until=now + timedelta(hours=1), by="ana"
                )
            )
        )
        await session.read_marks()
        await session.read_availability(list(watcher.model.list_order), with_strip=False)
        client = await client_for_app(build_app(watcher))
        try:
            response = await client.get("/api/snapshot")
            a, b = (await response.json())["tenants"]
            # bo takes over the mute: the same kind of mark, by someone else
            await asyncio.wrap_future(writer.call(lambda db: db.end_mark(mute.id, now)))
            await asyncio.wrap_future(
                writer.call(lambda db: db.add_mark(B.key, "mute", "Running", now, by="bo"))
            )
            await session.read_marks()
            etag = {"If-None-Match": response.headers["ETag"]}
            after = await client.get("/api/snapshot", headers=etag)
            assert after.status == 200  # the snapshot changed
            _, b_after = (await after.json())["tenants"]
        finally:
            await client.close()
    finally:
        await asyncio.to_thread(writer.close)
    assert a["uptime_24h"] == pytest.approx(0.9166, abs=1e-3) and a["marks"] is None
    assert b["uptime_24h"] is None  # nothing recorded for it
    assert b["marks"] == {
        "muted": {
            "id": mute.id,
            "by": "ana",
            "created_at": "2026-03-02T09:30:00Z",
            "until": "2026-03-02T10:30:00Z",
            "state": "Running",
        },
        "acknowledged": None,
    }
    assert b_after["marks"]["muted"]["by"] == "bo" and b_after["marks"]["muted"]["until"] is None
    assert b_after["rev"] != b["rev"]


async def test_serve_keeps_an_acknowledgement_while_checks_fail(tmp_path) -> None:
    """Acknowledge a Suspended tenant, lose the network: the failed checks are not "its
    state changed"; the acknowledgement holds (hooks stay silent) until another state
    is answered."""
    from tenantboard.history.db import HistoryDB

    history = tmp_path / "history.sqlite3"
    watcher = idle_watcher([A], history_path=history)
    session, writer = watcher.session, watcher.session.writer
    try:
        watcher.record(ok(A, State.Suspended))
        now = watcher.clock.wall()
        await asyncio.wrap_future(
            writer.call(lambda db: db.add_mark(A.key, "ack", "Suspended", now))
        )
        await session.read_marks()
        watcher.record(failed(A, ErrorKind.CONNECT, at=60))
        assert A.key in session.marks_by_kind()
        await session.read_marks()  # the 30-second read: nothing ended
        assert session.is_silenced(A.key)
        watcher.record(ok(A, State.Running, at=120))
        assert session.marks_by_kind() == {}
        await session.read_marks()
        assert not session.is_silenced(A.key)
    finally:
        await asyncio.to_thread(writer.close)
    with HistoryDB.open(history, read_only=True) as db:
        (ended,) = db.marks(include_ended=True)
        assert ended.ended_at is not None  # ended by the answer, not by the failure


async def test_the_snapshot_has_every_tenant_and_an_etag(watcher) -> None:
    client = await client_for(watcher)
    try:
        response = await client.get("/api/snapshot")
        snapshot = await response.json()
        etag = response.headers["ETag"]
        assert (await client.get("/api/snapshot", headers={"If-None-Match": etag})).status == 304
        watcher.record(ok(A, State.Suspended, at=60))
        assert (await client.get("/api/snapshot", headers={"If-None-Match": etag})).status == 200
    finally:
        await client.close()
    assert [row["key"] for row in snapshot["tenants"]] == [A.key, B.key, C.key]
    a, b, c = snapshot["tenants"]
    assert (a["severity"], a["glyph"], a["state"], a["endpoint_host"]) == (
        "OK",
        "✔",
        "Running",
        "online3.superoffice.com",
    )
    assert a["result"]["state_code"] == 2 and a["last_change"] == a["checked_at"]
    assert (b["severity"], b["error"]["kind"], b["result"]["error"]["status"]) == (
        "UNKNOWN",
        "unavailable",
        503,
    )
    assert (c["severity"], c["result"], c["checked_at"]) == ("PENDING", None, None)
    assert snapshot["severities"] == {
        "ok": 1,
        "warning": 0,
        "critical": 0,
        "unknown": 1,
        "pending": 1,
    }
    assert snapshot["seq"] == watcher.hub.seq - 2  # the change above: a result and a change event


async def test_the_page_and_every_response_carry_a_strict_policy(watcher) -> None:
    client = await client_for(watcher)
    try:
        page = await client.get("/")
        html = await page.text()
        api = await client.get("/api/tenants")
    finally:
        await client.close()
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert "unsafe-inline" not in policy
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no external assets
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert api.headers["Cache-Control"] == "no-store"


async def test_healthz_and_metrics(watcher) -> None:
    client = await client_for(watcher)
    try:
        assert await (await client.get("/healthz")).text() == "ok\n"
        metrics = await client.get("/metrics")
        text = await metrics.text()
    finally:
        await client.close()
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'tenantboard_tenant_state{context_id="Cust1",env="online",label="Acme"} 2.0' in text


#: What Prometheus 3 sends when it scrapes (scrape_protocols' default), and formats a
#: scraper may ask for alone.
PROMETHEUS_3_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)


@pytest.mark.parametrize(
    "accept",
    [
        PROMETHEUS_3_ACCEPT,
        "application/openmetrics-text",
        "text/plain; version=1.0.0; escaping=allow-utf-8",
    ],
)
async def test_metrics_answers_whatever_format_the_scraper_asks_for(watcher, accept) -> None:
    """Prometheus 3's own Accept header got a 500 (the encoders were looked up by two
    content types only)."""
    client = await client_for(watcher)
    try:
        metrics = await client.get("/metrics", headers={"Accept": accept})
        text = await metrics.text()
    finally:
        await client.close()
    assert metrics.status == 200
    wanted = accept.split(";")[0].split(",")[0]
    assert metrics.headers["Content-Type"].startswith(wanted)
    assert 'tenantboard_tenant_state{context_id="Cust1",env="online",label="Acme"} 2.0' in text
    if wanted.startswith("application/openmetrics-text"):
        assert text.endswith("# EOF\n")


# -- the event stream --------------------------------------------------------------------------------


async def read_events(response, count: int) -> list[tuple[str, str, dict]]:
    """The next ``count`` events (id, type, data) from a text/event-stream response."""
    events: list[tuple[str, str, dict]] = []
    fields: dict[str, str] = {}
    while len(events) < count:
        line = (await asyncio.wait_for(response.content.readline(), 10)).decode().rstrip("\n")
        if not line:
            if "event" in fields:
                events.append((fields["id"], fields["event"], json.loads(fields["data"])))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


async def test_the_event_stream_tells_results_and_changes(watcher) -> None:
    client = await client_for(watcher)
    try:
        response = await client.get("/api/events")
        assert response.headers["Content-Type"] == "text/event-stream"
        watcher.record(ok(A, State.OfflineMaintenance, at=60))
        (seq1, kind1, row), (seq2, kind2, change) = await read_events(response, 2)
        assert (kind1, row["key"], row["state"], row["severity"]) == (
            "result",
            A.key,
            "OfflineMaintenance",
            "WARNING",
        )
        assert (kind2, change["kind"], change["text"], change["worse"]) == (
            "change",
            "state",
            "Running → OfflineMaintenance",
            True,
        )
        assert int(seq2) == int(seq1) + 1 == watcher.hub.seq
        response.close()
        # A client that reconnects with the last id it saw gets what it missed, in order.
        watcher.record(ok(A, at=120))
        replay = await client.get("/api/events", headers={"Last-Event-ID": seq2})
        missed = await read_events(replay, 2)
        assert [kind for _, kind, _ in missed] == ["result", "change"]
        assert missed[1][2]["text"] == "OfflineMaintenance → Running"
        replay.close()
    finally:
        await client.close()


async def test_a_client_too_far_behind_is_told_to_start_again() -> None:
    watcher = idle_watcher([A])
    watcher.hub.recent = type(watcher.hub.recent)(maxlen=4)
    for second in range(10):
        watcher.record(ok(A, at=second))
    subscription = watcher.hub.subscribe(last_event_id=1)
    [reset] = await subscription.next_batch(1)
    assert reset.kind == "reset" and json.loads(reset.data)["seq"] == watcher.hub.seq


@pytest.mark.parametrize(
    "value",
    ["²", "1" * 5000, "-1", "12a", "\uff11\uff12"],
    ids=["superscript-two", "5000-digits", "negative", "not-a-number", "fullwidth-digits"],
)
async def test_a_bad_last_event_id_is_a_400_in_one_line_and_one_quiet_log_line(
    watcher, caplog, value: str
) -> None:
    """'²' passes str.isdigit but not int(); 5,000 digits pass both: neither may crash
    the stream with a traceback."""
    client = await client_for(watcher)
    try:
        with caplog.at_level(logging.DEBUG):
            by_query = await client.get("/api/events", params={"last_event_id": value})
            by_header = await client.get(
                "/api/events", headers={"Last-Event-ID": value.encode().decode("latin-1")}
            )
        for response in (by_query, by_header):
            assert response.status == 400
            text = await response.text()
            assert "Last-Event-ID" in text and text.count("\n") == 1
    finally:
        await client.close()
    assert not any(record.exc_info for record in caplog.records)
    refusals = [r for r in caplog.records if r.name == "tenantboard.serve"]
    assert len(refusals) == 2 and {r.levelno for r in refusals} == {logging.INFO}


def test_our_outage_ending_is_one_line_of_serves_log(caplog) -> None:
    """The session logged the outage's summary and serve logged its event: two lines."""
    from tests.serve_helpers import begin_outage, end_outage

    watcher = idle_watcher([Tenant("Cust1"), Tenant("Cust2")])
    with caplog.at_level(logging.INFO):
        begin_outage(watcher.session, at=30)
        end_outage(watcher.session, at=300)
    ended = [r for r in caplog.records if "could not reach SuperOffice" in r.getMessage()]
    assert len(ended) == 1, [r.getMessage() for r in ended]


# -- slow, many and malformed clients, on real sockets ---------------------------------------------


@pytest.fixture
async def listening(watcher):
    """``listen(app, limits)`` on 127.0.0.1 as `serve` runs it; yields its port."""
    from tenantboard.serve.server import listen

    runners = []

    async def start(limits: Limits) -> int:
        runner = await listen(build_app(watcher), "127.0.0.1", 0, limits)
        runners.append(runner)
        return runner.addresses[0][1]

    yield start
    watcher.hub.close()
    for runner in runners:
        await runner.cleanup()


async def connect(
    port: int, send: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(send)
    await writer.drain()
    return reader, writer


async def closed_after(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], within: float
) -> float:
    """Seconds until the server closed the connection (it sends nothing first)."""
    started = time.monotonic()
    assert await asyncio.wait_for(connection[0].read(), within) == b""
    return time.monotonic() - started


HALF_A_REQUEST = b"GET /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: appl"
EVENTS = b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def test_a_connection_that_never_finishes_its_request_is_closed(listening) -> None:
    port = await listening(Limits(idle_timeout=0.5))
    half = await connect(port, HALF_A_REQUEST)
    silent = await connect(port)
    assert 0.3 < await closed_after(half, within=5) < 3
    assert await closed_after(silent, within=5) < 3
    # An idle keep-alive connection too, after its answer.
    idle = await connect(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await idle[0].readuntil(b"ok\n")).startswith(b"HTTP/1.1 200")
    idle[1].write(HALF_A_REQUEST)
    assert await closed_after(idle, within=5) < 3


async def test_the_event_stream_outlives_the_idle_timeout(listening, watcher) -> None:
    port = await listening(Limits(idle_timeout=0.3))
    stream, _writer = await connect(port, EVENTS)
    assert b"retry: 5000" in await stream.readuntil(b"tenantboard events\n\n")
    await asyncio.sleep(1.0)  # over three idle timeouts: a stream is not idle
    watcher.record(ok(A, State.Suspended, at=60))
    assert b"event: result" in await asyncio.wait_for(stream.readuntil(b"\n\n"), 5)


async def test_connections_past_the_cap_are_closed_at_once(listening) -> None:
    port = await listening(Limits(max_connections=2, idle_timeout=30))
    streams = [await connect(port, EVENTS) for _ in range(2)]
    for reader, _ in streams:  # both taken: the event stream counts
        await reader.readuntil(b"tenantboard events\n\n")
    third = await connect(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert await closed_after(third, within=5) < 3  # not after the 30 s idle timeout
    streams[0][1].close()
    for _ in range(100):  # once one closes, a new one is served
        reader, _writer = await connect(port, b"GET /healthz HTTP/1.0\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        if answer:
            break
        await asyncio.sleep(0.02)
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"ok\n")


async def test_a_malformed_request_is_a_400_and_one_quiet_log_line(listening, caplog) -> None:
    port = await listening(Limits())
    with caplog.at_level(logging.DEBUG):
        reader, _writer = await connect(
            port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    assert not any(record.exc_info for record in caplog.records)
    assert not any(record.levelno >= logging.WARNING for record in caplog.records)
    [line] = [r for r in caplog.records if r.name == "tenantboard.serve"]
    assert line.levelno == logging.INFO and "malformed request" in line.getMessage()


# -- the tenant file ----------------------------------------------------------------------------------


class Spy:
    """A tenant store that notes each time the file is read."""

    def __init__(self, store: TenantStore, read: list[str]) -> None:
        self._store = store
        self._read = read

    def fingerprint(self):
        return self._store.fingerprint()

    def load(self):
        self._read.append("load")
        return self._store.load()


async def test_the_tenant_file_is_reloaded_and_a_broken_one_keeps_the_list(
    tmp_path: Path, caplog
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text('[[tenants]]\ncontext_id = "Cust1"\nlabel = "Acme"\n', encoding="utf-8")
    store = TenantStore(path)
    watcher = idle_watcher(store.load().tenants, store=store)
    watcher.record(ok(A))
    read = []
    watcher.session.keeper.store = Spy(store, read)
    await watcher.session.look_at_file()
    assert read == []  # unchanged: not even read
    watcher.session.keeper.store = store

    path.write_text(
        path.read_text() + '\n[[tenants]]\ncontext_id = "Cust2"\nenv = "sod"\n', encoding="utf-8"
    )
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    subscription = watcher.hub.subscribe()
    await watcher.session.look_at_file()
    assert list(watcher.model.rows) == [A.key, B.key]
    assert watcher.model.rows[A.key].checks == 1  # kept what it knew
    assert watcher.session.monitor.due_at(B.key) is not None  # the new one is checked
    [reset] = await subscription.next_batch(1)
    assert reset.kind == "reset"

    path.write_text("[[tenants]\nbroken", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    await watcher.session.look_at_file()
    assert list(watcher.model.rows) == [A.key, B.key]
    assert "cannot be used" in caplog.text and "Kept the list" in caplog.text
    assert "not valid TOML" in json.loads(watcher.snapshot_text())["tenant_file_error"]
    assert path.read_text() == "[[tenants]\nbroken"  # never touched
    caplog.clear()
    said = await watcher.session.reload()  # SIGHUP: the same problem, said by the reply only
    assert "not re-read" in said and "not valid TOML" in said
    assert "cannot be used" not in caplog.text

    path.unlink()
    await watcher.session.look_at_file()
    assert list(watcher.model.rows) == [A.key, B.key]
    assert "gone" in watcher.file_error


# -- a real process -------------------------------------------------------------------------------------


@pytest.fixture
def simulator_port() -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tenantboard", "simulate", "--port", "0", "--slow-delay", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        yield int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    finally:
        process.kill()
        process.wait()


def start_serve(tmp_path: Path, simulator_port: int) -> tuple[subprocess.Popen, str]:
    config = tmp_path / "tenants.toml"
    config.write_text(
        '[[tenants]]\ncontext_id = "Cust1001"\n\n[[tenants]]\ncontext_id = "Cust1008"\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tenantboard",
            "serve",
            "--config",
            str(config),
            "--base-url",
            f"http://127.0.0.1:{simulator_port}",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    first = json.loads(process.stderr.readline())
    url = re.search(r"http://127\.0\.0\.1:\d+", first["message"]).group(0)
    return process, url


def wait_for_both_checked(url: str) -> list[dict]:
    for _ in range(200):
        tenants = httpx.get(f"{url}/api/tenants").json()
        if len(tenants) == 2:
            return tenants
        time.sleep(0.05)
    raise AssertionError("the tenants were never checked")


@pytest.mark.parametrize(
    ("signum", "code", "name"), [(signal.SIGTERM, 0, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")]
)
def test_a_real_serve_checks_then_stops_cleanly_on_a_signal(
    tmp_path, simulator_port, signum, code, name
) -> None:
    process, url = start_serve(tmp_path, simulator_port)
    try:
        tenants = wait_for_both_checked(url)
        assert {t["context_id"]: t["state"] for t in tenants} == {
            "Cust1001": "Running",
            "Cust1008": "Suspended",
        }
        with httpx.stream(
            "GET", f"{url}/api/events"
        ) as events:  # an open stream must not hold up the exit
            process.send_signal(signum)
            assert process.wait(timeout=10) == code
            assert b"".join(events.iter_bytes()).startswith(b"retry: 5000")
        lines = [json.loads(line) for line in process.stderr.read().splitlines()]
    finally:
        process.kill()
        process.wait()
    messages = [line["message"] for line in lines]
    assert f"stopping ({name})" in messages and messages[-1] == "stopped"
    assert not any(line["level"] == "error" for line in lines)


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_state_changes_are_logged_plainly_or_as_json_lines(fmt: str) -> None:
    import io

    from tenantboard.serve.server import configure_logging

    stream = io.StringIO()
    configure_logging(fmt, stream)
    watcher = idle_watcher([A])
    watcher.record(ok(A))
    watcher.record(ok(A, State.Suspended, at=60))
    [line] = stream.getvalue().splitlines()
    if fmt == "json":
        entry = json.loads(line)
        assert (entry["level"], entry["logger"], entry["key"], entry["worse"]) == (
            "warning",
            "tenantboard.watcher",
            A.key,
            True,
        )
        assert entry["message"] == 'Cust1 (online) "Acme": Running → Suspended'
    else:
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ warning tenantboard.watcher: "
            r'Cust1 \(online\) "Acme": Running → Suspended',
            line,
        )


async def test_serves_own_outage_is_in_the_snapshot_and_the_event_stream(watcher) -> None:
    """When serve cannot reach SuperOffice, the snapshot says so (since when, why) and the
    event stream tells when it begins and ends: a follower holds its rows, not fails them."""
    from tests.serve_helpers import begin_outage, end_outage

    client = await client_for(watcher)
    try:
        assert json.loads(watcher.snapshot_text())["outage"] is None
        response = await client.get("/api/events")
        begin_outage(watcher.session, at=30)
        watcher.record(replace(failed(A, ErrorKind.CONNECT, at=40), during_outage=True))
        (_, kind, began), (_, _, row) = await read_events(response, 2)
        assert kind == "outage"
        assert began["since"] == "2026-03-02T09:30:30Z" and began["ended"] is None
        assert began["reason"] == "connection refused"
        assert "cannot reach SuperOffice since" in began["headline"]
        assert row["key"] == A.key and row["during_outage"] is True
        assert row["severity"] == "OK"  # its last known state stands
        snapshot = json.loads(await (await client.get("/api/snapshot")).text())
        assert snapshot["outage"]["since"] == "2026-03-02T09:30:30Z"
        assert snapshot["outage"]["ended"] is None

        end_outage(watcher.session, at=150)
        told = {kind: data for _, kind, data in await read_events(response, 2)}
        assert told["outage"]["ended"] == "2026-03-02T09:32:30Z"
        assert "could not reach SuperOffice" in told["change"]["text"]
        assert json.loads(watcher.snapshot_text())["outage"] is None
        response.close()
    finally:
        await client.close()
