"""`serve` at fleet size: what keeps 100,000 tenants cheap and every answer quick.

How quick and how small is measured by `python bench/run.py --fleet` (bench/fleet.py), not
here; these tests pin down the behaviour: the big answers are made and sent in pieces with
the event loop running between them, a row's JSON is kept once and compactly, a row's
history costs little, and the garbage collector never looks at the whole heap at once.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import sys
import weakref
from collections import Counter
from datetime import UTC, time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tenantboard import quietgc
from tenantboard.answers import State
from tenantboard.check_output import check_record
from tenantboard.maintenance import MaintenancePlan, Rule, Scope, SuperOfficeWindows
from tenantboard.quietgc import SteadyCollector
from tenantboard.rows import HISTORY_LIMIT, Bounded, TenantRow
from tenantboard.serve import metrics, server
from tenantboard.serve import watcher as watcher_module
from tenantboard.serve.server import build_app
from tenantboard.serve.watcher import Watcher
from tenantboard.tenant import Tenant
from tests.conftest import FakeClock
from tests.serve_helpers import idle_watcher, ok

TENANTS = [Tenant(f"Cust{number}", "online", f"Customer {number}") for number in range(1, 301)]


@pytest.fixture
def fleet() -> Watcher:
    watcher = idle_watcher(TENANTS)
    for tenant in TENANTS:
        watcher.record(ok(tenant))
    return watcher


class LoopTurns:
    """Counts the event loop's turns from a task of its own: an answer made in one go on
    the loop lets none happen while it is made."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _spin(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    async def __aenter__(self) -> LoopTurns:
        self._task = asyncio.create_task(self._spin())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def served(watcher: Watcher, **options) -> TestClient:
    client = TestClient(TestServer(build_app(watcher, **options), host="127.0.0.1"))
    await client.start_server()
    return client


def record_turns(monkeypatch, target, name: str, turns: LoopTurns) -> list[int]:
    """Wrap ``target.name`` so that each call notes how many loop turns had happened."""
    seen: list[int] = []
    original = getattr(target, name)

    def wrapped(*args, **kwargs):
        seen.append(turns.count)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapped)
    return seen


@pytest.mark.parametrize("path", ["/api/snapshot", "/api/tenants"])
async def test_the_big_answers_are_sent_in_pieces_with_the_loop_running_between(
    fleet, monkeypatch, path
) -> None:
    """At 100,000 tenants the snapshot is 90 MB: made in one go it held the event loop
    (the checks, every other request) for up to a second."""
    monkeypatch.setattr(watcher_module, "PIECE_ROWS", 50)
    client = await served(fleet)
    try:
        async with LoopTurns() as turns:
            seen = record_turns(monkeypatch, watcher_module.Watcher, "_texts_of", turns)
            response = await client.get(path)
            body = await response.json()
    finally:
        await client.close()
    rows = body["tenants"] if path == "/api/snapshot" else body
    assert len(rows) == len(TENANTS)
    # each piece of 50 rows made in a later turn of the loop than the piece before
    firsts = seen[::50]
    assert len(firsts) == len(TENANTS) // 50
    assert all(later > earlier for earlier, later in itertools.pairwise(firsts))


async def test_a_tenant_removed_while_the_snapshot_is_sent_is_left_out(fleet, monkeypatch) -> None:
    monkeypatch.setattr(watcher_module, "PIECE_ROWS", 50)
    pieces = fleet.snapshot_pieces()
    head = next(pieces)
    first = next(pieces)
    fleet.session.adopt_tenants(TENANTS[:100] + TENANTS[101:], source="file")
    text = b"".join([head, first, *pieces])
    keys = [row["key"] for row in json.loads(text)["tenants"]]
    assert TENANTS[100].key not in keys and len(keys) == len(TENANTS) - 1


