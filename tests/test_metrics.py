"""/metrics: the exposition parsed back with prometheus_client's own parser."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from tenantboard.answers import State
from tenantboard.connectivity import Outage
from tenantboard.errors import ErrorKind
from tenantboard.schedule import NextCheck
from tenantboard.serve.metrics import (
    CHECK_RESULTS,
    SAMPLE_NAMES,
    Exposition,
    render,
    take_snapshot,
)
from tenantboard.tenant import Tenant
from tests.conftest import FIXED_NOW, FakeClock
from tests.serve_helpers import failed, idle_watcher, ok

STATE_TENANTS = [
    Tenant(f"Cust{100 + int(state)}", "online", f"state {state.name}") for state in State
]
ERROR_TENANTS = [
    Tenant(f"Cust{200 + index}", "sod", f"error {kind}") for index, kind in enumerate(ErrorKind)
]
ODD = Tenant("Cust300", "stage", 'quote " backslash \\ and <script>')
PENDING = Tenant("Cust301", "online", "never checked")


def scrape(watcher, notifications=None, accept=None) -> dict[str, dict[tuple, float]]:
    body, content_type = render(watcher, accept, notifications)
    assert content_type.startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def joined(rendered: tuple[list[bytes], str]) -> tuple[bytes, str]:
    """An exposition the server streams in pieces, in one."""
    pieces, content_type = rendered
    return b"".join(pieces), content_type


def tenant_labels(tenant: Tenant, **extra: str) -> tuple:
    return tuple(
        sorted(
            {
                "context_id": tenant.context_id,
                "env": tenant.env,
                "label": tenant.label,
                **extra,
            }.items()
        )
    )


@pytest.fixture
def watcher():
    watcher = idle_watcher([*STATE_TENANTS, *ERROR_TENANTS, ODD, PENDING])
    for state, tenant in zip(State, STATE_TENANTS, strict=True):
        watcher.record(ok(tenant, state, version="Release_11.10_2026.02.24-02"))
    for kind, tenant in zip(ErrorKind, ERROR_TENANTS, strict=True):
        watcher.record(failed(tenant, kind))
    watcher.record(ok(ODD, None, raw="Hibernating", host="app.superoffice.com"))
    return watcher


def test_every_documented_state_is_its_number_and_running_follows_it(watcher) -> None:
    samples = scrape(watcher)
    for state, tenant in zip(State, STATE_TENANTS, strict=True):
        labels = tenant_labels(tenant)
        assert samples["tenantboard_tenant_state"][labels] == int(state)
        assert samples["tenantboard_tenant_running"][labels] == (1 if state.is_running else 0)
        assert samples["tenantboard_tenant_check_success"][labels] == 1
        assert (
            samples["tenantboard_tenant_last_check_timestamp_seconds"][labels]
            == FIXED_NOW.timestamp()
        )
        assert (
            samples["tenantboard_tenant_valid_until_timestamp_seconds"][labels]
            == FIXED_NOW.timestamp() + 300
        )
        info = tenant_labels(
            tenant, endpoint_host="online3.superoffice.com", version="11.10_2026.02.24-02"
        )
        assert samples["tenantboard_tenant_info"][info] == 1


def test_an_undocumented_state_is_minus_one_and_odd_labels_survive_escaping(watcher) -> None:
    samples = scrape(watcher)
    assert samples["tenantboard_tenant_state"][tenant_labels(ODD)] == -1
    info = tenant_labels(ODD, endpoint_host="app.superoffice.com", version="")
    assert samples["tenantboard_tenant_info"][info] == 1


def test_every_error_kind_is_counted_and_marks_the_tenant_failed(watcher) -> None:
    samples = scrape(watcher)
    checks = samples["tenantboard_checks_total"]
    assert {dict(labels)["result"] for labels in checks} == set(CHECK_RESULTS)
    assert checks[(("result", "ok"),)] == len(STATE_TENANTS) + 1
    for kind, tenant in zip(ErrorKind, ERROR_TENANTS, strict=True):
        assert checks[(("result", str(kind)),)] == 1
        labels = tenant_labels(tenant)
        assert samples["tenantboard_tenant_check_success"][labels] == 0
        assert labels not in samples["tenantboard_tenant_state"]  # never answered: no state


def test_a_tenant_not_checked_yet_has_no_series_but_is_counted_pending(watcher) -> None:
    samples = scrape(watcher)
    for name, series in samples.items():
        if name.startswith("tenantboard_tenant_"):
            assert not any(
                dict(labels).get("context_id") == PENDING.context_id for labels in series
            )
    severities = Counter(state.severity.name.lower() for state in State)
    tenants = {
        dict(labels)["severity"]: value for labels, value in samples["tenantboard_tenants"].items()
    }
    assert tenants == {
        "ok": severities["ok"],
        "warning": severities["warning"],
        "critical": severities["critical"],
        "unknown": len(ERROR_TENANTS) + 1,
        "pending": 1,
    }


def test_the_next_planned_check_is_exported_so_that_staleness_can_be_alerted_on(watcher) -> None:
    """Prometheus compares ``time()`` with it (deploy/prometheus: TenantboardResultsStale):
    the last check plus the schedule's delay, whether after an answer or a failure."""
    answered, failing = STATE_TENANTS[2], ERROR_TENANTS[0]
    watcher.record(replace(ok(answered, at=60), next_check=NextCheck(300, "ValidUntil")))
    watcher.record(replace(failed(failing, at=61), next_check=NextCheck(45, "retry")))
    series = scrape(watcher)["tenantboard_tenant_next_check_timestamp_seconds"]
    assert series[tenant_labels(answered)] == FIXED_NOW.timestamp() + 60 + 300
    assert series[tenant_labels(failing)] == FIXED_NOW.timestamp() + 61 + 45
    # a result with no plan (a one-shot check) has none
    assert tenant_labels(STATE_TENANTS[3]) not in series


