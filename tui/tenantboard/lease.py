"""Who polls a tenant file: one process records its history and sends its alerts.

A board and `serve` (or two boards) on one tenant file would each record every event and
send every alert. So the first of them takes a lease: an exclusive ``flock`` on a small
file beside the tenant file (``.tenants.toml.poller``), held for as long as the process
lives. The kernel lets go of it when the process ends, however it ends (``kill -9``
included), so another process takes over within seconds: no stale lease to clean up and
no clock to trust. The holder writes who it is into the file (process id, host, what it
is, since when) so the others can say in their header who records.

Where the tenant file's folder cannot be written (``/etc/tenantboard`` for a user), the
lease is taken in the tenant file's own data folder instead, which every process sharing
that history database shares too.

filelock (which guards each change of the tenant file) is not used here: it truncates the
file as it locks it and offers no way to read the holder's details while it is held.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenantboard.clock import utc_iso
from tenantboard.sanitize import clean

try:  # Unix; elsewhere every process polls, as before there was a lease
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms we test
    fcntl = None  # type: ignore[assignment]

#: Seconds between attempts to take the lease over while another process holds it.
RETRY_EVERY = 5.0


@dataclass(frozen=True, slots=True)
class Holder:
    """The process that holds the lease, as it described itself."""

    pid: int
    kind: str  # "board" or "serve"
    host: str
    since: datetime
    #: Where a `serve` holder can be reached (its listen address), else "".
    url: str = ""
    #: The history database it records to ("" for none): the one where marks reach it.
    history: str = ""

    def describe(self) -> str:
        """E.g. ``serve (pid 4242) since 09:12`` or ``a board on host2 (pid 77)``."""
        here = socket.gethostname()
        who = self.kind if self.kind == "serve" else "a board"
        where = f" on {self.host}" if self.host and self.host != here else ""
        return f"{who}{where} (pid {self.pid}) since {self.since.astimezone():%H:%M}"

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "kind": self.kind,
            "host": self.host,
            "since": utc_iso(self.since),
            "url": self.url,
            "history": self.history,
        }

    @classmethod
    def from_text(cls, text: str) -> Holder | None:
        """The holder's details as written, or None for anything that is not them."""
        try:
            data = json.loads(text)
            since = datetime.fromisoformat(str(data["since"]).replace("Z", "+00:00"))
            return cls(
                pid=int(data["pid"]),
                kind=clean(str(data["kind"]), 10),
                host=clean(str(data.get("host", "")), 80),
                since=since if since.tzinfo else since.replace(tzinfo=UTC),
                url=clean(str(data.get("url", "")), 200),
                history=clean(str(data.get("history", "")), 4096),
            )
        except (ValueError, KeyError, TypeError, RecursionError):
            return None


def lease_paths(tenant_file: Path, data_dir: Path | None) -> list[Path]:
    """Where the lease is looked for, in order: beside the tenant file, then in its data
    folder (for a tenant file in a folder this user cannot write)."""
    beside = tenant_file.with_name(f".{tenant_file.name}.poller")
    return [beside] + ([data_dir / "poller.lease"] if data_dir is not None else [])


class PollerLease:
    """Take, hold and release the lease of one tenant file; :meth:`try_take` again and
    again while another process holds it."""

    def __init__(self, paths: list[Path], *, kind: str, url: str = "", history: str = "") -> None:
        self.paths = paths
        self.kind = kind
        self.url = url
        self.history = history
        self._fd: int | None = None
        self.path: Path | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None or fcntl is None

    def try_take(self, now: datetime) -> bool:
        """Take the lease if nobody holds it; True while this process holds it."""
        if self.held:
            return True
        for path in self.paths:
            fd = _open(path)
            if fd is None:
                continue  # this folder cannot be written: the next place
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False  # held by another process
            self._fd, self.path = fd, path
            self._describe_self(now)
            return True
        return False

    def _describe_self(self, now: datetime) -> None:
        holder = Holder(os.getpid(), self.kind, socket.gethostname(), now, self.url, self.history)
        data = json.dumps(holder.as_json()).encode()
        with contextlib.suppress(OSError):
            assert self._fd is not None
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)

    def holder(self) -> Holder | None:
        """Who holds the lease (this process or another), as far as the file says."""
        for path in self.paths:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            found = Holder.from_text(text)
            if found is not None:
                return found
        return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no stale details for the next reader
        os.close(fd)  # closing lets go of the flock


def _open(path: Path) -> int | None:
    """The lease file opened for locking, or None where there is none and none can be
    made. A lease file another user made (a `serve` running as its own user beside
    ``/etc/tenantboard/tenants.toml``) is opened read-only: a lock needs no write access,
    so the two still take turns. A symlink is not followed."""
    safe = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        # Readable by all: who polls is no secret, and other users' processes read it.
        return os.open(path, os.O_RDWR | os.O_CREAT | safe, 0o644)
    except PermissionError:
        pass
    except OSError:
        return None
    try:
        return os.open(path, os.O_RDONLY | safe)
    except OSError:
        return None
