"""Every place tenantboard overrides or reaches into Textual's private parts, in one fence.

Textual is pinned exactly (pyproject.toml) to :data:`VERIFIED_TEXTUAL`, the version these
were measured and verified on. :data:`HOOKS` names each private part we rely on, with a
check that it is still there in the shape we expect; ``tests/test_textual_overrides.py``
runs every check and fails naming the hook when an upgrade removes or changes one. When
upgrading Textual: run those tests, re-measure with ``make bench``, then move the pin.

What is here, and why (each measured on its own with ``python bench/overrides.py``; the
figures are in docs/performance.md). Only what is correctness or a measured gain stays:

- :class:`HangupAwareDriver`: Textual's Linux driver busy-loops at 100% CPU when its
  terminal goes away (end of input, EIO: a closed SSH session, ``tmux kill-session``;
  upstream Textualize/textual PR 6690, still open). This one ends the board when its input
  ends or its output fails; SIGHUP, SIGTERM and SIGINT end it even with the event loop
  stuck (:class:`ExitDeadline`); its input thread sleeps until a key instead of polling.
- :class:`FrameTimer` / :class:`FrameTimerScreen`: the screen's update timer ticks only
  after the rest of a frame interval, not one interval late (answers keys sooner).
- :func:`own_bindings`: a widget's own bindings for a key, for the key bar.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import selectors
import signal
import threading
import time
from codecs import getincrementaldecoder
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO

import textual
from textual import _time
from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.driver import Driver
from textual.drivers._writer_thread import WriterThread
from textual.drivers.linux_driver import LinuxDriver
from textual.message_pump import MessagePump
from textual.reactive import Reactive
from textual.screen import UPDATE_PERIOD, Screen
from textual.timer import EventTargetGone, Timer, TimerCallback
from textual.widget import Widget

#: The Textual version every override below was verified against.
VERIFIED_TEXTUAL = "8.2.8"


# -- the frame timer --------------------------------------------------------------------------
#
# A Textual screen draws from a paused timer that a refresh resumes, so that it draws at most
# once per frame (1/60 s). After a frame, Textual's Timer loop, finding its schedule behind,
# computes the next tick one interval too late (``count = int((now - start) / interval + 1)``
# in ``Timer._run``): a refresh asked for just after a frame waits up to two intervals (33 ms)
# instead of the rest of one. On a busy board a frame has nearly always just been drawn, so
# that wait lands on most keys; measured during a 10,000-tenant pass, opening the detail pane
# took 37 ms at the median with Textual's timer and 21-25 ms with this one; measured again on
# its own (bench/overrides.py keys), it opened later without this timer in every round
# (1.07-2.12x the round's median, docs/performance.md).


class FrameTimer(Timer):
    """Ticks when resumed, but never sooner than one interval after its previous tick.

    Made for a paused-until-needed timer like the screen's update timer: each tick pauses
    it, a refresh resumes it, and the tick then waits only for the rest of the interval.
    Overrides the private ``Timer._run`` and calls ``Timer._tick`` and ``Timer._active``.
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