def test_the_watchers_own_outage_is_a_gauge(watcher) -> None:
    assert scrape(watcher)["tenantboard_outage"][()] == 0
    watcher.session.monitor.outage = Outage(since=FIXED_NOW, reason="connection refused", tenants=3)
    assert scrape(watcher)["tenantboard_outage"][()] == 1
    watcher.session.monitor.outage = None
    assert scrape(watcher)["tenantboard_outage"][()] == 0


def test_durations_make_a_cumulative_histogram(watcher) -> None:
    samples = scrape(watcher)
    buckets = {
        dict(labels)["le"]: value
        for labels, value in samples["tenantboard_check_duration_seconds_bucket"].items()
    }
    answered, failures = len(STATE_TENANTS) + 1, len(ERROR_TENANTS)
    assert buckets["0.05"] == 0
    assert buckets["0.1"] == answered  # 0.07 s each
    assert buckets["2.5"] == answered
    assert buckets["5"] == buckets["+Inf"] == answered + failures  # 3 s each
    assert samples["tenantboard_check_duration_seconds_count"][()] == answered + failures
    assert samples["tenantboard_check_duration_seconds_sum"][()] == pytest.approx(
        answered * 0.07 + failures * 3.0
    )


def test_notifications_and_the_tenant_file_are_reported(watcher) -> None:
    counts = Counter({("ops", "sent"): 3, ("ops", "failed"): 1, ("ops", "dropped"): 0})
    samples = scrape(watcher, counts)
    notifications = samples["tenantboard_notifications_total"]
    assert notifications[(("hook", "ops"), ("result", "sent"))] == 3
    assert notifications[(("hook", "ops"), ("result", "failed"))] == 1
    assert samples["tenantboard_tenant_file_valid"][()] == 1
    watcher.session.file_problem = "tenants.toml:3: not valid TOML"
    assert scrape(watcher)["tenantboard_tenant_file_valid"][()] == 0


