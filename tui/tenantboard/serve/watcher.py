"""`serve`'s face on a session: counts for the metrics, JSON for the API, the event stream.

The checking, recording, marks, alert hooks and tenant-file reloads are the session's
(:class:`~tenantboard.session.Session`). A :class:`Watcher` subscribes to it, counts checks
for the metrics, keeps each row's JSON (made once per change of the row, kept compressed),
logs the changes, and tells listeners (the server-sent event stream) about every result and
change through an :class:`EventHub`.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import math
import time
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tenantboard import __version__
from tenantboard.check_output import check_record, marks_json, state_json
from tenantboard.clock import utc_iso
from tenantboard.engine import CheckResult
from tenantboard.eventlog import LoggedEvent
from tenantboard.humanize import GLYPHS, SEVERITY_WORDS, host_of
from tenantboard.rows import PENDING_BUCKET, BoardModel, TenantRow, bucket_severity
from tenantboard.sanitize import clean, quoted
from tenantboard.session import Session
from tenantboard.session_changes import (
    AvailabilityRead,
    EventsLogged,
    FileStatus,
    IncidentChanged,
    ListChanged,
    MaintenanceChanged,
    MarksChanged,
    OutageChanged,
    ResultsApplied,
    SessionChange,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from tenantboard.history.db import Mark

log = logging.getLogger("tenantboard.watcher")

#: Upper bounds (seconds) of the check duration histogram's buckets.
DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Result label of a successful check; a failed one is counted by its error kind.
RESULT_OK = "ok"


@dataclass(slots=True)
class CheckStats:
    """Checks by result and their durations, for the counter and the histogram."""

    by_result: Counter[str] = field(default_factory=Counter)
    #: Non-cumulative counts per bucket of :data:`DURATION_BUCKETS`, plus one for +Inf.
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0

    def record(self, result: CheckResult) -> None:
        self.by_result[RESULT_OK if result.error is None else str(result.error.kind)] += 1
        self.bucket_counts[bisect.bisect_left(DURATION_BUCKETS, result.duration)] += 1
        self.duration_sum += result.duration

    @property
    def count(self) -> int:
        return sum(self.bucket_counts)


# -- the event stream --------------------------------------------------------------------


class HubEvent:
    """One numbered event. Its JSON (UTF-8) is made once however many listeners there are,
    and not before one wants it: with nobody listening, a result's row is kept to be made
    if a client reconnects asking for what it missed (it then gets the row as it is by
    then, never older; its ``rev`` tells)."""

    __slots__ = ("_data", "_make", "kind", "seq")

    def __init__(
        self,
        seq: int,
        kind: str,
        data: bytes | None = None,
        make: Callable[[], bytes] | None = None,
    ) -> None:
        self.seq = seq
        self.kind = kind
        self._data = data
        self._make = make

    @property
    def data(self) -> bytes:
        if self._data is None:
            assert self._make is not None
            self._data, self._make = self._make(), None
        return self._data

    def sse(self) -> bytes:
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (self.seq, self.kind.encode(), self.data)


class Subscription:
    """One listener's queue of events. A listener that falls behind by more than
    ``limit`` events loses them and gets one ``reset`` instead (fetch the snapshot again)."""

    def __init__(self, hub: EventHub, limit: int) -> None:
        self._hub = hub
        self._limit = limit
        self._pending: deque[HubEvent] = deque()
        self._wake = asyncio.Event()
        self.closed = False

    def push(self, event: HubEvent) -> None:
        if len(self._pending) >= self._limit:
            self._pending.clear()
            event = self._hub.reset_event("the listener fell behind", event.seq)
        self._pending.append(event)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next_batch(self, timeout: float) -> list[HubEvent]:
        """The events waiting (empty after ``timeout`` seconds without any, or once closed)."""
        if not self._pending and not self.closed:
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return []
        batch = list(self._pending)
        self._pending.clear()
        return batch

    def unsubscribe(self) -> None:
        self._hub.subscribers.discard(self)


class EventHub:
    """Numbered events for the server-sent event stream, the newest ``keep`` kept so a
    client that reconnects with ``Last-Event-ID`` misses nothing."""

    def __init__(self, keep: int = 4096, listener_limit: int = 20_000) -> None:
        self.seq = 0
        self.recent: deque[HubEvent] = deque(maxlen=keep)
        self.subscribers: set[Subscription] = set()
        self.listener_limit = listener_limit

    def publish(self, kind: str, payload: dict[str, Any] | bytes | Callable[[], bytes]) -> None:
        """One event; ``payload`` is JSON already (UTF-8), made JSON here, or what makes
        it: called at once for the listeners, or later if a client asks for it (a first
        pass of 100,000 tenants with nobody listening makes none)."""
        self.seq += 1
        if callable(payload):
            event = HubEvent(self.seq, kind, make=payload)
            if self.subscribers:
                event.data  # noqa: B018 (made now, once, for every listener)
        else:
            data = payload if isinstance(payload, bytes) else dumps(payload)
            event = HubEvent(self.seq, kind, data)
        self.recent.append(event)
        for subscription in self.subscribers:
            subscription.push(event)

    def reset_event(self, reason: str, seq: int | None = None) -> HubEvent:
        data = dumps({"reason": reason, "seq": self.seq if seq is None else seq})
        return HubEvent(self.seq if seq is None else seq, "reset", data)

    def subscribe(self, last_event_id: int | None = None) -> Subscription:
        """A new listener; with ``last_event_id``, first the events it missed since then."""
        subscription = Subscription(self, self.listener_limit)
        if last_event_id is not None and last_event_id < self.seq:
            oldest = self.recent[0].seq if self.recent else self.seq + 1
            if last_event_id + 1 >= oldest:
                for event in self.recent:
                    if event.seq > last_event_id:
                        subscription.push(event)
            else:
                subscription.push(self.reset_event("those events are no longer kept"))
        self.subscribers.add(subscription)
        return subscription

    def close(self) -> None:
        for subscription in list(self.subscribers):
            subscription.close()


# -- JSON views ------------------------------------------------------------------------------


def dumps(data: Any) -> bytes:
    """JSON as UTF-8: what goes on the wire, and half the memory of a ``str`` holding a
    glyph (a string with one character past Latin-1 takes two bytes per character)."""
    return json.dumps(data, ensure_ascii=False).encode()


def last_change_at(row: TenantRow) -> datetime | None:
    """When the tenant's state (or whether checks succeed) last changed, as far as known."""
    for event in reversed(row.history):
        if event.kind in ("state", "failure", "recovery"):
            return event.at
    return None


