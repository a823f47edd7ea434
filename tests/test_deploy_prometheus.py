"""The shipped rules and dashboard against a real Prometheus (the distribution's), scraping
real `tenantboard serve` processes that check `tenantboard simulate`.

Prometheus is configured from docs/deploy.md's prometheus.yml, with everything made quick:
a scrape and an evaluation every second, and every `for:` of the rules made 5 seconds (the
promtool unit tests in deploy/prometheus/tests hold the real durations). The simulator acts
out a host failure (online3) and a release rolling out; the tenant file has a maintenance
window. Skipped without Prometheus, unless TENANTBOARD_REQUIRE_PROMETHEUS=1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tenantboard.answers import STATE_SEVERITY, Severity, State
from tenantboard.simulator.scenario import HostFailure, Simulator, profile_for, steady
from tests.deploy_helpers import (
    DASHBOARD,
    DEPLOY_DOC,
    RULES,
    fenced_block,
    free_port,
    log_line,
    process_env,
    prometheus_tools,
    start_simulate,
    stop,
    wait_for,
)

TOOLS = prometheus_tools()
#: Scenario time runs this much faster, so that ValidUntil (300 s for a running tenant)
#: comes every second and serve asks again at once.
SPEED = 300
#: The host the simulator fails, this many real seconds after it starts (serve has seen
#: its tenants Running by then: a tenant's first answer is where it stands, not a change),
#: for longer than the tests last.
FAILING_HOST = "online3.superoffice.com"
FAILS_AFTER = 10.0
FAILURE = HostFailure(FAILING_HOST, start=FAILS_AFTER * SPEED, duration=300.0 * SPEED)
#: Six running tenants on that host that its failure turns Unknown: one host incident.
ON_FAILING_HOST = tuple(
    f"Cust{number}"
    for number in range(2000, 2100)
    if profile_for(number) is steady
    and Simulator(now=time.time).answer(number, "online").host == FAILING_HOST
    and FAILURE.hits(number)
)[:6]
assert len(ON_FAILING_HOST) == 6, ON_FAILING_HOST
#: Tenants of the simulator (tenantboard/simulator/scenario.py): Cust1001 runs (and is the
#: one turned Suspended), Cust1002 moves between hosts, Cust1008 is always Suspended,
#: Cust1017 always fails (404), Cust1020 runs with no version in its answer, Cust1021 is
#: always Deleted (and in the tenant file's maintenance window); and the failing host's.
TENANTS = ("Cust1001", "Cust1002", "Cust1008", "Cust1017", "Cust1020", "Cust1021")
IN_WINDOW = "Cust1021"


@dataclass
class Stack:
    simulator: str
    #: The serve Prometheus watches throughout, and one the tests may stop (it shows only
    #: the tenants that need attention: --tenant-series attention).
    serve: str
    spare: str
    spare_process: subprocess.Popen
    prometheus: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def alerts(self, name: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.prometheus}/api/v1/alerts", timeout=10).json()
        return [alert for alert in answer["data"]["alerts"] if alert["labels"]["alertname"] == name]

    def firing(self, name: str, **labels: str) -> dict[str, Any] | None:
        for alert in self.alerts(name):
            if alert["state"] == "firing" and labels.items() <= alert["labels"].items():
                return alert
        return None


def tenant_file(path: Path) -> Path:
    lines = ["[settings]", "min_interval = 1", "max_interval = 5", ""]
    for context_id in TENANTS + ON_FAILING_HOST:
        lines += ["[[tenants]]", f'context_id = "{context_id}"', ""]
    # SuperOffice's own windows cover every tenant at set hours (its nightly recycle):
    # off, so that the alerts do not depend on when the test runs; one window of our own.
    began = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines += ["[superoffice_maintenance]", "windows = []", ""]
    lines += ["[[maintenance]]", 'name = "Lucerne move"', f"start = {began}"]
    lines += ['duration = "1d"', f'context_ids = ["{IN_WINDOW}"]', ""]
    # a hook, so that its deliveries are counted (a command that takes the message and exits)
    lines += ["[[notify]]", 'name = "log"', f'command = ["{sys.executable}", "-c", "pass"]', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def start_serve(folder: Path, simulator: str, *options: str) -> tuple[subprocess.Popen, str]:
    folder.mkdir()
    log = folder / "serve.log"
    command = [sys.executable, "-m", "tenantboard", "serve", "--config"]
    command += [str(tenant_file(folder / "tenants.toml")), "--base-url", simulator]
    command += ["--listen", "127.0.0.1:0", *options]
    env = process_env(folder, TENANTBOARD_DATA_DIR=str(folder / "data"))
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, stderr=stderr, env=env)
    found = wait_for(lambda: log_line(log, r"listening on (http://127\.0\.0\.1:\d+)"), "serve")
    return process, found.group(1)


#: Every `for:` of the rules, here: long enough for serve to open a host incident before its
#: tenants' own alerts would fire, as the real minutes are.
QUICK_FOR = "5s"


def quick_rules(path: Path) -> Path:
    """The shipped rules with every `for:` made :data:`QUICK_FOR` and every group
    evaluated each second."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = QUICK_FOR
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    return path


