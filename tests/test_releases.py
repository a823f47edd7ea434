"""Releases: reading SuperOffice's release labels, a tenant's version change as an event, the
history of versions, and who runs what (the versions view, `versions`, `/metrics`)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantboard.answers import State
from tenantboard.cli import main
from tenantboard.eventlog import logged_events
from tenantboard.history.db import _MIGRATIONS, SCHEMA_VERSION, HistoryDB, HistoryWriter
from tenantboard.history.reader import read_start, read_version_history
from tenantboard.paths import history_path
from tenantboard.releases import (
    FirstSeen,
    compare_releases,
    describe_change,
    filter_term,
    parse_release,
    summarize,
    version_matches,
)
from tenantboard.remote import AttachTarget
from tenantboard.rows import BoardModel
from tenantboard.serve.metrics import MAX_VERSION_SERIES, OTHER_VERSIONS
from tenantboard.simulator import Rollout, Simulator
from tenantboard.tenant import Tenant
from tests.conftest import make_board, until
from tests.serve_helpers import SimulatorInThread, ThreadedServer, failed, idle_watcher, ok
from tests.test_history import version_1_file
from tests.test_metrics import scrape

OLD = "Release_11.9_2026.01.20-01"
NEW = "Release_11.10_2026.02.24-02"
A = Tenant("Cust1", "online", "Acme")
B = Tenant("Cust2", "online", "Beta")
T0 = datetime(2026, 3, 1, tzinfo=UTC)

# -- release labels ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "numbers", "date", "build"),
    [
        (NEW, (11, 10), (2026, 2, 24), 2),
        ("Release_10.3.8_2024.08.30-01", (10, 3, 8), (2024, 8, 30), 1),
        ("Release9_C-2020.10.05-01", (9,), (2020, 10, 5), 1),
        ("Release 8.4 R08", (8, 4), None, 8),
        ("release_11.10", (11, 10), None, None),
    ],
)
def test_superoffices_release_labels_are_read(label, numbers, date, build) -> None:
    parsed = parse_release(label)
    assert parsed is not None
    assert parsed.numbers[: len(numbers)] == numbers
    assert (parsed.date, parsed.build) == (date, build)


@pytest.mark.parametrize(
    "text", ["9729", "11.10.721.0", "", "Services88", "Release_11.10_2026.13.40"]
)
def test_what_is_not_a_release_label_is_not_read_as_one(text: str) -> None:
    assert parse_release(text) is None


@pytest.mark.parametrize(
    ("before", "after", "order"),
    [
        (OLD, NEW, 1),  # 11.10 is after 11.9: numbers, not text ("11.10" < "11.9" as text)
        (NEW, OLD, -1),
        (NEW, "Release_11.10_2026.03.10-01", 1),  # a later build of the same version
        ("Release_11.10_2026.02.24-01", NEW, 1),  # the same day's next build
        ("Release_11.10", "Release_11.10.0", None),  # the same numbers, nothing else to tell
        ("Release_11.10", NEW, None),  # one has a date, the other none: not clear
        ("9729", NEW, None),  # a bare build number: not a release label
        ("Release9_C-2020.10.05-01", "Release9_D-2020.11.02-01", 1),  # letters by date
        ("Release9_C", "Release9_D", None),  # letters alone have no documented order
        ("Release 8.4 R08", "Release 8.4 R09", 1),
        ("Release 8.4 R08", "Release_10.3.8_2024.08.30-01", 1),
    ],
)
def test_release_order(before: str, after: str, order: int | None) -> None:
    assert compare_releases(before, after) == order


@given(st.sampled_from([OLD, NEW, "Release 8.4 R08", "9729", "Release9_C", "x"]), st.text())
def test_the_order_is_antisymmetric(before: str, after: str) -> None:
    forward, backward = compare_releases(before, after), compare_releases(after, before)
    assert forward == (None if backward is None else -backward)


def test_a_change_says_upgraded_downgraded_or_only_changed() -> None:
    assert describe_change(OLD, NEW) == f"upgraded {OLD} → {NEW}"
    assert describe_change(NEW, OLD) == f"downgraded {NEW} → {OLD}"
    assert describe_change("9729", NEW) == f"version changed 9729 → {NEW}"
    # Labels are data: control characters never reach the text.
    assert "\x1b" not in describe_change("Release_1\x1b[31m", NEW)


def test_the_version_filter_term() -> None:
    assert version_matches(NEW, "11.10")
    assert version_matches(NEW, "release_11.10_2026.02.24-02")
    assert not version_matches("Release_11.1_2026.01.01-01", "11.10")
    assert not version_matches("Release_11.10_2026.02.24-02", "11.1")
    assert version_matches(None, "none") and not version_matches(NEW, "none")
    assert version_matches("Release 8.4 R08", filter_term("Release 8.4 R08").split(":", 1)[1])


def test_versions_are_summarized_newest_release_first_with_hosts_and_first_seen() -> None:
    seen = FirstSeen()
    seen.saw(OLD, T0)
    seen.saw(NEW, T0 + timedelta(days=14))
    seen.saw(NEW, T0 + timedelta(days=20))  # a later sighting does not move it
    running = [
        (OLD, "online2.superoffice.com"),
        (NEW, "online3.superoffice.com"),
        (NEW, "online3.superoffice.com"),
        (NEW, "online2.superoffice.com"),
        (None, "online4.superoffice.com"),
        ("9729", None),
    ]
    found = summarize(Counter(running), seen.at)
    assert [(item.version, item.tenants) for item in found] == [
        (NEW, 3),
        (OLD, 1),
        ("9729", 1),
        (None, 1),
    ]
    assert found[0].hosts == (("online3.superoffice.com", 2), ("online2.superoffice.com", 1))
    assert found[0].first_seen == T0 + timedelta(days=14)
    assert found[0].as_json()["release"] == {"numbers": "11.10", "date": "2026-02-24", "build": 2}
    assert found[-1].text == "no version reported"


def test_first_seen_keeps_a_bounded_number_of_versions() -> None:
    seen = FirstSeen(limit=3)
    for number in range(10):
        seen.saw(f"Release_{number}", T0)
    assert len(seen.at) == 3


# -- the event ---------------------------------------------------------------------------------


def test_a_version_change_is_an_event_never_for_the_worse() -> None:
    model = BoardModel([A])
    model.apply(ok(A, version=OLD))
    assert model.take_changes() == []  # the first version seen is no change
    model.apply(ok(A, State.Unknown, at=60, version=NEW))
    events = logged_events(model.take_changes())
    assert [(event.kind, event.worse) for event in events] == [("state", True), ("version", False)]
    assert events[1].text == f"upgraded {OLD} → {NEW}"


def test_a_version_change_across_answers_naming_none_is_still_seen() -> None:
    """Maintenance answers may name no version: the upgrade is told when one is named again."""
    model = BoardModel([A])
    model.apply(ok(A, version=OLD))
    model.apply(ok(A, State.OfflineMaintenance, at=60, version=None))
    model.apply(failed(A, at=120))
    model.take_changes()
    model.apply(ok(A, at=180, version=NEW))
    texts = [event.text for event in logged_events(model.take_changes())]
    assert f"upgraded {OLD} → {NEW}" in texts


def test_the_history_seeds_the_last_version_so_a_change_while_closed_is_told() -> None:
    model = BoardModel([A, B])
    model.seed_versions({A.key: OLD}, T0)  # before A's first answer
    model.apply(ok(A, version=NEW))
    assert [event.text for event in logged_events(model.take_changes())] == [
        f"upgraded {OLD} → {NEW}"
    ]
    model.apply(ok(B, version=NEW))  # B answered before the history was read
    changes = model.seed_versions({B.key: OLD}, T0)
    assert [change.event.text for change in changes] == [f"upgraded {OLD} → {NEW}"]
    assert model.seed_versions({B.key: NEW}, T0) == []


def test_the_filter_finds_tenants_by_version() -> None:
    model = BoardModel([A, B, Tenant("Cust3")])
    model.apply(ok(A, version=OLD))
    model.apply(ok(B, version=NEW))
    model.apply(ok(Tenant("Cust3"), version=None))
    model.view.filter_text = "version:11.10"
    model.recompute_view()
    assert model.order == [B.key]
    model.view.filter_text = "11.9"  # free text finds the version too
    model.recompute_view()
    assert model.order == [A.key]
    model.view.filter_text = f"acme {filter_term(NEW)}"
    model.recompute_view()
    assert model.order == []
    model.view.filter_text = "version:none"
    model.recompute_view()
    assert model.order == ["online:Cust3"]
    model.view.filter_text = "beta version:11.10"  # free text and a term together
    model.recompute_view()
    assert model.order == [B.key]


# -- the history -------------------------------------------------------------------------------


def _write(path: Path, results) -> None:
    writer = HistoryWriter(path)
    writer.start()
    writer.add_results(results)
    writer.close()


def test_the_history_keeps_each_tenants_versions(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _write(
        path,
        [
            ok(A, version=OLD),
            ok(B, version=OLD, at=30),
            ok(A, version=OLD, at=60),
            ok(A, State.OfflineMaintenance, version=None, at=120),
            ok(A, version=NEW, at=180, host="online4.superoffice.com"),
            ok(A, version=NEW, at=240),
        ],
    )
    spans = read_version_history(path, A.key)
    assert [(span.version, span.host) for span in spans] == [
        (NEW, "online4.superoffice.com"),
        (OLD, "online3.superoffice.com"),
    ]
    assert spans[0].until is None and spans[1].until == spans[0].since
    found = read_start(path, [A.key, B.key])
    assert found.last_versions == {A.key: NEW, B.key: OLD}
    assert found.versions_first_seen[OLD] == ok(A).checked_at
    assert found.versions_first_seen[NEW] == ok(A, at=180).checked_at


def test_versions_are_recorded_once_per_change_across_batches_and_writers(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _write(path, [ok(A, version=OLD)])
    _write(path, [ok(A, version=OLD, at=60)])  # another writer: it reads what is there
    _write(path, [ok(A, version=NEW, at=120), ok(A, version=OLD, at=30)])  # the older one: late
    assert [span.version for span in read_version_history(path, A.key)] == [NEW, OLD]


@pytest.mark.parametrize("schema", [1, 2, 3])
def test_an_older_file_is_read_as_it_is_and_gains_the_versions_table(
    tmp_path: Path, schema: int
) -> None:
    """A history recorded before releases: `report` reads it before any board upgrades it,
    and the first writer adds the table, keeping every row."""
    path = version_1_file(tmp_path / "history.sqlite3")  # Cust1 Running 00:00-01:00 on Mar 1
    if schema >= 2:  # as the writers of those versions left it
        with sqlite3.connect(path) as raw:
            steps = "".join(_MIGRATIONS[1:schema])
            raw.executescript(steps + f"PRAGMA user_version = {schema};")
    with HistoryDB.open(path, read_only=True) as db:
        assert db.schema == schema
        assert [interval.state for interval in db.intervals(A.key)] == ["Running"]
        assert db.version_spans(A.key) == [] and db.versions_first_seen() == {}
        assert db.last_versions([A.key]) == {}
    _write(path, [ok(A, version=NEW)])
    with HistoryDB.open(path, read_only=True) as db:
        assert db.schema == SCHEMA_VERSION == 4
        assert len(db.intervals(A.key)) == 2
        assert [span.version for span in db.version_spans(A.key)] == [NEW]


def test_retention_keeps_the_version_a_tenant_still_runs(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _write(path, [ok(A, version=OLD, at=-400 * 86400), ok(A, version=NEW, at=-300 * 86400)])
    _write(path, [ok(B, version=OLD, at=-500 * 86400)])
    with HistoryDB.open(path) as db:
        while db.prune(T0):
            pass
    # A's 11.9 ended 300 days ago, before the cutoff: gone. Its 11.10 and B's 11.9, which
    # they still run, stay with their first sighting, however old.
    assert [span.version for span in read_version_history(path, A.key)] == [NEW]
    assert [span.version for span in read_version_history(path, B.key)] == [OLD]


# -- `tenantboard versions` --------------------------------------------------------------------


@pytest.fixture
def listed(tmp_path: Path) -> Path:
    """Four tenants listed: two on 11.10 (hosts online3, online4), one on 11.9 and one never
    recorded; and a tenant no longer listed, on a release only it ran."""
    config = tmp_path / "tenants.toml"
    config.write_text(
        "".join(f'[[tenants]]\ncontext_id = "Cust{n}"\n\n' for n in (1, 2, 3, 4)), encoding="utf-8"
    )
    _write(
        history_path(config),
        [
            ok(Tenant("Cust1"), version=OLD, at=-86400),
            ok(Tenant("Cust1"), version=NEW, at=-3600, host="online3.superoffice.com"),
            ok(Tenant("Cust2"), version=NEW, at=-600, host="online4.superoffice.com"),
            ok(Tenant("Cust3"), version=OLD, host="online2.superoffice.com"),
            ok(Tenant("Cust9"), version="Release_11.11_2026.04.01-01", at=-60),
        ],
    )
    return config


def test_versions_lists_who_runs_what_newest_first(listed: Path, capsys) -> None:
    assert main(["versions", "--config", str(listed)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VERSION", "TENANTS", "SHARE", "FIRST", "SEEN", "HOSTS"]
    assert lines[1].split() == [
        NEW,
        "2",
        "67%",
        "2026-03-02",
        "08:30",
        "online3",
        "1,",
        "online4",
        "1",
    ]
    assert lines[2].split() == [OLD, "1", "33%", "2026-03-01", "09:30", "online2", "1"]
    assert lines[3] == "1 tenant of the list not recorded yet"  # Cust4; Cust9 is not listed


def test_versions_json(listed: Path, capsys) -> None:
    assert main(["versions", "--config", str(listed), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["tenants"], found["not_recorded"]) == (4, 1)
    newest = found["versions"][0]
    assert newest["version"] == NEW and newest["tenants"] == 2
    assert newest["first_seen"] == "2026-03-02T08:30:00Z"
    assert newest["hosts"] == [
        {"host": "online3.superoffice.com", "tenants": 1},
        {"host": "online4.superoffice.com", "tenants": 1},
    ]
    assert newest["release"] == {"numbers": "11.10", "date": "2026-02-24", "build": 2}


def test_versions_without_a_history_says_so(tmp_path: Path, capsys) -> None:
    config = tmp_path / "tenants.toml"
    config.write_text('[[tenants]]\ncontext_id = "Cust1"\n', encoding="utf-8")
    assert main(["versions", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "no history recorded yet" in captured.err
    assert "1 tenant of the list not recorded yet" in captured.out


# -- /metrics ----------------------------------------------------------------------------------


def test_metrics_count_tenants_per_version_with_first_sighting() -> None:
    tenants = [Tenant(f"Cust{n}") for n in range(1, 6)]
    watcher = idle_watcher(tenants)
    for index, tenant in enumerate(tenants[:4]):
        watcher.record(ok(tenant, version=NEW if index < 3 else None, at=index))
    watcher.record(ok(tenants[0], version=OLD, at=-86400))  # an older sighting, kept
    watcher.record(ok(tenants[0], version=NEW, at=10))
    samples = scrape(watcher)
    assert samples["tenantboard_version_tenants"] == {
        (("version", NEW),): 3.0,
        (("version", ""),): 1.0,  # an answer naming no version; Cust5 has not answered
    }
    first_seen = samples["tenantboard_version_first_seen_timestamp_seconds"]
    assert first_seen == {(("version", NEW),): ok(tenants[0]).checked_at.timestamp()}


def test_metrics_make_a_series_for_at_most_fifty_versions() -> None:
    """Answers are untrusted: a made-up version per tenant must not make a series each."""
    tenants = [Tenant(f"Cust{n}") for n in range(1, 81)]
    watcher = idle_watcher(tenants)
    for number, tenant in enumerate(tenants):
        version = NEW if number < 20 else f"Release_1.{number}"
        watcher.record(ok(tenant, version=version))
    series = scrape(watcher)["tenantboard_version_tenants"]
    assert len(series) == MAX_VERSION_SERIES + 1
    assert series[(("version", NEW),)] == 20
    assert series[(("version", OTHER_VERSIONS),)] == 80 - 20 - (MAX_VERSION_SERIES - 1)
    assert sum(series.values()) == 80


# -- check --json and an attached board ---------------------------------------------------------


def test_check_json_gives_the_release_the_answer_names(capsys) -> None:
    simulator = Simulator(slow_delay=0, rollout=Rollout(day=86400))
    with SimulatorInThread(simulator) as running:
        assert main(["check", "--json", "--base-url", running.url, "Cust1"]) == 0
    (cust1,) = json.loads(capsys.readouterr().out)
    assert cust1["release"] == Rollout().old  # Cust1 lives on online3: its day is the second
    assert main(["check", "--json", "Cust404x"]) == 3  # could not check: the key is there
    (unknown,) = json.loads(capsys.readouterr().out)
    assert "release" in unknown and unknown["release"] is None


async def test_an_attached_board_gets_the_whole_release_label(clock) -> None:
    """The server's rows shorten the label for the table ("11.10_2026…"); an attached board
    reads the answer's own, so its version events say upgraded, not only changed."""
    watcher = idle_watcher([A])
    watcher.record(ok(A, version=OLD))
    with ThreadedServer(watcher) as server:
        target = AttachTarget.parse(server.url)
        app = make_board(clock, [], attach=target, transport=httpx.AsyncHTTPTransport())
        async with app.run_test(size=(160, 30)) as pilot:
            row = lambda: app.board.model.rows.get(A.key)  # noqa: E731
            await until(pilot, lambda: row() is not None and row().state is not None, tries=500)
            assert row().state.version == OLD
            server.call(server.watcher.record, ok(A, version=NEW, at=60))
            await until(pilot, lambda: row().state.version == NEW, tries=500)
            texts = [event.text for event in app.board.event_log.events]
            assert f"upgraded {OLD} → {NEW}" in texts
