"""A virtual table of tenants: draws only the visible lines, computes times as it draws.

The stock DataTable measures every cell of every row and invalidates its caches on each
cell update; with thousands of tenants and "checked 12s ago" cells that change every
second, that is too slow to start and too busy to leave open. Here columns have fixed
widths chosen from the screen width, each line is drawn on demand from the model, and a
cached line is reused while its row and its relative-time texts are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tenantboard.answers import Severity
from tenantboard.groups import group_title
from tenantboard.humanize import GLYPHS, SEVERITY_WORDS, host_of, yes_no
from tenantboard.rows import (
    CHECKED_TEXT_WIDTH,
    MARK_GLYPHS,
    BoardModel,
    GroupLine,
    TenantRow,
    bucket_severity,
)
from tenantboard.sanitize import clean


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int
    #: Lower numbers stay longer as the screen narrows.
    priority: int
    flex: bool = False


#: Priorities follow what identifies a tenant and what needs a look: the name, its state and
#: the context id stay longest, then what went wrong and when; details go first.
COLUMNS: tuple[Column, ...] = (
    Column("glyph", "", 2, 0),
    Column("name", "Tenant", 16, 0, flex=True),
    Column("context", "Context", 11, 1),
    Column("env", "Env", 7, 5),
    Column("state", "State", 19, 0),
    Column("running", "Run", 4, 7),
    Column("host", "Endpoint host", 26, 6),
    Column("version", "Version", 20, 8),
    Column("checked", "Checked", CHECKED_TEXT_WIDTH + 1, 3),
    Column("next", "Next check", 14, 4),
    Column("uptime", "Up 24h", 7, 4),
    Column("problem", "Problem", 16, 2, flex=True),
)
#: Columns the operator turns on (the palette, or a key); off by default.
OPTIONAL_COLUMNS = frozenset({"uptime"})


def layout_columns(
    width: int, hidden: frozenset[str] = OPTIONAL_COLUMNS
) -> list[tuple[Column, int]]:
    """Pick the columns that fit ``width`` (by priority) and share out the rest."""
    chosen: list[Column] = []
    used = 0
    for column in sorted(COLUMNS, key=lambda c: c.priority):
        if column.key in hidden:
            continue
        if used + column.width <= width or column.priority == 0:
            chosen.append(column)
            used += column.width
    chosen.sort(key=COLUMNS.index)
    spare = max(0, width - used)
    flexible = [c for c in chosen if c.flex]
    widths = {c.key: c.width for c in chosen}
    for index, column in enumerate(flexible):
        share = spare // len(flexible) + (1 if index < spare % len(flexible) else 0)
        widths[column.key] += share
    return [(c, widths[c.key]) for c in chosen]


RowDescriber = Callable[[TenantRow], tuple[str, str]]
"""Returns (checked, next) texts for a row at the current moment."""
GroupNote = Callable[[GroupLine], str]
"""Returns what the board adds to a group's header line (a host incident), or ""."""

#: The severities a header line counts, worst first.
_HEADER_SEVERITIES = (Severity.CRITICAL, Severity.UNKNOWN, Severity.WARNING, Severity.OK, None)


def group_header_fields(header: GroupLine) -> list[str]:
    """A group's header fields: fold mark and name, tenants, per severity, worst, uptime.

    ``▾ online3.superoffice.com``, ``7 tenants``, ``✖ 2 ? 1 ✔ 4``, ``worst Unknown``,
    ``up 24h 99.2%`` (those with nothing to say left out)."""
    tenants = len(header.keys)
    severities = header.by_severity()
    counts = " ".join(
        f"{GLYPHS[severity]} {severities[severity]}"
        for severity in _HEADER_SEVERITIES
        if severities[severity] > 0
    )
    fields = [
        f"{'▸' if header.collapsed else '▾'} {group_title(header.dimension, header.value)}",
        f"{tenants} tenant{'' if tenants == 1 else 's'}",
        counts,
    ]
    worst = header.worst_bucket
    if worst is not None and bucket_severity(worst) not in (Severity.OK, None):
        fields.append(f"worst {'errors' if worst == 'error' else clean(worst, 30)}")
    if header.uptime is not None:
        fields.append(f"up 24h {uptime_text(header.uptime)}")
    return [field for field in fields if field]


#: Which header fields stay longest as the line narrows: the name, the tenants and their
#: severities, then the board's note (a host incident), then worst and uptime.
_NOTE_KEPT_AFTER = 3
_FIELD_GAP = "  "


