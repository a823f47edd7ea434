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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tenantboard.clock import utc_iso
from tenantboard.connectivity import Outage
from tenantboard.eventlog import LoggedEvent
from tenantboard.groups import DIMENSION_NAMES, group_sort_key, group_title
from tenantboard.history.availability import MAINTENANCE_STATES, Availability, Interval
from tenantboard.history.db import IncidentRecord, Mark, dumps_interval, dumps_outage
from tenantboard.history.planned import UNPLANNED_ONLY, Planned, planned_down_by_window
from tenantboard.humanize import length, plural, time_range, yes_no
from tenantboard.maintenance import Window
from tenantboard.releases import VersionSpan, VersionSummary, summarize
from tenantboard.sanitize import clean, quoted
from tenantboard.tenant import Tenant


def parse_moment(text: str, *, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` (local midnight; with ``end_of_day`` the next midnight, so --to is
    inclusive) or an ISO 8601 date and time (local unless it names its zone)."""
    stripped = text.strip()
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{quoted(text, 30)} is not a date (YYYY-MM-DD) or date and time"
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
    return [f"tenantboard {outage.summary(dates=True)}; not observed" for outage in outages]


def report_table(
    rows: Sequence[ReportRow],
    start: datetime,
    end: datetime,
    outages: Sequence[Outage] = (),
    incidents: Sequence[IncidentRecord] = (),
) -> str:
    """The availability table, then our own outages in the period (time nobody could
    observe: it lowers coverage, never uptime), then its host incidents."""
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
    table = "\n".join([title, _aligned(header, body), *(["", *notes] if notes else [])])
    return table + incidents_text(incidents)


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """One group's tenants and their figures added up (``report --by``)."""

    dimension: str
    value: str
    rows: tuple[ReportRow, ...]
    #: Host incidents of this host in the period (grouped by host; else 0).
    host_incidents: int = 0

    @property
    def title(self) -> str:
        return group_title(self.dimension, self.value)

    @property
    def observed(self) -> float:
        return sum(row.figures.observed for row in self.rows)

    @property
    def up(self) -> float:
        return sum(row.figures.up for row in self.rows)

    @property
    def uptime(self) -> float | None:
        """Up time over observed time, over all of its tenants."""
        return self.up / self.observed if self.observed > 0 else None

    @property
    def planned_down(self) -> float:
        return sum(row.planned.planned_down for row in self.rows)

    @property
    def unplanned_down(self) -> float:
        return sum(row.planned.unplanned_down for row in self.rows)

    @property
    def uptime_excluding_planned(self) -> float | None:
        """Up time over observed time less planned downtime, over all of its tenants."""
        room = self.observed - self.planned_down
        return self.up / room if room > 0 else None

    @property
    def coverage(self) -> float:
        """Observed time over the period's, for all of its tenants."""
        room = sum(row.figures.window for row in self.rows)
        return self.observed / room if room > 0 else 0.0

    def total(self, name: str) -> float:
        return sum(getattr(row.figures, name) for row in self.rows)

    def maintenance(self, state: str) -> float:
        return sum(row.figures.maintenance.get(state, 0.0) for row in self.rows)

    @property
    def longest_incident(self) -> float:
        return max((row.figures.longest_incident for row in self.rows), default=0.0)


def report_groups(
    rows: Sequence[ReportRow],
    dimension: str,
    values_of: Callable[[ReportRow], tuple[str, ...]],
    incidents: Sequence[IncidentRecord] = (),
) -> list[ReportGroup]:
    """The rows added up per group of ``dimension``; ``values_of(row)`` gives a row's
    groups (a tenant with several tags counts in each). By name, the empty group last."""
    members: dict[str, list[ReportRow]] = {}
    for row in rows:
        for value in values_of(row):
            members.setdefault(value, []).append(row)
    per_host: dict[str, int] = {}
    for incident in incidents:
        per_host[incident.host] = per_host.get(incident.host, 0) + 1
    return [
        ReportGroup(
            dimension,
            value,
            tuple(members[value]),
            per_host.get(value, 0) if dimension == "host" else 0,
        )
        for value in sorted(members, key=group_sort_key)
    ]


def groups_table(
    groups: Sequence[ReportGroup],
    dimension: str,
    start: datetime,
    end: datetime,
    incidents: Sequence[IncidentRecord] = (),
) -> str:
    header = [
        DIMENSION_NAMES[dimension].upper(), "TENANTS", "UPTIME", "EXCL PLANNED", "DOWN",
        "PLANNED", "UNPLANNED", "INCIDENTS", "LONGEST", "COVERAGE",
    ]  # fmt: skip
    if dimension == "host":
        header.append("HOST INCIDENTS")
    body = []
    for group in groups:
        observed = group.observed > 0
        line = [
            group.title,
            str(len(group.rows)),
            _percent(group.uptime, 3),
            _percent(group.uptime_excluding_planned, 3),
            length(group.total("down")) if observed else "-",
            length(group.planned_down) if observed else "-",
            length(group.unplanned_down) if observed else "-",
            str(int(group.total("incidents"))) if observed else "-",
            length(group.longest_incident) if group.total("incidents") else "-",
            _percent(group.coverage, 1),
        ]
        if dimension == "host":
            line.append(str(group.host_incidents))
        body.append(line)
    first, last = time_range(start, end, dates=True)
    title = (
        f"availability {first} to {last} ({length((end - start).total_seconds())}), "
        f"by {DIMENSION_NAMES[dimension]}"
    )
    return title + "\n" + _aligned(header, body) + incidents_text(incidents)


def _group_record(group: ReportGroup) -> dict[str, Any]:
    return {
        "group": group.value or None,
        "title": group.title,
        "tenants": len(group.rows),
        "context_ids": [row.tenant.context_id for row in group.rows],
        "uptime": group.uptime,
        "uptime_excluding_planned": group.uptime_excluding_planned,
        "coverage": group.coverage,
        "observed_seconds": group.observed,
        "up_seconds": group.up,
        "down_seconds": group.total("down"),
        "planned_down_seconds": group.planned_down,
        "unplanned_down_seconds": group.unplanned_down,
        "failed_seconds": group.total("failed"),
        "incidents": int(group.total("incidents")),
        "longest_incident_seconds": group.longest_incident,
        "maintenance_seconds": {name: group.maintenance(name) for name in MAINTENANCE_STATES},
        "host_incidents": group.host_incidents,
    }


def groups_json(
    groups: Sequence[ReportGroup],
    dimension: str,
    start: datetime,
    end: datetime,
    incidents: Sequence[IncidentRecord] = (),
) -> str:
    return json.dumps(
        {
            "from": utc_iso(start),
            "to": utc_iso(end),
            "by": dimension,
            "groups": [_group_record(group) for group in groups],
            "host_incidents": [incident.as_json() for incident in incidents],
        },
        indent=2,
        ensure_ascii=False,
    )


def groups_csv(groups: Sequence[ReportGroup]) -> str:
    columns = [
        "group", "tenants", "uptime", "uptime_excluding_planned", "coverage",
        "observed_seconds", "down_seconds", "planned_down_seconds", "unplanned_down_seconds",
        "failed_seconds", "incidents", "longest_incident_seconds",
        "online_maintenance_seconds", "offline_maintenance_seconds", "host_incidents",
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for group in groups:
        record = _group_record(group)
        maintenance = record.pop("maintenance_seconds")
        record["group"] = group.title
        record["online_maintenance_seconds"] = maintenance["OnlineMaintenance"]
        record["offline_maintenance_seconds"] = maintenance["OfflineMaintenance"]
        writer.writerow([_csv_cell(record[name]) for name in columns])
    return buffer.getvalue().rstrip("\n")


def incidents_text(incidents: Sequence[IncidentRecord]) -> str:
    """The host incidents of the period, after a report's table ("" when there were none)."""
    if not incidents:
        return ""
    body = [
        [
            incident.host,
            _local(incident.since),
            _local(incident.resolved_at) if incident.resolved_at else "not seen to end",
            length(incident.seconds) if incident.seconds is not None else "-",
            incident.state,
            f"{incident.peak} of {incident.tenants}",
            f"{incident.back} of {incident.members}" if incident.resolved_at else "-",
        ]
        for incident in incidents
    ]
    table = _aligned(["HOST", "FROM", "TO", "FOR", "STATE", "AT WORST", "BACK"], body)
    return f"\n\nhost incidents ({len(incidents)})\n{table}"


def host_history_table(host: str, incidents: Sequence[IncidentRecord]) -> str:
    """``history --host``: the host's incidents in the period."""
    if not incidents:
        return f"host incidents of {clean(host, 80)}\n(none recorded)"
    return (
        incidents_text(incidents)
        .strip()
        .replace(f"host incidents ({len(incidents)})", f"host incidents of {clean(host, 80)}", 1)
    )


def host_history_json(host: str, incidents: Sequence[IncidentRecord]) -> str:
    return json.dumps(
        {"host": host, "host_incidents": [incident.as_json() for incident in incidents]},
        indent=2,
        ensure_ascii=False,
    )


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
        "last_seen_running": utc_iso(figures.last_seen_running),
    }


def report_json(
    rows: Sequence[ReportRow],
    start: datetime,
    end: datetime,
    outages: Sequence[Outage] = (),
    incidents: Sequence[IncidentRecord] = (),
) -> str:
    return json.dumps(
        {
            "from": utc_iso(start),
            "to": utc_iso(end),
            "tenants": [_report_record(row) for row in rows],
            "outages": [dumps_outage(outage) for outage in outages],
            "host_incidents": [incident.as_json() for incident in incidents],
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
    incidents: Sequence[IncidentRecord] = (),
) -> str:
    """One tenant's intervals (oldest first), events (oldest first) and marks, our own
    outages in the period (a gap in the intervals, not the tenant's), the maintenance
    windows that covered it and the host incidents it was part of."""
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
    if incidents:
        text = incidents_text(incidents).strip()
        parts += ["", text.replace("host incidents (", "host incidents it was part of (", 1)]
    return "\n".join(parts)


def history_json(
    tenant: Tenant,
    intervals: Sequence[Interval],
    events: Sequence[LoggedEvent],
    marks: Sequence[Mark],
    outages: Sequence[Outage] = (),
    windows: HistoryWindows = HistoryWindows(),
    incidents: Sequence[IncidentRecord] = (),
) -> str:
    return json.dumps(
        {
            "context_id": tenant.context_id,
            "env": tenant.env,
            "intervals": [dumps_interval(item) for item in intervals],
            "events": [
                {
                    "at": utc_iso(event.at),
                    "kind": event.kind,
                    "text": event.text,
                    "severity": event.severity,
                    "worse": event.worse,
                }
                for event in reversed(events)
            ],
            "marks": [
                {**mark.as_json(), "kind": mark.kind, "ended_at": utc_iso(mark.ended_at)}
                for mark in marks
            ],
            "outages": [dumps_outage(outage) for outage in outages],
            "maintenance_windows": [
                {**window.as_json(), "planned_down_seconds": down}
                for window, down in zip(windows.windows, windows.planned_down, strict=True)
            ],
            "host_incidents": [incident.as_json() for incident in incidents],
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
        notes.append(f"{plural(report.not_recorded, 'tenant')} of the list not recorded yet")
    return "\n".join([table, *notes]) if rows else "\n".join(notes)


def versions_json(report: VersionsReport) -> str:
    return json.dumps(
        {
            "generated_at": utc_iso(report.generated_at),
            "tenants": report.listed,
            "not_recorded": report.not_recorded,
            "versions": [item.as_json() for item in report.versions],
        },
        indent=2,
        ensure_ascii=False,
    )
