"""What the help screen and the command palette say about each action, and the palette's
tenant search."""

from __future__ import annotations

from functools import partial
from typing import Protocol

from textual.command import Hit, Hits, Provider

from tenantboard.rows import BoardModel

ACTION_HELP: dict[str, str] = {
    "refresh": "refresh the selected tenant now, ahead of everything merely due",
    "refresh_all": "refresh every tenant",
    "toggle_detail": "open or close the detail pane",
    "close_detail": "close the detail pane",
    "add_tenant": "add a tenant (saved to the tenant file at once)",
    "edit_tenant": "edit the selected tenant",
    "remove_tenant": "remove the selected tenant (asks first)",
    "filter": "filter as you type: context id, label, host or state (escape clears)",
    "attention": "show only tenants that need attention, or every tenant again",
    "cycle_sort": "sort: list order, worst first, name, environment, next check",
    "toggle_log": "show or hide the event log",
    "toggle_pause": "pause or resume refreshing",
    "change_theme": "choose a theme (remembered)",
    "help": "this help",
    "quit": "quit",
}

#: Tenants offered at most for one query: enough to choose from, quick with 10,000.
MAX_TENANT_HITS = 50


class HasTenants(Protocol):
    model: BoardModel

    def jump_to(self, key: str) -> None: ...


class TenantCommands(Provider):
    """Each tenant by name in the command palette: choosing one puts the cursor on it."""

    async def search(self, query: str) -> Hits:
        app: HasTenants = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        found = 0
        for key in app.model.list_order:
            tenant = app.model.rows[key].tenant
            text = f"{tenant.display_name} ({tenant.context_id}, {tenant.env})"
            score = matcher.match(text)
            if score > 0:
                found += 1
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(app.jump_to, key),
                    help="go to this tenant",
                )
                if found >= MAX_TENANT_HITS:
                    return
