"""What the board knows about each tenant, kept up to date from check results.

Pure and UI-free: the widgets read it, the app feeds it. It keeps the last result, the
last good answer, the session's history of state changes and endpoint moves, the
version-info cache, and the counts the header shows.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tenantboard.client import VersionAnswer
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError
from tenantboard.model import Severity, TenantState
from tenantboard.store import Tenant

HISTORY_LIMIT = 200
ERROR_BUCKET = "error"
PENDING_BUCKET = "not checked yet"


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    kind: str  # "state", "endpoint", "failure", "recovery"
    text: str


@dataclass(slots=True)
class VersionEntry:
    endpoint: str | None
    answer: VersionAnswer | None
    error: CheckError | None
    fetched_at: datetime
    #: The check count when fetched: never fetch more often than the state is checked.
    check_number: int


@dataclass(slots=True)
class TenantRow:
    tenant: Tenant
    last: CheckResult | None = None
    #: The last successful answer; kept while later checks fail, so the row still says
    #: what was last known.
    state: TenantState | None = None
    checks: int = 0
    running_checks: int = 0
    endpoint_moved: bool = False
    history: deque[Event] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    version: VersionEntry | None = None
    #: Bumped on every change, so a widget can cache what it drew for this row.
    revision: int = 0

    @property
    def error(self) -> CheckError | None:
        return self.last.error if self.last else None

    @property
    def severity(self) -> Severity | None:
        """None while never checked; UNKNOWN while the last check failed."""
        if self.last is None:
            return None
        if self.last.error is not None or self.state is None:
            return Severity.UNKNOWN
        return self.state.severity

    @property
    def bucket(self) -> str:
        """What the header counts this row as: a state name, errors, or not yet checked."""
        if self.last is None:
            return PENDING_BUCKET
        if self.last.error is not None or self.state is None:
            return ERROR_BUCKET
        return self.state.state_name

    @property
    def version_label(self) -> str | None:
        entry = self.version
        if entry and entry.answer and entry.endpoint == (self.state and self.state.endpoint):
            info = entry.answer.info
            return info.netserver_version or info.label
        if self.state is None or not self.state.version:
            return None
        return self.state.version.removeprefix("Release_").removeprefix("Release")

    def version_is_stale(self) -> bool:
        """True when version info should be (re)fetched for the current endpoint."""
        if self.state is None or not self.state.is_running:
            return False
        entry = self.version
        if entry is None:
            return True
        outdated = entry.endpoint != self.state.endpoint or entry.error is not None
        return outdated and entry.check_number < self.checks


class BoardModel:
    """All rows, in the list's order, and the per-bucket counts."""

    def __init__(self, tenants: Iterable[Tenant]) -> None:
        self.rows: dict[str, TenantRow] = {}
        self.order: list[str] = []
        self._position: dict[str, int] = {}
        self.counts: Counter[str] = Counter()
        self.set_tenants(tenants)

    def __len__(self) -> int:
        return len(self.order)

    def row_at(self, index: int) -> TenantRow | None:
        if 0 <= index < len(self.order):
            return self.rows[self.order[index]]
        return None

    def index_of(self, key: str) -> int | None:
        return self._position.get(key)

    def set_tenants(self, tenants: Iterable[Tenant]) -> None:
        """Adopt the list's order; rows of tenants still listed keep what they know."""
        rows: dict[str, TenantRow] = {}
        for tenant in tenants:
            row = self.rows.get(tenant.key)
            if row is None:
                row = TenantRow(tenant)
            else:
                row.tenant = tenant
                row.revision += 1
            rows[tenant.key] = row
        self.rows = rows
        self.order = list(rows)
        self._position = {key: index for index, key in enumerate(self.order)}
        self.counts = Counter(row.bucket for row in rows.values())

    def apply(self, result: CheckResult) -> TenantRow | None:
        """Record one result; returns the row, or None for a tenant no longer listed."""
        row = self.rows.get(result.tenant.key)
        if row is None:
            return None
        self.counts[row.bucket] -= 1
        previous_state = row.state
        failed_before = row.last is not None and row.last.error is not None
        row.last = result
        row.checks += 1
        row.revision += 1
        if result.error is None and result.state is not None:
            row.state = result.state
            self._note_changes(row, previous_state, result, failed_before)
        elif not failed_before:
            message = result.error.message if result.error else "no answer"
            row.history.append(Event(result.checked_at, "failure", f"check failed: {message}"))
        self.counts[row.bucket] += 1
        if self.counts[row.bucket] == 0:
            del self.counts[row.bucket]
        return row

    def _note_changes(
        self,
        row: TenantRow,
        before: TenantState | None,
        result: CheckResult,
        failed_before: bool,
    ) -> None:
        after = result.state
        assert after is not None
        at = result.checked_at
        if failed_before:
            row.history.append(Event(at, "recovery", "checks succeed again"))
        if before is None or before.state_name != after.state_name:
            was = f"{before.state_name} → " if before else ""
            row.history.append(Event(at, "state", f"{was}{after.state_name}"))
        moved = before is not None and before.endpoint != after.endpoint
        row.endpoint_moved = moved and bool(before and before.endpoint and after.endpoint)
        if moved:
            row.history.append(
                Event(
                    at, "endpoint", f"endpoint {before.endpoint or '-'} → {after.endpoint or '-'}"
                )
            )

    def set_version(
        self,
        key: str,
        endpoint: str | None,
        answer: VersionAnswer | None,
        error: CheckError | None,
        at: datetime,
    ) -> TenantRow | None:
        row = self.rows.get(key)
        if row is None:
            return None
        row.version = VersionEntry(endpoint, answer, error, at, row.checks)
        row.revision += 1
        return row

    def pending(self) -> int:
        return self.counts.get(PENDING_BUCKET, 0)
