"""The history database: folding, restarts, retention, marks, the writer, bad files."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantboard.eventlog import LoggedEvent
from tenantboard.history.db import (
    DEFAULT_GAP,
    FLEET_SCHEMA,
    SCHEMA_VERSION,
    HistoryDB,
    HistoryError,
    HistoryWriter,
    Observation,
    Reason,
    VersionSeen,
    changed_while_closed,
    fold,
    import_event_log,
)
from tenantboard.paths import history_path

from .conftest import FIXED_NOW, REQUIRE_ROOT, skip_unless_required

T0 = datetime(2026, 3, 1, tzinfo=UTC)
KEY = "online:Cust1"


def seen(minute: float, state: str | None = "Running", key: str = KEY, **kw: object) -> Observation:
    running = kw.pop("running", state in ("Running", "OnlineMaintenance") if state else None)
    code = kw.pop("code", {"Running": 2, "Unknown": 0, "OfflineMaintenance": 6}.get(state or ""))
    return Observation(
        key,
        T0 + timedelta(minutes=minute),
        state,
        code if state else None,
        running,  # type: ignore[arg-type]
        kw.pop("host", "online2.superoffice.com" if state else None),  # type: ignore[arg-type]
        kw.pop("error", None),  # type: ignore[arg-type]
        kw.pop("next_at", None),  # type: ignore[arg-type]
    )


def planned(
    minute: float, every: float, state: str | None = "Running", **kw: object
) -> Observation:
    """A check at ``minute`` whose next one the monitor planned ``every`` minutes later."""
    return seen(minute, state, next_at=T0 + timedelta(minutes=minute + every), **kw)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def db(db_path: Path) -> Iterator[HistoryDB]:
    with HistoryDB.open(db_path) as handle:
        yield handle


def rows(db: HistoryDB, key: str = KEY) -> list[tuple[int, int, str | None]]:
    return [
        (
            int((i.start - T0).total_seconds() // 60),
            int((i.end - T0).total_seconds() // 60),
            i.state,
        )
        for i in db.intervals(key)
    ]


# -- folding -------------------------------------------------------------------------------


def test_a_stable_tenant_is_one_row_however_often_it_is_checked(db: HistoryDB) -> None:
    for batch in range(10):
        db.record([seen(batch * 10 + minute) for minute in range(0, 10, 2)])
    assert rows(db) == [(0, 98, "Running")]
    assert db.connection.execute("SELECT COUNT(*) FROM intervals").fetchone()[0] == 1


def test_a_change_ends_the_interval_at_the_new_check_and_starts_another(db: HistoryDB) -> None:
    db.record([seen(0), seen(5), seen(10, "Unknown"), seen(15, "Unknown")])
    db.record([seen(20), seen(25)])
    assert rows(db) == [(0, 10, "Running"), (10, 20, "Unknown"), (20, 25, "Running")]


def test_an_endpoint_move_or_a_failed_check_is_a_change(db: HistoryDB) -> None:
    db.record(
        [
            seen(0),
            seen(5, host="online3.superoffice.com"),
            seen(10, None, error="timeout"),
            seen(12, None, error="timeout"),
            seen(14, None, error="dns"),
        ]
    )
    found = db.intervals(KEY)
    assert [(i.host, i.error) for i in found] == [
        ("online2.superoffice.com", None),
        ("online3.superoffice.com", None),
        (None, "timeout"),
        (None, "dns"),
    ]


def test_a_long_silence_leaves_a_gap_instead_of_stretching_the_interval(db: HistoryDB) -> None:
    db.record([seen(0), seen(10)])
    later = 10 + DEFAULT_GAP / 60 + 5
    db.record([seen(later), seen(later + 10)])
    assert rows(db) == [(0, 10, "Running"), (int(later), int(later + 10), "Running")]


def test_the_gap_follows_the_checks_the_monitor_planned(db: HistoryDB) -> None:
    # Checks 50 minutes apart, as planned (max_interval 3600, ValidUntil 50 min): observed
    # throughout, where the fixed 32-minute gap made each check its own instant.
    db.record([planned(minute, 50) for minute in range(0, 24 * 60, 50)])
    assert rows(db) == [(0, 1400, "Running")]
    # Checks planned 5 minutes apart: one that comes 20 minutes late (the board was paused
    # or asleep) leaves a gap, even though it is well within the old 32 minutes.
    other = "online:Cust2"
    db.record([planned(0, 5, key=other), planned(5, 5, key=other), planned(25, 5, key=other)])
    assert rows(db, other) == [(0, 5, "Running"), (25, 25, "Running")]
    # Late within the margin (the planned delay + 50 % + 2 minutes) is not a gap.
    third = "online:Cust3"
    db.record([planned(0, 10, key=third), planned(16, 10, key=third)])
    assert rows(db, third) == [(0, 16, "Running")]


def test_an_observation_older_than_the_record_is_dropped(db: HistoryDB) -> None:
    db.record([seen(0), seen(20)])
    db.record([seen(10, "Unknown")])
    assert rows(db) == [(0, 20, "Running")]


observations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4000),
        st.sampled_from(["Running", "Unknown", "OfflineMaintenance", None]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(observations, st.integers(min_value=1, max_value=5))
def test_folding_never_makes_overlapping_or_backwards_intervals(
    raw: list[tuple[int, str | None]], batches: int
) -> None:
    items = [
        seen(minute, state, error=None if state else "timeout")
        for minute, state in sorted(raw, key=lambda pair: pair[0])
    ]
    last = None
    folded = []
    size = max(1, len(items) // batches)
    for index in range(0, len(items), size):
        updated, new = fold(last, items[index : index + size])
        if folded and updated is not None:
            folded[-1] = updated
        folded.extend(new)
        last = folded[-1] if folded else None
    for interval in folded:
        assert interval.start <= interval.end
    for before, after in itertools.pairwise(folded):
        assert before.end <= after.start
    if items:
        assert folded[0].start == items[0].at and folded[-1].end == items[-1].at


@settings(max_examples=150, deadline=None)
@given(
    observations,
    st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 300)), max_size=4),
    st.integers(min_value=1, max_value=5),
)
def test_no_interval_ever_spans_one_of_our_outages(
    raw: list[tuple[int, str | None]], spans: list[tuple[int, int]], batches: int
) -> None:
    from tenantboard.connectivity import Outage

    outages = [
        Outage(T0 + timedelta(minutes=start), "x", 3, ended=T0 + timedelta(minutes=start + length))
        for start, length in spans
    ]
    items = [
        planned(minute, 10, state, error=None if state else "timeout")
        for minute, state in sorted(raw, key=lambda pair: pair[0])
    ]
    last, folded = None, []
    size = max(1, len(items) // batches)
    for index in range(0, len(items), size):
        updated, new = fold(last, items[index : index + size], outages=outages)
        if folded and updated is not None:
            folded[-1] = updated
        folded.extend(new)
        last = folded[-1] if folded else None
    for before, after in itertools.pairwise(folded):
        assert before.start <= before.end <= after.start <= after.end
    for interval in folded:
        for outage in outages:
            assert outage.ended is not None
            assert not (interval.start < outage.since and interval.end > outage.ended)


# -- restarts: what changed while closed ---------------------------------------------------


def test_restart_finds_what_changed_while_the_board_was_closed(db: HistoryDB) -> None:
    db.record([seen(0), seen(10, key="online:Cust2")])
    last = db.last_recorded([KEY, "online:Cust2", "online:Cust3"])
    assert set(last) == {KEY, "online:Cust2"}
    first = seen(14 * 60, "Unknown")
    change = changed_while_closed(last[KEY], first)
    assert change is not None
    assert change.closed_from == T0 and change.closed_to == first.at
    assert change.describe() == "Running → Unknown while closed, between 00:00 and 14:00"
    assert changed_while_closed(last["online:Cust2"], seen(14 * 60, key="online:Cust2")) is None
    assert changed_while_closed(None, first) is None


def test_last_run_end_says_when_a_board_last_wrote(db_path: Path) -> None:
    times = iter([T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)])
    current = [T0]

    def now() -> datetime:
        return current[0]

    writer = HistoryWriter(db_path, flush_interval=60, now=now)
    writer.start()
    current[0] = next(times)
    writer.add_observations([seen(0)])
    assert writer.flush()
    current[0] = next(times)
    writer.add_observations([seen(5)])
    current[0] = next(times)
    writer.close()
    with HistoryDB.open(db_path, read_only=True) as db:
        assert db.last_run_end() == T0 + timedelta(minutes=9)
        assert db.last_run_end(excluding=writer.run_id) is None


def closing_at(path: Path, minute: float) -> HistoryWriter:
    """A writer whose clock says ``minute`` (it closes then)."""
    return HistoryWriter(path, flush_interval=3600, now=lambda: T0 + timedelta(minutes=minute))


def test_closing_holds_each_tenants_last_outcome_until_the_close(db_path: Path) -> None:
    """A tenant found down by the last check before the board closed was down until the
    close, not for zero seconds (which read as 100% uptime)."""
    quiet = "online:Cust2"
    writer = closing_at(db_path, 12)
    writer.start()
    writer.add_observations(
        [planned(0, 5), planned(5, 5), planned(10, 5, "Unknown"), planned(0, 1, key=quiet)]
    )
    writer.close()
    with HistoryDB.open(db_path, read_only=True) as db:
        assert rows(db) == [(0, 10, "Running"), (10, 12, "Unknown")]
        # Its next check was due at 1 and never came (paused, or taken off the list): the
        # close at 12 is past the allowed silence, so that time stays a gap.
        assert rows(db, quiet) == [(0, 0, "Running")]
        [run_end] = db.connection.execute("SELECT last_seen FROM runs").fetchone()
        assert run_end == round((T0 + timedelta(minutes=12)).timestamp())


def test_closing_never_stretches_an_interval_across_our_outage(db_path: Path) -> None:
    from tenantboard.connectivity import Outage

    since = T0 + timedelta(minutes=10, seconds=30)
    writer = closing_at(db_path, 12)
    writer.start()
    writer.add_observations([planned(0, 5), planned(5, 5), planned(10, 5, "Unknown")])
    writer.outage_changed(Outage(since, "connection refused", 3))  # still on at the close
    writer.close()
    with HistoryDB.open(db_path, read_only=True) as db:
        assert [(i.label, i.end) for i in db.intervals(KEY)][-1] == ("Unknown", since)


def test_closing_leaves_alone_what_another_writer_recorded_since(db_path: Path) -> None:
    writer = closing_at(db_path, 12)
    writer.start()
    writer.add_observations([planned(0, 5), planned(5, 5)])
    assert writer.flush()
    with HistoryDB.open(db_path) as other:
        other.record([planned(9, 5, "Unknown")])
    writer.close()
    with HistoryDB.open(db_path, read_only=True) as db:
        assert rows(db) == [(0, 9, "Running"), (9, 9, "Unknown")]


def test_a_writer_ends_the_outage_a_killed_run_left_open_at_its_last_heartbeat(
    db_path: Path,
) -> None:
    """serve killed during our own outage never ended it, and `history` would say it goes
    on: the next writer, started again at once, ends it at that run's last heartbeat. The
    outage of a run still going (a poller beside this board) stays open."""
    from tenantboard.connectivity import Outage

    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id no process has now
    with HistoryDB.open(db_path) as db:
        killed = db.start_run(T0)
        db.connection.execute("UPDATE runs SET pid = ? WHERE id = ?", (gone.pid, killed))
        since = T0 + timedelta(minutes=1)
        db.write(steps=[Outage(since, "connection refused", 3)], run_id=killed, now=since)
        db.write(run_id=killed, now=T0 + timedelta(minutes=2))  # its last heartbeat
        alive = db.start_run(T0)  # (this process's id)
        later = T0 + timedelta(minutes=1, seconds=30)
        db.write(steps=[Outage(later, "timed out", 3)], run_id=alive, now=later)
        db.write(run_id=alive, now=T0 + timedelta(minutes=2))
    writer = closing_at(db_path, 2.5)  # started 30 s after the kill
    writer.start()
    assert writer.flush()
    writer.close()
    with HistoryDB.open(db_path, read_only=True) as db:
        ended = {outage.reason: outage.ended for outage in db.outages()}
    assert ended == {"connection refused": T0 + timedelta(minutes=2), "timed out": None}


# -- retention -------------------------------------------------------------------------------


def test_retention_deletes_old_rows_in_small_chunks(db: HistoryDB) -> None:
    keys = [f"online:Cust{n}" for n in range(30)]
    db.record([seen(0, key=key) for key in keys] + [seen(1, key=key) for key in keys])
    db.record([seen(3 * 24 * 60, "Unknown", key=key) for key in keys[:5]])
    old_event = LoggedEvent(T0, KEY, "x", "state", "old", "ok")
    new_event = LoggedEvent(T0 + timedelta(days=3), KEY, "x", "state", "new", "ok")
    db.write(events=[old_event, new_event])
    cutoff = T0 + timedelta(days=2)
    chunks = []
    while deleted := db.prune(cutoff, chunk=7):
        chunks.append(deleted)
    assert max(chunks) <= 7 * 4 and sum(chunks) == 31
    assert sorted(db.last_recorded(keys)) == sorted(keys[:5])
    assert [event.text for event in db.events()] == ["new"]


def test_the_writer_applies_the_retention_setting(db_path: Path) -> None:
    with HistoryDB.open(db_path) as db:
        db.record([seen(0), seen(1), seen(0, key="online:Cust2")])
    now = T0 + timedelta(days=10)
    writer = HistoryWriter(db_path, retention_days=5, now=lambda: now)
    writer.start()
    writer.add_observations([seen(10 * 24 * 60, key="online:Cust2")])
    writer.close()
    with HistoryDB.open(db_path, read_only=True) as db:
        assert set(db.last_recorded([KEY, "online:Cust2"])) == {"online:Cust2"}


# -- mutes and acknowledgements -------------------------------------------------------------


def test_a_timed_mute_expires_by_itself(db: HistoryDB) -> None:
    mark = db.add_mark(KEY, "mute", "Unknown", T0, until=T0 + timedelta(hours=1), by="ann")
    assert [m.by for m in db.marks([KEY], T0 + timedelta(minutes=59), {KEY: "Running"})] == ["ann"]
    assert db.marks([KEY], T0 + timedelta(hours=1), {KEY: "Unknown"}) == []
    expired = db.expire_marks(T0 + timedelta(hours=2), {KEY: "Unknown"})
    assert [m.id for m in expired] == [mark.id]
    assert db.marks() == []
    assert db.marks(include_ended=True)[0].ended_at == T0 + timedelta(hours=2)


def test_an_acknowledgement_lasts_until_the_state_changes(db: HistoryDB) -> None:
    db.add_mark(KEY, "ack", "Unknown", T0, until=T0 + timedelta(minutes=1))
    later = T0 + timedelta(days=3)
    assert [m.kind for m in db.marks([KEY], later, {KEY: "Unknown"})] == ["ack"]
    assert db.marks([KEY], later, {KEY: "Running"}) == []
    assert db.marks(None)[0].by  # the user's name from getpass


def test_a_mark_can_be_cleared_by_hand(db: HistoryDB) -> None:
    mark = db.add_mark(KEY, "mute", "Unknown", T0)
    db.end_mark(mark.id, T0 + timedelta(minutes=3))
    assert db.marks() == []


# -- the event log moves in --------------------------------------------------------------------


def test_events_jsonl_is_imported_once_and_renamed_aside(db: HistoryDB, tmp_path: Path) -> None:
    events = [
        LoggedEvent(T0, KEY, "Acme", "state", "Running → Unknown", "critical", True),
        LoggedEvent(T0 + timedelta(minutes=5), KEY, "Acme", "recovery", "recovered", "ok"),
    ]
    log = tmp_path / "events.jsonl"
    log.write_text(
        events[0].to_json() + "\nnot json\n" + events[1].to_json() + "\n", encoding="utf-8"
    )
    assert import_event_log(db, log) == 2
    assert not log.exists()
    assert (tmp_path / "events.jsonl.imported").exists()
    assert db.events(KEY) == list(reversed(events))
    assert import_event_log(db, log) == 0  # nothing left to import


def test_events_from_the_file_are_cleaned_on_the_way_out(db: HistoryDB) -> None:
    event = LoggedEvent(T0, KEY, "x\x1b[31m", "state", "bad\x1b]0;title\x07text", "ok")
    db.write(events=[event])
    assert db.events()[0].text == "badtext" and db.events()[0].name == "x"


# -- the writer thread, crashes and two processes ----------------------------------------------


def test_the_writer_batches_off_the_callers_thread(db_path: Path) -> None:
    writer = HistoryWriter(db_path, flush_interval=3600)
    writer.start()
    writer.add_observations([seen(0), seen(1)])
    writer.add_events([LoggedEvent(T0, KEY, "Acme", "state", "hello", "ok")])
    assert writer.flush()
    future = writer.call(lambda db: db.add_mark(KEY, "mute", "Running", T0, by="bo"))
    assert future.result(timeout=10).by == "bo"
    writer.close()
    assert writer.error is None
    with HistoryDB.open(db_path, read_only=True) as db:
        assert rows(db) == [(0, 1, "Running")]
        assert [e.text for e in db.events()] == ["hello"]


def test_results_queued_one_at_a_time_are_written_in_one_fold(db: HistoryDB) -> None:
    """serve queues a result at a time (its observation, then its version): a batch of
    them is folded together, not one lookup of our outages and versions per result."""
    keys = [f"online:Cust{number}" for number in range(50)]
    db.write([seen(0, key=key) for key in keys])
    steps: list[Observation | VersionSeen] = []
    for key in keys:
        steps += [seen(1, key=key), VersionSeen(key, T0, "Release_11.1", None)]
    statements: list[str] = []
    db.connection.set_trace_callback(statements.append)
    db.write(steps=steps)
    db.connection.set_trace_callback(None)
    assert sum("FROM outages" in sql for sql in statements) == 1
    assert sum("data_version" in sql for sql in statements) == 1
    assert all(rows(db, key) == [(0, 1, "Running")] for key in keys)
    assert len(db.last_versions(keys)) == 50


def test_a_fleets_first_batch_looks_up_no_history_for_tenants_new_to_the_file(
    db: HistoryDB,
) -> None:
    keys = [f"online:Cust{number}" for number in range(1200)]  # past one IN (...) chunk
    statements: list[str] = []
    db.connection.set_trace_callback(statements.append)
    db.write([seen(0, key=key) for key in keys])
    db.connection.set_trace_callback(None)
    assert not [sql for sql in statements if "intervals" in sql and "INSERT" not in sql]
    assert sum("SELECT key, id FROM tenants" in sql for sql in statements) == 6
    # Many rows a statement: a statement a row let go of the interpreter lock for each,
    # and serve's busy event loop made the writer wait for every one back.
    assert sum(sql.startswith("INSERT INTO tenants") for sql in statements) == 2
    assert sum(sql.startswith("INSERT INTO intervals") for sql in statements) == 12
    assert all(rows(db, key) == [(0, 0, "Running")] for key in keys[::100])
    db.write([seen(1, key=key) for key in keys])  # known now: continued
    assert all(rows(db, key) == [(0, 1, "Running")] for key in keys[::100])


def test_a_fleets_next_batch_folds_onto_every_tenants_interval_in_a_few_statements(
    db: HistoryDB,
) -> None:
    """Each tenant's last interval read, and its end moved, a statement a tenant: each
    statement lets go of the interpreter lock, and with serve's event loop busy the writer
    waited up to a switch interval for each one back (2,000 results a second outran it).
    Now a few statements a batch; every tenant's history as before."""
    keys = [f"online:Cust{number}" for number in range(1200)]  # past one chunk of each
    db.write([seen(0, key=key) for key in keys])
    db.write([seen(1, key=key, next_at=T0 + timedelta(minutes=6)) for key in keys])
    changed = keys[::100]
    statements: list[str] = []
    db.connection.set_trace_callback(statements.append)
    planned = T0 + timedelta(minutes=7)
    db.write(
        [
            seen(2, "Stopped" if key in changed else "Running", key=key, next_at=planned)
            for key in keys
        ]
    )
    db.connection.set_trace_callback(None)
    assert sum("JOIN intervals" in sql for sql in statements) == 3  # 500 tenants a statement
    assert sum(sql.startswith("UPDATE intervals") for sql in statements) == 7  # 180 a statement
    for key in keys:
        expected = [(0, 2, "Running")]
        if key in changed:
            expected = [(0, 2, "Running"), (2, 2, "Stopped")]
        assert rows(db, key) == expected
        assert db.intervals(key)[0].next_at == planned  # as its last check planned


