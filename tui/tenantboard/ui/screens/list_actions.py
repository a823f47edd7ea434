"""Managing the list on the board: add, edit and remove, each saved by the session at once.

A mixin of :class:`~tenantboard.ui.screens.board.BoardScreen`: the forms and the confirmation
are the board's; the change itself (saved atomically, refused when someone changed the
tenant in the file meanwhile) is :meth:`Session.change_list`'s.
"""

from __future__ import annotations

from typing import Any

from tenantboard.list_keeper import ChangeKind
from tenantboard.rows import TenantRow
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

    def _selected_row(self, doing: str) -> TenantRow | None:
        """The row under the cursor; on a group's header line None, and said why."""
        row = self.model.rows.get(self.table.cursor_key or "")
        if row is None and self.table.cursor_header is not None:
            self.notify(
                f"the cursor is on a group's header line: move to a tenant to {doing}",
                timeout=4,
                markup=False,
            )
        return row

    def _selected_tenant(self, doing: str) -> Tenant | None:
        row = self._selected_row(doing)
        return row.tenant if row else None

    def action_add_tenant(self) -> None:
        if self._on_the_server("list"):
            return

        async def save(tenant: Tenant) -> None:
            await self.session.change_list("add", tenant)

        def added(tenant: Tenant | None) -> None:
            if tenant is not None:
                self._changed_list("add", tenant)

        self.app.push_screen(TenantForm(is_taken=self._is_taken, save=save), added)

    def action_edit_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        tenant = self._selected_tenant("edit it")
        if tenant is None:
            return

        async def save(new: Tenant) -> None:
            await self.session.change_list("edit", new, tenant)

        def edited(new: Tenant | None) -> None:
            if new is not None:
                self._changed_list("edit", new)

        form = TenantForm(is_taken=self._is_taken, save=save, tenant=tenant)
        self.app.push_screen(form, edited)

    def action_remove_tenant(self) -> None:
        if self._on_the_server("list"):
            return
        tenant = self._selected_tenant("remove it")
        if tenant is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._remove(tenant), group="list")

        question = (
            f"Remove {tenant.display_name} ({tenant.context_id}, {tenant.env}) from the list?"
        )
        self.app.push_screen(ConfirmScreen(question), confirmed)

    async def _remove(self, tenant: Tenant) -> None:
        """Remove at once (the session saves, off the event loop), then say so. (The form
        saves an add or an edit itself: refused, it stays open with what was typed.)"""
        try:
            await self.session.change_list("remove", tenant)
        except (ValueError, StoreError) as exc:
            self.alert(f"not saved: {exc}")
            return
        self._changed_list("remove", tenant)

    def _changed_list(self, change: ChangeKind, tenant: Tenant) -> None:
        """A change saved: the cursor on the tenant (added or edited), and a word."""
        if change != "remove":
            self.jump_to(tenant.key)
        verb = {"add": "added", "edit": "saved", "remove": "removed"}[change]
        where = "" if self.session.keeper.saves_to_file else " (demo: not saved to a file)"
        self.notify(f"{verb} {tenant.display_name}{where}", timeout=4, markup=False)
