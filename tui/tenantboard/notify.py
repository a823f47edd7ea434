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
- A change for the worse while a maintenance window covers the tenant (``in_window(key)``
  names it) is planned: nothing is sent and the hook's view of the tenant stays as it was
  before, unless the hook asks for planned ones (``planned = true``: sent, marked
  ``planned``). When the window closes, the session observes the tenant again with the
  window's name (``ended_window``): one still worse than before is reported then, as a
  change for the worse "still not back after" the window.
- Our own outage is not the tenants': results during it change nothing (the notifier is
  told by :meth:`Notifier.outage_began` / :meth:`Notifier.outage_ended`). Failures already
  reported that turn out to be the start of it are followed by one ``correction`` message
  per hook, and those tenants' tracks go back to their last real state, so the network's
  return sends nothing.
- "Resolved" means back to OK: a real answer with an OK state, never a failed check.
- A host incident (:mod:`tenantboard.incidents`: many tenants of one host turning bad
  together) is one message when it opens and one "resolved" when most are back, in place
  of its members' own: their events still waiting to be sent are withdrawn, and while they
  are part of it (``holds(key)``) their changes are held back. Members back when it
  resolves are quiet; members still bad are on their own again.
- Only one tenantboard per tenant file sends: a board and `serve` on one file both decide
  (so either can take over knowing what was reported), and only the poller, the session
  that holds the file's lease (``may_send``), delivers.

Changes are grouped: the first starts a ``group_seconds`` window, and everything that
changed within it goes out as one message. Messages wait in a bounded queue per hook and
a worker delivers them with retries and backoff, so a slow or dead receiver never holds up
a check; when the queue is full a message is dropped. Every outcome is logged and counted
(``tenantboard_notifications_total{hook,result}``).