async def test_metrics_compares_rows_a_slice_at_a_time_and_streams_the_exposition(
    fleet, monkeypatch
) -> None:
    monkeypatch.setattr(metrics, "SLICE_ROWS", 50)
    monkeypatch.setattr(metrics, "PIECE_TENANTS", 50)
    client = await served(fleet)
    try:
        async with LoopTurns() as turns:
            seen = record_turns(monkeypatch, metrics, "facts_of", turns)
            response = await client.get("/metrics")
            text = await response.text()
    finally:
        await client.close()
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert response.headers.get("Content-Encoding") == "gzip"  # aiohttp's client asks for it
    firsts = seen[::50]
    assert all(later > earlier for earlier, later in itertools.pairwise(firsts))
    assert text.count("tenantboard_tenant_state{") == len(TENANTS)
    assert text == metrics.render(fleet)[0].decode()


# -- what is kept per tenant --------------------------------------------------------------------


def test_a_rows_json_is_kept_compressed_and_shared_with_its_check_record(fleet) -> None:
    """A row's JSON is kept until the row changes, for the snapshot and /api/tenants: as
    it is, 110 MB for 100,000 rows with their check records; compressed against a typical
    row, a fraction of that. What is sent is the same JSON either way."""
    row = fleet.model.rows[TENANTS[0].key]
    texts = fleet._texts_of(row)
    assert sys.getsizeof(texts.packed) < 0.3 * len(texts.row)
    whole = json.loads(texts.row)
    assert whole == json.loads(watcher_module.dumps(watcher_module.row_json(row)))
    assert whole["glyph"] == "✔" and whole["rev"] == row.revision
    assert whole["result"] == json.loads(json.dumps(check_record(row.last)))
    assert json.loads(fleet.tenants_text())[0] == whole["result"]
    assert json.loads(fleet.snapshot_text())["tenants"][0] == whole


def test_a_row_not_checked_yet_is_kept_with_a_null_result() -> None:
    watcher = idle_watcher(TENANTS[:2])
    texts = watcher._texts_of(watcher.model.rows[TENANTS[0].key])
    assert texts.record is None and json.loads(texts.row)["result"] is None
    assert json.loads(watcher.tenants_text()) == []


def test_a_rows_history_costs_little() -> None:
    """Each row keeps its newest events and severity changes: as ``deque(maxlen=...)``
    each cost 760 bytes from its first item (a block of 64 slots), 150 MB for 100,000
    tenants; a list holding its few items, a tenth of that."""
    row = TenantRow(TENANTS[0])
    row.history.append("event")
    row.severity_changes.append(("at", "severity"))
    assert sys.getsizeof(row.history) + sys.getsizeof(row.severity_changes) < 300


def test_the_bounded_list_keeps_the_newest_as_a_deque_does() -> None:
    kept = Bounded(3, [1, 2])
    kept.append(3)
    kept.append(4)
    assert kept == [2, 3, 4] and kept.maxlen == 3
    kept.extend([5, 6, 7, 8])
    assert kept == [6, 7, 8]
    assert Bounded(HISTORY_LIMIT, range(100)) == list(range(100 - HISTORY_LIMIT, 100))


# -- garbage collection -------------------------------------------------------------------------


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def a_cycle() -> weakref.ref[Node]:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_serves_collector_never_looks_at_the_whole_heap(monkeypatch) -> None:
    """A full collection over 100,000 tenants' objects held serve's event loop for 0.5 to
    1.4 s. What was there at start is frozen; a round collects only what survived since
    the last round, then freezes it."""
    collector = SteadyCollector(young_collections=2)
    before = gc.get_threshold()
    old = a_cycle()  # garbage already: collected by the start
    kept = Node()
    collector.start()
    try:
        assert old() is None
        assert gc.get_threshold()[2] >= 10**9  # no automatic full collection
        frozen = gc.get_freeze_count()
        young = a_cycle()
        monkeypatch.setattr(quietgc.gc, "get_count", lambda: (0, 0, 1))
        assert not collector.maybe_collect()  # not enough survived yet
        monkeypatch.setattr(quietgc.gc, "get_count", lambda: (0, 0, 2))
        assert collector.maybe_collect()
        assert young() is None  # the round found the young cycle
        assert gc.get_freeze_count() > frozen  # and froze what lives on
        assert gc.is_tracked(kept)
    finally:
        collector.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


