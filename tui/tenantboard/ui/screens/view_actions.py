"""Finding and ordering on the board: the filter, the attention filter, sorting, grouping
and folding, the Up 24h column, the event log, pop-ups, copying and opening a tenant's
endpoint, the versions view and help.

A mixin of :class:`~tenantboard.ui.screens.board.BoardScreen`: each action changes the
model's view (or a remembered choice) and redraws through the board's ``apply_view``.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from tenantboard.groups import DIMENSION_NAMES, DIMENSIONS
from tenantboard.humanize import plural
from tenantboard.rows import SORTS
from tenantboard.ui.screens.board_keys import MOVE_KEYS, PALETTE_KEY
from tenantboard.ui.screens.help import HelpScreen
from tenantboard.ui.screens.versions import VersionsScreen


class ViewActions:
    """``/`` ``!`` ``s`` ``b`` ``space`` ``U`` ``l`` ``n`` ``c`` ``u`` ``o`` ``v`` ``?``."""

    # Provided by BoardScreen.
    BINDINGS: Any
    session: Any
    model: Any
    table: Any
    clock: Any
    app: Any
    remembered: Any
    filter_line: Any
    log_panel: Any

    def action_filter(self) -> None:
        self._leave_key_to_a_widget_that_types()
        self.filter_line.display = True
        # Focus now, not after a turn of the loop (Widget.focus): the keys typed right after
        # the slash are already queued, and must reach the filter line, not the board.
        self.set_focus(self.filter_line)

    def _filter_changed(self, text: str) -> None:
        if text != self.model.view.filter_text:
            self.model.view.filter_text = text
            self.apply_view()

    def action_attention(self) -> None:
        view = self.model.view
        view.attention_only = not view.attention_only
        self.apply_view()
        self.app.remember_choices()
        shown = "only tenants that need attention" if view.attention_only else "every tenant"
        self.notify(f"showing {shown}", timeout=3, markup=False)

    def action_cycle_sort(self) -> None:
        names = list(SORTS)
        view = self.model.view
        view.sort = names[(names.index(view.sort) + 1) % len(names)]
        self.apply_view()
        self._want_uptime()
        self.app.remember_choices()
        self.notify(f"sorted by {SORTS[view.sort]}", timeout=3, markup=False)

    def action_group_by(self, dimension: str | None = None) -> None:
        """Group the rows by a dimension; without one, the next (host, environment,
        version, tag, none)."""
        view = self.model.view
        if dimension is None:
            cycle = [*DIMENSIONS, None]
            dimension = cycle[(cycle.index(view.group_by) + 1) % len(cycle)]
        elif dimension not in DIMENSIONS:
            dimension = None
        view.group_by = dimension
        self.apply_view()
        self._want_uptime()
        self.app.remember_choices()
        shown = f"grouped by {DIMENSION_NAMES[dimension]}" if dimension else "not grouped"
        self.notify(shown, timeout=3, markup=False)

    def action_toggle_group(self) -> None:
        """Fold the group under the cursor to its header line, or unfold it."""
        model = self.model
        header = self.table.cursor_header
        if header is None:
            groups = model.groups_of.get(self.table.cursor_key or "")
            if not groups:
                if model.view.group_by is None:
                    self.notify("not grouped: press b to group the rows", timeout=3, markup=False)
                return
            header = groups[0]
        model.toggle_group(header)
        line_id = header.line_id
        self.apply_view()
        index = model.index_of(line_id)
        if index is not None:
            self.table.move_cursor_to(index)

    def action_toggle_uptime(self) -> None:
        shown = not self.remembered.show_uptime
        self.remembered.show_uptime = shown
        self.table.show_column("uptime", shown)
        self.app.remember_choices()
        self._want_uptime()
        where = "" if self.size.width >= 100 or not shown else " (where the screen is wide enough)"
        self.notify(f"Up 24h column {'on' if shown else 'off'}{where}", timeout=3, markup=False)

    def _uptime_wanted(self) -> bool:
        view = self.model.view
        return self.remembered.show_uptime or view.sort == "uptime" or view.group_by is not None

    def _want_uptime(self) -> None:
        """Every tenant's 24-hour uptime is read (now, then each minute) while it is shown."""
        wanted = self._uptime_wanted()
        if wanted and not self.session.uptime_wanted:
            self.session.refresh_uptime()
        self.session.uptime_wanted = wanted

    def action_toggle_log(self) -> None:
        self.log_panel.display = not self.log_panel.display
        self._show_change_line()
        self.update_log()
        self.app.remember_choices()

    def action_toggle_notices(self) -> None:
        self.remembered.notify_changes = not self.remembered.notify_changes
        self.app.remember_choices()
        state = "on" if self.remembered.notify_changes else "off (the change line still tells)"
        self.notify(f"state-change pop-ups {state}", timeout=3, markup=False)

    def action_dismiss_notices(self) -> None:
        """Every pop-up goes, alerts that would stay ten minutes too (what they said is in
        the event log or on the change line; a click dismisses one)."""
        self.app.clear_notifications()

    def action_copy_context(self) -> None:
        tenant = self._selected_tenant("copy its context id")
        if tenant is not None:
            self._copy(tenant.context_id, f"context id {tenant.context_id}")

    def action_copy_endpoint(self) -> None:
        url = self._selected_endpoint("copy its endpoint")
        if url is not None:
            self._copy(url, "endpoint URL")

    def action_open_endpoint(self) -> None:
        url = self._selected_endpoint("open its endpoint")
        if url is not None:
            self.app.open_url(url)
            self.notify(f"opening {url}", timeout=4, markup=False)

    def _copy(self, text: str, what: str) -> None:
        """To the clipboard through the terminal (OSC 52): works over SSH where the terminal
        allows it."""
        self.app.copy_to_clipboard(text)
        self.notify(f"copied the {what} to the clipboard", timeout=3, markup=False)

    def _selected_endpoint(self, doing: str) -> str | None:
        row = self._selected_row(doing)
        if row is None:
            return None
        if row.state is None or not row.state.endpoint:
            self.notify("no endpoint known for this tenant yet", timeout=3, markup=False)
            return None
        return row.state.endpoint

    def jump_to(self, key: str) -> None:
        """Put the cursor on a tenant, clearing a filter that hides it and unfolding the
        group it is in."""
        for header in self.model.groups_of.get(key, ()):
            if header.collapsed:
                self.model.toggle_group(header)
                self.apply_view()
        if self.model.index_of(key) is None:
            self.model.view.filter_text = ""
            self.model.view.attention_only = False
            self.filter_line.value = ""
            self.filter_line.display = False
            self.apply_view()
        index = self.model.index_of(key)
        if index is not None:
            self.table.move_cursor_to(index)
            self.table.focus()

    def action_versions(self) -> None:
        """The versions view (live while open); the version chosen filters the board."""
        screen = VersionsScreen(self.session.version_summaries, self.clock.wall)
        self.app.push_screen(screen, self._show_version)

    def _show_version(self, term: str | None) -> None:
        if term is None:
            return
        self.filter_line.value = term  # filters at once (FilterLine.watch_value)
        self.filter_line.display = True
        self._give_keys_to_the_table()
        self.notify(
            f"showing {plural(len(self.model), 'tenant')} ({term}); escape clears",
            timeout=4,
            markup=False,
        )

    def action_help(self) -> None:
        help_keys = self.session.keys.get("help", "question_mark,f1")
        self.app.push_screen(HelpScreen(self.key_help(), close_keys=help_keys))

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, description) for every binding, with the operator's remapped keys."""
        rows = [MOVE_KEYS]
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys = self.session.keys.get(binding.id or "", binding.key)
            shown = ", ".join(self.app.get_key_display(Binding(key, "")) for key in keys.split(","))
            rows.append((shown, binding.tooltip or binding.description))
        rows.append(PALETTE_KEY)
        return rows