The payload (webhook body, or a command's standard input) is JSON with a ``text`` field
that Slack and Microsoft Teams incoming webhooks show (untrusted parts neutralised by
:func:`chat_text`), plus structured fields, raw but for control characters::

    {"text": "...", "source": "tenantboard", "hook": "ops", "test": false,
     "sent_at": "2026-...Z",
     "counts": {"worse": 1, "better": 0, "resolved": 0, "correction": 0},
     "events": [{"kind": "worse", "key": "online:Cust1006", "context_id": "Cust1006",
                 "env": "online", "label": "...", "from_state": "Running",
                 "to_state": "Unknown", "from_severity": "ok", "to_severity": "critical",
                 "endpoint_host": "...", "error": null, "at": "2026-...Z",
                 "planned": false, "window": null}]}

``window`` names the maintenance window a planned change fell in, or the one a tenant was
still not back after.

A host incident's message has no ``events`` (its counts are all 0) and an ``incident``::

    {"text": "tenantboard: host incident: online3.superoffice.com: 412 of 530 tenants
              Unknown since 14:02 ...", ...,
     "incident": {"id": "online3.superoffice.com@20260302T140200Z",
                  "host": "online3.superoffice.com", "status": "open" | "resolved",
                  "state": "Unknown", "since", "opened_at", "resolved_at",
                  "tenants_on_host": 530, "members": 412, "bad": 412, "back": 0,
                  "peak": 412, "headline": "...", "member_keys": ["online:Cust1", ...]}}
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tenantboard.answers import Severity
from tenantboard.clock import utc_iso
from tenantboard.connectivity import Outage, is_network_failure
from tenantboard.humanize import GLYPHS, SEVERITY_WORDS, host_of, plural
from tenantboard.rows import TenantRow
from tenantboard.sanitize import clean
from tenantboard.tenant_file import NotifyHook

if TYPE_CHECKING:
    from tenantboard.engine import CheckResult
    from tenantboard.incidents import HostIncident

log = logging.getLogger("tenantboard.notify")

#: Messages waiting per hook before new ones are dropped.
QUEUE_LIMIT = 100
#: Tenants listed one per line in a grouped message's text; the rest are counted.
TEXT_LINES = 20
#: Outcomes counted per hook.
RESULTS = ("sent", "failed", "dropped", "silenced")
#: What an event can report, in the order the counts list them.
KINDS = ("worse", "better", "resolved", "correction")
#: A result's time and an outage's start come from two readings of the clock (the wall
#: clock when the check ended; the wall clock less the monotonic time since the first
#: failure): they are compared with this much leeway.
SINCE_SLACK = timedelta(seconds=1)

Silenced = Callable[[str], bool]
#: The name of the maintenance window covering a tenant (by key), or None.
InWindow = Callable[[str], str | None]


class DeliveryError(Exception):
    """One attempt to deliver failed; the message says why, safe to log."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    kind: str  # one of KINDS
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
    #: True for a change inside a maintenance window (sent only to hooks with planned).
    planned: bool = False
    #: The window it fell in, or (not planned) the window it was still not back after.
    window: str | None = None

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
            "at": utc_iso(self.at),
            "planned": self.planned,
            "window": self.window,
        }

    def line(self) -> str:
        """One line of the message's text; what came from the tenant file or the network
        is passed through :func:`chat_text`."""
        name = chat_text(clean(self.label, 60))
        context_id, env = chat_text(self.context_id), chat_text(self.env)
        who = f"{name} ({context_id}, {env})" if name else f"{context_id} ({env})"
        glyph = GLYPHS[_SEVERITY_BY_WORD[self.to_severity]]
        if self.kind == "correction":
            return f"{glyph} {who}: last known state {chat_text(self.to_state)}"
        prefix = "resolved: " if self.kind == "resolved" else ""
        change = f"{chat_text(self.from_state or '?')} → {chat_text(self.to_state)}"
        if self.window is not None:
            window = chat_text(self.window)
            change += (
                f" (planned: {window})" if self.planned else f", still not back after {window}"
            )
        return f"{glyph} {prefix}{who}: {change}"


_SEVERITY_BY_WORD = {word: severity for severity, word in SEVERITY_WORDS.items()}

#: Characters Slack's mrkdwn or Teams' Markdown read as markup (emphasis, code, strike,
#: headings, mentions, link brackets), shown as look-alikes that neither reads. Slack has
#: no escape character (a backslash shows as one), so substitution is the one way that
#: works in both.
_CHAT_LOOKALIKES = str.maketrans(
    {
        "*": "\u2217",  # asterisk operator
        "_": "\u02cd",  # modifier letter low macron
        "~": "\u223c",  # tilde operator
        "`": "\u02cb",  # modifier letter grave accent
        "#": "\uff03",  # fullwidth number sign
        "@": "\uff20",  # fullwidth commercial at
        "[": "\uff3b",  # fullwidth left square bracket
        "]": "\uff3d",  # fullwidth right square bracket
    }
)
#: A dot inside a word that a chat service could take for a host name (evil.example).
_HOST_DOT = re.compile(r"(?<=[A-Za-z0-9-])\.(?=[A-Za-z0-9-]*[A-Za-z])")


def chat_text(text: str) -> str:
    """Untrusted text (a label, a state) made inert in a Slack or Teams message: no
    mention (``<!here>``, ``@channel``), no link (``<url|x>``, ``[x](url)``, a bare
    ``http://x.example`` or ``x.example``), no emphasis or code.

    ``&``, ``<`` and ``>`` become entities (Slack's own escapes), the markup characters
    above their look-alikes, ``://`` becomes
    ``[:]//`` and a dot inside a host-like word ``[.]``, as security advisories
    "defang" addresses. Control characters are dropped (:func:`~tenantboard.sanitize.clean`)."""
    text = clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.translate(_CHAT_LOOKALIKES).replace("://", "[:]//")
    return _HOST_DOT.sub("[.]", text)


def state_text(row: TenantRow) -> str:
    """What the tenant's situation is called in a message."""
    error = row.error
    if error is not None:
        return f"check failed ({error.kind})"
    return row.state.state_name if row.state else "not checked"


def build_payload(
    hook_name: str,
    events: Sequence[AlertEvent],
    *,
    test: bool = False,
    outage: Outage | None = None,
) -> dict[str, Any]:
    """The message for ``events``; with ``outage``, they are corrections of failures
    reported since it began."""
    counts = Counter(event.kind for event in events)
    lines = [event.line() for event in events[:TEXT_LINES]]
    if len(events) > TEXT_LINES:
        lines.append(f"… and {len(events) - TEXT_LINES} more")
    if test:
        head = "tenantboard: a test message from `tenantboard notify-test`; nothing changed"
    elif outage is not None:
        head = correction_head(len(events), outage)
    elif len(events) == 1:
        head = "tenantboard:"
    else:
        parts = [f"{counts[kind]} {kind}" for kind in KINDS if counts[kind]]
        head = f"tenantboard: {len(events)} tenants changed ({', '.join(parts)})"
    one_line = len(events) == 1 and not test and outage is None
    text = f"{head} {lines[0]}" if one_line else "\n".join([head, *lines])
    return {
        "text": text,
        "source": "tenantboard",
        "host": socket.gethostname(),
        "hook": hook_name,
        "test": test,
        "sent_at": utc_iso(datetime.now(UTC)),
        "counts": {kind: counts[kind] for kind in KINDS},
        "events": [event.as_json() for event in events],
    }


def incident_payload(hook_name: str, incident: HostIncident) -> dict[str, Any]:
    """The one message for a host incident: when it opens, or when it is resolved."""
    if incident.is_open:
        head = (
            f"tenantboard: host incident: {chat_text(incident.headline())} (the tenants' own "
            "alerts are held back until it is resolved)"
        )
    else:
        head = f"tenantboard: {chat_text(incident.resolved_text())}"
    payload = build_payload(hook_name, [])
    payload["text"] = head
    payload["incident"] = incident.as_json()
    return payload


def what_it_says(payload: dict[str, Any]) -> str:
    """A message to a hook, for the log: ``a message about 1 tenant``, ``the test message``,
    ``the message on a host incident``."""
    if payload.get("test"):
        return "the test message"
    if "incident" in payload:
        return "the message on a host incident"
    return f"a message about {plural(len(payload.get('events', [])), 'tenant')}"


def correction_head(tenants: int, outage: Outage) -> str:
    since = outage.since.astimezone().strftime("%H:%M")
    return (
        f"tenantboard: correction: the failures reported for {plural(tenants, 'tenant')} since {since} were "
        "tenantboard's own loss of the network, not the tenants'"
    )


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
    #: While the tenant's checks fail the network way (no answer at all): when that began,
    #: and the track as it was before (severity, state, alerted), to go back to if it
    #: proves to be the start of our own outage.
    network_since: datetime | None = None
    before_network: tuple[Severity, str, bool] | None = None
    #: The last event reported about those failures (waiting to be sent, or sent).
    network_event: AlertEvent | None = None

    def note_result(self, result: CheckResult) -> None:
        """Follow runs of network failures (before the result is judged)."""
        if not is_network_failure(result.error):
            self.network_since = self.before_network = self.network_event = None
        elif self.network_since is None:
            self.network_since = result.checked_at
            self.before_network = (self.severity, self.state, self.alerted)

    def back_before_network(self) -> None:
        """The track as it was before the network failures: they were not the tenant's."""
        if self.before_network is not None:
            self.severity, self.state, self.alerted = self.before_network
        self.streak = 0
        self.network_since = self.before_network = self.network_event = None


class HookRunner:
    """Decides, groups, queues and delivers for one hook."""

    def __init__(
        self,
        hook: NotifyHook,
        deliverer: Deliverer,
        counts: Counter[tuple[str, str]],
        is_silenced: Silenced | None,
        queue_limit: int = QUEUE_LIMIT,
        may_send: Callable[[], bool] | None = None,
        in_window: InWindow | None = None,
        holds: Silenced | None = None,
    ) -> None:
        self.hook = hook
        self._deliverer = deliverer
        self._counts = counts
        self._is_silenced = is_silenced
        self._may_send = may_send
        self._in_window = in_window
        self._holds = holds
        self._tracks: dict[str, _Track] = {}
        self._pending: list[AlertEvent] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_limit)
        self._worker: asyncio.Task[None] | None = None

    # -- deciding --------------------------------------------------------------------------

    def observe(self, row: TenantRow, ended_window: str | None = None) -> None:
        """Judge the row's newest result (never one from our own outage: the notifier
        keeps those away). ``ended_window``: the maintenance window that has just stopped
        covering the tenant (a change for the worse now is reported as still not back)."""
        severity = row.severity
        result = row.last
        if severity is None or result is None:
            return
        key = row.tenant.key
        now_state = state_text(row)
        track = self._tracks.get(key)
        if track is None:
            self._tracks[key] = _Track(severity, now_state)
            return
        if self._holds is not None and self._holds(key):
            return  # part of a host incident: its message speaks for the tenant
        window = self._in_window(key) if self._in_window is not None else None
        if window is not None and severity > track.severity and not self.hook.planned:
            return  # planned: the track stays as before the window, to compare when it ends
        track.note_result(result)
        if severity > track.severity:
            track.streak += 1
            if track.streak < self.hook.failure_threshold:
                return
            about = window or ended_window
            if "worse" in self.hook.on and self._emit(
                "worse", row, track, now_state, about, planned=window is not None
            ):
                track.alerted = True
        elif severity < track.severity:
            # Resolved, and the end of a reported problem, need a real answer that is OK.
            back_to_ok = severity is Severity.OK and result.error is None
            kind = None
            if back_to_ok and track.alerted and self.hook.send_on_resolved:
                kind = "resolved"
            elif "better" in self.hook.on:
                kind = "better"
            if kind is not None:
                self._emit(kind, row, track, now_state)
            if back_to_ok:
                track.alerted = False
        track.severity = severity
        track.state = now_state
        track.streak = 0

    def _emit(
        self,
        kind: str,
        row: TenantRow,
        track: _Track,
        now_state: str,
        window: str | None = None,
        *,
        planned: bool = False,
    ) -> bool:
        """Queue one event for the next message; False when the tenant is silenced."""
        tenant = row.tenant
        if self._is_silenced is not None and self._is_silenced(tenant.key):
            self._counts[(self.hook.name, "silenced")] += 1
            return False
        state = row.state
        event = AlertEvent(
            kind=kind,
            key=tenant.key,
            context_id=tenant.context_id,
            env=tenant.env,
            label=clean(tenant.label, 200),
            from_state=clean(track.state, 200),
            to_state=clean(now_state, 200),
            from_severity=SEVERITY_WORDS[track.severity],
            to_severity=SEVERITY_WORDS[row.severity],
            endpoint_host=host_of(state.endpoint) or None if state else None,
            error=row.error.as_json() if row.error else None,
            at=row.last.checked_at if row.last else datetime.now(UTC),
            planned=planned,
            window=clean(window, 60) if window else None,
        )
        self._pending.append(event)
        if track.network_since is not None:
            track.network_event = event
        if self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(self.hook.group_seconds, self._flush)
        return True

    def outage_began(self, outage: Outage) -> None:
        """Failures since ``outage.since`` were ours: take back what was reported about
        them (unsent events are dropped; sent ones get one correction message) and put
        those tenants back to their last real state."""
        since = outage.since - SINCE_SLACK
        corrections: list[AlertEvent] = []
        for track in self._tracks.values():
            if track.network_since is None or track.network_since < since:
                continue
            reported = track.network_event
            if reported is not None and not self._withdraw(reported.key, track.network_since):
                corrections.append(self._correction(reported, track))
            track.back_before_network()
        if corrections:
            self._send(build_payload(self.hook.name, corrections, outage=outage), corrections)

    def _withdraw(self, key: str, since: datetime) -> bool:
        """Drop the tenant's events since ``since`` from the next message, if it has not
        gone yet; True when there was one to drop (then nothing needs correcting)."""
        kept = [waiting for waiting in self._pending if waiting.key != key or waiting.at < since]
        withdrawn = len(kept) != len(self._pending)
        self._pending = kept
        return withdrawn

    @staticmethod
    def _correction(reported: AlertEvent, track: _Track) -> AlertEvent:
        severity, state, _ = track.before_network or (track.severity, track.state, False)
        return replace(
            reported,
            kind="correction",
            from_state=reported.to_state,
            to_state=state,
            from_severity=reported.to_severity,
            to_severity=SEVERITY_WORDS[severity],
        )

    def incident_opened(self, incident: HostIncident, *, announce: bool = True) -> None:
        """One message for the incident; its members' events not sent yet are withdrawn
        (and their tracks put back to before them), so the incident's message is theirs.
        ``announce`` False: the incident was told already (by the poller before this one)."""
        since = incident.since - SINCE_SLACK
        members = incident.members
        withdrawn = [e for e in self._pending if e.key in members and e.at >= since]
        if withdrawn:
            self._pending = [e for e in self._pending if e not in withdrawn]
        for event in withdrawn:
            track = self._tracks.get(event.key)
            if track is not None and event.kind == "worse":
                track.severity = _SEVERITY_BY_WORD[event.from_severity] or Severity.OK
                track.state = event.from_state or track.state
                track.alerted = False
                track.streak = 0
        if announce and "worse" in self.hook.on:
            self._send(incident_payload(self.hook.name, incident), [])

    def incident_resolved(self, incident: HostIncident, rows: Iterable[TenantRow]) -> None:
        """The incident's "resolved"; its members that are back are quiet from here on (the
        message spoke for them), those still bad are judged on their own again."""
        for row in rows:
            key = row.tenant.key
            track = self._tracks.get(key)
            back = incident.members.get(key) is False
            if track is not None and row.severity is not None and back:
                track.severity, track.state = row.severity, state_text(row)
                track.alerted = False
                track.streak = 0
        if self.hook.send_on_resolved:
            self._send(incident_payload(self.hook.name, incident), [])

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._tracks.pop(key, None)

    # -- sending -----------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_timer = None
        events, self._pending = self._pending, []
        if events:
            self._send(build_payload(self.hook.name, events), events)

    def _send(self, payload: dict[str, Any], events: Sequence[AlertEvent]) -> None:
        """Queue one message for delivery, unless another process sends this file's alerts."""
        if self._may_send is not None and not self._may_send():
            return
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._counts[(self.hook.name, "dropped")] += 1
            log.error(
                "hook %s: %s waiting already; dropped %s",
                self.hook.name,
                plural(self._queue.qsize(), "message is", "messages are"),
                what_it_says(payload),
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
            log.info("hook %s: sent %s", hook.name, what_it_says(payload))
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
    database's); by default nothing is silenced. ``may_send()`` says whether this process
    delivers (the poller of its tenant file; None: always). The monitor's outages come in
    through :meth:`outage_began` and :meth:`outage_ended`.
    """

    def __init__(
        self,
        hooks: Sequence[NotifyHook] = (),
        *,
        is_silenced: Silenced | None = None,
        queue_limit: int = QUEUE_LIMIT,
        deliverer: Deliverer | None = None,
        may_send: Callable[[], bool] | None = None,
        in_window: InWindow | None = None,
        holds: Silenced | None = None,
    ) -> None:
        self.is_silenced = is_silenced
        self.in_window = in_window
        self.queue_limit = queue_limit
        self.deliverer = deliverer or Deliverer()
        self.may_send = may_send
        self.holds = holds
        #: (hook name, result) -> count, for tenantboard_notifications_total.
        self.counts: Counter[tuple[str, str]] = Counter()
        #: Our own outage, the last one told (its ``ended`` is set once it is over).
        self.outage: Outage | None = None
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
                    hook,
                    self.deliverer,
                    self.counts,
                    self.is_silenced,
                    self.queue_limit,
                    may_send=self.may_send,
                    in_window=self.in_window,
                    holds=self._held,
                )
            runners.append(runner)
            for result in RESULTS:
                self.counts[(hook.name, result)] += 0
        for runner in old.values():
            runner.cancel()
        self.runners = runners

    def observe(self, row: TenantRow, ended_window: str | None = None) -> None:
        if row.last is not None and self.during_outage(row.last):
            return  # says nothing about the tenant: no change either way
        for runner in self.runners:
            runner.observe(row, ended_window)

    def during_outage(self, result: CheckResult) -> bool:
        """The result failed in our own outage: marked so by the monitor, or a network
        failure from its start that arrives after the outage was declared (the board
        hands results over in batches; the monitor declares the outage at once)."""
        if result.during_outage:
            return True
        outage = self.outage
        return (
            outage is not None
            and is_network_failure(result.error)
            and outage.since - SINCE_SLACK <= result.checked_at
            and (outage.ended is None or result.checked_at <= outage.ended)
        )

    def outage_began(self, outage: Outage) -> None:
        """Our own loss of the network: each hook takes back what it reported about the
        failures since ``outage.since`` (one correction message at most)."""
        self.outage = outage
        for runner in self.runners:
            runner.outage_began(outage)

    def _held(self, key: str) -> bool:
        return self.holds is not None and self.holds(key)

    def incident_opened(self, incident: HostIncident, *, announce: bool = True) -> None:
        """A host incident: one message through each hook, in place of its members'
        (``announce`` False: told already, by the poller before this process)."""
        for runner in self.runners:
            runner.incident_opened(incident, announce=announce)

    def incident_resolved(self, incident: HostIncident, rows: Iterable[TenantRow]) -> None:
        rows = list(rows)
        for runner in self.runners:
            runner.incident_resolved(incident, rows)

    def outage_ended(self, outage: Outage) -> None:
        """The network is back: results count again (tracks were put back when it began,
        so the same states as before send nothing)."""
        self.outage = outage

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
