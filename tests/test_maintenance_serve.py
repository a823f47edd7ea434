"""`serve` and maintenance windows: /metrics, /api/tenants (check --json's shape), the
snapshot and the event stream."""

from __future__ import annotations

import json
from datetime import UTC, time

import pytest

from tenantboard.answers import State
from tenantboard.maintenance import MaintenancePlan, Rule, Scope, SuperOfficeWindows
from tenantboard.serve.metrics import render
from tenantboard.tenant import Tenant
from tests.conftest import FakeClock
from tests.serve_helpers import idle_watcher, ok
from tests.test_metrics import scrape, tenant_labels

ONLINE = Tenant("Cust1", "online", "Acme")
SOD = Tenant("Cust2", "sod", "Beta")
#: 09:00-11:00 UTC every day, for sod: open at the fake clock's 09:30.
DEPLOY = Rule(
    "file", "sod deploys", UTC, time(9), until=time(11), scope=Scope(envs=frozenset({"sod"}))
)
PLAN = MaintenancePlan(SuperOfficeWindows(windows=frozenset()), (DEPLOY,))


def watcher_in_a_window():
    clock = FakeClock()
    watcher = idle_watcher([ONLINE, SOD], clock=clock, maintenance=PLAN)
    for tenant in (ONLINE, SOD):
        watcher.record(ok(tenant, State.Running))
    return watcher, clock


def test_metrics_say_which_windows_are_open_and_which_tenants_are_in_one() -> None:
    watcher, _ = watcher_in_a_window()
    samples = scrape(watcher)
    window = (("source", "file"), ("window", "sod deploys"))
    assert samples["tenantboard_maintenance_window_open"] == {window: 1.0}
    assert samples["tenantboard_maintenance_window_tenants"] == {window: 1.0}
    end = samples["tenantboard_maintenance_window_end_timestamp_seconds"][window]
    assert end == FakeClock().wall().replace(hour=11, minute=0).timestamp()
    assert samples["tenantboard_tenant_in_maintenance"] == {tenant_labels(SOD): 1.0}


def test_metrics_have_no_window_series_when_none_is_open() -> None:
    watcher = idle_watcher([ONLINE], clock=FakeClock(), maintenance=MaintenancePlan(
        SuperOfficeWindows(windows=frozenset())
    ))  # fmt: skip
    watcher.record(ok(ONLINE, State.Running))
    samples = scrape(watcher)
    assert "tenantboard_maintenance_window_open" not in samples
    assert "tenantboard_tenant_in_maintenance" not in samples


def test_api_tenants_and_the_snapshot_say_when_a_tenant_is_in_a_window() -> None:
    watcher, clock = watcher_in_a_window()
    online, sod = json.loads(watcher.tenants_text())
    assert online["maintenance"] is None
    assert sod["maintenance"]["name"] == "sod deploys"
    assert sod["maintenance"]["covers"] == {"envs": ["sod"]}
    snapshot = json.loads(watcher.snapshot_text())
    assert [w["name"] for w in snapshot["maintenance"]] == ["sod deploys"]
    assert [t["maintenance"] is not None for t in snapshot["tenants"]] == [False, True]

    listener = watcher.hub.subscribe()
    clock.advance(2 * 3600)  # 11:30: closed
    watcher.session.look_at_windows()
    kinds = [event.kind for event in listener._pending]
    assert "maintenance" in kinds
    (closed,) = [json.loads(e.data) for e in listener._pending if e.kind == "maintenance"]
    assert closed == {"open": []}
    assert json.loads(watcher.tenants_text())[1]["maintenance"] is None


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text; version=1.0.0"])
@pytest.mark.parametrize("tenant_series", ["all", "attention"])
def test_the_in_maintenance_lines_are_what_prometheus_client_writes(accept, tenant_series) -> None:
    """They are written as the per-tenant lines are (100,000 samples through the library
    held the interpreter half a second a scrape in the nightly window): byte for byte the
    library's, odd labels too, for tenants whose own lines are kept and those whose are not
    (not checked yet, or fine with ``--tenant-series attention``)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.registry import CollectorRegistry

    odd = Tenant("Cust3", "sod", 'new\nline, "quotes", back\\slash\\n, ünïcødé ✔')
    unchecked = Tenant("Cust4", "sod", "not yet")
    watcher = idle_watcher([ONLINE, SOD, odd, unchecked], clock=FakeClock(), maintenance=PLAN)
    for tenant in (ONLINE, SOD, odd):
        watcher.record(ok(tenant, State.Running))
    watcher.session.look_at_windows()
    body, _ = render(watcher, accept, tenant_series=tenant_series)
    family = GaugeMetricFamily(
        "tenantboard_tenant_in_maintenance",
        "1 for each tenant a maintenance window covers now: its changes are planned.",
        labels=["context_id", "env", "label"],
    )
    covered = [row.tenant for row in watcher.model.rows.values() if row.window is not None]
    assert {tenant.key for tenant in covered} >= {SOD.key, odd.key}
    for tenant in covered:
        family.add_metric([tenant.context_id, tenant.env, tenant.label], 1)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(type("One", (), {"collect": lambda self: [family]})())
    library = choose_encoder(accept or "")[0](registry).decode().removesuffix("# EOF\n")
    assert library in body.decode()
