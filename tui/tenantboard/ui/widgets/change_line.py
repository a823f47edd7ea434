"""The change line: the newest state change, and how many came with it.

State changes at fleet scale arrive every few seconds; as toasts they bury the board. They
are told here, on one line above the key bar, and kept in the event log (``l``).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class ChangeLine(Widget):
    """One line of text, drawn as data (never markup)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.text = Text()

    def show(self, text: Text) -> None:
        self.text = text
        self.refresh()

    def render(self) -> Text:
        shown = self.text.copy()
        shown.truncate(max(0, self.size.width), overflow="ellipsis")
        shown.no_wrap = True
        return shown
