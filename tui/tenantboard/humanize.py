"""Small, pure presentation helpers shared by the widgets (and testable without a screen)."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta

from tenantboard.answers import Severity
from tenantboard.sanitize import clean, quoted

#: A glyph per severity, so that colour is never the only signal.
GLYPHS: dict[Severity | None, str] = {
    Severity.OK: "✔",
    Severity.WARNING: "▲",
    Severity.CRITICAL: "✖",
    Severity.UNKNOWN: "?",
    None: "·",
}
SEVERITY_WORDS: dict[Severity | None, str] = {
    Severity.OK: "ok",
    Severity.WARNING: "warning",
    Severity.CRITICAL: "critical",
    Severity.UNKNOWN: "unknown",
    None: "pending",
}


def yes_no(value: bool | None, unknown: str = "?") -> str:
    """A flag that the answer may leave out (IsRunning): yes, no, or ``unknown``."""
    return unknown if value is None else "yes" if value else "no"


def duration(seconds: float) -> str:
    """Compact duration for the table's narrow cells: 45s, 4m, 2h05m, 3d. Sentences and
    reports use :func:`length`, which keeps the seconds of a short span."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{seconds // 86400}d"


def ago(moment: datetime | None, now: datetime) -> str:
    """How long ago, in steps of 5 s under a minute: a board of thousands of rows then
    redraws a row's age every 5 s at most, not every second."""
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds) // 5 * 5}s ago"
    return f"{duration(seconds)} ago"


def until(due: float | None, now: float) -> str:
    if due is None:
        return "-"
    seconds = due - now
    return "due" if seconds < 1 else f"in {duration(seconds)}"


def host_of(url: str | None) -> str:
    """The host part of a URL, for the table; empty when there is none."""
    if not url:
        return ""
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return sys.intern(clean(host, 60))  # a few hosts, kept for every row: one string each


def length(seconds: float) -> str:
    """A span for sentences, the detail pane and reports: 45s, 1m 35s (seconds are kept
    under :data:`SECONDS_KEPT_UNDER`: a 95 s outage is not "1m"), 12m, 3h 05m, 2d 04h."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < SECONDS_KEPT_UNDER:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m {rest:02d}s" if rest else f"{minutes}m"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86_400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86_400}d {whole % 86_400 // 3600:02d}h"


#: Spans shorter than this keep their seconds in :func:`length`.
SECONDS_KEPT_UNDER = 600


def clock_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


def time_range(start: datetime, end: datetime, *, dates: bool = False) -> tuple[str, str]:
    """``start`` and ``end`` in local time, to the minute, or to the second where the
    minute would make them read alike ("between 15:03 and 15:03"). The day is named when
    they fall on different days, and always with ``dates`` (tables: ``2026-03-01 15:03``)."""
    first, last = start.astimezone(), end.astimezone()
    if dates:
        day = "%Y-%m-%d "
    elif first.date() != last.date():
        day = "%b %d "
    else:
        day = ""
    texts = first.strftime(f"{day}%H:%M"), last.strftime(f"{day}%H:%M")
    if texts[0] == texts[1]:
        texts = first.strftime(f"{day}%H:%M:%S"), last.strftime(f"{day}%H:%M:%S")
    return texts


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 tenant``, ``3 tenants``, ``0 tenants``; ``many`` for irregular nouns."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def did_you_mean(given: str, known: Iterable[str], what: str, *, listed: int = 5) -> str:
    """What to suggest for a name that matches nothing: its close matches among ``known``
    (``did you mean online3?``), else ``known`` named as ``what`` (``known hosts: online2,
    online4``, the first ``listed``); "" when nothing is known."""
    names = sorted(set(known))
    close = difflib.get_close_matches(given, names, n=3, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(close)}?"
    if not names:
        return ""
    more = f" and {len(names) - listed} more" if len(names) > listed else ""
    return f"{what}: {', '.join(names[:listed])}{more}"


_SPAN = re.compile(r"(\d{1,6})\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_span(text: str) -> timedelta:
    """``7d``, ``24h``, ``90m``, ``2w``, ``45s`` as a timedelta; ValueError otherwise.
    (`report --since`, a maintenance window's ``duration``, `maintenance start --for`.)"""
    match = _SPAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{quoted(text, 20)} is not a span like 7d, 24h, 90m or 2w")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise ValueError("the span must be longer than nothing")
    return timedelta(seconds=seconds)
