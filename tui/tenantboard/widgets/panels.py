"""The event log panel and the help screen."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.cells import set_cell_size
from rich.console import Group
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from tenantboard.answers import STATE_SEVERITY, Severity
from tenantboard.eventlog import LoggedEvent
from tenantboard.humanize import GLYPHS
from tenantboard.sanitize import clean
from tenantboard.widgets.scrollbar import LineScrollBarMixin

_GLYPH_BY_WORD = {
    "ok": GLYPHS[Severity.OK],
    "warning": GLYPHS[Severity.WARNING],
    "critical": GLYPHS[Severity.CRITICAL],
    "unknown": GLYPHS[Severity.UNKNOWN],
}


def event_line(event: LoggedEvent, now: datetime) -> str:
    """One event as text: when, how it stands, which tenant, what happened."""
    local = event.at.astimezone()
    when = (
        local.strftime("%H:%M:%S")
        if local.date() == now.astimezone().date()
        else (local.strftime("%Y-%m-%d %H:%M"))
    )
    glyph = _GLYPH_BY_WORD.get(event.severity, "?")
    worse = "↓" if event.worse else " "
    return f" {when}  {glyph}{worse} {clean(event.name, 40):<24} {event.kind:<9} {event.text}"


class EventLogPanel(LineScrollBarMixin, ScrollView, can_focus=True):
    """Newest first. Drawn line by line from the log, so thousands of events cost nothing."""

    COMPONENT_CLASSES = {
        "event-log--title",
        "event-log--ok",
        "event-log--warning",
        "event-log--critical",
        "event-log--unknown",
    }

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.events: Sequence[LoggedEvent] = ()
        self.title = "Event log"
        self.now = datetime.now().astimezone()

    def show(self, events: Sequence[LoggedEvent], title: str, now: datetime) -> None:
        self.events, self.title, self.now = events, title, now
        # No width: lines are cut to the panel's width, never scrolled sideways.
        self.set_virtual_size(Size(0, len(events) + 1))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            style = self.get_component_rich_style("event-log--title")
            return Strip([Segment(set_cell_size(f" {self.title}", width), style)], width)
        index = int(self.scroll_offset.y) + y - 1
        if not 0 <= index < len(self.events):
            if index == 0:
                text = "  nothing has happened yet: state changes, endpoint moves, failures and recoveries show here"
                return Strip([Segment(set_cell_size(text, width), self.rich_style)], width)
            return Strip.blank(width, self.rich_style)
        event = self.events[index]
        name = event.severity if event.severity in _GLYPH_BY_WORD else "unknown"
        style = self.get_component_rich_style(f"event-log--{name}")
        text = set_cell_size(event_line(event, self.now), width)
        return Strip([Segment(text, style)], width)


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
            "Keys can be remapped in the tenant file's [keys] table by the ids in the README.",
            "italic",
        ),
    )


def _states(severity: Severity) -> list[str]:
    return [state.name for state, level in STATE_SEVERITY.items() if level is severity]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("tenantboard help", "bold"), markup=False)
            yield Static(help_renderable(self.bindings), markup=False)
            yield Static(Text("escape closes this help", "dim"), markup=False)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
