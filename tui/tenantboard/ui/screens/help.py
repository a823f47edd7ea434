"""The help screen: every key, and what each colour, glyph and mark means."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tenantboard.answers import STATE_SEVERITY, Severity
from tenantboard.humanize import GLYPHS
from tenantboard.rows import MARK_GLYPHS

#: From this width (inside the box) the keys stand in two columns side by side, and so do
#: the two legends: at 200x50 everything fits without scrolling.
TWO_COLUMNS_FROM = 140


def _states(severity: Severity) -> list[str]:
    return [state.name for state, level in STATE_SEVERITY.items() if level is severity]


#: What a row's glyph says.
LEGEND = [
    (f"{GLYPHS[Severity.OK]} ok", "running: " + ", ".join(_states(Severity.OK))),
    (f"{GLYPHS[Severity.WARNING]} warning", ", ".join(_states(Severity.WARNING))),
    (f"{GLYPHS[Severity.CRITICAL]} critical", ", ".join(_states(Severity.CRITICAL))),
    (
        f"{GLYPHS[Severity.UNKNOWN]} unknown",
        "the last check failed, or the state is not documented",
    ),
    (f"{GLYPHS[None]} pending", "not checked yet"),
]
#: The marks and words a row, the event log and the detail pane may show.
MARKS = [
    ("no!", "IsRunning disagrees with State"),
    ("host ↻", "the endpoint moved to another host since the previous check"),
    ("State?", "a state the API documentation does not list, shown as sent"),
    ("backoff 2m", "the last checks failed: waiting longer each time"),
    ("retry 45s", "the server asked to wait (Retry-After)"),
    ("↓ (event log)", "a change for the worse"),
    ("▁▄▆█ (timeline)", "ok, warning, unknown, critical over the session"),
    (f"{MARK_GLYPHS['mute']} name", "muted (m): no pop-up, bell or alert hook until it ends"),
    (f"{MARK_GLYPHS['ack']} name", "acknowledged (A): silenced until its state changes"),
    (
        f"{MARK_GLYPHS['maintenance']} name",
        "in a maintenance window (w, W): its changes are planned, no pop-up, bell or hook",
    ),
    ("▁▄▆█· (30 days)", "availability strip: each day's worst severity, · for no data"),
    ("▾ group / ▸ group", "a group's header line (b groups), unfolded / folded (space)"),
    ("✖ host incident", "many of a host's tenants bad together: one incident, one alert"),
]


def _grid(rows: Iterable[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for left, right in rows:
        grid.add_row(Text(left), Text(right))
    return grid


def _side_by_side(left: RenderableType, right: RenderableType) -> Table:
    table = Table.grid(padding=(0, 4), expand=True)
    table.add_column(ratio=1)
    table.add_column(ratio=1)
    table.add_row(left, right)
    return table


def _titled(title: str, body: RenderableType) -> Group:
    # Styled as a span, not as the whole Text: a table pads a cell with the Text's style.
    return Group(Text.assemble((title, "bold underline")), body)


Rows = list[tuple[str, str]]


def _halves(rows: Rows, console: Console, options: ConsoleOptions) -> tuple[Rows, Rows]:
    """The rows split in two columns side by side as short as can be: near where about
    half of their text is on each side, where the taller side wraps to the fewest lines
    (a column with a wide key wraps its descriptions more)."""
    weights = [len(key) + len(description) + 20 for key, description in rows]
    total, running, middle = sum(weights), 0, len(rows)
    for index, weight in enumerate(weights):
        running += weight
        if running * 2 >= total:
            middle = index + 1
            break
    # No height: measured as a whole, never cut or padded to the box (Textual renders with
    # the box's height), so every pass picks the same split.
    half = options.update(width=max(1, (options.max_width - 4) // 2), height=None)

    def height(split: int) -> int:
        sides = (rows[:split], rows[split:])
        return max(len(console.render_lines(_grid(side), half)) for side in sides if side)

    splits = range(max(1, middle - 3), min(len(rows), middle + 3) + 1)
    best = min(splits, key=lambda split: (height(split), abs(split - middle)))
    return rows[:best], rows[best:]


class HelpText:
    """Every key and what it does, and what each glyph and mark means, laid out for the
    width it is drawn in: on a wide screen the keys in two columns side by side, and the
    two legends side by side below them."""

    def __init__(self, bindings: Sequence[tuple[str, str]]) -> None:
        self.bindings = list(bindings)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows, marks = _titled("Rows", _grid(LEGEND)), _titled("Marks", _grid(MARKS))
        if options.max_width >= TWO_COLUMNS_FROM:
            first, second = _halves(self.bindings, console, options)
            keys = _side_by_side(_grid(first), _grid(second))
            yield _titled("Keys", keys)
            yield Text()
            yield _side_by_side(rows, marks)
        else:
            yield _titled("Keys", _grid(self.bindings))
            yield Text()
            yield rows
            yield Text()
            yield marks
        yield Text()
        yield Text(
            "Colours follow the theme; glyphs and names carry the same meaning without colour. "
            "Keys can be remapped in the tenant file's [keys] table by the ids in docs/board.md.",
            "italic",
        )


class HelpScreen(ModalScreen[None]):
    """Closed by escape, q, or the key(s) that opened it (remapped ones included)."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="help.close")]

    def __init__(
        self, bindings: list[tuple[str, str]], close_keys: str = "question_mark,f1"
    ) -> None:
        super().__init__()
        self.bindings = bindings
        self.close_keys = {key.strip() for key in close_keys.split(",")}

    def on_key(self, event: events.Key) -> None:
        if event.key in self.close_keys:
            event.stop()
            self.dismiss(None)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("tenantboard help  (escape closes it)", "bold"), markup=False)
            yield Static(HelpText(self.bindings), markup=False)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