def last_known_json(row: TenantRow) -> dict[str, Any] | None:
    """While the tenant's last check failed: its last successful answer and when it was
    had (``checked_at``), so an attached board keeps showing what was last known, as a
    local board keeps its row's state (stale in our own outage). None otherwise."""
    last, state, answered_at = row.last, row.state, row.last_success_at
    if last is None or last.error is None or state is None or answered_at is None:
        return None
    return {**state_json(state), "checked_at": utc_iso(answered_at)}


def row_json(row: TenantRow, marks: Mapping[str, Mark] | None = None) -> dict[str, Any]:
    """One tenant as the snapshot and the event stream show it (see server.py); ``marks``:
    its mute and acknowledgement in force, by kind. Its ``result`` is its last check as
    ``/api/tenants`` shows it (marks and window included), and comes last."""
    state = row.state
    last = row.last
    severity = row.severity
    return {
        "key": row.tenant.key,
        "context_id": row.tenant.context_id,
        "env": row.tenant.env,
        "label": row.tenant.label,
        "tags": list(row.tenant.tags),
        "severity": severity.name if severity is not None else "PENDING",
        "glyph": GLYPHS[severity],
        "bucket": row.bucket,
        "state": state.state_name if state else None,
        "state_code": state.state_code if state else None,
        "is_running": state.is_running if state else None,
        "running_mismatch": bool(state and state.running_mismatch),
        "endpoint_host": host_of(state.endpoint) if state else None,
        "version": row.version_label,
        "checked_at": utc_iso(last.checked_at) if last else None,
        "last_change": utc_iso(last_change_at(row)),
        "checks": row.checks,
        "error": last.error.as_json() if last and last.error else None,
        # The last check failed in our own outage: not the tenant's failure (stale).
        "during_outage": bool(last and last.during_outage),
        "last_known": last_known_json(row),
        "marks": marks_json(marks) if marks else None,
        "maintenance": row.window.as_json() if row.window is not None else None,
        # The uptime, the revision and the result come last: RowText keeps them apart.
        "uptime_24h": row.uptime_24h,
        "rev": row.revision,
        "result": check_record(last, marks, window=row.window) if last else None,
    }


