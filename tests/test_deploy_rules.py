"""deploy/prometheus: the alert and recording rules, checked and unit-tested by the
distribution's promtool (skipped without it, unless TENANTBOARD_REQUIRE_PROMETHEUS=1), and
held to the conventions of the exporters' mixins."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from tenantboard.answers import STATE_SEVERITY, Severity, State
from tenantboard.serve.metrics import SAMPLE_NAMES
from tests.deploy_helpers import ROOT, RULE_TESTS, RULES, RUNBOOK, prometheus_tools
from tests.test_docs import anchors, slug

TOOLS = prometheus_tools()
RUNBOOK_BASE = "https://tenantboard.example/docs/runbook.md"
SEVERITIES = {"critical", "warning", "info"}


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of one kind ("alert" or "record") in the shipped file."""
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if kind in rule]


def alert(name: str) -> dict[str, Any]:
    (found,) = [rule for rule in rules("alert") if rule["alert"] == name]
    return found


def seconds(text: str) -> int:
    """A promtool duration ("2h10m", "30d") in seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([dhms])", text)
    assert "".join(number + unit for number, unit in parts) == text, text
    return sum(int(number) * units[unit] for number, unit in parts)


def test_promtool_finds_the_rules_valid() -> None:
    done = subprocess.run(
        [TOOLS["promtool"], "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules('alert')) + len(rules('record'))} rules found" in done.stdout
    assert "WARNING" not in done.stdout + done.stderr


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    assert RULE_TESTS, "no unit tests in deploy/prometheus/tests"
    done = subprocess.run(
        [TOOLS["promtool"], "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True,
        text=True,
        cwd=RULES.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_follows_the_mixin_conventions() -> None:
    runbook = anchors(RUNBOOK)
    for rule in rules("alert"):
        name = rule["alert"]
        assert re.fullmatch(r"Tenantboard(?:[A-Z][a-z]+)+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, name
        assert notes["runbook_url"] == f"{RUNBOOK_BASE}#{slug(name)}", name
        assert slug(name) in runbook, f"docs/runbook.md has no section {name}"
        # each message names what it is about: the tenant, or the tenantboard
        expr = rule["expr"]
        per_tenant = any(name in expr for name in SAMPLE_NAMES) and " by (" not in expr
        about = "context_id" if per_tenant else "instance"
        for text in (notes["summary"], notes["description"]):
            assert f"{{{{ $labels.{about} }}}}" in text, name


def test_the_runbook_has_a_section_for_every_alert_and_no_other() -> None:
    headings = re.findall(r"^## (\S+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    alerts = [rule["alert"] for rule in rules("alert")]
    assert sorted(heading for heading in headings if heading.startswith("Tenantboard")) == sorted(
        alerts
    )


def unit_tests() -> list[dict[str, Any]]:
    found = []
    for path in RULE_TESTS:
        found.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["tests"])
    return found


def test_every_alert_is_seen_firing_quiet_and_resolved_and_every_record_is_tested() -> None:
    """For each alert, one test case evaluates it quiet, then firing, then quiet again; each
    recorded series is the subject of an expression test."""
    for rule in rules("alert"):
        name = rule["alert"]
        shapes = []
        for case in unit_tests():
            evals = sorted(
                (seconds(check["eval_time"]), bool(check["exp_alerts"]))
                for check in case.get("alert_rule_test", [])
                if check["alertname"] == name
            )
            shapes.append("".join("F" if firing else "-" for _, firing in evals))
        assert any(re.search(r"-F+-", shape) for shape in shapes), (name, shapes)
    expressions = " ".join(
        check["expr"] for case in unit_tests() for check in case.get("promql_expr_test", [])
    )
    for rule in rules("record"):
        assert re.search(rf"{re.escape(rule['record'])}\b(?!:)", expressions), rule["record"]


def state_codes(expr: str) -> set[int]:
    return {int(code) for code in re.findall(r"tenantboard_tenant_state == (-?\d+)", expr)}


def state_names(template: str) -> dict[int, str]:
    """What the message calls each state number: ``{{ if eq $value 4.0 }}Suspended...``."""
    named = {int(code): name for code, name in re.findall(r"eq \$value (\d+)\.0 }}(\w+)", template)}
    fallback = re.search(r"{{ else }}(\w+){{ end }}", template)
    assert fallback is not None
    return named | {-2: fallback.group(1)}


def test_the_states_in_the_rules_are_the_boards_severities() -> None:
    """The rules name states by number; the board's severities (answers.STATE_SEVERITY)
    decide which are critical and which are warnings, and the messages name them right."""
    by_severity = {
        severity: {int(state) for state in State if STATE_SEVERITY[state] is severity}
        for severity in Severity
    }
    critical = alert("TenantboardTenantCritical")
    assert state_codes(critical["expr"]) == by_severity[Severity.CRITICAL]
    # MigrationPending lasts days or weeks by design: left out of "warning too long"
    warning = alert("TenantboardTenantWarningTooLong")
    assert state_codes(warning["expr"]) == by_severity[Severity.WARNING] - {
        int(State.MigrationPending)
    }
    assert state_codes(alert("TenantboardTenantStateUndocumented")["expr"]) == {-1}
    # what a maintenance window holds a tenant in, after it closed
    overrun = alert("TenantboardMaintenanceOverrun")["expr"]
    assert state_codes(overrun) == {int(State.OfflineMaintenance)}
    for rule in (critical, warning):
        codes = state_codes(rule["expr"])
        for text in (rule["annotations"]["summary"], rule["annotations"]["description"]):
            names = state_names(text)
            fallback = names.pop(-2)
            assert {code: State(code).name for code in names} == names
            (left,) = codes - set(names)  # the one the template's {{ else }} names
            assert State(left).name == fallback


def per_tenant_alerts() -> list[dict[str, Any]]:
    """The alerts with one alert per tenant (a per-tenant series, not counted by)."""
    return [
        rule
        for rule in rules("alert")
        if any(name in rule["expr"] for name in SAMPLE_NAMES) and " by (" not in rule["expr"]
    ]


def test_every_tenant_alert_leaves_out_planned_work_and_host_incidents() -> None:
    """As the board and the hooks do: a tenant a maintenance window covers starts no alert
    (one already firing keeps firing: its own ALERTS), nor does a tenant of an open host
    incident (TenantboardHostIncident speaks for it). The promtool tests show each."""
    tenant = "on (job, instance, context_id, env)"
    found = per_tenant_alerts()
    assert {rule["alert"] for rule in found} >= {
        "TenantboardTenantCritical",
        "TenantboardTenantWarningTooLong",
        "TenantboardTenantStateUndocumented",
        "TenantboardTenantChecksFailing",
    }
    for rule in found:
        expr = " ".join(rule["expr"].split())
        name = rule["alert"]
        assert (
            f"unless {tenant} ( tenantboard_tenant_in_maintenance unless {tenant} "
            f'ALERTS{{alertname="{name}", alertstate="firing"}} )'
        ) in expr, name
        assert f"unless {tenant} tenantboard_tenant_in_host_incident" in expr, name


def documented_series() -> set[str]:
    """The series docs/serve.md's metrics table names."""
    text = (ROOT / "docs" / "serve.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(tenantboard_\w+)` \|", text, re.MULTILINE))


def test_every_series_the_rules_read_is_one_serve_documents() -> None:
    """A misspelt series is never there: its alert would never fire, and the promtool
    tests, written with the same spelling, would not notice."""
    documented = documented_series()
    assert "tenantboard_tenant_in_host_incident" in documented
    histograms = {f"{name}_bucket" for name in documented}
    for rule in rules("alert") + rules("record"):
        read = set(re.findall(r"\b(tenantboard_\w+)", rule["expr"]))
        missing = read - documented - histograms
        assert not missing, (rule.get("alert") or rule["record"], missing)
