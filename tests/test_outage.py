"""Our outage is not the tenants' outage: the monitor on a fake clock and a mock network.

The network is an ``httpx.MockTransport`` behind the real client, so the errors are the
real client's; time moves only when a test says so.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from datetime import UTC, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from tenantboard.connectivity import (
    OUTAGE_MIN_TENANTS,
    PROBE_DELAYS,
    ConnectivityDetector,
    Outage,
)
from tenantboard.engine import CheckResult, Monitor
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.eventlog import LoggedEvent
from tenantboard.rows import BoardModel
from tenantboard.session import Session, SessionConfig
from tenantboard.session_changes import EventsLogged, OutageChanged, ResultsApplied, SessionChange
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import Settings

from .conftest import FakeClock


class Network:
    """Every tenant's state API, which can go away as a whole or fail per tenant."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.down: type[httpx.TransportError] | None = None
        #: Per tenant: an HTTP status to answer instead of the state, or an exception.
        self.faults: dict[str, int | type[httpx.TransportError]] = {}
        self.endpoints: dict[str, str | None] = {}
        self.requests: list[tuple[float, str]] = []
        #: Seconds each answer is valid for (its ValidUntil).
        self.valid_for = 300.0

    def handle(self, request: httpx.Request) -> httpx.Response:
        ctx = request.url.path.rsplit("/", 1)[-1]
        self.requests.append((self.clock.monotonic(), ctx))
        if self.down is not None:
            raise self.down("[Errno 111] Connection refused", request=request)
        fault = self.faults.get(ctx)
        if isinstance(fault, int):
            return httpx.Response(fault, text="no", request=request)
        if fault is not None:
            raise fault("the tenant's own trouble", request=request)
        now = self.clock.wall()
        endpoint = self.endpoints.get(ctx, f"https://online2.superoffice.com/{ctx}")
        payload = {
            "ContextIdentifier": ctx,
            "State": "Running" if endpoint else "OfflineMaintenance",
            "IsRunning": bool(endpoint),
            "Endpoint": endpoint,
            "ValidUntil": (now + timedelta(seconds=self.valid_for)).isoformat(),
        }
        return httpx.Response(
            200, json=payload, headers={"Date": format_datetime(now, usegmt=True)}
        )

    def after(self, moment: float) -> list[tuple[float, str]]:
        return [(at, ctx) for at, ctx in self.requests if at >= moment]


class Board:
    """A headless board: a session (monitor, rows, history) on the fake clock, no screen;
    what it tells is noted."""

    def __init__(
        self,
        clock: FakeClock,
        count: int,
        concurrency: int = 8,
        history_path: Path | None = None,
        max_interval: float = 900.0,
    ) -> None:
        self.clock = clock
        self.network = Network(clock)
        self.tenants = [Tenant(f"Cust{i}") for i in range(1, count + 1)]
        config = SessionConfig(
            tenants=self.tenants,
            settings=Settings(concurrency=concurrency, max_interval=max_interval),
            transport=httpx.MockTransport(self.network.handle),
            rng=random.Random(3),
            history_path=history_path,
        )
        self.session = Session(config, clock=clock)
        self.model = self.session.model
        monitor = self.session.monitor
        assert isinstance(monitor, Monitor)
        self.monitor = monitor
        self.results: list[CheckResult] = []
        self.logged: list[LoggedEvent] = []
        self.outages: list[tuple[Outage, bool]] = []  # (outage, ended when told)
        self.outage_told_at: list[float] = []
        self.session.subscribe(self._told)

    def _told(self, change: SessionChange) -> None:
        match change:
            case ResultsApplied(results=results):
                self.results.extend(results)
            case EventsLogged(events=events):
                self.logged.extend(events)
            case OutageChanged(outage=outage):
                self.outages.append((outage, outage.ended is not None))
                self.outage_told_at.append(self.clock.monotonic())

    @property
    def declared_at(self) -> float | None:
        told = self.outage_told_at
        return told[0] if told else None

    @property
    def recovered_at(self) -> float | None:
        told = self.outage_told_at
        return told[1] if len(told) > 1 else None

    def logged_kinds(self) -> Counter[str]:
        return Counter(event.kind for event in self.logged)

    async def settle(self) -> None:
        for _ in range(60):
            await asyncio.sleep(0)

    async def run_for(self, seconds: float, step: float = 0.5) -> None:
        """Let ``seconds`` of fake time pass, waking the monitor at every step."""
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            self.monitor.poke()
            await self.settle()


