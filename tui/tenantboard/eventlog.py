"""The event log: state changes, endpoint moves, first failures and recoveries.

Kept on disk (JSON lines in the platform's user data folder) so that after a restart the
board shows what happened before. The file is bounded: when it grows past twice the
limit it is rewritten, atomically, with the newest ``limit`` events.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from tenantboard.files import FileError, atomic_write, set_aside, stored_time
from tenantboard.humanize import SEVERITY_WORDS
from tenantboard.rows import Change
from tenantboard.sanitize import clean

DEFAULT_LIMIT = 2000
KINDS = ("state", "endpoint", "failure", "recovery", "outage")


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
    """Newest-first events in memory, appended to ``path`` when there is one."""

    def __init__(self, path: Path | None, limit: int = DEFAULT_LIMIT) -> None:
        self.path = path
        self.limit = limit
        self.events: deque[LoggedEvent] = deque(maxlen=limit)
        self.skipped_lines = 0
        self.write_error: str | None = None
        self._lines_on_disk = 0
        self._unwritten: list[LoggedEvent] = []
        self._lock = threading.Lock()

    def load(self) -> str | None:
        """Read what earlier sessions logged, and say what could not be used.

        Damaged lines (cut off, not JSON, a time out of range) are skipped and counted;
        then the damaged file is set aside under a new name and the events that could be
        read are written afresh, so what is logged next survives a restart. The report is
        returned and also left in ``write_error``, which the board shows when it starts.
        """
        if self.path is None:
            return None
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.write_error = f"cannot read {self.path}: {exc.strerror or exc}"
            return self.write_error
        lines = text.splitlines()
        self._lines_on_disk = len(lines)
        for line in lines[-self.limit :]:
            event = LoggedEvent.from_json(line)
            if event is None:
                self.skipped_lines += 1
            else:
                self.events.appendleft(event)
        if self.skipped_lines:
            self.write_error = self._set_aside_damaged()
        return self.write_error

    def _set_aside_damaged(self) -> str:
        assert self.path is not None
        what = f"{self.skipped_lines} damaged line(s) in {self.path.name}"
        try:
            aside = set_aside(self.path)
        except FileError as exc:
            return f"event log: {what} skipped; not set aside: {exc.reason}"
        try:
            self._rewrite()
        except FileError as exc:
            return f"event log: {what}; set aside as {aside}, but not rewritten: {exc.reason}"
        return f"event log: {what} skipped; the file was set aside as {aside}"

    def add(self, events: list[LoggedEvent]) -> None:
        """Show ``events`` at once; they reach the file with the next :meth:`flush`."""
        if not events:
            return
        for event in events:
            self.events.appendleft(event)
        if self.path is not None:
            with self._lock:
                self._unwritten.extend(events)

    def flush(self) -> None:
        """Append what :meth:`add` gathered to the file. Safe to call from a thread (the
        board does, so no write lands under the operator's fingers); calls write in order."""
        if self.path is None:
            return
        with self._lock:
            events, self._unwritten = self._unwritten, []
            if not events:
                return
            text = "".join(event.to_json() + "\n" for event in events)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with _locked(self.path):
                    with self.path.open("a+b") as handle:
                        if handle.tell() > 0:
                            handle.seek(-1, 2)
                            if handle.read(1) != b"\n":  # a line cut off: start on a new one
                                text = "\n" + text
                        handle.write(text.encode("utf-8"))
                    self._lines_on_disk += len(events)
                    if self._lines_on_disk > 2 * self.limit:
                        self._compact()
                self.write_error = None
            except FileError as exc:
                self.write_error = f"cannot compact the event log: {exc}"
            except OSError as exc:
                self.write_error = f"cannot write {self.path}: {exc.strerror or exc}"

    def _rewrite(self) -> None:
        """Write the events that could be read afresh (after a damaged file was set aside)."""
        assert self.path is not None
        newest = list(reversed(list(self.events)))
        atomic_write(self.path, "".join(event.to_json() + "\n" for event in newest))
        self._lines_on_disk = len(newest)

    def _compact(self) -> None:
        """Keep the newest ``limit`` lines of the file as it is now (under the lock): another
        board on the same tenant file appends to it too, and its events stay."""
        assert self.path is not None
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        newest = lines[-self.limit :]
        atomic_write(self.path, "".join(line + "\n" for line in newest))
        self._lines_on_disk = len(newest)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An advisory lock beside ``path``, held while this process appends or compacts."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
            f"{len(changes)} tenants changed state ({worse} for the worse); see the event log (l)"
        )
        return [Notice(text, "state changes", worse > 0)]
    return [
        Notice(f"{event.name}: {event.text}", "state changed", event.worse) for event in changes
    ]