def group_line_text(header: GroupLine, note: str, width: int) -> tuple[str, str]:
    """A group's header line for ``width`` cells, as (fields, note): a field that does not
    fit is left out whole (a cut ``up 24h 10`` would read as 10 %), never cut, except the
    name, which ends in ``…``. The note is kept before worst and uptime."""
    fields = group_header_fields(header)
    name = f" {fields[0]}"
    if cell_len(name) > width:
        return set_cell_size(name, max(0, width - 1)) + "…", ""
    ranked = [*fields[1:_NOTE_KEPT_AFTER], note, *fields[_NOTE_KEPT_AFTER:]]
    room = width - cell_len(name)
    kept: set[int] = set()
    for index, field in enumerate(ranked):
        size = cell_len(_FIELD_GAP + field)
        if field and size <= room:
            kept.add(index)
            room -= size
    note_index = _NOTE_KEPT_AFTER - 1
    text = name + "".join(
        _FIELD_GAP + field
        for index, field in enumerate(ranked)
        if index in kept and index != note_index
    )
    return text, (_FIELD_GAP + note if note_index in kept else "")


def row_cells(row: TenantRow, checked: str, next_check: str) -> dict[str, str]:
    """The text of each cell of a row (already cleaned of control characters)."""
    state = row.state
    error = row.error
    if state is None:
        state_text = "error" if error else "not checked yet"
    elif state.state is None:
        state_text = f"{state.state_name}?"
    else:
        state_text = state.state_name
    running = yes_no(state.is_running) if state else ""
    problem = ""
    if error is not None:
        problem = error.message
    elif state is not None and state.state is None:
        problem = "unrecognised state"
    elif state is not None and state.running_mismatch:
        problem = "IsRunning disagrees with State"
        running += "!"
    host = host_of(state.endpoint) if state else ""
    if row.endpoint_moved and host:
        host = f"{host} ↻"
    name = row.tenant.display_name
    if row.mark is not None:
        name = f"{MARK_GLYPHS[row.mark]} {name}"
    if row.window is not None:
        name = f"{MARK_GLYPHS['maintenance']} {name}"
    uptime = row.uptime_24h
    return {
        "glyph": GLYPHS[row.severity],
        "name": name,
        "uptime": "-" if uptime is None else uptime_text(uptime),
        "context": row.tenant.context_id,
        "env": row.tenant.env,
        "state": clean(state_text, 40),
        "running": running,
        "host": host,
        "version": clean(row.version_label or "", 40),
        "checked": checked,
        "next": next_check,
        "problem": problem,
    }


def uptime_text(share: float) -> str:
    """99.95% as "99.9%" (never rounded up to 100% while anything was down)."""
    if share >= 1.0:
        return "100%"
    return f"{int(share * 1000) / 10:.1f}%"


def fit(text: str, width: int) -> str:
    """Pad or cut to exactly ``width`` cells, leaving one blank column as a gutter."""
    if width <= 1:
        return " " * width
    if text.isascii():  # the common case, and one cell per character: no measuring
        if len(text) > width - 1:
            return text[: width - 2] + "… "
        return text.ljust(width)
    if cell_len(text) > width - 1:
        text = set_cell_size(text, width - 2) + "…"
    return set_cell_size(text, width - 1) + " "


def measured_segments(pieces: list[str], width: int, style: Style) -> list[Segment]:
    """Cells already fitted to their widths, as segments of exactly ``width`` cells.

    Runs of ASCII become one segment and any other piece its own: Rich measures a string
    with a glyph in it character by character (a whole row of 200 cells, again at every
    redraw of the row), and ASCII by its length.
    """
    segments: list[Segment] = []
    plain: list[str] = []
    used = 0
    for piece in pieces:
        if piece.isascii():
            plain.append(piece)
            used += len(piece)
            continue
        if plain:
            segments.append(Segment("".join(plain), style))
            plain = []
        segments.append(Segment(piece, style))
        used += cell_len(piece)
    if plain:
        segments.append(Segment("".join(plain), style))
    if used > width:
        return [Segment(set_cell_size("".join(s.text for s in segments), width), style)]
    if used < width:
        segments.append(Segment(" " * (width - used), style))
    return segments


class StyledScrollView(ScrollView):
    """A ScrollView that looks up its own style (the theme's colours for it) once per
    restyle instead of once per line: Textual's ``rich_style`` walks every ancestor."""

    _base: Style | None = None

    @property
    def base_style(self) -> Style:
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None


