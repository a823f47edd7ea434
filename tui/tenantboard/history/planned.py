"""Planned and unplanned downtime: the part of a tenant's downtime that fell inside a
maintenance window covering it (pure: no I/O, no clock).

The history records which windows were open when (``HistoryDB.windows``); a window covers a
tenant by its scope: environment and context id from the tenant, tags from the tenant file
as it is now, and the endpoint host from the intervals themselves (an interval that names
no host, such as OfflineMaintenance, keeps the last one named before it).

**Planned downtime** is not-up time inside a window covering the tenant; **unplanned** is
the rest of the downtime. **Uptime excluding planned maintenance** leaves planned downtime
out of the observed time: up / (observed - planned downtime), the way an SLA leaves out
announced maintenance; up time inside a window still counts as up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tenantboard.history.availability import Availability, Interval, ordered
from tenantboard.maintenance import Window
from tenantboard.tenant import Tenant


@dataclass(frozen=True, slots=True)
class Planned:
    """One tenant's downtime split by maintenance windows (seconds)."""

    planned_down: float
    unplanned_down: float
    uptime_excluding_planned: float | None


#: No window covered the tenant (or nothing is known of windows).
UNPLANNED_ONLY = Planned(0.0, 0.0, None)


def _merged_length(spans: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        start = max(start, reach)
        if end > start:
            total += end - start
            reach = end
    return total


def planned_down_by_window(
    tenant: Tenant,
    intervals: Sequence[Interval],
    windows: Sequence[Window],
    start: datetime,
    end: datetime,
) -> tuple[float, dict[int, float]]:
    """Planned downtime within [start, end), in all and per window (by position in
    ``windows``; overlapping windows each count their own, the total counts it once)."""
    lo, hi = start.timestamp(), end.timestamp()
    total = 0.0
    per_window: dict[int, float] = {}
    host: str | None = None
    for interval in ordered(intervals):
        host = interval.host or host
        if interval.up:
            continue
        a, b = max(interval.start.timestamp(), lo), min(interval.end.timestamp(), hi)
        if b <= a:
            continue
        spans = []
        for index, window in enumerate(windows):
            if not window.scope.covers(tenant, host):
                continue
            span = (max(a, window.start.timestamp()), min(b, window.closes.timestamp()))
            if span[1] > span[0]:
                spans.append(span)
                per_window[index] = per_window.get(index, 0.0) + span[1] - span[0]
        total += _merged_length(spans)
    return total, per_window


def planned_figures(
    tenant: Tenant,
    intervals: Sequence[Interval],
    windows: Sequence[Window],
    figures: Availability,
) -> Planned:
    """``figures`` (from :func:`~tenantboard.history.availability.availability` over the
    same intervals) with the planned downtime told apart."""
    planned, _ = planned_down_by_window(
        tenant, intervals, windows, figures.window_start, figures.window_end
    )
    planned = min(planned, figures.down)
    observed = figures.observed - planned
    return Planned(
        planned_down=planned,
        unplanned_down=max(0.0, figures.down - planned),
        uptime_excluding_planned=figures.up / observed if observed > 0 else None,
    )


def covering_windows(
    tenant: Tenant, intervals: Sequence[Interval], windows: Sequence[Window]
) -> list[Window]:
    """The windows that covered the tenant: by its scope, with the hosts its intervals
    named while the window was open (or the last one before)."""
    spans = ordered(intervals)
    found = []
    for window in windows:
        hosts: set[str | None] = {None}
        host: str | None = None
        for interval in spans:
            host = interval.host or host
            if interval.end > window.start and interval.start < window.closes:
                hosts.add(host)
        if any(window.scope.covers(tenant, known) for known in hosts):
            found.append(window)
    return found
