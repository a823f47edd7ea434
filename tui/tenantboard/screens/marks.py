"""Mute and acknowledge, on the board: the keys, the chooser, the marks in rows and the log.

A mixin of :class:`~tenantboard.screens.board.BoardScreen` (it uses the board's model,
history writer, marks and log); kept apart so the board's module stays readable.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from tenantboard.eventlog import LoggedEvent
from tenantboard.history import HistoryError, Mark, Observation, current_user
from tenantboard.humanize import SEVERITY_WORDS
from tenantboard.rows import TenantRow
from tenantboard.screens.chooser import ChooserScreen
from tenantboard.session_history import mark_text

#: How long ``m`` can mute for: (choice id, text, hours; None: until the state changes).
MUTE_CHOICES: tuple[tuple[str, str, float | None], ...] = (
    ("1h", "for 1 hour", 1),
    ("8h", "for 8 hours", 8),
    ("24h", "for 24 hours", 24),
    ("change", "until its state changes", None),
)


class MarkActions:
    """``m`` mute, ``A`` acknowledge, ``M`` the list of marks; expiry and the log entries."""

    # Provided by BoardScreen (see its __init__).
    model: Any
    clock: Any
    app: Any
    table: Any
    marks: Any
    writer: Any
    detail_key: str | None

    def action_mute(self) -> None:
        row = self._row_to_mark()
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
        row = self._row_to_mark()
        if row is None:
            return
        if not row.needs_attention and row.mark is None:
            self.notify("nothing to acknowledge: this tenant is ok", timeout=3, markup=False)
            return
        self.add_mark(row.tenant.key, "ack", None)

    def _row_to_mark(self) -> TenantRow | None:
        row = self.model.rows.get(self.table.cursor_key or "")
        if row is None:
            return None
        if row.last is None:
            self.notify("not checked yet: nothing to silence", timeout=3, markup=False)
            return None
        return row

    def add_mark(self, key: str, kind: str, until: datetime | None) -> None:
        """Mute or acknowledge: written to the history database (in the writer's thread);
        kept in memory only when there is none, or it cannot be written."""
        row = self.model.rows.get(key)
        if row is None or row.last is None:
            return
        label = Observation.from_result(row.last).label
        now = self.clock.wall()
        if self.writer is None:
            self._mark_added(self._memory_mark(key, kind, label, now, until), saved=False)
            return
        future: Future[Mark] = self.writer.call(
            lambda db: db.add_mark(key, kind, label, now, until=until)
        )
        self.run_worker(
            self._await_mark(future, (key, kind, label, now, until)),
            group="marks",
            exit_on_error=False,
        )

    def _memory_mark(
        self, key: str, kind: str, label: str, now: datetime, until: datetime | None
    ) -> Mark:
        return Mark(next(self._local_mark_ids), key, kind, now, until, current_user(), label)

    async def _await_mark(self, future: Future[Mark], wanted: tuple) -> None:
        try:
            mark = await asyncio.wrap_future(future)
        except HistoryError as exc:
            self.notify(
                f"history: not saved ({exc.detail}); kept until the board closes",
                severity="warning",
                timeout=10,
                markup=False,
            )
            self._mark_added(self._memory_mark(*wanted), saved=False)
            return
        self._mark_added(mark, saved=True)

    def _mark_added(self, mark: Mark, *, saved: bool) -> None:
        self.marks.add(mark)
        self._show_mark_of(mark.key)
        row = self.model.rows.get(mark.key)
        name = row.tenant.display_name if row else mark.key
        self._log([self._mark_event(mark, name, mark_text(mark))])
        self.notify(f"{name}: {mark_text(mark)}", timeout=4, markup=False)
        if self.model.view.attention_only:
            self.apply_view()

    def _mark_event(self, mark: Mark, name: str, text: str) -> LoggedEvent:
        row = self.model.rows.get(mark.key)
        return LoggedEvent(
            at=self.clock.wall(),
            key=mark.key,
            name=name,
            kind="mark",
            text=text,
            severity=SEVERITY_WORDS[row.severity if row else None],
        )

    def _show_mark_of(self, key: str) -> None:
        """The row's mark follows the marks in force."""
        row = self.model.rows.get(key)
        if row is None:
            return
        kinds = {mark.kind for mark in self.marks.of(key)}
        mark = "mute" if "mute" in kinds else "ack" if kinds else None
        if row.mark != mark:
            row.mark = mark
            row.bump()
            self._redraw_key(key)
        if key == self.detail_key:
            self.show_detail_of_cursor_row(fetch=False)

    def _end_expired_marks(self) -> None:
        """Marks whose time is up, or whose tenant's outcome changed, end (logged)."""
        if not self.marks.by_key:
            return
        labels = {}
        for key in self.marks.by_key:
            row = self.model.rows.get(key)
            if row is not None:
                labels[key] = Mark.compared_label(row.last)
        ended = self.marks.ended(self.clock.wall(), labels)
        if ended:
            self._end_marks(ended, "ended")

    def _end_marks(self, ended: list[Mark], why: str) -> None:
        now = self.clock.wall()
        self.marks.remove(mark.id for mark in ended)
        saved = [mark.id for mark in ended if mark.id > 0]
        if self.writer is not None and saved:
            self.writer.call(lambda db: [db.end_mark(mark_id, now) for mark_id in saved])
        events = []
        for mark in ended:
            self._show_mark_of(mark.key)
            row = self.model.rows.get(mark.key)
            name = row.tenant.display_name if row else mark.key
            what = "mute" if mark.kind == "mute" else "acknowledgement"
            events.append(self._mark_event(mark, name, f"{what} {why} ({mark_text(mark)})"))
        self._log(events)
        if self.model.view.attention_only:
            self.apply_view()

    def action_list_marks(self) -> None:
        marks = self.marks.all()
        if not marks:
            self.notify("no tenant is muted or acknowledged", timeout=3, markup=False)
            return
        choices = []
        for mark in marks:
            row = self.model.rows.get(mark.key)
            name = row.tenant.display_name if row else mark.key
            choices.append((str(mark.id), f"{name}: {mark_text(mark)}"))

        def chosen(choice: str | None) -> None:
            gone = [mark for mark in self.marks.all() if str(mark.id) == choice]
            if gone:
                self._end_marks(gone, "cleared")
                self.notify("cleared", timeout=3, markup=False)

        title = "Muted and acknowledged: choose one to clear it"
        self.app.push_screen(ChooserScreen(title, choices), chosen)
