"""The command palette's tenant search: each tenant by name, choosing one goes to it."""

from __future__ import annotations

from functools import partial
from typing import Protocol

from textual.command import Hit, Hits, Provider

from tenantboard.rows import BoardModel

#: Tenants offered at most for one query: enough to choose from, quick with 10,000.
MAX_TENANT_HITS = 50


class HasTenants(Protocol):
    model: BoardModel

    def jump_to(self, key: str) -> None: ...


class TenantCommands(Provider):
    """Each tenant by name in the command palette: choosing one puts the cursor on it."""

    async def search(self, query: str) -> Hits:
        board: HasTenants = self.app.board  # type: ignore[attr-defined]
        matcher = self.matcher(query)
        found = 0
        for key in board.model.list_order:
            tenant = board.model.rows[key].tenant
            text = f"{tenant.display_name} ({tenant.context_id}, {tenant.env})"
            score = matcher.match(text)
            if score > 0:
                found += 1
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(board.jump_to, key),
                    help="go to this tenant",
                )
                if found >= MAX_TENANT_HITS:
                    return