@pytest.fixture
async def board(clock: FakeClock):
    made: list[Board] = []

    async def start(count: int, concurrency: int = 8, **options) -> Board:
        board = Board(clock, count, concurrency, **options)
        made.append(board)
        board.task = asyncio.create_task(board.session.run())
        await board.settle()
        return board

    yield start
    for board in made:
        await stop(board)


async def stop(board: Board) -> None:
    """End the session: the monitor stops, the history writes what it holds."""
    board.task.cancel()
    await asyncio.gather(board.task, return_exceptions=True)


async def test_a_ten_minute_outage_costs_a_few_probes_and_everyone_is_back_in_a_minute(
    board, clock: FakeClock
) -> None:
    b = await board(200)
    await b.run_for(400)  # several passes: tenants now last succeeded at different times
    assert b.monitor.outage is None and b.model.counts == Counter({"Running": 200})
    last_success = {key: row.last_success_at for key, row in b.model.rows.items()}

    b.network.down = httpx.ConnectError
    went_down = clock.monotonic()
    await b.run_for(600)
    outage = b.monitor.outage
    assert outage is not None and outage.reason == "connection refused"
    assert outage.headline.startswith("cannot reach SuperOffice since ")
    # Before: every tenant backed off on its own, ~1,000 attempts in ten minutes.
    declared = b.declared_at
    assert declared is not None
    assert len(b.network.after(declared + 0.1)) <= 600 / PROBE_DELAYS[-1] + 4
    assert len(b.network.after(went_down)) <= 600 / PROBE_DELAYS[-1] + 4 + 8
    assert outage.probes == len(b.network.after(declared + 0.1))
    # Every row keeps its last known state; those that failed in the outage are stale,
    # aged from their last success (the few failures before the board could tell, too,
    # once a probe has been through them).
    assert b.model.counts["Running"] >= 200 - OUTAGE_MIN_TENANTS
    assert stale_rows(b) and all(row.stale_since == last_success[key] for key, row in stale_rows(b))

    b.network.down = None
    came_back = clock.monotonic()
    await b.run_for(PROBE_DELAYS[-1] + 75)
    assert b.monitor.outage is None and outage.ended is not None
    recovered = b.recovered_at
    assert recovered is not None and recovered - came_back <= PROBE_DELAYS[-1]
    assert [ended for _, ended in b.outages] == [False, True]
    assert all(told is outage for told, _ in b.outages)
    after = b.network.after(came_back)
    first_recheck: dict[str, float] = {}
    for at, ctx in after:
        first_recheck.setdefault(ctx, at)
    assert len(first_recheck) == 200
    assert max(first_recheck.values()) - recovered <= 61  # within a minute of the probe
    per_second = Counter(int(at - recovered) for at in first_recheck.values())
    assert max(per_second.values()) <= 5  # spread out: no stampede of 200 at once
    # Stalest first: the order of re-checks follows the order of last successes.
    order = sorted(first_recheck, key=first_recheck.__getitem__)
    staleness = [last_success[Tenant(ctx).key] for ctx in order[1:]]  # [0] was the probe
    assert staleness == sorted(staleness)
    assert b.model.counts == Counter({"Running": 200})


async def test_the_outage_is_one_event_in_the_log_not_one_per_tenant(board) -> None:
    b = await board(50)
    await b.run_for(5)
    before = b.logged_kinds()
    b.network.down = httpx.ConnectError
    await b.run_for(400, step=1)  # every tenant falls due (ValidUntil 300 s) in the outage
    b.network.down = None
    await b.run_for(PROBE_DELAYS[-1] + 75, step=1)
    kinds = b.logged_kinds() - before
    # Told as they came: only the few failures before the board could tell, never one
    # per tenant. Those were the outage's too: taken back from the rows and the event log
    # once it was detected, so no "checks succeed again" follows them.
    assert kinds["failure"] < OUTAGE_MIN_TENANTS
    assert set(kinds) == {"failure", "outage"} and kinds["outage"] == 1
    assert not [event for row in rows(b) for event in row.history if event.kind == "failure"]
    assert not [event for event in b.session.event_log.events if event.kind == "failure"]
    assert len(b.outages) == 2