def test_versions_seen_for_a_fleet_are_read_and_added_in_a_few_statements(
    db: HistoryDB,
) -> None:
    keys = [f"online:Cust{number}" for number in range(900)]
    db.write(steps=[VersionSeen(key, T0, "Release_11.1", None) for key in keys[:300]])
    later = T0 + timedelta(minutes=5)
    statements: list[str] = []
    db.connection.set_trace_callback(statements.append)
    db.write(steps=[VersionSeen(key, later, "Release_11.2", None) for key in keys])
    db.connection.set_trace_callback(None)
    # The 600 not read yet, 500 a look-up; 900 rows added, 225 (900 variables) a statement.
    assert sum("FROM versions" in sql for sql in statements) == 2
    assert sum(sql.startswith("INSERT INTO versions") for sql in statements) == 4
    spans = db.version_spans(keys[0])
    assert [span.version for span in spans][:2] == ["Release_11.2", "Release_11.1"]
    assert db.last_versions([keys[-1]])[keys[-1]].version == "Release_11.2"


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from tenantboard.history.db import HistoryWriter, Observation

    path, prefix, batches = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    writer = HistoryWriter(path, flush_interval=0.01)
    writer.start()
    for batch in range(batches if batches else 10**9):
        state = "Running" if batch % 3 else "Unknown"
        writer.add_observations(
            Observation(f"online:Cust{prefix}{n}", t0 + timedelta(minutes=batch), state, 2,
                        state == "Running")
            for n in range(20)
        )
        writer.flush()
        print(batch, flush=True)
    writer.close()
    print("error", writer.error, flush=True)
    """
)


def run_writer(path: Path, prefix: str, batches: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(path), prefix, str(batches)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_processes_share_one_database(db_path: Path) -> None:
    HistoryDB.open(db_path).close()
    other = run_writer(db_path, "9", 60)
    writer = HistoryWriter(db_path, flush_interval=0.01)
    writer.start()
    for batch in range(60):
        state = "Running" if batch % 3 else "Unknown"
        writer.add_observations([seen(batch, state, key=f"online:Cust1{n}") for n in range(20)])
        writer.flush()
    writer.close()
    output, _ = other.communicate(timeout=60)
    assert other.returncode == 0 and output.strip().endswith("error None")
    assert writer.error is None
    with HistoryDB.open(db_path, check=True) as db:
        for prefix in ("1", "9"):
            for n in range(20):
                found = db.intervals(f"online:Cust{prefix}{n}")
                assert len(found) == 40  # 20 Unknown stretches and 20 Running ones
                assert found[-1].end == T0 + timedelta(minutes=59)


def test_kill_9_loses_at_most_the_last_batch_and_never_corrupts(db_path: Path) -> None:
    process = run_writer(db_path, "5", 0)
    assert process.stdout is not None
    written = 0
    for line in process.stdout:
        written = int(line.split()[0])
        if written >= 30:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    with HistoryDB.open(db_path, check=True) as db:
        found = db.intervals("online:Cust50")
        assert found[-1].end >= T0 + timedelta(minutes=written)
        for before, after in itertools.pairwise(found):
            assert before.end <= after.start


# -- bad files --------------------------------------------------------------------------------


def test_a_corrupt_file_is_refused_then_set_aside_by_the_writer(
    db_path: Path, tmp_path: Path
) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database at all" * 200)
    tenant_file = tmp_path / "tenants.toml"
    tenant_file.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(HistoryError) as caught:
        HistoryDB.open(db_path, read_only=True)
    assert caught.value.reason is Reason.CORRUPT
    errors: list[HistoryError] = []
    writer = HistoryWriter(db_path, on_error=errors.append)
    writer.start()
    writer.add_observations([seen(0)])
    writer.close()
    assert errors and errors[0].reason is Reason.CORRUPT
    moved = errors[0].set_aside
    assert moved is not None and moved.read_bytes().startswith(b"this is not a database")
    assert "moved aside" in str(errors[0])
    with HistoryDB.open(db_path, read_only=True) as db:
        assert rows(db) == [(0, 0, "Running")]
    assert tenant_file.read_text(encoding="utf-8") == "# mine\n"


def test_damaged_pages_are_found_by_the_writers_check(db_path: Path) -> None:
    with HistoryDB.open(db_path) as db:
        db.record([seen(n, key=f"online:Cust{n}") for n in range(2000)])
        db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db_path.read_bytes())
    data[4096 * 3 : 4096 * 6] = b"\xff" * (4096 * 3)
    db_path.write_bytes(bytes(data))
    with pytest.raises(HistoryError) as caught:
        HistoryDB.open(db_path, check=True)
    assert caught.value.reason is Reason.CORRUPT


def test_a_newer_schema_is_refused_and_left_alone(db_path: Path) -> None:
    HistoryDB.open(db_path).close()
    with contextlib.closing(sqlite3.connect(db_path)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        raw.commit()
    before = db_path.read_bytes()
    for read_only in (True, False):
        with pytest.raises(HistoryError) as caught:
            HistoryDB.open(db_path, read_only=read_only)
        assert caught.value.reason is Reason.NEWER_SCHEMA
        assert "newer tenantboard" in str(caught.value)
    errors: list[HistoryError] = []
    writer = HistoryWriter(db_path, on_error=errors.append)
    writer.start()
    writer.close()
    assert [e.reason for e in errors] == [Reason.NEWER_SCHEMA]
    assert db_path.read_bytes() == before


def test_a_file_locked_for_long_is_a_locked_error_and_the_batch_is_kept(db_path: Path) -> None:
    HistoryDB.open(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    errors: list[HistoryError] = []
    writer = HistoryWriter(db_path, busy_timeout=0.05, on_error=errors.append, flush_interval=60)
    writer.start()
    writer.add_observations([seen(0), seen(1)])
    assert writer.flush()
    assert writer.error is not None and writer.error.reason is Reason.LOCKED
    blocker.execute("COMMIT")
    blocker.close()
    writer.add_observations([seen(2)])
    assert writer.flush()
    writer.close()
    assert writer.error is None
    with HistoryDB.open(db_path, read_only=True) as db:
        assert rows(db) == [(0, 2, "Running")]


@contextlib.contextmanager
def small_tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    mount_point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if done.returncode != 0:
        skip_unless_required("needs root to mount a small tmpfs", REQUIRE_ROOT)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_a_disk_full_error(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "192k") as folder:
        path = folder / "history.sqlite3"
        errors: list[HistoryError] = []
        writer = HistoryWriter(path, on_error=errors.append, flush_interval=60)
        writer.start()
        for batch in range(40):
            writer.add_observations(
                [seen(batch, key=f"online:Cust{batch}{n}", host="h" * 60) for n in range(200)]
            )
            writer.flush()
            if writer.error is not None:
                break
        writer.close()
        assert errors and errors[-1].reason is Reason.DISK_FULL
        assert "disk is full" in str(errors[-1])
        with HistoryDB.open(path, check=True) as db:  # what was written is intact
            assert db.tenant_keys()


def test_a_read_only_disk_is_a_read_only_error_and_reading_still_works(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "1m") as folder:
        path = folder / "history.sqlite3"
        with HistoryDB.open(path) as db:
            db.record([seen(0), seen(1)])
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        errors: list[HistoryError] = []
        writer = HistoryWriter(path, on_error=errors.append)
        writer.start()
        writer.add_observations([seen(2)])
        writer.close()
        assert errors and errors[0].reason is Reason.READ_ONLY
        with HistoryDB.open(path, read_only=True) as db:
            assert rows(db) == [(0, 1, "Running")]


def test_the_history_file_is_named_after_the_tenant_files_path(tmp_path: Path) -> None:
    first = history_path(tmp_path / "a" / ".." / "tenants.toml", data_root=tmp_path)
    assert first == history_path(tmp_path / "tenants.toml", data_root=tmp_path)
    assert first != history_path(tmp_path / "other.toml", data_root=tmp_path)
    assert first.is_relative_to(tmp_path) and first.name == "history.sqlite3"


def test_a_check_result_becomes_an_observation() -> None:
    from tenantboard.answers import parse_state
    from tenantboard.engine import CheckResult
    from tenantboard.errors import CheckError, ErrorKind
    from tenantboard.tenant import Tenant

    tenant = Tenant("Cust1")
    state = parse_state(
        {
            "ContextIdentifier": "Cust1",
            "State": "OfflineMaintenance",
            "IsRunning": False,
            "Endpoint": "https://online3.superoffice.com/Cust1",
            "ValidUntil": "2026-03-01T00:05:00Z",
        },
        "Cust1",
    )
    good = Observation.from_result(CheckResult(tenant, state, None, T0, 0.1))
    assert (good.key, good.state, good.code, good.running, good.host, good.error) == (
        KEY, "OfflineMaintenance", 6, False, "online3.superoffice.com", None,
    )  # fmt: skip
    failed = CheckResult(tenant, None, CheckError(ErrorKind.TIMEOUT, "slow"), T0, 10.0)
    bad = Observation.from_result(failed)
    assert (bad.state, bad.running, bad.error, bad.label) == (
        None,
        None,
        "timeout",
        "error:timeout",
    )


SAME_KEYS_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from tenantboard.history.db import HistoryWriter, Observation

    path, offset = Path(sys.argv[1]), int(sys.argv[2])
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    writer = HistoryWriter(path, flush_interval=0.01)
    writer.start()
    for minute in range(offset, 120, 2):
        state = "Running" if (minute // 10) % 2 else "Unknown"
        writer.add_observations(
            Observation(f"online:Cust{n}", t0 + timedelta(minutes=minute), state, 2,
                        state == "Running")
            for n in range(10)
        )
        writer.flush()
    writer.close()
    print("error", writer.error, flush=True)
    """
)


