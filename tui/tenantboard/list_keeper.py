"""Keeping a session's tenant list (and its alert hooks) and the tenant file in step (UI-free).

Changes made in the board are saved at once, off the event loop, starting from the file
as it is on disk; changes made elsewhere are noticed by the file's fingerprint. In the
demo there is no file and the list lives in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from tenantboard.tenant import Tenant
from tenantboard.tenant_file import NotifyHook, StoreError, TenantList, TenantStore

ChangeKind = Literal["add", "edit", "remove"]


def apply_change(
    tenants: list[Tenant], change: ChangeKind, tenant: Tenant, old: Tenant | None = None
) -> list[Tenant]:
    """The in-memory version of the store's add, edit and remove."""
    if change == "add":
        return [*tenants, tenant]
    if change == "edit":
        assert old is not None
        return [tenant if t.key == old.key else t for t in tenants]
    return [t for t in tenants if t.key != tenant.key]


class ListKeeper:
    def __init__(
        self,
        store: TenantStore | None,
        tenants: list[Tenant],
        hooks: Sequence[NotifyHook] = (),
        commands_refused: str | None = None,
    ) -> None:
        self.store = store
        self.tenants = list(tenants)
        #: The ``[[notify]]`` hooks as the file last had them (it may change them alone).
        self.hooks = tuple(hooks)
        #: Why the file's command hooks are not run, as it was last read (None: they are).
        self.commands_refused = commands_refused
        self._fingerprint = store.fingerprint() if store else None
        #: The file was there once: it is not begun anew by an add while it is gone (the
        #: list it had would be replaced by one tenant).
        self._had_file = self._fingerprint is not None
        #: The file's last change could not be read (True until a change that can be).
        self.unreadable = False

    @property
    def saves_to_file(self) -> bool:
        return self.store is not None

    async def change(
        self, change: ChangeKind, tenant: Tenant, old: Tenant | None = None
    ) -> list[Tenant]:
        """Apply and save one change; raises ValueError (refused, conflict) or StoreError.

        Edits and removals carry the tenant as the operator saw it, so a tenant changed
        in the file meanwhile is refused rather than overwritten.
        """
        store = self.store
        if store is None:
            tenants = apply_change(self.tenants, change, tenant, old)
        elif change == "add":
            tenants = await asyncio.to_thread(store.add, [tenant], create=not self._had_file)
        elif change == "edit":
            assert old is not None
            tenants = await asyncio.to_thread(store.replace, old.key, tenant, expected=old)
        else:
            tenants = await asyncio.to_thread(store.remove, [tenant.key], expected=[tenant])
        if store is not None:
            self._fingerprint = store.fingerprint()
            self._had_file = True
            self.unreadable = False
        self.tenants = tenants
        return tenants

    def reload_if_changed(self, *, force: bool = False) -> TenantList | None:
        """The tenant file as it now is, when it changed since it was last read or saved
        here (``force``: in any case, e.g. on serve's SIGHUP); else None. Blocking (call it
        in a thread).

        Raises StoreError (once per change of the file) when the file cannot be read;
        :attr:`unreadable` says so until a change that can be read.
        """
        store = self.store
        if store is None:
            return None
        fingerprint = store.fingerprint()
        if fingerprint == self._fingerprint and not force:
            return None
        self._fingerprint = fingerprint
        self.unreadable = True
        if fingerprint is None:
            # Deleted or moved away (often for a moment, by an editor or a sync tool): the
            # list is kept, and when the file is back its tenants keep their history.
            raise StoreError(store.path, "the tenant file is gone (deleted or moved away)")
        tenant_list = store.load()
        self._had_file = True
        self.unreadable = False
        self.hooks = tuple(tenant_list.notify)
        self.commands_refused = tenant_list.commands_refused
        self.tenants = list(tenant_list.tenants)
        return tenant_list
