"""`tenantboard maintenance`, and what `report`, `history` and `check` say of windows."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tenantboard.history.db import HistoryDB
from tenantboard.maintenance import Scope, Window
from tenantboard.paths import history_path
from tests.test_cli import simulator_url  # noqa: F401 - a fixture
from tests.test_report_cli import DAY, config, history, run  # noqa: F401 - fixtures

KEY = "online:Cust1"


def add_windows(path: Path, *windows: Window) -> None:
    with HistoryDB.open(path) as db:
        for window in windows:
            db.add_window(window, window.start)


def window(source: str, name: str, start_min: int, end_min: int, scope: Scope) -> Window:
    start = DAY + timedelta(minutes=start_min)
    return Window(source, name, start, DAY + timedelta(minutes=end_min), scope, by="ann")


@pytest.fixture
def windows(history: Path) -> Path:  # noqa: F811
    """Cust1's planned maintenance at 06:00 fell in SuperOffice's window; half of its
    Unknown hour (12:00-13:00) fell in an ad hoc window on its host; a window for sod
    covered nothing of Cust1's."""
    add_windows(
        history,
        window("superoffice", "SuperOffice weekly maintenance", 355, 395, Scope(everything=True)),
        window("adhoc", "db upgrade", 720, 750, Scope(hosts=frozenset({"online2"}))),
        window("file", "sod deploys", 0, 1440, Scope(envs=frozenset({"sod"}))),
    )
    return history


def test_report_gives_availability_without_planned_maintenance_beside_the_raw_figure(
    config: Path,  # noqa: F811
    windows: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    period = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01", "Cust1"]
    code, out, _ = run(capsys, "report", "--json", *period)
    (tenant,) = json.loads(out)["tenants"]
    assert code == 0
    assert tenant["down_seconds"] == 6600
    assert tenant["planned_down_seconds"] == 3600  # 30 min offline + 30 min of the Unknown
    assert tenant["unplanned_down_seconds"] == 3000
    assert tenant["uptime"] == pytest.approx(72_000 / 78_600)
    assert tenant["uptime_excluding_planned"] == pytest.approx(72_000 / 75_000)

    code, out, _ = run(capsys, "report", "--csv", *period)
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert float(row["uptime_excluding_planned"]) == pytest.approx(0.96)
    assert float(row["planned_down_seconds"]) == 3600

    code, out, _ = run(capsys, "report", *period)
    header, line = out.splitlines()[1:3]
    assert "EXCL PLANNED" in header and "UNPLANNED" in header
    assert line.split()[2:9] == ["91.603%", "96.000%", "1h", "50m", "1h", "00m", "50m"]


def test_history_shows_the_windows_that_covered_the_tenant(
    config: Path,  # noqa: F811
    windows: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    period = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
    code, out, _ = run(capsys, "history", "Cust1", *period)
    assert code == 0
    section = out.split("maintenance windows of Cust1 (online)\n", 1)[1].splitlines()
    assert section[0].split()[:4] == ["NAME", "SOURCE", "FROM", "TO"]
    assert [line.split("  ")[0] for line in section[1:]] == [
        "SuperOffice weekly maintenance",
        "db upgrade",
    ]  # not sod's
    code, out, _ = run(capsys, "history", "Cust1", "--json", *period)
    found = json.loads(out)["maintenance_windows"]
    assert [(w["name"], w["planned_down_seconds"]) for w in found] == [
        ("SuperOffice weekly maintenance", 1800),
        ("db upgrade", 1800),
    ]


def test_maintenance_start_list_and_end(
    config: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "maintenance",
        "start",
        "Cust1",
        "--for",
        "2h",
        "--name",
        "db",
        "--config",
        str(config),
    )
    assert code == 0 and out.startswith("maintenance window 1 started: db, for tenant Cust1")
    code, out, _ = run(
        capsys, "maintenance", "list", "--json", "--days", "1", "--config", str(config)
    )
    listed = json.loads(out)
    (adhoc,) = [w for w in listed if w["source"] == "adhoc"]
    assert adhoc["open"] and adhoc["covers"] == {"context_ids": ["Cust1"]} and adhoc["id"] == 1
    assert {w["name"] for w in listed if w["source"] == "superoffice"} >= {
        "SuperOffice app-pool recycle"
    }
    code, out, _ = run(capsys, "maintenance", "end", "1", "--config", str(config))
    assert code == 0 and out.strip() == "maintenance window 1 ended: db"
    code, _, err = run(capsys, "maintenance", "end", "1", "--config", str(config))
    assert code == 64 and "no ad hoc window open now with id 1" in err
    with HistoryDB.open(history_path(config), read_only=True) as db:
        (ended,) = db.windows(source="adhoc")
        assert ended.ended_at is not None


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--for", "2h"], "say what it covers"),
        (["Cust9", "--for", "2h"], "Cust9 matches no tenant (did you mean Cust"),
        (["Cust1", "Cust9", "--for", "2h"], "Cust9 matches no tenant"),
        (["--tag", "nobody", "--for", "2h"], "--tag nobody matches no tenant"),
        (["--env", "sod", "Cust1", "--for", "2h"], "together match no tenant in the list"),
        (["--all", "--env", "sod", "--for", "2h"], "--all covers every tenant"),
        (["--all", "--for", "2 hours"], "--for:"),
        (["--all", "--for", "8d"], "at most 7 days"),
        (["--host", "not a host", "--for", "1h"], "not a host name"),
    ],
)
def test_maintenance_start_refuses_what_covers_nothing_and_starts_nothing(
    config: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    words: str,
) -> None:
    code, _, err = run(capsys, "maintenance", "start", *arguments, "--config", str(config))
    assert code == 64 and words in err
    assert not history_path(config).exists()  # nothing was started


