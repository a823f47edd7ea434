"""The session without a screen and without a server: one watched tenant file, on the fake
clock, against the in-process simulator. What the board and `serve` both get from it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tenantboard.errors import ErrorKind
from tenantboard.history.db import HistoryDB
from tenantboard.interpreter_lock import loop_first
from tenantboard.lease import PollerLease, lease_paths
from tenantboard.notify import Deliverer, Notifier
from tenantboard.session import MarkRefused, Session, SessionConfig
from tenantboard.session_changes import (
    EventsLogged,
    FileStatus,
    OutageChanged,
    ResultsApplied,
    RoleChanged,
    SessionChange,
    SettingsChanged,
)
from tenantboard.simulator import Simulator, SimulatorTransport
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import NotifyHook, TenantStore
from tests.conftest import FakeClock

TWO = '[[tenants]]\ncontext_id = "Cust1001"\n\n[[tenants]]\ncontext_id = "Cust1008"\n'


def a_file(tmp_path: Path, text: str = TWO, name: str = "tenants.toml") -> TenantStore:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return TenantStore(path)


def session_on(
    store: TenantStore, clock: FakeClock, tmp_path: Path, **options
) -> tuple[Session, list[SessionChange]]:
    """A session on the tenant file, checking the in-process simulator; and what it told."""
    loaded = store.load()
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0)
    options.setdefault("history_path", tmp_path / "history.sqlite3")
    config = SessionConfig(
        tenants=loaded.tenants,
        settings=loaded.settings,
        store=store,
        hooks=list(loaded.notify),
        keys=loaded.keys,
        data_dir=tmp_path / "data",
        **{"transport": SimulatorTransport(simulator), **options},
    )
    session = Session(config, clock=clock)
    told: list[SessionChange] = []
    session.subscribe(told.append)
    return session, told


async def until(condition, seconds: float = 20.0) -> None:
    """Let the session's tasks (and its threads) run until ``condition`` holds: quickly as
    a rule, but a machine busy with other work may take seconds."""
    for _ in range(round(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


class Recorder(Deliverer):
    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict] = []

    async def send(self, hook: NotifyHook, payload: dict) -> None:
        self.payloads.append(payload)


async def test_a_session_checks_records_and_tells_without_a_screen(clock, tmp_path) -> None:
    store = a_file(tmp_path)
    session, told = session_on(store, clock, tmp_path)
    running = asyncio.create_task(session.run())
    await until(lambda: session.model.pending() == 0)
    applied = [change for change in told if isinstance(change, ResultsApplied)]
    assert {row.tenant.key for change in applied for row in change.rows} == {
        "online:Cust1001",
        "online:Cust1008",
    }
    assert session.polling  # the only process on this file records it
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)  # closing writes what is queued
    with HistoryDB.open(tmp_path / "history.sqlite3", read_only=True) as db:
        assert [i.label for i in db.intervals("online:Cust1008")] == ["Suspended"]


async def test_while_a_session_runs_its_threads_hand_the_loop_the_lock_soon(
    clock, tmp_path
) -> None:
    """The history writer and serve's worker threads compute in Python; the event loop
    gives the interpreter lock up at every system call. CPython's 5 ms switch interval
    made each of those wait up to 5 ms while a thread computed: the loop's turns at
    100,000 tenants took 40 to 117 ms for 2 to 25 ms of its own work (interpreter_lock.py).
    While a session runs the interval is half a millisecond; after, as it was."""
    before = sys.getswitchinterval()
    assert before > 0.0005  # CPython's default (5 ms): what the session must change
    session, _ = session_on(a_file(tmp_path), clock, tmp_path)
    running = asyncio.create_task(session.run())
    await until(lambda: session.model.pending() == 0)
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert sys.getswitchinterval() == before


def test_sessions_that_overlap_leave_the_interval_as_it_was_once_the_last_ends() -> None:
    """Two sessions in one process (a test's two boards on one file) may end in either
    order: the first to end must not take the half millisecond from the other, nor the last
    leave it behind."""
    before = sys.getswitchinterval()
    first, second = loop_first(), loop_first()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(0.0005)  # the second still runs
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


async def test_one_tenant_file_has_one_poller_and_the_other_takes_over(clock, tmp_path) -> None:
    """A board beside serve (two sessions on one file): only the poller records and sends;
    when it ends, the other takes over within seconds and says so."""
    store = a_file(tmp_path)
    first, _ = session_on(store, clock, tmp_path)
    second, second_told = session_on(store, clock, tmp_path)
    sent = []
    for session in (first, second):
        recorder = Recorder()
        sent.append(recorder.payloads)
        session.notifier = Notifier(
            [NotifyHook("ops", command=("true",), group_seconds=0.0)],
            deliverer=recorder,
            is_silenced=session.is_silenced,
            may_send=lambda session=session: session.polling,
        )
    one = asyncio.create_task(first.run())
    await until(lambda: first.model.pending() == 0)
    two = asyncio.create_task(second.run())
    await until(lambda: second.model.pending() == 0)
    assert first.polling and not second.polling
    assert second.role_text().startswith("recorded by a board (pid ")
    # The same change reaches both: only the poller sends it.
    for session in (first, second):
        row = session.model.rows["online:Cust1001"]
        suspended = _as_suspended(row.last)
        session.apply([suspended])
    await until(lambda: len(sent[0]) == 1)
    assert sent[1] == []
    one.cancel()
    await asyncio.gather(one, return_exceptions=True)
    clock.advance(6)  # the next try for the lease
    await until(lambda: second.polling)
    assert any(isinstance(change, RoleChanged) and change.polling for change in second_told)
    two.cancel()
    await asyncio.gather(two, return_exceptions=True)


async def test_a_board_recording_elsewhere_than_the_poller_says_so_and_refuses_marks(
    clock, tmp_path
) -> None:
    """A board beside serve with another --data-dir: its marks would land in a history the
    poller never reads, so serve would still alert. It says so, and refuses the mark
    rather than show one that silences nothing; with the same history, marks are taken."""
    store = a_file(tmp_path)
    first, _ = session_on(store, clock, tmp_path, history_path=tmp_path / "serve.sqlite3")
    second, _ = session_on(store, clock, tmp_path, history_path=tmp_path / "board.sqlite3")
    third, _ = session_on(store, clock, tmp_path, history_path=tmp_path / "serve.sqlite3")
    one = asyncio.create_task(first.run())
    await until(lambda: first.model.pending() == 0)
    two = asyncio.create_task(second.run())
    three = asyncio.create_task(third.run())
    await until(lambda: second.model.pending() == 0 and third.model.pending() == 0)
    assert not second.polling and not third.polling
    assert second.records_elsewhere() == str(tmp_path / "serve.sqlite3")
    message = second.role_message()
    assert f"records to {tmp_path / 'serve.sqlite3'}" in message
    assert "marks made here would not reach it" in message
    with pytest.raises(MarkRefused, match="would silence nothing"):
        await second.add_mark("online:Cust1001", "mute", None)
    assert second.marks.of("online:Cust1001") == []
    assert third.records_elsewhere() is None
    mark, saved = await third.add_mark("online:Cust1001", "mute", None)
    assert saved and mark.kind == "mute"
    for task in (one, two, three):
        task.cancel()
    await asyncio.gather(one, two, three, return_exceptions=True)


async def test_changes_recorded_by_the_poller_are_not_changes_while_closed(clock, tmp_path) -> None:
    """A board opened beside a running poller (serve) compares nothing with the history:
    the poller recorded every change meanwhile, none was missed "while closed"."""
    store = a_file(tmp_path)
    first, _ = session_on(store, clock, tmp_path)
    second, second_told = session_on(store, clock, tmp_path)
    one = asyncio.create_task(first.run())
    await until(lambda: first.model.pending() == 0 and first.history_loaded)
    row = first.model.rows["online:Cust1001"]
    first.apply([_as_suspended(row.last)])  # the poller records Suspended ...
    assert await asyncio.to_thread(first.writer.flush)
    clock.advance(60)
    two = asyncio.create_task(second.run())  # ... and the board's first answer is Running
    await until(lambda: second.model.pending() == 0 and second.history_loaded)
    assert not second.polling
    await until(
        lambda: all(
            task.done()
            for task in second._tasks.values()
            if task.get_name().startswith("session closed-")
        )
    )
    logged = [e.text for c in second_told if isinstance(c, EventsLogged) for e in c.events]
    assert not [text for text in logged if "while closed" in text], logged
    assert not [e for e in second.event_log.events if "while closed" in e.text]
    for task in (two, one):
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_reload_reads_the_tenant_file_now_even_if_it_looks_unchanged(
    clock, tmp_path
) -> None:
    """serve's SIGHUP: the file is read at once, whatever its time stamp says (a copy
    that kept the old one, a clock set back), while the checks carry on."""
    store = a_file(tmp_path, TWO.replace("Cust1008", "Cust1009"))
    session, _ = session_on(store, clock, tmp_path)
    running = asyncio.create_task(session.run())
    await until(lambda: session.model.pending() == 0)
    before = store.path.stat()
    store.path.write_text(TWO, encoding="utf-8")  # the same size, and the old time stamp:
    os.utime(store.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    await session.look_at_file()  # the watch sees no change
    assert "online:Cust1008" not in session.model.rows
    said = await session.reload()
    assert said == f"re-read {store.path}: 2 tenants, 0 alert hooks"
    assert session.model.list_order == ["online:Cust1001", "online:Cust1008"]
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


class Unreachable(httpx.AsyncBaseTransport):
    """SuperOffice as our own outage shows it: nothing answers."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


