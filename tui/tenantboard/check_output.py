"""`check`'s output: a plain aligned table or JSON, a Nagios summary line, the exit code."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tenantboard.answers import Severity, TenantState
from tenantboard.clock import utc_iso
from tenantboard.connectivity import OUTAGE_MIN_TENANTS, is_network_failure, short_reason
from tenantboard.engine import CheckResult
from tenantboard.files import FileError
from tenantboard.humanize import host_of, plural, yes_no
from tenantboard.maintenance import Window
from tenantboard.sanitize import clean

_ANSI = {
    Severity.OK: "\x1b[32m",
    Severity.WARNING: "\x1b[33m",
    Severity.CRITICAL: "\x1b[31m",
    Severity.UNKNOWN: "\x1b[35m",
}
_RESET = "\x1b[0m"


def severity_of(result: CheckResult) -> Severity:
    """A failed check is UNKNOWN: we do not know the tenant's state."""
    if result.error is not None or result.state is None:
        return Severity.UNKNOWN
    return result.state.severity


def tally(
    results: Sequence[CheckResult], set_aside: Collection[str] | None = None
) -> tuple[Counter[Severity], int | None]:
    """The tenants per severity, leaving out those whose keys are in ``set_aside`` (muted,
    acknowledged or in maintenance, with ``--respect-mutes``), and how many were left out
    (None when nothing is set aside: mutes are not respected)."""
    if set_aside is None:
        return Counter(severity_of(result) for result in results), None
    counted = [result for result in results if result.tenant.key not in set_aside]
    return Counter(severity_of(result) for result in counted), len(results) - len(counted)


def worst_of(counts: Mapping[Severity, int], muted: int | None = None) -> Severity:
    """The status the counts give: the worst counted severity; OK when every tenant was
    set aside as muted; UNKNOWN when there was nothing at all."""
    present = [severity for severity, count in counts.items() if count]
    return max(present, default=Severity.OK if muted else Severity.UNKNOWN)


def worst_exit_code(
    results: Sequence[CheckResult], set_aside: Collection[str] | None = None
) -> int:
    """Nagios: CRITICAL (2) > UNKNOWN (3) > WARNING (1) > OK (0), of the tenants not set
    aside (see :func:`tally`); the status word of :func:`summary_line` says the same."""
    return worst_of(*tally(results, set_aside)).exit_code


def summary_line(
    results: Sequence[CheckResult], duration: float, set_aside: Collection[str] | None = None
) -> str:
    """``TENANTBOARD WARNING - 3 tenants: 1 warning, 2 ok | ok=2 warning=1 ...``: the
    Nagios status line, with performance data after ``|``. With ``set_aside`` (the keys of
    the muted, acknowledged and in-maintenance tenants, for ``--respect-mutes``) those
    count as ``muted``, not by their severity, so the status word, the exit code and the
    performance data agree: ``TENANTBOARD OK - 2 tenants: 1 ok, 1 muted | ... muted=1``."""
    counts, muted = tally(results, set_aside)
    worst = worst_of(counts, muted)
    parts = [f"{counts[s]} {s.name.lower()}" for s in reversed(Severity) if counts[s]]
    if muted:
        parts.append(f"{muted} muted")
    total = len(results)
    return (
        f"TENANTBOARD {worst.name} - {plural(total, 'tenant')}: "
        f"{', '.join(parts) or 'none'} | {_perfdata(counts, duration, muted)}"
    )


def _perfdata(counts: Mapping[Severity, int], duration: float, muted: int | None = None) -> str:
    """The tenants per severity and how long the check took, in the Monitoring Plugins'
    format (``label=value[UOM]``): ``ok=2 warning=1 critical=0 unknown=0 time=1.234s``;
    with ``--respect-mutes`` also ``muted=N`` (always, so a graph's series stay put)."""
    order = (Severity.OK, Severity.WARNING, Severity.CRITICAL, Severity.UNKNOWN)
    labels = [f"{s.name.lower()}={counts.get(s, 0)}" for s in order]
    if muted is not None:
        labels.append(f"muted={muted}")
    return " ".join(labels) + f" time={duration:.3f}s"


def outage_summary_line(
    results: Sequence[CheckResult], duration: float, set_aside: Collection[str] | None = None
) -> str | None:
    """One reason instead of N identical failures when we could not reach SuperOffice at
    all (every counted check failed the network way, across several tenants); else None.
    Tenants in ``set_aside`` (``--respect-mutes``) count as muted, as in :func:`summary_line`."""
    counted = [r for r in results if set_aside is None or r.tenant.key not in set_aside]
    tenants = {result.tenant.key for result in counted}
    if len(tenants) < OUTAGE_MIN_TENANTS or not all(is_network_failure(r.error) for r in counted):
        return None
    reasons = Counter(short_reason(r.error) for r in counted if r.error is not None)
    reason = reasons.most_common(1)[0][0]
    muted = None if set_aside is None else len(results) - len(counted)
    return (
        f"TENANTBOARD UNKNOWN - cannot reach SuperOffice: {_status_text(reason)} "
        f"({plural(len(results), 'tenant')} not checked) | "
        f"{_perfdata({Severity.UNKNOWN: len(counted)}, duration, muted)}"
    )


