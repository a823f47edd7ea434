from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import timedelta

import pytest

from tenantboard.answers import StateAnswer, parse_state
from tenantboard.engine import CheckResult, Monitor
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.schedule import MAX_RETRY_AFTER, DueQueue, NextCheck, RefreshPolicy
from tenantboard.tenant import Tenant

from .conftest import FIXED_NOW, FakeClock


def policy(jitter: float = 0.1, seed: int = 1) -> RefreshPolicy:
    return RefreshPolicy(min_interval=30, max_interval=900, jitter=jitter, rng=random.Random(seed))


@pytest.mark.parametrize(
    ("valid_for", "low", "high", "reason"),
    [
        (120, 120, 132, "ValidUntil"),
        (5, 30, 33, "raised to the minimum"),
        (-3600, 30, 33, "raised to the minimum"),
        (10 * 365 * 86400, 900, 990, "capped at the maximum"),
    ],
)
def test_valid_until_is_clamped_with_a_little_jitter(valid_for, low, high, reason) -> None:
    for seed in range(50):
        check = policy(seed=seed).after_success(FIXED_NOW + timedelta(seconds=valid_for), FIXED_NOW)
        assert low <= check.delay <= high
        assert reason in check.reason


def test_a_missing_valid_until_falls_back_to_the_minimum() -> None:
    check = policy().after_success(None, FIXED_NOW)
    assert 30 <= check.delay <= 33 and "no usable ValidUntil" in check.reason


def test_jitter_spreads_tenants_that_expire_together() -> None:
    rng = policy()
    delays = {
        round(rng.after_success(FIXED_NOW + timedelta(seconds=300), FIXED_NOW).delay, 3)
        for _ in range(20)
    }
    assert len(delays) > 15


def test_valid_until_is_measured_against_the_servers_clock() -> None:
    server_date = FIXED_NOW - timedelta(hours=2)  # our clock is two hours fast
    check = policy(jitter=0).after_success(server_date + timedelta(seconds=300), server_date)
    assert check.delay == 300


def test_backoff_grows_exponentially_to_the_maximum_then_stays() -> None:
    rule = policy(jitter=0)
    ceilings = [min(900, 30 * 2 ** (n - 1)) for n in range(1, 10)]
    for failures, ceiling in enumerate(ceilings, start=1):
        for seed in range(20):
            rule.rng = random.Random(seed)
            delay = rule.after_failure(failures).delay
            assert max(30, ceiling / 2) <= delay <= ceiling
    assert "backoff after 3 failures" in rule.after_failure(3).reason


def test_retry_after_is_honoured_when_longer_than_backoff() -> None:
    check = policy().after_failure(1, retry_after=300)
    assert check.delay == 300 and check.reason == "Retry-After"
    assert policy().after_failure(1, retry_after=10**9).delay == MAX_RETRY_AFTER
    assert policy().after_failure(1, retry_after=1).reason.startswith("backoff")


def test_due_queue_orders_by_time_and_urgent_first() -> None:
    queue = DueQueue()
    queue.schedule("a", 10)
    queue.schedule("b", 5)
    queue.schedule("c", 20)
    queue.schedule("c", 1, urgent=True)
    assert queue.next_due() == float("-inf")
    assert queue.pop_due(now=10, limit=10) == ["c", "b", "a"]
    assert queue.next_due() is None


def test_due_queue_reschedule_and_discard_leave_no_ghosts() -> None:
    queue = DueQueue()
    for round_ in range(200):
        queue.schedule("a", round_)
    queue.schedule("b", 3)
    queue.discard("b")
    assert len(queue) == 1 and queue.due_at("a") == 199
    assert queue.pop_due(now=150, limit=5) == []
    assert queue.pop_due(now=199, limit=5) == ["a"]
    assert len(queue._heap) < 100  # stale entries do not pile up


def test_due_queue_respects_the_limit() -> None:
    queue = DueQueue()
    for index in range(10):
        queue.schedule(str(index), 0)
    assert len(queue.pop_due(0, 3)) == 3 and len(queue) == 7


# -- the monitor, with a fake clock and a fake client ------------------------------------------


