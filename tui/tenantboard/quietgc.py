"""Garbage collection when the operator is not looking (the board), or a little at a time
(`serve`).

With 10,000 tenants the heap holds a few hundred thousand container objects, and a full
(generation 2) collection takes around 100 ms: long enough to make a key press feel stuck.
While the board runs, automatic full collections are held back and one is run instead
from the once-a-second tick, only when no key was pressed for a moment and enough was
allocated since the last. Generations 0 and 1 (quick) run as usual, and the long-lived
objects present at start-up (the rows, the widgets) are frozen out of every collection.
Reference counting frees almost everything anyway; this only moves the cycle hunt.

`serve` is never quiet (checks, scrapes, the event stream), and at 100,000 tenants a full
collection held its event loop for 0.5 to 1.4 s. :class:`SteadyCollector` never lets one
look at the whole heap: what lived through a few young collections is collected once
(a full collection then sees only that) and frozen.
"""

from __future__ import annotations

import gc
import time

#: A full collection needs this many generation-1 collections since the last (CPython's
#: own default rule is 10), and this long without input and since the previous one.
MIN_YOUNG_COLLECTIONS = 10
QUIET_SECONDS = 1.5
MIN_INTERVAL = 10.0
#: `serve` collects what survived since its last round after this many generation-1
#: collections: a few thousand objects (at 100,000 tenants, 10 made rounds of 30 to 80 ms
#: on a busy machine, 4 rounds of 20 to 80 ms under a load average of 4 to 6; 2, looked
#: at every 0.25 s, rounds of 10,000 to 17,000 objects and 25 to 50 ms). The total work
#: is the same however it is sliced: each survivor is looked at once by a round.
STEADY_YOUNG_COLLECTIONS = 1
_NEVER = 1_000_000_000


class _HeldBack:
    """Automatic full collections held back from :meth:`start` to :meth:`stop`, with
    everything alive at the start frozen out of every collection's sight."""

    _saved: tuple[int, int, int] | None = None

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


class QuietCollector(_HeldBack):
    def __init__(self) -> None:
        self.last_input = 0.0
        self.last_full = time.monotonic()
        self.full_collections = 0

    def touched(self) -> None:
        """The operator pressed a key."""
        self.last_input = time.monotonic()

    def settle(self) -> None:
        """Keep everything alive now out of every later collection's sight, as what was
        alive at :meth:`start` is: an attached board's rows come after it (100,000 of
        them made each full collection look at millions of objects, half a second)."""
        if self._saved is not None:
            gc.freeze()

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


class SteadyCollector(_HeldBack):
    """Full collections of the young only, for a process that is never quiet (`serve`).

    At :meth:`start` everything alive is frozen (moved out of every collection's sight)
    and automatic full collections are held back. :meth:`maybe_collect`, called about
    once a second, runs a full collection once ``young_collections`` generation-1
    collections have happened since the last (CPython's own rule is 10, and more): the unfrozen
    heap then holds only what survived since, tens of thousands of objects, not the
    millions of 100,000 tenants, and what is still alive after it is frozen in turn.

    The price: a reference cycle still alive when it is frozen and dropped later is
    never collected. The tenants' rows and results hold none (an error's traceback is
    dropped, :func:`tenantboard.engine._detached`); ``bench/fleet.py`` counts what a real
    full collection would still find after its compressed hour.
    """

    def __init__(self, young_collections: int = STEADY_YOUNG_COLLECTIONS) -> None:
        self.young_collections = young_collections
        self.rounds = 0

    def maybe_collect(self) -> bool:
        """Collect and freeze what survived since the last round, if enough did; True if
        it ran."""
        if self._saved is None or gc.get_count()[2] < self.young_collections:
            return False
        gc.collect(2)
        gc.freeze()
        self.rounds += 1
        return True
