"""Clocks and broken answers: handled today, pinned here so they stay handled.

One tenant, the real client behind an ``httpx.MockTransport``, the monitor on a fake clock;
each test asserts when the tenant is checked next and what its row says.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tenantboard.client import TenantClient
from tenantboard.engine import CheckResult, Monitor
from tenantboard.errors import ErrorKind
from tenantboard.rows import BoardModel, TenantRow, describe_next
from tenantboard.schedule import RefreshPolicy
from tenantboard.tenant import Tenant

from .conftest import FIXED_NOW, FakeClock

TENANT = Tenant("Cust1")
YEAR = timedelta(days=365)

Handler = Callable[[httpx.Request], httpx.Response]


def state_answer(server_now: datetime | None, valid_until: datetime) -> httpx.Response:
    headers = {"Date": format_datetime(server_now, usegmt=True)} if server_now else {}
    payload = {"State": "Running", "IsRunning": True, "ValidUntil": valid_until.isoformat()}
    return httpx.Response(200, json=payload, headers=headers)


class OneTenant:
    """The monitor and the row of one tenant, checked through ``handler``."""

    def __init__(self, clock: FakeClock, handler: Handler, timeout: float = 10.0) -> None:
        self.clock = clock
        self.model = BoardModel([TENANT])
        self.results: list[CheckResult] = []
        self.client = TenantClient(transport=httpx.MockTransport(handler), timeout=timeout)
        self.monitor = Monitor(
            self.client,
            [TENANT],
            policy=RefreshPolicy(jitter=0, rng=random.Random(1)),
            concurrency=1,
            on_result=self._result,
            clock=clock,
        )

    def _result(self, result: CheckResult) -> None:
        self.results.append(result)
        self.model.apply(result)

    @property
    def row(self) -> TenantRow:
        return self.model.rows[TENANT.key]

    def next_check(self) -> tuple[str, str]:
        now = self.clock.monotonic()
        due = self.monitor.due_at(TENANT.key)
        return describe_next(self.row, checking=False, paused=False, due=due, now=now)

    def seconds_until_due(self) -> float:
        due = self.monitor.due_at(TENANT.key)
        assert due is not None
        return due - self.clock.monotonic()

    async def settle(self, wanted: int) -> None:
        for turn in range(600):
            # A few turns of the loop finish a check; only the crawling answer needs real
            # time (its client timeout, 0.2 s).
            await asyncio.sleep(0 if turn < 100 else 0.01)
            if len(self.results) >= wanted and self.monitor.in_flight == 0:
                return
        raise AssertionError(f"only {len(self.results)} checks finished, wanted {wanted}")


@pytest.fixture
async def one_tenant(clock: FakeClock):
    made: list[tuple[OneTenant, asyncio.Task[None]]] = []

    async def start(handler: Handler, timeout: float = 10.0) -> OneTenant:
        board = OneTenant(clock, handler, timeout)
        made.append((board, asyncio.create_task(board.monitor.run())))
        await board.settle(1)
        return board

    yield start
    for board, task in made:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await board.client.aclose()


@pytest.mark.parametrize("offset", [-YEAR, YEAR], ids=["a year behind", "a year ahead"])
async def test_a_server_date_a_year_off_still_gives_its_valid_until(
    one_tenant, clock: FakeClock, offset: timedelta
) -> None:
    """ValidUntil is measured against the server's own Date: a server whose clock is a
    year off is checked when its answer expires, not at once nor in fifteen minutes."""
    board = await one_tenant(
        lambda request: state_answer(
            clock.wall() + offset, clock.wall() + offset + timedelta(seconds=200)
        )
    )
    assert board.row.state is not None and board.row.error is None
    assert board.seconds_until_due() == pytest.approx(200)
    assert board.next_check() == ("in 3m", "ValidUntil")


async def test_a_valid_until_already_past_is_checked_again_after_the_minimum(
    one_tenant, clock: FakeClock
) -> None:
    board = await one_tenant(
        lambda request: state_answer(clock.wall(), clock.wall() - timedelta(hours=2))
    )
    assert board.row.state is not None
    assert board.seconds_until_due() == pytest.approx(30)
    assert board.next_check() == ("in 30s", "ValidUntil (raised to the minimum interval)")


async def test_the_local_wall_clock_jumping_an_hour_moves_no_check(
    one_tenant, clock: FakeClock
) -> None:
    """The schedule runs on the monotonic clock and ValidUntil is read against the
    server's Date: the wall clock jumping (NTP, a time zone fix by hand) changes neither."""
    server_time = {"now": FIXED_NOW}

    def handler(request: httpx.Request) -> httpx.Response:
        now = server_time["now"]
        return state_answer(now, now + timedelta(seconds=120))

    board = await one_tenant(handler)
    assert board.seconds_until_due() == pytest.approx(120)
    clock._wall += timedelta(hours=1)  # the wall clock jumps; monotonic time does not
    board.monitor.wake_if_overdue()
    await asyncio.sleep(0)
    assert len(board.results) == 1 and board.seconds_until_due() == pytest.approx(120)
    clock.advance(121)
    server_time["now"] += timedelta(seconds=121)
    board.monitor.wake_if_overdue()
    await board.settle(2)
    assert board.seconds_until_due() == pytest.approx(120)
    assert board.next_check() == ("in 2m", "ValidUntil")
    assert board.results[-1].checked_at == FIXED_NOW + timedelta(hours=1, seconds=121)


def breaking_body(error: type[httpx.TransportError]) -> Handler:
    """Headers, the start of the body, then the connection goes."""

    def handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield b'{"State": "Runn'
            raise error("peer closed connection without sending complete message body")

        return httpx.Response(200, content=body(), headers={"Content-Type": "application/json"})

    return handler


@pytest.mark.parametrize("error", [httpx.RemoteProtocolError, httpx.ReadError])
async def test_an_answer_that_breaks_off_mid_body_is_a_failure_that_backs_off(
    one_tenant, error: type[httpx.TransportError]
) -> None:
    board = await one_tenant(breaking_body(error))
    result = board.results[-1]
    assert result.error is not None and result.error.kind is ErrorKind.NETWORK
    assert board.row.error is not None
    assert board.row.error.message.startswith("connection failed (peer closed connection")
    assert result.during_outage is False and board.monitor.outage is None
    assert 15 <= board.seconds_until_due() <= 30
    short, why = board.next_check()
    assert short.startswith("backoff") and why == "backoff after 1 failure"


async def test_an_answer_that_crawls_past_the_timeout_is_a_timeout_that_backs_off(
    one_tenant,
) -> None:
    def crawling(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield b'{"State": '
            while True:  # a byte now and then, never the end
                await asyncio.sleep(0.05)
                yield b" "

        return httpx.Response(200, content=body(), headers={"Content-Type": "application/json"})

    board = await one_tenant(crawling, timeout=0.2)
    await board.settle(1)
    result = board.results[-1]
    assert result.error is not None and result.error.kind is ErrorKind.TIMEOUT
    assert board.row.error is not None
    assert board.row.error.message == "no complete answer within 0.2 s"
    short, why = board.next_check()
    assert short.startswith("backoff") and why == "backoff after 1 failure"


async def test_an_answer_that_never_starts_is_a_read_timeout(one_tenant) -> None:
    def silent(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    board = await one_tenant(silent)
    assert board.row.error is not None
    assert board.row.error.message == "timed out waiting for the answer"
    assert board.next_check()[1] == "backoff after 1 failure"