#: A check record as most rows hold it (an OK answer), for :data:`ROW_DICTIONARY`.
_TYPICAL_RECORD = (
    b'{"context_id": "Cust1", "env": "online", '
    b'"label": "Cust1", "state": "Running", "state_code": 2, "recognised": true, '
    b'"is_running": true, "running_mismatch": false, '
    b'"endpoint": "https://online.superoffice.com/Cust1", '
    b'"api": "https://online.superoffice.com/Cust1/api", "valid_until": "2026-01-01T00:00:00Z", '
    b'"release": null, "severity": "OK", "checked_at": "2026-01-01T00:00:00Z", "error": null, '
    b'"muted": null, "acknowledged": null, "maintenance": null}'
)
#: What most rows' JSON says (an OK row with its check record): each row's JSON is kept
#: compressed against it (zlib's preset dictionary), so that a row is kept in about a
#: tenth of its size and still made again in a microsecond or two.
ROW_DICTIONARY = (
    b'{"key": "online:Cust1", "context_id": "Cust1", "env": "online", "label": "Cust1", '
    b'"tags": [], "severity": "PENDING", "glyph": "\xe2\x80\xa6", "bucket": "error", '
    b'"state": null, "state_code": null, "is_running": null, "running_mismatch": false, '
    b'"endpoint_host": null, "version": null, "checked_at": null, "last_change": null, '
    b'"checks": 0, "error": {"kind": "timeout", "message": "", "status": null}, '
    b'"during_outage": false, "last_known": null, "marks": null, '
    b'"maintenance": null, "uptime_24h": 1.0, "rev": 1, "result": '
    + _TYPICAL_RECORD
    + b'}, "severity": "OK", '
    b'"glyph": "\xe2\x9c\x94", "bucket": "Running", "state": "Running", "state_code": 2, '
    b'"is_running": true, "running_mismatch": false, "endpoint_host": "online.superoffice.com", '
    b'"version": null, "checked_at": "2026-01-01T00:00:00Z", '
    b'"last_change": "2026-01-01T00:00:00Z", "checks": 1, "error": null, '
    b'"during_outage": false, "last_known": null, "marks": null, '
    b'"maintenance": null, "uptime_24h": null, "rev": 1, "result": ' + _TYPICAL_RECORD + b"}"
)
#: Raw deflate with a 2 KB window (the dictionary fits) and a small hash table: the
#: compressor's own memory is allocated and freed per row, and zlib's defaults (256 KB)
#: made that cost more than the compression itself.
_WINDOW_BITS = -11
_MEMORY_LEVEL = 4


def pack(text: bytes) -> bytes:
    """``text`` compressed against :data:`ROW_DICTIONARY` (:func:`unpack` makes it again)."""
    packer = zlib.compressobj(
        1, zlib.DEFLATED, _WINDOW_BITS, _MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY, ROW_DICTIONARY
    )
    return packer.compress(text) + packer.flush()


def unpack(packed: bytes) -> bytes:
    return zlib.decompressobj(_WINDOW_BITS, ROW_DICTIONARY).decompress(packed)


#: While tenants wait for their first check, every KEEP_EVERY seconds the JSON of up to
#: KEEP_ROWS rows changed while nobody listened is made (about 35 µs each: 1,000 rows a
#: second, 3.5 % of a core at most), so that the first pass spends its CPU on the checks.
KEEP_EVERY = 0.1
KEEP_ROWS = 100
#: Once none waits, the rows left are made KEEP_REST seconds apart, as many as
#: KEEP_SLICE_SECONDS allows (a fifth of the loop at most): the 75,000 rows a first pass of
#: 100,000 tenants leaves are made in the 15-40 s after it, not the 75 s at 1,000 a second
#: (a snapshot asked for meanwhile made them itself: 4.5-8 s). Either way no turn of the
#: loop spends more than KEEP_SLICE_SECONDS on them.
KEEP_SLICE_SECONDS = 0.005
KEEP_REST = 0.02