async def test_a_restart_in_our_own_outage_is_no_change_while_closed(clock, tmp_path) -> None:
    """Started while SuperOffice cannot be reached, a poller's first checks fail: that says
    nothing of the tenants, so nothing changed "while closed"; the first real answer is
    what is compared with the last recorded one."""
    store = a_file(tmp_path)
    first, _ = session_on(store, clock, tmp_path)
    one = asyncio.create_task(first.run())
    await until(lambda: first.model.pending() == 0 and first.history_loaded)
    running = first.model.rows["online:Cust1001"].last
    assert running.state is not None and running.state.state_name == "Running"
    assert await asyncio.to_thread(first.writer.flush)
    one.cancel()
    await asyncio.gather(one, return_exceptions=True)

    clock.advance(60)
    second, told = session_on(store, clock, tmp_path, transport=Unreachable())
    two = asyncio.create_task(second.run())
    await until(lambda: second.model.pending() == 0 and second.history_loaded)
    assert all(row.last.error is not None for row in second.model.rows.values())

    def compared() -> bool:
        return all(
            task.done()
            for task in second._tasks.values()
            if task.get_name().startswith("session closed-")
        )

    await until(compared)
    logged = [e.text for c in told if isinstance(c, EventsLogged) for e in c.events]
    assert not [text for text in logged if "while closed" in text], logged

    # The first real answer is compared: Suspended now, Running when last recorded.
    second.apply([replace(_as_suspended(running), checked_at=clock.wall())])
    await until(lambda: any("while closed" in e.text for e in second.event_log.events))
    (text,) = [e.text for e in second.event_log.events if "while closed" in e.text]
    assert text.startswith("Running → Suspended while closed")
    two.cancel()
    await asyncio.gather(two, return_exceptions=True)


