"""Alert hooks (``[[notify]]`` in the tenant file): a command or a webhook per hook.

Per hook and tenant, a small state machine decides what to report:

- A tenant's first severity is its baseline: nothing is sent for it (the Prometheus alert
  rules cover standing conditions).
- A change for the worse is reported once it has lasted ``failure_threshold`` consecutive
  checks (Gatus's failure-threshold); a shorter blip sends nothing at all.
- A return to OK after a reported change for the worse is "resolved" (``send_on_resolved``);
  any other change for the better is reported with ``on = ["better"]``.
- A tenant that ``is_silenced(key)`` says is muted or acknowledged sends nothing; the
  change is counted as ``silenced``.

Changes are grouped: the first starts a ``group_seconds`` window, and everything that
changed within it goes out as one message. Messages wait in a bounded queue per hook and
a worker delivers them with retries and backoff, so a slow or dead receiver never holds up
a check; when the queue is full a message is dropped. Every outcome is logged and counted
(``tenantboard_notifications_total{hook,result}``).

The payload (webhook body, or a command's standard input) is JSON with a ``text`` field
that Slack and Microsoft Teams incoming webhooks show as it is, plus structured fields::

    {"text": "...", "source": "tenantboard", "hook": "ops", "test": false,
     "sent_at": "2026-...Z", "counts": {"worse": 1, "better": 0, "resolved": 0},
     "events": [{"kind": "worse", "key": "online:Cust1006", "context_id": "Cust1006",
                 "env": "online", "label": "...", "from_state": "Running",
                 "to_state": "Unknown", "from_severity": "ok", "to_severity": "critical",
                 "endpoint_host": "...", "error": null, "at": "2026-...Z"}]}
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tenantboard.answers import Severity
from tenantboard.humanize import GLYPHS, SEVERITY_WORDS, host_of
from tenantboard.rows import TenantRow
from tenantboard.sanitize import clean
from tenantboard.tenant_file import NotifyHook

log = logging.getLogger("tenantboard.notify")

#: Messages waiting per hook before new ones are dropped.
QUEUE_LIMIT = 100
#: Tenants listed one per line in a grouped message's text; the rest are counted.
TEXT_LINES = 20
#: Outcomes counted per hook.
RESULTS = ("sent", "failed", "dropped", "silenced")

Silenced = Callable[[str], bool]


class DeliveryError(Exception):
    """One attempt to deliver failed; the message says why, safe to log."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    kind: str  # "worse", "better", "resolved"
    key: str
    context_id: str
    env: str
    label: str
    from_state: str | None
    to_state: str
    from_severity: str
    to_severity: str
    endpoint_host: str | None
    error: dict[str, Any] | None
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "context_id": self.context_id,
            "env": self.env,
            "label": self.label,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "from_severity": self.from_severity,
            "to_severity": self.to_severity,
            "endpoint_host": self.endpoint_host,
            "error": self.error,
            "at": self.at.isoformat().replace("+00:00", "Z"),
        }

    def line(self) -> str:
        """One line of the message's text, escaped for Slack's mrkdwn (``<``, ``>``, ``&``)."""
        name = clean(self.label, 60)
        who = (
            f"{name} ({self.context_id}, {self.env})" if name else f"{self.context_id} ({self.env})"
        )
        glyph = GLYPHS[_SEVERITY_BY_WORD[self.to_severity]]
        prefix = "resolved: " if self.kind == "resolved" else ""
        change = f"{self.from_state or '?'} → {self.to_state}"
        return _slack_escape(f"{glyph} {prefix}{who}: {change}")


_SEVERITY_BY_WORD = {word: severity for severity, word in SEVERITY_WORDS.items()}


def _slack_escape(text: str) -> str:
    """Slack reads ``<!channel>`` and ``<url|text>`` in text: a label must not ping anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def state_text(row: TenantRow) -> str:
    """What the tenant's situation is called in a message."""
    error = row.error
    if error is not None:
        return f"check failed ({error.kind})"
    return row.state.state_name if row.state else "not checked"


def build_payload(
    hook_name: str, events: Sequence[AlertEvent], *, test: bool = False
) -> dict[str, Any]:
    counts = Counter(event.kind for event in events)
    lines = [event.line() for event in events[:TEXT_LINES]]
    if len(events) > TEXT_LINES:
        lines.append(f"… and {len(events) - TEXT_LINES} more")
    if test:
        head = "tenantboard: a test message from `tenantboard notify-test`; nothing changed"
    elif len(events) == 1:
        head = "tenantboard:"
    else:
        parts = [
            f"{counts[kind]} {kind}" for kind in ("worse", "better", "resolved") if counts[kind]
        ]
        head = f"tenantboard: {len(events)} tenants changed ({', '.join(parts)})"
    text = f"{head} {lines[0]}" if len(events) == 1 and not test else "\n".join([head, *lines])
    return {
        "text": text,
        "source": "tenantboard",
        "host": socket.gethostname(),
        "hook": hook_name,
        "test": test,
        "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "counts": {kind: counts[kind] for kind in ("worse", "better", "resolved")},
        "events": [event.as_json() for event in events],
    }