async def test_a_check_that_failed_keeps_no_reference_cycle(fleet) -> None:
    """serve's collector never collects a cycle frozen while alive: a failed check's
    result must hold none (its error keeps no traceback, whose frames point back at it),
    so that reference counting alone frees it when the next result replaces it."""
    import httpx

    from tenantboard.client import TenantClient
    from tenantboard.clock import SystemClock
    from tenantboard.engine import check_once

    def unavailable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="Service Unavailable")

    async with TenantClient(transport=httpx.MockTransport(unavailable)) as client:
        result = await check_once(client, TENANTS[0], SystemClock())
    assert result.error is not None
    fleet.record(result)
    found = weakref.ref(result.error)
    del result
    gc.disable()
    try:
        fleet.record(ok(TENANTS[0], State.Running, at=60))
        assert found() is None  # freed by reference counting alone
    finally:
        gc.enable()


# -- the history writer --------------------------------------------------------------------------


def test_results_wait_for_the_writers_next_write_without_waking_it(tmp_path) -> None:
    """serve applies each check as it comes: a queue that woke the writer thread for each
    one cost a handoff of the interpreter lock per check. Results wait for the next write
    (every flush_interval); a flush still writes them at once."""
    import threading
    import time

    from tenantboard.history.db import HistoryDB, HistoryWriter, _Inbox

    inbox = _Inbox()
    taken: list[list[object]] = []
    thread = threading.Thread(target=lambda: taken.append(inbox.take(30)))
    thread.start()
    for number in range(100):
        inbox.put(("results", [number]))
    time.sleep(0.2)
    assert taken == [] and inbox.qsize() == 100  # still asleep
    inbox.put("flush", urgent=True)
    thread.join(5)
    assert len(taken[0]) == 101 and taken[0][-1] == "flush" and inbox.qsize() == 0

    writer = HistoryWriter(tmp_path / "history.sqlite3", flush_interval=60)
    writer.start()
    try:
        writer.add_results([ok(TENANTS[0])])
        assert writer.flush(5)
    finally:
        writer.close()
    with HistoryDB.open(tmp_path / "history.sqlite3", read_only=True) as db:
        assert [i.label for i in db.intervals(TENANTS[0].key)] == ["Running"]


def test_the_exposition_is_made_a_piece_at_a_time_as_it_is_sent(fleet, monkeypatch) -> None:
    """80 MB of exposition made at once, every scrape, grew serve by tens of megabytes a
    scrape: the pieces are made one at a time, as the server asks for the next."""
    monkeypatch.setattr(metrics, "PIECE_TENANTS", 50)
    exposition = metrics.Exposition()
    pieces, _ = exposition.render(metrics.take_snapshot(fleet, exposition))
    first = next(pieces)
    assert first.startswith(b"# HELP tenantboard_tenant_state")
    made = [first, *pieces]
    assert len(made) > 7 * len(TENANTS) // 50  # every family, 50 tenants a piece
    assert b"".join(made) == metrics.render(fleet)[0]


async def test_the_uptime_read_keeps_no_figures_once_the_rows_have_it(tmp_path) -> None:
    """serve reads every tenant's 24-hour uptime each minute; the figures it reads (50 MB
    at 100,000 tenants) are dropped once each row has its number, not kept by the finished
    read until the next one."""
    from tenantboard.history.reader import TenantAvailability
    from tests.conftest import FakeClock
    from tests.test_board_history import a_bad_day, seed

    history = tmp_path / "history.sqlite3"
    seed(history, a_bad_day(TENANTS[0].key))  # two hours of the last 24 not running
    watcher = idle_watcher(TENANTS[:3], history_path=history, clock=FakeClock())
    for tenant in TENANTS[:3]:
        watcher.record(ok(tenant))
    session = watcher.session

    def figures_kept() -> int:
        gc.collect()
        return sum(isinstance(item, TenantAvailability) for item in gc.get_objects())

    try:
        before = figures_kept()  # other tests' may still be about
        session.refresh_uptime()
        await session._tasks["uptime"]
        assert figures_kept() == before
        keys = [tenant.key for tenant in TENANTS[:3]]
        figures = await session.read_availability(keys, with_strip=False)
        uptime = [session.model.rows[key].uptime_24h for key in keys]
        assert uptime == [figures[key].uptime_24h for key in keys] and uptime[0] is not None
    finally:
        await asyncio.to_thread(session.writer.close)


