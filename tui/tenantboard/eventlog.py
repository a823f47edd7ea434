"""The event log: state changes, endpoint moves, version changes, changes SuperOffice
pushed, first failures and recoveries.

Kept in the history database (``events`` table), so that after a restart the board shows
what happened before; the ``events.jsonl`` file of earlier versions is imported into it
once (:func:`tenantboard.history.import_event_log`). ``LoggedEvent.from_json`` reads its
lines.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from tenantboard.connectivity import Outage
from tenantboard.files import stored_time
from tenantboard.humanize import SEVERITY_WORDS, plural
from tenantboard.rows import Change
from tenantboard.sanitize import clean

DEFAULT_LIMIT = 2000
#: What a tenant's own checks tell (a maintenance window makes these planned).
TENANT_KINDS = frozenset({"state", "endpoint", "failure", "recovery"})


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    at: datetime
    key: str
    name: str
    kind: str
    text: str
    #: "ok", "warning", "critical", "unknown": how things stand after the event.
    severity: str
    #: True when the event is worse than the situation before it.
    worse: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> LoggedEvent | None:
        """One line of the file, or None for a line that is not a valid event."""
        try:
            data = json.loads(line)
            return cls(
                at=stored_time(data["at"]),
                key=clean(str(data["key"]), 80),
                name=clean(str(data["name"]), 120),
                kind=clean(str(data["kind"]), 20),
                text=clean(str(data["text"]), 400),
                severity=clean(str(data["severity"]), 20),
                worse=bool(data.get("worse", False)),
            )
        except (ValueError, KeyError, TypeError, RecursionError):
            return None


class EventLog:
    """Newest-first events in memory: what the event log panel shows.

    The events are kept in the history database (:mod:`tenantboard.history`): the board
    writes each one through its ``HistoryWriter`` and, at start, :meth:`restore` puts the
    newest recorded ones back."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.events: deque[LoggedEvent] = deque(maxlen=limit)

    def add(self, events: list[LoggedEvent]) -> None:
        for event in events:
            self.events.appendleft(event)

    def withdraw_failures(self, keys: Iterable[str], since: datetime) -> int:
        """Take back the "check failed" events of ``keys`` logged at or after ``since``:
        those failures were our own outage's (:meth:`~tenantboard.rows.BoardModel.
        outage_changed`). Returns how many were taken back."""
        wanted = set(keys)
        kept = [
            event
            for event in self.events
            if not (event.kind == "failure" and event.key in wanted and event.at >= since)
        ]
        taken = len(self.events) - len(kept)
        if taken:
            self.events.clear()
            self.events.extend(kept)
        return taken

    def restore(self, recorded: list[LoggedEvent]) -> None:
        """Put earlier sessions' events (newest first, from the database) behind the ones
        this session has logged already."""
        session = list(self.events)
        self.events.clear()
        self.events.extend(session)
        room = self.limit - len(session)
        self.events.extend(recorded[: max(0, room)])


def logged_events(changes: Iterable[Change]) -> list[LoggedEvent]:
    """The board model's changes as log entries."""
    return [
        LoggedEvent(
            at=change.event.at,
            key=change.row.tenant.key,
            name=change.row.tenant.display_name,
            kind=change.event.kind,
            text=change.event.text,
            severity=SEVERITY_WORDS[change.row.severity],
            worse=change.worse,
        )
        for change in changes
    ]


def outage_event(outage: Outage) -> LoggedEvent:
    """Our own outage, once it ended, as the event log's one entry for it."""
    return LoggedEvent(
        at=outage.ended or outage.since,
        key="",
        name="SuperOffice",
        kind="outage",
        text=outage.summary(),
        severity="unknown",
    )


@dataclass(frozen=True, slots=True)
class Notice:
    message: str
    title: str
    worse: bool


def notices(events: list[LoggedEvent], most: int) -> list[Notice]:
    """One notification per state change, or a single summary for a burst of them."""
    changes = [event for event in events if event.kind == "state"]
    if len(changes) > most:
        worse = sum(event.worse for event in changes)
        text = (
            f"{plural(len(changes), 'tenant')} changed state ({worse} for the worse); "
            "see the event log (l)"
        )
        return [Notice(text, "state changes", worse > 0)]
    return [
        Notice(f"{event.name}: {event.text}", "state changed", event.worse) for event in changes
    ]