def test_openmetrics_when_the_scraper_asks_for_it(watcher) -> None:
    body, content_type = render(
        watcher, "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"
    )
    assert content_type.startswith("application/openmetrics-text")
    families = {family.name: family for family in parse_openmetrics(body.decode())}
    assert families["tenantboard_checks"].type == "counter"
    assert families["tenantboard_tenant"].type == "info"
    assert families["tenantboard_check_duration_seconds"].type == "histogram"


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text; version=1.0.0"])
def test_lines_kept_between_scrapes_follow_every_change(watcher, accept) -> None:
    exposition = Exposition()
    first = joined(exposition.render(take_snapshot(watcher, exposition, accept)))
    assert first == render(watcher, accept)
    assert take_snapshot(watcher, exposition, accept).changed == []  # nothing to format again
    watcher.record(ok(STATE_TENANTS[2], State.Suspended, at=60))
    watcher.record(ok(PENDING, at=60))
    listed = [row.tenant for row in watcher.model.rows.values()]
    watcher.session.adopt_tenants([t for t in listed if t != ERROR_TENANTS[0]], source="file")
    snapshot = take_snapshot(watcher, exposition, accept)
    assert {facts.key for facts in snapshot.changed} == {STATE_TENANTS[2].key, PENDING.key}
    again = joined(exposition.render(snapshot))
    assert again == render(watcher, accept) != first
    assert (
        b'context_id="Cust200"' not in again[0] and b'context_id="Cust201"' in again[0]
    )  # removed from the list: gone


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "application/openmetrics-text; version=1.0.0",
        # Prometheus 3: OpenMetrics with UTF-8 names allowed (ours are ASCII: the same lines)
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.2",
    ],
)
def test_tenant_lines_are_byte_for_byte_what_prometheus_client_writes(watcher, accept) -> None:
    """The per-tenant lines are written by hand for speed (metrics.tenant_lines): they must
    be exactly what the library's own encoder makes of the same samples, in both formats."""
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.registry import CollectorRegistry

    from tenantboard.serve.metrics import TenantCollector, tenant_lines, tenant_samples

    odd = Tenant("Cust302", "stage", 'new\nline, "quotes", back\\slash\\n, ünïcødé ✔')
    listed = [row.tenant for row in watcher.model.rows.values()]
    watcher.session.adopt_tenants([*listed, odd], source="file")
    planned = NextCheck(90.5, "ValidUntil")
    watcher.record(
        replace(
            ok(odd, version='11.10 "beta" \\ \n', host="odd.superoffice.com", at=0.25),
            next_check=planned,
        )
    )
    snapshot = take_snapshot(watcher, Exposition(), accept)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TenantCollector([(f, tenant_samples(f)) for f in snapshot.changed]))
    encoder, _ = choose_encoder(accept or "")
    library = encoder(registry).decode().removesuffix("# EOF\n")
    ours = [tenant_lines(facts) for facts in snapshot.changed]
    families = library.split("# HELP ")[1:]
    assert len(families) == len(ours[0])
    for index, family in enumerate(families):
        samples = [line + "\n" for line in family.splitlines() if not line.startswith("#")][1:]
        assert samples == [mine[index] for mine in ours if mine[index]]
    # and every series parses back, with the odd label and version as they were
    body = render(watcher, accept)[0].decode()
    parse = parse_openmetrics if accept else text_string_to_metric_families
    series = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in parse(body)
        for sample in family.samples
    }
    count = sum(len([line for line in mine if line]) for mine in ours)
    per_tenant = [key for key in series if dict(key[1]).get("context_id")]
    assert len(per_tenant) == count
    info = tenant_labels(odd, endpoint_host="odd.superoffice.com", version='11.10 "beta" \\ \n')
    assert series[("tenantboard_tenant_info", info)] == 1
    assert series[("tenantboard_tenant_last_check_timestamp_seconds", tenant_labels(odd))] == (
        FIXED_NOW.timestamp() + 0.25
    )
    assert series[("tenantboard_tenant_next_check_timestamp_seconds", tenant_labels(odd))] == (
        FIXED_NOW.timestamp() + 0.25 + 90.5
    )


def test_a_scrape_rendered_late_does_not_bring_back_older_lines(watcher) -> None:
    """Scrapes overlap: the one whose snapshot is oldest finishes after a newer one, and a
    third, taken between, counts on the newer lines being kept."""
    exposition = Exposition()
    exposition.render(take_snapshot(watcher, exposition))
    watcher.record(ok(STATE_TENANTS[2], State.Suspended, at=60))
    older = take_snapshot(watcher, exposition)
    watcher.record(ok(STATE_TENANTS[2], State.Deleted, at=120))
    exposition.render(take_snapshot(watcher, exposition))
    third = take_snapshot(watcher, exposition)
    assert third.changed == []
    exposition.render(older)
    assert joined(exposition.render(third)) == render(watcher)


# -- --tenant-series attention -------------------------------------------------------------------


def per_tenant(samples: dict[str, dict[tuple, float]]) -> set[str]:
    """The context ids that have any per-tenant series."""
    return {
        dict(labels)["context_id"]
        for name, series in samples.items()
        if name in SAMPLE_NAMES
        for labels in series
    }


