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
import codecs
import contextlib
import json
import logging
import pickle
import random
import sys
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from tenantboard import __version__
from tenantboard.answers import State, TenantState, parse_timestamp
from tenantboard.clock import utc_iso
from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.history.db import Mark
from tenantboard.history.reader import TenantAvailability
from tenantboard.incidents import HostIncident
from tenantboard.maintenance import Window
from tenantboard.netaddr import is_loopback
from tenantboard.sanitize import clean
from tenantboard.tenant import Tenant, make_tenant

log = logging.getLogger("tenantboard.remote")

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
    valid_until = _time(valid_raw)
    return TenantState(
        context_id=tenant.context_id,
        state=state,
        state_raw=sys.intern(clean(name, 120)),  # a few states, 100,000 rows: one string each
        is_running=running if isinstance(running, bool) else None,
        endpoint=clean(result["endpoint"], 2048)
        if isinstance(result.get("endpoint"), str)
        else None,
        api=clean(result["api"], 2048) if isinstance(result.get("api"), str) else None,
        valid_until=valid_until,
        # The text only when it is not a time we can read, as a local check keeps it
        # (answers.parse_state): 100,000 strings less on a board attached to 100,000.
        valid_until_raw=clean(valid_raw, 80)
        if isinstance(valid_raw, str) and valid_raw and valid_until is None
        else None,
        version=sys.intern(clean(version, 200)) if isinstance(version, str) and version else None,
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
    return CheckResult(
        tenant=tenant,
        state=state,
        error=error,
        checked_at=checked_at,
        duration=0.0,
        during_outage=error is not None and row.get("during_outage") is True,
    )


def last_known_from_row(row: dict[str, Any], tenant: Tenant) -> CheckResult | None:
    """While the tenant's last check failed: its last successful answer, as the check that
    had it (``last_known``, when it was had), so that the board shows what was last known
    as a local board does; None when the server knows none (or sent none)."""
    known = row.get("last_known")
    checked_at = _time(known.get("checked_at")) if isinstance(known, dict) else None
    if checked_at is None:
        return None
    state = _state(known, known.get("release"), tenant)
    if state is None:
        return None
    return CheckResult(tenant=tenant, state=state, error=None, checked_at=checked_at, duration=0.0)


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


class _LastWindow:
    """The window last read, and the JSON it was read from: every row a window covers
    names it (SuperOffice's nightly window: all 100,000 of them), and it is read once,
    one object for them all, while the rows that name it come one after another."""

    def __init__(self) -> None:
        self._data: Any = None
        self._window: Window | None = None

    def read(self, data: Any) -> Window | None:
        if data is None:
            return None
        if data != self._data:
            try:
                window = Window.from_json(data)
            except ValueError:
                return None
            self._data, self._window = data, window
        return self._window


_window = _LastWindow().read


def server_outage(data: Any) -> Outage | None:
    """The snapshot's (or an ``outage`` event's) outage of the server; None for none (or
    for anything that is not one)."""
    try:
        return Outage.from_json(data) if data is not None else None
    except ValueError:
        return None


def file_error(data: dict[str, Any]) -> str | None:
    """The snapshot's (or a ``tenant_file`` event's) ``tenant_file_error``: why the
    server's tenant file cannot be used, cleaned; None while it can."""
    problem = data.get("tenant_file_error")
    return (clean(problem, 300) or None) if isinstance(problem, str) else None


def open_windows(data: Any) -> list[Window]:
    """The snapshot's (or a ``maintenance`` event's) windows open now."""
    found = [_window(item) for item in data] if isinstance(data, list) else []
    return [window for window in found if window is not None]


@dataclass(eq=False)
class ReportedIncident(HostIncident):
    """A host incident as the server reports it: who its members are, and how many of
    them are still bad and back (the server's count; which ones, it does not say)."""

    reported_bad: int = 0
    reported_back: int = 0

    @property
    def bad(self) -> int:
        return self.reported_bad

    @property
    def back(self) -> int:
        return self.reported_back


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def reported_incident(data: Any) -> ReportedIncident | None:
    """An incident of ``/api/incidents`` (or an ``incident`` event), checked; None for
    anything that is not one."""
    if not isinstance(data, dict):
        return None
    host, state, keys = data.get("host"), data.get("state"), data.get("member_keys")
    since, opened_at = _time(data.get("since")), _time(data.get("opened_at"))
    counts = [_count(data.get(name)) for name in ("tenants_on_host", "bad", "back", "peak")]
    if (
        not isinstance(host, str)
        or not host
        or not isinstance(state, str)
        or not isinstance(keys, list)
        or since is None
        or opened_at is None
        or None in counts
    ):
        return None
    tenants, bad, back, peak = (count or 0 for count in counts)
    resolved = data.get("resolved_at")
    members = [clean(key, 200) for key in keys if isinstance(key, str)]
    return ReportedIncident(
        number=0,
        host=clean(host, 253),
        since=since,
        opened_at=opened_at,
        members=dict.fromkeys(members, True),
        tenants=tenants,
        state=clean(state, 80),
        peak=peak,
        resolved_at=_time(resolved) if data.get("status") == "resolved" else None,
        reported_bad=bad,
        reported_back=back,
    )


def reported_incidents(data: Any) -> list[ReportedIncident]:
    """``/api/incidents``: the incidents in it that check out, oldest first."""
    found = data.get("incidents") if isinstance(data, dict) else None
    incidents = [reported_incident(item) for item in found] if isinstance(found, list) else []
    return sorted(
        (incident for incident in incidents if incident is not None),
        key=lambda incident: incident.opened_at,
    )


# -- the snapshot, read as it arrives ---------------------------------------------------------

#: A snapshot's single value (a row, the list of open windows) may be at most this long:
#: anything longer is not a tenantboard serve's, and would be scanned again with each piece.
MAX_VALUE_CHARS = 4 * 1024 * 1024
_SPACE = " \t\n\r"


class SnapshotReader:
    """Reads ``/api/snapshot`` as its bytes arrive: each row of ``tenants`` as soon as it is
    complete (:meth:`feed`), everything else once the document ends (:meth:`finish`).

    A snapshot of 100,000 tenants is about 90 MB: decoded in one piece it would hold up the
    board's event loop for a second or more (the JSON decoder does not let go of the
    interpreter, so a thread would not help) and hold the whole text and every decoded row
    at once. Here the decoding is done a piece at a time, each row by the standard
    library's decoder, and nothing but the rows not yet handed on is kept. Anything that is
    not a JSON object raises ValueError."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder()
        self._text = ""
        self._at = 0
        #: What comes next: "open" ({), "key" (a name or }), "colon", "value", "rows"
        #: (a row or ]), "after-row" (, or ]), "after-value" (, or }), "done".
        self._expect = "open"
        self._key = ""
        self._ended = False
        #: The document's members but ``tenants``, as far as read.
        self.head: dict[str, Any] = {}
        self.rows_seen = False

    def feed(self, chunk: bytes) -> list[Any]:
        """The rows completed by ``chunk`` (each as decoded: the caller checks them)."""
        self._text = self._text[self._at :] + self._utf8.decode(chunk)
        self._at = 0
        rows: list[Any] = []
        while self._step(rows):
            pass
        if len(self._text) - self._at > MAX_VALUE_CHARS:
            raise ValueError("that is not a tenantboard serve snapshot (a value too long)")
        return rows

    def finish(self) -> tuple[dict[str, Any], list[Any]]:
        """The document has ended: its other members, and the rows not yet handed on."""
        self._text = self._text[self._at :] + self._utf8.decode(b"", final=True)
        self._at = 0
        self._ended = True
        rows: list[Any] = []
        while self._step(rows):
            pass
        if self._expect != "done" or self._text[self._at :].strip(_SPACE):
            raise ValueError("that is not a tenantboard serve snapshot (it ends early)")
        if not self.rows_seen:
            raise ValueError("that is not a tenantboard serve snapshot (no tenants)")
        return self.head, rows

    def _skip_space(self) -> str | None:
        """The next character that is not white space (not taken), or None for now."""
        text, at = self._text, self._at
        while at < len(text) and text[at] in _SPACE:
            at += 1
        self._at = at
        return text[at] if at < len(text) else None

    def _value(self) -> tuple[bool, Any]:
        """(True, the value) when a whole value is here; (False, None) to wait for more. A
        value must be followed by something (a number might go on) unless the text ended."""
        try:
            value, end = self._json.raw_decode(self._text, self._at)
        except json.JSONDecodeError:
            if self._ended:
                raise ValueError("that is not a tenantboard serve snapshot (bad JSON)") from None
            return False, None
        if end >= len(self._text) and not self._ended:
            return False, None
        self._at = end
        return True, value

    def _step(self, rows: list[Any]) -> bool:
        """Take one token or value; False when more text is needed (or the end is reached)."""
        char = self._skip_space()
        if char is None or self._expect == "done":
            return False
        expect = self._expect
        if expect == "open":
            self._take("{", "key")
        elif expect in ("key", "after-value"):
            if char == "}":
                self._at += 1
                self._expect = "done"
                return False
            if expect == "after-value":
                self._take(",", "key")
                return True
            done, key = self._value()
            if not done:
                return False
            if not isinstance(key, str):
                raise ValueError("that is not a tenantboard serve snapshot (not an object)")
            self._key, self._expect = key, "colon"
        elif expect == "colon":
            self._take(":", "value")
        elif expect == "value":
            if self._key == "tenants" and char == "[":
                self._at += 1
                self._expect, self.rows_seen = "rows", True
                return True
            done, value = self._value()
            if not done:
                return False
            self.head[self._key] = value
            self._expect = "after-value"
        elif expect in ("rows", "after-row"):
            if char == "]":
                self._at += 1
                self._expect = "after-value"
                return True
            if expect == "after-row":
                self._take(",", "rows")
                return True
            done, row = self._value()
            if not done:
                return False
            rows.append(row)
            self._expect = "after-row"
        return True

    def _take(self, char: str, then: str) -> None:
        if self._text[self._at] != char:
            raise ValueError(f"that is not a tenantboard serve snapshot (expected {char!r})")
        self._at += 1
        self._expect = then


# -- following the server ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One server-sent event. Its data is kept as the text sent and decoded when it is
    taken: the events gathered while a snapshot is read (tens of thousands at 100,000
    tenants) wait as text, compressed (:class:`EventBacklog`)."""

    id: int | None
    kind: str
    text: str

    @property
    def data(self) -> Any:
        """The event's JSON, decoded (None when it is not JSON)."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


async def server_events(lines: AsyncIterator[str]) -> AsyncIterator[ServerEvent]:
    """Server-sent events from a stream of lines (comments and unknown fields skipped)."""
    event_id: int | None = None
    kind = "message"
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield ServerEvent(event_id, kind, "\n".join(data))
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


#: A snapshot's rows are applied this many at a time, with a turn of the event loop
#: between: a few milliseconds each.
SLICE_ROWS = 200
#: A snapshot's list is handed on with at most this many new tenants at a time.
LIST_STEP = 1500
#: The snapshot is read this many bytes at a time (about 20 rows; a turn of the event loop
#: each): the network hands over 100 KB and more at once, 30 ms of decoding and checking.
READ_BYTES = 16 * 1024


class _ListLoad:
    """The tenants of a snapshot being read, each row turned into what the board keeps as
    it is read (the decoded JSON is not kept), and handed on in steps: the first rows at
    once, then whenever as many again have been read, but never more than
    :data:`LIST_STEP` new tenants at a time (each step redoes the board's view and makes
    the new tenants' rows, so the whole list costs a few views, none of them long)."""

    def __init__(self, known: dict[str, Tenant]) -> None:
        self._known = known
        self._handed: dict[str, Tenant] = {}
        self._waiting: list[tuple[Tenant, _Row]] = []

    def read(self, rows: list[Any]) -> None:
        for row in rows:
            tenant = tenant_from_row(row) if isinstance(row, dict) else None
            if tenant is not None:
                self._waiting.append((tenant, _read_row(row, tenant)))

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def grown(self) -> bool:
        """True when enough has been read since the last step for another."""
        return len(self._waiting) >= min(max(len(self._handed), 1), LIST_STEP)

    def step(self, *, complete: bool) -> tuple[dict[str, Tenant], list[_Row]]:
        """The list with up to :data:`LIST_STEP` more tenants, and their rows. The list is
        those read, then (until the last step of a ``complete`` snapshot) those known
        before and not read yet: nothing is dropped and taken back while the list comes."""
        taken, self._waiting = self._waiting[:LIST_STEP], self._waiting[LIST_STEP:]
        for tenant, _ in taken:
            self._handed[tenant.key] = tenant
        rows = [row for _, row in taken]
        rest = {key: tenant for key, tenant in self._known.items() if key not in self._handed}
        if not rest or (complete and not self._waiting):
            return self._handed, rows  # (this load's own: no copy of 100,000 each step)
        return {**self._handed, **rest}, rows


#: A server's row as the board takes it: its check (None before the first), whether the
#: server said when that check was made, the rest, and (while its last check failed) the
#: last successful answer (:func:`last_known_from_row`).
_Row = tuple[CheckResult | None, bool, ServerRow, CheckResult | None]


def _read_row(row: dict[str, Any], tenant: Tenant) -> _Row:
    result = result_from_row(row, tenant)
    stamped = result is not None and isinstance(row["result"].get("checked_at"), str)
    known = last_known_from_row(row, tenant) if result is not None and result.error else None
    return result, stamped, server_row(row, tenant), known


class ServerFeed:
    """Keeps an attached board up to date from the server; run it as a worker. It stops
    (after ``on_refused``) when the server refuses it; any other failure is retried."""

    def __init__(
        self,
        target: AttachTarget,
        *,
        on_tenants: Callable[[list[Tenant]], None],
        on_result: Callable[[CheckResult], None],
        on_results: Callable[[list[CheckResult]], None] | None = None,
        on_status: Callable[[str, bool], None],
        on_refused: Callable[[str], None] | None = None,
        on_rows: Callable[[list[ServerRow]], None] | None = None,
        on_windows: Callable[[list[Window]], None] | None = None,
        on_outage: Callable[[Outage | None], None] | None = None,
        on_file_error: Callable[[str | None], None] | None = None,
        on_incidents: Callable[[list[HostIncident], bool], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self._on_tenants = on_tenants
        self._on_result = on_result
        #: Where a snapshot's checks go, a slice at a time: applied at once, not gathered.
        self._on_results = on_results or (lambda results: [on_result(r) for r in results])
        self._on_status = on_status
        self._on_refused = on_refused or (lambda message: on_status(message, False))
        self._on_rows = on_rows or (lambda rows: None)
        self._on_windows = on_windows or (lambda windows: None)
        self._on_outage = on_outage or (lambda outage: None)
        #: Why the server's tenant file cannot be used (None: it can).
        self._on_file_error = on_file_error or (lambda problem: None)
        #: Host incidents as the server reports them, and whether they were only read
        #: (attaching: nothing happened to them now) or told by the event stream.
        self._on_incidents = on_incidents or (lambda incidents, read: None)
        self._http = httpx.AsyncClient(
            transport=transport,
            headers=target.headers,
            timeout=httpx.Timeout(timeout, read=STREAM_SILENCE),
            follow_redirects=False,
        )
        self._tenants: dict[str, Tenant] = {}
        #: Per tenant, when the last check handed on was made: the server sends a row
        #: again when a mark or a window changes, and that is not another check.
        self._checked: dict[str, datetime] = {}
        self._rng = rng or random.Random()
        self.connected = False
        self.seq = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self) -> None:
        """Until cancelled or refused: the event stream and the snapshot (:meth:`_follow`);
        reconnect when either breaks."""
        retry = RETRY_FIRST

        def attached() -> None:
            nonlocal retry
            retry = RETRY_FIRST
            if not self.connected:
                self.connected = True
                self._on_status(f"attached to {self.target.url}", True)

        while True:
            try:
                await self._follow(attached)
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

    async def _load_snapshot(self) -> None:
        """Read the snapshot as it arrives (:class:`SnapshotReader`) and hand it on in
        pieces, letting the board draw and take keys between them: the list as it grows
        (first as soon as its first rows are in, then in steps, :class:`_ListLoad`), and
        the rows' checks and marks a slice at a time. Tenants the board knew stay listed
        until the whole list is in."""
        reader = SnapshotReader()
        loading = _ListLoad(self._tenants)
        outage_told = False
        async with self._http.stream("GET", self.target.url + "/api/snapshot") as response:
            self._check_allowed(response)
            response.raise_for_status()
            async for chunk in response.aiter_bytes(READ_BYTES):
                loading.read(reader.feed(chunk))
                if not outage_told and "outage" in reader.head:  # (it comes before the rows)
                    self._on_outage(server_outage(reader.head["outage"]))
                    outage_told = True
                while loading.grown():
                    await asyncio.sleep(0)  # the rows just read in one turn, the step in another
                    await self._hand_on(loading, complete=False)
                await asyncio.sleep(0)
        head, rows = reader.finish()
        loading.read(rows)
        await self._hand_on(loading, complete=True)
        while loading.waiting:
            await self._hand_on(loading, complete=True)
        self._on_windows(open_windows(head.get("maintenance")))
        if not outage_told:
            self._on_outage(server_outage(head.get("outage")))
        self._on_file_error(file_error(head))
        seq = head.get("seq")
        self.seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0

    async def _hand_on(self, loading: _ListLoad, *, complete: bool) -> None:
        """One step of the list (:meth:`_ListLoad.step`), then the checks and the rest of
        each row it added, :data:`SLICE_ROWS` at a time, applied at once
        (``on_results``) with a turn of the event loop between slices: keys and frames come
        between them, and what waits is never more than the rows read."""
        self._tenants, rows = loading.step(complete=complete)
        if complete and not loading.waiting:  # the whole list: forget those gone
            self._checked = {key: at for key, at in self._checked.items() if key in self._tenants}
        self._on_tenants(list(self._tenants.values()))
        for start in range(0, len(rows), SLICE_ROWS):
            await asyncio.sleep(0)
            results = []
            known = []
            for row in rows[start : start + SLICE_ROWS]:
                results.extend(self._new_checks(row))
                known.append(row[2])
            self._on_rows(known)
            self._on_results(results)

    def _new_checks(self, row: _Row) -> list[CheckResult]:
        """The row's checks to hand on: its last one unless already sent (:meth:`_is_new`),
        after the last successful answer when the board has not had it (attached while
        the check fails, say in the server's own outage: the board then shows the last
        known state, stale, as a local board does, not an error)."""
        result, stamped, _, known = row
        if result is None:
            return []
        handed = self._checked.get(result.tenant.key)  # the last check handed on, when made
        if not self._is_new(result, stamped):
            return []
        if known is None or not stamped or (handed is not None and handed >= known.checked_at):
            return [result]
        return [known, result]

    def _is_new(self, result: CheckResult, stamped: bool) -> bool:
        """True unless the server already sent this check (it sends a row again when a
        mark or a window changes, and that is not another check)."""
        if not stamped:
            return True
        key = result.tenant.key
        if self._checked.get(key) == result.checked_at:
            return False
        self._checked[key] = result.checked_at
        return True

    def _apply(self, row: dict[str, Any]) -> ServerRow | None:
        """An event's row: hand on its check (when it is a new one); returns the rest."""
        tenant = self._tenants.get(str(row.get("key")))
        if tenant is None:
            return None
        checked = _read_row(row, tenant)
        for result in self._new_checks(checked):
            self._on_result(result)
        return checked[2]

    async def _follow(self, attached: Callable[[], None]) -> None:
        """Listen to the event stream from now on, read the snapshot meanwhile (``attached``
        once it is in), then take the events that came after it, and every event after
        those. Events are gathered while a snapshot is read, so that reading a big one
        (seconds, at 100,000 tenants) never loses the events of those seconds: asking for
        them afterwards (``Last-Event-ID``) finds them gone from a busy server, which
        answers ``reset``, and the snapshot would be read again, and again."""
        url = self.target.url + "/api/events"
        async with self._http.stream(
            "GET", url, headers={"Accept": "text/event-stream"}
        ) as response:
            self._check_allowed(response)
            response.raise_for_status()
            waiting = EventBacklog()
            listening = asyncio.create_task(_gather_events(response, waiting))
            try:
                await self._load_snapshot()
                await self._read_incidents()
                attached()
                taken = 0
                while (event := await _next_event(waiting, listening)) is not None:
                    await self._take(event)
                    taken += 1
                    if taken % EVENTS_PER_TURN == 0:  # those gathered meanwhile: in slices
                        await asyncio.sleep(0)
            finally:
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)

    async def _take(self, event: ServerEvent) -> None:
        """One event of the stream; those the snapshot read already (``seq``) are skipped."""
        if event.id is not None:
            if event.id <= self.seq:
                return
            self.seq = event.id
        if event.kind == "reset":
            await self._load_snapshot()
            await self._read_incidents()
            return
        data = event.data
        if not isinstance(data, dict):
            return
        if event.kind == "result":
            known = self._apply(data)
            if known is not None:
                self._on_rows([known])
        elif event.kind == "maintenance":
            self._on_windows(open_windows(data.get("open")))
        elif event.kind == "outage":
            self._on_outage(server_outage(data))
        elif event.kind == "tenant_file":
            self._on_file_error(file_error(data))
        elif event.kind == "incident":
            incident = reported_incident(data)
            if incident is not None:
                self._on_incidents([incident], False)

    async def _read_incidents(self) -> None:
        """The server's host incidents, open and lately resolved (it detects them; the
        board takes them rather than detecting its own from the checks it is sent)."""
        try:
            found = await self._ask("GET", "/api/incidents")
        except NotDone as exc:  # a moment's trouble: those that change come with the stream
            log.warning("host incidents not read from %s: %s", self.target.url, exc)
            return
        self._on_incidents(list(reported_incidents(found)), True)

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


#: Events taken between two turns of the event loop (a backlog that holds some hands them
#: out without one).
EVENTS_PER_TURN = 100
#: Events gathered while a snapshot is read, at most: a board this far behind reads the
#: snapshot again rather than hold more (at 2,000 results a second, 25 s of them).
MAX_WAITING_EVENTS = 50_000
#: Events waiting beyond the next few are kept compressed this many together.
PACKED_EVENTS = 64


class EventBacklog:
    """The events gathered and not taken yet, oldest first (what ``asyncio.Queue`` would
    hold, in less memory). While the board keeps up it holds a few, as they came; while it
    does not (a snapshot being read, seconds at 100,000 tenants, the server sending 2,000
    results a second) each :data:`PACKED_EVENTS` of them are kept compressed together
    (zlib: about 80 bytes an event, which as text is 1 KB of JSON held in 2 to 3 KB of
    string), and made again when the first of them is taken (about 25 µs an event both
    ways). Only this process's own data is pickled and unpickled."""

    def __init__(self) -> None:
        self._next: deque[ServerEvent | None] = deque()
        self._packed: deque[bytes] = deque()
        self._newest: list[ServerEvent | None] = []
        self._count = 0
        self._arrived = asyncio.Event()

    def __len__(self) -> int:
        return self._count

    def put(self, event: ServerEvent | None) -> None:
        """``event`` after the others (None: the stream ended)."""
        self._newest.append(event)
        self._count += 1
        if len(self._newest) >= PACKED_EVENTS:
            items = [
                None if item is None else (item.id, item.kind, item.text) for item in self._newest
            ]
            self._packed.append(zlib.compress(pickle.dumps(items, pickle.HIGHEST_PROTOCOL), 1))
            self._newest = []
        self._arrived.set()

    async def get(self) -> ServerEvent | None:
        """The oldest event, waiting for one when none is here."""
        while not self._count:
            self._arrived.clear()
            await self._arrived.wait()
        if not self._next:
            if self._packed:
                items = pickle.loads(zlib.decompress(self._packed.popleft()))
                self._next.extend(None if item is None else ServerEvent(*item) for item in items)
            else:
                self._next.extend(self._newest)
                self._newest = []
        self._count -= 1
        return self._next.popleft()

    def clear(self) -> None:
        """Drop every event held."""
        self._next.clear()
        self._packed.clear()
        self._newest = []
        self._count = 0


async def _gather_events(response: httpx.Response, waiting: EventBacklog) -> None:
    """Put the stream's events in ``waiting`` as they come, and None once it ends (or
    breaks); when more wait than :data:`MAX_WAITING_EVENTS`, they are dropped for one
    ``reset``."""
    try:
        async for event in server_events(response.aiter_lines()):
            if len(waiting) >= MAX_WAITING_EVENTS:
                waiting.clear()
                event = ServerEvent(None, "reset", '{"reason": "the board fell behind"}')
            waiting.put(event)
    finally:
        waiting.put(None)


async def _next_event(waiting: EventBacklog, listening: asyncio.Task[None]) -> ServerEvent | None:
    """The next event; None once the stream has ended (a stream that broke raises)."""
    event = await waiting.get()
    if event is None:
        await listening  # the stream's error, if it broke
    return event


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

    def __init__(self, feed: ServerFeed) -> None:
        self.feed = feed
        #: The server's own outage while it lasts (its snapshot and ``outage`` events say).
        self.outage: Outage | None = None

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