def _as_suspended(result):
    from dataclasses import replace

    from tenantboard.answers import State

    state = replace(result.state, state=State.Suspended, state_raw="Suspended", is_running=False)
    return replace(result, state=state)


def test_the_lease_is_taken_over_when_its_holder_is_killed(tmp_path) -> None:
    """kill -9 leaves no stale lease: the kernel lets go of the lock with the process."""
    tenant_file = tmp_path / "tenants.toml"
    tenant_file.write_text("")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from datetime import datetime, UTC\n"
            "from pathlib import Path\n"
            "from tenantboard.lease import PollerLease, lease_paths\n"
            f"lease = PollerLease(lease_paths(Path({str(tenant_file)!r}), None), kind='serve')\n"
            "assert lease.try_take(datetime.now(UTC))\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        from datetime import UTC, datetime

        lease = PollerLease(lease_paths(tenant_file, None), kind="board")
        assert not lease.try_take(datetime.now(UTC))
        described = lease.holder()
        assert described is not None and (described.pid, described.kind) == (holder.pid, "serve")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        assert lease.try_take(datetime.now(UTC))
        assert lease.holder().pid == os.getpid()
        lease.release()
    finally:
        holder.kill()
        holder.wait()


def test_where_no_lease_can_be_made_beside_the_file_it_is_made_in_the_data_folder(
    tmp_path,
) -> None:
    """A folder this user cannot write (or, here, a name that is taken by a folder: the same
    refusal to open, and root can write anywhere) leaves the lease to the data folder."""
    from datetime import UTC, datetime

    tenant_file = tmp_path / "tenants.toml"
    tenant_file.write_text("")
    (tmp_path / ".tenants.toml.poller").mkdir()
    data = tmp_path / "data"
    data.mkdir()
    lease = PollerLease(lease_paths(tenant_file, data), kind="board")
    assert lease.try_take(datetime.now(UTC))
    assert lease.path == data / "poller.lease"
    lease.release()


