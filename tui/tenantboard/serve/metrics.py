"""`/metrics`: the watcher's state in the Prometheus exposition format.

Each tenant's lines are made as its result comes (:meth:`Exposition.checked`, kept in
parts until the row changes again: :class:`LineParts`); at scrape time a
:class:`MetricsSnapshot` copies references to what the rows changed otherwise hold (cheap,
on the event loop), and a worker thread writes those tenants' lines, joins everyone's and
has prometheus_client write the rest, so a scrape of 100,000 tenants never holds up the
checks for long.

Per tenant (labels ``context_id``, ``env``, ``label``), named after Gatus's
``gatus_results_endpoint_success`` and Uptime Kuma's ``monitor_status``:

- ``tenantboard_tenant_state``: the state's documented number from the last answer
  (Unknown 0, Provisioning 1, Running 2, Deleted 3, Suspended 4, OnlineMaintenance 5,
  OfflineMaintenance 6, ProvisioningFailed 8, Deleting 10, DeleteFailed 11,
  MigrationPending 12; -1 for a state the API does not document).
- ``tenantboard_tenant_running``: IsRunning from the last answer, 1 or 0.
- ``tenantboard_tenant_check_success``: 1 when the last check got an answer, else 0.
- ``tenantboard_tenant_info{endpoint_host,version}``: always 1.
- ``tenantboard_tenant_valid_until_timestamp_seconds``,
  ``tenantboard_tenant_last_check_timestamp_seconds`` and
  ``tenantboard_tenant_next_check_timestamp_seconds`` (when the schedule plans the next
  check: a last check older than that, by more than a margin, means results went stale).

Overall: ``tenantboard_checks_total{result}`` (``ok`` or an error kind),
``tenantboard_check_duration_seconds`` (histogram), ``tenantboard_tenants{severity}``,
``tenantboard_notifications_total{hook,result}``, ``tenantboard_tenant_file_valid`` and
``tenantboard_outage`` (1 while the watcher cannot reach SuperOffice at all and probes
instead of checking each tenant: its own outage, not the tenants') and
``tenantboard_poller`` (1 while this process polls the tenant file, 0 while it follows).

Maintenance: per open window (labels ``window``, ``source``)
``tenantboard_maintenance_window_open`` (1), ``..._end_timestamp_seconds`` and
``..._tenants`` (how many it covers); and ``tenantboard_tenant_in_maintenance`` (1) for
each tenant a window covers now (present only then: join with ``unless on(context_id,
env)`` to leave planned work out of an alert).

Per version (releases.py; at most :data:`MAX_VERSION_SERIES` versions, the rest as
``version="other"``; ``version=""`` for answers that name none):
``tenantboard_version_tenants{version}`` and
``tenantboard_version_first_seen_timestamp_seconds{version}``. SuperOffice's pushed
changes: ``tenantboard_pushed_changes_total{result}`` (state_change.py's results).

Per group (groups.py): ``tenantboard_group_tenants{group_by,group,severity}``, tenants by
endpoint host, environment and tag, and severity (every severity of a group is there, 0
included; tenants with none in a dimension are the group ``none``; per version is
``tenantboard_version_tenants`` above). Label values stay bounded: at most
:data:`GROUP_LIMITS` groups per dimension, the largest, the rest added up as ``other``.
Hosts come from SuperOffice's answers and are few; tags come from the tenant file, a
tenant counting under each of its tags.

Host incidents (incidents.py): ``tenantboard_host_incidents_open``,
``tenantboard_host_incidents_total`` (opened since `serve` started) and, per open
incident, ``tenantboard_host_incident_tenants{host}`` (its tenants still bad); and
``tenantboard_tenant_in_host_incident{host}`` (1) for each tenant that is part of an open
incident (present only then: join with ``unless on(context_id, env)`` to leave its
tenants out of their own alerts, as the session holds back their own messages).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from tenantboard.answers import TenantState
from tenantboard.engine import CheckResult
from tenantboard.errors import ErrorKind
from tenantboard.groups import capped
from tenantboard.humanize import SEVERITY_WORDS, host_of
from tenantboard.maintenance import Window
from tenantboard.netaddr import TENANT_SERIES
from tenantboard.releases import VersionSummary
from tenantboard.rows import TenantRow
from tenantboard.serve.state_change import RESULTS as PUSHED_RESULTS
from tenantboard.serve.watcher import DURATION_BUCKETS, RESULT_OK, Watcher
from tenantboard.tenant import Tenant

TENANT_LABELS = ("context_id", "env", "label")
#: Versions given their own series; past it the versions with the fewest tenants are
#: summed as ``version="other"`` (answers are untrusted: a made-up version per answer must
#: not make a series each).
MAX_VERSION_SERIES = 50
OTHER_VERSIONS = "other"
#: Every value of checks_total's ``result`` label, present from the first scrape at 0 so
#: that rate() and absent() work before the first failure of a kind.
CHECK_RESULTS: tuple[str, ...] = (RESULT_OK, *(str(kind) for kind in ErrorKind))
#: The most groups per dimension ``tenantboard_group_tenants`` shows (the rest: ``other``).
GROUP_LIMITS = {"host": 100, "env": 10, "tag": 50}
OTHER_GROUP, NO_GROUP_LABEL = "other", "none"
STATE_HELP = (
    "The tenant's state as its documented number, from the last answer (Unknown 0, "
    "Provisioning 1, Running 2, Deleted 3, Suspended 4, OnlineMaintenance 5, "
    "OfflineMaintenance 6, ProvisioningFailed 8, Deleting 10, DeleteFailed 11, "
    "MigrationPending 12; -1 a state the API does not document)."
)


class TenantFacts(NamedTuple):
    """What one row holds, by reference: rows replace these objects, never mutate them.

    A named tuple, not a frozen dataclass: the first scrape makes one per tenant on the
    event loop, and a tuple is made in a third of the time (10,000: 6 ms, not 23 ms)."""

    key: str
    #: The row's revision: its formatted lines are reused until this changes.
    revision: int
    tenant: Tenant
    state: TenantState | None
    last: CheckResult | None
    version: str | None
    #: The tenant is not OK (:attr:`TenantRow.not_ok`, marked or in a window or not): its
    #: series are shown with ``--tenant-series attention`` too.
    attention: bool = False


def facts_of(row: TenantRow) -> TenantFacts:
    return TenantFacts(
        row.tenant.key,
        row.revision,
        row.tenant,
        row.state,
        row.last,
        row.version_label,
        row.not_ok,
    )


class WindowTally:
    """The tenants maintenance windows cover, counted as the rows are compared: every
    row is in a window through the nightly one, and counting them by window at 100,000
    tenants (hashing a window for each row) held the event loop 110-150 ms at once. Rows
    in a window share its object: a window is hashed once per run of rows in it."""

    def __init__(self) -> None:
        self.tenants: list[Tenant] = []
        self.counts: Counter[Window] = Counter()
        self._window: Window | None = None
        self._run = 0

    def add(self, tenant: Tenant, window: Window) -> None:
        self.tenants.append(tenant)
        if window is not self._window:
            self._close_run()
            self._window = window
        self._run += 1

    def covered(self) -> Counter[Window]:
        """Tenants by the window covering them."""
        self._close_run()
        return self.counts

    def _close_run(self) -> None:
        if self._window is not None:
            self.counts[self._window] += self._run
        self._window, self._run = None, 0


@dataclass(slots=True)
class TenantPart:
    """The per-tenant part of a snapshot."""

    #: Every tenant's key, in the list's order.
    keys: list[str]
    #: The tenants whose lines the exposition does not have yet (or has for an older
    #: revision).
    changed: list[TenantFacts]
    #: Tenants whose last check got an answer that says IsRunning (up, as the history and
    #: the availability rules count it).
    up: int
    #: The tenants a maintenance window covers, in the list's order, and how many each
    #: window covers.
    windows: WindowTally


#: Rows compared per slice of :func:`tenant_part_slices`: 10 to 12 ms on a loaded machine
#: (25,000 rows a slice held the loop 60 to 75 ms, sampled in-process at 100,000 tenants,
#: and 8,000 rows 20 to 25 ms, which with the rest of a busy turn of the loop came to 45
#: ms; each slice waits for a turn of the event loop, 10 to 30 ms while checks run back to
#: back).
SLICE_ROWS = 4_000


def tenant_part_slices(
    watcher: Watcher, exposition: Exposition
) -> Generator[None, None, TenantPart]:
    """Compare every row with the lines the exposition has, a slice of rows at a time
    (it yields between slices, where the server lets the event loop run: 100,000 rows
    take 20 to 50 ms). Rows replace what they hold, never change it, so a row read in a
    later slice is as consistent as one read in the first."""
    rows = watcher.model.rows
    listed = list(watcher.model.list_order)
    known = exposition.revisions()
    kept = exposition.lines()
    keys: list[str] = []
    changed: list[TenantFacts] = []
    windows = WindowTally()
    up = 0
    for start in range(0, len(listed), SLICE_ROWS):
        for key in listed[start : start + SLICE_ROWS]:
            row = rows.get(key)
            if row is None:
                continue  # removed since the slice before
            keys.append(key)
            if row.window is not None:
                windows.add(row.tenant, row.window)
            last, state = row.last, row.state
            if last is not None and last.error is None and state is not None and state.is_running:
                up += 1
            if known.get(key) != row.revision:
                if shows_the_same(kept.get(key), row):
                    known[key] = row.revision  # a change its lines do not show
                else:
                    changed.append(facts_of(row))
        yield
    return TenantPart(keys, changed, up, windows)


def shows_the_same(lines: TenantLines | None, row: TenantRow) -> bool:
    """The lines were made from what the row holds now: a row changed in nothing its
    lines show (its 24-hour uptime read each minute, a mark, a window) keeps them. Every
    minute's uptime read changed most rows' revisions, and the next scrape made 100,000
    tenants' facts and lines again (and as many objects for the garbage collector)."""
    return (
        lines is not None
        and lines.last is row.last
        and lines.state is row.state
        and lines.tenant is row.tenant
    )


