"""The benches' tables: columns padded to their widest cell, a rule under the heading."""

from __future__ import annotations

from collections.abc import Sequence


def print_aligned(rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` (the first one the heading) as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))
