"""The state API client: one shared ``httpx.AsyncClient``, every failure a typed error.

The bytes travel over aiohttp (:mod:`tenantboard.aiohttp_transport`) unless a transport is
given: tests pass ``httpx.MockTransport``, the demo the in-process simulator.

``--base-url`` sends every request to one server instead (the simulator, a test server)
while keeping the logical URL's host in the ``Host`` header, the way a reverse proxy
would see it. So the simulator can play ``sod2.superoffice.com`` and
``sod.superoffice.com`` on one loopback port, and the host rules below stay the same.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import httpx

from tenantboard import __version__
from tenantboard.aiohttp_transport import (
    AiohttpTransport,
    AnswerHeaders,
    NameResolutionError,
    ReadAnswer,
    TLSError,
    sent_as_is,
)
from tenantboard.answers import (
    MAX_JSON_DEPTH,
    ParseError,
    StateAnswer,
    TenantState,
    VersionAnswer,
    json_depth,
    parse_state,
    parse_version,
)
from tenantboard.clock import Clock, SystemClock
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.netaddr import is_loopback
from tenantboard.sanitize import clean
from tenantboard.tenant import (
    ENV_HOSTS,
    TENANT_DOMAIN,
    normalize_context_id,
    normalize_env,
)
from tenantboard.tenant_file import Settings

MAX_BODY_BYTES = 1 << 20
USER_AGENT = f"tenantboard/{__version__} (SuperOffice tenant status board)"


@dataclass(frozen=True, slots=True)
class BaseUrl:
    """Where requests physically go instead of SuperOffice (simulator and tests)."""

    scheme: str
    host: str
    port: int | None

    @classmethod
    def parse(cls, text: str) -> BaseUrl:
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL as exc:
            raise ValueError(f"--base-url {text!r} is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"--base-url {text!r} must be an http(s) URL with a host")
        if url.scheme == "http" and not is_loopback(url.host):
            raise ValueError(
                f"--base-url {text!r}: plain http is only allowed to a loopback address"
            )
        if url.path not in ("", "/") or url.query:
            raise ValueError(f"--base-url {text!r} must not have a path or query")
        return cls(url.scheme, url.host, url.port)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else host

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86_400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, min((when - now).total_seconds(), 86_400.0))


@lru_cache(maxsize=64)
def _parse_date_header(value: str | None) -> datetime | None:
    """The server's Date header (cached: answers within the same second share it, and the
    email parser costs a tenth of what the rest of an answer does)."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify_transport_error(exc: httpx.TransportError) -> CheckError:
    """Map httpx's transport failures to our kinds with a short reason."""
    text = clean(str(exc), 160) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for the answer",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "talking to the server")
        return CheckError(ErrorKind.TIMEOUT, f"timed out {phase}")
    if isinstance(exc, NameResolutionError):
        return CheckError(ErrorKind.DNS, f"cannot resolve the host name ({text})")
    if isinstance(exc, TLSError):
        return CheckError(ErrorKind.TLS, f"TLS failed ({text})")
    lowered = text.lower()
    if _caused_by(exc, socket.gaierror) or any(
        marker in lowered
        for marker in ("name or service not known", "name resolution", "nodename nor servname")
    ):
        return CheckError(ErrorKind.DNS, f"cannot resolve the host name ({text})")
    if _caused_by(exc, ssl.SSLError) or "ssl" in lowered or "certificate" in lowered:
        return CheckError(ErrorKind.TLS, f"TLS failed ({text})")
    if isinstance(exc, httpx.ConnectError):
        if _caused_by(exc, ConnectionRefusedError):  # httpx words it "all attempts failed"
            return CheckError(ErrorKind.CONNECT, "cannot connect (connection refused)")
        return CheckError(ErrorKind.CONNECT, f"cannot connect ({text})")
    return CheckError(ErrorKind.NETWORK, f"connection failed ({text})")


def with_safe_path(template: httpx.URL, path: str) -> httpx.URL:
    """``template`` with its path replaced, without parsing the URL again.

    ``path`` must need no escaping (here: ``/api/state/`` and a normalised context id, Cust
    and digits). This reaches into httpx's parsed form (``_uri_reference``, a NamedTuple);
    tests/test_client.py checks the result equals a parsed URL, so a change in httpx shows.
    """
    url = httpx.URL(template)  # a URL from a URL copies the parsed form, no parsing
    url._uri_reference = template._uri_reference._replace(path=path)
    return url


