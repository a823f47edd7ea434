"""`serve` and maintenance windows: /metrics, /api/tenants (check --json's shape), the
snapshot and the event stream."""

from __future__ import annotations

import json
from datetime import UTC, time

from tenantboard.answers import State
from tenantboard.maintenance import MaintenancePlan, Rule, Scope, SuperOfficeWindows
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
