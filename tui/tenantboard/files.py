"""Writing the user's and the board's own files safely (UI-free).

Writes are atomic (a temp file in the same folder, fsync, rename), so a crash or a full
disk never leaves a half-written file behind; a symlink is written through, not replaced.
A damaged file of the board's own is set aside under a new name rather than deleted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tenantboard.sanitize import quoted


class FileError(Exception):
    """A file could not be written; says which and why."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {reason}")


class NotSaved(FileError):
    """A change could not be saved (read-only folder, full disk, lock held); the file on
    disk is as it was."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


#: The board's own folders and files hold labels, marks and who set them: the user's only.
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def private_folder(folder: Path) -> None:
    """Make ``folder`` and any missing parents, each new one readable by the user only
    (mode 0700 whatever the umask). Folders that exist already, the user's own, are left
    as they are. Raises OSError."""
    missing: list[Path] = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for new in reversed(missing):
        try:
            new.mkdir(mode=PRIVATE_FOLDER)
        except FileExistsError:
            continue  # another process made it meanwhile: theirs to set
        os.chmod(new, PRIVATE_FOLDER)  # the umask may have taken bits mkdir was given


def private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True when it was created.
    An SQLite database created this way is private, and so are its -wal and -shm, which
    SQLite gives the database's mode. Raises OSError."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True


def write_target(path: Path) -> Path:
    """The file a write to ``path`` must replace: a symlink's final target, else ``path``.

    People keep dotfiles in a repository and link them; renaming over the link would
    turn it into a regular file and leave the real file unchanged.
    """
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def atomic_write(path: Path, text: str, *, private: bool = False) -> None:
    """Write via a temp file beside the target, fsync, then rename over the target.

    A symlink is followed (the temp file goes in the target's folder, so the rename stays
    on one file system) and the target's permission bits are kept; a new file is the
    user's only (0600). ``private`` (the board's own files): the file is 0600 even if it
    was not, and missing folders are made 0700; otherwise folders follow the umask. Every way the write can fail
    raises :class:`FileError` and leaves the file as it was.
    """
    target = write_target(path)
    try:
        if private:
            private_folder(target.parent)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotSaved(path, f"cannot create its folder: {_why(exc)}") from None
    mode = PRIVATE_FILE if private else None
    if not private:
        with contextlib.suppress(OSError):
            mode = target.stat().st_mode & 0o777
    temp_name: str | None = None
    try:
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException as exc:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise NotSaved(path, f"cannot save: {_why(exc)}") from None
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every file system allows it, so best effort."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def unused_name(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` added to its name, numbered (``-2``, ``-3``...) if taken."""
    candidate = path.with_name(f"{path.name}{suffix}")
    number = 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}{suffix}-{number}")
    return candidate


def set_aside(
    path: Path,
    now: datetime | None = None,
    *,
    label: str = "damaged",
    companions: tuple[str, ...] = (),
) -> Path:
    """Rename a damaged file to ``<name>.<label>-<UTC timestamp>`` beside it and return
    the new path, so that nothing is lost and the next write starts afresh. Files named
    ``<name><companion>`` (a database's ``-wal`` and ``-shm``) move with it.

    Raises :class:`FileError` when it cannot be renamed.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    aside = unused_name(path, f".{label}-{stamp}")
    try:
        os.rename(path, aside)
    except OSError as exc:
        raise FileError(path, f"cannot set the damaged file aside: {_why(exc)}") from None
    for companion in companions:
        with contextlib.suppress(FileNotFoundError):
            os.rename(
                path.with_name(path.name + companion), aside.with_name(aside.name + companion)
            )
    return aside


#: Times the board stored itself fall in these years; anything else is damage (a year-1
#: date at +14:00 cannot even be shown in UTC or local time: OverflowError).
_STORED_YEARS = range(1970, 9000)


def stored_time(text: object) -> datetime:
    """A time the board wrote in ISO 8601, aware (naive means UTC); ValueError if it is
    not one or is out of any plausible range."""
    if not isinstance(text, str):
        raise ValueError("a time is an ISO 8601 string")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:
        raise ValueError(f"time out of range: {quoted(text, 40)}") from None
    if year not in _STORED_YEARS:
        raise ValueError(f"time out of range: {quoted(text, 40)}")
    return moment
