"""A board attached to a running ``tenantboard serve`` (``tenantboard --attach URL``).

Many operators, one poller: the attached board asks SuperOffice nothing. It reads the
server's ``/api/snapshot``, then follows ``/api/events`` (server-sent events) from the
snapshot's ``seq`` on, turning each tenant's last check back into a
:class:`~tenantboard.engine.CheckResult` so that the board's rows, counts, event log and
detail pane work exactly as they do on a local monitor. When the stream breaks it says so
and reconnects with a backoff; a ``reset`` event (the list changed, or the board fell
behind) fetches the snapshot again. Everything from the server is untrusted data: every
text is cleaned, every tenant validated.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from tenantboard import __version__
from tenantboard.answers import State, TenantState, parse_timestamp
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.netaddr import is_loopback
from tenantboard.sanitize import clean
from tenantboard.tenant import Tenant, make_tenant

#: Where ``tenantboard serve`` listens unless told (9464: the port Prometheus exporters
#: use), here rather than in serve.py so that the CLI can name it without importing the
#: server (aiohttp's web part and prometheus-client: half a second before the board's
#: first paint).
DEFAULT_LISTEN = "127.0.0.1:9464"
#: How many connections ``serve`` holds at once unless told (--max-connections), here for
#: the same reason.
DEFAULT_MAX_CONNECTIONS = 256
#: `serve --tenant-series`: every checked tenant's series in /metrics (the default), or
#: only those of the tenants that need attention or are past their planned check.
TENANT_SERIES = ("all", "attention")

#: Reconnect after a broken stream: from this many seconds, doubling, to the maximum.
RETRY_FIRST = 1.0
RETRY_MAX = 30.0
#: The server sends a comment every 15 s; silence for longer than this means it is gone.
STREAM_SILENCE = 45.0


@dataclass(frozen=True, slots=True)
class AttachTarget:
    """Where the server is, and the token it asks for (if any)."""

    url: str
    token: str | None = None

    @classmethod
    def parse(cls, text: str, token: str | None = None) -> AttachTarget:
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL as exc:
            raise ValueError(f"--attach {text!r} is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"--attach {text!r} must be an http(s) URL of a tenantboard serve")
        if token and url.scheme == "http" and not is_loopback(url.host):
            raise ValueError(
                f"--attach {text!r}: the token would cross the network in plain text; use "
                "https (a TLS proxy in front of serve), or http only to a loopback address"
            )
        return cls(str(url.copy_with(path="", query=None, fragment=None)).rstrip("/"), token)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"tenantboard/{__version__} (attached board)"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


# -- the server's JSON back into the board's types ---------------------------------------------


def tenant_from_row(row: dict[str, Any]) -> Tenant | None:
    """A listed tenant, validated as if typed by hand; None for anything that is not one."""
    try:
        return make_tenant(
            str(row["context_id"]), str(row["env"]), clean(str(row.get("label") or ""), 120)
        )
    except (KeyError, TypeError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) else None


def _error(data: Any) -> CheckError | None:
    if not isinstance(data, dict):
        return None
    try:
        kind = ErrorKind(str(data.get("kind")))
    except ValueError:
        kind = ErrorKind.NETWORK
    status = data.get("status")
    return CheckError(
        kind,
        clean(str(data.get("message") or kind), 300),
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
    )


def _state(result: dict[str, Any], version: Any, tenant: Tenant) -> TenantState | None:
    name = result.get("state")
    if not isinstance(name, str):
        return None
    code = result.get("state_code")
    known = isinstance(code, int) and result.get("recognised") is True
    state = State(code) if known and code in State._value2member_map_ else None
    running = result.get("is_running")
    valid_raw = result.get("valid_until")
    return TenantState(
        context_id=tenant.context_id,
        state=state,
        state_raw=clean(name, 120),
        is_running=running if isinstance(running, bool) else None,
        endpoint=clean(result["endpoint"], 2048)
        if isinstance(result.get("endpoint"), str)
        else None,
        api=clean(result["api"], 2048) if isinstance(result.get("api"), str) else None,
        valid_until=_time(valid_raw),
        valid_until_raw=clean(valid_raw, 80) if isinstance(valid_raw, str) else None,
        version=clean(version, 200) if isinstance(version, str) and version else None,
    )


def result_from_row(row: dict[str, Any], tenant: Tenant) -> CheckResult | None:
    """The tenant's last check as the server saw it, or None when it has not been checked."""
    result = row.get("result")
    if not isinstance(result, dict):
        return None
    checked_at = _time(result.get("checked_at")) or datetime.now(UTC)
    error = _error(result.get("error"))
    state = None if error is not None else _state(result, row.get("version"), tenant)
    if error is None and state is None:
        error = CheckError(ErrorKind.BAD_ANSWER, "the server sent a row without a state")
    return CheckResult(tenant=tenant, state=state, error=error, checked_at=checked_at, duration=0.0)


