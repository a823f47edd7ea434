"""A small dialog: a title and a few choices (how long to mute; which mark to clear)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ChooserScreen(ModalScreen[str | None]):
    """Choose one of ``choices`` ((id, text) pairs); dismissed with the id, or None."""

    DEFAULT_CSS = """
    ChooserScreen { align: center middle; }
    ChooserScreen > Vertical {
        width: auto; max-width: 90%; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ChooserScreen Label { width: auto; max-width: 100%; margin-bottom: 1; }
    ChooserScreen OptionList, ChooserScreen OptionList:focus {
        width: auto; max-width: 100%; height: auto; max-height: 20; border: none; padding: 0;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.hint = hint or "enter chooses, escape cancels"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"{self.title_text}\n{self.hint}", markup=False)
            yield OptionList(*(Option(Text(text), id=choice) for choice, text in self.choices))

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(message.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
