"""The event loop's turn at the interpreter lock while the session's threads compute.

A session's event loop runs beside threads that compute in Python: the history writer
folding results into intervals, `serve`'s worker threads making the exposition's pieces.
CPython takes the lock (the GIL) back from a thread that computes only after the switch
interval, 5 ms by default, and the event loop gives it up at every system call and every
zlib call: each socket read and write, each row's kept JSON (serve/watcher.py). While a
thread computed, each of those cost the loop up to 5 ms. At 100,000 tenants checked every
2 minutes, the loop's slow turns (40 to 117 ms) were its own work for 2 to 25 ms of that;
the rest it waited for the lock, a callback of 0.3 ms of CPU taking 5.5 ms
(``FLEET_SLOW_TURNS`` in bench/serve_probe.py shows it). With 0.5 ms the longest turn was
47 ms and the longest stall 52 ms, against 126 to 147 (`python bench/fleet.py --quick
--only steady`, docs/performance.md). A thread that computes is interrupted more often,
but only while the loop wants the lock: the process's CPU did not move measurably.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: Seconds a thread that holds the lock may go on while the event loop waits for it.
SWITCH_INTERVAL = 0.0005


class _Running:
    """How many sessions run now, and the interval from before the first began: sessions
    that overlap (a test's two boards on one file) may end in any order."""

    count = 0
    interval_before = 0.0


@contextlib.contextmanager
def loop_first() -> Iterator[None]:
    """While inside, a thread that computes hands the lock over after
    :data:`SWITCH_INTERVAL` (never later than it already did); once the last session that
    is inside leaves, as it was."""
    if _Running.count == 0:
        _Running.interval_before = sys.getswitchinterval()
        sys.setswitchinterval(min(_Running.interval_before, SWITCH_INTERVAL))
    _Running.count += 1
    try:
        yield
    finally:
        _Running.count -= 1
        if _Running.count == 0:
            sys.setswitchinterval(_Running.interval_before)