def test_a_tenants_metrics_lines_are_made_as_its_result_comes() -> None:
    """The first scrape after the start-up pass formatted 100,000 tenants at once (11 s on
    a busy machine): serve makes each tenant's lines as its result comes, and a scrape
    finds nothing left to format."""
    watcher = idle_watcher(TENANTS)
    exposition = build_app(watcher)[server.EXPOSITION]
    for tenant in TENANTS:
        watcher.record(ok(tenant))
    watcher.record(ok(TENANTS[0], State.Suspended, at=60))
    snapshot = metrics.take_snapshot(watcher, exposition)
    assert snapshot.changed == []  # made as the results came
    assert b"".join(exposition.render(snapshot)[0]) == metrics.render(watcher)[0]


def test_tenants_counted_alike_share_what_they_are_counted_as() -> None:
    """Per group counts for /metrics keep, per tenant, what it is counted as: one object
    for all the tenants of a host, environment and severity, not one each."""
    from tenantboard.groups import GroupTally

    tally = GroupTally()
    for tenant in TENANTS[:3]:
        groups = (("host", "sod1.superoffice.com"), ("env", tenant.env))
        tally.update(tenant.key, groups, "ok")
    first, *others = (tally._counted[tenant.key] for tenant in TENANTS[:3])
    assert all(other is first for other in others)
    assert tally.snapshot() == {
        ("host", "sod1.superoffice.com", "ok"): 3,
        ("env", "online", "ok"): 3,
    }


def test_a_readable_valid_until_keeps_no_text_of_it() -> None:
    """Each answer's ValidUntil text is kept only when it cannot be read (the detail pane
    shows it then): otherwise it is a string per tenant for nothing."""
    from tenantboard.answers import parse_state

    answer = {"State": "Running", "IsRunning": True, "ValidUntil": "2026-03-02T09:35:00Z"}
    assert parse_state(answer, "Cust1").valid_until_raw is None
    unreadable = parse_state({**answer, "ValidUntil": "soon"}, "Cust1")
    assert unreadable.valid_until is None and unreadable.valid_until_raw == "soon"


def test_every_tenants_window_intervals_read_a_tenant_at_a_time(tmp_path) -> None:
    """serve's uptime read goes through the history a tenant at a time: the same intervals
    the read of each tenant finds, the one just before the window first."""
    from datetime import timedelta

    from tenantboard.history.db import HistoryDB
    from tests.serve_helpers import FIXED_NOW
    from tests.test_board_history import a_bad_day, seed

    keys = [tenant.key for tenant in TENANTS[:3]]
    seed(tmp_path / "history.sqlite3", [*a_bad_day(keys[0]), *a_bad_day(keys[2])])
    since = FIXED_NOW - timedelta(hours=12)  # a bad day's first hours are before it
    with HistoryDB.open(tmp_path / "history.sqlite3", read_only=True) as db:
        each = dict(db.each_window_intervals(since, FIXED_NOW))
        assert each == {
            key: spans
            for key, spans in db.window_intervals(keys, since, FIXED_NOW).items()
            if spans
        }
        assert set(each) == {keys[0], keys[2]} and each[keys[0]][0].start < since


def test_a_row_changed_in_nothing_its_metrics_lines_show_keeps_them(fleet) -> None:
    """Every minute's 24-hour uptime read changes most rows (their revision): the next
    scrape made every tenant's facts and lines again, 100,000 at a time. Only a row whose
    tenant, state or last check changed has its lines made again."""
    exposition = metrics.Exposition()
    exposition.render(metrics.take_snapshot(fleet, exposition))
    first, second = (fleet.model.rows[tenant.key] for tenant in TENANTS[:2])
    first.uptime_24h = 0.5
    first.bump()  # what the uptime read does
    fleet.record(ok(TENANTS[1]))  # a new result
    changed = metrics.tenant_part(fleet, exposition).changed
    assert [facts.key for facts in changed] == [second.tenant.key]
    assert metrics.tenant_part(fleet, exposition).changed == changed  # not formatted yet
    pieces, _ = exposition.render(metrics.take_snapshot(fleet, exposition))
    assert b"".join(pieces) == metrics.render(fleet)[0]
    assert metrics.tenant_part(fleet, exposition).changed == []


