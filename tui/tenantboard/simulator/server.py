"""The simulator over HTTP/1.1 on loopback (``tenantboard simulate``, end-to-end tests, bench)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tenantboard.simulator.scenario import SimResponse, Simulator

_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    421: "Misdirected Request",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


class _HttpProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1 (GET, keep-alive) to serve the simulator fast on loopback."""

    def __init__(self, simulator: Simulator, live: set[_HttpProtocol] | None = None) -> None:
        self.simulator = simulator
        #: Every open connection of the server, so an outage can drop them all.
        self.live = live if live is not None else set()
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.waiting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.live.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > 65536:
            self._close()
            return
        self._process()

    def _process(self) -> None:
        while not self.waiting and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
            lines = head.split("\r\n")
            try:
                method, target, _ = lines[0].split(" ", 2)
            except ValueError:
                self._close()
                return
            host = ""
            keep_alive = True
            body_length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "host":
                    host = value.strip()
                elif name == "connection" and value.strip().lower() == "close":
                    keep_alive = False
                elif name == "content-length" and value.strip().isdigit():
                    body_length = int(value)
            if body_length:  # no request has a body worth reading: skip it
                if len(self.buffer) < body_length:
                    self.buffer = f"{head}\r\n\r\n".encode("latin-1") + self.buffer
                    return
                self.buffer = self.buffer[body_length:]
            answer = self.simulator.respond(method, host, target)
            if answer.delay:
                self.waiting = True
                asyncio.get_running_loop().call_later(
                    answer.delay, self._send_later, answer, keep_alive
                )
                return
            self._send(answer, keep_alive)

    def _send_later(self, answer: SimResponse, keep_alive: bool) -> None:
        self.waiting = False
        self._send(answer, keep_alive)
        self._process()

    def _send(self, answer: SimResponse, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if answer.transport_fault == "reset":
            self.abort()
            return
        reason = _REASONS.get(answer.status, "Error")
        extra = "".join(f"{name}: {value}\r\n" for name, value in answer.headers)
        head = (
            f"HTTP/1.1 {answer.status} {reason}\r\nContent-Type: {answer.content_type}\r\n"
            f"Content-Length: {len(answer.body)}\r\n{extra}"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        if answer.transport_fault == "cut":  # the head and half the body, then gone
            self.transport.write(head.encode("latin-1") + answer.body[: len(answer.body) // 2])
            self._close()
            return
        self.transport.write(head.encode("latin-1") + answer.body)
        if not keep_alive:
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def abort(self) -> None:
        """Drop the connection at once, unsent data and all (a reset)."""
        if self.transport is not None:
            self.transport.abort()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.live.discard(self)


async def serve(
    port: int, *, host: str = "127.0.0.1", simulator: Simulator | None = None
) -> asyncio.Server:
    """Start serving on ``host:port`` (port 0 picks a free one); returns the server."""
    sim = simulator or Simulator()
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _HttpProtocol(sim), host, port, backlog=1024)


async def serve_with_outages(
    port: int,
    *,
    simulator: Simulator,
    host: str = "127.0.0.1",
    on_ready: Callable[[int], None] | None = None,
    poll: float = 0.02,
) -> None:
    """Serve until cancelled; while the chaos plan has the whole server out, stop
    listening (new connections are refused, as when a network is gone) and drop the
    open ones, then listen on the same port again."""
    loop = asyncio.get_running_loop()
    live: set[_HttpProtocol] = set()

    async def listen(on: int) -> asyncio.Server:
        factory = lambda: _HttpProtocol(simulator, live)  # noqa: E731
        return await loop.create_server(factory, host, on, backlog=1024, reuse_address=True)

    server: asyncio.Server | None = await listen(port)
    port = server.sockets[0].getsockname()[1]
    if on_ready is not None:
        on_ready(port)
    try:
        while True:
            await asyncio.sleep(poll)
            down = simulator.server_down()
            if down and server is not None:
                server.close()
                server = None
                for connection in list(live):
                    connection.abort()
            elif not down and server is None:
                server = await listen(port)
    finally:
        if server is not None:
            server.close()
