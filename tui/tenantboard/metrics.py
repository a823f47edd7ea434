"""`/metrics`: the watcher's state in the Prometheus exposition format.

Nothing is counted per check beyond the watcher's own small tallies: at scrape time a
:class:`MetricsSnapshot` copies references to what each row holds (cheap, on the event
loop), and a custom collector turns it into metric families in a worker thread, so a
scrape of 10,000 tenants is one pass that never holds up the checks.

Per tenant (labels ``context_id``, ``env``, ``label``), named after Gatus's
``gatus_results_endpoint_success`` and Uptime Kuma's ``monitor_status``:

- ``tenantboard_tenant_state``: the state's documented number from the last answer
  (Unknown 0, Provisioning 1, Running 2, Deleted 3, Suspended 4, OnlineMaintenance 5,
  OfflineMaintenance 6, ProvisioningFailed 8, Deleting 10, DeleteFailed 11,
  MigrationPending 12; -1 for a state the API does not document).
- ``tenantboard_tenant_running``: IsRunning from the last answer, 1 or 0.
- ``tenantboard_tenant_check_success``: 1 when the last check got an answer, else 0.
- ``tenantboard_tenant_info{endpoint_host,version}``: always 1.
- ``tenantboard_tenant_valid_until_timestamp_seconds`` and
  ``tenantboard_tenant_last_check_timestamp_seconds``.

Overall: ``tenantboard_checks_total{result}`` (``ok`` or an error kind),
``tenantboard_check_duration_seconds`` (histogram), ``tenantboard_tenants{severity}``,
``tenantboard_notifications_total{hook,result}`` and ``tenantboard_tenant_file_valid``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from tenantboard.answers import TenantState
from tenantboard.engine import CheckResult
from tenantboard.errors import ErrorKind
from tenantboard.humanize import SEVERITY_WORDS, host_of
from tenantboard.tenant import Tenant
from tenantboard.watcher import DURATION_BUCKETS, RESULT_OK, Watcher

TENANT_LABELS = ("context_id", "env", "label")
#: Every value of checks_total's ``result`` label, present from the first scrape at 0 so
#: that rate() and absent() work before the first failure of a kind.
CHECK_RESULTS: tuple[str, ...] = (RESULT_OK, *(str(kind) for kind in ErrorKind))
STATE_HELP = (
    "The tenant's state as its documented number, from the last answer (Unknown 0, "
    "Provisioning 1, Running 2, Deleted 3, Suspended 4, OnlineMaintenance 5, "
    "OfflineMaintenance 6, ProvisioningFailed 8, Deleting 10, DeleteFailed 11, "
    "MigrationPending 12; -1 a state the API does not document)."
)


@dataclass(frozen=True, slots=True)
class TenantFacts:
    """What one row holds, by reference: rows replace these objects, never mutate them."""

    tenant: Tenant
    state: TenantState | None
    last: CheckResult | None
    version: str | None


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    tenants: list[TenantFacts]
    checks_by_result: dict[str, int]
    bucket_counts: tuple[int, ...]
    duration_sum: float
    severities: dict[str, int]
    notifications: dict[tuple[str, str], int]
    file_valid: bool


def take_snapshot(
    watcher: Watcher, notifications: Counter[tuple[str, str]] | None = None
) -> MetricsSnapshot:
    """Copy what the scrape needs; runs on the event loop and takes milliseconds."""
    rows = watcher.model.rows
    return MetricsSnapshot(
        tenants=[
            TenantFacts(row.tenant, row.state, row.last, row.version_label)
            for row in (rows[key] for key in watcher.model.list_order)
        ],
        checks_by_result=dict(watcher.stats.by_result),
        bucket_counts=tuple(watcher.stats.bucket_counts),
        duration_sum=watcher.stats.duration_sum,
        severities=dict(watcher.severity_counts()),
        notifications=dict(notifications or {}),
        file_valid=watcher.file_error is None,
    )


class SnapshotCollector(Collector):
    """Yields the metric families of one snapshot."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        yield from self._tenant_families(snap)
        checks = CounterMetricFamily(
            "tenantboard_checks",
            "Checks of tenants' state by result: ok, or the error kind.",
            labels=["result"],
        )
        for result in sorted(set(CHECK_RESULTS) | set(snap.checks_by_result)):
            checks.add_metric([result], snap.checks_by_result.get(result, 0))
        yield checks
        yield self._duration_family(snap)
        tenants = GaugeMetricFamily(
            "tenantboard_tenants",
            "Tenants by severity (pending: not checked yet).",
            labels=["severity"],
        )
        for severity in SEVERITY_WORDS.values():
            tenants.add_metric([severity], snap.severities.get(severity, 0))
        yield tenants
        notifications = CounterMetricFamily(
            "tenantboard_notifications",
            "Alert hook messages by result: sent, failed (after retries), dropped (queue "
            "full); silenced counts tenant changes that a mute held back.",
            labels=["hook", "result"],
        )
        for (hook, result), count in sorted(snap.notifications.items()):
            notifications.add_metric([hook, result], count)
        yield notifications
        yield GaugeMetricFamily(
            "tenantboard_tenant_file_valid",
            "1 while the tenant file can be used; 0 after a change that does not parse.",
            value=1 if snap.file_valid else 0,
        )

    @staticmethod
    def _duration_family(snap: MetricsSnapshot) -> HistogramMetricFamily:
        cumulative = []
        total = 0
        for bound, count in zip(
            [*(f"{bound:g}" for bound in DURATION_BUCKETS), "+Inf"], snap.bucket_counts, strict=True
        ):
            total += count
            cumulative.append((bound, total))
        return HistogramMetricFamily(
            "tenantboard_check_duration_seconds",
            "Time one check of a tenant's state took, start to finish.",
            buckets=cumulative,
            sum_value=snap.duration_sum,
        )

    @staticmethod
    def _tenant_families(snap: MetricsSnapshot) -> Iterator[Metric]:
        state = GaugeMetricFamily("tenantboard_tenant_state", STATE_HELP, labels=TENANT_LABELS)
        running = GaugeMetricFamily(
            "tenantboard_tenant_running",
            "IsRunning from the tenant's last answer: 1 running, 0 not.",
            labels=TENANT_LABELS,
        )
        success = GaugeMetricFamily(
            "tenantboard_tenant_check_success",
            "1 when the tenant's last check got a valid answer, 0 when it failed.",
            labels=TENANT_LABELS,
        )
        info = InfoMetricFamily(
            "tenantboard_tenant",
            "The tenant's endpoint host and version from its last answer.",
            labels=TENANT_LABELS,
        )
        valid_until = GaugeMetricFamily(
            "tenantboard_tenant_valid_until_timestamp_seconds",
            "ValidUntil of the tenant's last answer (when it is checked again), Unix time.",
            labels=TENANT_LABELS,
        )
        last_check = GaugeMetricFamily(
            "tenantboard_tenant_last_check_timestamp_seconds",
            "When the tenant was last checked, successfully or not, Unix time.",
            labels=TENANT_LABELS,
        )
        for facts in snap.tenants:
            last = facts.last
            if last is None:
                continue
            tenant = facts.tenant
            labels = [tenant.context_id, tenant.env, tenant.label]
            success.add_metric(labels, 0 if last.error else 1)
            last_check.add_metric(labels, last.checked_at.timestamp())
            answer = facts.state
            if answer is None:
                continue
            code = answer.state_code
            state.add_metric(labels, -1 if code is None else code)
            is_running = answer.is_running
            if is_running is not None:
                running.add_metric(labels, 1 if is_running else 0)
            info.add_metric(
                labels,
                {
                    "endpoint_host": host_of(answer.endpoint),
                    "version": facts.version or "",
                },
            )
            if answer.valid_until is not None:
                valid_until.add_metric(labels, answer.valid_until.timestamp())
        yield from (state, running, success, info, valid_until, last_check)


def render(snapshot: MetricsSnapshot, accept: str | None) -> tuple[bytes, str]:
    """The exposition (text format, or OpenMetrics when asked for) and its content type.

    Pure and thread-safe: runs in a worker thread.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
