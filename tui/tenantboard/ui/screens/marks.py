"""Mute and acknowledge, on the board: the keys and the choosers.

A mixin of :class:`~tenantboard.ui.screens.board.BoardScreen`. The marks themselves (saved in
the history database, shown on rows, ended when their time is up or the state changes,
logged) are the session's: :meth:`Session.add_mark`, :meth:`Session.end_marks`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tenantboard.history.reader import mark_text
from tenantboard.rows import TenantRow
from tenantboard.session import MarkNotSaved, MarkRefused
from tenantboard.ui.screens.chooser import ChooserScreen

#: How long ``m`` can mute for: (choice id, text, hours; None: until the state changes).
MUTE_CHOICES: tuple[tuple[str, str, float | None], ...] = (
    ("1h", "for 1 hour", 1),
    ("8h", "for 8 hours", 8),
    ("24h", "for 24 hours", 24),
    ("change", "until its state changes", None),
)


class MarkActions:
    """``m`` mute, ``A`` acknowledge, ``M`` the list of marks."""

    # Provided by BoardScreen.
    session: Any
    model: Any
    clock: Any
    app: Any

    def action_mute(self) -> None:
        row = self._row_to_mark("mute it")
        if row is None:
            return
        key = row.tenant.key

        def chosen(choice: str | None) -> None:
            for choice_id, _, hours in MUTE_CHOICES:
                if choice == choice_id:
                    until = None if hours is None else self.clock.wall() + timedelta(hours=hours)
                    self.add_mark(key, "mute", until)

        choices = [(choice_id, text) for choice_id, text, _ in MUTE_CHOICES]
        self.app.push_screen(ChooserScreen(f"Mute {row.tenant.display_name}", choices), chosen)

    def action_acknowledge(self) -> None:
        row = self._row_to_mark("acknowledge it")
        if row is None:
            return
        if not row.not_ok and row.mark is None:  # in a window too: someone may be on it
            self.notify("nothing to acknowledge: this tenant is ok", timeout=3, markup=False)
            return
        self.add_mark(row.tenant.key, "ack", None)

    def _row_to_mark(self, doing: str) -> TenantRow | None:
        row = self._selected_row(doing)
        if row is None:
            return None
        if row.last is None:
            self.notify("not checked yet: nothing to silence", timeout=3, markup=False)
            return None
        return row

    def add_mark(self, key: str, kind: str, until: datetime | None) -> None:
        """Mute or acknowledge (saved by the session, in the background)."""
        self.run_worker(self._add_mark(key, kind, until), group="marks", exit_on_error=False)

    async def _add_mark(self, key: str, kind: str, until: datetime | None) -> None:
        try:
            mark, saved = await self.session.add_mark(key, kind, until)
        except MarkNotSaved as exc:  # an attached board's server did not take it
            self.notify(str(exc), severity="error", timeout=10, markup=False)
            return
        except MarkRefused as exc:
            self.notify(str(exc), timeout=3, markup=False)
            return
        row = self.model.rows.get(key)
        name = row.tenant.display_name if row else key
        self.notify(f"{name}: {mark_text(mark)}", timeout=4, markup=False)
        if not saved and self.session.writer is not None:
            self.notify(
                "history: not saved; kept until the board closes",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def action_list_marks(self) -> None:
        marks = self.session.marks.all()
        if not marks:
            self.notify("no tenant is muted or acknowledged", timeout=3, markup=False)
            return
        choices = []
        for mark in marks:
            row = self.model.rows.get(mark.key)
            name = row.tenant.display_name if row else mark.key
            choices.append((str(mark.id), f"{name}: {mark_text(mark)}"))

        def chosen(choice: str | None) -> None:
            gone = [mark for mark in self.session.marks.all() if str(mark.id) == choice]
            if gone:
                self.session.end_marks(gone, "cleared")
                self.notify("cleared", timeout=3, markup=False)

        title = "Muted and acknowledged: choose one to clear it"
        self.app.push_screen(ChooserScreen(title, choices), chosen)