def tenant_part(watcher: Watcher, exposition: Exposition) -> TenantPart:
    """:func:`tenant_part_slices` in one go (tests, :func:`render`)."""
    slices = tenant_part_slices(watcher, exposition)
    while True:
        try:
            next(slices)
        except StopIteration as done:
            return done.value


async def gather_tenant_part(watcher: Watcher, exposition: Exposition) -> TenantPart:
    """:func:`tenant_part_slices`, letting the event loop run between slices."""
    slices = tenant_part_slices(watcher, exposition)
    while True:
        try:
            next(slices)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    #: Every tenant's key, in the list's order.
    keys: list[str]
    #: The tenants whose lines the exposition does not have yet (or has for an older revision).
    changed: list[TenantFacts]
    content_type: str
    checks_by_result: dict[str, int]
    bucket_counts: tuple[int, ...]
    duration_sum: float
    severities: dict[str, int]
    notifications: dict[tuple[str, str], int]
    file_valid: bool
    #: The watcher's own outage (it cannot reach SuperOffice at all) is on.
    outage: bool = False
    #: This process holds the tenant file's lease: it records the history, sends alerts.
    polling: bool = True
    #: The maintenance windows open now, each with the number of tenants it covers.
    windows: tuple[tuple[Window, int], ...] = ()
    #: The tenants a window covers now.
    in_window: tuple[Tenant, ...] = ()
    #: (version label, tenants, first seen as Unix time or None), bounded.
    versions: tuple[tuple[str, int, float | None], ...] = ()
    pushed: dict[str, int] = field(default_factory=dict)
    #: (dimension, group, severity word) -> tenants, capped (:data:`GROUP_LIMITS`).
    groups: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: Each open host incident's host and tenants still bad.
    incidents_open: tuple[tuple[str, int], ...] = ()
    incidents_opened: int = 0
    #: The tenants that are part of an open host incident, each with the incident's host.
    in_incident: tuple[tuple[Tenant, str], ...] = ()
    #: See :attr:`TenantPart.up`.
    tenants_up: int = 0
    #: Unix time of the snapshot: a tenant past its planned check by then is shown with
    #: ``--tenant-series attention`` too.
    now: float = 0.0
    #: The library's encoder for what the scraper asked (its Accept header): Prometheus 3
    #: asks for OpenMetrics with UTF-8 names allowed, Prometheus 2 for OpenMetrics 1.0.
    encoder: Callable[[CollectorRegistry], bytes] = generate_latest