# -- following the server ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerEvent:
    id: int | None
    kind: str
    data: Any


async def server_events(lines: AsyncIterator[str]) -> AsyncIterator[ServerEvent]:
    """Server-sent events from a stream of lines (comments and unknown fields skipped)."""
    event_id: int | None = None
    kind = "message"
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    payload = None
                yield ServerEvent(event_id, kind, payload)
            event_id, kind, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            kind = value
        elif field == "id" and value.isdigit():
            event_id = int(value)


class Refused(Exception):
    """The server refused us (401, 403): asking again the same way cannot help."""


class ServerFeed:
    """Keeps an attached board up to date from the server; run it as a worker. It stops
    (after ``on_refused``) when the server refuses it; any other failure is retried."""

    def __init__(
        self,
        target: AttachTarget,
        *,
        on_tenants: Callable[[list[Tenant]], None],
        on_result: Callable[[CheckResult], None],
        on_status: Callable[[str, bool], None],
        on_refused: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self._on_tenants = on_tenants
        self._on_result = on_result
        self._on_status = on_status
        self._on_refused = on_refused or (lambda message: on_status(message, False))
        self._http = httpx.AsyncClient(
            transport=transport,
            headers=target.headers,
            timeout=httpx.Timeout(timeout, read=STREAM_SILENCE),
            follow_redirects=False,
        )
        self._tenants: dict[str, Tenant] = {}
        self._rng = rng or random.Random()
        self.connected = False
        self.seq = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self) -> None:
        """Until cancelled or refused: snapshot, then the event stream; reconnect when
        either breaks."""
        retry = RETRY_FIRST
        while True:
            try:
                await self._load_snapshot()
                if not self.connected:
                    self.connected = True
                    self._on_status(f"attached to {self.target.url}", True)
                retry = RETRY_FIRST
                await self._follow()
                reason = "the server closed the event stream"
            except Refused as exc:
                self.connected = False
                self._on_refused(str(exc))
                return
            except (httpx.HTTPError, ValueError) as exc:
                reason = _reason(exc)
            if self.connected or retry == RETRY_FIRST:
                self._on_status(
                    f"lost {self.target.url}: {reason}; the rows show what it last said. "
                    "Reconnecting…",
                    False,
                )
            self.connected = False
            await asyncio.sleep(retry * (0.5 + self._rng.random() / 2))
            retry = min(RETRY_MAX, retry * 2)

    def _check_allowed(self, response: httpx.Response) -> None:
        if response.status_code not in (401, 403):
            return
        url = self.target.url
        if self.target.token is None:
            raise Refused(
                f"the server at {url} asks for a token: give it with --attach-token-file FILE"
            )
        raise Refused(f"the server at {url} refused the token from --attach-token-file")

    async def _get_json(self, path: str) -> Any:
        response = await self._http.get(self.target.url + path)
        self._check_allowed(response)
        response.raise_for_status()
        return response.json()

    async def _load_snapshot(self) -> None:
        snapshot = await self._get_json("/api/snapshot")
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("tenants"), list):
            raise ValueError("that is not a tenantboard serve snapshot")
        rows = [row for row in snapshot["tenants"] if isinstance(row, dict)]
        tenants: dict[str, Tenant] = {}
        for row in rows:
            tenant = tenant_from_row(row)
            if tenant is not None:
                tenants[tenant.key] = tenant
        self._tenants = tenants
        self._on_tenants(list(tenants.values()))
        for row in rows:
            self._apply(row)
        seq = snapshot.get("seq")
        self.seq = seq if isinstance(seq, int) else 0

    def _apply(self, row: dict[str, Any]) -> None:
        tenant = self._tenants.get(str(row.get("key")))
        if tenant is None:
            return
        result = result_from_row(row, tenant)
        if result is not None:
            self._on_result(result)

    async def _follow(self) -> None:
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(self.seq)}
        url = self.target.url + "/api/events"
        async with self._http.stream("GET", url, headers=headers) as response:
            self._check_allowed(response)
            response.raise_for_status()
            async for event in server_events(response.aiter_lines()):
                if event.id is not None:
                    self.seq = event.id
                if event.kind == "result" and isinstance(event.data, dict):
                    self._apply(event.data)
                elif event.kind == "reset":
                    await self._load_snapshot()


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return clean(str(exc), 160) or type(exc).__name__


class AttachedMonitor:
    """What the board asks a monitor, answered for a board whose checks run on a server."""

    paused = False
    in_flight = 0
    outage = None  # the server's outages are the server's: its rows say what it knows

    def __init__(self, feed: ServerFeed) -> None:
        self.feed = feed

    def is_checking(self, key: str) -> bool:
        return False

    def due_at(self, key: str) -> float | None:
        return None

    def set_tenants(self, tenants: object) -> None:
        """The list is the server's; nothing to schedule here."""

    def wake_if_overdue(self) -> None:
        """The server keeps the schedule."""

    async def run(self) -> None:
        await self.feed.run()
