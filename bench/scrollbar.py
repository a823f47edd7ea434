"""The line scrollbar on its own: does it pay for itself?

Draws a 48-line vertical scrollbar for a 10,000-row table at successive scroll positions
(what one cursor step that scrolls costs the bar), the way Textual's ScrollBar is drawn
(a Rich renderable through the console, split into lines) and the way
``textual_overrides.LineScrollBar`` draws it (``render_bar`` segments, one Strip a line).
Rounds are interleaved; prints the median and spread of each and their ratio.

    python bench/scrollbar.py
"""

from __future__ import annotations

import statistics
import time

from rich.color import Color
from rich.console import Console
from rich.style import Style
from textual.scrollbar import ScrollBarRender
from textual.strip import Strip

HEIGHT = 48
ROWS = 10_000
STEPS = 400
ROUNDS = 7
BACK = Color.parse("#555555")
BAR = Color.parse("bright_magenta")


def textual_way(console: Console) -> None:
    options = console.options.update_dimensions(1, HEIGHT)
    for position in range(STEPS):
        renderable = ScrollBarRender(
            virtual_size=ROWS,
            window_size=HEIGHT,
            position=position,
            thickness=1,
            vertical=True,
            style=Style(bgcolor=BACK, color=BAR),
        )
        lines = console.render_lines(renderable, options)
        [Strip(line, 1) for line in lines]


def line_way() -> None:
    for position in range(STEPS):
        segments = ScrollBarRender.render_bar(
            size=HEIGHT,
            virtual_size=ROWS,
            window_size=HEIGHT,
            position=position,
            thickness=1,
            vertical=True,
            back_color=BACK,
            bar_color=BAR,
        )
        [Strip([segment], 1) for segment in segments.segments]


def main() -> None:
    console = Console(width=1, height=HEIGHT, color_system="truecolor", legacy_windows=False)
    textual_times: list[float] = []
    line_times: list[float] = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        textual_way(console)
        textual_times.append((time.perf_counter() - started) / STEPS * 1e6)
        started = time.perf_counter()
        line_way()
        line_times.append((time.perf_counter() - started) / STEPS * 1e6)
    for name, times in (("Textual's ScrollBar", textual_times), ("LineScrollBar", line_times)):
        print(
            f"{name:<20} {statistics.median(times):8.1f} µs a position "
            f"(spread {min(times):.1f}-{max(times):.1f}, {ROUNDS} interleaved rounds)"
        )
    ratio = statistics.median(textual_times) / statistics.median(line_times)
    print(f"LineScrollBar draws a {HEIGHT}-line bar {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
