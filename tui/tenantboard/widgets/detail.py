"""The detail pane: everything known about one tenant, raw and interpreted.

Built as ``rich.text.Text`` piece by piece, never from markup, so a value such as
``[bold]x[/]`` from the network shows exactly as it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
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


class Section:
    """A heading and label/value rows laid out as a grid, so long values wrap under
    their value column instead of under the labels."""

    def __init__(self, title: str | None = None, note: str = "") -> None:
        self.title = title
        self.note = note
        self.grid = Table.grid(padding=(0, 1))
        self.grid.add_column(style="bold", no_wrap=True, min_width=LABEL_WIDTH - 1)
        self.grid.add_column(overflow="fold")
        self.lines: list[Text] = []

    def field(self, label: str, value: str, style: str = "") -> None:
        self.grid.add_row(Text(label), Text(clean(value, 600), style))

    def line(self, value: str, style: str = "dim") -> None:
        self.grid.add_row(Text(clean(value, 600), style), "")

    def renderables(self) -> list[RenderableType]:
        parts: list[RenderableType] = []
        if self.title:
            heading = Text.assemble((self.title, "bold underline"))
            if self.note:
                heading.append(f"  {self.note}", "dim")
            parts.append(heading)
        if self.grid.row_count:
            parts.append(self.grid)
        return parts


def _moment(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = (moment - now).total_seconds()
    relative = ago(moment, now) if delta <= 0 else f"in {ago(now, moment).removesuffix(' ago')}"
    return f"{stamp} ({relative})"


def detail_renderable(row: TenantRow, context: DetailContext) -> Group:
    tenant = row.tenant
    title = Text(tenant.display_name, "bold underline")
    subtitle = Text(f"{tenant.context_id} · {tenant.env}", "dim")
    state, version, history = (
        Section(),
        Section("Version info", "from the Api link"),
        Section("History", "this session, newest first"),
    )
    _state_section(state, row, context)
    _timing_section(state, row, context)
    _version_section(version, row, context)
    if not row.history:
        history.line("nothing yet")
    for event in reversed(row.history):
        history.field(clock_time(event.at), f"{event.kind:<9}{event.text}")
    parts: list[RenderableType] = [title, subtitle, Text()]
    for section in (state, version, history):
        parts.extend(section.renderables())
        parts.append(Text())
    return Group(*parts)


def _state_section(section: Section, row: TenantRow, context: DetailContext) -> None:
    state = row.state
    severity = row.severity
    glyph = f"{GLYPHS[severity]} {SEVERITY_WORDS[severity]}"
    if state is None:
        section.field("State", f"unknown: {'the check failed' if row.error else 'not checked yet'}")
    else:
        number = f" ({state.state_code})" if state.state_code is not None else ""
        section.field("State", f"{state.state_name}{number}  {glyph}")
        if state.state is None:
            section.field("", "not a documented state: shown as the server sent it", "italic")
        else:
            section.field("", state.state.meaning, "italic")
        running = {True: "yes", False: "no", None: "not stated"}[state.is_running]
        section.field("IsRunning", running)
        if state.running_mismatch:
            implied = "running" if state.state and state.state.is_running else "not running"
            section.field("", f"⚠ disagrees with State: {state.state_name} implies {implied}")
        moved = "  ↻ moved since the previous check" if row.endpoint_moved else ""
        section.field("Endpoint", (state.endpoint or "-") + moved)
        section.field("Api", state.api or "-")
        valid = _moment(state.valid_until, context.now)
        if state.valid_until is None and state.valid_until_raw:
            valid = f"{state.valid_until_raw!r} (not a time we can read)"
        section.field("ValidUntil", valid)
        if state.version:
            section.field("Version", state.version)
    if row.last is not None and row.last.error is not None and state is not None:
        section.field(
            "", "the last check failed: the values above are from the last good answer", "italic"
        )


def _timing_section(section: Section, row: TenantRow, context: DetailContext) -> None:
    last = row.last
    if last is None:
        section.field("Checked", "not yet")
    else:
        took = f", took {last.duration * 1000:.0f} ms" if last.duration else ""
        plural = "s" if row.checks != 1 else ""
        section.field(
            "Checked",
            f"{_moment(last.checked_at, context.now)}{took}; {row.checks} check{plural} this session",
        )
    section.field("Next check", f"{context.next_text}: {context.next_reason}")
    error = row.error
    if error is None:
        section.field("Last error", "none")
    else:
        status = f" (HTTP {error.status})" if error.status else ""
        section.field("Last error", f"{error.kind}{status}: {error.message}")


def _version_section(section: Section, row: TenantRow, context: DetailContext) -> None:
    state = row.state
    entry = row.version
    if state is None:
        section.line("no answer yet, so no Api link to follow")
        return
    if not state.is_running:
        section.line(
            f"none while the tenant is {state.state_name}: its API is down, so it is not asked"
        )
        return
    if context.fetching_version and (entry is None or entry.endpoint != state.endpoint):
        section.line("fetching…")
        return
    if entry is None:
        section.line("not fetched yet")
        return
    if entry.error is not None:
        section.field("Failed", f"{entry.error.kind}: {entry.error.message}")
        return
    assert entry.answer is not None
    _version_fields(section, entry.answer.info)
    section.field("From", f"{entry.answer.url} at {clock_time(entry.fetched_at)}")
    if entry.answer.fresh_state is not None:
        section.field(
            "", "the Api host answered 421: re-read the state, asked its Endpoint host", "italic"
        )
    if entry.endpoint != state.endpoint:
        section.field(
            "", "fetched for the previous endpoint; refreshed on the next check", "italic"
        )


def _version_fields(section: Section, info: VersionInfo) -> None:
    build = f" (build {info.build})" if info.build else ""
    section.field("NetServer", f"{info.netserver_version or '-'}{build}")
    section.field("Label", info.label or "-")
    section.field("Date", info.date or "-")
    services = info.services or "-"
    if info.services_differ:
        services += f"  ≠ ServicesCurrent {info.services_current}  (newer services available)"
    elif info.services_current:
        services += f"  (= ServicesCurrent {info.services_current})"
    section.field("Services", services)
    section.field("v1", info.v1 or "-")
    if info.netserver:
        section.field("Description", info.netserver)
    if info.documentation:
        section.field("Docs", info.documentation)
    for key, value in info.extra.items():
        section.field(clean(key, 40), value)


class DetailPane(VerticalScroll, can_focus=False):
    """Shows one tenant; the app tells it what to show and when to redraw."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="detail-body", markup=False)

    def show(self, row: TenantRow | None, context: DetailContext | None) -> None:
        body = self.query_one("#detail-body", Static)
        if row is None or context is None:
            body.update(Text("No tenant selected.", "dim"))
        else:
            body.update(detail_renderable(row, context))
