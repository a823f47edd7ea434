"""Checking on the board: re-check one tenant, the shown ones or the whole list now, pause
and resume; on an attached board the server keeps the schedule, and these say so.

A mixin of :class:`~tenantboard.ui.screens.board.BoardScreen`.
"""

from __future__ import annotations

from typing import Any

from tenantboard.humanize import plural


class CheckActions:
    """``r``, ``R``, ``ctrl+r`` and ``p``."""

    # Provided by BoardScreen.
    session: Any
    model: Any
    monitor: Any
    table: Any

    def _on_the_server(self, what: str) -> bool:
        """True (and said) when the board is attached: the server owns the list and checks."""
        target = self.session.config.attach
        if target is None:
            return False
        if what == "list":
            message = f"the list lives on the server ({target.url}): change its tenant file there"
        else:
            message = f"checks run on the server ({target.url}): it keeps the schedule"
        self.notify(message, severity="warning", timeout=6, markup=False)
        return True

    def action_recheck(self) -> None:
        if self._on_the_server("checks"):
            return
        row = self._selected_row("refresh it")
        if row is not None:
            key = row.tenant.key
            self.session.recheck([key])
            self._redraw_keys({key})
            if self.monitor.paused:
                self.notify(
                    "refreshing this tenant (paused: no automatic checks)", timeout=3, markup=False
                )

    def action_recheck_shown(self) -> None:
        """Re-check the tenants shown: a filtered board re-checks what it shows."""
        if self._on_the_server("checks"):
            return
        shown = self.model.shown
        filtered = shown < self.model.total
        tenants = plural(shown, "tenant")
        self._recheck(
            list(self.model.order), f"the {tenants} shown" if filtered else f"all {tenants}"
        )

    def action_recheck_list(self) -> None:
        if self._on_the_server("checks"):
            return
        total = self.model.total
        self._recheck(list(self.model.list_order), f"all {plural(total, 'tenant')} in the list")

    def _recheck(self, keys: list[str], what: str) -> None:
        if not keys:
            self.notify("no tenant to refresh", timeout=3, markup=False)
            return
        self.session.recheck(keys)
        self.table.refresh()
        paused = " (paused: no automatic checks after these)" if self.monitor.paused else ""
        self.notify(f"refreshing {what}{paused}", timeout=3, markup=False)

    def action_toggle_pause(self) -> None:
        if self._on_the_server("checks"):
            return
        if self.monitor.paused:
            self.session.resume()
            self.notify("refreshing resumed", timeout=3, markup=False)
        else:
            self.session.pause()
            self.notify("refreshing paused: press p to resume", timeout=3, markup=False)
        self.update_summary()
        self.table.refresh()