async def test_rows_whose_uptime_alone_changed_are_mended_not_made_again(monkeypatch) -> None:
    """Each minute's uptime read changes most rows' uptime and nothing else: the next
    snapshot made 100,000 rows' JSON again on the event loop (3.5 s, one read in three
    slow). Their kept JSON is mended in slices instead, to what making it would give."""
    tenants = [*TENANTS[:3], Tenant("Cust999", "online", 'tricky", "uptime_24h": 0.1, "rev": 7')]
    watcher = idle_watcher(tenants)
    for tenant in tenants:
        watcher.record(ok(tenant))
    rows = [watcher.model.rows[tenant.key] for tenant in tenants]
    for row in rows:
        watcher._texts_of(row)  # kept, as the snapshot and the event stream keep them
    made = []
    original = watcher_module.RowText.made.__func__

    def counted(cls, row, marks):
        made.append(row.tenant.key)
        return original(cls, row, marks)

    monkeypatch.setattr(watcher_module.RowText, "made", classmethod(counted))
    packed: list[bytes] = []
    pack = watcher_module.pack
    monkeypatch.setattr(watcher_module, "pack", lambda text: packed.append(text) or pack(text))
    figures = {row.tenant.key: 0.987654321 for row in rows[:3]} | {rows[3].tenant.key: None}
    rows[3].uptime_24h = 1.0
    watcher.session._set_uptime([row.tenant.key for row in rows], figures)
    for _ in range(3):
        await asyncio.sleep(0)
    assert packed == []  # nothing compressed again: 50 µs a row, the loop's lock let go
    for row in rows:
        kept = watcher._texts_of(row)
        assert kept.revision == row.revision
        fresh, text = original(watcher_module.RowText, row, None)
        assert kept.row == text and kept.record == fresh.record
    assert made == []  # mended, none made again
    assert json.loads(watcher._texts_of(rows[3]).row)["label"] == tenants[3].label


def test_with_nobody_listening_a_results_row_is_made_only_when_a_client_asks(monkeypatch) -> None:
    """A first pass of 100,000 tenants made each row's JSON for the event stream (25 µs a
    check) with nobody listening. It is made when a listener wants it: at once for those
    listening, later for one that reconnects asking for what it missed."""
    made: list[str] = []
    original = watcher_module.RowText.made.__func__

    def counted(cls, row, marks):
        made.append(row.tenant.key)
        return original(cls, row, marks)

    monkeypatch.setattr(watcher_module.RowText, "made", classmethod(counted))
    watcher = idle_watcher(TENANTS[:3])
    start = watcher.hub.seq
    for tenant in TENANTS[:3]:
        watcher.record(ok(tenant))
    assert made == []
    missed = watcher.hub.subscribe(last_event_id=start)  # a client back after a blip
    events = [event for event in missed._pending if event.kind == "result"]
    assert [json.loads(event.data)["key"] for event in events] == [t.key for t in TENANTS[:3]]
    row = watcher.model.rows[TENANTS[0].key]
    assert json.loads(events[0].data) == json.loads(watcher.row_bytes(row))
    assert len(made) == 3
    watcher.record(ok(TENANTS[0], at=60))  # someone listens now: made at once, once
    assert made[3:] == [TENANTS[0].key]
    (latest,) = [event for event in missed._pending if event.kind == "result"][-1:]
    assert json.loads(latest.data)["rev"] == watcher.model.rows[TENANTS[0].key].revision
    assert len(made) == 4