def test_maintenance_start_on_a_host_no_tenant_has_suggests_the_known_hosts(
    config: Path,  # noqa: F811
    history: Path,  # noqa: F811 - Cust1 was last seen on online2.superoffice.com
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = ["--for", "1h", "--config", str(config)]
    code, _, err = run(capsys, "maintenance", "start", "--host", "onlin2", *options)
    assert code == 64
    assert "--host onlin2 matches no tenant (did you mean online2?); nothing started" in err
    assert "--force" in err
    code, _, err = run(capsys, "maintenance", "start", "--host", "db7.example.org", *options)
    assert code == 64 and "(last known hosts: online2.superoffice.com)" in err
    with HistoryDB.open(history, read_only=True) as db:
        assert db.windows(source="adhoc") == []  # nothing was started
    for host in ("online2", "ONLINE2.superoffice.com"):
        code, out, _ = run(capsys, "maintenance", "start", "--host", host, *options)
        assert code == 0 and "started" in out
    code, out, _ = run(capsys, "maintenance", "start", "--host", "online7", "--force", *options)
    assert code == 0 and "for host online7" in out


def test_maintenance_start_on_a_host_before_any_check_says_none_is_known(
    config: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = ["--host", "online3", "--for", "1h", "--config", str(config)]
    code, _, err = run(capsys, "maintenance", "start", *options)
    assert code == 64 and "no tenant's host is known yet" in err
    assert run(capsys, "maintenance", "start", "--force", *options)[0] == 0


def test_check_json_says_when_a_tenant_is_in_a_window(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    simulator_url: str,  # noqa: F811
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(  # only the ad hoc window: check runs on the real clock
        '[[tenants]]\ncontext_id = "Cust1001"\n[[tenants]]\ncontext_id = "Cust1008"\n'
        "[superoffice_maintenance]\nwindows = []\n",
        encoding="utf-8",
    )
    options = ["--config", str(path)]
    assert run(capsys, "maintenance", "start", "Cust1008", "--for", "1h", *options)[0] == 0
    code, out, _ = run(capsys, "check", "--json", "--base-url", simulator_url, *options)
    running, suspended = json.loads(out)
    assert code == 2  # Suspended: critical
    assert running["maintenance"] is None
    assert suspended["maintenance"]["source"] == "adhoc"
    assert suspended["maintenance"]["covers"] == {"context_ids": ["Cust1008"]}
    code, out, _ = run(capsys, "check", "--base-url", simulator_url, *options)
    assert "Cust1008 (online) in maintenance: ad hoc, by" in out
    code, _, _ = run(capsys, "check", "--respect-mutes", "--base-url", simulator_url, *options)
    assert code == 0  # the tenant in a window is left out of the exit code


def test_simulate_takes_a_maintenance_night() -> None:
    from tenantboard.cli import _maintenance_night, parse_arguments

    assert parse_arguments(["simulate", "--maintenance-night"]).maintenance_night == "superoffice"
    assert parse_arguments(["simulate", "--maintenance-night", "now"]).maintenance_night == "now"
    assert parse_arguments(["simulate"]).maintenance_night is None
    night = _maintenance_night("now", 1)
    now = time.time()
    (window,) = night.windows_near(now)
    assert window.open_at(datetime.fromtimestamp(now + 60, UTC))
    assert window.closes - window.start == timedelta(hours=2)
