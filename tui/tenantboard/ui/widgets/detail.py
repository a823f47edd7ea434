"""The detail pane: everything known about one tenant, raw and interpreted.

Built from plain strings and drawn as segments, never parsed as markup, so a value
such as ``[bold]x[/]`` from the network shows exactly as it was sent.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip

from tenantboard.answers import Severity, VersionInfo
from tenantboard.history.availability import Availability
from tenantboard.history.reader import STRIP_DAYS, TenantAvailability
from tenantboard.humanize import GLYPHS, SEVERITY_WORDS, ago, clock_time, length, plural, yes_no
from tenantboard.releases import VersionSpan, compare_releases, shown
from tenantboard.rows import TenantRow
from tenantboard.sanitize import clean
from tenantboard.ui.widgets.table import StyledScrollView

LABEL_WIDTH = 12


@dataclass(frozen=True, slots=True)
class DetailContext:
    """What the pane needs besides the row: the moment, and the schedule's view."""

    now: datetime
    next_text: str
    next_reason: str
    fetching_version: bool
    #: Figures from the history database, None while not read (yet).
    availability: TenantAvailability | None = None
    #: Why there are no figures: "reading the history…", "demo: history kept in memory", …
    availability_note: str = ""
    #: Why there is no version history, when not for the same reason as availability.
    versions_note: str = ""
    #: Active mutes and acknowledgements, as sentences ("muted by ana at 09:30, until 10:30").
    marks: tuple[str, ...] = ()
    #: The tenant's versions from the history, newest first; None while not read (yet).
    versions: tuple[VersionSpan, ...] | None = None
    #: The host incident the tenant is (or was) part of, as a sentence; "" when none.
    incident: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One logical line of the pane: a field (label and value), a heading or a note."""

    label: str
    value: str
    style: str = ""
    heading: bool = False
    #: Pre-styled pieces drawn on one line instead of ``value`` (the timeline).
    spans: tuple[tuple[str, str], ...] = ()


class Section:
    """A heading and its label/value entries."""

    def __init__(self, title: str | None = None, note: str = "") -> None:
        self.entries: list[Entry] = []
        if title:
            self.entries.append(Entry(title, note, "dim", heading=True))

    def field(self, label: str, value: str, style: str = "") -> None:
        self.entries.append(Entry(label, clean(value, 600), style))

    def line(self, value: str, style: str = "dim") -> None:
        self.field("", value, style)


Segments = list[tuple[str, str]]


def _chop(text: str, width: int, room: int) -> list[tuple[str, bool]]:
    """Cut text into lines of at most ``width`` cells, breaking at spaces, as (line,
    outdented) pairs.

    A word too long for ``width`` (a URL, a host) gets lines of its own as wide as the whole
    pane, ``room`` (outdented: they start under the label), so that it shows, and copies,
    whole; one wider than even that is broken at ``room`` as a terminal wraps, never with an
    ``…`` that would be copied with it and read as part of the address.
    """
    if width < 2:
        return [(text, False)]
    lines: list[tuple[str, bool]] = []
    for piece in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]:
        if cell_len(piece) <= width:
            lines.append((piece, False))
        else:
            lines.extend((part, True) for part in chop_cells(piece, max(1, room)))
    return lines


def fit_segments(segments: Segments, width: int) -> Segments:
    """Segments cut to ``width`` cells, ending in ``…`` when something was cut."""
    if sum(cell_len(text) for text, _ in segments) <= width:
        return segments
    kept: Segments = []
    room = width - 1
    for text, style in segments:
        size = cell_len(text)
        if size <= room:
            kept.append((text, style))
            room -= size
            continue
        if room > 0:
            kept.append((set_cell_size(text, room), style))
        kept.append(("…", style))
        break
    return kept


def wrap_entries(entries: list[Entry], width: int) -> list[Segments]:
    """Lay entries out for ``width`` cells: values wrap under their own column, so the
    labels stay a clean column on the left."""
    lines: list[Segments] = []
    value_width = max(10, width - LABEL_WIDTH)
    for entry in entries:
        if entry.heading:
            line: Segments = [(entry.label, "bold underline")]
            if entry.value:
                line.append((f"  {entry.value}", "dim"))
            lines.append(line)
        elif entry.spans:
            lines.append([(f"{entry.label:<{LABEL_WIDTH - 1}} ", "bold"), *entry.spans])
        elif not entry.label and not entry.value:
            lines.append([])
        else:
            label = f"{entry.label:<{LABEL_WIDTH - 1}} "
            for piece, outdented in _chop(entry.value, value_width, width):
                if outdented:
                    if label.strip():  # the label on a line of its own, above the value
                        lines.append([(label, "bold")])
                    lines.append([(piece, entry.style)])
                else:
                    lines.append([(label, "bold"), (piece, entry.style)])
                label = " " * LABEL_WIDTH
    return lines


def plain_text(entries: list[Entry], width: int) -> str:
    """The pane as plain text (for tests and for copying)."""
    return "\n".join(
        "".join(text for text, _ in line).rstrip() for line in wrap_entries(entries, width)
    )


def _moment(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = (moment - now).total_seconds()
    if abs(delta) < 5:
        relative = "now"
    else:
        relative = ago(moment, now) if delta < 0 else f"in {ago(now, moment).removesuffix(' ago')}"
    return f"{stamp} ({relative})"


def detail_entries(row: TenantRow, context: DetailContext) -> list[Entry]:
    tenant = row.tenant
    top = Section()
    top.entries.append(Entry(tenant.display_name, "", heading=True))
    top.line(f"{tenant.context_id} · {tenant.env}")
    if tenant.tags:
        top.line(f"tags: {', '.join(tenant.tags)}")
    state = Section()
    version = Section("Version info", "from the Api link")
    history = Section("History", "this session, newest first")
    _state_section(state, row, context)
    _timing_section(state, row, context)
    _timeline_section(state, row, context)
    _marks_section(state, context)
    if context.incident:
        state.field("Incident", context.incident, "bold")
    available = Section("Availability", "from the history database")
    _availability_section(available, context)
    releases = Section("Versions", "from the history database, newest first")
    _versions_section(releases, row, context)
    _version_section(version, row, context)
    if not row.history:
        history.line("nothing yet")
    for event in reversed(row.history):
        history.field(clock_time(event.at), f"{event.kind:<9}{event.text}")
    if row.history_trimmed:
        history.line(f"(the newest {len(row.history)} shown; the event log (l) keeps more)")
    blank = Entry("", "")
    return [
        *top.entries,
        blank,
        *state.entries,
        blank,
        *available.entries,
        blank,
        *releases.entries,
        blank,
        *version.entries,
        blank,
        *history.entries,
    ]


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
        section.field("IsRunning", yes_no(state.is_running, unknown="not stated"))
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
        section.field(
            "Checked",
            f"{_moment(last.checked_at, context.now)}{took}; "
            f"{plural(row.checks, 'check')} this session",
        )
    section.field("Next check", f"{context.next_text}: {context.next_reason}")
    error = row.error
    if error is None:
        section.field("Last error", "none")
    else:
        status = f" (HTTP {error.status})" if error.status else ""
        section.field("Last error", f"{error.kind}{status}: {error.message}")


#: Shape and colour per severity: the height of a block says how bad it was.
TIMELINE_BLOCKS: dict[Severity | None, tuple[str, str]] = {
    Severity.OK: ("▁", "green"),
    Severity.WARNING: ("▄", "yellow"),
    Severity.UNKNOWN: ("▆", "magenta"),
    Severity.CRITICAL: ("█", "red"),
    None: (" ", ""),
}
TIMELINE_CELLS = 40


def timeline_spans(
    row: TenantRow, now: datetime, cells: int = TIMELINE_CELLS
) -> tuple[tuple[str, str], ...]:
    """The session's severities as blocks, oldest left, one block per equal slice of time."""
    changes = row.severity_changes
    if not changes:
        return ()
    start = changes[0][0]
    span = max((now - start).total_seconds(), 1.0)
    pieces: list[tuple[str, str]] = []
    index = 0
    for cell in range(cells):
        moment = start.timestamp() + span * (cell + 1) / cells
        while index + 1 < len(changes) and changes[index + 1][0].timestamp() <= moment:
            index += 1
        block, style = TIMELINE_BLOCKS[changes[index][1]]
        if pieces and pieces[-1][1] == style:
            pieces[-1] = (pieces[-1][0] + block, style)
        else:
            pieces.append((block, style))
    return tuple(pieces)


