"""Managing the list on the board: add, edit and remove, each saved by the session at once.

A mixin of :class:`~tenantboard.ui.screens.board.BoardScreen`: the forms and the confirmation
are the board's; the change itself (saved atomically, refused when someone changed the
tenant in the file meanwhile) is :meth:`Session.change_list`'s.
"""

from __future__ import annotations

from typing import Any

from tenantboard.list_keeper import ChangeKind
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import StoreError
from tenantboard.ui.screens.tenant_form import ConfirmScreen, TenantForm


class ListActions:
    """``a`` add, ``e`` edit, ``delete`` remove."""

    # Provided by BoardScreen.
    session: Any
    model: Any
    table: Any
    app: Any

    def _is_taken(self, tenant: Tenant) -> bool:
        return tenant.key in self.model.rows

    def _selected_tenant(self) -> Tenant | None:
        row = self.model.rows.get(self.table.cursor_key or "")
        return row.tenant if row else None

    def action_add_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        self.app.push_screen(TenantForm(is_taken=self._is_taken), self._added)

    def _added(self, tenant: Tenant | None) -> None:
        if tenant is not None:
            self.run_worker(self._change_list("add", tenant), group="list")

    def action_edit_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        tenant = self._selected_tenant()
        if tenant is None:
            return

        def edited(new: Tenant | None) -> None:
            if new is not None and new != tenant:
                self.run_worker(self._change_list("edit", new, tenant), group="list")

        self.app.push_screen(TenantForm(is_taken=self._is_taken, tenant=tenant), edited)

    def action_remove_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        tenant = self._selected_tenant()
        if tenant is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._change_list("remove", tenant), group="list")

        question = (
            f"Remove {tenant.display_name} ({tenant.context_id}, {tenant.env}) from the list?"
        )
        self.app.push_screen(ConfirmScreen(question), confirmed)

    async def _change_list(
        self, change: ChangeKind, tenant: Tenant, old: Tenant | None = None
    ) -> None:
        """Save one change at once (the session does, off the event loop), then show it."""
        try:
            await self.session.change_list(change, tenant, old)
        except (ValueError, StoreError) as exc:
            self.alert(f"not saved: {exc}")
            return
        if change != "remove":
            self.jump_to(tenant.key)
        verb = {"add": "added", "edit": "saved", "remove": "removed"}[change]
        where = "" if self.session.keeper.saves_to_file else " (demo: not saved to a file)"
        self.notify(f"{verb} {tenant.display_name}{where}", timeout=4, markup=False)