#: Rows whose kept JSON is mended for their new uptime per turn of the event loop (0.5 µs
#: a mend timed alone, with two lookups a row: a few milliseconds a turn; nothing is
#: compressed).
MEND_SLICE = 3000


class RowText(NamedTuple):
    """One row's JSON, kept until the row changes: the snapshot of 100,000 tenants is then
    made of the rows' texts, not 100,000 encodings. Kept compressed (:func:`pack`): 100,000
    rows' JSON took 110 MB as it is, about a tenth of that so. ``/api/tenants`` (the check
    records) and the snapshot (the rows, each holding its record) share it.

    The 24-hour uptime and the revision are kept beside the compressed text and put in
    when it is read: each minute's uptime read changes most rows' uptime and nothing
    else, and unpacking and packing each row again took 50 µs of the event loop a row and
    let go of the interpreter lock three times (interpreter_lock.py): 100,000 rows held
    the loop 40-380 ms a slice while other threads computed."""

    revision: int
    #: The row's JSON up to its uptime (its opening brace and the fields before), then its
    #: ``result`` (the last check as ``/api/tenants`` shows it), compressed (:func:`pack`).
    packed: bytes
    #: Where its ``result`` begins in the packed text; 0 when it is null (not checked yet).
    record_at: int
    uptime: float | None

    @classmethod
    def made(cls, row: TenantRow, marks: Mapping[str, Mark] | None) -> tuple[RowText, bytes]:
        """The row's text to keep, and its JSON."""
        data = row_json(row, marks)
        record, uptime, revision = data.pop("result"), data.pop("uptime_24h"), data.pop("rev")
        head = dumps(data)[:-1]
        if record is None:
            kept = cls(revision, pack(head), 0, uptime)
            return kept, kept._joined(head, None)
        recorded = dumps(record)
        kept = cls(revision, pack(head + recorded), len(head), uptime)
        return kept, kept._joined(head, recorded)

    @property
    def row(self) -> bytes:
        text = unpack(self.packed)
        if not self.record_at:
            return self._joined(text, None)
        return self._joined(text[: self.record_at], text[self.record_at :])

    @property
    def record(self) -> bytes | None:
        """Its ``result`` alone (None: not checked yet)."""
        return unpack(self.packed)[self.record_at :] if self.record_at else None

    def with_uptime(self, uptime: float | None, revision: int) -> RowText:
        """The same row with another 24-hour uptime and revision: what :meth:`made` would
        make of it (0.5 µs: nothing is compressed again)."""
        return RowText(revision, self.packed, self.record_at, uptime)

    def _joined(self, head: bytes, record: bytes | None) -> bytes:
        uptime = b"null" if self.uptime is None else _json_number(self.uptime)
        return b"".join(
            (
                head,
                b', "uptime_24h": ',
                uptime,
                b', "rev": %d, "result": ' % self.revision,
                b"null" if record is None else record,
                b"}",
            )
        )


def _json_number(value: float) -> bytes:
    """``value`` as JSON writes it (a finite float: its repr), without json's overhead."""
    return repr(value).encode() if math.isfinite(value) else dumps(value)


def change_json(event: LoggedEvent) -> dict[str, Any]:
    return {
        "key": event.key,
        "name": event.name,
        "kind": event.kind,
        "text": event.text,
        "worse": event.worse,
        "at": utc_iso(event.at),
        "severity": event.severity,
    }


# -- the watcher ------------------------------------------------------------------------------