class TenantTable(StyledScrollView, can_focus=True):
    """One line per tenant, coloured by severity, with a sticky header line."""

    COMPONENT_CLASSES = {
        "tenant-table--header",
        "tenant-table--ok",
        "tenant-table--warning",
        "tenant-table--critical",
        "tenant-table--unknown",
        "tenant-table--pending",
        "tenant-table--cursor",
        "tenant-table--group",
        "tenant-table--group-alarm",
    }

    # Priority: handled as the key arrives at the app, instead of after it has bubbled
    # back up from the table through its parents (four more turns of an event loop that is
    # busy with hundreds of checks a second during a pass). They apply only while the
    # table has focus, as a priority binding of a widget outside the focus chain does not.
    BINDINGS = [
        # k acknowledges (the board's key); j stays for those who have it in their fingers.
        Binding("up,k", "cursor(-1)", "Up", show=False, priority=True),
        Binding("down,j", "cursor(1)", "Down", show=False, priority=True),
        Binding("pageup", "page(-1)", "Page up", show=False, priority=True),
        Binding("pagedown", "page(1)", "Page down", show=False, priority=True),
        Binding("home,g", "jump(0)", "First", show=False, priority=True),
        Binding("end,G", "jump(-1)", "Last", show=False, priority=True),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        """The cursor moved to another tenant (or the list changed under it)."""

        def __init__(self, key: str | None) -> None:
            super().__init__()
            self.key = key

    class Chosen(Message):
        """The operator pressed enter or clicked twice on a tenant."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(
        self,
        model: BoardModel,
        describe: RowDescriber,
        group_note: GroupNote | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model = model
        self.describe = describe
        self.group_note = group_note or (lambda header: "")
        self.hidden_columns: frozenset[str] = OPTIONAL_COLUMNS
        #: What to say instead of "No tenants yet" while the list is empty (an attached
        #: board the server refused).
        self.empty_hint: str | None = None
        self._layout: list[tuple[Column, int]] = layout_columns(80)
        self._layout_width = 80
        # Keyed by (tenant, width): a line stays cached while its tenant moves (filtering,
        # sorting) and across widths (the narrow layout and the wide one).
        self._lines: LRUCache[tuple[str, int], tuple[tuple[object, ...], Strip]] = LRUCache(4096)
        self._times: dict[int, tuple[str, str]] = {}
        #: Columns on the right covered by the detail pane (a drawer over the table): the
        #: columns are laid out for what stays visible, so nothing is cut without a mark.
        self._covered = 0

    # -- data -------------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        row = self.model.row_at(self.cursor)
        return row.tenant.key if row else None

    @property
    def cursor_header(self) -> GroupLine | None:
        """The group whose header line the cursor is on, if it is on one."""
        return self.model.header_at(self.cursor)

    def rows_changed(self) -> None:
        """The list itself changed (added, removed, reordered): redraw everything."""
        self.virtual_size = self._virtual_size()
        self.cursor = min(self.cursor, max(0, len(self.model) - 1))
        self.refresh()

    def row_updated(self, index: int) -> None:
        """One row's data changed; redraw its line only if it is on screen."""
        if index in self._visible_rows():
            self.refresh_line(index + 1)

    def lines_updated(self, line_ids: Container[str]) -> None:
        """These lines' data changed (tenants by key, groups' header lines by id): redraw
        those on screen. The lines on screen are looked at, not the lines' positions: a
        batch of a few hundred results needs none of them, and a view of 100,000 tenants
        is made without them (:meth:`~tenantboard.rows.BoardModel.index_of`)."""
        lines = self.model.lines
        for index in self._visible_rows():
            if lines[index] in line_ids:
                self.refresh_line(index + 1)

    def tick(self) -> None:
        """Redraw visible lines whose relative times ("12s ago") read differently now."""
        for index in self._visible_rows():
            row = self.model.row_at(index)
            if row is not None and self.describe(row) != self._times.get(index):
                self.refresh_line(index + 1)

    def show_column(self, key: str, shown: bool) -> None:
        """Turn an optional column on or off; every line is drawn again."""
        hidden = self.hidden_columns - {key} if shown else self.hidden_columns | {key}
        if hidden != self.hidden_columns:
            self.hidden_columns = hidden
            self._layout_width = -1
            self._lines.clear()
            self.refresh()

    def set_covered(self, columns: int) -> None:
        """The detail pane now covers ``columns`` on the right (0: nothing). Only what is
        visible beside the pane is drawn again: under it, the pane is drawn."""
        if columns != self._covered:
            beside = self.size.width - columns
            self._covered = columns
            self.refresh(Region(0, 0, max(0, beside), self.size.height))

    def _visible_rows(self) -> range:
        top = int(self.scroll_offset.y)
        return range(top, min(len(self.model), top + max(0, self.size.height - 1)))

    # -- layout and drawing ---------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = self._virtual_size()

    def _virtual_size(self) -> Size:
        """One line per row and the header; no width, as the columns always fit the screen
        (a width would make Textual offer a horizontal scrollbar)."""
        return Size(0, len(self.model) + 1)

    def _columns_for(self, width: int) -> list[tuple[Column, int]]:
        """The layout for the drawable width (the scrollbar takes its share)."""
        if width != self._layout_width:
            self._layout = layout_columns(width, self.hidden_columns)
            self._layout_width = width
        return self._layout

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        full = self.scrollable_content_region.width
        width = max(1, full - self._covered)
        strip = self._line(y, width)
        if width < full:  # under the pane: blank, so nothing shows through its edge
            return strip.extend_cell_length(full, self.base_style)
        return strip

    def _line(self, y: int, width: int) -> Strip:
        if y == 0:
            return self._header_strip(width)
        index = int(self.scroll_offset.y) + y - 1
        row = self.model.row_at(index)
        if row is None:
            header = self.model.header_at(index)
            if header is not None:
                return self._group_line(header, index == self.cursor, width)
            if index == 0:
                return self._hint_strip(width)
            return Strip.blank(width, self.base_style)
        times = self.describe(row)
        self._times[index] = times
        is_cursor = index == self.cursor
        signature = (row.revision, times, is_cursor)
        cache_key = (row.tenant.key, width)
        cached = self._lines.get(cache_key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        strip = self._row_strip(row, times, is_cursor, width)
        self._lines[cache_key] = (signature, strip)
        return strip

    def _group_line(self, header: GroupLine, is_cursor: bool, width: int) -> Strip:
        """A group's header line, cached while its counts, fold and note are unchanged."""
        note = self.group_note(header)
        signature = (header.revision, header.collapsed, note, is_cursor)
        cache_key = (header.line_id, width)
        cached = self._lines.get(cache_key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        style = self.get_component_rich_style("tenant-table--group")
        alarm = self.get_component_rich_style("tenant-table--group-alarm")
        if is_cursor:
            cursor = self.get_component_rich_style("tenant-table--cursor")
            style, alarm = style + cursor, alarm + cursor
        fields, kept_note = group_line_text(header, note, width)
        segments = [Segment(fields, style)]
        if kept_note:
            segments.append(Segment(kept_note, alarm))
        strip = Strip(segments).adjust_cell_length(width, style)
        self._lines[cache_key] = (signature, strip)
        return strip

    def _hint_strip(self, width: int) -> Strip:
        """What to do when no row shows: an empty list, or a filter that matches nothing."""
        if self.model.total == 0:
            text = "  " + (
                self.empty_hint
                or "No tenants yet: press a to add one (or run: tenantboard add Cust12345)."
            )
        else:
            text = "  No tenant matches: escape clears the filter, ! shows every tenant again."
        style = self.get_component_rich_style("tenant-table--pending")
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def _header_strip(self, width: int) -> Strip:
        style = self.get_component_rich_style("tenant-table--header")
        layout = self._columns_for(width)
        text = "".join(fit(column.title, size) for column, size in layout)
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def _row_style(self, row: TenantRow, is_cursor: bool) -> Style:
        word = SEVERITY_WORDS[row.severity]
        style = self.get_component_rich_style(f"tenant-table--{word}")
        if is_cursor:
            style += self.get_component_rich_style("tenant-table--cursor")
        return style

    def _row_strip(
        self, row: TenantRow, times: tuple[str, str], is_cursor: bool, width: int
    ) -> Strip:
        cells = row_cells(row, *times)
        style = self._row_style(row, is_cursor)
        layout = self._columns_for(width)
        pieces = [fit(cells[column.key], size) for column, size in layout]
        return Strip(measured_segments(pieces, width, style), width)

    # -- cursor ---------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)
        self._scroll_cursor_into_view()
        self.post_message(self.Highlighted(self.cursor_key))

    def _scroll_cursor_into_view(self) -> None:
        body = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True)

    def move_cursor_to(self, index: int) -> None:
        if len(self.model):
            self.cursor = max(0, min(index, len(self.model) - 1))

    def action_cursor(self, step: int) -> None:
        self.move_cursor_to(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor_to(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.move_cursor_to(len(self.model) - 1 if where < 0 else where)

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = int(self.scroll_offset.y) + event.y - 1
        if 0 <= index < len(self.model):
            if index == self.cursor and event.chain >= 2:
                key = self.cursor_key
                if key:
                    self.post_message(self.Chosen(key))
            self.cursor = index
