"""The real transport (aiohttp under httpx) against loopback servers that misbehave.

Every error kind the README lists for the network is produced here by a server doing that
thing, not by a mock raising an exception: a reset must read as a network failure, never as
a timeout, and a body longer than its Content-Length must not leak into the next answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import pytest

from tenantboard.aiohttp_transport import AiohttpTransport, AnswerHeaders
from tenantboard.client import BaseUrl, TenantClient
from tenantboard.errors import CheckError, ErrorKind

GOOD = {
    "ContextIdentifier": "Cust1",
    "Endpoint": "https://online3.superoffice.com/Cust1",
    "State": "Running",
    "IsRunning": True,
    "ValidUntil": "2026-03-02T09:35:00.0000000Z",
    "Api": "https://online3.superoffice.com/Cust1/api",
}

Handler = Callable[["Connection"], Awaitable[None]]


def answer(body: bytes | str, status: int = 200, reason: str = "OK", **headers: str) -> bytes:
    """A well-formed HTTP/1.1 answer (pass content_length to lie about the length)."""
    content = body.encode() if isinstance(body, str) else body
    fields = {"Content-Type": "application/json", "Content-Length": str(len(content))}
    fields.update({name.replace("_", "-").title(): value for name, value in headers.items()})
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return (head + "\r\n").encode() + content


def state_for(context_id: str) -> bytes:
    return json.dumps({**GOOD, "ContextIdentifier": context_id}).encode()


class Connection:
    """One accepted connection, with what the server saw on it."""

    def __init__(self, server: LoopbackServer, reader, writer) -> None:  # type: ignore[no-untyped-def]
        self.server, self.reader, self.writer = server, reader, writer

    async def request(self) -> str | None:
        """The next request's head (request line and headers), or None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        text = head.decode("latin-1")
        self.server.requests.append(text)
        return text

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def reset(self) -> None:
        """Close with a TCP reset (RST) instead of a clean close."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


class LoopbackServer:
    """A server on 127.0.0.1 that runs ``handler`` for every connection it accepts."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.requests: list[str] = []
        self.connections = 0
        self.open_connections = 0
        self.peak_connections = 0
        self.handlers: set[asyncio.Task[None]] = set()

    async def _serve(self, reader, writer) -> None:  # type: ignore[no-untyped-def]
        self.handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        self.connections += 1
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            await self.handler(Connection(self, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_connections -= 1
            writer.close()

    async def __aenter__(self) -> LoopbackServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()
        for handler in self.handlers:
            handler.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"


def client_for(server: LoopbackServer, **options) -> TenantClient:  # type: ignore[no-untyped-def]
    """The client as the app builds it: no transport given, so the aiohttp one."""
    return TenantClient(base_url=BaseUrl.parse(server.url), **options)


async def failure_from(handler: Handler, **options) -> CheckError:  # type: ignore[no-untyped-def]
    async with LoopbackServer(handler) as server, client_for(server, **options) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_state("Cust1", "online")
    return caught.value


async def serve_forever(connection: Connection) -> None:
    """A well-behaved server: answers every request on the connection with a good state."""
    while (head := await connection.request()) is not None:
        context_id = head.split(" ")[1].rsplit("/", 1)[-1]
        await connection.send(answer(state_for(context_id)))


# -- a well-behaved server: what the transport promises ---------------------------------------


async def test_the_default_transport_carries_the_request_with_our_headers() -> None:
    async with LoopbackServer(serve_forever) as server, client_for(server) as client:
        assert isinstance(client._transport, AiohttpTransport)
        result = await client.fetch_state("cust1", "online")
    assert result.state.is_running
    head = server.requests[0].lower()
    assert head.startswith("get /api/state/cust1 http/1.1\r\n")
    assert "\r\nhost: online.superoffice.com\r\n" in head  # the --base-url Host rewrite
    assert "\r\nuser-agent: tenantboard/" in head
    assert "\r\naccept: application/json\r\n" in head


async def test_answers_share_one_keep_alive_connection() -> None:
    async with LoopbackServer(serve_forever) as server, client_for(server) as client:
        for number in range(1, 4):
            await client.fetch_state(f"Cust{number}", "online")
    assert len(server.requests) == 3
    assert server.connections == 1


async def test_connections_open_at_once_are_exactly_the_configured_limit() -> None:
    limit, everyone_in = 3, asyncio.Event()

    async def hold_until_the_limit_is_reached(connection: Connection) -> None:
        while (head := await connection.request()) is not None:
            if connection.server.open_connections >= limit:
                everyone_in.set()
            await everyone_in.wait()
            await asyncio.sleep(0.05)  # room for a connection over the limit to show up
            context_id = head.split(" ")[1].rsplit("/", 1)[-1]
            await connection.send(answer(state_for(context_id)))

    async with (
        LoopbackServer(hold_until_the_limit_is_reached) as server,
        client_for(server, max_connections=limit) as client,
    ):
        results = await asyncio.gather(
            *(client.fetch_state(f"Cust{number}", "online") for number in range(1, 10))
        )
    assert len(results) == 9
    assert server.peak_connections == limit


async def test_the_shared_client_closes_its_connections_on_exit() -> None:
    saw_the_close = asyncio.Event()

    async def answer_then_wait_for_eof(connection: Connection) -> None:
        await serve_forever(connection)
        saw_the_close.set()

    async with LoopbackServer(answer_then_wait_for_eof) as server:
        async with client_for(server) as client:
            await client.fetch_state("Cust1", "online")
            assert not saw_the_close.is_set()
        await asyncio.wait_for(saw_the_close.wait(), 5)
    assert client.is_closed


# -- a body longer than its Content-Length ----------------------------------------------------


@pytest.mark.parametrize("pause", [0.0, 0.1], ids=["same-write", "arriving-later"])
async def test_bytes_past_the_content_length_do_not_become_the_next_answer(pause: float) -> None:
    """The surplus is shaped as a whole answer (an array): it must never be read as the
    answer to the next request on the same connection."""
    forged = answer(json.dumps([1, 2]))

    async def overlong_first_answer(connection: Connection) -> None:
        while (head := await connection.request()) is not None:
            context_id = head.split(" ")[1].rsplit("/", 1)[-1]
            if len(connection.server.requests) == 1:
                await connection.send(answer(state_for(context_id)))
                await asyncio.sleep(pause)
                await connection.send(forged)
            else:
                await connection.send(answer(state_for(context_id)))

    async with LoopbackServer(overlong_first_answer) as server, client_for(server) as client:
        first = await client.fetch_state("Cust1", "online")
        await asyncio.sleep(pause * 2)  # the surplus has arrived before the next request
        second = await client.fetch_state("Cust2", "online")
        third = await client.fetch_state("Cust3", "online")
    assert first.state.context_id == "Cust1"
    assert second.state.context_id == "Cust2"
    assert third.state.context_id == "Cust3"


# -- one error kind per way a server can misbehave ---------------------------------------------


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    # Nothing listens on the port now.
    async with TenantClient(base_url=BaseUrl.parse(f"http://127.0.0.1:{port}")) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_state("Cust1", "online")
    assert caught.value.kind is ErrorKind.CONNECT
    assert "refused" in caught.value.message


async def test_a_reset_after_the_request_is_a_network_error_not_a_timeout() -> None:
    async def reset(connection: Connection) -> None:
        await connection.request()
        connection.reset()

    error = await failure_from(reset)
    assert error.kind is ErrorKind.NETWORK
    assert "reset" in error.message


async def test_a_reset_in_the_middle_of_the_body_is_a_network_error() -> None:
    async def reset_mid_body(connection: Connection) -> None:
        await connection.request()
        body = state_for("Cust1")
        await connection.send(answer(body)[: -len(body) // 2])
        await asyncio.sleep(0.05)
        connection.reset()

    error = await failure_from(reset_mid_body)
    assert error.kind is ErrorKind.NETWORK


async def test_a_connection_closed_without_an_answer_is_a_network_error() -> None:
    async def hang_up(connection: Connection) -> None:
        await connection.request()

    error = await failure_from(hang_up)
    assert error.kind is ErrorKind.NETWORK
    assert "without an answer" in error.message


async def test_a_chunked_body_cut_off_is_a_network_error() -> None:
    async def close_mid_body(connection: Connection) -> None:
        await connection.request()
        await connection.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n10\r\n" + b'{"State": "Runn' + b"\r\n"
        )

    error = await failure_from(close_mid_body)
    assert error.kind is ErrorKind.NETWORK
    assert "cut short" in error.message


async def test_a_body_shorter_than_its_content_length_is_a_network_error() -> None:
    async def short_body(connection: Connection) -> None:
        await connection.request()
        body = state_for("Cust1")
        await connection.send(answer(body, content_length=str(len(body) + 100)))

    error = await failure_from(short_body)
    assert error.kind is ErrorKind.NETWORK
    assert "cut short" in error.message


async def test_garbage_instead_of_http_is_a_network_error() -> None:
    async def garbage(connection: Connection) -> None:
        await connection.request()
        await connection.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    error = await failure_from(garbage)
    assert error.kind is ErrorKind.NETWORK


async def test_a_body_trickling_past_the_timeout_times_out() -> None:
    """Each byte arrives well within a read timeout; the whole answer does not arrive
    within --timeout, which bounds a request from start to finish."""

    async def trickle(connection: Connection) -> None:
        await connection.request()
        await connection.send(answer(state_for("Cust1"), content_length="100000")[:-10])
        while True:
            await asyncio.sleep(0.05)
            await connection.send(b" ")

    error = await failure_from(trickle, timeout=0.5)
    assert error.kind is ErrorKind.TIMEOUT


async def test_a_server_that_never_answers_times_out() -> None:
    async def silent(connection: Connection) -> None:
        await connection.request()
        await asyncio.sleep(30)

    error = await failure_from(silent, timeout=0.3)
    assert error.kind is ErrorKind.TIMEOUT


async def test_a_streamed_body_is_cut_off_at_the_cap() -> None:
    sent = 0

    async def endless_chunks(connection: Connection) -> None:
        nonlocal sent
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 65536
        while True:
            await connection.send(b"10000\r\n" + chunk + b"\r\n")
            sent += len(chunk)

    error = await failure_from(endless_chunks, max_body=1 << 20)
    assert error.kind is ErrorKind.TOO_LARGE
    assert sent < 16 << 20  # the client stopped reading: the server could not go on


async def test_a_declared_huge_body_is_refused() -> None:
    async def huge(connection: Connection) -> None:
        await connection.request()
        await connection.send(answer(b"{}", content_length=str(50 << 20)))
        await asyncio.sleep(30)

    error = await failure_from(huge)
    assert error.kind is ErrorKind.TOO_LARGE


async def test_a_small_compressed_body_that_unpacks_past_the_cap_is_refused() -> None:
    """The cap holds for what a body unpacks to: 20 kB of gzip that would be 64 MB."""
    bomb = gzip.compress(b" " * (64 << 20), compresslevel=9)
    assert len(bomb) < 100_000

    async def compressed(connection: Connection) -> None:
        await connection.request()
        await connection.send(answer(bomb, content_encoding="gzip"))

    error = await failure_from(compressed, max_body=1 << 20)
    assert error.kind is ErrorKind.TOO_LARGE


async def test_a_small_compressed_answer_is_unpacked() -> None:
    async def compressed(connection: Connection) -> None:
        await connection.request()
        await connection.send(answer(gzip.compress(state_for("Cust1001")), content_encoding="gzip"))

    async with LoopbackServer(compressed) as server, client_for(server) as client:
        state = (await client.fetch_state("Cust1001", "online")).state
    assert state.context_id == "Cust1001"


async def test_a_redirect_is_reported_and_not_followed() -> None:
    async def redirect(connection: Connection) -> None:
        while await connection.request() is not None:
            await connection.send(answer("", 302, "Found", location="/api/state/Cust2"))

    async with LoopbackServer(redirect) as server, client_for(server) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_state("Cust1", "online")
    assert caught.value.kind is ErrorKind.REDIRECT
    assert len(server.requests) == 1


class FailingResolver(aiohttp.abc.AbstractResolver):
    """A resolver that knows no names: DNS failure without asking any DNS server."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):  # type: ignore[no-untyped-def, override]
        self.asked.append(host)
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_a_name_that_does_not_resolve_is_a_dns_error() -> None:
    resolver = FailingResolver()
    transport = AiohttpTransport(max_connections=2, resolver=resolver)
    async with TenantClient(transport=transport) as client:  # no --base-url: the real host
        with pytest.raises(CheckError) as caught:
            await client.fetch_state("Cust1", "online")
    assert caught.value.kind is ErrorKind.DNS
    assert resolver.asked == ["online.superoffice.com"]


# -- TLS, with a throwaway self-signed certificate ---------------------------------------------


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA signed, made for this test only."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a throwaway certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_certificate_nobody_vouches_for_is_a_tls_error(self_signed) -> None:  # type: ignore[no-untyped-def]
    async with (
        LoopbackServer(serve_forever, tls=server_tls(*self_signed)) as server,
        client_for(server) as client,
    ):
        with pytest.raises(CheckError) as caught:
            await client.fetch_state("Cust1", "online")
    assert caught.value.kind is ErrorKind.TLS
    assert "certificate verify failed" in caught.value.message
    assert server.requests == []  # nothing was sent over the unverified connection


async def test_the_same_certificate_works_once_trusted(self_signed) -> None:  # type: ignore[no-untyped-def]
    """The failure above is the verification, not the TLS plumbing."""
    trusting = ssl.create_default_context(cafile=str(self_signed[0]))
    async with LoopbackServer(serve_forever, tls=server_tls(*self_signed)) as server:
        transport = AiohttpTransport(max_connections=2, ssl_context=trusting)
        async with TenantClient(base_url=BaseUrl.parse(server.url), transport=transport) as client:
            result = await client.fetch_state("Cust1", "online")
    assert result.state.is_running
    assert "\r\nhost: online.superoffice.com\r\n" in server.requests[0].lower()


async def test_plain_http_from_a_tls_port_is_a_tls_error() -> None:
    async def speaks_plain_http(connection: Connection) -> None:
        await connection.send(answer(state_for("Cust1")))

    async with LoopbackServer(speaks_plain_http) as server:
        https = BaseUrl("https", "127.0.0.1", server.port)
        async with TenantClient(base_url=https) as client:
            with pytest.raises(CheckError) as caught:
                await client.fetch_state("Cust1", "online")
    assert caught.value.kind is ErrorKind.TLS


# -- the state check's own path: no httpx request or response, the same reading --------------


@pytest.mark.parametrize(
    "raw",
    [
        [(b"Date", b"Mon, 07 Dec 2026 21:00:00 GMT"), (b"Content-Length", b"12")],
        [(b"Retry-After", b"5"), (b"retry-after", b"7")],  # repeated: joined
        [(b"Location", "https://ex.com/å".encode()), (b"Content-Type", b"text/html")],
        [(b"Location", "https://ex.com/å".encode("latin-1")), (b"X", b"y")],
        [],
    ],
)
def test_answer_headers_read_as_httpx_reads_them(raw: list[tuple[bytes, bytes]]) -> None:
    mine, theirs = AnswerHeaders(raw), httpx.Headers(raw)
    for name in ("date", "Content-Length", "retry-after", "location", "content-type", "absent"):
        assert mine.get(name) == theirs.get(name)
    assert mine.get("absent", "nowhere") == theirs.get("absent", "nowhere")


async def test_the_state_check_reads_the_server_date_and_the_retry_after() -> None:
    async def rate_limited_then_good(connection: Connection) -> None:
        await connection.request()
        await connection.send(answer("{}", 429, "Too Many Requests", retry_after="30"))
        await connection.request()
        date = "Mon, 07 Dec 2026 21:00:00 GMT"
        await connection.send(answer(state_for("Cust1"), date=date))

    async with LoopbackServer(rate_limited_then_good) as server, client_for(server) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_state("Cust1", "online")
        result = await client.fetch_state("Cust1", "online")
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    assert caught.value.retry_after == 30
    assert "rate limited (429), retry after 30 s" in str(caught.value)
    assert result.server_date == datetime(2026, 12, 7, 21, 0, tzinfo=UTC)


async def test_a_small_answer_over_a_lower_cap_is_refused() -> None:
    error = await failure_from(serve_forever, max_body=100)
    assert error.kind is ErrorKind.TOO_LARGE
    assert f"answer too large ({len(state_for('Cust1'))} bytes)" in str(error)