class FrameTimerScreen(Screen):
    """A Screen whose update timer is a :class:`FrameTimer`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._frame_timer: FrameTimer | None = None

    @property
    def _update_timer(self) -> Timer:
        """Textual's screens create their update timer here (private) on first use; ours is
        a :class:`FrameTimer`, started and owned like the one ``set_interval`` would make."""
        if self._frame_timer is None:
            timer = FrameTimer(
                self, UPDATE_PERIOD, name="screen_update", callback=self._on_timer_update
            )
            timer._start()
            self._timers.add(timer)
            self._frame_timer = timer
        return self._frame_timer


# -- the terminal going away -----------------------------------------------------------------

#: Signals that end the board, and the exit code a shell reports for each (128 + number).
EXIT_ON_SIGNAL = {signal.SIGHUP: 129, signal.SIGINT: 130, signal.SIGTERM: 143}
#: The exit code when the terminal goes away without a signal (end of input, EIO): a hang-up.
EXIT_TERMINAL_GONE = EXIT_ON_SIGNAL[signal.SIGHUP]
#: Seconds the event loop has to start the orderly exit once the board is asked to end; a
#: loop that has not started it by then is stuck, and the process ends anyway.
LOOP_GRACE = 5.0
#: Seconds the orderly exit (remembered choices, the history's last writes, alert hooks
#: finishing) may take once started, before the process ends anyway.
EXIT_GRACE = 30.0


class DeadTerminalSafeWriter(WriterThread):
    """Textual's writer thread, but a write to a terminal that is gone (EIO, EPIPE) is
    dropped and the thread keeps draining its queue: otherwise it dies, its bounded queue
    fills, and the next write (restoring the terminal on exit) blocks forever. The first
    failed write calls ``on_gone`` (from this thread)."""

    def __init__(self, file: IO[str], on_gone: Callable[[], None]) -> None:
        super().__init__(file)
        self._on_gone = on_gone

    def run(self) -> None:
        get = self._queue.get
        alive = True
        while True:
            text = get()
            if text is None:
                break
            if not alive:
                continue
            try:
                self._file.write(text)
                if self._queue.qsize() == 0:
                    self._file.flush()
            except (OSError, ValueError):
                alive = False
                self._on_gone()
        if alive:
            with contextlib.suppress(OSError, ValueError):
                self._file.flush()


class ExitDeadline:
    """Ends the process if the orderly exit does not: the last resort when the event loop
    is stuck (a bug, a storm of messages) and cannot run it.

    :meth:`ask` may be called from any thread or a signal handler (it only sets an event);
    :meth:`began` is called on the event loop when the orderly exit begins. Without it
    within ``loop_grace`` seconds, or if the exit has not finished ``exit_grace`` seconds
    after it began, ``give_up`` runs (in the deadline's thread) with the exit code asked for.
    """

    def __init__(
        self,
        give_up: Callable[[int], None],
        loop_grace: float = LOOP_GRACE,
        exit_grace: float = EXIT_GRACE,
    ) -> None:
        self._give_up = give_up
        self._grace = (loop_grace, exit_grace)
        self._asked = threading.Event()
        self._began = threading.Event()
        self.code = 0
        self._thread = threading.Thread(target=self._wait, name="exit-deadline", daemon=True)

    def start(self) -> None:
        """Start waiting (a thread asleep until asked: starting one in a signal handler
        could deadlock on the interpreter's thread locks)."""
        if not self._thread.is_alive():
            self._thread.start()

    def ask(self, code: int) -> None:
        if not self._asked.is_set():
            self.code = code
            self._asked.set()

    def began(self) -> None:
        self._began.set()

    def _wait(self) -> None:
        self._asked.wait()
        loop_grace, exit_grace = self._grace
        if self._began.wait(loop_grace):
            time.sleep(exit_grace)
        self._give_up(self.code)


class HangupAwareDriver(LinuxDriver):
    """Textual's Linux driver that notices its terminal going away, and ends the board
    even when the event loop cannot.

    At end of input (or EIO, what a pseudo-terminal whose other side closed answers),
    Textual's input thread keeps selecting a readable descriptor and reading nothing, a busy
    loop that outlives the terminal. Here the thread stops, as does the writer when the
    output is gone, and the app is asked to exit as after a hang-up (129). SIGHUP, SIGTERM
    and SIGINT ask the same (129, 143, 130); their handlers are Python's own, which run
    even when the event loop is stuck (``loop.add_signal_handler`` runs them on the loop).
    An :class:`ExitDeadline` ends the process if the orderly exit does not happen.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.terminal_gone = False
        self.exit_event: WakingEvent = WakingEvent()
        self.deadline = ExitDeadline(self._give_up)
        self._signal_handlers: dict[int, object] = {}

    def start_application_mode(self) -> None:
        super().start_application_mode()
        # Swap the writer for one that survives a dead terminal. The old one is drained
        # first (stop() waits), so nothing is written out of order.
        assert self._writer_thread is not None
        self._writer_thread.stop()
        self._writer_thread = DeadTerminalSafeWriter(self._file, self._output_ended)
        self._writer_thread.start()
        self.deadline.start()
        for number in EXIT_ON_SIGNAL:
            self._signal_handlers[number] = signal.signal(number, self._signalled)

    def stop_application_mode(self) -> None:
        for number, handler in self._signal_handlers.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        self._signal_handlers.clear()
        super().stop_application_mode()

    def write(self, data: str) -> None:
        if not self.terminal_gone:
            super().write(data)

    def end(self, code: int) -> None:
        """Ask the app to exit with ``code``, the orderly way (what it keeps is saved, the
        terminal restored); from any thread or a signal handler."""
        self.deadline.ask(code)
        self._loop.call_soon_threadsafe(self._exit, code)

    def _exit(self, code: int) -> None:
        self.deadline.began()
        self._app.exit(return_code=code)

    def _signalled(self, number: int, _frame: object) -> None:
        self.end(EXIT_ON_SIGNAL[signal.Signals(number)])

    def _input_ended(self) -> None:
        self._terminal_lost()

    def _output_ended(self) -> None:
        self._terminal_lost()

    def _terminal_lost(self) -> None:
        if self.terminal_gone:
            return
        self.terminal_gone = True
        self.end(EXIT_TERMINAL_GONE)

    def _give_up(self, code: int) -> None:
        """The orderly exit did not happen: restore the terminal (a second at most: it may
        be gone, or the loop may hold what restoring needs) and end the process."""
        restoring = threading.Thread(target=self._restore_terminal, daemon=True)
        restoring.start()
        restoring.join(timeout=1.0)
        os._exit(code)

    def _restore_terminal(self) -> None:
        with contextlib.suppress(Exception):  # signal handlers are left: not the main thread
            super().stop_application_mode()
            self.close()

    def run_input_thread(self) -> None:
        """Textual's input loop (``LinuxDriver.run_input_thread``), ending at end of input.

        Textual's loop wakes ten times a second to look at its exit flag and its parser's
        timeout (an escape key on its own is told from the start of a sequence by waiting):
        0.2% of a core on an idle board. This one sleeps until input arrives, the parser's
        timeout comes, or :class:`WakingEvent` says the driver is stopping."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        wake_fd = self.exit_event.wake_fd
        selector.register(wake_fd, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(
            selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False
        ) -> bool:
            """Feed what was read to the parser; False at end of input."""
            for last, (key, mask) in loop_last(selector_events):
                if key.fd == wake_fd:
                    self.exit_event.drain()
                elif mask & selectors.EVENT_READ:
                    try:
                        data = os.read(self.fileno, 1024 * 4)
                    except OSError:  # EIO: the terminal is gone
                        data = b""
                    if not data:
                        return False
                    for event in parser.feed(decode(data, final=final and last)):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)
            return True

        def wait() -> float | None:
            """Until the parser's timeout, or for input when it waits for none."""
            deadline = parser._timeout_time
            return None if deadline is None else max(0.0, deadline - _time.get_time())

        try:
            while not self.exit_event.is_set():
                if not process(selector.select(wait())):
                    self._input_ended()
                    return
            selector.unregister(self.fileno)
            process([], final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass


class WakingEvent(threading.Event):
    """The driver's exit flag, which also wakes an input thread asleep in ``select``: setting
    it writes a byte to a pipe that thread selects on, and the thread drains it."""

    def __init__(self) -> None:
        super().__init__()
        self.wake_fd, self._wake_writer = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_writer, False)

    def set(self) -> None:
        super().set()
        with contextlib.suppress(BlockingIOError):  # already has a byte waiting: awake
            os.write(self._wake_writer, b"x")

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_fd, 512):
                pass


# -- a widget's own bindings -------------------------------------------------------------------


def own_bindings(widget: Widget, key: str) -> list[Binding]:
    """The bindings ``widget`` itself has for ``key`` (Textual keeps them in the private
    ``_bindings``; ``Screen.active_bindings`` shows a screen's priority binding instead,
    even where that one steps aside for a text field)."""
    return list(widget._bindings.key_to_bindings.get(key, []))


# -- the registry of hooks --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hook:
    """A private part of Textual we rely on, and a check that it is still as we use it."""

    name: str
    used_by: str
    check: Callable[[], bool]


def _has_params(function: object, *names: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return all(name in parameters for name in names)


def _is_property(owner: type, name: str) -> bool:
    return isinstance(inspect.getattr_static(owner, name, None), property)


def _init_sets(owner: type, attribute: str) -> bool:
    return f"self.{attribute}" in inspect.getsource(owner.__init__)


HOOKS: tuple[Hook, ...] = (
    Hook("Screen._update_timer", "FrameTimerScreen", lambda: _is_property(Screen, "_update_timer")),
    Hook("Screen._on_timer_update", "FrameTimerScreen", lambda: callable(Screen._on_timer_update)),
    Hook("MessagePump._timers", "FrameTimerScreen", lambda: _init_sets(MessagePump, "_timers")),
    Hook("Timer._run", "FrameTimer", lambda: inspect.iscoroutinefunction(Timer._run)),
    Hook(
        "Timer._tick(next_timer, count)",
        "FrameTimer",
        lambda: _has_params(Timer._tick, "next_timer", "count"),
    ),
    Hook("Timer._active", "FrameTimer", lambda: "_active" in inspect.getsource(Timer)),
    Hook("Timer._start", "FrameTimerScreen", lambda: callable(Timer._start)),
    Hook("Timer._interval", "FrameTimer", lambda: _init_sets(Timer, "_interval")),
    Hook(
        "textual._time.get_time/sleep",
        "FrameTimer",
        lambda: callable(_time.get_time) and callable(_time.sleep),
    ),
    Hook(
        "Reactive._layout (Widget.virtual_size lays out)",
        "FilterLine",
        lambda: isinstance(Widget.virtual_size, Reactive) and Widget.virtual_size._layout,
    ),
    Hook(
        "LinuxDriver.run_input_thread",
        "HangupAwareDriver",
        lambda: (
            callable(LinuxDriver.run_input_thread)
            and "def _run_input_thread" in inspect.getsource(LinuxDriver)
        ),
    ),
    Hook(
        "LinuxDriver._writer_thread/_file",
        "HangupAwareDriver",
        lambda: "self._writer_thread = WriterThread(self._file)" in inspect.getsource(LinuxDriver),
    ),
    Hook(
        "textual.drivers._writer_thread.WriterThread._queue/_file",
        "DeadTerminalSafeWriter",
        lambda: _init_sets(WriterThread, "_queue") and _init_sets(WriterThread, "_file"),
    ),
    Hook("Driver._loop", "HangupAwareDriver", lambda: _init_sets(Driver, "_loop")),
    Hook("Driver._app", "HangupAwareDriver", lambda: _init_sets(Driver, "_app")),
    Hook(
        "Driver._debug (XTermParser(debug))",
        "HangupAwareDriver",
        lambda: _init_sets(Driver, "_debug") and _has_params(XTermParser, "debug"),
    ),
    Hook(
        "LinuxDriver.exit_event (set, then the input thread joined)",
        "HangupAwareDriver, WakingEvent",
        lambda: (
            _init_sets(LinuxDriver, "exit_event")
            and "self.exit_event.set()" in inspect.getsource(LinuxDriver.disable_input)
        ),
    ),
    Hook(
        "Parser._timeout_time",
        "HangupAwareDriver",
        lambda: _init_sets(XTermParser.__mro__[1], "_timeout_time"),
    ),
    Hook(
        "DOMNode._bindings.key_to_bindings",
        "own_bindings (KeyBar)",
        lambda: _init_sets(DOMNode, "_bindings") and hasattr(BindingsMap(), "key_to_bindings"),
    ),
    Hook(
        "textual._xterm_parser.XTermParser.feed/tick",
        "HangupAwareDriver",
        lambda: callable(XTermParser.feed) and callable(XTermParser.tick),
    ),
    Hook(
        "textual._parser.ParseError",
        "HangupAwareDriver",
        lambda: issubclass(ParseError, Exception),
    ),
    Hook("textual._loop.loop_last", "HangupAwareDriver", lambda: callable(loop_last)),
)


def broken_hooks() -> list[str]:
    """Names of the hooks whose check fails on the installed Textual."""
    broken = []
    for hook in HOOKS:
        try:
            ok = hook.check()
        except Exception:
            ok = False
        if not ok:
            broken.append(hook.name)
    return broken


def textual_version_verified() -> bool:
    return textual.__version__ == VERIFIED_TEXTUAL