def take_snapshot(
    watcher: Watcher,
    exposition: Exposition,
    accept: str | None = None,
    notifications: Counter[tuple[str, str]] | None = None,
    pushed: Counter[str] | None = None,
    tenants: TenantPart | None = None,
) -> MetricsSnapshot:
    """Copy what the scrape needs: the list, the rows changed since the exposition last
    formatted them and the tenants in a maintenance window (``tenants``, gathered
    beforehand a slice at a time by the server; here in one go when not given). Runs on
    the event loop."""
    encoder, content_type = choose_encoder(accept or "")
    if tenants is None:
        tenants = tenant_part(watcher, exposition)
    keys, changed = tenants.keys, tenants.changed
    open_windows = watcher.session.maintenance.open
    covered = tenants.windows.covered()
    return MetricsSnapshot(
        windows=tuple((window, covered[window]) for window in open_windows),
        in_window=tuple(tenants.windows.tenants) if open_windows else (),
        keys=keys,
        changed=changed,
        content_type=content_type,
        encoder=encoder,
        checks_by_result=dict(watcher.stats.by_result),
        bucket_counts=tuple(watcher.stats.bucket_counts),
        duration_sum=watcher.stats.duration_sum,
        severities=dict(watcher.severity_counts()),
        notifications=dict(notifications or {}),
        file_valid=watcher.file_error is None,
        outage=watcher.session.monitor.outage is not None,
        polling=watcher.session.polling,
        versions=version_series(watcher.session.version_summaries()),
        pushed=dict(pushed or {}),
        groups=capped(watcher.session.groups.snapshot(), GROUP_LIMITS, OTHER_GROUP),
        incidents_open=tuple(
            (incident.host, incident.bad) for incident in watcher.session.incidents.open.values()
        ),
        incidents_opened=watcher.session.incidents.opened_total,
        in_incident=incident_members(watcher),
        tenants_up=tenants.up,
        now=watcher.clock.wall().timestamp(),
    )