class FakeClient:
    """Answers when told to: each request waits on a future the test resolves."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.pending: dict[str, list[asyncio.Future]] = {}
        self.calls: list[str] = []
        self.max_parallel = 0
        self.active = 0

    async def fetch_state(self, context_id: str, env: str) -> StateAnswer:
        self.calls.append(context_id)
        self.active += 1
        self.max_parallel = max(self.max_parallel, self.active)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending.setdefault(context_id, []).append(future)
        try:
            outcome = await future
        finally:
            self.active -= 1
        if isinstance(outcome, CheckError):
            raise outcome
        payload = {"State": "Running", "IsRunning": True, "ValidUntil": outcome}
        return StateAnswer(parse_state(payload, context_id), None, self.clock.wall())

    def answer(self, context_id: str, valid_for: float = 120) -> None:
        moment = self.clock.wall() + timedelta(seconds=valid_for)
        self.pending[context_id].pop(0).set_result(moment.isoformat())

    def fail(self, context_id: str, error: CheckError) -> None:
        self.pending[context_id].pop(0).set_result(error)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
async def running(clock: FakeClock):
    results: list[CheckResult] = []
    client = FakeClient(clock)
    tenants = [Tenant(f"Cust{i}") for i in range(1, 6)]
    monitor = Monitor(
        client,  # type: ignore[arg-type]
        tenants,
        policy=policy(jitter=0),
        concurrency=2,
        on_result=results.append,
        clock=clock,
    )
    task = asyncio.create_task(monitor.run())
    await settle()
    yield monitor, client, results
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_at_most_concurrency_checks_in_flight(running) -> None:
    monitor, client, results = running
    assert client.calls == ["Cust1", "Cust2"] and monitor.in_flight == 2
    client.answer("Cust1")
    await settle()
    assert client.calls == ["Cust1", "Cust2", "Cust3"]
    for ctx in ("Cust2", "Cust3", "Cust4", "Cust5"):
        client.answer(ctx)
        await settle()
    assert client.max_parallel == 2
    assert len(results) == 5 and monitor.in_flight == 0


async def test_the_next_check_waits_for_valid_until(running, clock: FakeClock) -> None:
    monitor, client, results = running
    for ctx in ("Cust1", "Cust2", "Cust3", "Cust4", "Cust5"):
        client.answer(ctx, valid_for=120)
        await settle()
    assert results[0].next_check is not None and results[0].next_check.delay == 120
    clock.advance(119)
    monitor.poke()
    await settle()
    assert len(client.calls) == 5  # nothing due yet: nothing runs
    clock.advance(2)
    monitor.poke()
    await settle()
    assert client.calls[5:] == ["Cust1", "Cust2"]


async def test_failures_back_off_and_success_resets(running, clock: FakeClock) -> None:
    monitor, client, results = running
    client.fail("Cust1", CheckError(ErrorKind.UNAVAILABLE, "down", retry_after=600))
    await settle()
    assert results[-1].failures == 1 and results[-1].next_check.reason == "Retry-After"
    assert results[-1].next_due == pytest.approx(clock.monotonic() + 600)
    monitor.recheck(Tenant("Cust1").key)
    await settle()
    client.answer("Cust2")
    await settle()
    assert client.calls.count("Cust1") == 2
    client.answer("Cust1")
    await settle()
    assert results[-1].tenant.context_id == "Cust1" and results[-1].failures == 0


async def test_manual_refresh_jumps_the_queue_and_never_overlaps(running) -> None:
    monitor, client, _ = running
    monitor.recheck(Tenant("Cust5").key)
    monitor.recheck(Tenant("Cust1").key)  # in flight: it runs again after, not alongside
    await settle()
    client.answer("Cust2")
    await settle()
    assert client.calls[2] == "Cust5"
    assert client.calls.count("Cust1") == 1
    client.answer("Cust1")
    await settle()
    assert client.calls.count("Cust1") == 2


async def test_pause_stops_new_checks_until_resumed(running) -> None:
    monitor, client, _ = running
    monitor.pause()
    client.answer("Cust1")
    client.answer("Cust2")
    await settle()
    assert len(client.calls) == 2
    monitor.resume()
    await settle()
    assert len(client.calls) == 4


async def test_removed_tenants_are_forgotten_and_new_ones_checked_now(running) -> None:
    monitor, client, results = running
    monitor.set_tenants([Tenant("Cust1"), Tenant("Cust9")])
    client.answer("Cust2")  # Cust2 was removed while in flight: its result is dropped
    await settle()
    assert client.calls[-1] == "Cust9"
    assert all(r.tenant.context_id != "Cust2" for r in results)


async def test_cancelling_the_monitor_cancels_checks_in_flight(clock: FakeClock) -> None:
    client = FakeClient(clock)
    monitor = Monitor(
        client,
        [Tenant("Cust1")],
        policy=policy(),
        concurrency=4,
        on_result=lambda r: None,
        clock=clock,
    )  # type: ignore[arg-type]
    task = asyncio.create_task(monitor.run())
    await settle()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert client.pending["Cust1"][0].cancelled()


async def test_after_a_suspend_overdue_tenants_are_noticed(running, clock: FakeClock) -> None:
    monitor, client, _ = running
    for ctx in ("Cust1", "Cust2", "Cust3", "Cust4", "Cust5"):
        client.answer(ctx, valid_for=300)
        await settle()
    assert len(client.calls) == 5
    clock.advance(2 * 3600)  # the laptop slept; the loop's own timer knows nothing of it
    await settle()
    assert len(client.calls) == 5
    monitor.wake_if_overdue()  # the board's once-a-second tick
    await settle()
    assert client.calls[5:] == ["Cust1", "Cust2"]


def test_the_schedule_clock_counts_suspended_time_where_it_can() -> None:
    import time

    from tenantboard.clock import SystemClock

    reading = SystemClock().monotonic()
    if hasattr(time, "CLOCK_BOOTTIME"):
        assert abs(reading - time.clock_gettime(time.CLOCK_BOOTTIME)) < 1
    else:
        assert abs(reading - time.monotonic()) < 1


def test_a_planned_result_keeps_every_field_of_the_check() -> None:
    """``CheckResult.planned`` names the fields itself: one added later must be carried
    (and set here to something not its default, or this test fails)."""
    answer = parse_state({"State": "Running", "IsRunning": True}, "Cust1")
    values = {
        "tenant": Tenant(context_id="Cust1", env="online", label="One"),
        "state": answer,
        "error": CheckError(ErrorKind.TIMEOUT, "slow"),
        "checked_at": FIXED_NOW,
        "duration": 1.5,
        "next_check": None,
        "next_due": None,
        "failures": 0,
        "version": None,
        "version_error": CheckError(ErrorKind.NOT_RUNNING, "down"),
        "server_date": FIXED_NOW - timedelta(seconds=3),
        "during_outage": True,
    }
    assert set(values) == {field.name for field in dataclasses.fields(CheckResult)}
    result = CheckResult(**values)  # type: ignore[arg-type]
    plan = NextCheck(60.0, "valid until")
    planned = result.planned(plan, 123.0, 2)
    assert planned == dataclasses.replace(result, next_check=plan, next_due=123.0, failures=2)