async def test_the_minutes_uptime_read_gives_its_rows_their_figures_a_slice_a_turn(
    tmp_path, monkeypatch
) -> None:
    """100,000 rows given their uptime held the event loop 50 ms at once; a slice at a
    time, the checks and the answers run between slices."""
    from tenantboard import session as session_module
    from tests.conftest import FakeClock
    from tests.test_board_history import a_bad_day, seed

    history = tmp_path / "history.sqlite3"
    seed(history, a_bad_day(TENANTS[0].key))
    watcher = idle_watcher(TENANTS, history_path=history, clock=FakeClock())
    for tenant in TENANTS:
        watcher.record(ok(tenant))
    session = watcher.session
    monkeypatch.setattr(session_module, "UPTIME_SLICE", 100)
    turns = LoopTurns()
    seen = record_turns(monkeypatch, session, "_uptime_changes", turns)
    try:
        async with turns:
            session.refresh_uptime()
            await session._tasks["uptime"]
        assert len(seen) == 3 and seen[0] < seen[1] < seen[2]  # 300 rows, 100 a turn
        assert session.model.rows[TENANTS[0].key].uptime_24h < 1
    finally:
        await asyncio.to_thread(session.writer.close)


async def rows_made_by_the_keeper(monkeypatch, watcher, *, turns: int) -> list:  # type: ignore[no-untyped-def]
    """The watcher's background keeper let run for ``turns`` turns of the loop: the turn
    in which each row's JSON was made."""
    loop_turns = LoopTurns()
    made = record_turns(monkeypatch, watcher_module.RowText, "made", loop_turns)
    async with loop_turns:
        keeping = asyncio.create_task(watcher._keep_texts())
        for _ in range(turns):
            await asyncio.sleep(0)
        keeping.cancel()
    return made


async def test_rows_changed_with_nobody_listening_are_made_a_few_at_a_time(monkeypatch) -> None:
    """The rows a pass changed while nobody listened are made in the background, so the
    snapshot after it finds them made (it made 100,000 rows, 5 s, on the loop): while
    tenants wait for their first check KEEP_ROWS a turn, and only then."""
    monkeypatch.setattr(watcher_module, "KEEP_EVERY", 0)
    monkeypatch.setattr(watcher_module, "KEEP_ROWS", 100)
    monkeypatch.setattr(watcher_module, "KEEP_SLICE_SECONDS", 60, raising=False)
    watcher = idle_watcher([*TENANTS, Tenant("Waiting", "online", "not checked yet")])
    for tenant in TENANTS:
        watcher.record(ok(tenant))
    assert watcher._texts == {}
    made = await rows_made_by_the_keeper(monkeypatch, watcher, turns=10)
    assert len(made) == len(TENANTS)
    assert sorted(Counter(made).values()) == [100, 100, 100]  # 100 a turn
    rows = watcher.model.rows
    assert all(watcher._texts[t.key].revision == rows[t.key].revision for t in TENANTS)


async def test_once_every_tenant_was_checked_the_rows_left_are_made_in_short_slices(
    monkeypatch,
) -> None:
    """After the first pass its rows are made in the seconds after it, a slice of the loop
    at a time (a snapshot asked for in the minute after a pass of 100,000 tenants made
    70,000 of them itself: 4.5-7.7 s)."""
    monkeypatch.setattr(watcher_module, "KEEP_SLICE_SECONDS", 0, raising=False)  # a row a turn
    monkeypatch.setattr(watcher_module, "KEEP_REST", 0, raising=False)
    monkeypatch.setattr(watcher_module, "KEEP_EVERY", 3600)  # never, if it waited
    watcher = idle_watcher(TENANTS)
    for tenant in TENANTS:
        watcher.record(ok(tenant))
    turns = LoopTurns()
    made = record_turns(monkeypatch, watcher_module.RowText, "made", turns)
    async with turns:
        keeping = asyncio.create_task(watcher._keep_texts())
        for _ in range(2 * len(TENANTS)):
            await asyncio.sleep(0)
        keeping.cancel()
    assert len(made) == len(TENANTS)
    assert max(Counter(made).values()) == 1  # each slice in a turn of its own
    rows = watcher.model.rows
    assert all(watcher._texts[t.key].revision == rows[t.key].revision for t in TENANTS)


