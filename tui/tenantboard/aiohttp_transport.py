"""An httpx transport that carries the bytes with aiohttp.

The client keeps httpx's API (requests, responses, ``MockTransport`` in tests); underneath,
httpcore's pool spent CPU proportional to connections times waiting requests on every
request, and its pure-Python parser the rest. aiohttp parses HTTP/1.1 in C and hands out
pooled connections in constant time: the same checks cost about a third of the CPU.

The client's state check, 2,000 a second in a fleet's first pass, skips even httpx's request
and response objects (:meth:`AiohttpTransport.get`, :class:`ReadAnswer`); the contract
below is the same for it.

What this module adds over a plain ``aiohttp.ClientSession`` is the contract the client
relies on: every aiohttp failure becomes the httpx exception that says what happened (a reset
or a body cut short is a read error, not a timeout; a name that does not resolve and a
certificate that does not verify are marked so the client can say so), the body streams so a
size cap applies while reading, redirects are never followed, certificates are verified, and
at most ``max_connections`` connections are open at once.

aiohttp is imported with the first request, not with this module: its import builds two TLS
contexts (a few hundred milliseconds on a busy machine) that every command importing the
client, and the board's first paint, would otherwise wait for.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING

import certifi
import httpx

if TYPE_CHECKING:
    import aiohttp

# Endpoints move between hosts: remember a DNS answer only briefly.
DNS_CACHE_SECONDS = 5
# Idle keep-alive connections are closed after this long (httpx's default).
KEEPALIVE_SECONDS = 5.0


class NameResolutionError(httpx.ConnectError):
    """The host name did not resolve (a connect error the client reports as ``dns``)."""


class TLSError(httpx.ConnectError):
    """The TLS handshake or the certificate check failed (reported as ``tls``)."""


def default_ssl_context() -> ssl.SSLContext:
    """Verification on, against the same CA bundle httpx uses (certifi)."""
    return ssl.create_default_context(cafile=certifi.where())


def _os_reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def to_httpx_error(exc: BaseException) -> httpx.TransportError | httpx.InvalidURL:
    """The httpx exception that says what this aiohttp (or socket) failure was.

    Messages are written here rather than taken from aiohttp: its connector errors read
    "Cannot connect to host h:443 ssl:default [...]" whatever went wrong, and "ssl" in a
    refused connection's message would be misleading.
    """
    import aiohttp

    error: httpx.TransportError | httpx.InvalidURL
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx.ConnectTimeout("timed out connecting")
    elif isinstance(exc, TimeoutError):  # SocketTimeoutError, ServerTimeoutError included
        error = httpx.ReadTimeout("timed out waiting for the answer")
    elif isinstance(exc, aiohttp.ClientConnectorDNSError):
        error = NameResolutionError(f"cannot resolve {exc.host}: {_os_reason(exc.os_error)}")
    elif isinstance(exc, aiohttp.ClientSSLError):
        error = TLSError(f"TLS with {exc.host}:{exc.port} failed: {_ssl_reason(exc)}")
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError(f"{exc.host}:{exc.port}: {_connect_reason(exc.os_error)}")
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        error = httpx.RemoteProtocolError("the server closed the connection without an answer")
    elif isinstance(exc, aiohttp.ClientPayloadError):
        error = httpx.RemoteProtocolError(f"the answer was cut short: {_payload_reason(exc)}")
    elif isinstance(exc, aiohttp.ClientResponseError):
        error = httpx.RemoteProtocolError(f"not a valid HTTP answer ({exc.message})")
    elif isinstance(exc, aiohttp.InvalidURL):
        error = httpx.InvalidURL(f"invalid URL {exc.url}")
    elif isinstance(exc, ssl.SSLError):
        error = TLSError(f"TLS failed: {exc.reason or exc}")
    elif isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        error = httpx.ReadError("the server reset the connection")
    elif isinstance(exc, OSError):
        error = httpx.ReadError(_os_reason(exc))
    else:
        error = httpx.NetworkError(f"{type(exc).__name__}: {exc}")
    return error


def _connect_reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return _os_reason(error)


def _ssl_reason(exc: aiohttp.ClientSSLError) -> str:
    cause = getattr(exc, "certificate_error", None) or exc.os_error
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return cause.reason or str(cause)
    return _os_reason(cause)


def _payload_reason(exc: aiohttp.ClientPayloadError) -> str:
    from aiohttp.http_exceptions import ContentLengthError, TransferEncodingError

    cause = exc.__cause__
    if isinstance(cause, ContentLengthError):
        return "the body is shorter than its Content-Length"
    if isinstance(cause, TransferEncodingError):
        return "the chunked body ended early"
    if isinstance(cause, ConnectionResetError):
        return "the server reset the connection"
    return "the body is incomplete"


#: Bodies up to this size, declared in Content-Length and not compressed, are read before
#: the answer is handed over: httpx's stream machinery (async iterators, a decoder per
#: answer) cost a tenth of a check's CPU for the few hundred bytes of a state answer.
READ_AT_ONCE = 64 * 1024


def sent_as_is(content_encoding: str | None) -> bool:
    """True when a body's Content-Encoding says it is not compressed: its declared length
    is then the length of what it holds."""
    return (content_encoding or "identity").strip().lower() in ("", "identity")


def _read_at_once(response: aiohttp.ClientResponse) -> bool:
    """A small body of a known length, sent as it is (a compressed one is streamed, so
    the client's size cap applies to what it unpacks to)."""
    length = response.content_length
    return (
        length is not None
        and length <= READ_AT_ONCE
        and sent_as_is(response.headers.get("Content-Encoding"))
    )


def _extensions(response: aiohttp.ClientResponse) -> dict[str, bytes]:
    return {"http_version": b"HTTP/1.1", "reason_phrase": _reason_bytes(response.reason)}


def _reason_bytes(reason: str | None) -> bytes:
    return (reason or "").encode("latin-1", "replace")


def _streamed(response: aiohttp.ClientResponse, request: httpx.Request | None) -> httpx.Response:
    return httpx.Response(
        response.status,
        headers=response.raw_headers,
        stream=_Body(response),
        request=request,
        extensions=_extensions(response),
    )


class AnswerHeaders:
    """An answer's header fields, read as ``httpx.Headers`` reads them (case-insensitive,
    repeated fields joined by ", ", decoded as ASCII, else UTF-8, else Latin-1), without
    building one: the few a check reads are looked up in the raw pairs."""

    __slots__ = ("_encoding", "_raw")

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._encoding: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower().encode("latin-1")
        found = [value for key, value in self._raw if key.lower() == wanted]
        if not found:
            return default
        encoding = self._encoding or self._detect()
        return ", ".join(value.decode(encoding) for value in found)

    def _detect(self) -> str:
        encoding = "ascii"
        if not all(key.isascii() and value.isascii() for key, value in self._raw):
            try:
                for key, value in self._raw:
                    key.decode("utf-8")
                    value.decode("utf-8")
                encoding = "utf-8"
            except UnicodeDecodeError:
                encoding = "iso-8859-1"
        self._encoding = encoding
        return encoding


class ReadAnswer:
    """A small answer read whole (:data:`READ_AT_ONCE`): what the client reads of an
    ``httpx.Response`` (status, reason, headers, body), without making one. Its headers,
    stream and decoder machinery cost a tenth of a check's CPU at fleet size."""

    __slots__ = ("_reason", "content", "headers", "status_code")

    def __init__(
        self,
        status: int,
        reason: str | None,
        raw_headers: Sequence[tuple[bytes, bytes]],
        content: bytes,
    ) -> None:
        self.status_code = status
        self._reason = reason
        self.headers = AnswerHeaders(raw_headers)
        self.content = content

    @property
    def reason_phrase(self) -> str:
        """As ``httpx.Response.reason_phrase`` reads the reason the transport hands it."""
        return _reason_bytes(self._reason).decode("ascii", errors="ignore")

    async def aclose(self) -> None:
        """Nothing to close: the connection went back to the pool once the body was read."""


class _Body(httpx.AsyncByteStream):
    """The answer's body as aiohttp receives it: streamed, so a size cap stops the reading."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _failures() as exc:
            raise to_httpx_error(exc) from exc

    async def aclose(self) -> None:
        # A body read to its end hands the connection back for reuse; anything else (a
        # capped read, a timeout, an error) closes it, so no unread bytes meet the next answer.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


@cache
def _failures() -> tuple[type[BaseException], ...]:
    """What aiohttp raises when the network or the server fails."""
    import aiohttp

    return (aiohttp.ClientError, OSError, TimeoutError)


@cache
def _careful_connector() -> type[aiohttp.TCPConnector]:
    """A connector that never hands out a pooled connection holding unasked-for bytes.

    A server whose body runs past its Content-Length can send the surplus after the
    answer has been read and the connection went back to the pool. aiohttp parses it there,
    and if it is shaped like an answer, queues it: the next request on that connection would
    receive it as its own answer. Before reuse, a connection with anything queued (or an
    error, or an unfinished body) is closed instead. (``_get`` is aiohttp's pool lookup;
    tests/test_transport.py holds this to account if its shape changes.) Made on first use,
    like the aiohttp import.
    """
    import aiohttp

    class CarefulConnector(aiohttp.TCPConnector):
        async def _get(self, key, traces):  # type: ignore[no-untyped-def]
            while (connection := await super()._get(key, traces)) is not None:
                protocol = connection.protocol
                if protocol is not None and not protocol.should_close:
                    return connection
                connection.close()
            return None

    return CarefulConnector


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests over one ``aiohttp.ClientSession`` and its ``TCPConnector``.

    The session is created on the first request (it must be, inside the running event loop)
    and closed by :meth:`aclose`, which ``httpx.AsyncClient.aclose`` calls.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        dns_cache_seconds: int = DNS_CACHE_SECONDS,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self._ssl_context = ssl_context
        self._resolver = resolver
        self._dns_cache_seconds = dns_cache_seconds
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open_session(self) -> aiohttp.ClientSession:
        import urllib.request

        import aiohttp

        connector = _careful_connector()(
            limit=self.max_connections,
            limit_per_host=0,
            # Loading the CA bundle takes a while: done with the first request, not at start.
            ssl=self._ssl_context or default_ssl_context(),
            use_dns_cache=True,
            ttl_dns_cache=self._dns_cache_seconds,
            keepalive_timeout=KEEPALIVE_SECONDS,
            resolver=self._resolver,
        )
        return aiohttp.ClientSession(
            connector=connector,
            # Every header comes from httpx; aiohttp adds none of its own.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            cookie_jar=aiohttp.DummyCookieJar(),
            # Reading HTTP(S)_PROXY and NO_PROXY costs time on every request: only when set.
            trust_env=bool(urllib.request.getproxies()),
        )

    def _timeout(self, limits: Mapping[str, float | None] | None) -> aiohttp.ClientTimeout:
        """httpx's connect/read/pool timeouts (a request's ``timeout`` extension) as
        aiohttp's; one object per distinct set."""
        limits = limits or {}
        key = (limits.get("connect"), limits.get("read"), limits.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            import aiohttp

            connect, read, pool = key
            # aiohttp's ``connect`` covers waiting for a pooled connection and opening one.
            pool_and_connect = None if pool is None or connect is None else pool + connect
            timeout = aiohttp.ClientTimeout(
                total=None, connect=pool_and_connect, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = timeout
        return timeout

    async def _send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        limits: Mapping[str, float | None] | None,
    ) -> aiohttp.ClientResponse:
        if self._closed:
            raise RuntimeError("the transport is closed")
        session = self._session
        if session is None:
            session = self._session = self._open_session()
        try:
            return await session.request(
                method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=self._timeout(limits),
            )
        except _failures() as exc:
            raise to_httpx_error(exc) from exc

    @staticmethod
    async def _read_whole(response: aiohttp.ClientResponse) -> bytes:
        try:
            content = await response.read()
        except _failures() as exc:
            response.close()
            raise to_httpx_error(exc) from exc
        response.release()
        return content

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        body = await request.aread() if request.method not in ("GET", "HEAD") else None
        response = await self._send(
            request.method,
            str(request.url),
            request.headers.multi_items(),
            body,
            request.extensions.get("timeout"),
        )
        if _read_at_once(response):
            return httpx.Response(
                response.status,
                headers=response.raw_headers,
                content=await self._read_whole(response),
                request=request,
                extensions=_extensions(response),
            )
        return _streamed(response, request)

    async def get(
        self, url: str, headers: Sequence[tuple[str, str]], limits: Mapping[str, float | None]
    ) -> ReadAnswer | httpx.Response:
        """A GET made without httpx's request and response objects (the client's state
        check, 2,000 a second in a fleet's first pass): a small answer is read whole into
        a :class:`ReadAnswer`, any other streams as an ``httpx.Response``. ``headers`` as
        ``httpx.Headers.multi_items()`` gives them, ``limits`` as the ``timeout``
        extension; failures are the httpx exceptions :meth:`handle_async_request` raises."""
        response = await self._send("GET", url, headers, None, limits)
        if _read_at_once(response):
            content = await self._read_whole(response)
            return ReadAnswer(response.status, response.reason, response.raw_headers, content)
        return _streamed(response, None)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