def _timeline_section(section: Section, row: TenantRow, context: DetailContext) -> None:
    spans = timeline_spans(row, context.now)
    if not spans:
        return
    section.entries.append(Entry("Timeline", "", spans=spans))
    start = clock_time(row.severity_changes[0][0])
    section.field("", f"from {start} to now: ▁ ok ▄ warning ▆ unknown █ critical", "dim")
    if row.observed_checks:
        share = 100 * row.running_checks / row.observed_checks
        checks = plural(row.observed_checks, "check")
        section.field("Running", f"in {share:.0f}% of {checks} this session")


def _marks_section(section: Section, context: DetailContext) -> None:
    for index, text in enumerate(context.marks):
        section.field("Silenced" if index == 0 else "", text, "bold")


#: The strip's cell per day: block height and colour by the worst severity, · for no data.
STRIP_BLOCKS: dict[Severity | None, tuple[str, str]] = {
    **{severity: block for severity, block in TIMELINE_BLOCKS.items() if severity is not None},
    None: ("·", "dim"),
}


def strip_spans(strip: tuple[Severity | None, ...]) -> tuple[tuple[str, str], ...]:
    pieces: list[tuple[str, str]] = []
    for severity in strip:
        block, style = STRIP_BLOCKS[severity]
        if pieces and pieces[-1][1] == style:
            pieces[-1] = (pieces[-1][0] + block, style)
        else:
            pieces.append((block, style))
    return tuple(pieces)


