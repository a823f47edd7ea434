"""When the board draws what the checks bring: one pacing policy, UI-free.

During a full pass hundreds of results finish every second. Drawing each as it comes
would cost the event loop more than the checks themselves, and rows jumping under the
operator's eyes make a board unreadable. So results are gathered into batches, re-sorting
and re-filtering happen at most once a second, the header is redrawn a few times a second,
and state-change notices are gathered for a moment and told together. While keys arrive,
batches and re-sorts wait (never longer than :data:`MAX_DEFER`): the key's answer first.
Full garbage collections also wait for a quiet moment (:class:`~tenantboard.quietgc.QuietCollector`).

The policy knows nothing of Textual: time and timers are injected (the board gives it the
session's clock and :func:`clock_timers` on it), and what to do when a batch is ready, the
view is due or the header is due are callbacks. Tests drive it with a fake clock, and ask
:attr:`Pacing.idle` whether every result was delivered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from tenantboard.clock import Clock
from tenantboard.quietgc import QuietCollector

#: Seconds results are gathered before they are delivered to the widgets as one batch.
BATCH_DELAY = 0.05
#: At most this many results are delivered at once; more wait for the next turn of the
#: event loop (an attached board hands on a snapshot of 100,000 tenants in pieces: applied
#: in one go they would hold the screen for seconds).
MAX_BATCH = 500
#: While keys arrive less than this many seconds apart, results and re-sorts wait, so the
#: screen answers the operator first...
INPUT_PRIORITY = 0.25
#: ...but never longer than this.
MAX_DEFER = 1.0
#: Seconds between re-sorts/re-filters while results stream in: rows do not jump around
#: with every answer.
VIEW_DELAY = 1.0
#: Seconds between header redraws while results stream in.
SUMMARY_DELAY = 0.2
#: Seconds state changes are gathered before they are told as one notice.
NOTICE_DELAY = 1.0


class Timer(Protocol):
    def stop(self) -> None: ...


#: Starts a one-shot timer: (delay in seconds, callback) -> something that can be stopped.
StartTimer = Callable[[float, Callable[[], None]], Timer]


class ClockTimer:
    """A one-shot timer on an injected clock: it fires when the clock has moved ``delay``
    seconds on (real time with the system clock; a test's :meth:`FakeClock.advance`)."""

    def __init__(self, clock: Clock, delay: float, callback: Callable[[], None]) -> None:
        self._task = asyncio.get_running_loop().create_task(self._fire(clock, delay, callback))

    @staticmethod
    async def _fire(clock: Clock, delay: float, callback: Callable[[], None]) -> None:
        await clock.sleep(delay)
        callback()

    def stop(self) -> None:
        self._task.cancel()


def clock_timers(clock: Clock, call: Callable[[Callable[[], None]], object]) -> StartTimer:
    """Timers on ``clock`` whose callbacks are handed to ``call`` (the screen's
    ``call_later``, so that they run as its messages and their errors are its errors)."""
    return lambda delay, callback: ClockTimer(clock, delay, lambda: call(callback))


Result = TypeVar("Result")
Notice = TypeVar("Notice")


class Pacing(Generic[Result, Notice]):
    """Gathers results and notices, and decides when the board draws them."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        start_timer: StartTimer,
        deliver: Callable[[list[Result]], None],
        redo_view: Callable[[], None],
        redraw_header: Callable[[], None],
        announce: Callable[[list[Notice]], None],
        collector: QuietCollector | None = None,
    ) -> None:
        self._now = now
        self._start_timer = start_timer
        self._deliver = deliver
        self._redo_view = redo_view
        self._redraw_header = redraw_header
        self._announce = announce
        self.collector = collector or QuietCollector()
        self._pending: deque[Result] = deque()
        self._pending_since = 0.0
        self._unannounced: list[Notice] = []
        self._last_key = -INPUT_PRIORITY
        self._last_view = -VIEW_DELAY
        self._view_due = 0.0
        self._batch_timer: Timer | None = None
        self._view_timer: Timer | None = None
        self._header_timer: Timer | None = None
        self._notice_timer: Timer | None = None

    # -- what happens ---------------------------------------------------------------------

    def key_pressed(self) -> None:
        """The operator pressed a key: what waits, waits a little longer."""
        self._last_key = self._now()
        self.collector.touched()

    def add(self, result: Result) -> None:
        """A check finished; it is delivered with the others that finish in the same moment."""
        self._pending.append(result)
        if self._batch_timer is None:
            self._pending_since = self._now()
            self._batch_timer = self._start_timer(BATCH_DELAY, self._batch_due)

    def view_soon(self) -> None:
        """Results changed what the view shows (sort, filter): redo it, at most once a second."""
        if self._view_timer is not None:
            return
        now = self._now()
        wait = max(0.0, self._last_view + VIEW_DELAY - now)
        self._view_due = now + wait
        if wait <= 0 and not self.operator_busy(self._view_due):
            self._redo_view()
        else:
            self._view_timer = self._start_timer(max(wait, BATCH_DELAY), self._view_now)

    def view_done(self) -> None:
        """The view was just redone (for whatever reason): the next one waits a second."""
        self._last_view = self._now()

    def header_soon(self) -> None:
        """The counts changed: redraw the header a few times a second at most."""
        if self._header_timer is None:
            self._header_timer = self._start_timer(SUMMARY_DELAY, self._header_now)

    def notice(self, notices: list[Notice]) -> None:
        """Things to tell the operator: gathered for a moment, then told together."""
        if not notices:
            return
        self._unannounced.extend(notices)
        if self._notice_timer is None:
            self._notice_timer = self._start_timer(NOTICE_DELAY, self._notice_now)

    def tick(self) -> None:
        """Called once a second: a full garbage collection, if it is due and nobody types."""
        self.collector.maybe_collect()

    # -- questions ------------------------------------------------------------------------

    def operator_busy(self, since: float) -> bool:
        """True while keys are arriving and what waits (since ``since``) has not waited too long."""
        now = self._now()
        return now - self._last_key < INPUT_PRIORITY and now - since < MAX_DEFER

    @property
    def idle(self) -> bool:
        """No result is waiting to be delivered to the board."""
        return not self._pending and self._batch_timer is None

    @property
    def quiet(self) -> bool:
        """Nothing waits at all: no result, re-sort, header redraw or notice."""
        return self.idle and not self._timers()

    def _timers(self) -> list[Timer]:
        timers = (self._batch_timer, self._view_timer, self._header_timer, self._notice_timer)
        return [timer for timer in timers if timer is not None]

    def stop(self) -> None:
        """Stop every timer (the board is closing); nothing more is delivered."""
        for timer in self._timers():
            timer.stop()
        self._batch_timer = self._view_timer = self._header_timer = self._notice_timer = None
        self._pending.clear()
        self._unannounced.clear()

    # -- timers firing --------------------------------------------------------------------

    def _batch_due(self) -> None:
        if self._pending and self.operator_busy(self._pending_since):
            # Drawing a batch of rows and the header costs a frame: the key's answer first.
            self._batch_timer = self._start_timer(BATCH_DELAY, self._batch_due)
            return
        self._batch_timer = None
        pending = self._pending
        batch = [pending.popleft() for _ in range(min(MAX_BATCH, len(pending)))]
        if pending:  # the rest at the next turn of the loop (keys, frames in between)
            self._pending_since = self._now()
            self._batch_timer = self._start_timer(0.0, self._batch_due)
        if batch:
            self._deliver(batch)

    def _view_now(self) -> None:
        if self.operator_busy(self._view_due):
            self._view_timer = self._start_timer(BATCH_DELAY, self._view_now)
            return
        self._view_timer = None
        self._redo_view()

    def _header_now(self) -> None:
        self._header_timer = None
        self._redraw_header()

    def _notice_now(self) -> None:
        self._notice_timer = None
        notices, self._unannounced = self._unannounced, []
        if notices:
            self._announce(notices)
