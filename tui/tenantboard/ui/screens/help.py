"""The help screen: every key, and what each colour, glyph and mark means."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tenantboard.answers import STATE_SEVERITY, Severity
from tenantboard.humanize import GLYPHS
from tenantboard.rows import MARK_GLYPHS


def _grid(rows: Iterable[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for left, right in rows:
        grid.add_row(Text(left), Text(right))
    return grid


def help_renderable(bindings: Iterable[tuple[str, str]]) -> Group:
    """Every key and what it does, and what each glyph and mark means."""
    legend = [
        (f"{GLYPHS[Severity.OK]} ok", "running: " + ", ".join(_states(Severity.OK))),
        (f"{GLYPHS[Severity.WARNING]} warning", ", ".join(_states(Severity.WARNING))),
        (f"{GLYPHS[Severity.CRITICAL]} critical", ", ".join(_states(Severity.CRITICAL))),
        (
            f"{GLYPHS[Severity.UNKNOWN]} unknown",
            "the last check failed, or the state is not documented",
        ),
        (f"{GLYPHS[None]} pending", "not checked yet"),
    ]
    marks = [
        ("no!", "IsRunning disagrees with State"),
        ("host ↻", "the endpoint moved to another host since the previous check"),
        ("State?", "a state the API documentation does not list, shown as sent"),
        ("backoff 2m", "the last checks failed: waiting longer each time"),
        ("retry 45s", "the server asked to wait (Retry-After)"),
        ("↓ (event log)", "a change for the worse"),
        ("▁▄▆█ (timeline)", "ok, warning, unknown, critical over the session"),
        (f"{MARK_GLYPHS['mute']} name", "muted (m): no pop-up, bell or alert hook until it ends"),
        (f"{MARK_GLYPHS['ack']} name", "acknowledged (k): silenced until its state changes"),
        (
            f"{MARK_GLYPHS['maintenance']} name",
            "in a maintenance window (w, W): its changes are planned, no pop-up, bell or hook",
        ),
        ("▁▄▆█· (30 days)", "availability strip: each day's worst severity, · for no data"),
        ("▾ group / ▸ group", "a group's header line (b groups), unfolded / folded (space)"),
        ("✖ host incident", "many of a host's tenants bad together: one incident, one alert"),
    ]
    return Group(
        Text("Keys", "bold underline"),
        _grid(bindings),
        Text(),
        Text("Rows", "bold underline"),
        _grid(legend),
        Text(),
        Text("Marks", "bold underline"),
        _grid(marks),
        Text(),
        Text(
            "Colours follow the theme; glyphs and names carry the same meaning without colour. "
            "Keys can be remapped in the tenant file's [keys] table by the ids in docs/board.md.",
            "italic",
        ),
    )


def _states(severity: Severity) -> list[str]:
    return [state.name for state, level in STATE_SEVERITY.items() if level is severity]


class HelpScreen(ModalScreen[None]):
    """Closed by escape, q, or the key(s) that opened it (remapped ones included)."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="help.close")]

    def __init__(
        self, bindings: list[tuple[str, str]], close_keys: str = "question_mark,f1"
    ) -> None:
        super().__init__()
        self.bindings = bindings
        self.close_keys = {key.strip() for key in close_keys.split(",")}

    def on_key(self, event: events.Key) -> None:
        if event.key in self.close_keys:
            event.stop()
            self.dismiss(None)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("tenantboard help", "bold"), markup=False)
            yield Static(help_renderable(self.bindings), markup=False)
            yield Static(Text("escape closes this help", "dim"), markup=False)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
