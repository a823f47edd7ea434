"""Time, injected: the schedule's monotonic clock, the wall clock for display, and sleeping
(so that a fake clock in a test moves whatever waits on it)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol, overload


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


#: Linux's CLOCK_BOOTTIME is monotonic *and* counts time spent suspended, so a laptop that
#: slept through a tenant's ValidUntil finds it overdue on waking instead of waiting out
#: the rest of the delay; elsewhere the plain monotonic clock is the best there is.
_SCHEDULE_CLOCK = getattr(time, "CLOCK_BOOTTIME", None)


class SystemClock:
    def monotonic(self) -> float:
        if _SCHEDULE_CLOCK is not None:
            return time.clock_gettime(_SCHEDULE_CLOCK)
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@overload
def utc_iso(moment: datetime) -> str: ...


@overload
def utc_iso(moment: None) -> None: ...


def utc_iso(moment: datetime | None) -> str | None:
    """A moment in UTC as ISO 8601 with a Z (``2026-03-02T09:30:00Z``), as every JSON of
    ours writes it; None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