def window_plan(opens: time) -> MaintenancePlan:
    """A window over every tenant of TENANTS from ``opens`` to 11:00 UTC each day."""
    rule = Rule(
        "file", "deploy", UTC, opens, until=time(11), scope=Scope(envs=frozenset({"online"}))
    )
    return MaintenancePlan(SuperOfficeWindows(windows=frozenset()), (rule,))


def test_metrics_count_the_tenants_in_a_window_without_hashing_it_per_row(monkeypatch) -> None:
    """Every tenant is in the nightly window two hours a night: counting them by window
    hashed the window once per row, on the loop in one go (110-150 ms at 100,000)."""
    from tenantboard.maintenance import Window
    from tests.test_metrics import scrape, tenant_labels

    watcher = idle_watcher(TENANTS, clock=FakeClock(), maintenance=window_plan(time(9)))
    for tenant in TENANTS:
        watcher.record(ok(tenant))
    hashed: list[Window] = []
    original = Window.__hash__

    def counted(window: Window) -> int:
        hashed.append(window)
        return original(window)

    monkeypatch.setattr(Window, "__hash__", counted)
    samples = scrape(watcher)
    assert len(hashed) < 10
    window = (("source", "file"), ("window", "deploy"))
    assert samples["tenantboard_maintenance_window_tenants"] == {window: len(TENANTS)}
    covered = samples["tenantboard_tenant_in_maintenance"]
    assert covered == {tenant_labels(tenant): 1.0 for tenant in TENANTS}


def test_the_window_tally_counts_windows_that_are_equal_as_one() -> None:
    from dataclasses import replace

    from tenantboard.maintenance import Window
    from tests.conftest import FIXED_NOW

    first = Window("file", "deploy", FIXED_NOW, FIXED_NOW.replace(hour=23))
    same, other = replace(first), replace(first, name="other")
    tally = metrics.WindowTally()
    for tenant, window in zip(TENANTS, [first, first, other, same, first, other], strict=False):
        tally.add(tenant, window)
    assert tally.covered() == {first: 4, other: 2}
    assert tally.tenants == TENANTS[:6]


def test_a_window_opening_over_every_row_makes_their_json_only_when_asked(monkeypatch) -> None:
    """The nightly window opens and closes over every tenant: with nobody listening, the
    rows' JSON for the event stream is made as a result's is (when a client asks, or in
    the background), not all at once on the loop (100,000 rows: seconds)."""
    clock = FakeClock()  # 09:30
    watcher = idle_watcher(TENANTS, clock=clock, maintenance=window_plan(time(10)))
    for tenant in TENANTS:
        watcher.record(ok(tenant))
    start = watcher.hub.seq
    made = []
    original = watcher_module.RowText.made.__func__
    monkeypatch.setattr(
        watcher_module.RowText,
        "made",
        classmethod(lambda cls, row, marks: made.append(row) or original(cls, row, marks)),
    )
    clock.advance(3600)  # 10:30: open over every tenant
    watcher.session.look_at_windows()
    assert made == []
    missed = watcher.hub.subscribe(last_event_id=start)  # a client back after a blip
    rows = [json.loads(event.data) for event in missed._pending if event.kind == "result"]
    assert sorted(row["key"] for row in rows) == sorted(tenant.key for tenant in TENANTS)
    assert all(row["maintenance"]["name"] == "deploy" for row in rows)
    assert [event.kind for event in missed._pending][-1] == "maintenance"


async def test_the_rows_made_in_the_background_stop_at_their_time_a_turn(monkeypatch) -> None:
    """A turn of the loop spends at most KEEP_SLICE_SECONDS on them, however many are
    due: 100 rows on a loaded machine held the loop past 50 ms."""
    monkeypatch.setattr(watcher_module, "KEEP_EVERY", 0)
    monkeypatch.setattr(watcher_module, "KEEP_SLICE_SECONDS", 0, raising=False)  # a row a turn
    watcher = idle_watcher([*TENANTS[:20], Tenant("Waiting", "online", "not checked yet")])
    for tenant in TENANTS[:20]:
        watcher.record(ok(tenant))
    made = await rows_made_by_the_keeper(monkeypatch, watcher, turns=100)
    assert len(made) == 20 and max(Counter(made).values()) == 1
