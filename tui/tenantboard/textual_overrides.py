"""The board's screen: Textual's Screen with a frame timer that answers keys sooner.

A Textual screen draws from a paused timer that a refresh resumes, so that it draws at most
once per frame (1/60 s). After a frame, Textual's Timer loop, finding its schedule behind,
computes the next tick one interval too late: a refresh asked for just after a frame waits
up to two intervals (33 ms) instead of the rest of one. On a busy board a frame has nearly
always just been drawn (results, the header, the clock), so that wait lands on most keys;
measured during a 10,000-tenant pass, opening the detail pane took 37 ms at the median with
Textual's timer and 21-25 ms with this one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import _time
from textual.screen import UPDATE_PERIOD, Screen
from textual.timer import EventTargetGone, Timer, TimerCallback


class FrameTimer(Timer):
    """Ticks when resumed, but never sooner than one interval after its previous tick.

    Made for a paused-until-needed timer like the screen's update timer: each tick pauses
    it, a refresh resumes it, and the tick then waits only for the rest of the interval.
    """

    def __init__(
        self,
        event_target: Screen,
        interval: float,
        *,
        name: str,
        callback: TimerCallback,
        get_time: Callable[[], float] = _time.get_time,
        sleep: Callable[[float], Awaitable[None]] = _time.sleep,
    ) -> None:
        super().__init__(event_target, interval, name=name, callback=callback, pause=True)
        self._get_time = get_time
        self._sleep = sleep

    async def _run(self) -> None:
        interval = self._interval
        last_tick = -interval
        count = 0
        while True:
            await self._active.wait()
            wait = last_tick + interval - self._get_time()
            if wait > 0:
                await self._sleep(wait)
                await self._active.wait()
            last_tick = self._get_time()
            count += 1
            try:
                await self._tick(next_timer=last_tick, count=count)
            except EventTargetGone:
                break


class BoardScreen(Screen):
    """The main screen of the board."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._frame_timer: FrameTimer | None = None

    @property
    def _update_timer(self) -> Timer:
        """Textual's screens create their update timer here on first use; ours is a
        :class:`FrameTimer`, started and owned like the one ``set_interval`` would make."""
        if self._frame_timer is None:
            timer = FrameTimer(
                self, UPDATE_PERIOD, name="screen_update", callback=self._on_timer_update
            )
            timer._start()
            self._timers.add(timer)
            self._frame_timer = timer
        return self._frame_timer
