"""The event log panel: what changed, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tenantboard.answers import Severity
from tenantboard.eventlog import LoggedEvent
from tenantboard.humanize import GLYPHS
from tenantboard.sanitize import clean

_GLYPH_BY_WORD = {
    "ok": GLYPHS[Severity.OK],
    "warning": GLYPHS[Severity.WARNING],
    "critical": GLYPHS[Severity.CRITICAL],
    "unknown": GLYPHS[Severity.UNKNOWN],
}


#: Narrower than this, a line leaves out the kind of event (what happened says it: "check
#: failed: …", "Running → Unknown") and gives the name less room, so that what happened
#: shows whole at 80 columns.
COMPACT_BELOW = 100


def event_line(event: LoggedEvent, now: datetime, width: int = COMPACT_BELOW) -> str:
    """One event as text: when, how it stands, which tenant, (kind,) what happened."""
    local = event.at.astimezone()
    when = (
        local.strftime("%H:%M:%S")
        if local.date() == now.astimezone().date()
        else (local.strftime("%Y-%m-%d %H:%M"))
    )
    glyph = _GLYPH_BY_WORD.get(event.severity, "?")
    worse = "↓" if event.worse else " "
    compact = width < COMPACT_BELOW
    # Padded by terminal cells, not characters: wide characters (CJK, emoji) take two.
    name = fit_line(clean(event.name, 40), 18 if compact else 24)
    kind = "" if compact else f"{event.kind:<9} "
    return f" {when}  {glyph}{worse} {name} {kind}{event.text}"


def fit_line(text: str, width: int) -> str:
    """``text`` as exactly ``width`` cells, ending in ``…`` when it was cut."""
    if cell_len(text) > width > 1:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


class EventLogPanel(ScrollView, can_focus=True):
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
        self.virtual_size = Size(0, len(events) + 1)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            style = self.get_component_rich_style("event-log--title")
            return Strip([Segment(fit_line(f" {self.title}", width), style)], width)
        index = int(self.scroll_offset.y) + y - 1
        if not 0 <= index < len(self.events):
            if index == 0:
                text = "  nothing has happened yet: state changes, endpoint moves, failures and recoveries show here"
                return Strip([Segment(fit_line(text, width), self.rich_style)], width)
            return Strip.blank(width, self.rich_style)
        event = self.events[index]
        name = event.severity if event.severity in _GLYPH_BY_WORD else "unknown"
        style = self.get_component_rich_style(f"event-log--{name}")
        text = fit_line(event_line(event, self.now, width), width)
        return Strip([Segment(text, style)], width)
