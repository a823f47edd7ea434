"""A board attached to a running ``tenantboard serve`` (``tenantboard --attach URL``).

Many operators, one poller: the attached board asks SuperOffice nothing. It reads the
server's ``/api/snapshot``, then follows ``/api/events`` (server-sent events) from the
snapshot's ``seq`` on, turning each tenant's last check back into a
:class:`~tenantboard.engine.CheckResult` so that the board's rows, counts, event log and
detail pane work exactly as they do on a local monitor; what the server knows besides
(each tenant's mutes and acknowledgements, 24-hour uptime and covering maintenance window,
and the windows open now) comes with the rows as a :class:`ServerRow`. When the stream
breaks it says so and reconnects with a backoff; a ``reset`` event (the list changed, or
the board fell behind) fetches the snapshot again.

Marks go the other way: :meth:`ServerFeed.add_mark` and :meth:`ServerFeed.clear_mark`
POST them to the server, which records them for everyone; :meth:`ServerFeed.availability`
reads one tenant's figures for the detail pane. Everything from the server is untrusted
data: every text is cleaned, every tenant, mark, window and figure validated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from tenantboard import __version__
from tenantboard.answers import State, TenantState, parse_timestamp
from tenantboard.clock import utc_iso
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.history.db import Mark
from tenantboard.history.reader import TenantAvailability
from tenantboard.maintenance import Window
from tenantboard.netaddr import is_loopback
from tenantboard.sanitize import clean
from tenantboard.tenant import Tenant, make_tenant

#: `serve --tenant-series`: every checked tenant's series in /metrics (the default), or
#: only those of the tenants that need attention or are past their planned check.
TENANT_SERIES = ("all", "attention")

#: Reconnect after a broken stream: from this many seconds, doubling, to the maximum.
RETRY_FIRST = 1.0
RETRY_MAX = 30.0
#: The server sends a comment every 15 s; silence for longer than this means it is gone.
STREAM_SILENCE = 45.0
#: Seconds a mark or an availability read may take before the board says it failed.
REQUEST_TIMEOUT = 10.0
#: The kinds of mark, by the name of their slot in a row's ``marks``.
MARK_SLOTS = (("muted", "mute"), ("acknowledged", "ack"))


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
        tags = row.get("tags") or []
        return make_tenant(
            str(row["context_id"]),
            str(row["env"]),
            clean(str(row.get("label") or ""), 120),
            tags if isinstance(tags, list) else [],
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
    # The answer's whole release label ("release"); a server from before it was sent
    # gave only the row's shortened "version".
    version = result.get("release", row.get("version"))
    state = None if error is not None else _state(result, version, tenant)
    if error is None and state is None:
        error = CheckError(ErrorKind.BAD_ANSWER, "the server sent a row without a state")
    return CheckResult(tenant=tenant, state=state, error=error, checked_at=checked_at, duration=0.0)


@dataclass(frozen=True, slots=True)
class ServerRow:
    """What the server knows of a tenant besides its last check."""

    key: str
    #: Its mutes and acknowledgements in force (the server's ids).
    marks: tuple[Mark, ...]
    #: The share of the last 24 hours it was up (0 to 1), None when not known.
    uptime_24h: float | None
    #: The maintenance window covering it now, or None.
    window: Window | None


def server_row(row: dict[str, Any], tenant: Tenant) -> ServerRow:
    """The row's marks, uptime and window; what does not check out is left out."""
    marks = []
    found = row.get("marks")
    for slot, kind in MARK_SLOTS:
        data = found.get(slot) if isinstance(found, dict) else None
        if data is not None:
            with contextlib.suppress(ValueError):  # a mark that does not check out
                marks.append(Mark.from_json(data, tenant.key, kind))
    uptime = row.get("uptime_24h")
    if isinstance(uptime, bool) or not isinstance(uptime, int | float) or not 0 <= uptime <= 1:
        uptime = None
    return ServerRow(tenant.key, tuple(marks), uptime, _window(row.get("maintenance")))


def _window(data: Any) -> Window | None:
    try:
        return Window.from_json(data) if data is not None else None
    except ValueError:
        return None


def open_windows(data: Any) -> list[Window]:
    """The snapshot's (or a ``maintenance`` event's) windows open now."""
    found = [_window(item) for item in data] if isinstance(data, list) else []
    return [window for window in found if window is not None]


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