def _share(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1.0:
        return "100%"
    return f"{int(value * 1000) / 10:.1f}%"


def _availability_section(section: Section, context: DetailContext) -> None:
    found = context.availability
    if found is None:
        section.line(context.availability_note or "reading the history…")
        return
    for label, figures in found.windows:
        if figures.observed <= 0:
            section.field(f"Up {label}", "not observed")
            continue
        section.field(
            f"Up {label}", f"{_share(figures.uptime)} up, {observed_text(figures, label)}"
        )
    label, month = found.windows[-1]
    if month.incidents:
        section.field(
            "Incidents",
            f"{month.incidents} in {label}, longest {length(month.longest_incident)}",
        )
    else:
        section.field("Incidents", f"none in {label}")
    if found.strip:
        section.entries.append(Entry(f"{STRIP_DAYS} days", "", spans=strip_spans(found.strip)))
        section.field(
            "", "a day each, today last: ▁ ok ▄ warning ▆ unknown █ critical · none", "dim"
        )


def _versions_section(section: Section, row: TenantRow, context: DetailContext) -> None:
    """Each version the history saw the tenant on: since when, where, and how it came."""
    spans = context.versions
    if spans is None:
        section.line(context.versions_note or context.availability_note or "reading the history…")
        return
    if not spans:
        now = f": {shown(row.last_version)} now" if row.last_version else ""
        section.line(f"none recorded yet{now}")
        return
    for index, span in enumerate(spans):
        since = span.since.astimezone()
        text = f"{since:%H:%M}  {shown(span.version)}"
        if span.host:
            text += f" on {span.host}"
        older = spans[index + 1] if index + 1 < len(spans) else None
        if older is not None:
            order = compare_releases(older.version, span.version)
            text += ", " + {1: "upgraded", -1: "downgraded"}.get(order or 0, "changed")
        if span.until is None:
            text += ", still"
        section.field(f"{since:%Y-%m-%d}", text)


def observed_text(figures: Availability, label: str) -> str:
    """How much of the window the history saw, as time: "observed 12m of the last 24 h"
    (a share would read "0.0%" for minutes of data)."""
    if figures.observed >= figures.window - 0.5:
        return f"observed all of the last {label}"
    return f"observed {length(figures.observed)} of the last {label}"


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


class DetailPane(StyledScrollView, can_focus=False):
    """Shows one tenant. Lines are wrapped once per content or width change and drawn
    from that list, so opening the pane or scrolling it costs next to nothing; new content
    repaints only the lines that read differently."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._entries: list[Entry] = [Entry("", "No tenant selected.", "dim")]
        self._lines: list[Segments] = []
        self._wrapped_for = -1
        self._styles: dict[str, Style] = {}

    def show(self, row: TenantRow | None, context: DetailContext | None) -> None:
        if row is None or context is None:
            entries = [Entry("", "No tenant selected.", "dim")]
        else:
            entries = detail_entries(row, context)
        if entries == self._entries:
            return
        self._entries = entries
        before = self._lines if self.display else []
        self._wrapped_for = -1
        self._rewrap()
        if self._wrapped_for < 0 or len(before) != len(self._lines):
            self.refresh()
            return
        top = int(self.scroll_offset.y)
        for y in range(self.size.height):
            index = top + y
            if index < len(before) and before[index] != self._lines[index]:
                self.refresh_line(index)

    def on_resize(self) -> None:
        self._rewrap()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def _wrap_width(self) -> int:
        """The width to wrap for: the content's, or while the pane is closed, what it was
        when last shown (opening it then needs no second layout for the lines)."""
        width = self.scrollable_content_region.width
        if width > 0:
            return width
        outer = Region(0, 0, *self.outer_size)
        return outer.shrink(self.styles.gutter).shrink(self.scrollbar_gutter).width

    def _rewrap(self) -> None:
        width = self._wrap_width()
        if width <= 0 or width == self._wrapped_for:
            return
        self._lines = wrap_entries(self._entries, width)
        self._wrapped_for = width
        self.virtual_size = Size(width, len(self._lines))

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.base_style + (Style.parse(name) if name else Style())
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if self._wrapped_for != width:
            self._rewrap()
        index = int(self.scroll_offset.y) + y
        base = self.base_style
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, base)
        line = fit_segments(self._lines[index], width)
        segments = [Segment(text, self._style(style)) for text, style in line]
        return Strip(segments).adjust_cell_length(width, base)
