"""A vertical scrollbar drawn line by line, for the board's big scrolling widgets.

Textual's ScrollBar renders itself as a Rich renderable: every redraw (each scroll step,
each layout) goes through the console, splits the result into lines and builds a Strip per
line, several milliseconds for a 48-line bar, paid again on every cursor move that scrolls
the table. This one computes the same segments with Textual's own
``ScrollBarRender.render_bar`` (same look, same mouse actions) once per position and hands
the compositor one ready Strip per line.
"""

from __future__ import annotations

from math import ceil

from rich.color import Color
from rich.style import Style
from textual.geometry import Size
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget

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
