"""`tenantboard report`, `history`, `paths` and `check`'s mutes, against a hand-built history."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tenantboard.cli import main
from tenantboard.eventlog import LoggedEvent
from tenantboard.history.db import HistoryDB, Observation
from tenantboard.paths import history_path
from tenantboard.tenant_file import StoreError, TenantStore
from tests.conftest import FIXED_NOW

DAY = datetime(2026, 3, 1, tzinfo=UTC)
STEP = 10  # minutes between checks


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(
        '[[tenants]]\ncontext_id = "Cust1"\nlabel = "Acme prod"\n\n'
        '[[tenants]]\ncontext_id = "Cust2"\nenv = "sod"\n',
        encoding="utf-8",
    )
    return path


def checks(key: str, start_min: int, end_min: int, state: str | None, **kw: object) -> list:
    running = state in ("Running", "OnlineMaintenance") if state else None
    return [
        Observation(
            key,
            DAY + timedelta(minutes=minute),
            state,
            {"Running": 2, "Unknown": 0, "OfflineMaintenance": 6}.get(state or ""),
            running,
            "online2.superoffice.com" if state else None,
            kw.get("error"),  # type: ignore[arg-type]
        )
        for minute in range(start_min, end_min, STEP)
    ]


@pytest.fixture
def history(config: Path) -> Path:
    """Cust1's day: up, 30 min planned maintenance at 06:00, Unknown 12-13, up until 18:00,
    closed until 20:00, failing checks for 20 minutes, up until 23:50. Cust2 never checked."""
    path = history_path(config)
    key = "online:Cust1"
    observations = (
        checks(key, 0, 360, "Running")
        + checks(key, 360, 390, "OfflineMaintenance")
        + checks(key, 390, 720, "Running")
        + checks(key, 720, 780, "Unknown")
        + checks(key, 780, 1081, "Running")
        + checks(key, 1200, 1220, None, error="timeout")
        + checks(key, 1220, 1431, "Running")
    )
    with HistoryDB.open(path) as db:
        for index in range(0, len(observations), 7):  # in batches, as the board writes
            db.record(observations[index : index + 7])
        db.write(
            events=[
                LoggedEvent(DAY + timedelta(hours=12), key, "Acme", "state",
                            "Running → Unknown\x1b[2J", "critical", True),
            ]
        )  # fmt: skip
        db.add_mark(key, "ack", "Unknown", DAY + timedelta(hours=12, minutes=5), by="ann")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_table(config: Path, history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "report", "--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "availability 2026-03-01 00:00 to 2026-03-02 00:00 (1d 00h)"
    header = lines[1].split()
    assert header[:3] == ["CONTEXT", "ENV", "UPTIME"]
    assert lines[2].split() == [
        "Cust1", "online", "91.603%", "91.603%", "1h", "50m", "0s", "1h", "50m", "2", "1h",
        "00m", "0s", "30m", "2026-03-01", "23:50", "91.0%", "Acme", "prod",
    ]  # fmt: skip
    assert lines[3].split() == [
        "Cust2", "sod", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "0.0%"
    ]  # fmt: skip
    assert "\x1b" not in out


def test_report_without_tenants_says_why_and_still_prints_the_empty_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No tenant file and no history: an empty table alone looked like a report of
    nothing wrong; the reason goes to standard error, the (empty) report to its output."""
    missing = tmp_path / "nowhere.toml"
    code, out, err = run(capsys, "report", "--config", str(missing), "--json")
    assert code == 0
    assert json.loads(out)["tenants"] == []
    assert err.splitlines()[-1] == (
        f"tenantboard: report: nothing to report: no tenant file at {missing} (give the "
        "tenant file with --config)"
    )


