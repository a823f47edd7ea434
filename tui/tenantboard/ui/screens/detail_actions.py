"""The detail pane on the board: opening and closing it, what it shows of the tenant under
the cursor, and what it fetches (the version document, availability, version history).

A mixin of :class:`~tenantboard.ui.screens.board.BoardScreen` (its session, model, table and
pane); what the pane draws is :class:`~tenantboard.ui.widgets.detail.DetailPane`'s.
"""

from __future__ import annotations

from typing import Any

from tenantboard.history.reader import mark_text
from tenantboard.releases import VersionSpan
from tenantboard.rows import TenantRow
from tenantboard.session import Session
from tenantboard.ui.widgets.detail import DetailContext

#: Seconds the cursor rests on a row before the detail pane fetches its version document.
VERSION_REST = 0.3
#: Seconds between reads of the open detail pane's availability.
AVAILABILITY_EVERY = 60.0


class DetailActions:
    """``enter`` opens and closes the pane (on a group's header line it folds the group),
    ``escape`` closes it; the pane follows the cursor."""

    # Provided by BoardScreen.
    session: Any
    model: Any
    table: Any
    detail: Any
    clock: Any
    app: Any
    filter_line: Any
    detail_key: str | None
    _availability_asked: tuple[str | None, float]
    _version_timer: Any

    def show_detail_of_cursor_row(self, *, fetch: bool = True) -> None:
        """Redraw the detail pane for :attr:`detail_key` (and fetch its version if stale)."""
        key = self.detail_key
        row = self.model.rows.get(key) if key else None
        if row is None:
            self.detail.show(None, None)
            return
        self.detail.show(row, self.detail_context(row))
        if fetch:
            # After the pane is on screen: starting the worker is not what the operator waits for.
            self.call_after_refresh(self._fetch_version, row.tenant.key)

    def detail_context(self, row: TenantRow) -> DetailContext:
        text, reason = self.next_check_text(row)
        key = row.tenant.key
        session = self.session
        return DetailContext(
            now=self.clock.wall(),
            next_text=text,
            next_reason=reason,
            fetching_version=key in session.fetching_versions,
            availability=session.availability.get(key),
            availability_note=session.availability_note(key),
            versions=_spans_of(session, key),
            versions_note="the history is kept by the server" if session.attached else "",
            marks=(
                *(mark_text(mark) for mark in session.marks.of(key)),
                *self._window_note(row),
            ),
            incident=self._incident_text(key),
        )

    def _window_note(self, row: TenantRow) -> tuple[str, ...]:
        """The detail pane's line about the maintenance window covering the tenant."""
        window = row.window
        if window is None:
            return ()
        now = self.clock.wall()
        return (
            f"in maintenance: {window.describe(now)}, covering {window.scope.describe()}; "
            "its changes are planned",
        )

    def _incident_text(self, key: str) -> str:
        """What the detail pane says of the host incident a tenant is (or was) part of."""
        incident = self.session.incidents.incident_of(key)
        if incident is None:
            return ""
        if incident.is_open:
            return f"part of the host incident {incident.headline()}"
        return f"was part of the host incident on {incident.resolved_text()}"

    def _fetch_version(self, key: str) -> None:
        self.run_worker(self.session.fetch_version(key), group="versions", exit_on_error=False)

    def _fetch_for_resting_cursor(self) -> None:
        self._version_timer = None
        key = self.detail_key
        if key is not None and key in self.model.rows:
            self._fetch_version(key)
            self._availability_of_detail(only_if_older=AVAILABILITY_EVERY)

    def toggle_detail(self) -> None:
        if self.table.cursor_header is not None:  # on a group's header line: fold it
            self.action_toggle_group()
            return
        if self.detail_key is None:
            key = self.table.cursor_key
            if key is None:
                return
            self.detail_key = key
            self.show_detail_of_cursor_row()
            self._show_detail(True)
            self._availability_of_detail(only_if_older=AVAILABILITY_EVERY)
        else:
            self.action_close_detail()

    def action_toggle_detail(self) -> None:
        self._leave_key_to_a_widget_that_types()
        self.toggle_detail()

    def action_close_detail(self) -> None:
        """escape: close the detail pane, or else clear a filter that was kept with enter."""
        self._leave_key_to_a_widget_that_types()
        if self.detail_key is None and self.filter_line.value:
            self._filter_cleared()
            return
        self.detail_key = None
        self._show_detail(False)
        self._give_keys_to_the_table()

    def _availability_of_detail(self, only_if_older: float = 0.0) -> None:
        """The open pane's figures, read in the background (each minute while it is open)."""
        key = self.detail_key
        if key is None or not self.session.keeps_availability:
            return
        now = self.clock.monotonic()
        asked_key, asked_at = self._availability_asked
        if key == asked_key and now - asked_at < only_if_older:
            return
        self._availability_asked = (key, now)
        work = self.session.read_availability([key], with_strip=True)
        self.run_worker(work, group="availability", exclusive=True, exit_on_error=False)
        versions = self.session.read_version_history(key)
        self.run_worker(versions, group="version-history", exclusive=True, exit_on_error=False)

    def _show_detail(self, shown: bool) -> None:
        """Show or hide the pane by toggling display, not classes: a class on the screen
        would restyle every widget, and the pane should open at once. The pane is a drawer
        over the table: once it is drawn, the table's columns fit what it leaves (in the
        next frame, so that the pane's own costs only the pane)."""
        # The table stays displayed (and focused) even where the pane covers it all: the
        # cursor keys keep moving the selection, and the pane follows.
        self.detail.display = shown
        if shown:
            self.call_after_refresh(self._table_beside_pane)
        else:
            self.table.set_covered(0)

    def _table_beside_pane(self) -> None:
        if self.detail.display:
            self.table.set_covered(self.detail.outer_size.width)


def _spans_of(session: Session, key: str) -> tuple[VersionSpan, ...] | None:
    """The tenant's versions as last read from the history; None while not read (yet)."""
    spans = session.version_history.get(key)
    return tuple(spans) if spans is not None else None