SETTINGS = """[settings]
min_interval = 60
max_interval = 600
concurrency = 3
timeout = 5
bell = true
history_days = 30

"""


async def test_changed_settings_are_applied_at_once_and_said(clock, tmp_path) -> None:
    store = a_file(tmp_path)
    session, told = session_on(store, clock, tmp_path)
    monitor = session.monitor
    old_client = session.client
    store.path.write_text(SETTINGS + TWO, encoding="utf-8")
    os.utime(store.path, ns=(time.time_ns(), time.time_ns() + 10**9))
    await session.look_at_file()
    (said,) = [change for change in told if isinstance(change, SettingsChanged)]
    for name in ("min_interval", "max_interval", "concurrency", "timeout", "bell"):
        assert name in said.message
    assert (monitor.policy.min_interval, monitor.policy.max_interval) == (60, 600)
    assert monitor.concurrency == 3 and session.client is not old_client
    assert session.client.timeout == 5 and session.settings.bell
    assert session.writer.retention_days == 30
    await session.aclose()


async def test_options_given_on_the_command_line_win_over_the_file_on_reload(
    clock, tmp_path
) -> None:
    store = a_file(tmp_path)
    session, _ = session_on(store, clock, tmp_path, overrides={"min_interval": 45})
    assert session.settings.min_interval == 45
    store.path.write_text(SETTINGS + TWO, encoding="utf-8")
    os.utime(store.path, ns=(time.time_ns(), time.time_ns() + 10**9))
    await session.look_at_file()
    assert session.settings.min_interval == 45 and session.settings.max_interval == 600
    await session.aclose()


