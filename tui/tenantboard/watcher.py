"""The monitor without a screen: what `serve` runs, UI-free and reusable.

A :class:`Watcher` runs the engine's :class:`~tenantboard.engine.Monitor` on the tenant
file's list, keeps what it knows per tenant in a :class:`~tenantboard.rows.BoardModel` (so
it knows what changed), counts checks for the metrics, feeds the alert hooks, and tells
listeners (the server-sent event stream) about every result and change through an
:class:`EventHub`. It reloads the tenant file when the file changes, reading it off the
event loop; a file that no longer parses is reported once and the list it had is kept.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tenantboard import __version__
from tenantboard.answers import State
from tenantboard.check_output import check_record, marks_json, result_json
from tenantboard.clock import Clock, SystemClock
from tenantboard.connectivity import Outage
from tenantboard.engine import CheckResult, Monitor
from tenantboard.eventlog import logged_events
from tenantboard.humanize import GLYPHS, SEVERITY_WORDS, host_of
from tenantboard.rows import ERROR_BUCKET, PENDING_BUCKET, BoardModel, Change, TenantRow
from tenantboard.sanitize import clean
from tenantboard.schedule import RefreshPolicy
from tenantboard.tenant_file import Settings, StoreError, TenantList, TenantStore

if TYPE_CHECKING:  # the client and the history writer are passed in
    from tenantboard.client import TenantClient
    from tenantboard.history import HistoryWriter, Mark

log = logging.getLogger("tenantboard.watcher")

#: Upper bounds (seconds) of the check duration histogram's buckets.
DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Result label of a successful check; a failed one is counted by its error kind.
RESULT_OK = "ok"


class ChangeListener(Protocol):
    """What the watcher feeds after every result (the alert hooks)."""

    def observe(self, row: TenantRow) -> None: ...

    def forget(self, keys: Iterable[str]) -> None: ...


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


@dataclass(frozen=True, slots=True)
class HubEvent:
    seq: int
    kind: str
    #: The event's JSON text, made once however many listeners there are.
    data: str

    def sse(self) -> bytes:
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()


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

    def publish(self, kind: str, payload: dict[str, Any] | str) -> None:
        """One event; ``payload`` is JSON already or made JSON here."""
        self.seq += 1
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        event = HubEvent(self.seq, kind, data)
        self.recent.append(event)
        for subscription in self.subscribers:
            subscription.push(event)

    def reset_event(self, reason: str, seq: int | None = None) -> HubEvent:
        data = json.dumps({"reason": reason, "seq": self.seq if seq is None else seq})
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


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def last_change_at(row: TenantRow) -> datetime | None:
    """When the tenant's state (or whether checks succeed) last changed, as far as known."""
    for event in reversed(row.history):
        if event.kind != "endpoint":
            return event.at
    return None


def row_json(row: TenantRow, marks: Mapping[str, Mark] | None = None) -> dict[str, Any]:
    """One tenant as the snapshot and the event stream show it (see serve.py); ``marks``:
    its mute and acknowledgement in force, by kind."""
    state = row.state
    last = row.last
    severity = row.severity
    return {
        "key": row.tenant.key,
        "context_id": row.tenant.context_id,
        "env": row.tenant.env,
        "label": row.tenant.label,
        "severity": severity.name if severity is not None else "PENDING",
        "glyph": GLYPHS[severity],
        "bucket": row.bucket,
        "state": state.state_name if state else None,
        "state_code": state.state_code if state else None,
        "is_running": state.is_running if state else None,
        "running_mismatch": bool(state and state.running_mismatch),
        "endpoint_host": host_of(state.endpoint) if state else None,
        "version": row.version_label,
        "checked_at": iso(last.checked_at) if last else None,
        "last_change": iso(last_change_at(row)),
        "checks": row.checks,
        "error": last.error.as_json() if last and last.error else None,
        "result": result_json(last, versions=False) if last else None,
        "uptime_24h": row.uptime_24h,
        "marks": marks_json(marks) if marks else None,
        "rev": row.revision,
    }


def change_json(change: Change) -> dict[str, Any]:
    return {
        "key": change.row.tenant.key,
        "kind": change.event.kind,
        "text": change.event.text,
        "worse": change.worse,
        "at": iso(change.event.at),
        "severity": SEVERITY_WORDS[change.row.severity],
    }


# -- the watcher ------------------------------------------------------------------------------


