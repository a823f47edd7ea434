"""Check results built by hand, for the watcher, metrics, hook and server tests."""

from __future__ import annotations

from datetime import timedelta

from tenantboard.answers import State, TenantState
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import Settings, TenantList
from tenantboard.watcher import Watcher
from tests.conftest import FIXED_NOW


def answer_state(
    tenant: Tenant,
    state: State | None = State.Running,
    *,
    raw: str | None = None,
    host: str = "online3.superoffice.com",
    is_running: bool | None = None,
    version: str | None = None,
) -> TenantState:
    running = state.is_running if is_running is None and state is not None else is_running
    return TenantState(
        context_id=tenant.context_id,
        state=state,
        state_raw=raw or (state.name if state is not None else "Hibernating"),
        is_running=running,
        endpoint=f"https://{host}/{tenant.context_id}",
        api=f"https://{host}/{tenant.context_id}/api",
        valid_until=FIXED_NOW + timedelta(minutes=5),
        valid_until_raw="2026-03-02T09:35:00.0000000Z",
        version=version,
    )


def ok(tenant: Tenant, state: State | None = State.Running, *, at: float = 0, **fields) -> CheckResult:
    return CheckResult(
        tenant=tenant,
        state=answer_state(tenant, state, **fields),
        error=None,
        checked_at=FIXED_NOW + timedelta(seconds=at),
        duration=0.07,
    )


def failed(tenant: Tenant, kind: ErrorKind = ErrorKind.TIMEOUT, *, at: float = 0) -> CheckResult:
    return CheckResult(
        tenant=tenant,
        state=None,
        error=CheckError(kind, f"{kind} happened", status=503 if kind is ErrorKind.UNAVAILABLE else None),
        checked_at=FIXED_NOW + timedelta(seconds=at),
        duration=3.0,
    )


class IdleClient:
    """Stands in for the HTTP client of a watcher whose monitor never runs."""

    async def aclose(self) -> None:
        return None


def idle_watcher(tenants: list[Tenant], **options) -> Watcher:
    """A watcher fed by hand (``record``): no checks, no network."""
    return Watcher(IdleClient(), TenantList(list(tenants)), Settings(), **options)  # type: ignore[arg-type]