async def test_a_broken_settings_table_is_said_and_so_is_its_repair(clock, tmp_path) -> None:
    store = a_file(tmp_path)
    session, told = session_on(store, clock, tmp_path)
    store.path.write_text("[settings]\nmin_interval = -1\n\n" + TWO, encoding="utf-8")
    os.utime(store.path, ns=(time.time_ns(), time.time_ns() + 10**9))
    await session.look_at_file()
    problems = [change for change in told if isinstance(change, FileStatus)]
    assert problems and problems[-1].problem is not None
    assert session.settings.min_interval == 30  # kept what it had
    store.path.write_text("[settings]\nmin_interval = 40\n\n" + TWO, encoding="utf-8")
    os.utime(store.path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    await session.look_at_file()
    fixed = [change for change in told if isinstance(change, FileStatus)][-1]
    assert fixed.problem is None and "can be read again" in fixed.message
    assert session.settings.min_interval == 40 and session.file_problem is None
    await session.aclose()


async def test_a_muted_tenants_changes_are_logged_but_not_told(clock, tmp_path) -> None:
    """Muted for an hour: its change is in the log, but no notice, bell or hook. (A mute
    "until its state changes" ends with the change, which is then told.)"""
    store = a_file(tmp_path)
    session, told = session_on(store, clock, tmp_path, history_path=None)
    running = asyncio.create_task(session.run())
    await until(lambda: session.model.pending() == 0)
    await session.add_mark("online:Cust1001", "mute", clock.wall() + timedelta(hours=1))
    row = session.model.rows["online:Cust1001"]
    assert row.mark == "mute"
    session.apply([_as_suspended(row.last)])
    logged = [change for change in told if isinstance(change, EventsLogged)][-1]
    assert [event.text for event in logged.events] == ["Running → Suspended"]
    assert logged.told == ()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


def test_an_idle_session_needs_no_event_loop_to_be_built(tmp_path) -> None:
    """Faces build their session before the loop runs (the app's constructor)."""
    session = Session(SessionConfig(tenants=[Tenant("Cust1")]))
    assert session.model.total == 1 and session.polling


async def test_results_that_came_before_the_start_up_read_was_done_are_still_written(
    clock, tmp_path, monkeypatch
) -> None:
    """Closed in its first moments (the history's start-up read still in its thread): the
    results already applied are written all the same, never lost with the writer unstarted."""
    import threading

    import tenantboard.session as session_module

    release = threading.Event()
    real_read_start = session_module.read_start

    def slow_read_start(*args, **kwargs):
        release.wait(10)
        return real_read_start(*args, **kwargs)

    monkeypatch.setattr(session_module, "read_start", slow_read_start)
    store = a_file(tmp_path)
    session, _ = session_on(store, clock, tmp_path)
    running = asyncio.create_task(session.run())
    await until(lambda: session.model.pending() == 0)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    release.set()
    with HistoryDB.open(tmp_path / "history.sqlite3", read_only=True) as db:
        assert [i.label for i in db.intervals("online:Cust1008")] == ["Suspended"]


async def test_serve_says_when_it_polls_or_follows_and_its_metrics_say_so(
    clock, tmp_path, caplog
) -> None:
    """Two `serve`s on one file: the first says it polls, the second which process polls
    and that it follows its history (not "checking for this screen only"); when the first
    ends, the second says it polls now; tenantboard_poller is 1 for the poller, else 0."""
    import logging

    from tenantboard.serve.watcher import Watcher
    from tests.test_metrics import scrape

    caplog.set_level(logging.INFO, logger="tenantboard.session")
    store = a_file(tmp_path)
    first, _ = session_on(store, clock, tmp_path, kind="serve")
    second, _ = session_on(store, clock, tmp_path, kind="serve")
    first_watcher, second_watcher = Watcher(first), Watcher(second)
    one = asyncio.create_task(first.run())
    await until(lambda: first.polling and first.lease.held)
    two = asyncio.create_task(second.run())
    await until(lambda: "following its history" in caplog.text)
    said = [record.getMessage() for record in caplog.records]
    assert f"checking the tenants of {store.path} (this process polls" in said[0]
    assert any(
        message.startswith("serve (pid ")
        and f"polls {store.path}; following its history" in message
        for message in said
    )
    assert "for this screen only" not in caplog.text
    assert scrape(first_watcher)["tenantboard_poller"] == {(): 1.0}
    assert scrape(second_watcher)["tenantboard_poller"] == {(): 0.0}

    caplog.clear()
    one.cancel()
    await asyncio.gather(one, return_exceptions=True)
    clock.advance(6)  # the next try for the lease
    await until(lambda: second.polling)
    assert f"checking the tenants of {store.path} (this process polls" in caplog.text
    assert scrape(second_watcher)["tenantboard_poller"] == {(): 1.0}
    two.cancel()
    await asyncio.gather(two, return_exceptions=True)


async def test_the_results_of_one_turn_are_applied_in_their_order_the_first_at_once() -> None:
    """Several checks finishing in one turn of the event loop (a fleet's first pass): the
    first result is applied as it comes, the others together at the end of the turn, in
    the order they came; what must see them applied first (a result applied directly, our
    own outage beginning, the session closing) takes them before it acts."""
    from tenantboard.answers import State
    from tests.serve_helpers import begin_outage, failed, idle_watcher, ok

    tenants = [Tenant(f"Cust{number}", "online", f"Shop {number}") for number in (1, 2, 3)]
    session = idle_watcher(tenants).session
    told: list[SessionChange] = []
    session.subscribe(told.append)
    arrived = session.monitor._on_result  # what the monitor calls as each check ends

    def applied() -> list[list[str]]:
        return [
            [row.tenant.context_id for row in change.rows]
            for change in told
            if isinstance(change, ResultsApplied)
        ]

    arrived(ok(tenants[0]))
    arrived(ok(tenants[1], State.Suspended))
    arrived(ok(tenants[2]))
    assert applied() == [["Cust1"]]
    await asyncio.sleep(0)
    assert applied() == [["Cust1"], ["Cust2", "Cust3"]]
    assert session.model.rows["online:Cust2"].state.state is State.Suspended

    arrived(ok(tenants[0], at=5))
    arrived(ok(tenants[1], at=5))
    session.apply([ok(tenants[2], at=6)])
    assert applied()[-2:] == [["Cust1"], ["Cust2", "Cust3"]]

    await asyncio.sleep(0)
    arrived(failed(tenants[0], ErrorKind.CONNECT, at=40))
    arrived(failed(tenants[1], ErrorKind.CONNECT, at=41))
    begin_outage(session, at=30)  # both failures came before it was found: both held
    (outage,) = [change for change in told if isinstance(change, OutageChanged)]
    assert [row.tenant.context_id for row in outage.held] == ["Cust1", "Cust2"]

    await asyncio.sleep(0)
    arrived(ok(tenants[0], at=90))
    arrived(ok(tenants[2], at=90))
    await session.aclose()
    assert applied()[-2:] == [["Cust1"], ["Cust3"]]
