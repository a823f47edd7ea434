"""The versions view: each release the tenants answer with, newest first, so a rollout can be
watched as it goes; choosing one filters the board to its tenants.

The figures are the session's (:meth:`Session.version_summaries`): the tenants that run each
version now, on which hosts, and when it was first seen (the history's record, else this
session's). The view redraws them every second while it is open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tenantboard.humanize import plural
from tenantboard.releases import VersionSummary, filter_term
from tenantboard.sanitize import clean

#: Hosts named per version; the rest are counted.
HOSTS_SHOWN = 3
BAR_CELLS = 10
VERSION_WIDTH = 30
#: The width of "first seen Mar 02 09:30", the column it is padded to.
SEEN_COLUMN = 23


def version_line(
    item: VersionSummary, answered: int, now: datetime, width: int | None = None
) -> Text:
    """One version: its label, tenants (and their share, as a bar), first seen, hosts.

    Where that is wider than ``width``, first seen and the hosts go on a second line of
    their own, so that ``first seen`` is never wrapped away from its date."""
    share = item.tenants / answered if answered else 0.0
    filled = round(share * BAR_CELLS)
    line = Text(no_wrap=True, overflow="ellipsis")
    label = item.text if len(item.text) <= VERSION_WIDTH else item.text[: VERSION_WIDTH - 1] + "…"
    line.append(f"{label:<{VERSION_WIDTH}} ", "bold" if item.version else "dim")
    line.append(f"{item.tenants:>6} {share:>4.0%} ")
    line.append("█" * filled, "green")
    line.append("░" * (BAR_CELLS - filled), "dim")
    seen = f"first seen {_when(item.first_seen, now)}" if item.first_seen else ""
    hosts = ", ".join(f"{short_host(host)} {count}" for host, count in item.hosts[:HOSTS_SHOWN])
    more = len(item.hosts) - HOSTS_SHOWN
    if more > 0:
        hosts += f", +{more} more"
    if width is not None and line.cell_len + 2 + max(SEEN_COLUMN, len(seen)) > width:
        line.append("\n  ")
        if seen:
            line.append(f"{seen}  ", "dim")
    else:
        line.append(f"  {seen:<{SEEN_COLUMN}}", "dim")
        line.append("  ")
    line.append(hosts or "no host")
    return line


def short_host(host: str) -> str:
    """``online3`` for ``online3.superoffice.com``: SuperOffice's hosts by their own name."""
    return clean(host.removesuffix(".superoffice.com"), 40)


def _when(moment: datetime, now: datetime) -> str:
    local = moment.astimezone()
    if local.year != now.astimezone().year:
        return f"{local:%Y-%m-%d %H:%M}"
    return f"{local:%b %d %H:%M}"


def title_text(summaries: Sequence[VersionSummary]) -> str:
    """How many releases, on how many tenants, and apart from them how many tenants named no
    version: ``Versions: 1 release on 4 tenants (4 more answered with no version), …``."""
    named = [item for item in summaries if item.version is not None]
    on_releases = sum(item.tenants for item in named)
    without = sum(item.tenants for item in summaries if item.version is None)
    if not on_releases and not without:
        return "Versions: no tenant has answered yet"
    if not named:
        return f"Versions: no release named by the {plural(without, 'tenant')} that answered"
    releases = f"{plural(len(named), 'release')} on {plural(on_releases, 'tenant')}"
    if without:
        releases += f" ({without} more answered with no version)"
    return f"Versions: {releases}, newest first"


class VersionsScreen(ModalScreen[str | None]):
    """Dismissed with the chosen version's filter word (``version:…``), or None."""

    DEFAULT_CSS = """
    VersionsScreen { align: center middle; }
    VersionsScreen > Vertical {
        width: 90%; max-width: 140; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    VersionsScreen Label { width: 1fr; margin-bottom: 1; }
    VersionsScreen OptionList, VersionsScreen OptionList:focus {
        height: auto; max-height: 20; border: none; padding: 0;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Close", show=False)]

    def __init__(
        self, summaries: Callable[[], list[VersionSummary]], now: Callable[[], datetime]
    ) -> None:
        super().__init__()
        self._summaries = summaries
        self._now = now
        self._shown: list[VersionSummary] = []
        self.title_label = Label("", markup=False)
        self.choices = OptionList()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield self.title_label
            yield self.choices

    def on_mount(self) -> None:
        self.redraw()
        self.choices.highlighted = 0 if self._shown else None
        self.choices.focus()
        self.set_interval(1.0, self.redraw)

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw, force=True)

    def redraw(self, force: bool = False) -> None:
        """The figures as they are now; the highlight stays on its version."""
        summaries = self._summaries()
        width = self.choices.scrollable_content_region.width or None
        if summaries == self._shown and self._shown and not force:
            return
        highlighted = self.choices.highlighted
        kept = highlighted is not None and highlighted < len(self._shown)
        current = self._shown[highlighted].version if kept else None
        answered = sum(item.tenants for item in summaries)
        now = self._now()
        self.title_label.update(
            f"{title_text(summaries)}\nenter shows only that version's tenants, escape closes"
        )
        self._shown = summaries
        self.choices.clear_options()
        self.choices.add_options(
            Option(version_line(item, answered, now, width), id=str(index))
            for index, item in enumerate(summaries)
        )
        versions = [item.version for item in summaries]
        if kept and current in versions:
            self.choices.highlighted = versions.index(current)
        elif summaries:
            self.choices.highlighted = 0

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        index = int(message.option.id or 0)
        if 0 <= index < len(self._shown):
            self.dismiss(filter_term(self._shown[index].version))

    def action_cancel(self) -> None:
        self.dismiss(None)