def scrape_mode(watcher, tenant_series: str) -> dict[str, dict[tuple, float]]:
    body, _ = render(watcher, tenant_series=tenant_series)
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_with_tenant_series_attention_only_tenants_not_ok_have_series() -> None:
    """At 100,000 tenants seven series each are 700,000 (Prometheus's own guidance is to
    keep a metric's cardinality in the tens): a team may keep only those of the tenants
    that need attention. What an alert needs of them is all there; the fleet's figures
    are there either way."""
    running, suspended, failing = (Tenant(f"Cust{n}", "online", f"t{n}") for n in (1, 2, 3))
    mismatch, maintenance = Tenant("Cust4", "online", "t4"), Tenant("Cust5", "online", "t5")
    watcher = idle_watcher([running, suspended, failing, mismatch, maintenance, PENDING])
    watcher.record(ok(running))
    watcher.record(ok(suspended, State.Suspended))
    watcher.record(failed(failing, ErrorKind.UNAVAILABLE))
    watcher.record(ok(mismatch, State.Running, is_running=False))
    watcher.record(ok(maintenance, State.OnlineMaintenance))
    complete = scrape_mode(watcher, "all")
    assert per_tenant(complete) == {"Cust1", "Cust2", "Cust3", "Cust4", "Cust5"}
    assert complete["tenantboard_tenant_series_complete"][()] == 1
    reduced = scrape_mode(watcher, "attention")
    assert per_tenant(reduced) == {"Cust2", "Cust3", "Cust4"}
    assert reduced["tenantboard_tenant_series_complete"][()] == 0
    assert reduced["tenantboard_tenant_state"][tenant_labels(suspended)] == int(State.Suspended)
    assert reduced["tenantboard_tenant_check_success"][tenant_labels(failing)] == 0
    for samples in (complete, reduced):  # the fleet's figures do not depend on it
        assert samples["tenantboard_tenants_up"][()] == 2  # Cust1 and Cust5: running, answered
        assert sum(samples["tenantboard_tenants"].values()) == 6


def test_with_tenant_series_attention_a_tenant_past_its_planned_check_has_series() -> None:
    """The stale-results alert compares time() with each tenant's planned check: a
    tenant that is fine but past it is shown; not while our own outage holds every check
    back (every tenant is past it then, and tenantboard_outage says why)."""
    clock = FakeClock()
    late, on_time = Tenant("Cust1", "online", "late"), Tenant("Cust2", "online", "on time")
    watcher = idle_watcher([late, on_time], clock=clock)
    watcher.record(replace(ok(late), next_check=NextCheck(60, "ValidUntil")))
    watcher.record(replace(ok(on_time), next_check=NextCheck(600, "ValidUntil")))
    assert per_tenant(scrape_mode(watcher, "attention")) == set()
    clock.advance(61)
    reduced = scrape_mode(watcher, "attention")
    assert per_tenant(reduced) == {"Cust1"}
    assert reduced["tenantboard_tenant_next_check_timestamp_seconds"][tenant_labels(late)] == (
        FIXED_NOW.timestamp() + 60
    )
    watcher.session.monitor.outage = Outage(since=FIXED_NOW, reason="connection refused", tenants=2)
    assert per_tenant(scrape_mode(watcher, "attention")) == set()


def test_a_tenant_that_recovers_leaves_the_reduced_exposition() -> None:
    tenant = Tenant("Cust1", "online", "flaky")
    watcher = idle_watcher([tenant])
    exposition = Exposition("attention")
    watcher.record(failed(tenant, ErrorKind.TIMEOUT))
    first = joined(exposition.render(take_snapshot(watcher, exposition)))[0]
    assert b'context_id="Cust1"' in first
    watcher.record(ok(tenant, at=60))
    again = joined(exposition.render(take_snapshot(watcher, exposition)))[0]
    assert b'context_id="Cust1"' not in again


def test_the_cli_takes_tenant_series_and_refuses_anything_else(tmp_path) -> None:
    from tenantboard import cli

    config = tmp_path / "tenants.toml"
    config.write_text("")
    args = cli.parse_arguments(["serve", "--config", str(config), "--tenant-series", "attention"])
    assert cli.serve_config(args).tenant_series == "attention"
    assert (
        cli.serve_config(cli.parse_arguments(["serve", "--config", str(config)])).tenant_series
        == "all"
    )
    with pytest.raises(cli.UsageError, match="invalid choice: 'some'"):
        cli.parse_arguments(["serve", "--tenant-series", "some"])


def test_with_tenant_series_attention_lines_are_made_only_for_the_tenants_shown() -> None:
    """Formatted lines are kept until a row changes: 90 MB at 100,000 tenants. With
    ``attention`` a tenant that is fine has none made until it is shown."""
    clock = FakeClock()
    fine, bad = Tenant("Cust1", "online", "fine"), Tenant("Cust2", "online", "bad")
    watcher = idle_watcher([fine, bad], clock=clock)
    watcher.record(replace(ok(fine), next_check=NextCheck(60, "ValidUntil")))
    watcher.record(ok(bad, State.Suspended))
    exposition = Exposition("attention")
    exposition.render(take_snapshot(watcher, exposition))
    assert exposition._lines[fine.key].parts is None and exposition._lines[bad.key].parts
    clock.advance(61)  # past its planned check: shown, its lines made now
    body = joined(exposition.render(take_snapshot(watcher, exposition)))[0]
    assert b'context_id="Cust1"' in body and exposition._lines[fine.key].parts
