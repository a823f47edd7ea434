"""`report`'s, `history`'s and `versions`' output: plain aligned tables, JSON and CSV (UI-free).

Everything read from the history database is untrusted text: cleaned of control
characters and escape sequences for the terminal, and a CSV cell that a spreadsheet would
run as a formula is quoted with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tenantboard.connectivity import Outage
from tenantboard.eventlog import LoggedEvent
from tenantboard.history.availability import MAINTENANCE_STATES, Availability, Interval
from tenantboard.history.db import Mark, dumps_interval, dumps_outage
from tenantboard.history.planned import UNPLANNED_ONLY, Planned, planned_down_by_window
from tenantboard.humanize import length, time_range, yes_no
from tenantboard.maintenance import Window
from tenantboard.releases import VersionSpan, VersionSummary, summarize
from tenantboard.sanitize import clean
from tenantboard.tenant import Tenant


def parse_moment(text: str, *, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` (local midnight; with ``end_of_day`` the next midnight, so --to is
    inclusive) or an ISO 8601 date and time (local unless it names its zone)."""
    stripped = text.strip()
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{clean(text, 30)!r} is not a date (YYYY-MM-DD) or date and time"
        ) from None
    date_only = len(stripped) <= 10
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the local zone
    if date_only and end_of_day:
        moment += timedelta(days=1)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ReportRow:
    tenant: Tenant
    figures: Availability
    #: The downtime split by maintenance windows.
    planned: Planned = UNPLANNED_ONLY


