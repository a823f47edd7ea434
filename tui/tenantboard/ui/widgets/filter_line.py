"""The filter line: type to narrow the board to matching tenants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.widgets import Input


class FilterLine(Input):
    """The filter line: escape clears it and gives the table the keys back.

    Each change of the text is handed to ``on_change`` at once, from the value's watcher:
    the table is re-filtered in the same turn of the event loop as the keystroke and both
    are drawn in one frame, where an ``Input.Changed`` message would reach the app only
    after bubbling through the DOM, several turns of a loop that is busy during a pass.
    """

    BINDINGS = [Binding("escape", "clear", "Clear filter", id="filter.clear")]

    # Input sets its virtual size on every change of the text, and Widget's reactive asks
    # for a layout of the whole screen each time; the line never changes size, so a
    # repaint of the line is enough.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0))
    # A steady cursor: a blinking one redraws the line twice a second, over SSH, all day.
    cursor_blink = Reactive(False, init=False)

    class Cleared(Message):
        pass

    def __init__(self, on_change: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_change = on_change

    def watch_value(self, value: str) -> None:
        self._on_change(value)

    def action_clear(self) -> None:
        self.post_message(self.Cleared())
