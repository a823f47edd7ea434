"""`simulate --chaos`: the fault plan, each fault on a loopback socket, and a short day of it."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from email.utils import parsedate_to_datetime

import httpx
import pytest

from tenantboard.aiohttp_transport import AnswerHeaders
from tenantboard.client import BaseUrl, TenantClient
from tenantboard.connectivity import RECOVERY_SPREAD
from tenantboard.engine import CheckResult, Monitor
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.rows import BoardModel
from tenantboard.schedule import RefreshPolicy
from tenantboard.simulator import Simulator, SimulatorTransport
from tenantboard.simulator.scenario import HOUR, YEAR, Chaos
from tenantboard.simulator.server import serve_with_outages
from tenantboard.tenant import Tenant

from .conftest import FakeClock

#: An answer's headers as the client hands them on (aiohttp's transport: its own).
Headers = httpx.Headers | AnswerHeaders

#: No faults at all: tests turn on the one they look at.
CALM = Chaos(
    reset=0, cut=0, short=0, slow=0, rate_limited=0, burst_chance=0, move=0,
    date_jump_chance=0, outage_chance=0,
)  # fmt: skip


def test_the_plan_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    day = 24 * HOUR
    assert Chaos(seed=5).outages(day) == Chaos(seed=5).outages(day)
    assert Chaos(seed=5).outages(day) != Chaos(seed=6).outages(day)
    faults = [Chaos(seed=5).fault(n, t) for n in range(100) for t in range(0, 7200, 120)]
    assert faults == [Chaos(seed=5).fault(n, t) for n in range(100) for t in range(0, 7200, 120)]


def test_a_day_of_chaos_has_every_fault_and_a_few_outages() -> None:
    chaos = Chaos(seed=1)
    day = 24 * HOUR
    kinds = Counter(chaos.fault(n, t) for n in range(1, 1001) for t in range(0, int(day), 3600))
    assert {"reset", "cut", "short", "slow", "rate-limited", "5xx"} <= set(kinds)
    assert kinds[None] > 0.85 * sum(kinds.values())  # mostly a normal day
    outages = chaos.outages(day)
    assert 4 <= len(outages) <= 12
    assert all(60 <= end - start <= 20 * 60 for start, end in outages)
    assert {chaos.date_offset(h * HOUR) for h in range(200)} >= {0, -YEAR, YEAR, -HOUR, HOUR}


class Loopback:
    """The chaos server on 127.0.0.1, its scenario clock in the test's hands."""

    def __init__(self, chaos: Chaos) -> None:
        self.now = 1_772_000_000.0
        self.simulator = Simulator(now=lambda: self.now, slow_delay=0.0, chaos=chaos)
        self.port = 0
        self.ready = asyncio.Event()
        self.client: TenantClient | None = None

    def _ready(self, port: int) -> None:
        self.port = port
        self.ready.set()

    async def check(self, number: int = 1) -> CheckError | Headers:
        """The state of ``Cust<number>``: the failure, or the answer's headers."""
        if self.client is None:
            base = BaseUrl.parse(f"http://127.0.0.1:{self.port}")
            self.client = TenantClient(base_url=base, timeout=2)
        request = self.client._state_request(f"Cust{number}", "online")
        try:
            await self.client.fetch_state(f"Cust{number}", "online")
            return (await self.client._get_json(request))[1]
        except CheckError as exc:
            return exc


@pytest.fixture
async def loopback():
    made: list[tuple[Loopback, asyncio.Task[None]]] = []

    async def start(chaos: Chaos) -> Loopback:
        server = Loopback(chaos)
        serving = serve_with_outages(
            0, simulator=server.simulator, on_ready=server._ready, poll=0.01
        )
        made.append((server, asyncio.create_task(serving)))
        await asyncio.wait_for(server.ready.wait(), 5)
        return server

    yield start
    for server, task in made:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if server.client is not None:
            await server.client.aclose()


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("reset", ErrorKind.NETWORK, "connection failed"),
        ("cut", ErrorKind.NETWORK, "connection failed (the answer was cut short"),
        ("short", ErrorKind.NOT_JSON, "answer is not JSON"),
        ("rate_limited", ErrorKind.RATE_LIMITED, "rate limited (429), retry after"),
    ],
)
async def test_each_fault_reaches_the_client_as_a_typed_failure(
    loopback, fault: str, kind: ErrorKind, words: str
) -> None:
    server = await loopback(replace(CALM, **{fault: 1.0}))
    error = await server.check()
    assert isinstance(error, CheckError) and error.kind is kind
    assert error.message.startswith(words)