def _percent(share: float | None, digits: int = 2) -> str:
    if share is None:
        return "-"
    return f"{share * 100:.{digits}f}%"


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _aligned(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    cells = [[clean(cell, 120) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def outage_lines(outages: Sequence[Outage]) -> list[str]:
    """Our own outages, one line each: "tenantboard could not reach SuperOffice from ..
    to .. (1m 30s): connection refused; 12 probes; not observed"."""
    return [
        f"tenantboard {outage.summary(dates=True)}; not observed"
        if outage.ended is not None
        else f"tenantboard {outage.headline}; not observed"
        for outage in outages
    ]


def report_table(
    rows: Sequence[ReportRow], start: datetime, end: datetime, outages: Sequence[Outage] = ()
) -> str:
    """The availability table, then our own outages in the period (time nobody could
    observe: it lowers coverage, never uptime)."""
    header = [
        "CONTEXT", "ENV", "UPTIME", "EXCL PLANNED", "DOWN", "PLANNED", "UNPLANNED",
        "INCIDENTS", "LONGEST", "ONLINE MAINT", "OFFLINE MAINT", "LAST RUNNING", "COVERAGE",
        "LABEL",
    ]  # fmt: skip
    body = []
    for row in rows:
        figures = row.figures
        observed = figures.observed > 0
        body.append(
            [
                row.tenant.context_id,
                row.tenant.env,
                _percent(figures.uptime, 3),
                _percent(row.planned.uptime_excluding_planned, 3),
                length(figures.down) if observed else "-",
                length(row.planned.planned_down) if observed else "-",
                length(row.planned.unplanned_down) if observed else "-",
                str(figures.incidents) if observed else "-",
                length(figures.longest_incident) if figures.incidents else "-",
                length(figures.maintenance.get("OnlineMaintenance", 0.0)) if observed else "-",
                length(figures.maintenance.get("OfflineMaintenance", 0.0)) if observed else "-",
                _local(figures.last_seen_running),
                _percent(figures.coverage, 1),
                row.tenant.label,
            ]
        )
    first, last = time_range(start, end, dates=True)
    title = f"availability {first} to {last} ({length((end - start).total_seconds())})"
    notes = outage_lines(outages)
    return "\n".join([title, _aligned(header, body), *(["", *notes] if notes else [])])


def _report_record(row: ReportRow) -> dict[str, Any]:
    figures = row.figures
    return {
        "context_id": row.tenant.context_id,
        "env": row.tenant.env,
        "label": clean(row.tenant.label, 120),
        "uptime": figures.uptime,
        "uptime_excluding_planned": row.planned.uptime_excluding_planned,
        "coverage": figures.coverage,
        "observed_seconds": figures.observed,
        "up_seconds": figures.up,
        "down_seconds": figures.down,
        "planned_down_seconds": row.planned.planned_down,
        "unplanned_down_seconds": row.planned.unplanned_down,
        "failed_seconds": figures.failed,
        "incidents": figures.incidents,
        "longest_incident_seconds": figures.longest_incident,
        "maintenance_seconds": {
            name: figures.maintenance.get(name, 0.0) for name in MAINTENANCE_STATES
        },
        "last_seen_running": _iso(figures.last_seen_running),
    }


def report_json(
    rows: Sequence[ReportRow], start: datetime, end: datetime, outages: Sequence[Outage] = ()
) -> str:
    return json.dumps(
        {
            "from": _iso(start),
            "to": _iso(end),
            "tenants": [_report_record(row) for row in rows],
            "outages": [dumps_outage(outage) for outage in outages],
        },
        indent=2,
        ensure_ascii=False,
    )


_FORMULA_START = ("=", "+", "-", "@")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str):
        value = clean(value, 200)
        if value.startswith(_FORMULA_START):
            return "'" + value
    return "" if value is None else value


def report_csv(rows: Sequence[ReportRow]) -> str:
    columns = [
        "context_id", "env", "label", "uptime", "uptime_excluding_planned", "coverage",
        "observed_seconds", "down_seconds", "planned_down_seconds", "unplanned_down_seconds",
        "failed_seconds", "incidents", "longest_incident_seconds",
        "online_maintenance_seconds", "offline_maintenance_seconds", "last_seen_running",
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        record = _report_record(row)
        maintenance = record.pop("maintenance_seconds")
        record["online_maintenance_seconds"] = maintenance["OnlineMaintenance"]
        record["offline_maintenance_seconds"] = maintenance["OfflineMaintenance"]
        writer.writerow([_csv_cell(record[name]) for name in columns])
    return buffer.getvalue().rstrip("\n")


@dataclass(frozen=True, slots=True)
class HistoryWindows:
    """The maintenance windows that covered one tenant in a period, and its downtime in
    each (planned)."""

    windows: Sequence[Window] = ()
    planned_down: Sequence[float] = ()

    @classmethod
    def of(
        cls,
        tenant: Tenant,
        intervals: Sequence[Interval],
        windows: Sequence[Window],
        start: datetime,
        end: datetime,
    ) -> HistoryWindows:
        _, per_window = planned_down_by_window(tenant, intervals, windows, start, end)
        return cls(windows, [per_window.get(index, 0.0) for index in range(len(windows))])


def _windows_rows(found: HistoryWindows) -> list[list[str]]:
    return [
        [
            window.name,
            window.source_text,
            _local(window.start),
            _local(window.closes),
            "yes" if window.ended_at is not None and window.ended_at < window.end else "",
            length(down),
            window.scope.describe(),
        ]
        for window, down in zip(found.windows, found.planned_down, strict=True)
    ]


def history_table(
    tenant: Tenant,
    intervals: Sequence[Interval],
    events: Sequence[LoggedEvent],
    marks: Sequence[Mark],
    outages: Sequence[Outage] = (),
    windows: HistoryWindows = HistoryWindows(),
) -> str:
    """One tenant's intervals (oldest first), events (oldest first) and marks, our own
    outages in the period (a gap in the intervals, not the tenant's) and the maintenance
    windows that covered it."""
    name = f"{tenant.context_id} ({tenant.env})"
    parts = [f"intervals of {name}"]
    if intervals:
        parts.append(
            _aligned(
                ["FROM", "TO", "FOR", "STATE", "RUN", "HOST", "ERROR"],
                [
                    [
                        *time_range(item.start, item.end, dates=True),
                        length(item.seconds),
                        item.state or "-",
                        yes_no(item.running),
                        item.host or "-",
                        item.error or "",
                    ]
                    for item in intervals
                ],
            )
        )
    else:
        parts.append("(none recorded)")
    if outages:
        parts.extend(["", "tenantboard's own outages (nothing observed; not the tenant's)"])
        parts.extend(outage_lines(outages))
    parts.append("")
    parts.append(f"events of {name}")
    if events:
        parts.append(
            _aligned(
                ["AT", "KIND", "", "TEXT"],
                [[_local(e.at), e.kind, "↓" if e.worse else "", e.text] for e in reversed(events)],
            )
        )
    else:
        parts.append("(none recorded)")
    if marks:
        parts.append("")
        parts.append(f"mutes and acknowledgements of {name}")
        parts.append(
            _aligned(
                ["KIND", "BY", "FROM", "UNTIL", "STATE", "ENDED"],
                [
                    [
                        mark.kind,
                        mark.by,
                        _local(mark.created_at),
                        _local(mark.until) if mark.until else "state changes",
                        mark.state,
                        _local(mark.ended_at) if mark.ended_at else "",
                    ]
                    for mark in marks
                ],
            )
        )
    if windows.windows:
        parts.append("")
        parts.append(f"maintenance windows of {name}")
        parts.append(
            _aligned(
                ["NAME", "SOURCE", "FROM", "TO", "ENDED EARLY", "DOWN INSIDE", "COVERS"],
                _windows_rows(windows),
            )
        )
    return "\n".join(parts)


def history_json(
    tenant: Tenant,
    intervals: Sequence[Interval],
    events: Sequence[LoggedEvent],
    marks: Sequence[Mark],
    outages: Sequence[Outage] = (),
    windows: HistoryWindows = HistoryWindows(),
) -> str:
    return json.dumps(
        {
            "context_id": tenant.context_id,
            "env": tenant.env,
            "intervals": [dumps_interval(item) for item in intervals],
            "events": [
                {
                    "at": _iso(event.at),
                    "kind": event.kind,
                    "text": event.text,
                    "severity": event.severity,
                    "worse": event.worse,
                }
                for event in reversed(events)
            ],
            "marks": [
                {**mark.as_json(), "kind": mark.kind, "ended_at": _iso(mark.ended_at)}
                for mark in marks
            ],
            "outages": [dumps_outage(outage) for outage in outages],
            "maintenance_windows": [
                {**window.as_json(), "planned_down_seconds": down}
                for window, down in zip(windows.windows, windows.planned_down, strict=True)
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def windows_table(windows: Sequence[Window], now: datetime) -> str:
    """`maintenance list`: the windows open now and to come."""
    if not windows:
        return "no maintenance window open now or to come"
    return _aligned(
        ["ID", "SOURCE", "NAME", "FROM", "TO", "NOW", "COVERS"],
        [
            [
                str(window.id) if window.source == "adhoc" and window.id else "",
                window.source_text,
                window.name,
                _local(window.start),
                _local(window.closes),
                "open" if window.open_at(now) else "",
                window.scope.describe(),
            ]
            for window in windows
        ],
    )


def windows_json(windows: Sequence[Window], now: datetime) -> str:
    return json.dumps(
        [{**window.as_json(), "open": window.open_at(now)} for window in windows],
        indent=2,
        ensure_ascii=False,
    )


# -- `versions` ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionsReport:
    """Who runs what, from the history: each version's tenants (the listed tenants' last
    recorded version), hosts and first sighting; and the tenants with nothing recorded."""

    versions: list[VersionSummary]
    listed: int
    not_recorded: int
    generated_at: datetime


def versions_report(
    keys: Sequence[str],
    last_versions: dict[str, VersionSpan],
    last_recorded: dict[str, Interval],
    first_seen: dict[str, datetime],
    now: datetime,
) -> VersionsReport:
    """The report for the tenants ``keys`` from what the history holds of them: each one's
    last recorded version (None: its answers named none) on its last recorded host."""
    running: Counter[tuple[str | None, str | None]] = Counter()
    not_recorded = 0
    for key in keys:
        span, interval = last_versions.get(key), last_recorded.get(key)
        if span is None and interval is None:
            not_recorded += 1
            continue
        host = (interval.host if interval else None) or (span.host if span else None)
        running[span.version if span else None, host] += 1
    return VersionsReport(summarize(running, first_seen), len(keys), not_recorded, now)


def versions_table(report: VersionsReport) -> str:
    answered = sum(item.tenants for item in report.versions)
    rows = []
    for item in report.versions:
        hosts = ", ".join(f"{host.removesuffix('.superoffice.com')} {n}" for host, n in item.hosts)
        share = _percent(item.tenants / answered if answered else None, 0)
        rows.append([item.text, str(item.tenants), share, _local(item.first_seen), hosts or "-"])
    table = _aligned(["VERSION", "TENANTS", "SHARE", "FIRST SEEN", "HOSTS"], rows)
    notes = []
    if not report.versions:
        notes.append("no version recorded yet: the history has no answer naming one")
    if report.not_recorded:
        plural = "s" if report.not_recorded != 1 else ""
        notes.append(f"{report.not_recorded} tenant{plural} of the list not recorded yet")
    return "\n".join([table, *notes]) if rows else "\n".join(notes)


def versions_json(report: VersionsReport) -> str:
    return json.dumps(
        {
            "generated_at": _iso(report.generated_at),
            "tenants": report.listed,
            "not_recorded": report.not_recorded,
            "versions": [item.as_json() for item in report.versions],
        },
        indent=2,
        ensure_ascii=False,
    )
