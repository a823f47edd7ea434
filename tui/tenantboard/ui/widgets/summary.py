"""The header line: counts per state (and errors), checks in flight, and the time."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from tenantboard.answers import Severity
from tenantboard.humanize import GLYPHS, clock_time
from tenantboard.rows import ERROR_BUCKET, MARK_GLYPHS, bucket_severity


def _order(bucket: str) -> tuple[int, str]:
    severity = bucket_severity(bucket)
    return (-(int(severity) if severity is not None else -1), bucket)


def counts_text(
    counts: Counter[str],
    *,
    total: int,
    demo: bool,
    compact: bool = False,
    note: str = "",
    alarm: str = "",
    planned: str = "",
) -> Text:
    """Left part: the app's name, DEMO when simulated, our own outage (``alarm``), the
    maintenance windows open (``planned``), and the count per state.

    ``compact`` (narrow screens) counts per severity instead of per state name.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" tenantboard ", "bold reverse")
    if demo:
        text.append(" DEMO " if compact else " DEMO: simulated tenants ", "bold reverse")
    if alarm:  # the board's own trouble (cannot reach SuperOffice): first, unmissable
        text.append(f" {alarm} ", "bold reverse")
    if planned:
        text.append(f" {MARK_GLYPHS['maintenance']} {planned} ", "bold")
    text.append(f" {total} ")
    text.append("tenant " if total == 1 else "tenants ")
    if note:
        text.append(f"({note}) ", "italic")
    if compact:
        per_severity: Counter[Severity | None] = Counter()
        for bucket, number in counts.items():
            per_severity[bucket_severity(bucket)] += number
        for severity in (Severity.CRITICAL, Severity.UNKNOWN, Severity.WARNING, Severity.OK, None):
            if per_severity[severity] > 0:
                text.append(f" {GLYPHS[severity]}{per_severity[severity]}")
        return text
    for bucket in sorted((b for b, n in counts.items() if n > 0), key=_order):
        severity = bucket_severity(bucket)
        name = "errors" if bucket == ERROR_BUCKET else bucket
        text.append(f" {GLYPHS[severity]} {counts[bucket]} {name} ")
    return text


def activity_text(
    *, in_flight: int, now: datetime, paused: bool, history: str = "", history_problem: bool = False
) -> Text:
    """Right part: checks in flight, PAUSED, the history note ("last ran 18:02", or
    "history: not saved (…)"), and the time; never cut off."""
    text = Text(no_wrap=True)
    if paused:
        text.append(" PAUSED ", "bold reverse")
    if history:
        text.append(f" {history} ", "bold reverse" if history_problem else "dim")
    text.append(f" ⟳ {in_flight} in flight  {clock_time(now)} ")
    return text


class SummaryBar(Widget):
    """The header line: counts on the left, activity on the right.

    One widget that draws both parts itself, so an update is a repaint of one line and
    never a layout pass of the whole screen (results can arrive hundreds a second).
    """

    DEFAULT_CSS = """
    SummaryBar { height: 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._counts = Text()
        self._activity = Text()
        self._drawn: tuple[tuple[Text, Text, int, Style], Strip] | None = None

    def show(self, counts: Text, activity: Text) -> None:
        if counts == self._counts and activity == self._activity:
            return
        self._counts, self._activity = counts, activity
        self.refresh()

    def render(self) -> Text:
        """The whole line as text (what :meth:`render_line` draws)."""
        width = self.size.width
        right = self._activity
        left = self._counts.copy()
        room = max(0, width - right.cell_len)
        left.truncate(room, overflow="ellipsis", pad=True)
        return Text.assemble(left, right, no_wrap=True, end="")

    def render_line(self, y: int) -> Strip:
        """The line as segments straight from Rich: Textual's way from ``render`` (its
        content pipeline, wrapping and formatting) took 1.4 ms, once a second for the
        clock."""
        width, base = self.size.width, self.rich_style
        if y != 0:
            return Strip.blank(width, base)
        key = (self._counts, self._activity, width, base)
        if self._drawn is None or self._drawn[0] != key:
            segments = Segment.apply_style(self.render().render(self.app.console), base)
            self._drawn = (key, Strip(segments).adjust_cell_length(width, base))
        return self._drawn[1]
