"""Time, injected: the schedule's monotonic clock and the wall clock for display."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...


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