def incident_members(watcher: Watcher) -> tuple[tuple[Tenant, str], ...]:
    """Each tenant of an open host incident (whose own messages the session holds back:
    :meth:`~tenantboard.incidents.IncidentDetector.holds`) with the incident's host."""
    rows = watcher.model.rows
    return tuple(
        (rows[key].tenant, incident.host)
        for incident in watcher.session.incidents.open.values()
        for key in sorted(incident.members)
        if key in rows
    )


def version_series(
    summaries: list[VersionSummary], limit: int = MAX_VERSION_SERIES
) -> tuple[tuple[str, int, float | None], ...]:
    """(version label, tenants, first seen) per version, at most ``limit`` of them: those
    with the most tenants; the others summed as :data:`OTHER_VERSIONS`."""
    ranked = sorted(summaries, key=lambda item: -item.tenants)
    kept, rest = ranked[:limit], ranked[limit:]
    series = [
        (item.version or "", item.tenants, item.first_seen.timestamp() if item.first_seen else None)
        for item in kept
    ]
    if rest:
        series.append((OTHER_VERSIONS, sum(item.tenants for item in rest), None))
    return tuple(series)


def _in_incident_family(snap: MetricsSnapshot) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "tenantboard_tenant_in_host_incident",
        "1 for each tenant that is part of an open host incident (by the incident's host): "
        "its own alerts are the incident's.",
        labels=[*TENANT_LABELS, "host"],
    )
    for tenant, host in snap.in_incident:
        family.add_metric([tenant.context_id, tenant.env, tenant.label, host], 1)
    return family


# -- per tenant ------------------------------------------------------------------------------

STATE, RUNNING, SUCCESS, INFO, VALID_UNTIL, LAST_CHECK, NEXT_CHECK = range(7)


def _tenant_families() -> list[Metric]:
    """The per-tenant families, empty, in the order of the indices above."""
    return [
        GaugeMetricFamily("tenantboard_tenant_state", STATE_HELP, labels=TENANT_LABELS),
        GaugeMetricFamily(
            "tenantboard_tenant_running",
            "IsRunning from the tenant's last answer: 1 running, 0 not.",
            labels=TENANT_LABELS,
        ),
        GaugeMetricFamily(
            "tenantboard_tenant_check_success",
            "1 when the tenant's last check got a valid answer, 0 when it failed.",
            labels=TENANT_LABELS,
        ),
        InfoMetricFamily(
            "tenantboard_tenant",
            "The tenant's endpoint host and version from its last answer.",
            labels=TENANT_LABELS,
        ),
        GaugeMetricFamily(
            "tenantboard_tenant_valid_until_timestamp_seconds",
            "ValidUntil of the tenant's last answer (when it is checked again), Unix time.",
            labels=TENANT_LABELS,
        ),
        GaugeMetricFamily(
            "tenantboard_tenant_last_check_timestamp_seconds",
            "When the tenant was last checked, successfully or not, Unix time.",
            labels=TENANT_LABELS,
        ),
        GaugeMetricFamily(
            "tenantboard_tenant_next_check_timestamp_seconds",
            "When the tenant's next check is planned (ValidUntil within the intervals, or "
            "the backoff after a failure), Unix time.",
            labels=TENANT_LABELS,
        ),
    ]


def tenant_samples(facts: TenantFacts) -> list[tuple[int, Any]]:
    """(family index, value) of each series one tenant has; none before its first check."""
    last = facts.last
    if last is None:
        return []
    samples: list[tuple[int, Any]] = [
        (SUCCESS, 0 if last.error else 1),
        (LAST_CHECK, last.checked_at.timestamp()),
    ]
    if last.next_check is not None:
        samples.append((NEXT_CHECK, last.checked_at.timestamp() + last.next_check.delay))
    answer = facts.state
    if answer is None:
        return samples
    code = answer.state_code
    samples.append((STATE, -1 if code is None else code))
    if answer.is_running is not None:
        samples.append((RUNNING, 1 if answer.is_running else 0))
    info = {"endpoint_host": host_of(answer.endpoint), "version": facts.version or ""}
    samples.append((INFO, info))
    if answer.valid_until is not None:
        samples.append((VALID_UNTIL, answer.valid_until.timestamp()))
    return samples


#: Each per-tenant family's sample name, by index: the same in both formats (the info
#: family is ``tenantboard_tenant`` in OpenMetrics, its samples ``tenantboard_tenant_info``).
SAMPLE_NAMES = (
    "tenantboard_tenant_state",
    "tenantboard_tenant_running",
    "tenantboard_tenant_check_success",
    "tenantboard_tenant_info",
    "tenantboard_tenant_valid_until_timestamp_seconds",
    "tenantboard_tenant_last_check_timestamp_seconds",
    "tenantboard_tenant_next_check_timestamp_seconds",
)