async def test_one_tenant_failing_on_its_own_never_starts_an_outage(board) -> None:
    b = await board(20)
    b.network.faults = {"Cust1": 503, "Cust2": 404, "Cust3": 421, "Cust4": httpx.ConnectError}
    await b.run_for(1800, step=2)
    assert b.outages == [] and b.monitor.outage is None
    # Each still backs off on its own: a handful of checks in half an hour, not one a probe.
    for ctx in ("Cust1", "Cust2", "Cust3", "Cust4"):
        assert len([1 for _, name in b.network.requests if name == ctx]) <= 8
    assert b.model.rows[Tenant("Cust5").key].checks >= 6


async def test_superoffice_answering_errors_everywhere_is_their_outage_not_ours(board) -> None:
    b = await board(20)
    b.network.faults = {f"Cust{i}": 503 for i in range(1, 21)}
    await b.run_for(600, step=2)
    assert b.outages == []
    assert all(row.severity is not None and row.error for row in b.model.rows.values())


async def test_a_probe_moves_on_past_a_tenant_broken_on_its_own(board, clock) -> None:
    b = await board(10)
    await b.run_for(2)
    b.network.faults = {"Cust1": httpx.ConnectTimeout}  # never answers, so it is the stalest
    b.network.down = httpx.ConnectError
    await b.run_for(400, step=1)
    outage = b.monitor.outage
    assert outage is not None
    b.network.down = None
    await b.run_for(2 * PROBE_DELAYS[-1] + 1, step=1)
    assert b.monitor.outage is None and outage.probes >= 2


async def test_a_manual_refresh_in_an_outage_probes_now(board, clock) -> None:
    b = await board(10)
    b.network.down = httpx.ConnectError
    await b.run_for(400, step=1)
    outage = b.monitor.outage
    assert outage is not None
    probes = outage.probes
    for key in list(b.model.list_order):  # R: one probe, not ten checks
        b.monitor.recheck(key)
    await b.settle()
    assert outage.probes == probes + 1


def test_the_detector_needs_several_tenants_close_together_and_no_answer_between() -> None:
    refused = CheckError(ErrorKind.CONNECT, "cannot connect ([Errno 111] Connection refused)")
    detector = ConnectivityDetector(min_tenants=3, window=60)
    assert detector.observe("a", refused, 0) == 1
    assert detector.observe("a", refused, 1) == 1  # the same tenant twice is one
    assert detector.observe("b", refused, 2) == 2
    assert detector.observe("c", None, 3) == 0  # an answer: the network works
    assert detector.observe("d", refused, 4) == 1
    assert detector.observe("e", refused, 100) == 1  # too far apart
    bad = CheckError(ErrorKind.UNAVAILABLE, "service unavailable (503)", status=503)
    assert detector.observe("f", bad, 101) == 0
    reset = CheckError(ErrorKind.NETWORK, "connection failed (reset)")
    assert detector.observe("g", refused, 102) == 1
    assert detector.observe("h", reset, 103) == 1  # a reset neither counts nor clears


def test_a_move_to_a_state_without_endpoint_logs_the_state_not_an_endpoint_event(clock) -> None:
    from tenantboard.answers import parse_state

    tenant = Tenant("Cust1")
    model = BoardModel([tenant])

    def answer(endpoint: str | None) -> None:
        payload = {"State": "Running" if endpoint else "OfflineMaintenance", "Endpoint": endpoint}
        state = parse_state(payload, "Cust1")
        model.apply(CheckResult(tenant, state, None, clock.wall(), 0.1))

    answer("https://online2.superoffice.com/Cust1")
    answer(None)
    answer("https://online3.superoffice.com/Cust1")
    texts = [(change.event.kind, change.event.text) for change in model.take_changes()]
    assert texts == [
        ("state", "Running → OfflineMaintenance"),
        ("state", "OfflineMaintenance → Running"),
        (
            "endpoint",
            "endpoint https://online2.superoffice.com/Cust1 → https://online3.superoffice.com/Cust1",
        ),
    ]


