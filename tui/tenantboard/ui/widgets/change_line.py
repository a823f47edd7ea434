"""One-line notices: the change line and the incident line.

The change line: a problem that stands (while it lasts, wrapped to be read whole), then the
newest state change.
State changes at fleet scale arrive every few seconds; as toasts they bury the board. They
are told here, on one line above the key bar, and kept in the event log (``l``). A problem
that is true until it is not (the tenant file cannot be read, the server a board follows is
gone) is state, not a notice: it leads the line while it lasts and goes when it ends.

The incident line: the open host incidents, under the header, while there are any.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class TextLine(Widget):
    """One line of text, drawn as data (never markup)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.text = Text()

    def show(self, text: Text) -> None:
        self.text = text
        self.refresh()

    def render(self) -> Text:
        shown = self.text.copy()
        shown.no_wrap = True
        shown.truncate(max(0, self.size.width), overflow="ellipsis")
        return shown


class ChangeLine(TextLine):
    """Standing problems first, then the newest state change and how many came with it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        #: Standing problems by kind ("tenant file", "server"), in the order they began.
        self.problems: dict[str, str] = {}

    def set_problem(self, kind: str, text: str) -> None:
        """``text`` leads the line until the problem of this kind is set to ""."""
        if text:
            self.problems[kind] = text
        else:
            self.problems.pop(kind, None)
        self.refresh(layout=True)  # a problem wraps to as many lines as it needs

    def show(self, text: Text) -> None:
        super().show(text)
        if self.problems:  # below the problems, the change may take a line or give one back
            self.refresh(layout=True)

    def render(self) -> Text:
        """Each standing problem whole, wrapped to the width (the reason a file cannot be
        read is what the operator needs to fix it), then the newest change on one line."""
        if not self.problems:
            return super().render()
        shown = Text("\n").join(
            Text(f" {problem} ", "bold reverse") for problem in self.problems.values()
        )
        if self.text:
            shown.append("\n")
            shown.append_text(super().render())
        return shown


class IncidentLine(TextLine):
    """The open host incidents (the newest, and how many more)."""