class Watcher:
    """Keeps every tenant of the tenant file checked and remembers what it learnt."""

    def __init__(
        self,
        client: TenantClient,
        tenant_list: TenantList,
        settings: Settings,
        *,
        store: TenantStore | None = None,
        clock: Clock | None = None,
        listener: ChangeListener | None = None,
        on_hooks_changed: Callable[[TenantList], None] | None = None,
        watch_interval: float = 2.0,
        rng: Any = None,
        history: HistoryWriter | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        #: Records every result and change in the history database (its own thread).
        self.history = history
        self.store = store
        self.tenant_list = tenant_list
        self.model = BoardModel(tenant_list.tenants)
        self.stats = CheckStats()
        self.hub = EventHub()
        self.listener = listener
        self.on_hooks_changed = on_hooks_changed
        self.watch_interval = watch_interval
        #: Changes on every change the snapshot shows (its ETag).
        self.revision = 0
        #: Why the tenant file cannot be used now (None while it is fine).
        self.file_error: str | None = None
        #: The mutes and acknowledgements in force, by tenant key and kind (see set_marks).
        self.marks: dict[str, dict[str, Mark]] = {}
        self.started_at = self.clock.wall()
        self.monitor = Monitor(
            client,
            tenant_list.tenants,
            policy=RefreshPolicy(settings.min_interval, settings.max_interval, rng=rng),
            concurrency=settings.concurrency,
            on_result=self.record,
            clock=self.clock,
            on_outage=self._outage_changed,
        )
        self._fingerprint = store.fingerprint() if store else None
        #: key -> (row revision, the row as JSON, its ``check --json`` entry with no marks):
        #: made once per change, so that the snapshot of 10,000 tenants is a join, not
        #: 10,000 encodings.
        self._texts: dict[str, tuple[int, str, str | None]] = {}

    # -- results -------------------------------------------------------------------------

    def _outage_changed(self, outage: Outage) -> None:
        """Our own network trouble: one log line when it starts, one when it ends."""
        if outage.ended is None:
            log.warning("%s; probing instead of checking every tenant", outage.headline)
        else:
            log.warning("%s", outage.summary())

    def record(self, result: CheckResult) -> None:
        """Take one result: the model, the counts, the hooks, the log and the stream."""
        row = self.model.apply(result)
        if row is None:
            return
        self.stats.record(result)
        self.revision += 1
        if self.history is not None:
            self.history.add_results((result,))
        if self.listener is not None:
            try:
                self.listener.observe(row)
            except Exception:  # a hook's bug must never stop the checks
                log.exception("alert hooks failed on a result")
        self.hub.publish("result", self.row_text(row))
        changes = self.model.take_changes()
        for change in changes:
            _log_change(change)
            self.hub.publish("change", change_json(change))
        if changes and self.history is not None:
            self.history.add_events(logged_events(changes))

    # -- what the history adds ------------------------------------------------------------

    def set_uptime(self, uptime: Mapping[str, float | None]) -> None:
        """Each tenant's share of the last 24 hours it was up (None: not observed), read
        from the history now and then; floored to 0.01 % so that the rows (and their
        JSON) change only when the figure does."""
        changed = False
        for key, row in self.model.rows.items():
            share = uptime.get(key)
            if share is not None:
                share = math.floor(share * 10_000) / 10_000
            if row.uptime_24h != share:
                row.uptime_24h = share
                row.bump()
                changed = True
        if changed:
            self.revision += 1

    def set_marks(self, marks: Mapping[str, Mapping[str, Mark]]) -> None:
        """The mutes and acknowledgements in force, by tenant key and kind."""
        changed = False
        for key, row in self.model.rows.items():
            kinds = dict(marks.get(key) or {})
            if kinds != self.marks.get(key, {}):
                row.mark = "mute" if "mute" in kinds else "ack" if kinds else None
                row.bump()
                changed = True
        self.marks = {key: dict(kinds) for key, kinds in marks.items() if kinds}
        if changed:
            self.revision += 1

    # -- the list ------------------------------------------------------------------------

    def adopt(self, tenant_list: TenantList) -> None:
        """A new tenant file: rows of tenants still listed keep what they know."""
        before = self.tenant_list
        self.tenant_list = tenant_list
        if tenant_list.tenants != before.tenants:
            kept = {tenant.key for tenant in tenant_list.tenants}
            gone = [tenant.key for tenant in before.tenants if tenant.key not in kept]
            self.model.set_tenants(tenant_list.tenants)
            self.monitor.set_tenants(tenant_list.tenants)
            for key in gone:
                self._texts.pop(key, None)
            if self.listener is not None and gone:
                self.listener.forget(gone)
            log.info(
                "tenant file reloaded: %d tenants (%d added, %d removed)",
                len(tenant_list.tenants),
                len(kept - {tenant.key for tenant in before.tenants}),
                len(gone),
            )
            self.revision += 1
            self.hub.publish(
                "reset", {"reason": "the tenant list changed", "seq": self.hub.seq + 1}
            )
        if tenant_list.notify != before.notify and self.on_hooks_changed is not None:
            self.on_hooks_changed(tenant_list)
            log.info("alert hooks reloaded: %d configured", len(tenant_list.notify))
        if tenant_list.settings != before.settings or tenant_list.keys != before.keys:
            log.warning("[settings] changed in the tenant file: restart serve to apply them")

    def _load_if_changed(self) -> TenantList | None:
        """Runs in a worker thread: the file is read off the event loop."""
        assert self.store is not None
        fingerprint = self.store.fingerprint()
        if fingerprint == self._fingerprint:
            return None
        self._fingerprint = fingerprint
        if fingerprint is None:
            raise StoreError(self.store.path, "the file is gone")
        return self.store.load()

    async def reload_if_changed(self) -> bool:
        """Adopt the tenant file if it changed; True when it was read."""
        if self.store is None:
            return False
        try:
            loaded = await asyncio.to_thread(self._load_if_changed)
        except StoreError as exc:
            self.file_error = f"{exc}"
            self.revision += 1
            log.error("the tenant file changed but cannot be used: %s; keeping the list", exc)
            return False
        if loaded is None:
            return False
        if self.file_error is not None:
            log.info("the tenant file can be used again")
            self.file_error = None
            self.revision += 1
        self.adopt(loaded)
        return True

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Check and watch the file until cancelled."""
        monitor = asyncio.create_task(self.monitor.run(), name="monitor")
        try:
            while True:
                await asyncio.sleep(self.watch_interval)
                if monitor.done():
                    await monitor  # surfaces the monitor's crash
                self.monitor.wake_if_overdue()
                await self.reload_if_changed()
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)
            self.hub.close()

    # -- views ---------------------------------------------------------------------------

    def severity_counts(self) -> Counter[str]:
        """Tenants per severity word: ok, warning, critical, unknown, pending."""
        counts: Counter[str] = Counter({word: 0 for word in SEVERITY_WORDS.values()})
        for bucket, count in self.model.counts.items():
            counts[_BUCKET_SEVERITY.get(bucket, "unknown")] += count
        return counts

    def _texts_of(self, row: TenantRow) -> tuple[int, str, str | None]:
        texts = self._texts.get(row.tenant.key)
        if texts is None or texts[0] != row.revision:
            data = row_json(row, self.marks.get(row.tenant.key))
            record = json.dumps(check_record(row.last), ensure_ascii=False) if row.last else None
            texts = (row.revision, json.dumps(data, ensure_ascii=False), record)
            self._texts[row.tenant.key] = texts
        return texts

    def row_text(self, row: TenantRow) -> str:
        """The row as :func:`row_json`, encoded (once per change of the row)."""
        return self._texts_of(row)[1]

    def snapshot_text(self) -> str:
        """Everything known, as JSON (see serve.py for the shape)."""
        head = json.dumps(
            {
                "generated_at": iso(self.clock.wall()),
                "started_at": iso(self.started_at),
                "version": __version__,
                "seq": self.hub.seq,
                "total": len(self.model.list_order),
                "severities": dict(self.severity_counts()),
                "counts": dict(self.model.counts),
                "tenant_file_error": self.file_error,
            },
            ensure_ascii=False,
        )
        rows = (self.row_text(self.model.rows[key]) for key in self.model.list_order)
        return f'{head[:-1]}, "tenants": [{", ".join(rows)}]}}'

    def tenants_text(self, marks: Mapping[str, Mapping[str, Any]] | None = None) -> str:
        """What `check --json` prints, for every tenant checked so far, in list order;
        ``marks``: the active mutes and acknowledgements by tenant key and kind (few: only
        those tenants' entries are encoded here, the rest are kept from their change)."""
        marks = marks or {}
        rows = self.model.rows
        texts = []
        for key in self.model.list_order:
            row = rows[key]
            if key in marks and row.last is not None:
                texts.append(json.dumps(check_record(row.last, marks[key]), ensure_ascii=False))
            else:
                text = self._texts_of(row)[2]
                if text is not None:
                    texts.append(text)
        return f"[{', '.join(texts)}]"

    @property
    def path(self) -> Path | None:
        return self.store.path if self.store else None


#: The model counts rows by bucket (state name, errors, not checked yet); a name that is
#: not documented is an unknown state.
_BUCKET_SEVERITY: dict[str, str] = {
    **{state.name: SEVERITY_WORDS[state.severity] for state in State},
    ERROR_BUCKET: "unknown",
    PENDING_BUCKET: "pending",
}


def _log_change(change: Change) -> None:
    tenant = change.row.tenant
    name = f"{tenant.context_id} ({tenant.env})"
    label = f" {clean(tenant.label, 60)!r}" if tenant.label else ""
    log.log(
        logging.WARNING if change.worse else logging.INFO,
        "%s%s: %s",
        name,
        label,
        change.event.text,
        extra={
            "data": {
                "key": tenant.key,
                "kind": change.event.kind,
                "worse": change.worse,
                "severity": SEVERITY_WORDS[change.row.severity],
            }
        },
    )
