"""The detail pane: everything known about one tenant, raw and interpreted.

Built as ``rich.text.Text`` piece by piece, never from markup, so a value such as
``[bold]x[/]`` from the network shows exactly as it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tenantboard.board_model import TenantRow
from tenantboard.format import GLYPHS, SEVERITY_WORDS, ago, clock_time
from tenantboard.model import VersionInfo
from tenantboard.sanitize import clean

LABEL_WIDTH = 12


@dataclass(frozen=True, slots=True)
class DetailContext:
    """What the pane needs besides the row: the moment, and the schedule's view."""

    now: datetime
    next_text: str
    next_reason: str
    fetching_version: bool


def _field(text: Text, label: str, value: str | Text, style: str = "") -> None:
    text.append(f"{label:<{LABEL_WIDTH}}", "bold")
    if isinstance(value, Text):
        text.append_text(value)
    else:
        text.append(clean(value, 600), style)
    text.append("\n")


def _moment(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = (moment - now).total_seconds()
    relative = ago(moment, now) if delta <= 0 else f"in {ago(now, moment).removesuffix(' ago')}"
    return f"{stamp} ({relative})"


def detail_text(row: TenantRow, context: DetailContext) -> Text:
    text = Text(no_wrap=False, overflow="fold")
    tenant = row.tenant
    text.append(f"{tenant.display_name}\n", "bold underline")
    text.append(f"{tenant.context_id} · {tenant.env}\n\n", "dim")
    _state_section(text, row, context)
    _timing_section(text, row, context)
    text.append("\nVersion info", "bold underline")
    text.append(" (from the Api link)\n", "dim")
    _version_section(text, row, context)
    text.append("\nHistory", "bold underline")
    text.append(" (this session)\n", "dim")
    if not row.history:
        text.append("nothing yet\n", "dim")
    for event in reversed(row.history):
        text.append(f"{clock_time(event.at)}  ", "dim")
        text.append(f"{event.kind:<9}", "bold")
        text.append(clean(event.text, 300) + "\n")
    return text


def _state_section(text: Text, row: TenantRow, context: DetailContext) -> None:
    state = row.state
    severity = row.severity
    glyph = f"{GLYPHS[severity]} {SEVERITY_WORDS[severity]}"
    if state is None:
        _field(text, "State", f"unknown: {'the check failed' if row.error else 'not checked yet'}")
    else:
        number = f" ({state.state_code})" if state.state_code is not None else ""
        _field(text, "State", f"{state.state_name}{number}  {glyph}")
        if state.state is None:
            _field(text, "", "not a documented state: shown as the server sent it")
        else:
            _field(text, "", state.state.meaning, "italic")
        running = {True: "yes", False: "no", None: "not stated"}[state.is_running]
        _field(text, "IsRunning", running)
        if state.running_mismatch:
            _field(text, "", f"⚠ disagrees with State: {state.state_name} implies "
                   f"{'running' if state.state and state.state.is_running else 'not running'}")
        moved = "  ↻ moved since the previous check" if row.endpoint_moved else ""
        _field(text, "Endpoint", (state.endpoint or "-") + moved)
        _field(text, "Api", state.api or "-")
        valid = _moment(state.valid_until, context.now)
        if state.valid_until is None and state.valid_until_raw:
            valid = f"{state.valid_until_raw!r} (not a time we can read)"
        _field(text, "ValidUntil", valid)
        if state.version:
            _field(text, "Version", state.version)
    if row.last is not None and row.last.error is not None and state is not None:
        _field(text, "", "the last check failed: the values above are from the last good answer",
               "italic")


def _timing_section(text: Text, row: TenantRow, context: DetailContext) -> None:
    last = row.last
    if last is None:
        _field(text, "Checked", "not yet")
    else:
        took = f", took {last.duration * 1000:.0f} ms" if last.duration else ""
        _field(text, "Checked", f"{_moment(last.checked_at, context.now)}{took}; "
               f"{row.checks} check{'s' if row.checks != 1 else ''} this session")
    _field(text, "Next check", f"{context.next_text}: {context.next_reason}")
    error = row.error
    if error is None:
        _field(text, "Last error", "none")
    else:
        status = f" (HTTP {error.status})" if error.status else ""
        _field(text, "Last error", f"{error.kind}{status}: {error.message}")


def _version_section(text: Text, row: TenantRow, context: DetailContext) -> None:
    state = row.state
    entry = row.version
    if state is None:
        text.append("no answer yet, so no Api link to follow\n", "dim")
        return
    if not state.is_running:
        text.append(f"none while the tenant is {state.state_name}: its API is down, "
                    "so it is not asked\n", "dim")
        return
    if context.fetching_version and (entry is None or entry.endpoint != state.endpoint):
        text.append("fetching…\n", "dim")
        return
    if entry is None:
        text.append("not fetched yet\n", "dim")
        return
    if entry.error is not None:
        _field(text, "Failed", f"{entry.error.kind}: {entry.error.message}")
        return
    assert entry.answer is not None
    _version_fields(text, entry.answer.info)
    _field(text, "From", f"{entry.answer.url} at {clock_time(entry.fetched_at)}")
    if entry.answer.fresh_state is not None:
        _field(text, "", "the Api host answered 421: re-read the state, asked its Endpoint host")
    if entry.endpoint != state.endpoint:
        _field(text, "", "fetched for the previous endpoint; refreshed on the next check", "italic")


def _version_fields(text: Text, info: VersionInfo) -> None:
    build = f" (build {info.build})" if info.build else ""
    _field(text, "NetServer", f"{info.netserver_version or '-'}{build}")
    _field(text, "Label", info.label or "-")
    _field(text, "Date", info.date or "-")
    services = info.services or "-"
    if info.services_differ:
        services += f"  ≠ ServicesCurrent {info.services_current}  (newer services available)"
    elif info.services_current:
        services += f"  (= ServicesCurrent {info.services_current})"
    _field(text, "Services", services)
    _field(text, "v1", info.v1 or "-")
    if info.netserver:
        _field(text, "Description", info.netserver)
    if info.documentation:
        _field(text, "Docs", info.documentation)
    for key, value in info.extra.items():
        _field(text, clean(key, LABEL_WIDTH - 1), value)


class DetailPane(VerticalScroll, can_focus=False):
    """Shows one tenant; the app tells it what to show and when to redraw."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="detail-body", markup=False)

    def show(self, row: TenantRow | None, context: DetailContext | None) -> None:
        body = self.query_one("#detail-body", Static)
        if row is None or context is None:
            body.update(Text("No tenant selected.", "dim"))
        else:
            body.update(detail_text(row, context))