def test_check_gives_one_reason_when_superoffice_cannot_be_reached(capsys) -> None:
    from tenantboard.cli import main

    with socket.socket() as probe:  # a loopback port nobody listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["check", "--base-url", f"http://127.0.0.1:{port}", "Cust1", "Cust2", "Cust3"])
    out = capsys.readouterr().out
    assert code == 3
    summary, _, took = out.splitlines()[0].rpartition(" time=")
    assert summary == (
        "TENANTBOARD UNKNOWN - cannot reach SuperOffice: connection refused "
        "(3 tenants not checked) | ok=0 warning=0 critical=0 unknown=3"
    )
    assert took.endswith("s") and float(took[:-1]) < 10
    assert "Cust2" in out  # the table still lists every tenant


def test_check_with_one_tenant_refused_keeps_the_usual_summary(capsys) -> None:
    from tenantboard.cli import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["check", "--base-url", f"http://127.0.0.1:{port}", "Cust1"])
    assert code == 3
    assert capsys.readouterr().out.startswith("TENANTBOARD UNKNOWN - 1 tenant: 1 unknown")


def rows(b: Board):
    return list(b.model.rows.values())


def stale_rows(b: Board):
    return [(key, row) for key, row in b.model.rows.items() if row.stale]


async def test_rows_held_in_an_outage_say_they_wait_for_the_network(board) -> None:
    from tenantboard.rows import describe_next

    b = await board(10)
    b.network.down = httpx.ConnectError
    await b.run_for(400, step=1)
    assert b.monitor.outage is not None
    row = next(row for _, row in stale_rows(b))
    now = b.clock.monotonic()
    due = b.monitor.due_at(row.tenant.key)
    short, why = describe_next(row, checking=False, paused=False, due=due, now=now)
    assert short == "waiting" and why.startswith("SuperOffice cannot be reached")
    assert row.severity is not None and row.bucket == "Running"  # the last known state


# -- the board ------------------------------------------------------------------------------