def test_report_json_and_csv(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01", "Cust1"]
    code, out, _ = run(capsys, "report", "--json", *window)
    data = json.loads(out)
    assert code == 0 and data["from"] == "2026-03-01T00:00:00Z"
    (tenant,) = data["tenants"]
    assert tenant["label"] == "Acme prod"  # as saved, named or not
    assert tenant["uptime"] == pytest.approx(72_000 / 78_600)
    assert tenant["coverage"] == pytest.approx(78_600 / 86_400)
    assert tenant["down_seconds"] == 6600 and tenant["failed_seconds"] == 1200
    assert tenant["incidents"] == 2 and tenant["longest_incident_seconds"] == 3600
    assert tenant["maintenance_seconds"] == {"OnlineMaintenance": 0, "OfflineMaintenance": 1800}
    assert tenant["last_seen_running"] == "2026-03-01T23:50:00Z"

    code, out, _ = run(capsys, "report", "--csv", *window)
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and row["context_id"] == "Cust1" and row["incidents"] == "2"
    assert row["label"] == "Acme prod"
    assert float(row["uptime"]) == pytest.approx(72_000 / 78_600)


def test_report_since_and_bad_windows(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", "--config", str(config), "--since", "7d")
    assert code == 0 and "(7d 00h)" in out and "no history recorded yet" in err
    assert run(capsys, "report", "--config", str(config), "--since", "soon")[0] == 64
    code, _, err = run(
        capsys, "report", "--config", str(config), "--from", "2026-03-02", "--to", "2026-03-01"
    )
    assert code == 64 and "empty" in err


def test_history_lists_intervals_events_and_marks(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
    code, out, _ = run(capsys, "history", "Cust1", *window)
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert [
        "2026-03-01",
        "12:00",
        "2026-03-01",
        "13:00",
        "1h",
        "00m",
        "Unknown",
        "no",
        "online2.superoffice.com",
    ] in lines
    assert ["2026-03-01", "20:00", "2026-03-01", "20:20", "20m", "-", "?", "-", "timeout"] in lines
    assert "Running → Unknown" in out and "\x1b" not in out
    assert "ack   ann" in out

    code, out, _ = run(capsys, "history", "Cust1", "--json", *window)
    data = json.loads(out)
    assert [item["state"] for item in data["intervals"]] == [
        "Running", "OfflineMaintenance", "Running", "Unknown", "Running", None, "Running",
    ]  # fmt: skip
    assert data["intervals"][5]["error"] == "timeout"
    assert data["events"][0]["text"] == "Running → Unknown"
    assert data["marks"][0]["by"] == "ann" and data["marks"][0]["kind"] == "ack"


def record_a_day(config: Path, key: str, state: str) -> None:
    with HistoryDB.open(history_path(config)) as db:
        db.record(checks(key, 0, 60, state))


WINDOW = ["--from", "2026-03-01", "--to", "2026-03-01"]


def test_history_and_report_find_a_saved_tenant_in_its_environment(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cust2 is saved in sod: `history Cust2` and `report Cust2` mean that one."""
    record_a_day(config, "sod:Cust2", "Suspended")
    code, out, _ = run(capsys, "history", "Cust2", "--json", "--config", str(config), *WINDOW)
    assert code == 0
    data = json.loads(out)
    assert (data["context_id"], data["env"]) == ("Cust2", "sod")
    assert [item["state"] for item in data["intervals"]] == ["Suspended"]
    code, out, _ = run(capsys, "report", "--json", "Cust2", "--config", str(config), *WINDOW)
    (tenant,) = json.loads(out)["tenants"]
    assert code == 0 and tenant["env"] == "sod" and tenant["observed_seconds"] > 0


def test_history_asks_which_environment_when_the_id_is_saved_in_several(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with config.open("a", encoding="utf-8") as file:
        file.write('\n[[tenants]]\ncontext_id = "Cust1"\nenv = "sod"\n')
    code, out, err = run(capsys, "history", "Cust1", "--config", str(config), *WINDOW)
    assert code == 64 and out == ""
    assert "Cust1 is saved in online and sod: say which with --env" in err
    code, out, _ = run(
        capsys, "history", "cust1", "--env", "online", "--config", str(config), *WINDOW
    )
    assert code == 0 and "Running → Unknown" in out


def test_history_of_a_tenant_only_recorded_finds_its_environment(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Removed from the list, its history stays: `history` still finds it."""
    record_a_day(config, "stage:Cust7", "Running")
    code, out, _ = run(capsys, "history", "Cust7", "--json", "--config", str(config), *WINDOW)
    assert code == 0 and json.loads(out)["env"] == "stage"


@pytest.mark.parametrize("env", [[], ["--env", "stage"]])
def test_history_of_a_tenant_neither_listed_nor_recorded_says_so(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str], env: list[str]
) -> None:
    code, out, err = run(capsys, "history", "Cust99", *env, "--config", str(config), *WINDOW)
    assert code == 64 and out == ""
    assert "is neither in the list nor in the history: nothing to show" in err


def test_report_refuses_a_damaged_history_without_touching_anything(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = history_path(config)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    before = config.read_text(encoding="utf-8")
    code, _, err = run(capsys, "report", "--config", str(config))
    assert code == 74 and "damaged" in err
    assert path.read_bytes() == b"garbage" * 1000
    assert config.read_text(encoding="utf-8") == before


def test_paths_shows_the_history_file(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "paths", "--config", str(config))
    assert code == 0 and f"history:      {history_path(config)}" in out


def test_history_days_setting_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[settings]\nhistory_days = 30\n", encoding="utf-8")
    assert TenantStore(path).load().settings.history_days == 30
    for bad in ("0", "40000", '"30"', "1.5"):
        path.write_text(f"[settings]\nhistory_days = {bad}\n", encoding="utf-8")
        with pytest.raises(StoreError):
            TenantStore(path).load()


@pytest.fixture
def muted_check(config: Path) -> Iterator[list[str]]:
    """The simulator on a loopback socket and Cust1008 (Suspended: CRITICAL) muted by bo
    for an hour; yields `check`'s options for both."""
    import asyncio
    import threading

    from tenantboard.simulator import serve

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(serve(0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        now = datetime.now(UTC)
        with HistoryDB.open(history_path(config)) as db:
            db.add_mark(
                "online:Cust1008", "mute", "Suspended", now, until=now + timedelta(hours=1), by="bo"
            )
        yield ["--config", str(config), "--base-url", f"http://127.0.0.1:{port}"]
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_check_reports_mutes_and_respects_them_when_asked(
    muted_check: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", "--json", *muted_check, "Cust1001", "Cust1008")
    data = {item["context_id"]: item for item in json.loads(out)}
    assert code == 2  # the real state still decides
    assert data["Cust1008"]["muted"]["by"] == "bo" and data["Cust1008"]["acknowledged"] is None
    assert data["Cust1001"]["muted"] is None
    code, out, _ = run(capsys, "check", "--respect-mutes", *muted_check, "Cust1001", "Cust1008")
    assert code == 0
    assert "Cust1008 (online) muted by bo until" in out


def test_check_respecting_mutes_says_ok_in_its_status_line_and_perfdata(
    muted_check: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The status word, the exit code and the performance data agree: the muted critical
    tenant is counted as muted, not as critical."""
    code, out, _ = run(capsys, "check", "--respect-mutes", *muted_check, "Cust1001", "Cust1008")
    status, perfdata = out.splitlines()[0].split(" | ")
    assert code == 0
    assert status == "TENANTBOARD OK - 2 tenants: 1 ok, 1 muted"
    assert perfdata.startswith("ok=1 warning=0 critical=0 unknown=0 muted=1 time=")
    code, out, _ = run(capsys, "check", "--respect-mutes", *muted_check, "Cust1008")
    assert code == 0
    assert out.startswith("TENANTBOARD OK - 1 tenant: 1 muted | ok=0 warning=0 critical=0")
    code, out, _ = run(capsys, "check", *muted_check, "Cust1001", "Cust1008")
    assert code == 2  # without --respect-mutes the real state decides, and says so
    assert out.startswith("TENANTBOARD CRITICAL - 2 tenants: 1 critical, 1 ok | ok=1 warning=0")
    assert "muted=" not in out.splitlines()[0]


def test_report_reads_while_a_board_is_writing(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    board = sqlite3.connect(history, isolation_level=None)
    board.execute("PRAGMA journal_mode = WAL")
    board.execute("BEGIN IMMEDIATE")  # a board in the middle of writing a batch
    board.execute("UPDATE intervals SET end_at = end_at + 60")
    try:
        window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
        code, out, _ = run(capsys, "report", "--json", *window, "Cust1")
        assert code == 0
        assert json.loads(out)["tenants"][0]["incidents"] == 2  # the committed history
        code, out, _ = run(capsys, "history", "Cust1", *window)
        assert code == 0 and "Unknown" in out
    finally:
        board.execute("ROLLBACK")
        board.close()


def test_check_keeps_an_acknowledgement_when_the_check_fails(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A check that gets no answer says nothing about the state: the acknowledgement of a
    Suspended tenant still shows (and is respected) while SuperOffice cannot be reached."""
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    now = datetime.now(UTC)
    with HistoryDB.open(history_path(config)) as db:
        db.add_mark("online:Cust1", "ack", "Suspended", now, by="bo")
    base = ["--config", str(config), "--base-url", f"http://127.0.0.1:{port}"]
    _, out, _ = run(capsys, "check", "--json", *base, "Cust1")
    (entry,) = json.loads(out)
    assert entry["error"]["kind"] == "connect"
    ack = entry["acknowledged"]
    assert ack is not None and (ack["by"], ack["state"]) == ("bo", "Suspended")


# -- our own outage: a gap in the report, never the tenants' downtime -------------------------


def test_report_and_history_show_our_outage_as_not_observed(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tenantboard.connectivity import Outage
    from tenantboard.history.db import HistoryWriter

    key = "online:Cust1"
    since, ended = DAY + timedelta(hours=10), DAY + timedelta(hours=10, seconds=90)

    def running(start: datetime, end: datetime) -> list[Observation]:
        found, at = [], start
        while at < end:
            planned = at + timedelta(minutes=5)
            found.append(Observation(key, at, "Running", 2, True, "h", None, planned))
            at = planned
        return found

    writer = HistoryWriter(history_path(config), flush_interval=3600)
    writer.start()
    writer.add_observations(running(DAY, since))
    # The board's first failures, before it could tell that the network was gone:
    refused = [Observation(key, since + timedelta(seconds=s), None, None, None, None, "connect")
               for s in (0, 30)]  # fmt: skip
    writer.add_observations(refused)
    writer.add_events([LoggedEvent(since, key, "Acme", "failure", "check failed: refused",
                                   "unknown", True)])  # fmt: skip
    writer.outage_changed(Outage(since, "connection refused", 3))
    writer.outage_changed(Outage(since, "connection refused", 3, probes=4, ended=ended))
    writer.add_observations(running(ended + timedelta(seconds=5), DAY + timedelta(days=1)))
    writer.close()

    window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
    code, out, _ = run(capsys, "report", *window)
    assert code == 0
    lines = out.splitlines()
    cells = lines[2].split()
    # uptime, less planned, down, planned, unplanned, incidents: no downtime, no incident
    assert cells[:8] == ["Cust1", "online", "100.000%", "100.000%", "0s", "0s", "0s", "0"]
    assert cells[-3] == "99.7%"  # coverage: the outage was not observed
    assert lines[-1] == (
        "tenantboard could not reach SuperOffice from 2026-03-01 10:00 to 2026-03-01 10:01 "
        "(1m 30s): connection refused; 4 probes; not observed"
    )
    code, out, _ = run(capsys, "report", "--json", *window, "Cust1")
    data = json.loads(out)
    assert data["tenants"][0]["down_seconds"] == 0
    # Up to 10:00, then from 10:01:35 to the last check at 23:56:35: the 95 s between
    # are nobody's.
    assert data["tenants"][0]["observed_seconds"] == 10 * 3600 + (23 * 3600 + 56 * 60 + 35 - 36_095)
    assert data["outages"] == [
        {"start": "2026-03-01T10:00:00Z", "end": "2026-03-01T10:01:30Z",
         "reason": "connection refused", "probes": 4, "tenants": 3}
    ]  # fmt: skip

    code, out, _ = run(capsys, "history", "Cust1", *window)
    assert code == 0 and "check failed" not in out
    assert not [line for line in out.splitlines() if line.endswith(" connect")]  # no interval
    assert "tenantboard could not reach SuperOffice from 2026-03-01 10:00" in out


def test_report_counts_a_tenant_down_when_the_board_closed_as_down_until_the_close(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running all day, then one "Unknown" check at 23:50 and the board closed at 23:56:
    six minutes of downtime, not 100%."""
    from tenantboard.history.db import HistoryWriter

    key, every = "online:Cust1", timedelta(minutes=5)
    closed = DAY + timedelta(hours=23, minutes=56)
    writer = HistoryWriter(history_path(config), flush_interval=3600, now=lambda: closed)
    writer.start()
    at = DAY
    while at < DAY + timedelta(hours=23, minutes=50):
        writer.add_observations([Observation(key, at, "Running", 2, True, "h", None, at + every)])
        at += every
    writer.add_observations([Observation(key, at, "Unknown", 0, False, "h", None, at + every)])
    writer.close()

    window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
    code, out, _ = run(capsys, "report", "--json", *window, "Cust1")
    (tenant,) = json.loads(out)["tenants"]
    assert code == 0 and tenant["down_seconds"] == 6 * 60
    assert tenant["observed_seconds"] == (closed - DAY).total_seconds()
    assert tenant["incidents"] == 1
    code, out, _ = run(capsys, "report", *window, "Cust1")
    assert out.splitlines()[2].split()[:3] == ["Cust1", "online", "99.582%"]  # 1 - 360 / 86,160


# -- report --by: the same figures added up per group ----------------------------------------


def test_report_by_host_env_and_tag(
    config: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'label = "Acme prod"', 'label = "Acme prod"\ntags = ["acme", "gold"]'
        ),
        encoding="utf-8",
    )
    window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
    code, out, _ = run(capsys, "report", "--by", "host", *window)
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("(1d 00h), by endpoint host")
    assert lines[1].split()[:3] == ["ENDPOINT", "HOST", "TENANTS"]
    assert lines[2].split()[:6] == [
        "online2.superoffice.com", "1", "91.603%", "91.603%", "1h", "50m"
    ]  # fmt: skip
    assert lines[3].split()[:3] == ["no", "host", "1"]  # Cust2: never answered
    code, out, _ = run(capsys, "report", "--by", "tag", "--json", *window)
    data = json.loads(out)
    assert data["by"] == "tag"
    assert [(g["group"], g["context_ids"]) for g in data["groups"]] == [
        ("acme", ["Cust1"]),
        ("gold", ["Cust1"]),  # a tenant counts under each of its tags
        (None, ["Cust2"]),
    ]
    acme = data["groups"][0]
    assert acme["uptime"] == pytest.approx(72_000 / 78_600)
    assert acme["incidents"] == 2 and acme["down_seconds"] == 6600
    code, out, _ = run(capsys, "report", "--by", "env", "--csv", *window)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(row["group"], row["tenants"]) for row in rows] == [("online", "1"), ("sod", "1")]
    assert float(rows[0]["coverage"]) == pytest.approx(78_600 / 86_400)
    assert run(capsys, "report", "--by", "colour", *window)[0] == 64


def test_report_by_version_uses_the_version_each_tenant_was_last_recorded_on(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The history's versions (releases.py records them): an answer that names none, as in
    maintenance, keeps the tenant on its version. By host: its last interval's host."""
    from tenantboard.answers import State
    from tenantboard.history.db import HistoryWriter
    from tenantboard.tenant import Tenant
    from tests.serve_helpers import ok

    one, two = Tenant("Cust1"), Tenant("Cust2", "sod")
    base = (DAY + timedelta(hours=1) - FIXED_NOW).total_seconds()
    writer = HistoryWriter(history_path(config))
    writer.start()
    writer.add_results(
        [
            ok(one, version="Release_11.10", host="online3.x", at=base),
            ok(two, version="Release_10", host="sod2.x", at=base),
            ok(one, State.OfflineMaintenance, version=None, host="online3.x", at=base + 300),
        ]
    )
    writer.close()
    window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
    code, out, _ = run(capsys, "report", "--by", "version", "--json", *window)
    groups = {g["group"]: g["context_ids"] for g in json.loads(out)["groups"]}
    assert code == 0 and groups == {"10": ["Cust2"], "11.10": ["Cust1"]}
    _, out, _ = run(capsys, "report", "--by", "host", "--json", *window)
    groups = {g["group"]: g["context_ids"] for g in json.loads(out)["groups"]}
    assert groups == {"online3.x": ["Cust1"], "sod2.x": ["Cust2"]}


def test_with_no_saved_list_the_report_lists_recorded_tenants_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Our own outage's and host incidents' events are filed under no tenant: they are not
    a tenant of the report (an empty row) when it lists what the history recorded."""
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    with HistoryDB.open(history_path(config)) as db:
        db.record(checks("online:Cust1", 0, 60, "Running"))
        db.write(
            events=[
                LoggedEvent(DAY, "", "SuperOffice", "outage", "could not reach", "unknown"),
                LoggedEvent(DAY, "", "online3.x", "incident", "online3.x: 5 of 9", "critical"),
            ]
        )
    window = ["--config", str(config), "--from", "2026-03-01", "--to", "2026-03-01"]
    code, out, _ = run(capsys, "report", "--json", *window)
    assert code == 0
    assert [tenant["context_id"] for tenant in json.loads(out)["tenants"]] == ["Cust1"]