def unknown_summary(reason: str) -> str:
    """The status line when `check` could not check at all: UNKNOWN, and why."""
    return f"TENANTBOARD UNKNOWN - {_status_text(reason)}"


def _status_text(text: str) -> str:
    """Text for the status line: one line, no control characters, and no ``|``, which
    would start the performance data."""
    return clean(text, 300).replace("|", "/")


def broken_file_json(error: FileError) -> str:
    """``--json`` when the tenant file cannot be read: :func:`unknown_json` whose error
    (kind ``tenant-file``) also says where: the file's ``path`` and ``line``."""
    return unknown_json("tenant-file", error.reason, {"path": str(error.path), "line": error.line})


def unknown_json(kind: str, message: str, where: Mapping[str, Any] | None = None) -> str:
    """``--json`` when `check` could not check: the usual array, holding one UNKNOWN entry
    whose error says why (kind ``usage``, ``tenant-file`` or ``internal``), so a consumer
    that counts severities or reads errors needs no special case."""
    entry: dict[str, Any] = dict.fromkeys(
        ("context_id", "env", "label", "state", "state_code", "recognised", "is_running")
    )
    entry.update(
        {
            "running_mismatch": False,
            "endpoint": None,
            "api": None,
            "valid_until": None,
            "release": None,
            "severity": Severity.UNKNOWN.name,
            "checked_at": None,
            "error": {
                "kind": kind,
                "message": clean(message, 300),
                "status": None,
                **(where or {}),
            },
        }
    )
    return json.dumps([entry], indent=2)


def state_json(state: TenantState | None) -> dict[str, Any]:
    """A state answer's fields as ``check --json`` prints them (each null without one)."""
    return {
        "state": state.state_name if state else None,
        "state_code": state.state_code if state else None,
        "recognised": state.state is not None if state else None,
        "is_running": state.is_running if state else None,
        "running_mismatch": state.running_mismatch if state else False,
        "endpoint": state.endpoint if state else None,
        "api": state.api if state else None,
        "valid_until": utc_iso(state.valid_until) if state and state.valid_until else None,
        "release": state.version if state else None,
    }


def result_json(result: CheckResult, *, versions: bool) -> dict[str, Any]:
    error = result.error
    data: dict[str, Any] = {
        "context_id": result.tenant.context_id,
        "env": result.tenant.env,
        "label": result.tenant.label,
        **state_json(result.state),
        "severity": severity_of(result).name,
        "checked_at": utc_iso(result.checked_at),
        "error": error.as_json() if error else None,
    }
    if versions:
        data["version"] = result.version.info.as_json() if result.version else None
        data["version_error"] = result.version_error.as_json() if result.version_error else None
    return data


def check_record(
    result: CheckResult,
    marks: Mapping[str, Any] | None = None,
    *,
    versions: bool = False,
    window: Window | None = None,
) -> dict[str, Any]:
    """One tenant as ``check --json`` prints it, and ``serve``'s ``/api/tenants``: the
    result, its active mute and acknowledgement (``marks`` by kind, ``"mute"`` and
    ``"ack"``, each ``{"by", "created_at", "until", "state"}``) or null, and the
    maintenance window that covers it now (``maintenance``: its source, name, start and
    end, what it covers) or null."""
    record = result_json(result, versions=versions)
    record.update(marks_json(marks))
    record["maintenance"] = window.as_json() if window is not None else None
    return record


def marks_json(marks: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"muted": ..., "acknowledged": ...}``: each mark's ``{"by", "created_at", "until",
    "state"}`` or null, from the marks in force by kind (``"mute"``, ``"ack"``)."""
    marks = marks or {}
    return {
        "muted": marks["mute"].as_json() if "mute" in marks else None,
        "acknowledged": marks["ack"].as_json() if "ack" in marks else None,
    }


def _row(result: CheckResult, versions: bool) -> list[str]:
    state = result.state
    if result.error is not None or state is None:
        detail = result.error.message if result.error else "no answer"
        return [result.tenant.context_id, result.tenant.env, "ERROR", "-", "-", detail]
    name = state.state_name if state.state is not None else f"{state.state_name}?"
    running = yes_no(state.is_running)
    if state.running_mismatch:
        running += "!"
    host = host_of(state.endpoint) or "-"
    if versions:
        if result.version:
            info = result.version.info
            detail = info.label or info.netserver_version or "?"
        else:
            detail = result.version_error.message if result.version_error else ""
    else:
        detail = clean(result.tenant.label, 40)
    return [result.tenant.context_id, result.tenant.env, name, running, host, detail]


def render_table(results: Sequence[CheckResult], *, color: bool, versions: bool = False) -> str:
    header = ["CONTEXT", "ENV", "STATE", "RUN", "HOST", "VERSION" if versions else "LABEL / ERROR"]
    rows = [[clean(cell, 200) for cell in _row(r, versions)] for r in results]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for index, row in enumerate([header, *rows]):
        text = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        text = f"{text}  {row[-1]}".rstrip()
        if color and index > 0:
            text = f"{_ANSI[severity_of(results[index - 1])]}{text}{_RESET}"
        lines.append(text)
    return "\n".join(lines)