class Watcher:
    """`serve`'s view of one session (see the module's docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.clock = session.clock
        self.stats = CheckStats()
        self.hub = EventHub()
        #: Changes on every change the snapshot shows (its ETag).
        self.revision = 0
        self.started_at = self.clock.wall()
        #: key -> the row's JSON as of its revision (made once per change of the row).
        self._texts: dict[str, RowText] = {}
        #: Rows changed while nobody listened, their JSON not made yet.
        self._unmade: dict[str, None] = {}
        #: The task mending rows' kept JSON after an uptime read (:meth:`_mend_uptimes`).
        self._mending: asyncio.Task[None] | None = None
        session.subscribe(self._session_changed)
        session.uptime_wanted = True  # every row of the snapshot has its 24-hour uptime
        session.keep_group_counts()  # /metrics counts tenants per group

    @property
    def model(self) -> BoardModel:
        return self.session.model

    @property
    def file_error(self) -> str | None:
        """Why the tenant file cannot be used now (None while it is fine)."""
        return self.session.file_problem

    @property
    def path(self) -> Path | None:
        store = self.session.config.store
        return store.path if store else None

    def record(self, result: CheckResult) -> None:
        """Apply one result as the monitor does (the bench and tests feed results by hand)."""
        self.session.apply([result])

    def _session_changed(self, change: SessionChange) -> None:
        match change:
            case ResultsApplied(results=results, rows=rows):
                for result in results:
                    self.stats.record(result)
                self._publish_rows(rows)
                self.revision += 1
            case EventsLogged(events=events):
                for event in events:
                    _log_event(event)
                    self.hub.publish("change", change_json(event))
            case ListChanged(removed=removed):
                for key in removed:
                    self._texts.pop(key, None)
                self.revision += 1
                self.hub.publish(
                    "reset", {"reason": "the tenant list changed", "seq": self.hub.seq + 1}
                )
            case IncidentChanged(incident=incident, what=what):
                self.revision += 1
                self.hub.publish("incident", {**incident.as_json(), "change": what})
            case OutageChanged(outage=outage, held=held):
                # First the outage, so a follower holds the rows that come after it.
                self.hub.publish("outage", outage.as_json())
                self._publish_rows(held)  # failed in it before it was told: stale, not an error
                self.revision += 1
            case MarksChanged(keys=keys):
                marked = [row for key in keys if (row := self.model.rows.get(key)) is not None]
                for row in marked:  # who and until when show in the row, not only the kind
                    row.bump()
                self._publish_rows(marked)  # attached boards
                self.revision += 1
            case FileStatus():  # attached boards say it as the server's file's problem
                self.revision += 1
                self.hub.publish("tenant_file", {"tenant_file_error": self.file_error})
            case AvailabilityRead(uptime_changed=changed):  # the rows that changed are bumped
                self.revision += 1
                if changed:
                    self._mend_uptimes(changed)
            case MaintenanceChanged(keys=keys):
                self.revision += 1
                rows = self.model.rows
                self._publish_rows(rows[key] for key in keys if key in rows)
                self.hub.publish("maintenance", {"open": self.open_windows_json()})

    def _publish_rows(self, rows: Iterable[TenantRow]) -> None:
        """Each row as a ``result`` event (a check's, a mark's, a window's), its JSON made
        at once for those listening, else when a client asks or in the background. The nightly
        window's opening and closing change every row: 100,000 rows' JSON made at once
        held the event loop for seconds."""
        listened = bool(self.hub.subscribers)
        for row in rows:
            self.hub.publish("result", partial(self._streamed_row, row))
            if not listened:
                self._unmade[row.tenant.key] = None

    async def run(self) -> None:
        """Check and watch the file until cancelled (the session's run)."""
        keeping = asyncio.create_task(self._keep_texts(), name="serve row texts")
        try:
            await self.session.run()
        finally:
            keeping.cancel()
            if self._mending is not None:
                self._mending.cancel()
            self.hub.close()

    async def _keep_texts(self) -> None:
        """Make the JSON of rows that changed with nobody listening, a few at a time: a
        snapshot then finds them made, and a first pass of 100,000 tenants spends its CPU
        on the checks (the rows it leaves are made in the seconds after it)."""
        while True:
            if self._unmade and not self.model.counts.get(PENDING_BUCKET):
                self._make_unmade(len(self._unmade))
                await asyncio.sleep(KEEP_REST)
            else:
                await asyncio.sleep(KEEP_EVERY)
                self._make_unmade(KEEP_ROWS)

    def _make_unmade(self, most: int) -> None:
        """Make up to ``most`` rows not made yet, the newest first, for at most
        :data:`KEEP_SLICE_SECONDS`."""
        rows, unmade = self.model.rows, self._unmade
        until = time.perf_counter() + KEEP_SLICE_SECONDS
        for _ in range(min(most, len(unmade))):
            key, _ = unmade.popitem()  # the newest: O(1), where the oldest is not
            row = rows.get(key)
            if row is not None:
                self._texts_of(row)
            if time.perf_counter() >= until:
                return

    # -- views ---------------------------------------------------------------------------

    def severity_counts(self) -> Counter[str]:
        """Tenants per severity word: ok, warning, critical, unknown, pending."""
        counts: Counter[str] = Counter({word: 0 for word in SEVERITY_WORDS.values()})
        for bucket, count in self.model.counts.items():
            counts[SEVERITY_WORDS[bucket_severity(bucket)]] += count
        return counts

    def _texts_of(self, row: TenantRow) -> RowText:
        texts = self._texts.get(row.tenant.key)
        if texts is None or texts.revision != row.revision:
            texts = self._made(row)[0]
        return texts

    def _made(self, row: TenantRow) -> tuple[RowText, bytes]:
        marks = {mark.kind: mark for mark in self.session.marks.of(row.tenant.key)}
        texts, text = RowText.made(row, marks)
        self._texts[row.tenant.key] = texts
        return texts, text

    def _mend_uptimes(self, changed: tuple[tuple[str, int, int], ...]) -> None:
        """Bring the kept JSON of rows whose uptime alone changed up to date, a slice a
        turn of the event loop, so that the next snapshot finds them made (otherwise it
        made 100,000 rows again after each minute's read: seconds of the loop's time)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (fed by hand): each row is made again when it is read
        if self._mending is not None:
            self._mending.cancel()  # the rows it had left are in this read too, or changed
        self._mending = loop.create_task(self._mend(changed), name="serve mend uptimes")

    async def _mend(self, changed: tuple[tuple[str, int, int], ...]) -> None:
        texts, rows = self._texts, self.model.rows
        for start in range(0, len(changed), MEND_SLICE):
            for key, before, after in changed[start : start + MEND_SLICE]:
                kept, row = texts.get(key), rows.get(key)
                if kept is None or row is None or kept.revision != before:
                    continue
                if row.revision == after:  # nothing else changed since
                    texts[key] = kept.with_uptime(row.uptime_24h, after)
            await asyncio.sleep(0)
        self._mending = None

    def _streamed_row(self, row: TenantRow) -> bytes:
        """A result's row for the event stream, made when a listener wants it: a row no
        longer listed by then is made as it was, and not kept."""
        if self.model.rows.get(row.tenant.key) is row:
            return self.row_bytes(row)
        return RowText.made(row, None)[1]

    def row_bytes(self, row: TenantRow) -> bytes:
        """The row as :func:`row_json`, encoded (once per change of the row)."""
        texts = self._texts.get(row.tenant.key)
        if texts is None or texts.revision != row.revision:
            return self._made(row)[1]
        return texts.row

    def snapshot_pieces(self) -> Iterator[bytes]:
        """Everything known, as JSON (see server.py for the shape), in pieces: the head,
        then a slice of the rows at a time (:func:`slices`). The server writes each piece
        as it comes and lets the event loop run before the next, so 100,000 rows never
        hold up the checks; rows that change meanwhile are sent as they are by then
        (never older than ``seq``), and a tenant removed meanwhile is left out."""
        head = dumps(
            {
                "generated_at": utc_iso(self.clock.wall()),
                "started_at": utc_iso(self.started_at),
                "version": __version__,
                "seq": self.hub.seq,
                "total": len(self.model.list_order),
                "severities": dict(self.severity_counts()),
                "counts": dict(self.model.counts),
                "tenant_file_error": self.file_error,
                "maintenance": self.open_windows_json(),
                "outage": self.outage_json(),
            }
        )
        yield head[:-1] + b', "tenants": ['
        yield from slices(list(self.model.list_order), self._row_piece)
        yield b"]}"

    def _row_piece(self, key: str) -> tuple[bytes, ...] | None:
        row = self.model.rows.get(key)
        return (self._texts_of(row).row,) if row is not None else None

    def snapshot_text(self) -> str:
        """The snapshot in one string (tests; the server streams :meth:`snapshot_pieces`)."""
        return b"".join(self.snapshot_pieces()).decode()

    def outage_json(self) -> dict[str, Any] | None:
        """Our own outage while it lasts (SuperOffice cannot be reached), else None."""
        outage = self.session.outage
        return outage.as_json() if outage is not None else None

    def open_windows_json(self) -> list[dict[str, Any]]:
        """The maintenance windows open now, the one that closes last first."""
        return [window.as_json() for window in self.session.maintenance.open]

    def incidents_text(self) -> str:
        """``/api/incidents``: open host incidents, then those resolved since `serve`
        started (the newest 50), newest first."""
        incidents = self.session.incidents
        return json.dumps(
            {
                "generated_at": utc_iso(self.clock.wall()),
                "open": len(incidents.open),
                "incidents": [incident.as_json() for incident in incidents.all()],
            },
            ensure_ascii=False,
        )

    def tenants_pieces(self) -> Iterator[bytes]:
        """What `check --json` prints, for every tenant checked so far, in list order, with
        the session's mutes and acknowledgements in force and the window covering each,
        in pieces as :meth:`snapshot_pieces`. The entries are the rows' own (kept until the
        row changes); only a marked tenant's is made here, its marks read as of now."""
        marks = self.session.marks_by_kind()

        def entry(key: str) -> tuple[bytes, ...] | None:
            row = self.model.rows.get(key)
            if row is None or row.last is None:
                return None
            if key in marks:
                return (dumps(check_record(row.last, marks[key], window=row.window)),)
            record = self._texts_of(row).record
            return (record,) if record is not None else None

        yield b"["
        yield from slices(list(self.model.list_order), entry)
        yield b"]"

    def tenants_text(self) -> str:
        """``/api/tenants`` in one string (tests; the server streams :meth:`tenants_pieces`)."""
        return b"".join(self.tenants_pieces()).decode()


#: A streamed answer's piece holds at most this many rows, and is cut sooner once making it
#: took this long: between pieces the event loop runs (checks, other requests). Each
#: piece waits for a turn of the loop, 10 to 30 ms while checks run back to back: pieces
#: of 5 ms made the snapshot of 100,000 tenants take up to 4.5 s; pieces of 20 ms, with
#: the rest of a turn, held the loop 50-80 ms.
PIECE_ROWS = 20_000
PIECE_SECONDS = 0.01


def slices(keys: list[str], encode: Callable[[str], tuple[bytes, ...] | None]) -> Iterator[bytes]:
    """The JSON texts ``encode`` makes of ``keys`` (each in parts; None: left out),
    comma-separated, in pieces of at most :data:`PIECE_ROWS` texts or :data:`PIECE_SECONDS`
    of work. The parts are joined once, into the piece: no bytes object per row."""
    parts: list[bytes] = []
    count = 0
    first = True
    started = time.perf_counter()
    for key in keys:
        text = encode(key)
        if text is None:
            continue
        if count or not first:
            parts.append(b", ")
        parts.extend(text)
        count += 1
        if count >= PIECE_ROWS or (
            count % 64 == 0 and time.perf_counter() - started > PIECE_SECONDS
        ):
            yield b"".join(parts)
            first, parts, count = False, [], 0
            started = time.perf_counter()
    if parts:
        yield b"".join(parts)


def _log_event(event: LoggedEvent) -> None:
    """A change as a log line; changes for the worse at warning."""
    env, _, context_id = event.key.partition(":")
    if context_id:
        name = f"{context_id} ({env})"
        label = f" {quoted(event.name)}" if event.name != context_id else ""
    else:
        name, label = clean(event.name, 60), ""
    log.log(
        logging.WARNING if event.worse else logging.INFO,
        "%s%s: %s",
        name,
        label,
        event.text,
        extra={
            "data": {
                "key": event.key,
                "kind": event.kind,
                "worse": event.worse,
                "severity": event.severity,
            }
        },
    )