def _label_value(text: str) -> str:
    """A label value escaped as prometheus_client escapes it: backslash, newline, quote."""
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class LineParts(NamedTuple):
    """One tenant's sample lines in parts: family ``i``'s line is ``NAME_OPENINGS[i] +
    labels + values[i]``, the info family's ``values[INFO]`` whole (its labels are others);
    ``b""``: no line in that family. The labels are kept once, not in six lines, and the
    values most tenants share (``} 1.0\n``) are one object: about half the memory of the
    lines written out, for 100,000 tenants kept until their rows change."""

    labels: bytes
    values: tuple[bytes, ...]

    def line(self, index: int) -> bytes:
        value = self.values[index]
        if not value or index == INFO:
            return value
        return NAME_OPENINGS[index] + self.labels + value


#: Each per-tenant family's sample name and the brace that opens its labels.
NAME_OPENINGS = tuple(f"{name}{{".encode() for name in SAMPLE_NAMES)
#: The families whose values are few (state numbers, 0 and 1).
_FEW_VALUES = frozenset({STATE, RUNNING, SUCCESS})
#: Their value endings (``} 2.0\n``) by value: formatted once, one object each, shared by
#: every tenant with that value. Bounded: a made-up state number past it is formatted
#: each time.
_VALUE_ENDINGS: dict[float, bytes] = {}


def _value_ending(index: int, value: float) -> bytes:
    """The end of a sample line from its labels' closing brace: the value, as
    prometheus_client writes it, and the newline."""
    if index not in _FEW_VALUES:
        return f"}} {floatToGoString(value)}\n".encode()
    ending = _VALUE_ENDINGS.get(value)
    if ending is None:
        ending = f"}} {floatToGoString(value)}\n".encode()
        if len(_VALUE_ENDINGS) < 64:
            _VALUE_ENDINGS[value] = ending
    return ending


def tenant_line_parts(facts: TenantFacts) -> LineParts:
    """The tenant's sample line in each per-tenant family, in parts (:class:`LineParts`).

    Written here, not by prometheus_client's ``generate_latest``: for every sample the
    library checks and escapes each label name, sorts the labels and escapes each value,
    so the first scrape of 10,000 tenants (60,000 samples) spent 1.3 s of CPU in it (4.6 s
    under cProfile), most of it on labels that are the same for all of a tenant's series.
    Here they are escaped once per tenant, the values still through the library's
    ``floatToGoString``. The lines are the same in the text format and in OpenMetrics;
    tests/test_metrics.py checks that they are byte for byte what the library writes in
    both, and parses every series back with its parsers.
    """
    tenant = facts.tenant
    context_id = _label_value(tenant.context_id)
    env = _label_value(tenant.env)
    label = _label_value(tenant.label)
    labels = _labels(context_id, env, label)
    values = [b""] * len(SAMPLE_NAMES)
    for index, value in tenant_samples(facts):
        if index == INFO:  # labels sorted by name, as the library writes them
            values[index] = (
                f'{SAMPLE_NAMES[INFO]}{{context_id="{context_id}",'
                f'endpoint_host="{_label_value(value["endpoint_host"])}",env="{env}",'
                f'label="{label}",version="{_label_value(value["version"])}"}} 1.0\n'
            ).encode()
        else:
            values[index] = _value_ending(index, value)
    return LineParts(labels, tuple(values))


def tenant_labels(tenant: Tenant) -> bytes:
    """A tenant's labels as every per-tenant line writes them, between the braces."""
    return _labels(
        _label_value(tenant.context_id), _label_value(tenant.env), _label_value(tenant.label)
    )


def _labels(context_id: str, env: str, label: str) -> bytes:
    """The labels of a tenant's lines from its escaped label values."""
    return f'context_id="{context_id}",env="{env}",label="{label}"'.encode()


def tenant_lines(facts: TenantFacts) -> tuple[str, ...]:
    """The tenant's sample line in each per-tenant family ("" where it has none)."""
    parts = tenant_line_parts(facts)
    return tuple(parts.line(index).decode() for index in range(len(SAMPLE_NAMES)))


class TenantCollector(Collector):
    """The per-tenant families of some tenants (at scrape time only their headers are
    taken from it: the lines are :func:`tenant_lines`)."""

    def __init__(self, tenants: list[tuple[TenantFacts, list[tuple[int, Any]]]]) -> None:
        self.tenants = tenants

    def collect(self) -> Iterator[Metric]:
        families = _tenant_families()
        for facts, samples in self.tenants:
            labels = [facts.tenant.context_id, facts.tenant.env, facts.tenant.label]
            for index, value in samples:
                families[index].add_metric(labels, value)
        yield from families


