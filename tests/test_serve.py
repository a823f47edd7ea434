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
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tenantboard.answers import State
from tenantboard.check_output import check_record
from tenantboard.errors import ErrorKind
from tenantboard.serve.server import ServeError, build_app, parse_listen, token_rule
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
        assert (await client.get(f"/metrics?token={TOKEN}")).status == 200
        assert (await client.get("/", params={"token": TOKEN})).status == 200
    finally:
        await client.close()


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
        assert entry["message"] == "Cust1 (online) 'Acme': Running → Suspended"
    else:
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ warning tenantboard.watcher: "
            r"Cust1 \(online\) 'Acme': Running → Suspended",
            line,
        )