def prometheus_config(folder: Path, targets: list[str]) -> Path:
    """docs/deploy.md's prometheus.yml, pointed at the test's serves and rules, made quick."""
    config = yaml.safe_load(fenced_block(DEPLOY_DOC, "# prometheus.yml"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(quick_rules(folder / "tenantboard.rules.yml"))]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "tenantboard"  # the rules' TenantboardDown selects it
    job.update(scrape_interval="1s", scrape_timeout="1s")
    job["static_configs"] = [{"targets": [target.removeprefix("http://") for target in targets]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    checked = subprocess.run(
        [TOOLS["promtool"], "check", "config", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    processes: list[subprocess.Popen] = []
    try:
        fails_at = time.monotonic() + FAILS_AFTER  # before the simulator starts: never late
        simulate, simulator = start_simulate(
            folder,
            *("--speed", str(SPEED), "--host-failure", FAILING_HOST),
            *(
                "--host-failure-at",
                f"{FAILURE.start:g}",
                "--host-failure-for",
                f"{FAILURE.duration:g}",
            ),
            # a whole rollout in the first seconds (a host every 2 s, offline for 0.04 s)
            *("--rollout", "--rollout-day", "600"),
        )
        processes.append(simulate)
        serve, serve_url = start_serve(folder / "a", simulator)
        spare, spare_url = start_serve(folder / "b", simulator, "--tenant-series", "attention")
        processes += [serve, spare]
        listen = f"127.0.0.1:{free_port()}"
        with (folder / "prometheus.log").open("wb") as log:
            prometheus = subprocess.Popen(
                [
                    TOOLS["prometheus"],
                    f"--config.file={prometheus_config(folder, [serve_url, spare_url])}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address={listen}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=process_env(folder),
            )
        processes.append(prometheus)
        running = Stack(simulator, serve_url, spare_url, spare, f"http://{listen}")
        wait_for(lambda: _ready(running.prometheus), "Prometheus ready")
        # both scraped, rates have two samples, and the availability rules have run
        for expr in (
            'sum(up{job="tenantboard"}) == 2',
            "rate(tenantboard_checks_total[30s]) > 0",
            "tenantboard:availability:ratio_30d",
        ):
            wait_for(lambda expr=expr: running.query(expr), expr)
        running_before = (
            f'count(tenantboard_tenant_state{{context_id=~"{"|".join(ON_FAILING_HOST)}"}} == 2)'
        )
        wait_for(
            lambda: running.query(f"{running_before} == {2 * len(ON_FAILING_HOST)}"),
            f"both serves see {FAILING_HOST}'s tenants Running before it fails",
            timeout=fails_at - time.monotonic(),
        )
        yield running
    finally:
        for process in reversed(processes):
            stop(process)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_a_suspended_tenant_brings_its_alert_to_firing_and_back(stack: Stack) -> None:
    labels = {"context_id": "Cust1001", "instance": stack.serve.removeprefix("http://")}
    # Cust1008 is Suspended throughout: its alert comes with the first evaluations
    wait_for(lambda: stack.firing("TenantboardTenantCritical", context_id="Cust1008"), "1008")
    assert stack.firing("TenantboardTenantCritical", **labels) is None
    control = f"{stack.simulator}/_simulator/state/Cust1001"
    assert httpx.put(f"{control}/Suspended").status_code == 204
    alert = wait_for(lambda: stack.firing("TenantboardTenantCritical", **labels), "Cust1001 firing")
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == "Tenant Cust1001 (online) is Suspended"
    assert httpx.delete(control).status_code == 204
    wait_for(
        lambda: stack.firing("TenantboardTenantCritical", **labels) is None, "Cust1001 resolved"
    )
    assert stack.firing("TenantboardTenantCritical", context_id="Cust1008")


def test_a_tenant_in_a_maintenance_window_starts_no_alert(stack: Stack) -> None:
    """Cust1021 is Deleted throughout, as Cust1008 is Suspended; a window covers it."""
    wait_for(lambda: stack.firing("TenantboardTenantCritical", context_id="Cust1008"), "1008")
    assert stack.query(f'tenantboard_tenant_state{{context_id="{IN_WINDOW}"}} == 3')
    assert stack.query(f'tenantboard_tenant_in_maintenance{{context_id="{IN_WINDOW}"}}')
    assert stack.alerts("TenantboardTenantCritical")  # Cust1008's: the rule is evaluated
    assert not [
        alert
        for alert in stack.alerts("TenantboardTenantCritical")
        if alert["labels"]["context_id"] == IN_WINDOW
    ]


def test_a_failing_host_is_one_alert_and_its_tenants_own_stay_quiet(stack: Stack) -> None:
    """The simulator fails online3: serve opens one host incident, which fires as one
    alert per serve; its tenants, Unknown all along, never fire their own."""
    labels = {"host": FAILING_HOST, "instance": stack.serve.removeprefix("http://")}
    alert = wait_for(lambda: stack.firing("TenantboardHostIncident", **labels), "incident")
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"].startswith(f"Host incident on {FAILING_HOST}: ")
    members = "|".join(ON_FAILING_HOST)
    unknown = stack.query(f'tenantboard_tenant_state{{context_id=~"{members}"}} == 0')
    assert {s["metric"]["context_id"] for s in unknown} == set(ON_FAILING_HOST)
    in_incident = stack.query(f'tenantboard_tenant_in_host_incident{{host="{FAILING_HOST}"}}')
    assert {s["metric"]["context_id"] for s in in_incident} >= set(ON_FAILING_HOST)
    # Unknown longer than the alert's 5 s by now: quiet all along, not just at this moment.
    fired = f'ALERTS{{alertname="TenantboardTenantCritical", alertstate="firing", context_id=~"{members}"}}'
    assert stack.query(f"count_over_time({fired}[5m])") == []


def test_a_serve_showing_only_the_tenants_that_need_attention_still_alerts(stack: Stack) -> None:
    """``--tenant-series attention``: the running tenants have no series of their own,
    the failing and critical ones alert as from a serve that shows them all, and the
    fleet's availability is recorded for both; per-tenant availability only where every
    tenant has its series."""
    spare, full = (url.removeprefix("http://") for url in (stack.spare, stack.serve))
    critical = {"context_id": "Cust1008", "instance": spare}
    wait_for(lambda: stack.firing("TenantboardTenantCritical", **critical), "1008 on spare")
    failing = {"context_id": "Cust1017", "instance": spare}
    wait_for(lambda: stack.firing("TenantboardTenantChecksFailing", **failing), "1017 on spare")

    def shown() -> set[str]:
        series = stack.query(f'tenantboard_tenant_state{{instance="{spare}"}}')
        return {s["metric"]["context_id"] for s in series}

    # Cust1001 runs (the test before turned it Suspended for a moment: gone once it runs)
    wait_for(lambda: "Cust1001" not in shown(), "Cust1001 gone from the spare")
    assert "Cust1008" in shown()
    assert stack.query(f'tenantboard_tenant_state{{instance="{full}", context_id="Cust1001"}}')
    assert stack.query(f'tenantboard_tenant_series_complete{{instance="{spare}"}} == 0')
    fleet = {s["metric"]["instance"] for s in stack.query("tenantboard:availability:ratio_30d")}
    assert fleet == {spare, full}
    per_tenant = {s["metric"]["instance"] for s in stack.query("tenantboard:tenant_up")}
    assert per_tenant == {full}


def test_a_stopped_serve_brings_tenantboard_down_to_firing(stack: Stack) -> None:
    instance = stack.spare.removeprefix("http://")
    assert stack.firing("TenantboardDown") is None
    assert stop(stack.spare_process) == 0
    alert = wait_for(lambda: stack.firing("TenantboardDown", instance=instance), "down")
    assert alert["labels"]["severity"] == "critical"
    assert stack.firing("TenantboardDown", instance=stack.serve.removeprefix("http://")) is None


# -- the dashboard ------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its own
    return found


def test_the_dashboard_is_importable_and_asks_for_its_data_source() -> None:
    board = dashboard()
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert board.get("id") is None and board["uid"] and board["title"]
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids))
    source = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == source, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == source and target["expr"], panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == source


def test_the_state_colours_are_the_boards_severities() -> None:
    colours = {
        Severity.OK: "green",
        Severity.WARNING: "orange",
        Severity.CRITICAL: "red",
        Severity.UNKNOWN: "purple",
    }
    timeline = next(panel for panel in panels(dashboard()) if panel["type"] == "state-timeline")
    (mapping,) = timeline["fieldConfig"]["defaults"]["mappings"]
    shown = {
        int(code): (entry["text"], entry["color"]) for code, entry in mapping["options"].items()
    }
    expected = {int(state): (state.name, colours[STATE_SEVERITY[state]]) for state in State}
    assert shown == expected | {-1: ("undocumented state", colours[Severity.UNKNOWN])}


def concrete(expr: str, stack: Stack) -> str:
    """A panel's query as Grafana sends it, for every tenant of this stack's serve."""
    return (
        expr.replace("$__rate_interval", "30s")
        .replace("$job", "tenantboard")
        .replace("$instance", ".*")
        .replace("$tenant", ".*")
    )


def test_every_panel_query_returns_data_from_serve(stack: Stack) -> None:
    """Each query runs against the Prometheus scraping serve: none may fail, none may come
    back empty, and every series it names is one serve exports or the rules record. The
    host incident and the maintenance window give the fleet's panels their data."""
    wait_for(lambda: stack.query("tenantboard_tenant_in_host_incident"), "a host incident")
    known = set(httpx.get(f"{stack.prometheus}/api/v1/label/__name__/values").json()["data"])
    board = dashboard()
    queries = [
        (panel["title"], t["expr"]) for panel in panels(board) for t in panel.get("targets", [])
    ]
    queries += [
        (variable["name"], variable["query"]["query"])
        for variable in board["templating"]["list"]
        if variable["type"] == "query"
    ]
    for title, expr in queries:
        names = set(re.findall(r"\b(up|tenantboard[a-z0-9_:]*)\b(?=[{\[(),\s]|$)", expr))
        assert names and names <= known, (title, names - known)
        variable = re.fullmatch(r"label_values\((.*), (\w+)\)", expr)
        if variable:  # a variable's values: the series must exist and carry the label
            series = stack.query(concrete(variable.group(1), stack))
            assert series and all(variable.group(2) in s["metric"] for s in series), title
        else:
            assert stack.query(concrete(expr, stack)), f"{title}: {expr} returned nothing"
