"""The header line: counts per state (and errors) first, then what the board shows and does,
checks in flight, and the time."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from tenantboard.answers import Severity
from tenantboard.humanize import GLYPHS
from tenantboard.rows import ERROR_BUCKET, MARK_GLYPHS, bucket_severity


def _order(bucket: str) -> tuple[int, str]:
    severity = bucket_severity(bucket)
    return (-(int(severity) if severity is not None else -1), bucket)


#: Between the header's parts.
GAP = "  "
#: The header's clock: to the minute. To the second, the header was a frame a second on an
#: idle board, half its idle CPU at 10,000 tenants (docs/performance.md).
CLOCK_FORMAT = "%H:%M"


def _joined(parts: list[Text]) -> Text:
    return Text(GAP).join(part for part in parts if part)


def counts_text(counts: Counter[str], *, compact: bool = False) -> Text:
    """The count per state, worst first (errors and pending among them): what the header
    leads with. ``compact`` (narrow screens) counts per severity instead of per state."""
    if compact:
        per_severity: Counter[Severity | None] = Counter()
        for bucket, number in counts.items():
            per_severity[bucket_severity(bucket)] += number
        order = (Severity.CRITICAL, Severity.UNKNOWN, Severity.WARNING, Severity.OK, None)
        shown = [f"{GLYPHS[severity]}{per_severity[severity]}" for severity in order]
        return Text(
            " ".join(
                text
                for text, severity in zip(shown, order, strict=True)
                if per_severity[severity] > 0
            )
        )
    parts = []
    for bucket in sorted((b for b, n in counts.items() if n > 0), key=_order):
        severity = bucket_severity(bucket)
        name = "errors" if bucket == ERROR_BUCKET else bucket
        parts.append(Text(f"{GLYPHS[severity]} {counts[bucket]} {name}"))
    return _joined(parts)


def status_text(
    *,
    total: int,
    demo: bool,
    note: str = "",
    alarm: str = "",
    paused: bool = False,
    planned: str = "",
) -> Text:
    """What the board shows and does, after the counts: the board's own trouble (cannot
    reach SuperOffice), the maintenance windows open (``planned``), PAUSED, DEMO when
    simulated, the number of tenants and the view."""
    parts = [
        Text(f" {alarm} ", "bold reverse") if alarm else Text(),
        Text(f"{MARK_GLYPHS['maintenance']} {planned}", "bold") if planned else Text(),
        Text(" PAUSED ", "bold reverse") if paused else Text(),
        Text(" DEMO ", "bold reverse") if demo else Text(),
        Text.assemble(
            f"{total} tenant" if total == 1 else f"{total} tenants",
            (f" ({note})" if note else "", "italic"),
        ),
    ]
    return _joined(parts)


def activity_text(
    *, in_flight: int, now: datetime, history: str = "", history_problem: bool = False
) -> Text:
    """The history note ("last ran 18:02", or "history: not saved (…)"), the checks in
    flight and the time (:data:`CLOCK_FORMAT`)."""
    parts = [
        Text(f" {history} ", "bold reverse") if history_problem else Text(history, "dim"),
        Text(f"⟳ {in_flight} in flight"),
        Text(now.astimezone().strftime(CLOCK_FORMAT)),
    ]
    return _joined(parts)


def header_line(
    counts: tuple[Text, Text], status: tuple[Text, Text], activity: Text, width: int
) -> Text:
    """The header for ``width`` cells: the counts first (by state when everything fits that
    way, else the compact ``counts[1]``), then the status (in fewer words, ``status[1]``,
    when that makes it fit), and the activity at the right edge. Without room for all of
    it, everything runs on in that order from the left, the compact ways, and is cut from
    the right: the counts are the last thing to go."""
    full, compact = counts
    full_status, compact_status = status
    tries = ((full, full_status), (compact, full_status), (compact, compact_status))
    for shown, said in tries:
        left = Text.assemble(" ", _joined([shown, said]), GAP)
        right = Text.assemble(activity, " ")
        room = width - left.cell_len - right.cell_len
        if room >= 0:
            return Text.assemble(left, " " * room, right, no_wrap=True, end="")
    line = Text.assemble(" ", _joined([compact, compact_status, activity]), no_wrap=True, end="")
    line.truncate(width, overflow="ellipsis", pad=True)
    return line


class SummaryBar(Widget):
    """The header line (:func:`header_line`).

    One widget that draws it itself, so an update is a repaint of one line and never a
    layout pass of the whole screen (results can arrive hundreds a second).
    """

    DEFAULT_CSS = """
    SummaryBar { height: 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._parts: tuple[tuple[Text, Text], tuple[Text, Text], Text] = (
            (Text(), Text()),
            (Text(), Text()),
            Text(),
        )
        self._drawn: tuple[tuple[object, ...], Strip] | None = None

    def show(self, counts: tuple[Text, Text], status: tuple[Text, Text], activity: Text) -> None:
        """``counts``: by state and compact (:func:`counts_text`); ``status``: in full and
        in fewer words (:func:`status_text`)."""
        parts = (counts, status, activity)
        if parts == self._parts:
            return
        self._parts = parts
        self.refresh()

    def render(self) -> Text:
        """The whole line as text (what :meth:`render_line` draws)."""
        return header_line(*self._parts, self.size.width)

    def render_line(self, y: int) -> Strip:
        """The line as segments straight from Rich: Textual's way from ``render`` (its
        content pipeline, wrapping and formatting) took 1.4 ms, once a second for the
        clock."""
        width, base = self.size.width, self.rich_style
        if y != 0:
            return Strip.blank(width, base)
        key = (self._parts, width, base)
        if self._drawn is None or self._drawn[0] != key:
            segments = Segment.apply_style(self.render().render(self.app.console), base)
            self._drawn = (key, Strip(segments).adjust_cell_length(width, base))
        return self._drawn[1]
