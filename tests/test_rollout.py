"""A release rolling out, acted out by the simulator and watched by a session, on the fake
clock: host by host over simulated days, each upgrade an event, the history and the
versions view following it."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from tenantboard.cli import main, parse_arguments, rollout_of
from tenantboard.history.db import HistoryDB, VersionSeen
from tenantboard.history.reader import read_version_history
from tenantboard.session import Session, SessionConfig
from tenantboard.simulator import Rollout, Simulator, SimulatorTransport
from tenantboard.tenant import Tenant
from tests.conftest import FakeClock

ROLLOUT = Rollout(day=3600)
TENANTS = [Tenant(f"Cust{number}") for number in range(1, 10)]


def home_host(tenant: Tenant) -> str:
    return f"online{2 + int(tenant.context_id[4:]) % 3}.superoffice.com"


async def run_for(session: Session, clock: FakeClock, seconds: float, step: float = 30) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        for _ in range(40):
            await asyncio.sleep(0)


def on_new(session: Session) -> Counter[str]:
    """Per home host, how many tenants run the new release."""
    return Counter(
        home_host(row.tenant)
        for row in session.model.rows.values()
        if row.state is not None and row.state.version == ROLLOUT.new
    )


def test_each_host_has_its_day_and_each_tenant_its_moment_in_the_night() -> None:
    assert [ROLLOUT.wave(f"online{n}.superoffice.com") for n in (2, 3, 4)] == [0, 1, 2]
    assert ROLLOUT.wave("app.superoffice.com") == 3
    for number in range(1, 200):
        start = ROLLOUT.upgraded_at(number, "online3.superoffice.com")
        assert ROLLOUT.day <= start < ROLLOUT.day * (1 + ROLLOUT.window)
        assert ROLLOUT.at(number, "online3.superoffice.com", start - 1) == (ROLLOUT.old, False)
        assert ROLLOUT.at(number, "online3.superoffice.com", start + 1) == (ROLLOUT.new, True)
        assert ROLLOUT.at(number, "online3.superoffice.com", 2 * ROLLOUT.day) == (
            ROLLOUT.new,
            False,
        )


async def test_a_rollout_is_seen_host_by_host_and_kept_in_the_history(
    clock: FakeClock, tmp_path: Path
) -> None:
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0, rollout=ROLLOUT)
    history = tmp_path / "history.sqlite3"
    config = SessionConfig(
        tenants=list(TENANTS),
        transport=SimulatorTransport(simulator),
        history_path=history,
        rng=random.Random(7),
    )
    session = Session(config, clock=clock)
    running = asyncio.create_task(session.run())
    try:
        await run_for(session, clock, 60)
        assert [(item.version, item.tenants) for item in session.version_summaries()] == [
            (ROLLOUT.old, 9)
        ]
        hosts = [f"online{number}.superoffice.com" for number in (2, 3, 4)]
        for day in range(1, 4):  # one host a day: its three tenants, and only those
            await run_for(session, clock, ROLLOUT.day)
            assert on_new(session) == dict.fromkeys(hosts[:day], 3), f"after day {day}"
        summaries = session.version_summaries()
        assert [(item.version, item.tenants) for item in summaries] == [(ROLLOUT.new, 9)]
        assert summaries[0].first_seen is not None
        upgrades = [event for event in session.event_log.events if event.kind == "version"]
        assert len(upgrades) == 9
        assert {event.text for event in upgrades} == {f"upgraded {ROLLOUT.old} → {ROLLOUT.new}"}
        assert not any(event.worse for event in upgrades)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    spans = read_version_history(history, TENANTS[0].key)
    assert [span.version for span in spans] == [ROLLOUT.new, ROLLOUT.old]


def test_simulate_takes_a_rollout() -> None:
    args = parse_arguments(["simulate", "--rollout", "--rollout-day", "120"])
    assert rollout_of(args) == Rollout(day=120)
    assert rollout_of(parse_arguments(["simulate"])) is None


def test_a_rollout_day_without_a_rollout_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["simulate", "--rollout-day", "120", "--port", "0"]) == 64
    assert "--rollout-day goes with --rollout" in capsys.readouterr().err


async def test_an_upgrade_while_nothing_ran_is_told_at_the_first_answer(
    clock: FakeClock, tmp_path: Path
) -> None:
    """The history says Cust1 ran 11.9 when the last session ended; its first answer now
    names 11.10: that is an upgrade, logged once, and the history goes on from it."""
    history = tmp_path / "history.sqlite3"
    seen_before = clock.wall() - timedelta(days=3)
    with HistoryDB.open(history) as db:
        db.write(steps=[VersionSeen("online:Cust1", seen_before, ROLLOUT.old, None)])
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0)  # Cust1 answers 11.10
    config = SessionConfig(
        tenants=[TENANTS[0]],
        transport=SimulatorTransport(simulator),
        history_path=history,
        rng=random.Random(7),
    )
    session = Session(config, clock=clock)
    running = asyncio.create_task(session.run())
    try:
        await run_for(session, clock, 60)
        for _ in range(200):
            if session.history_loaded:
                break
            await asyncio.sleep(0.005)
        await run_for(session, clock, 60)
        upgrades = [event.text for event in session.event_log.events if event.kind == "version"]
        assert upgrades == [f"upgraded {ROLLOUT.old} → {ROLLOUT.new}"]
        assert session.first_seen.at[ROLLOUT.old] == seen_before  # the history's sighting
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert [span.version for span in read_version_history(history, "online:Cust1")] == [
        ROLLOUT.new,
        ROLLOUT.old,
    ]