@dataclass(frozen=True, slots=True)
class PlainGet:
    """A state GET for :meth:`AiohttpTransport.get`: its URL and header fields, no
    ``httpx.Request`` made (httpx builds and validates one in about 20 µs; a fleet's
    first pass makes 2,000 a second)."""

    url: str
    headers: Sequence[tuple[str, str]]


class TenantClient:
    """Asks the state API and the version endpoint. Use as an async context manager."""

    def __init__(
        self,
        *,
        base_url: BaseUrl | None = None,
        timeout: float = Settings().timeout,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 32,
        max_body: int = MAX_BODY_BYTES,
        clock: Clock | None = None,
    ) -> None:
        self.base_url = base_url
        #: The wall clock an answer's receipt and a Retry-After date are measured by.
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout
        self.max_body = max_body
        if transport is None:
            transport = AiohttpTransport(max_connections=max_connections)
        self._transport = transport
        #: The transport when it is aiohttp's: the state check then goes through
        #: :meth:`AiohttpTransport.get`, without httpx's request and response objects.
        self._plain = transport if isinstance(transport, AiohttpTransport) else None
        #: Per host, the state URL up to the context id, and the header fields.
        self._plain_gets: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
        # The one shared client: it owns the transport, and closing it closes every
        # connection. Requests go to the transport directly: the client's per-request work
        # (merging URLs and headers, the cookie jar, the auth and redirect machinery, none of
        # which a check uses) cost more CPU than carrying the bytes.
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._state_templates: dict[str, httpx.URL] = {}
        self._host_headers: dict[str, httpx.Headers] = {}
        self._headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        # Connect within 5 s, each read within the budget; asyncio.timeout in _get_json
        # bounds the whole request, start to finish.
        self._extensions = {"timeout": httpx.Timeout(timeout, connect=min(timeout, 5.0)).as_dict()}
        #: The state GET's limits over aiohttp: no read limit of its own. Each read's would
        #: be the whole budget, armed after the request began, so asyncio.timeout (armed
        #: before it, for the same budget) always ends the request first: two timers set
        #: and cancelled per check for nothing.
        self._plain_limits = {**self._extensions["timeout"], "read": None}

    async def __aenter__(self) -> TenantClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    # -- URLs ---------------------------------------------------------------------------

    @staticmethod
    def state_url(context_id: str, env: str) -> str:
        return f"https://{ENV_HOSTS[env]}/api/state/{context_id}"

    def _state_request(self, context_id: str, env: str) -> httpx.Request | PlainGet:
        """The state GET, its URL made from a parsed template of the same host: httpx parses
        and validates every URL it is given, which cost more than the rest of the request.
        Over aiohttp, no httpx request at all: the template's text and the context id (a
        normalised one, Cust and digits: nothing to escape)."""
        host = ENV_HOSTS[env]
        template = self._state_templates.get(host)
        if template is None:
            template = httpx.URL(self.state_url("Cust0", env))
            if self.base_url is not None:
                template = httpx.URL(f"{self.base_url}/api/state/Cust0")
            self._state_templates[host] = template
        if self._plain is not None:
            plain = self._plain_gets.get(host)
            if plain is None:
                prefix = str(template).removesuffix("Cust0")
                plain = self._plain_gets[host] = (
                    prefix,
                    tuple(self._headers_for(host).multi_items()),
                )
            return PlainGet(plain[0] + context_id, plain[1])
        url = with_safe_path(template, f"/api/state/{context_id}")
        return httpx.Request(
            "GET", url, headers=self._headers_for(host), extensions=self._extensions
        )

    def _headers_for(self, host: str) -> httpx.Headers:
        """The request headers for ``host``, made once: httpx copies a Headers object as it
        is, where a dict is checked and encoded field by field on every request."""
        headers = self._host_headers.get(host)
        if headers is None:
            headers = self._host_headers[host] = httpx.Headers({"Host": host, **self._headers})
        return headers

    def _request(self, url: httpx.URL | str, host: str, target: str) -> httpx.Request:
        """A GET for ``url`` (whose host is ``host`` and path ``target``); with --base-url
        sent there instead, ``host`` kept in the Host header."""
        if self.base_url is not None:
            # Plain string building: this runs for every check, and URL.copy_with re-parses.
            url = f"{self.base_url}{target}"
        return httpx.Request(
            "GET", url, headers=self._headers_for(host), extensions=self._extensions
        )

    def checked_version_url(self, api: str | None) -> httpx.URL:
        """The tenant's Api URL if it is safe to follow, else a REFUSED_URL error.

        Only https to a host in SuperOffice's domain (or the --base-url server itself) is
        followed: an answer must not be able to point us at link-local or private
        addresses, or anywhere else.
        """
        if not api:
            raise CheckError(ErrorKind.REFUSED_URL, "the answer has no Api link")
        try:
            url = httpx.URL(api)
        except (httpx.InvalidURL, ValueError):
            raise CheckError(ErrorKind.REFUSED_URL, f"Api link {api!r} is not a URL") from None
        host = url.host.lower()
        base = self.base_url
        if base is not None and host == base.host and url.port == base.port:
            if url.scheme not in ("http", "https"):
                raise CheckError(ErrorKind.REFUSED_URL, f"Api link {api!r}: scheme not allowed")
            return url
        if url.scheme != "https":
            raise CheckError(ErrorKind.REFUSED_URL, f"Api link {api!r} is not https")
        if url.userinfo:
            raise CheckError(ErrorKind.REFUSED_URL, f"Api link {api!r} carries credentials")
        if host != TENANT_DOMAIN and not host.endswith("." + TENANT_DOMAIN):
            raise CheckError(
                ErrorKind.REFUSED_URL, f"Api link host {host!r} is outside {TENANT_DOMAIN}"
            )
        return url

    # -- requests -------------------------------------------------------------------------

    async def fetch_state(self, context_id: str, env: str) -> StateAnswer:
        context_id = normalize_context_id(context_id)
        env = normalize_env(env)
        payload, headers = await self._get_json(self._state_request(context_id, env))
        received_at = self.clock.wall()
        try:
            state = parse_state(payload, context_id)
        except ParseError as exc:
            raise CheckError(ErrorKind.BAD_ANSWER, f"bad answer: {exc}") from None
        return StateAnswer(state, _parse_date_header(headers.get("date")), received_at)

    async def fetch_version(self, state: TenantState, env: str) -> VersionAnswer:
        """GET the tenant's Api link; on 421 read the state again and retry once."""
        if state.is_running is False or (state.state is not None and not state.state.is_running):
            raise CheckError(ErrorKind.NOT_RUNNING, _not_running_message(state))
        url = self.checked_version_url(state.api)
        fresh: TenantState | None = None
        try:
            payload, _ = await self._get_json(self._version_request(url))
        except CheckError as exc:
            if exc.kind is not ErrorKind.MISDIRECTED:
                raise
            fresh = (await self.fetch_state(state.context_id, env)).state
            if not fresh.is_running:
                raise CheckError(ErrorKind.NOT_RUNNING, _not_running_message(fresh)) from None
            url = self.checked_version_url(_on_endpoint_host(fresh.api, fresh.endpoint))
            payload, _ = await self._get_json(self._version_request(url))
        try:
            info = parse_version(payload)
        except ParseError as exc:
            raise CheckError(ErrorKind.BAD_ANSWER, f"bad version info: {exc}") from None
        return VersionAnswer(info, str(url), fresh)

    def _version_request(self, url: httpx.URL) -> httpx.Request:
        return self._request(url, url.netloc.decode("ascii"), url.raw_path.decode("ascii"))

    async def _get_json(
        self, request: httpx.Request | PlainGet
    ) -> tuple[Any, httpx.Headers | AnswerHeaders]:
        if self.is_closed:
            raise RuntimeError("the client is closed")
        response: httpx.Response | ReadAnswer
        try:
            async with asyncio.timeout(self.timeout):
                if isinstance(request, PlainGet):
                    assert self._plain is not None  # only made for aiohttp's transport
                    response = await self._plain.get(
                        request.url, request.headers, self._plain_limits
                    )
                else:
                    response = await self._transport.handle_async_request(request)
                try:
                    self._raise_for_status(response)
                    body = await self._read_capped(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise CheckError(
                ErrorKind.TIMEOUT, f"no complete answer within {self.timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise classify_transport_error(exc) from None
        except httpx.InvalidURL as exc:
            raise CheckError(
                ErrorKind.REFUSED_URL, f"invalid URL ({clean(str(exc), 80)})"
            ) from None
        return self._decode(body, response), response.headers

    def _raise_for_status(self, response: httpx.Response | ReadAnswer) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = clean(response.reason_phrase or "", 60)
        if 300 <= status < 400:
            location = clean(response.headers.get("location", "nowhere"), 120)
            raise CheckError(
                ErrorKind.REDIRECT,
                f"redirected ({status}) to {location}; not followed",
                status=status,
            )
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.wall())
        wait = f", retry after {retry_after:g} s" if retry_after is not None else ""
        if status == 404:
            raise CheckError(ErrorKind.NOT_FOUND, "not found (404)", status=status)
        if status == 421:
            raise CheckError(
                ErrorKind.MISDIRECTED,
                "wrong host (421 Misdirected Request: wrong subdomain used to access tenant)",
                status=status,
            )
        if status == 429:
            raise CheckError(
                ErrorKind.RATE_LIMITED,
                f"rate limited (429){wait}",
                status=status,
                retry_after=retry_after,
            )
        if status == 503:
            raise CheckError(
                ErrorKind.UNAVAILABLE,
                f"service unavailable (503){wait}",
                status=status,
                retry_after=retry_after,
            )
        raise CheckError(
            ErrorKind.HTTP_STATUS,
            f"HTTP {status} {reason}".strip(),
            status=status,
            retry_after=retry_after,
        )

    async def _read_capped(self, response: httpx.Response | ReadAnswer) -> bytes:
        """The body, never more than ``max_body`` bytes of it as unpacked: a compressed
        answer of a few kilobytes can unpack to gigabytes, so those are read in chunks."""
        if isinstance(response, ReadAnswer):  # read whole: its declared length, as it is
            if len(response.content) > self.max_body:
                size = len(response.content)
                raise CheckError(ErrorKind.TOO_LARGE, f"answer too large ({size} bytes)")
            return response.content
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise CheckError(ErrorKind.TOO_LARGE, f"answer too large ({int(declared)} bytes)")
        if declared.isdigit() and sent_as_is(response.headers.get("content-encoding")):
            # The framing layer reads exactly the declared length, so one read is safe
            # and quicker than a chunk loop (and the transport may have read it already).
            return await response.aread()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_body:
                raise CheckError(
                    ErrorKind.TOO_LARGE, f"answer too large (over {self.max_body} bytes)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _decode(body: bytes, response: httpx.Response | ReadAnswer) -> Any:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CheckError(ErrorKind.NOT_UTF8, "answer is not UTF-8 text") from None
        try:
            payload = json.loads(text)
        except RecursionError:
            raise CheckError(ErrorKind.TOO_DEEP, "answer nested too deeply") from None
        except ValueError:
            content_type = clean(response.headers.get("content-type", "no content type"), 60)
            raise CheckError(ErrorKind.NOT_JSON, f"answer is not JSON ({content_type})") from None
        # Nesting needs an opening bracket per level: a body with few of them (a state
        # answer has one) cannot be too deep, and is not walked.
        openers = body.count(b"{") + body.count(b"[")
        if openers > MAX_JSON_DEPTH and json_depth(payload) > MAX_JSON_DEPTH:
            raise CheckError(ErrorKind.TOO_DEEP, "answer nested too deeply")
        return payload


def _on_endpoint_host(api: str | None, endpoint: str | None) -> str | None:
    """The Api URL moved onto the host the Endpoint names (the 421 rule)."""
    if not api or not endpoint:
        return api
    try:
        api_url, endpoint_url = httpx.URL(api), httpx.URL(endpoint)
    except (httpx.InvalidURL, ValueError):
        return api
    if not endpoint_url.host:
        return api
    return str(
        api_url.copy_with(
            scheme=endpoint_url.scheme, host=endpoint_url.host, port=endpoint_url.port
        )
    )


def _not_running_message(state: TenantState) -> str:
    """Why no version info is fetched, naming the field that says the API is down."""
    if state.state is not None and state.state.is_running and state.is_running is False:
        return f"no version info: State says {state.state_name} but IsRunning is false"
    if state.is_running and state.state is not None and not state.state.is_running:
        return (
            f"no version info: State says {state.state_name} (not running) though IsRunning is true"
        )
    return f"no version info while the tenant is {state.state_name}: its API is down"