def test_two_boards_recording_the_same_tenants_keep_the_intervals_apart(db_path: Path) -> None:
    HistoryDB.open(db_path).close()
    boards = [
        subprocess.Popen(
            [sys.executable, "-c", SAME_KEYS_SCRIPT, str(db_path), str(offset)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for offset in (0, 1)
    ]
    for board in boards:
        output, _ = board.communicate(timeout=60)
        assert board.returncode == 0 and output.strip() == "error None"
    with HistoryDB.open(db_path, check=True) as db:
        for n in range(10):
            found = db.intervals(f"online:Cust{n}")
            # Whichever board starts first opens the history (minute 0 or 1): a check older
            # than one already recorded by the other board is dropped, by design.
            assert found[0].start in (T0, T0 + timedelta(minutes=1))
            assert found[-1].end >= T0 + timedelta(minutes=118)
            for before, after in itertools.pairwise(found):
                assert before.end <= after.start and before.label != after.label


def test_the_writer_survives_a_batch_it_cannot_write(db_path: Path) -> None:
    errors: list[HistoryError] = []
    writer = HistoryWriter(db_path, on_error=errors.append, flush_interval=60)
    writer.start()
    writer.add_observations([seen(0, host=object())])  # type: ignore[arg-type]
    assert writer.flush()
    assert errors and errors[0].reason is Reason.UNAVAILABLE
    writer.add_observations([seen(1)])
    writer.close()
    assert writer.error is None
    with HistoryDB.open(db_path, read_only=True) as db:
        assert rows(db) == [(1, 1, "Running")]


# -- schema: a file from before the planned gap and the outages ------------------------------

SCHEMA_1 = """
CREATE TABLE tenants (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE intervals (id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id),
    start_at INTEGER NOT NULL, end_at INTEGER NOT NULL, state TEXT, code INTEGER,
    running INTEGER, host TEXT, error TEXT);
CREATE INDEX intervals_by_tenant ON intervals(tenant, start_at);
CREATE TABLE events (id INTEGER PRIMARY KEY, at REAL NOT NULL,
    tenant INTEGER NOT NULL REFERENCES tenants(id), name TEXT NOT NULL, kind TEXT NOT NULL,
    text TEXT NOT NULL, severity TEXT NOT NULL, worse INTEGER NOT NULL);
CREATE INDEX events_by_tenant ON events(tenant, at);
CREATE TABLE marks (id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL CHECK (kind IN ('mute', 'ack')), created_at INTEGER NOT NULL,
    until INTEGER, by TEXT NOT NULL, state TEXT NOT NULL, ended_at INTEGER);
CREATE INDEX marks_open ON marks(ended_at, tenant);
CREATE TABLE runs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, started_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL);
INSERT INTO tenants(id, key) VALUES (1, 'online:Cust1');
INSERT INTO intervals(tenant, start_at, end_at, state, code, running, host, error)
    VALUES (1, 1772323200, 1772326800, 'Running', 2, 1, 'online2.superoffice.com', NULL);
INSERT INTO events(at, tenant, name, kind, text, severity, worse)
    VALUES (1772323200, 1, 'Acme', 'state', 'Running', 'ok', 0);
PRAGMA user_version = 1;
"""


def version_1_file(path: Path) -> Path:
    """A history file as tenantboard wrote it before schema 2 (00:00-01:00 Running)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA_1)
    connection.close()
    return path


def test_a_version_1_file_is_read_as_it_is_and_upgraded_by_the_writer(db_path: Path) -> None:
    version_1_file(db_path)
    with HistoryDB.open(db_path, read_only=True) as db:  # report, history: no upgrade
        assert rows(db) == [(0, 60, "Running")] and db.outages() == []
        assert [event.text for event in db.events()] == ["Running"]
        assert db.intervals(KEY)[0].next_at is None
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    writer = HistoryWriter(db_path)
    writer.start()
    writer.add_observations([planned(70, 5), planned(75, 5)])  # within the old gap: goes on
    writer.close()
    assert writer.error is None
    with HistoryDB.open(db_path, read_only=True) as db:
        assert db.schema == SCHEMA_VERSION
        assert rows(db) == [(0, 75, "Running")]
        assert db.intervals(KEY)[0].next_at == T0 + timedelta(minutes=80)
        assert [event.text for event in db.events()] == ["Running"]


# -- our own outage --------------------------------------------------------------------------


def test_an_outage_re_classes_only_network_failures_since_its_start(db: HistoryDB) -> None:
    from tenantboard.connectivity import Outage

    since = T0 + timedelta(minutes=30)
    own, reset = "online:Cust2", "online:Cust3"
    db.record(
        [
            *[planned(0, 30), seen(31, None, error="connect"), seen(32, None, error="dns")],
            *[planned(0, 30, key=own), seen(31, None, key=own, error="unavailable")],
            *[planned(0, 30, key=reset), seen(31, None, key=reset, error="network")],
        ]
    )
    failed = LoggedEvent(since + timedelta(minutes=1), KEY, "Acme", "failure", "x", "unknown")
    db.write(
        [seen(33, None, error="timeout")],  # still on its way when the outage was told
        [failed],
        steps=[Outage(since, "connection refused", 3)],
    )
    # Cust1: Running until the outage began, then nothing: its failures were the outage's.
    assert rows(db) == [(0, 30, "Running")]
    assert db.events(KEY) == []
    # A 503 and a reset are answers of a kind: the tenants' own, kept.
    assert [i.error for i in db.intervals(own)] == [None, "unavailable"]
    assert [i.error for i in db.intervals(reset)] == [None, "network"]
    [outage] = db.outages()
    assert (outage.since, outage.ended, outage.reason) == (since, None, "connection refused")


def test_no_interval_is_stretched_across_our_outage(db: HistoryDB) -> None:
    from tenantboard.connectivity import Outage

    since, ended = T0 + timedelta(minutes=7), T0 + timedelta(minutes=9)
    db.record([planned(0, 10)])
    db.write(steps=[Outage(since, "cannot connect", 3, probes=3, ended=ended)])
    db.record([planned(10, 10), planned(20, 10)])  # well within the planned 10 minutes
    # Up to the outage's start (the check at 0 held until then), a gap, then from 10 on.
    assert rows(db) == [(0, 7, "Running"), (10, 20, "Running")]


def test_an_outage_left_open_by_a_board_that_died_is_ended_at_its_last_heartbeat(
    db_path: Path,
) -> None:
    from tenantboard.connectivity import Outage

    since = T0 + timedelta(minutes=10)
    with HistoryDB.open(db_path) as db:
        run = db.start_run(T0)
        db.write([planned(0, 10)], run_id=run, now=T0 + timedelta(minutes=12))
        db.write(
            steps=[Outage(since, "requests time out", 3)],
            run_id=run,
            now=T0 + timedelta(minutes=13),
        )
    writer = HistoryWriter(db_path, now=lambda: T0 + timedelta(hours=5))
    writer.start()
    writer.add_observations([planned(5 * 60, 10)])
    writer.close()
    with HistoryDB.open(db_path, read_only=True) as db:
        [outage] = db.outages()
        assert outage.ended == T0 + timedelta(minutes=13)  # its board's last heartbeat
        assert rows(db) == [(0, 10, "Running"), (300, 300, "Running")]


# -- the writer keeps up, or says what it drops ----------------------------------------------


def test_a_writer_that_falls_behind_drops_the_newest_and_says_so(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tenantboard.history.db as history

    monkeypatch.setattr(history, "MAX_PENDING", 100)
    errors: list[HistoryError] = []
    writer = HistoryWriter(db_path, on_error=errors.append, flush_interval=3600)
    # Not started yet: nothing drains the queue, as when the disk is slower than the checks.
    writer.add_observations([seen(minute) for minute in range(90)])
    writer.add_observations([seen(minute) for minute in range(90, 120)])  # no room
    writer.add_events([LoggedEvent(T0, KEY, "Acme", "state", "x", "ok")] * 120)
    assert (writer.dropped, writer.dropped_events) == (30, 120)
    writer.start()
    assert writer.flush()
    assert errors and errors[0].reason is Reason.BEHIND
    assert "newest results are dropped" in str(errors[0])
    writer.add_observations([seen(minute) for minute in range(150, 200)])  # room again
    writer.close()
    assert writer.dropped == 30
    with HistoryDB.open(db_path, read_only=True) as db:
        assert rows(db) == [(0, 89, "Running"), (150, 199, "Running")]


# -- the file's name and who may read it -----------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ("acme#eu.toml", "acme#us.toml"),
        ("a?b.toml", "a%3Fb.toml"),
        ("my list.toml", "my%20list.toml"),
    ],
)
def test_tenant_files_with_odd_names_keep_their_own_history(
    tmp_path: Path, names: tuple[str, str]
) -> None:
    paths = []
    for number, name in enumerate(names):
        path = history_path(tmp_path / name)
        with HistoryDB.open(path) as db:
            db.record([seen(number, key=f"online:Cust{number}")])
        paths.append(path)
    assert paths[0] != paths[1]
    for number, path in enumerate(paths):
        assert path.exists()
        with HistoryDB.open(path, read_only=True) as db:  # read-only stays read-only
            assert db.tenant_keys() == [f"online:Cust{number}"]
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                db.connection.execute("DELETE FROM intervals")


def test_the_history_and_the_folders_made_for_it_are_the_users_only(tmp_path: Path) -> None:
    from tenantboard.ui_state import UiState, save_ui_state

    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    previous = os.umask(0o022)
    try:
        path = mine / "tenantboard" / "boards" / "x" / "history.sqlite3"
        writer = HistoryWriter(path)
        writer.start()
        writer.add_observations([seen(0)])
        assert writer.flush()
        modes = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
        writer.close()
        save_ui_state(path.parent / "other" / "ui-state.json", UiState())
        ui_state = path.parent / "other" / "ui-state.json"
    finally:
        os.umask(previous)
    assert modes == {
        "history.sqlite3": 0o600,
        "history.sqlite3-wal": 0o600,
        "history.sqlite3-shm": 0o600,
    }
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent, ui_state.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert ui_state.stat().st_mode & 0o777 == 0o600
    assert mine.stat().st_mode & 0o777 == 0o755  # the user's own folder is left alone


def test_a_history_file_from_an_earlier_version_is_made_private(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    HistoryDB.open(db_path).close()
    os.chmod(db_path, 0o644)
    HistoryDB.open(db_path).close()
    assert db_path.stat().st_mode & 0o777 == 0o600


def test_a_file_from_before_host_incidents_is_read_as_having_none_then_upgraded(
    db_path: Path,
) -> None:
    """Schema 4 (before host incidents): read as it is, read-only; the writer adds the
    tables, and what was recorded stays."""
    with HistoryDB.open(db_path) as db:
        db.record([seen(0)])
    with contextlib.closing(sqlite3.connect(db_path)) as raw:
        for table in ("host_incident_tenants", "host_incidents"):
            raw.execute(f"DROP TABLE {table}")
        raw.execute(f"PRAGMA user_version = {FLEET_SCHEMA - 1}")
        raw.commit()
    with HistoryDB.open(db_path, read_only=True) as db:
        assert db.schema == FLEET_SCHEMA - 1 and db.incidents() == []
        assert len(db.intervals(seen(0).key)) == 1
    with HistoryDB.open(db_path) as db:
        assert db.schema == SCHEMA_VERSION
        assert db.incidents() == [] and len(db.intervals(seen(0).key)) == 1
    with contextlib.closing(sqlite3.connect(db_path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_many_tenants_read_at_once_are_read_as_one_at_a_time(tmp_path, monkeypatch) -> None:
    """A report of every tenant reads the table in one pass (two queries, not two per
    tenant): each tenant's intervals in the window, and the one just before it, as the
    query per tenant finds them."""
    from tenantboard.history import db as history_db

    path = tmp_path / "history.sqlite3"
    start = FIXED_NOW - timedelta(days=2)
    observations = []
    for number in range(1, 8):
        key = f"online:Cust{number}"
        for step in range(0, 48 * 4, number):  # a check every 15 min * number, for 2 days
            at = start + timedelta(minutes=15 * step)
            running = (step // (5 * number)) % 2 == 0
            state, code = ("Running", 2) if running else ("OfflineMaintenance", 6)
            observations.append(
                Observation(key, at, state, code, running, "online3.superoffice.com")
            )
    with HistoryDB.open(path) as db:
        db.record(observations, gap=3600)
    keys = [f"online:Cust{number}" for number in range(0, 9)]  # two never recorded
    window = (FIXED_NOW - timedelta(days=1), FIXED_NOW - timedelta(hours=3))
    with HistoryDB.open(path, read_only=True) as db:
        monkeypatch.setattr(history_db, "BULK_READ", 10**9)
        one_at_a_time = db.window_intervals(keys, *window)
        monkeypatch.setattr(history_db, "BULK_READ", 1)
        at_once = db.window_intervals(keys, *window)
    assert at_once == one_at_a_time
    assert sum(map(len, at_once.values())) > 20 and at_once["online:Cust0"] == []