class NotDone(Exception):
    """The server did not take a mark, or did not answer a read; the message says why,
    ``status`` is the HTTP status when the server answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
        on_rows: Callable[[list[ServerRow]], None] | None = None,
        on_windows: Callable[[list[Window]], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self._on_tenants = on_tenants
        self._on_result = on_result
        self._on_status = on_status
        self._on_refused = on_refused or (lambda message: on_status(message, False))
        self._on_rows = on_rows or (lambda rows: None)
        self._on_windows = on_windows or (lambda windows: None)
        self._http = httpx.AsyncClient(
            transport=transport,
            headers=target.headers,
            timeout=httpx.Timeout(timeout, read=STREAM_SILENCE),
            follow_redirects=False,
        )
        self._tenants: dict[str, Tenant] = {}
        #: Per tenant, the ``checked_at`` of the last check handed on: the server sends a
        #: row again when a mark or a window changes, and that is not another check.
        self._checked: dict[str, str] = {}
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
        if response.status_code in (401, 403):
            raise Refused(_refusal(self.target))

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
        self._checked = {key: at for key, at in self._checked.items() if key in tenants}
        self._on_tenants(list(tenants.values()))
        known = [found for found in map(self._apply, rows) if found is not None]
        self._on_rows(known)
        self._on_windows(open_windows(snapshot.get("maintenance")))
        seq = snapshot.get("seq")
        self.seq = seq if isinstance(seq, int) else 0

    def _apply(self, row: dict[str, Any]) -> ServerRow | None:
        """Hand on the row's check (when it is a new one); returns the rest of the row."""
        tenant = self._tenants.get(str(row.get("key")))
        if tenant is None:
            return None
        result = result_from_row(row, tenant)
        checked = row["result"].get("checked_at") if result is not None else None
        if result is not None and (checked is None or self._checked.get(tenant.key) != checked):
            if isinstance(checked, str):
                self._checked[tenant.key] = checked
            self._on_result(result)
        return server_row(row, tenant)

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
                    known = self._apply(event.data)
                    if known is not None:
                        self._on_rows([known])
                elif event.kind == "maintenance" and isinstance(event.data, dict):
                    self._on_windows(open_windows(event.data.get("open")))
                elif event.kind == "reset":
                    await self._load_snapshot()

    # -- asking the server to change something, or for more ---------------------------------

    async def add_mark(self, key: str, kind: str, until: datetime | None, by: str) -> Mark:
        """Mute or acknowledge a tenant on the server, as ``by``; the mark it made."""
        body = {"key": key, "kind": kind, "until": utc_iso(until) if until else None, "by": by}
        answer = await self._ask("POST", "/api/marks", body)
        try:
            return Mark.from_json(
                answer.get("mark") if isinstance(answer, dict) else None, key, kind
            )
        except ValueError as exc:
            raise NotDone(f"the server's answer is not a mark: {exc}") from None

    async def clear_mark(self, mark_id: int, by: str) -> None:
        """End one of the server's marks, as ``by``."""
        await self._ask("POST", f"/api/marks/{mark_id}/clear", {"by": by})

    async def availability(self, key: str) -> TenantAvailability:
        """One tenant's availability from the server's history, with its 30-day strip."""
        answer = await self._ask("GET", f"/api/availability/{quote(key, safe='')}")
        try:
            return TenantAvailability.from_json(answer)
        except ValueError as exc:
            raise NotDone(f"the server's answer is not availability: {exc}") from None

    async def _ask(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request; its JSON answer, or NotDone saying why not in the board's words."""
        try:
            response = await self._http.request(
                method, self.target.url + path, json=body, timeout=REQUEST_TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise NotDone(f"{self.target.url}: {_reason(exc)}") from None
        status = response.status_code
        if status == 401:
            raise NotDone(_refusal(self.target), status)
        if status == 405:
            raise NotDone(
                f"the server at {self.target.url} takes no changes (an older serve)", status
            )
        if status >= 400:
            said = _said(response)
            raise NotDone(f"the server said: {said}" if said else f"HTTP {status}", status)
        try:
            return response.json()
        except ValueError:
            raise NotDone("the server's answer is not JSON") from None


def _refusal(target: AttachTarget) -> str:
    """What to do about a server that refuses this board's token (or its lack of one)."""
    if target.token is None:
        return f"the server at {target.url} asks for a token: give it with --attach-token-file FILE"
    return f"the server at {target.url} refused the token from --attach-token-file"


def _said(response: httpx.Response) -> str:
    """The server's reason for an error: its JSON ``error``, or its text's first line."""
    try:
        data = response.json()
    except ValueError:
        data = None
    text = data.get("error") if isinstance(data, dict) else None
    if not isinstance(text, str):
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
    return clean(text, 200)


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