# -- overall ---------------------------------------------------------------------------------


class OverallCollector(Collector):
    """The families that are not per tenant."""

    def __init__(self, snapshot: MetricsSnapshot, *, complete: bool = True) -> None:
        self.snapshot = snapshot
        #: Every checked tenant's series are in the exposition (``--tenant-series all``).
        self.complete = complete

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
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
        yield GaugeMetricFamily(
            "tenantboard_tenants_up",
            "Tenants whose last check got an answer that says IsRunning: up, as the history "
            "counts it (the fleet's availability, whichever tenant series are shown).",
            value=snap.tenants_up,
        )
        yield GaugeMetricFamily(
            "tenantboard_tenant_series_complete",
            "1 when every checked tenant has its per-tenant series (--tenant-series all); 0 "
            "when only the tenants that need attention or are past their planned check do.",
            value=1 if self.complete else 0,
        )
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
        yield GaugeMetricFamily(
            "tenantboard_outage",
            "1 while tenantboard cannot reach SuperOffice at all (its own outage: it probes "
            "instead of checking each tenant, and keeps each tenant's last state), else 0.",
            value=1 if snap.outage else 0,
        )
        yield GaugeMetricFamily(
            "tenantboard_poller",
            "1 while this process polls its tenant file (it records the history and sends the "
            "alerts), 0 while another process does and this one follows its history.",
            value=1 if snap.polling else 0,
        )
        yield from self._maintenance_families(snap)
        yield from self._version_families(snap)
        yield from self._group_families(snap)

    @staticmethod
    def _maintenance_families(snap: MetricsSnapshot) -> Iterator[Metric]:
        labels = ["window", "source"]
        open_now = GaugeMetricFamily(
            "tenantboard_maintenance_window_open",
            "1 for each maintenance window open now (SuperOffice's, the tenant file's, ad hoc).",
            labels=labels,
        )
        ends = GaugeMetricFamily(
            "tenantboard_maintenance_window_end_timestamp_seconds",
            "When each open maintenance window closes, Unix time.",
            labels=labels,
        )
        tenants = GaugeMetricFamily(
            "tenantboard_maintenance_window_tenants",
            "Tenants each open maintenance window covers now.",
            labels=labels,
        )
        for window, count in snap.windows:
            names = [window.name, window.source]
            open_now.add_metric(names, 1)
            ends.add_metric(names, window.closes.timestamp())
            tenants.add_metric(names, count)
        yield from (open_now, ends, tenants)

    @staticmethod
    def _group_families(snap: MetricsSnapshot) -> Iterator[Metric]:
        groups = GaugeMetricFamily(
            "tenantboard_group_tenants",
            "Tenants by group (group_by: host, env or tag) and severity; at most a bounded "
            "number of groups per group_by, the rest as group other.",
            labels=["group_by", "group", "severity"],
        )
        present = sorted({(dimension, value) for dimension, value, _ in snap.groups})
        for dimension, value in present:
            for severity in SEVERITY_WORDS.values():
                number = snap.groups.get((dimension, value, severity), 0)
                groups.add_metric([dimension, value or NO_GROUP_LABEL, severity], number)
        yield groups
        yield GaugeMetricFamily(
            "tenantboard_host_incidents_open",
            "Host incidents open now: many tenants of one endpoint host bad together.",
            value=len(snap.incidents_open),
        )
        yield CounterMetricFamily(
            "tenantboard_host_incidents",
            "Host incidents opened since serve started.",
            value=snap.incidents_opened,
        )
        members = GaugeMetricFamily(
            "tenantboard_host_incident_tenants",
            "Tenants of an open host incident that are still bad, by host.",
            labels=["host"],
        )
        for host, bad in sorted(snap.incidents_open):
            members.add_metric([host], bad)
        yield members
        yield _in_incident_family(snap)

    @staticmethod
    def _version_families(snap: MetricsSnapshot) -> Iterator[Metric]:
        tenants = GaugeMetricFamily(
            "tenantboard_version_tenants",
            'Tenants whose last answer names this version ("": none named; "other": the '
            "versions past the first 50, summed).",
            labels=["version"],
        )
        first_seen = GaugeMetricFamily(
            "tenantboard_version_first_seen_timestamp_seconds",
            "When this version was first seen on any tenant (the history's record), Unix time.",
            labels=["version"],
        )
        for version, count, seen in snap.versions:
            tenants.add_metric([version], count)
            if seen is not None:
                first_seen.add_metric([version], seen)
        yield tenants
        yield first_seen
        pushed = CounterMetricFamily(
            "tenantboard_pushed_changes",
            "Calls from SuperOffice's pushed changes by result: accepted (the tenant is "
            "re-checked), not_listed, malformed, refused (the token), replayed, unavailable "
            "(not set up, or cannot be checked).",
            labels=["result"],
        )
        for result in sorted(set(PUSHED_RESULTS) | set(snap.pushed)):
            pushed.add_metric([result], snap.pushed.get(result, 0))
        yield pushed

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


