"""Maintenance windows on the board: start an ad hoc one, list the open ones, end one early.

A mixin of :class:`~tenantboard.ui.screens.board.BoardScreen`. The windows themselves (saved
in the history database, read by every session on the tenant file, shown on rows and in
the header, making changes planned) are the session's: :meth:`Session.start_window`,
:meth:`Session.end_window`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tenantboard.maintenance import EVERYTHING, Scope, Window, tenant_host
from tenantboard.ui.screens.chooser import ChooserScreen

#: How long ``w`` starts a window for: (choice id, text, length).
WINDOW_LENGTHS: tuple[tuple[str, str, timedelta], ...] = (
    ("30m", "for 30 minutes", timedelta(minutes=30)),
    ("1h", "for 1 hour", timedelta(hours=1)),
    ("2h", "for 2 hours", timedelta(hours=2)),
    ("4h", "for 4 hours", timedelta(hours=4)),
    ("8h", "for 8 hours", timedelta(hours=8)),
)


class MaintenanceActions:
    """``w`` starts a window (this tenant, the shown ones, its host, every tenant),
    ``W`` lists the open ones and ends an ad hoc one."""

    # Provided by BoardScreen.
    session: Any
    model: Any
    clock: Any
    app: Any
    table: Any

    def action_start_window(self) -> None:
        if self._windows_on_the_server():
            return
        choices, scopes = self._window_scopes()

        def chosen(choice: str | None) -> None:
            scope = scopes.get(choice or "")
            if scope is not None:
                self._choose_length(scope, dict(choices)[choice or ""])

        self.app.push_screen(
            ChooserScreen("Maintenance window: for which tenants?", choices), chosen
        )

    def _window_scopes(self) -> tuple[list[tuple[str, str]], dict[str, Scope]]:
        """What ``w`` offers: the selected tenant, the tenants shown (when that is not all
        of them), the selected tenant's host, every tenant."""
        model = self.model
        row = model.rows.get(self.table.cursor_key or "")
        choices: list[tuple[str, str]] = []
        scopes: dict[str, Scope] = {}
        if row is not None:
            choices.append(("tenant", f"this tenant: {row.tenant.display_name}"))
            scopes["tenant"] = Scope(keys=frozenset({row.tenant.key}))
        if 0 < model.shown < model.total:  # tenants, not lines: grouped, headers are lines
            choices.append(("shown", f"the {model.shown} tenants shown"))
            scopes["shown"] = Scope(keys=frozenset(model.order))
        host = tenant_host(row.last_endpoint) if row is not None else None
        if host:
            choices.append(("host", f"every tenant on its host, {host}"))
            scopes["host"] = Scope(hosts=frozenset({host}))
        choices.append(("all", f"every tenant ({model.total})"))
        scopes["all"] = EVERYTHING
        return choices, scopes

    def _choose_length(self, scope: Scope, what: str) -> None:
        def chosen(choice: str | None) -> None:
            for choice_id, _, length in WINDOW_LENGTHS:
                if choice == choice_id:
                    self.run_worker(
                        self._start_window(scope, length), group="windows", exit_on_error=False
                    )

        choices = [(choice_id, text) for choice_id, text, _ in WINDOW_LENGTHS]
        self.app.push_screen(ChooserScreen(f"Maintenance window: {what}", choices), chosen)

    async def _start_window(self, scope: Scope, length: timedelta) -> None:
        window, saved = await self.session.start_window(scope, length)
        now = self.clock.wall()
        self.notify(
            f"maintenance window started: {scope.describe()}, {window.until_text(now)}; "
            "their changes are planned",
            timeout=5,
            markup=False,
        )
        if not saved and self.session.writer is not None:
            self.notify(
                "history: the window was not saved; kept until the board closes",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def action_list_windows(self) -> None:
        if self._windows_on_the_server():
            return
        now = self.clock.wall()
        windows: tuple[Window, ...] = self.session.maintenance.open
        if not windows:
            self.notify("no maintenance window is open", timeout=3, markup=False)
            return
        choices = []
        for index, window in enumerate(windows):
            end = "; choose it to end it now" if window.source == "adhoc" else ""
            choices.append((str(index), f"{window.describe(now)}: {window.scope.describe()}{end}"))

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            window = windows[int(choice)]
            if window.source != "adhoc":
                self.notify(
                    f"{window.name} comes from {window.source_text}: change it in the tenant "
                    "file ([[maintenance]] or [superoffice_maintenance])",
                    timeout=6,
                    markup=False,
                )
                return
            self.run_worker(self._end_window(window), group="windows", exit_on_error=False)

        title = "Maintenance windows open now (ad hoc ones can be ended)"
        self.app.push_screen(ChooserScreen(title, choices), chosen)

    async def _end_window(self, window: Window) -> None:
        await self.session.end_window(window)
        self.notify(f"maintenance window ended: {window.name}", timeout=4, markup=False)

    def _windows_on_the_server(self) -> bool:
        target = self.session.config.attach
        if target is None:
            return False
        self.notify(
            f"maintenance windows are the server's ({target.url}): start or end them with "
            "`tenantboard maintenance` where its tenant file is",
            severity="warning",
            timeout=6,
            markup=False,
        )
        return True