def switchable_network(clock):  # type: ignore[no-untyped-def]
    """The simulator behind a network a test turns off and on: ({"up": bool}, transport)."""
    from tenantboard.simulator import Simulator, SimulatorTransport

    simulator = SimulatorTransport(Simulator(now=lambda: clock.epoch, slow_delay=0))
    network = {"up": True}

    class Switchable(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not network["up"]:
                raise httpx.ConnectError("connection refused", request=request)
            return await simulator.handle_async_request(request)

    return network, Switchable()


async def until_the_outage_ends(pilot, app, clock) -> None:  # type: ignore[no-untyped-def]
    """The network back: time passes until a probe gets through (they back off)."""
    from .conftest import until

    for _ in range(20):
        clock.advance(30)
        app.monitor.wake_if_overdue()
        await pilot.pause(0.05)
        if app.monitor.outage is None:
            break
    await until(pilot, lambda: app.monitor.outage is None, tries=500)


async def test_the_board_shows_one_alarm_and_logs_one_event_for_its_own_outage(clock) -> None:

    from .conftest import make_board, settle_board, until

    network, transport = switchable_network(clock)
    app = make_board(clock, transport=transport)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle_board(pilot, app)
        states = {key: row.state for key, row in app.board.model.rows.items()}
        failed_before = sum(e.kind == "failure" for e in app.board.event_log.events)
        network["up"] = False
        app.board.action_recheck_list()
        await until(pilot, lambda: app.monitor.outage is not None, tries=500)
        await pilot.pause(0.3)
        assert "cannot reach SuperOffice since" in app.board.summary.render().plain
        kept = {key: row.state for key, row in app.board.model.rows.items()}
        assert kept == states  # every row keeps its last known state
        network["up"] = True
        await until_the_outage_ends(pilot, app, clock)
        outages = [e for e in app.board.event_log.events if e.kind == "outage"]
        failed = sum(e.kind == "failure" for e in app.board.event_log.events) - failed_before
        assert len(outages) == 1 and "could not reach SuperOffice from" in outages[0].text
        assert failed <= 3  # the few before the board could tell; not one per tenant


# -- the history: our outage is a gap, never the tenants' downtime ------------------------------


async def fail_one_by_one(b: Board, tenants: list[str], gap: float) -> None:
    """Re-check ``tenants`` one at a time, ``gap`` seconds apart (the network is down)."""
    for ctx in tenants:
        b.monitor.recheck(Tenant(ctx).key)
        await b.settle()
        await b.run_for(gap, step=1)


async def test_our_outage_is_a_gap_in_the_history_not_the_tenants_downtime(
    board, clock: FakeClock, tmp_path
) -> None:
    from tenantboard.history.availability import availability
    from tenantboard.history.db import HistoryDB

    path = tmp_path / "history.sqlite3"
    b = await board(5, history_path=path)
    day_start = clock.wall()
    b.network.faults = {"Cust5": 503}  # Cust5's own trouble: that one is downtime
    await b.run_for(600, step=1)
    b.network.faults = {}
    await b.run_for(3 * 3600, step=5)

    # The network goes: two tenants fail before the board can tell, the third proves it.
    b.network.down = httpx.ConnectError
    went_down = clock.wall()
    await fail_one_by_one(b, ["Cust1", "Cust2", "Cust3"], gap=10)
    outage = b.monitor.outage
    assert outage is not None and outage.since == went_down  # Cust1's failure
    await b.run_for(70, step=1)  # probes fail: 90 s since the first failure
    b.network.down = None
    await b.run_for(PROBE_DELAYS[-1] + 75, step=1)
    assert b.monitor.outage is None and outage.ended is not None
    await b.run_for(20 * 3600 - 400, step=10)
    day_end = clock.wall()
    await stop(b)

    lost = (outage.ended - outage.since).total_seconds()
    assert 90 <= lost <= 90 + PROBE_DELAYS[-1]
    with HistoryDB.open(path, read_only=True) as db:
        found = db.window_intervals([t.key for t in b.tenants], day_start, day_end)
        [recorded] = db.outages(day_start, day_end)
        failures = [e for e in db.events(since=outage.since) if e.kind == "failure"]
        errors = {i.error for spans in found.values() for i in spans if i.start >= outage.since}
    assert (recorded.since, recorded.ended) == (outage.since, outage.ended)
    assert recorded.reason == "connection refused" and recorded.probes == outage.probes
    assert failures == [] and errors == {None}  # no "? connect", no "check failed"
    for tenant in b.tenants[:4]:
        spans = found[tenant.key]
        figures = availability(spans, day_start, day_end)
        assert figures.down == 0 and figures.failed == 0 and figures.incidents == 0
        assert figures.uptime == 1.0
        # Observed from its first check to its last but for the outage (and the seconds
        # of the re-checks after it), where it used to be 90 s of "connect" downtime.
        checked = (spans[-1].end - spans[0].start).total_seconds()
        assert checked - lost - 5 <= figures.observed <= checked - lost
    own = availability(found[Tenant("Cust5").key], day_start, day_end)
    assert own.incidents == 1 and own.failed > 0  # a tenant's own failure still counts


async def test_rows_read_alike_in_our_outage_failed_before_it_was_told_or_not(board) -> None:
    from tenantboard.rows import checked_text

    b = await board(6)
    await b.run_for(200, step=1)
    b.network.down = httpx.ConnectError
    await fail_one_by_one(b, ["Cust1", "Cust2", "Cust3"], gap=10)
    assert b.monitor.outage is not None
    now = b.clock.wall()
    texts = {row.tenant.context_id: checked_text(row, now, outage=True) for row in rows(b)}
    # Cust1 and Cust2 failed before the board could tell, Cust3 told it, Cust4-6 were
    # checked before it: all say how old their last known state is, none is an error.
    assert all(text.startswith("stale ") for text in texts.values()), texts
    assert b.model.counts == Counter({"Running": 6})
    assert all(row.severity is not None and row.severity.name == "OK" for row in rows(b))


async def test_the_detail_panes_running_share_leaves_out_checks_in_our_outage(board) -> None:
    """A tenant running throughout read "Running in 50% of 2 checks": the check that failed
    in our own outage counted as a check of the tenant that was not running."""
    from tenantboard.ui.widgets.detail import DetailContext, detail_entries, plain_text

    b = await board(3)
    await b.run_for(200, step=1)
    b.network.down = httpx.ConnectError
    await fail_one_by_one(b, ["Cust1", "Cust2", "Cust3"], gap=10)
    assert b.monitor.outage is not None
    row = b.model.rows[Tenant("Cust1").key]
    assert row.checks > row.observed_checks == row.running_checks
    context = DetailContext(b.clock.wall(), "", "", fetching_version=False)
    text = plain_text(detail_entries(row, context), 100)
    assert f"in 100% of {row.observed_checks} check" in text


def test_a_short_outage_keeps_its_seconds() -> None:
    from datetime import datetime, timedelta

    since = datetime(2026, 3, 2, 15, 1, 10, tzinfo=UTC)
    outage = Outage(since, "connection refused", 3, probes=1, ended=since + timedelta(seconds=95))
    assert outage.summary() == (
        "could not reach SuperOffice from 15:01 to 15:02 (1m 35s): connection refused; 1 probe"
    )
    short = Outage(since, "connection refused", 3, probes=2, ended=since + timedelta(seconds=21))
    assert "from 15:01:10 to 15:01:31 (21s)" in short.summary()  # minutes would read alike


def test_an_outage_still_open_names_its_day_where_its_end_would() -> None:
    """`history` lists our outages with their days; one still open (or left open by a run
    that was killed) said only "since 15:01:10", a time of no day, among dated lines."""
    from datetime import datetime

    since = datetime(2026, 3, 2, 15, 1, 10, tzinfo=UTC)
    outage = Outage(since, "connection refused", 3, probes=4)
    assert outage.summary(dates=True) == (
        "cannot reach SuperOffice since 2026-03-02 15:01: connection refused; 4 probes"
    )
    assert outage.summary() == outage.headline  # the header and the log keep the clock


async def test_checks_an_hour_apart_are_observed_all_day(board, clock: FakeClock, tmp_path) -> None:
    """max_interval = 3600 and answers valid for 50 minutes: checks 50 to 55 minutes apart
    are one observation, not a gap after each (the fixed 32-minute gap read 0 %)."""
    from tenantboard.history.availability import availability
    from tenantboard.history.db import HistoryDB

    path = tmp_path / "history.sqlite3"
    b = await board(3, history_path=path, max_interval=3600)
    b.network.valid_for = 50 * 60
    start = clock.wall()
    await b.run_for(24 * 3600, step=60)
    end = clock.wall()
    await stop(b)
    with HistoryDB.open(path, read_only=True) as db:
        found = db.window_intervals([t.key for t in b.tenants], start, end)
    for tenant in b.tenants:
        figures = availability(found[tenant.key], start, end)
        assert len(found[tenant.key]) == 1  # one Running interval all day
        assert figures.uptime == 1.0 and figures.coverage > 0.95


async def test_our_outage_is_read_whole_at_80_columns_while_it_lasts(clock) -> None:
    """A lasting problem is shown whole (docs/board.md): the outage line was cut at 80
    columns (``…; rows show what wa…``). It leads the change line, wrapped, until it ends."""
    from textual.geometry import Region

    from tenantboard.ui.widgets.change_line import ChangeLine

    from .conftest import make_board, settle_board, until

    network, transport = switchable_network(clock)
    app = make_board(clock, transport=transport)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        network["up"] = False
        app.board.action_recheck_list()
        await until(pilot, lambda: app.monitor.outage is not None, tries=500)
        await pilot.pause(0.3)
        line = app.query_one(ChangeLine)
        drawn = " ".join(
            strip.text.strip() for strip in line.render_lines(Region(0, 0, *line.size))
        )
        assert "cannot reach SuperOffice since" in drawn
        assert drawn.endswith("rows show what was last known") and "…" not in drawn, drawn
        network["up"] = True
        await until_the_outage_ends(pilot, app, clock)
        await pilot.pause()
        shown = line.render().plain
        assert "cannot reach" not in shown and "could not reach SuperOffice from" in shown