def _headers(text: str) -> list[str]:
    """The comment lines (HELP, TYPE) of each family in an exposition, in order."""
    headers: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# HELP "):
            headers.append(line)
        elif line.startswith("# ") and line != "# EOF\n":
            headers[-1] += line
    return headers


class TenantLines(NamedTuple):
    """One tenant's formatted lines, kept until its row changes."""

    revision: int
    #: Its lines in parts; None while not made (see ``facts``).
    parts: LineParts | None
    attention: bool
    #: When its next check is planned (Unix time), or None.
    next_check_at: float | None
    #: What to format the lines from when they are wanted, for a tenant whose lines are
    #: not made yet (``--tenant-series attention``: a tenant that is fine is formatted only
    #: once it is past its planned check); None once they are.
    facts: TenantFacts | None = None
    #: What they were made from (:func:`shows_the_same`).
    tenant: Tenant | None = None
    state: TenantState | None = None
    last: CheckResult | None = None

    @classmethod
    def of(cls, facts: TenantFacts, *, formatted: bool = True) -> TenantLines:
        last = facts.last
        planned = last.next_check if last is not None else None
        next_at = last.checked_at.timestamp() + planned.delay if last and planned else None
        parts = tenant_line_parts(facts) if formatted else None
        kept = None if formatted else facts
        return cls(
            facts.revision, parts, facts.attention, next_at, kept, facts.tenant, facts.state, last
        )


#: Tenants per piece of a streamed exposition.
PIECE_TENANTS = 25_000


