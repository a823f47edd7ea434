"""The header line: counts per state (and errors), checks in flight, and the time."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tenantboard.board_model import ERROR_BUCKET, PENDING_BUCKET
from tenantboard.format import GLYPHS, clock_time
from tenantboard.model import Severity, State

_BUCKET_SEVERITY: dict[str, Severity | None] = {state.name: state.severity for state in State}
_BUCKET_SEVERITY[ERROR_BUCKET] = Severity.UNKNOWN
_BUCKET_SEVERITY[PENDING_BUCKET] = None


def _order(bucket: str) -> tuple[int, str]:
    severity = _BUCKET_SEVERITY.get(bucket, Severity.UNKNOWN)
    return (-(int(severity) if severity is not None else -1), bucket)


def counts_text(counts: Counter[str], *, total: int, demo: bool, compact: bool = False) -> Text:
    """Left part: the app's name, DEMO when simulated, and the count per state.

    ``compact`` (narrow screens) counts per severity instead of per state name.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" tenantboard ", "bold reverse")
    if demo:
        text.append(" DEMO " if compact else " DEMO: simulated tenants ", "bold reverse")
    text.append(f" {total} ")
    if compact:
        per_severity: Counter[Severity | None] = Counter()
        for bucket, number in counts.items():
            per_severity[_BUCKET_SEVERITY.get(bucket, Severity.UNKNOWN)] += number
        for severity in (Severity.CRITICAL, Severity.UNKNOWN, Severity.WARNING, Severity.OK, None):
            if per_severity[severity] > 0:
                text.append(f" {GLYPHS[severity]}{per_severity[severity]}")
        return text
    text.append("tenants ")
    for bucket in sorted((b for b, n in counts.items() if n > 0), key=_order):
        severity = _BUCKET_SEVERITY.get(bucket, Severity.UNKNOWN)
        name = "errors" if bucket == ERROR_BUCKET else bucket
        text.append(f" {GLYPHS[severity]} {counts[bucket]} {name} ")
    return text


def activity_text(*, in_flight: int, now: datetime, paused: bool) -> Text:
    """Right part: checks in flight, PAUSED, and the time; never cut off."""
    text = Text(no_wrap=True)
    if paused:
        text.append(" PAUSED ", "bold reverse")
    text.append(f" ⟳ {in_flight} in flight  {clock_time(now)} ")
    return text


class SummaryBar(Horizontal):
    """The header line; the app updates it when counts change and once a second."""

    def compose(self) -> ComposeResult:
        yield Static(id="summary-counts", markup=False)
        yield Static(id="summary-activity", markup=False)

    def show(self, counts: Text, activity: Text) -> None:
        self.query_one("#summary-counts", Static).update(counts)
        self.query_one("#summary-activity", Static).update(activity)
