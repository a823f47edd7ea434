"""How many connections ``serve`` holds at once.

aiohttp closes a connection that has no request in progress after its
``keepalive_timeout`` (serve's idle timeout: a head that never completes, an idle
keep-alive), but it accepts any number of connections. :class:`CappedSite` listens like
aiohttp's ``TCPSite`` and counts: past the cap a new connection is closed at once, before
aiohttp sees it, so slow or idle clients cannot hold the process's file descriptors. The
event stream's connections count like any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger("tenantboard.serve")


class ConnectionCap:
    """Counts the open connections; refuses new ones past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        #: Connections closed at once because the cap was reached, since start.
        self.refused = 0
        self._full = False

    def protocol(self, make: Callable[[], asyncio.Protocol]) -> asyncio.Protocol:
        """The protocol for a new connection: aiohttp's (counted) or one that closes it."""
        if self.open >= self.limit:
            self.refused += 1
            if not self._full:
                self._full = True
                log.warning(
                    "%d connections open, the most allowed: new ones are closed until some "
                    "close (serve --max-connections)",
                    self.open,
                )
            return _Refused()
        self.open += 1
        return _Counted(self, make())

    def closed(self) -> None:
        self.open -= 1
        if self._full and self.open < self.limit:
            self._full = False
            log.info("accepting connections again (%d refused so far)", self.refused)


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, passed everything; counted until it ends."""

    def __init__(self, cap: ConnectionCap, inner: asyncio.Protocol) -> None:
        self.cap = cap
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cap.closed()
        self.inner.connection_lost(exc)


class CappedSite(web.BaseSite):
    """aiohttp's TCPSite, with every connection passed through a :class:`ConnectionCap`."""

    __slots__ = ("_host", "_port", "cap")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, cap: ConnectionCap):
        super().__init__(runner)
        self._host = host
        self._port = port
        self.cap = cap

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: self.cap.protocol(server), self._host, self._port, backlog=self._backlog
        )
