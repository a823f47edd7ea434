"""A maintenance night on the fake clock: the session (what the board and `serve` both
sit on) against the in-process simulator acting out SuperOffice's windows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenantboard.answers import Severity
from tenantboard.history.db import HistoryDB
from tenantboard.maintenance import EVERYTHING, Scope
from tenantboard.notify import Notifier
from tenantboard.session import Session, SessionConfig
from tenantboard.session_changes import EventsLogged, MaintenanceChanged
from tenantboard.simulator import Simulator, SimulatorTransport
from tenantboard.simulator.scenario import MaintenanceNight, profile_for, steady
from tenantboard.tenant_file import NotifyHook, TenantStore
from tests.conftest import FakeClock
from tests.test_session import Recorder, until

#: Saturday 7 March 2026, 00:50 in Oslo (23:50 UTC on Friday): ten minutes before the
#: nightly app-pool recycle (01:00-03:00).
BEFORE_RECYCLE = datetime(2026, 3, 6, 23, 50, tzinfo=UTC)
STEADY = [number for number in range(2000, 2400) if profile_for(number) is steady][:12]
RECYCLE = "SuperOffice app-pool recycle"


def tenant_file(tmp_path: Path, extra: str = "") -> TenantStore:
    lines = [f'[[tenants]]\ncontext_id = "Cust{number}"\n' for number in STEADY]
    text = (
        '[superoffice_maintenance]\nwindows = ["recycle"]\n'
        "[settings]\nmin_interval = 30\nmax_interval = 120\n\n" + "\n".join(lines) + extra
    )
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return TenantStore(path)


def night_session(
    tmp_path: Path, clock: FakeClock, night: MaintenanceNight | None, hooks: list[NotifyHook]
) -> tuple[Session, list, Recorder]:
    store = tenant_file(tmp_path)
    loaded = store.load()
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0, maintenance=night)
    config = SessionConfig(
        tenants=loaded.tenants,
        settings=loaded.settings,
        store=store,
        history_path=tmp_path / "history.sqlite3",
        data_dir=tmp_path / "data",
        transport=SimulatorTransport(simulator),
        maintenance=loaded.maintenance,
        watch_interval=3600,
    )
    session = Session(config, clock=clock)
    recorder = Recorder()
    session.notifier = Notifier(
        hooks,
        deliverer=recorder,
        is_silenced=session.is_silenced,
        may_send=lambda: session.polling,
        in_window=session.window_name,
    )
    told: list = []
    session.subscribe(told.append)
    return session, told, recorder


async def pass_time(clock: FakeClock, seconds: float, step: float = 20.0) -> None:
    """Move the fake clock on, letting the session check, tick and write at each step."""
    for _ in range(int(seconds // step)):
        clock.advance(step)
        for _ in range(3):
            await asyncio.sleep(0.001)


def events_of(told: list) -> list:
    return [event for change in told if isinstance(change, EventsLogged) for event in change.events]


def told_of(told: list) -> list:
    return [event for change in told if isinstance(change, EventsLogged) for event in change.told]


async def test_a_maintenance_night_is_planned_and_the_tenants_still_down_are_reported_when_it_ends(
    tmp_path,
) -> None:
    clock = FakeClock(BEFORE_RECYCLE)
    night = MaintenanceNight(share=1.0, overrun=0.3, seed=3)
    hook = NotifyHook("ops", command=("true",), group_seconds=0.0)
    session, told, recorder = night_session(tmp_path, clock, night, [hook])
    running = asyncio.create_task(session.run())
    try:
        await until(lambda: session.model.pending() == 0)
        assert all(row.severity is Severity.OK for row in session.model.rows.values())

        await pass_time(clock, 15 * 60)  # 01:05: the window is open
        assert [w.name for w in session.maintenance.open] == [RECYCLE]
        assert all(row.window is not None for row in session.model.rows.values())
        opened = [c for c in told if isinstance(c, MaintenanceChanged) and c.opened]
        assert len(opened) == 1 and len(opened[0].keys) == len(STEADY)

        await pass_time(clock, 114 * 60)  # 02:59: every tenant went down at some moment
        planned = [e for e in events_of(told) if "(planned: " in e.text]
        assert {e.key for e in planned if "OfflineMaintenance" in e.text} == set(session.model.rows)
        assert not [e for e in told_of(told) if e.kind == "state"]  # no notice, no bell
        assert recorder.payloads == []  # no hook message

        closes = datetime(2026, 3, 7, 2, tzinfo=UTC).timestamp()
        down_now = {f"online:Cust{n}" for n in STEADY if night.down(n, closes + 1)}
        assert down_now  # a few stay down past the window's end (seed 3: some)
        await pass_time(clock, 5 * 60)  # 03:04: closed; they are reported now
        assert session.maintenance.open == ()
        not_back = [e for e in told_of(told) if "after " + RECYCLE + " ended" in e.text]
        assert {e.key for e in not_back} == down_now
        assert all(e.worse and e.kind == "state" for e in not_back)
        await until(lambda: recorder.payloads)
        sent = [event for payload in recorder.payloads for event in payload["events"]]
        assert {event["key"] for event in sent} == down_now
        assert all(e["window"] == RECYCLE and not e["planned"] for e in sent)
        assert not any(row.needs_attention for row in session.model.rows.values() if row.window)
        assert all(
            session.model.rows[key].needs_attention for key in down_now
        )  # back in the attention filter
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    with HistoryDB.open(tmp_path / "history.sqlite3", read_only=True) as db:
        (recorded,) = db.windows(BEFORE_RECYCLE, clock.wall())
        assert (recorded.source, recorded.name) == ("superoffice", RECYCLE)
        assert recorded.start == datetime(2026, 3, 7, 0, tzinfo=UTC)  # 01:00 Oslo, winter
        events = db.events(limit=10_000)
        assert any("(planned: " + RECYCLE + ")" in e.text for e in events)  # still logged


async def test_a_hook_that_asks_for_planned_changes_gets_them_marked_planned(tmp_path) -> None:
    clock = FakeClock(BEFORE_RECYCLE)
    night = MaintenanceNight(share=1.0, overrun=0.0, seed=3)
    hook = NotifyHook("ops", command=("true",), group_seconds=0.0, planned=True)
    session, _, recorder = night_session(tmp_path, clock, night, [hook])
    running = asyncio.create_task(session.run())
    try:
        await until(lambda: session.model.pending() == 0)
        await pass_time(clock, 60 * 60)
        await until(lambda: recorder.payloads)
        sent = [event for payload in recorder.payloads for event in payload["events"]]
        worse = [event for event in sent if event["kind"] == "worse"]
        assert worse and all(e["planned"] and e["window"] == RECYCLE for e in worse)
        assert "(planned: " in recorder.payloads[0]["text"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_an_ad_hoc_window_reaches_another_session_on_the_file_and_ends_early(
    tmp_path,
) -> None:
    """Started by one process (the command line, another board), adopted by a running
    session as it reads the marks; ended early, the tenants it covered are out of it."""
    clock = FakeClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    session, _, _ = night_session(tmp_path, clock, None, [])
    running = asyncio.create_task(session.run())
    try:
        await until(lambda: session.model.pending() == 0)
        with HistoryDB.open(tmp_path / "history.sqlite3") as db:
            window = db.add_window(
                _adhoc(clock.wall(), Scope(context_ids=frozenset({f"Cust{STEADY[0]}"}))),
                clock.wall(),
            )
        await pass_time(clock, 40)  # the session reads the database every 30 s
        key = f"online:Cust{STEADY[0]}"
        await until(lambda: session.model.rows[key].window is not None)
        assert [w.id for w in session.maintenance.open] == [window.id]
        assert sum(row.window is not None for row in session.model.rows.values()) == 1
        await session.end_window(window)
        assert session.model.rows[key].window is None
        assert session.maintenance.open == ()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    with HistoryDB.open(tmp_path / "history.sqlite3", read_only=True) as db:
        (ended,) = db.windows(source="adhoc")
        assert ended.ended_at is not None and ended.closes < ended.end


async def test_a_window_started_here_covers_at_once_and_is_saved(tmp_path) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    session, _, _ = night_session(tmp_path, clock, None, [])
    running = asyncio.create_task(session.run())
    try:
        await until(lambda: session.model.pending() == 0)
        window, saved = await session.start_window(EVERYTHING, timedelta(hours=2), "deploy")
        assert saved and window.id and window.id > 0
        assert all(row.window == window for row in session.model.rows.values())
        assert not any(row.needs_attention for row in session.model.rows.values())
        await pass_time(clock, 2 * 3600 + 20, step=60)
        assert all(row.window is None for row in session.model.rows.values())
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def _adhoc(now: datetime, scope: Scope):
    from tenantboard.maintenance import Window

    return Window("adhoc", "db upgrade", now, now + timedelta(hours=2), scope, by="ana")


async def test_windows_open_and_close_on_the_fake_clock_across_the_change_to_summer_time(
    tmp_path,
) -> None:
    """The night of 29 March 2026 the clocks in Oslo go from 02:00 to 03:00: the nightly
    recycle (01:00-03:00) opens at 00:00 UTC and closes at 01:00 UTC, an hour later."""
    clock = FakeClock(datetime(2026, 3, 28, 23, 50, tzinfo=UTC))
    session, told, _ = night_session(tmp_path, clock, None, [])
    session.look_at_windows()
    assert session.maintenance.open == ()
    seen: list[tuple[datetime, str]] = []
    for _ in range(90):  # to 01:20 UTC, a minute at a time
        clock.advance(60)
        session.look_at_windows()
        for change in told:
            if isinstance(change, MaintenanceChanged):
                seen += [(clock.wall(), "opened") for _ in change.opened]
                seen += [(clock.wall(), "closed") for _ in change.closed]
        told.clear()
    assert seen == [
        (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), "opened"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "closed"),
    ]
    await session.aclose()


def test_the_simulated_night_keeps_tenants_down_only_in_windows_and_a_few_past_them() -> None:
    night = MaintenanceNight(share=1.0, overrun=0.2, seed=5)
    opens = datetime(2026, 3, 7, 0, tzinfo=UTC).timestamp()  # 01:00 Oslo
    closes = opens + 2 * 3600
    numbers = range(1, 201)
    assert not any(night.down(n, opens - 60) for n in numbers)  # before: nobody
    assert all(
        any(night.down(n, opens + minute * 60) for minute in range(120)) for n in numbers
    )  # inside: everyone at some moment
    late = [n for n in numbers if night.down(n, closes + 300)]
    assert 10 <= len(late) <= 70  # about a fifth stay down past the end
    assert not any(night.down(n, closes + 45 * 60) for n in numbers)  # and not for ever
