"""Garbage collection when the operator is not looking.

With 10,000 tenants the heap holds a few hundred thousand container objects, and a full
(generation 2) collection takes around 100 ms: long enough to make a key press feel stuck.
While the board runs, automatic full collections are held back and one is run instead
from the once-a-second tick, only when no key was pressed for a moment and enough was
allocated since the last. Generations 0 and 1 (quick) run as usual, and the long-lived
objects present at start-up (the rows, the widgets) are frozen out of every collection.
Reference counting frees almost everything anyway; this only moves the cycle hunt.
"""

from __future__ import annotations

import gc
import time

#: A full collection needs this many generation-1 collections since the last (CPython's
#: own default rule is 10), and this long without input and since the previous one.
MIN_YOUNG_COLLECTIONS = 10
QUIET_SECONDS = 1.5
MIN_INTERVAL = 10.0
_NEVER = 1_000_000_000


class QuietCollector:
    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None
        self.last_input = 0.0
        self.last_full = time.monotonic()
        self.full_collections = 0

    def start(self) -> None:
        self._saved = gc.get_threshold()
        young, middle, _ = self._saved
        gc.collect()
        gc.freeze()
        gc.set_threshold(young, middle, _NEVER)

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            gc.unfreeze()
            self._saved = None

    def touched(self) -> None:
        """The operator pressed a key."""
        self.last_input = time.monotonic()

    def maybe_collect(self) -> bool:
        """Run a full collection if it is due and nobody is typing; True if it ran."""
        if self._saved is None:
            return False
        now = time.monotonic()
        if now - self.last_input < QUIET_SECONDS or now - self.last_full < MIN_INTERVAL:
            return False
        if gc.get_count()[2] < MIN_YOUNG_COLLECTIONS:
            return False
        gc.collect(2)
        self.last_full = time.monotonic()
        self.full_collections += 1
        return True
