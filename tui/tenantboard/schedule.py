"""When to check each tenant next: pure, UI-free, and driven by an injected clock.

Times here are monotonic seconds. ``RefreshPolicy`` turns an answer (or a failure) into
a delay and a reason; ``DueQueue`` is the single due-time queue for all tenants.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from datetime import datetime

#: Never schedule further ahead than this, whatever a server says.
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True, slots=True)
class NextCheck:
    delay: float
    reason: str


@dataclass(slots=True)
class RefreshPolicy:
    """Clamps ``ValidUntil`` into ``[min_interval, max_interval]`` and backs off on errors."""

    min_interval: float = 30.0
    max_interval: float = 900.0
    #: Fraction of a delay added at random so that tenants expiring together spread out.
    jitter: float = 0.1
    rng: random.Random | None = None

    def _random(self) -> float:
        return (self.rng or random).random()

    def after_success(self, valid_until: datetime | None, reference: datetime) -> NextCheck:
        """Delay until the answer expires, measured against ``reference`` (the server's
        ``Date`` when it sent one, else our clock at receipt)."""
        if valid_until is None:
            return NextCheck(self._spread(self.min_interval), "no usable ValidUntil")
        wanted = (valid_until - reference).total_seconds()
        if not math.isfinite(wanted) or wanted < self.min_interval:
            delay, reason = self.min_interval, "ValidUntil (raised to the minimum interval)"
        elif wanted > self.max_interval:
            delay, reason = self.max_interval, "ValidUntil (capped at the maximum interval)"
        else:
            delay, reason = wanted, "ValidUntil"
        return NextCheck(self._spread(delay), reason)

    def after_failure(self, failures: int, retry_after: float | None = None) -> NextCheck:
        """Exponential backoff from the minimum to the maximum, with jitter.

        ``failures`` counts consecutive failures including this one (1 for the first).
        """
        exponent = min(max(failures, 1) - 1, 30)
        ceiling = min(self.max_interval, self.min_interval * 2**exponent)
        # "Equal jitter": half fixed, half random, so backoff still grows reliably.
        delay = max(self.min_interval, ceiling / 2 + ceiling / 2 * self._random())
        reason = f"backoff after {failures} failure{'s' if failures != 1 else ''}"
        if retry_after is not None and retry_after > delay:
            return NextCheck(min(retry_after, MAX_RETRY_AFTER), "Retry-After")
        return NextCheck(delay, reason)

    def _spread(self, delay: float) -> float:
        extra = min(delay * self.jitter, 30.0) * self._random()
        return min(delay + extra, self.max_interval * (1 + self.jitter))


class DueQueue:
    """Due times of many keys in one heap; rescheduling is lazy (stale entries skipped)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, str]] = []
        self._due: dict[str, tuple[float, int]] = {}
        self._counter = 0

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: str) -> bool:
        return key in self._due

    def schedule(self, key: str, due: float, *, urgent: bool = False) -> None:
        """Set ``key``'s due time; urgent entries (manual refreshes) go before all others."""
        self._counter += 1
        priority = 0 if urgent else 1
        self._due[key] = (due, self._counter)
        heapq.heappush(self._heap, (due if not urgent else -math.inf, priority, self._counter, key))
        # Rescheduling leaves stale entries behind; keep the heap from growing without bound.
        if len(self._heap) > 4 * len(self._due) + 64:
            self._rebuild()

    def due_at(self, key: str) -> float | None:
        entry = self._due.get(key)
        return entry[0] if entry else None

    def discard(self, key: str) -> None:
        self._due.pop(key, None)

    def _prune(self) -> None:
        while self._heap:
            _, _, counter, key = self._heap[0]
            entry = self._due.get(key)
            if entry is not None and entry[1] == counter:
                return
            heapq.heappop(self._heap)

    def _rebuild(self) -> None:
        live = [entry for entry in self._heap if self._due.get(entry[3], (0, -1))[1] == entry[2]]
        heapq.heapify(live)
        self._heap = live

    def next_due(self) -> float | None:
        self._prune()
        if not self._heap:
            return None
        return self._heap[0][0]

    def pop_urgent(self, limit: int) -> list[str]:
        """Remove and return up to ``limit`` urgent keys (manual re-checks), oldest first."""
        return self.pop_due(-math.inf, limit)

    def pop_due(self, now: float, limit: int) -> list[str]:
        """Remove and return up to ``limit`` keys due at ``now``, earliest (urgent) first."""
        taken: list[str] = []
        while len(taken) < limit:
            self._prune()
            if not self._heap or self._heap[0][0] > now:
                break
            _, _, _, key = heapq.heappop(self._heap)
            del self._due[key]
            taken.append(key)
        return taken