async def test_a_5xx_burst_answers_with_server_errors(loopback) -> None:
    server = await loopback(replace(CALM, burst_chance=1.0, burst_share=1.0))
    statuses = set()
    for number in range(1, 30):
        error = await server.check(number)
        assert isinstance(error, CheckError)
        statuses.add(error.status)
    assert statuses <= {500, 502, 503} and 503 in statuses


async def test_a_clock_jump_moves_the_servers_date_and_valid_until_with_it(loopback) -> None:
    server = await loopback(replace(CALM, date_jump_chance=1.0))
    headers = await server.check()
    assert not isinstance(headers, CheckError)
    offset = parsedate_to_datetime(headers.get("date") or "").timestamp() - server.now
    assert round(offset) in (-YEAR, -HOUR, HOUR, YEAR)


async def test_a_whole_server_outage_refuses_connections_then_serves_again(loopback) -> None:
    chaos = replace(CALM, outage_chance=1.0)
    server = await loopback(chaos)
    start, end = chaos.outage_in(0) or (0.0, 0.0)
    first = await server.check()
    assert not isinstance(first, CheckError)
    server.now += start + 1  # the scenario clock walks into the outage
    await asyncio.sleep(0.05)
    error = await server.check()
    assert isinstance(error, CheckError) and error.kind is ErrorKind.CONNECT
    assert error.message == "cannot connect (connection refused)"
    server.now += end - start
    await asyncio.sleep(0.05)
    assert not isinstance(await server.check(), CheckError)


async def test_three_hours_of_chaos_on_a_fake_clock_leave_no_tenant_behind(
    clock: FakeClock,
) -> None:
    """The soak in small: every planned outage is seen as one outage, and a minute after
    each one ends every tenant has been checked again."""
    chaos = Chaos(seed=2)  # two outages in the first three hours
    hours = 3
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0.0, tenant_count=40, chaos=chaos)
    tenants = [Tenant(f"Cust{i}") for i in range(1, 41)]
    model = BoardModel(tenants)
    seen: dict[str, float] = {}
    ends: list[float] = []
    started: list[float] = []

    def on_result(result: CheckResult) -> None:
        model.apply(result)
        seen[result.tenant.key] = clock.monotonic()

    def on_outage(outage) -> None:  # type: ignore[no-untyped-def]
        (ends if outage.ended else started).append(clock.monotonic())

    client = TenantClient(transport=SimulatorTransport(simulator))
    monitor = Monitor(
        client,
        tenants,
        policy=RefreshPolicy(rng=random.Random(2)),
        concurrency=8,
        on_result=on_result,
        on_outage=on_outage,
        clock=clock,
    )
    task = asyncio.create_task(monitor.run())
    late: list[float] = []
    verified = 0
    try:
        for _ in range(int(hours * HOUR / 3)):
            clock.advance(3)
            monitor.poke()
            for _ in range(30):
                await asyncio.sleep(0)
            if verified < len(ends) and clock.monotonic() - ends[verified] > RECOVERY_SPREAD + 5:
                late += [ends[verified] - at for at in seen.values() if at < ends[verified]]
                verified += 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
    planned = chaos.outages(hours * HOUR)
    assert len(planned) == 2 and len(started) == len(planned)
    assert len(ends) == len(started)
    assert late == []  # nobody left unchecked a minute after an outage ended
    assert len(seen) == 40 and verified == 2