class Exposition:
    """Formats snapshots, keeping each tenant's lines (:class:`TenantLines`) until its row
    changes: between two scrapes only the tenants checked since are formatted again, so a
    scrape of 100,000 tenants stays cheap. The families' headers and the overall families
    are prometheus_client's.

    ``tenant_series``: "all" shows every checked tenant's series; "attention" only those
    of the tenants that need attention (:attr:`TenantRow.not_ok`) or are past their planned
    check (unless our own outage holds every check back): the alert rules work either way
    (docs/serve.md, deploy/prometheus/tests).

    :meth:`render` runs in a worker thread; :meth:`revisions` is read on the event loop.
    """

    def __init__(self, tenant_series: str = "all") -> None:
        if tenant_series not in TENANT_SERIES:
            raise ValueError(f"tenant_series must be one of {', '.join(TENANT_SERIES)}")
        self.tenant_series = tenant_series
        self._lock = threading.Lock()
        #: tenant key -> its lines.
        self._lines: dict[str, TenantLines] = {}
        #: tenant key -> the row revision those lines show.
        self._revisions: dict[str, int] = {}
        #: content type -> the per-tenant families' HELP and TYPE lines.
        self._headers: dict[str, list[str]] = {}

    @property
    def complete(self) -> bool:
        """Every checked tenant's series are shown."""
        return self.tenant_series == "all"

    def revisions(self) -> dict[str, int]:
        return self._revisions

    def lines(self) -> dict[str, TenantLines]:
        return self._lines

    def checked(self, rows: Iterable[TenantRow]) -> None:
        """Format the lines of rows just checked, on the event loop as their results come
        (15 to 30 microseconds a tenant): a scrape then only joins them, and the first
        scrape after the start-up pass is no longer 100,000 tenants formatted at once
        (1.5 s of CPU, 11 s on a busy machine, and as many objects for the garbage
        collector). Skipped while a scrape holds the lines: that scrape, or the next,
        finds the rows by their revisions."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            lines, revisions = self._lines, self._revisions
            for row in rows:
                key = row.tenant.key
                if revisions.get(key, -1) < row.revision:
                    facts = facts_of(row)
                    wanted = self.complete or facts.attention
                    lines[key] = TenantLines.of(facts, formatted=wanted)
                    revisions[key] = facts.revision
        finally:
            self._lock.release()

    def render(self, snapshot: MetricsSnapshot) -> tuple[Iterator[bytes], str]:
        """The exposition (text format, or OpenMetrics) and its content type. The lines are
        brought up to date here; the exposition itself comes as pieces made one at a time
        while it is sent (each in a worker thread, see server.py): 80 MB made at once,
        every scrape, grew the process by tens of megabytes a scrape (the allocator keeps
        what large short-lived buffers leave)."""
        content_type = snapshot.content_type
        encoder = snapshot.encoder
        with self._lock:
            headers = self._headers.get(content_type)
            if headers is None:
                headers = _headers(_encode(encoder, TenantCollector([])))
                self._headers[content_type] = headers
            self._update(snapshot)
            shown = self._shown(snapshot)  # immutable entries: read on without the lock
        return self._pieces(headers, shown, snapshot, encoder), content_type

    def _pieces(
        self,
        headers: list[str],
        shown: list[TenantLines],
        snapshot: MetricsSnapshot,
        encoder: Callable[[CollectorRegistry], bytes],
    ) -> Iterator[bytes]:
        """Family by family, :data:`PIECE_TENANTS` tenants' lines a piece."""
        made = [entry.parts for entry in shown if entry.parts is not None]
        for index, header in enumerate(headers):
            yield header.encode()
            opening = NAME_OPENINGS[index]
            for start in range(0, len(made), PIECE_TENANTS):
                chunk = made[start : start + PIECE_TENANTS]
                if index == INFO:
                    piece = b"".join([parts.values[INFO] for parts in chunk])
                else:
                    pieces: list[bytes] = []
                    for parts in chunk:
                        if value := parts.values[index]:
                            pieces += (opening, parts.labels, value)
                    piece = b"".join(pieces)
                if piece:
                    yield piece
        yield from self._in_window_pieces(snapshot.in_window, encoder)
        yield _encode(encoder, OverallCollector(snapshot, complete=self.complete)).encode()

    def _in_window_pieces(
        self, tenants: tuple[Tenant, ...], encoder: Callable[[CollectorRegistry], bytes]
    ) -> Iterator[bytes]:
        """``tenantboard_tenant_in_maintenance``, written as the per-tenant lines are (with
        the labels they keep): every tenant is in the nightly window, and 100,000 samples
        through prometheus_client took the worker thread half a second of the interpreter
        (the event loop waits for it between its own system calls) and left 100,000
        objects a scrape for the garbage collector."""
        yield "".join(_headers(_encode(encoder, _InMaintenanceHeader()))).encode()
        lines = self._lines
        for start in range(0, len(tenants), PIECE_TENANTS):
            pieces: list[bytes] = []
            for tenant in tenants[start : start + PIECE_TENANTS]:
                kept = lines.get(tenant.key)
                if kept is not None and kept.parts is not None and kept.tenant is tenant:
                    labels = kept.parts.labels
                else:
                    labels = tenant_labels(tenant)
                pieces += (IN_MAINTENANCE_OPENING, labels, b"} 1.0\n")
            yield b"".join(pieces)

    def _update(self, snapshot: MetricsSnapshot) -> None:
        lines, revisions = self._lines, self._revisions
        for facts in snapshot.changed:
            # Two scrapes may overlap: a snapshot taken earlier but rendered later must
            # not put back older lines (revisions only grow).
            if revisions.get(facts.key, -1) < facts.revision:
                wanted = self.complete or facts.attention
                lines[facts.key] = TenantLines.of(facts, formatted=wanted)
                revisions[facts.key] = facts.revision
        if len(lines) > len(snapshot.keys):
            listed = set(snapshot.keys)
            for key in [key for key in lines if key not in listed]:
                del lines[key]
                revisions.pop(key, None)

    def _shown(self, snapshot: MetricsSnapshot) -> list[TenantLines]:
        lines = self._lines
        if self.complete:
            return [lines[key] for key in snapshot.keys if key in lines]
        # Past its planned check: shown, so that the stale-results alert sees it (its lines
        # made now). Not in our own outage, when every tenant is (tenantboard_outage says).
        due = 0.0 if snapshot.outage else snapshot.now
        shown = []
        for key in snapshot.keys:
            entry = lines.get(key)
            if entry is None:
                continue
            late = entry.next_check_at is not None and entry.next_check_at < due
            if entry.attention or late:
                if entry.facts is not None:
                    entry = lines[key] = TenantLines.of(entry.facts)
                shown.append(entry)
        return shown


IN_MAINTENANCE = "tenantboard_tenant_in_maintenance"
IN_MAINTENANCE_OPENING = f"{IN_MAINTENANCE}{{".encode()


class _InMaintenanceHeader(Collector):
    """The in-maintenance family with no samples: its HELP and TYPE lines (the lines are
    :meth:`Exposition._in_window_pieces`)."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            IN_MAINTENANCE,
            "1 for each tenant a maintenance window covers now: its changes are planned.",
            labels=TENANT_LABELS,
        )


def _encode(encoder: Callable[[CollectorRegistry], bytes], collector: Collector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return encoder(registry).decode()


def render(
    watcher: Watcher,
    accept: str | None = None,
    notifications: Any = None,
    tenant_series: str = "all",
) -> tuple[bytes, str]:
    """One exposition with nothing kept, in one piece (tests; the server keeps an
    :class:`Exposition` and streams its pieces)."""
    exposition = Exposition(tenant_series)
    pieces, content_type = exposition.render(
        take_snapshot(watcher, exposition, accept, notifications)
    )
    return b"".join(pieces), content_type
