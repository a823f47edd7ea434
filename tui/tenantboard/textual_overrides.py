"""Every place tenantboard overrides or reaches into Textual's private parts, in one fence.

Textual is pinned exactly (pyproject.toml) to :data:`VERIFIED_TEXTUAL`, the version these
were measured and verified on. :data:`HOOKS` names each private part we rely on, with a
check that it is still there in the shape we expect; ``tests/test_textual_overrides.py``
runs every check and fails naming the hook when an upgrade removes or changes one. When
upgrading Textual: run those tests, re-measure with ``make bench``, then move the pin.

What is here, and why:

- :class:`FrameTimer` / :class:`FrameTimerScreen`: the screen's update timer ticks only
  after the rest of a frame interval, not one interval late (answers keys sooner).
- :class:`LineScrollBar` / :class:`LineScrollBarMixin`: a vertical scrollbar drawn line by
  line from cached strips, and a way to change a widget's scrollable size without a layout
  of the whole screen.
- :func:`notify_until_dismissed` / :func:`dismiss`: a notification the board can take back
  when what it said stops being true (the tenant file is readable again); Textual's
  ``notify`` returns nothing to dismiss, and ``App._unnotify`` is private.
- :class:`HangupAwareDriver`: Textual's Linux driver busy-loops at 100% CPU when its
  terminal goes away (end of input, EIO: a closed SSH session, ``tmux kill-session``; upstream
  Textualize/textual PR 6690). This one tells the app the terminal is gone, and its writer
  drops output to a dead terminal instead of dying and blocking the exit.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import selectors
from codecs import getincrementaldecoder
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from math import ceil

import textual
from rich.color import Color
from rich.style import Style
from textual import _time
from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.driver import Driver
from textual.drivers._writer_thread import WriterThread
from textual.drivers.linux_driver import LinuxDriver
from textual.geometry import Size
from textual.message_pump import MessagePump
from textual.notifications import Notification, Notify, SeverityLevel
from textual.reactive import Reactive
from textual.screen import UPDATE_PERIOD, Screen
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
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
# took 37 ms at the median with Textual's timer and 21-25 ms with this one.


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


# -- the line scrollbar -----------------------------------------------------------------------
#
# Textual's ScrollBar renders itself as a Rich renderable: every redraw (each scroll step,
# each layout) goes through the console, splits the result into lines and builds a Strip per
# line, paid again on every cursor move that scrolls the table. This one computes the same
# segments with Textual's own ``ScrollBarRender.render_bar`` (same look, same mouse actions)
# once per position and hands the compositor one ready Strip per line.

_DEFAULT_BACK = Color.parse("#555555")
_DEFAULT_BAR = Color.parse("bright_magenta")


class LineScrollBar(ScrollBar):
    """A vertical ScrollBar whose lines come from a cache keyed by what they show."""

    def __init__(self, *, thickness: int = 1) -> None:
        super().__init__(vertical=True, name="vertical", thickness=thickness)
        self._key: tuple[object, ...] | None = None
        self._strips: list[Strip] = []

    def _bar_strips(self) -> list[Strip]:
        renderable = self.render()
        assert isinstance(renderable, ScrollBarRender)
        width, height = self.size
        style = renderable.style
        assert isinstance(style, Style)
        key = (
            width,
            height,
            renderable.virtual_size,
            renderable.window_size,
            renderable.position,
            style,
        )
        if key != self._key:
            back = style.bgcolor or _DEFAULT_BACK
            bar = style.color or _DEFAULT_BAR
            segments = ScrollBarRender.render_bar(
                size=height,
                virtual_size=renderable.virtual_size,
                window_size=renderable.window_size,
                position=renderable.position,
                thickness=width,
                vertical=True,
                back_color=back,
                bar_color=bar,
            )
            # A vertical bar is one segment per line.
            self._strips = [Strip([segment], width) for segment in segments.segments]
            self._key = key
        return self._strips

    def render_line(self, y: int) -> Strip:
        strips = self._bar_strips()
        if 0 <= y < len(strips):
            return strips[y]
        return Strip.blank(self.size.width)


class LineScrollBarMixin:
    """For a Widget: make its vertical scrollbar a :class:`LineScrollBar`, and change its
    scrollable size without a layout of the whole screen.

    Textual creates the scrollbar lazily in the ``vertical_scrollbar`` property; this
    creates ours the same way (hidden until the widget's content overflows).
    """

    _vertical_scrollbar: ScrollBar | None

    def set_virtual_size(self, size: Size) -> None:
        """Change the scrollable size (a filter changed the row count, new content).

        Assigning ``virtual_size`` asks for a layout of the whole screen and then redraws
        every widget on it, tens of milliseconds with a big table. The widget's own region
        does not change with its content, so this updates the scrollbar the way Textual
        does after a layout (``_scroll_update``) and redraws this widget only; if the
        scrollbar appears or disappears, setting its visibility asks for the layout that
        is then needed.
        """
        assert isinstance(self, Widget)
        if size == self.virtual_size:
            return
        if self.size.area == 0:  # not laid out yet: the first layout is to come anyway
            self.virtual_size = size
            return
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        assert isinstance(self, Widget)
        if self._vertical_scrollbar is None:
            bar = LineScrollBar(thickness=ceil(self.scrollbar_size_vertical))
            bar.display = False
            self._vertical_scrollbar = bar
            self.app._start_widget(self, bar)
        return self._vertical_scrollbar


# -- the terminal going away -----------------------------------------------------------------


class DeadTerminalSafeWriter(WriterThread):
    """Textual's writer thread, but a write to a terminal that is gone (EIO, EPIPE) is
    dropped and the thread keeps draining its queue: otherwise it dies, its bounded queue
    fills, and the next write (restoring the terminal on exit) blocks forever."""

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
        if alive:
            with contextlib.suppress(OSError, ValueError):
                self._file.flush()


class HangupAwareDriver(LinuxDriver):
    """Textual's Linux driver that notices its terminal going away.

    At end of input (or EIO, what a pseudo-terminal whose other side closed answers),
    Textual's input thread keeps selecting a readable descriptor and reading nothing, a busy
    loop that outlives the terminal. Here the thread stops and calls
    ``app.terminal_gone()`` on the app's loop; output to the dead terminal is dropped.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.terminal_gone = False

    def start_application_mode(self) -> None:
        super().start_application_mode()
        # Swap the writer for one that survives a dead terminal. The old one is drained
        # first (stop() waits), so nothing is written out of order.
        assert self._writer_thread is not None
        self._writer_thread.stop()
        self._writer_thread = DeadTerminalSafeWriter(self._file)
        self._writer_thread.start()

    def write(self, data: str) -> None:
        if not self.terminal_gone:
            super().write(data)

    def _input_ended(self) -> None:
        if self.terminal_gone:
            return
        self.terminal_gone = True
        on_gone = getattr(self._app, "terminal_gone", None)
        if on_gone is not None:
            self._loop.call_soon_threadsafe(on_gone)

    def run_input_thread(self) -> None:
        """Textual's input loop (LinuxDriver.run_input_thread), ending at end of input."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(
            selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False
        ) -> bool:
            """Feed what was read to the parser; False at end of input."""
            for last, (_key, mask) in loop_last(selector_events):
                if mask & selectors.EVENT_READ:
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

        try:
            while not self.exit_event.is_set():
                if not process(selector.select(0.1)):
                    self._input_ended()
                    return
            selector.unregister(self.fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass


# -- notifications that can be taken back ------------------------------------------------------


def notify_until_dismissed(
    app: App, message: str, *, severity: SeverityLevel, timeout: float
) -> Notification:
    """What ``App.notify`` does (markup off), returning the notification for :func:`dismiss`."""
    notification = Notification(message, "", severity, timeout, markup=False)
    app.post_message(Notify(notification))
    return notification


def dismiss(app: App, notification: Notification) -> None:
    """Take a notification off the screen if it is still there."""
    if notification in app._notifications:
        app._unnotify(notification)


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
        "Widget._vertical_scrollbar",
        "LineScrollBarMixin",
        lambda: _init_sets(Widget, "_vertical_scrollbar"),
    ),
    Hook(
        "Widget.vertical_scrollbar",
        "LineScrollBarMixin",
        lambda: _is_property(Widget, "vertical_scrollbar"),
    ),
    Hook(
        "App._start_widget",
        "LineScrollBarMixin",
        lambda: _has_params(App._start_widget, "parent", "widget"),
    ),
    Hook(
        "Widget._scroll_update",
        "LineScrollBarMixin",
        lambda: _has_params(Widget._scroll_update, "virtual_size"),
    ),
    Hook(
        "ScrollBarRender.render_bar",
        "LineScrollBar",
        lambda: _has_params(
            ScrollBarRender.render_bar,
            "size",
            "virtual_size",
            "window_size",
            "position",
            "thickness",
            "vertical",
            "back_color",
            "bar_color",
        ),
    ),
    Hook(
        "Widget.virtual_size lays out",
        "LineScrollBarMixin, FilterLine",
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
        "LinuxDriver._writer_thread",
        "HangupAwareDriver",
        lambda: "self._writer_thread = WriterThread(self._file)" in inspect.getsource(LinuxDriver),
    ),
    Hook(
        "WriterThread._queue/_file",
        "DeadTerminalSafeWriter",
        lambda: _init_sets(WriterThread, "_queue") and _init_sets(WriterThread, "_file"),
    ),
    Hook("Driver._loop", "HangupAwareDriver", lambda: _init_sets(Driver, "_loop")),
    Hook(
        "App._notifications/_unnotify",
        "dismiss",
        lambda: _init_sets(App, "_notifications") and _has_params(App._unnotify, "notification"),
    ),
    Hook(
        "Notification(message, title, severity, timeout, markup)",
        "notify_until_dismissed",
        lambda: _has_params(Notification, "message", "title", "severity", "timeout", "markup"),
    ),
    Hook(
        "XTermParser.feed/tick",
        "HangupAwareDriver",
        lambda: callable(XTermParser.feed) and callable(XTermParser.tick),
    ),
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