def sample_event() -> AlertEvent:
    """What `notify-test` sends: a made-up tenant, clearly a test."""
    return AlertEvent(
        kind="worse",
        key="online:Cust0",
        context_id="Cust0",
        env="online",
        label="notify-test sample",
        from_state="Running",
        to_state="Unknown",
        from_severity="ok",
        to_severity="critical",
        endpoint_host=None,
        error=None,
        at=datetime.now(UTC),
    )


# -- delivery ----------------------------------------------------------------------------------


class Deliverer:
    """Sends one payload through one hook, once; raises :class:`DeliveryError`."""

    def __init__(self) -> None:
        self._session: Any = None

    async def send(self, hook: NotifyHook, payload: dict[str, Any]) -> None:
        if hook.command is not None:
            await _run_command(hook, payload)
        else:
            await self._post(hook, payload)

    async def _post(self, hook: NotifyHook, payload: dict[str, Any]) -> None:
        # Imported with the first webhook, not with the board: aiohttp's client takes a
        # quarter of a second to import, before the first paint.
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": "tenantboard-notify"}, trust_env=False
            )
        assert hook.url is not None
        try:
            async with self._session.post(
                hook.url,
                json=payload,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=hook.timeout),
            ) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"the webhook answered HTTP {response.status}")
        except TimeoutError:
            raise DeliveryError(f"no answer within {hook.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"cannot reach the webhook ({clean(str(exc), 160)})") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _run_command(hook: NotifyHook, payload: dict[str, Any]) -> None:
    assert hook.command is not None
    try:
        process = await asyncio.create_subprocess_exec(
            *hook.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise DeliveryError(f"cannot run {hook.command[0]!r}: {exc.strerror or exc}") from None
    data = json.dumps(payload, ensure_ascii=False).encode()
    try:
        async with asyncio.timeout(hook.timeout):
            _, errors = await process.communicate(data)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DeliveryError(f"the command took longer than {hook.timeout:g} s; killed") from None
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        said = clean(errors.decode("utf-8", "replace").strip()[-300:], 200)
        raise DeliveryError(f"the command exited with {process.returncode}: {said or 'no output'}")


# -- per hook ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Track:
    """What one hook last said (or took as the baseline) about one tenant."""

    severity: Severity
    state: str
    #: Consecutive checks worse than :attr:`severity`.
    streak: int = 0
    #: A change for the worse was reported and has not resolved yet.
    alerted: bool = False


class HookRunner:
    """Decides, groups, queues and delivers for one hook."""

    def __init__(
        self,
        hook: NotifyHook,
        deliverer: Deliverer,
        counts: Counter[tuple[str, str]],
        is_silenced: Silenced | None,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self.hook = hook
        self._deliverer = deliverer
        self._counts = counts
        self._is_silenced = is_silenced
        self._tracks: dict[str, _Track] = {}
        self._pending: list[AlertEvent] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_limit)
        self._worker: asyncio.Task[None] | None = None

    # -- deciding --------------------------------------------------------------------------

    def observe(self, row: TenantRow) -> None:
        severity = row.severity
        if severity is None:
            return
        key = row.tenant.key
        now_state = state_text(row)
        track = self._tracks.get(key)
        if track is None:
            self._tracks[key] = _Track(severity, now_state)
            return
        if severity > track.severity:
            track.streak += 1
            if track.streak < self.hook.failure_threshold:
                return
            if "worse" in self.hook.on and self._emit("worse", row, track, now_state):
                track.alerted = True
        elif severity < track.severity:
            kind = None
            if severity is Severity.OK and track.alerted and self.hook.send_on_resolved:
                kind = "resolved"
            elif "better" in self.hook.on:
                kind = "better"
            if kind is not None:
                self._emit(kind, row, track, now_state)
            if severity is Severity.OK:
                track.alerted = False
        track.severity = severity
        track.state = now_state
        track.streak = 0

    def _emit(self, kind: str, row: TenantRow, track: _Track, now_state: str) -> bool:
        """Queue one event for the next message; False when the tenant is silenced."""
        tenant = row.tenant
        if self._is_silenced is not None and self._is_silenced(tenant.key):
            self._counts[(self.hook.name, "silenced")] += 1
            return False
        state = row.state
        self._pending.append(
            AlertEvent(
                kind=kind,
                key=tenant.key,
                context_id=tenant.context_id,
                env=tenant.env,
                label=tenant.label,
                from_state=track.state,
                to_state=now_state,
                from_severity=SEVERITY_WORDS[track.severity],
                to_severity=SEVERITY_WORDS[row.severity],
                endpoint_host=host_of(state.endpoint) or None if state else None,
                error=row.error.as_json() if row.error else None,
                at=row.last.checked_at if row.last else datetime.now(UTC),
            )
        )
        if self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(self.hook.group_seconds, self._flush)
        return True

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._tracks.pop(key, None)

    # -- sending -----------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_timer = None
        events, self._pending = self._pending, []
        if not events:
            return
        payload = build_payload(self.hook.name, events)
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._counts[(self.hook.name, "dropped")] += 1
            log.error(
                "hook %s: %d messages are waiting already; dropped one about %d tenants",
                self.hook.name,
                self._queue.qsize(),
                len(events),
            )
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._deliver_all(), name=f"hook {self.hook.name}")

    async def _deliver_all(self) -> None:
        while not self._queue.empty():
            payload = self._queue.get_nowait()
            await self.deliver(payload, retries=self.hook.retries)

    async def deliver(self, payload: dict[str, Any], *, retries: int) -> str | None:
        """Send with retries and doubling backoff; returns the last error, or None when sent."""
        hook = self.hook
        error = None
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(hook.retry_backoff * 2 ** (attempt - 1))
            try:
                await self._deliverer.send(hook, payload)
            except DeliveryError as exc:
                error = str(exc)
                log.warning(
                    "hook %s (%s): attempt %d of %d failed: %s",
                    hook.name,
                    hook.target,
                    attempt + 1,
                    retries + 1,
                    error,
                )
                continue
            self._counts[(hook.name, "sent")] += 1
            log.info("hook %s: sent a message about %d tenants", hook.name, len(payload["events"]))
            return None
        self._counts[(hook.name, "failed")] += 1
        log.error("hook %s (%s): gave up: %s", hook.name, hook.target, error)
        return error

    async def drain(self) -> None:
        """Send what is grouped or queued now (at shutdown)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush()
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)

    def cancel(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._worker is not None:
            self._worker.cancel()


class Notifier:
    """Every configured hook; what the watcher (or the board) feeds after each result.

    ``is_silenced(key)`` is the hook point for mutes and acknowledgements (the history
    database's); by default nothing is silenced.
    """

    def __init__(
        self,
        hooks: Sequence[NotifyHook] = (),
        *,
        is_silenced: Silenced | None = None,
        queue_limit: int = QUEUE_LIMIT,
        deliverer: Deliverer | None = None,
    ) -> None:
        self.is_silenced = is_silenced
        self.queue_limit = queue_limit
        self.deliverer = deliverer or Deliverer()
        #: (hook name, result) -> count, for tenantboard_notifications_total.
        self.counts: Counter[tuple[str, str]] = Counter()
        self.runners: list[HookRunner] = []
        self.set_hooks(hooks)

    def set_hooks(self, hooks: Sequence[NotifyHook]) -> None:
        """Adopt a new set of hooks; an unchanged hook keeps what it knows and has queued."""
        old = {runner.hook: runner for runner in self.runners}
        runners = []
        for hook in hooks:
            runner = old.pop(hook, None)
            if runner is None:
                runner = HookRunner(
                    hook, self.deliverer, self.counts, self.is_silenced, self.queue_limit
                )
            runners.append(runner)
            for result in RESULTS:
                self.counts[(hook.name, result)] += 0
        for runner in old.values():
            runner.cancel()
        self.runners = runners

    def observe(self, row: TenantRow) -> None:
        for runner in self.runners:
            runner.observe(row)

    def forget(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for runner in self.runners:
            runner.forget(keys)

    async def test(self) -> list[tuple[NotifyHook, str | None]]:
        """Send a sample message through every hook once (no retries); each hook's error."""
        results = []
        for runner in self.runners:
            payload = build_payload(runner.hook.name, [sample_event()], test=True)
            results.append((runner.hook, await runner.deliver(payload, retries=0)))
        return results

    async def aclose(self, grace: float = 5.0) -> None:
        """Send what is pending for up to ``grace`` seconds, then stop and close."""
        try:
            async with asyncio.timeout(grace):
                await asyncio.gather(*(runner.drain() for runner in self.runners))
        except TimeoutError:
            log.warning("alert hooks: gave up sending pending messages at shutdown")
        for runner in self.runners:
            runner.cancel()
        await self.deliverer.aclose()
