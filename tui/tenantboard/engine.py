"""Running checks: one-shot (`check`) and continuous (the board's :class:`Monitor`).

The monitor is one task waiting on one due-time queue: it starts at most ``concurrency``
checks, never two of one tenant at once, and sleeps until the next tenant is due or
something (a manual refresh, a finished check) wakes it. Nothing runs while nothing is due.

When the board itself loses the network (see :mod:`.connectivity`), the monitor stops
checking tenants one by one and sends one probe at a time instead; when a probe gets
through, it re-checks every tenant within about a minute, stalest first.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tenantboard.answers import StateAnswer, TenantState, VersionAnswer
from tenantboard.clock import Clock, SystemClock
from tenantboard.connectivity import (
    ConnectivityDetector,
    Outage,
    is_contact,
    probe_delay,
    recovery_gap,
    short_reason,
)
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.sanitize import clean
from tenantboard.schedule import DueQueue, NextCheck, RefreshPolicy
from tenantboard.tenant import Tenant

if TYPE_CHECKING:  # the client is passed in; the engine does not build one
    from tenantboard.client import TenantClient


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check of one tenant."""

    tenant: Tenant
    state: TenantState | None
    error: CheckError | None
    checked_at: datetime
    duration: float
    next_check: NextCheck | None = None
    next_due: float | None = None
    failures: int = 0
    version: VersionAnswer | None = None
    version_error: CheckError | None = None
    #: The server's Date header when it sent one: ValidUntil is measured against it, so
    #: a wrong local clock does not skew the schedule.
    server_date: datetime | None = None
    #: Failed while the board could not reach SuperOffice at all: the tenant's last
    #: known state still stands, and the failure is the outage's, not the tenant's.
    during_outage: bool = False

    def planned(self, next_check: NextCheck, next_due: float, failures: int) -> CheckResult:
        """This result with its next check planned: ``dataclasses.replace`` without its
        look at every field (a third of planning a check's CPU)."""
        return CheckResult(
            self.tenant,
            self.state,
            self.error,
            self.checked_at,
            self.duration,
            next_check,
            next_due,
            failures,
            self.version,
            self.version_error,
            self.server_date,
            self.during_outage,
        )

    @property
    def ok(self) -> bool:
        return self.error is None


def unexpected(exc: BaseException) -> CheckError:
    """A bug or an exotic failure still becomes a row reason, never a crash."""
    return CheckError(ErrorKind.NETWORK, f"unexpected {type(exc).__name__}: {clean(str(exc), 120)}")


def _detached(error: CheckError) -> CheckError:
    """The error without what it was raised from. It is kept on the row for minutes; its
    traceback and the transport's exception it was raised from (``__context__`` survives
    ``raise ... from None``) would keep every frame of the failed request alive: an outage
    at 3,000 tenants grew the board from 90 to 143 MB that way."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error


async def check_once(
    client: TenantClient, tenant: Tenant, clock: Clock, *, versions: bool = False
) -> CheckResult:
    started = clock.monotonic()
    answer: StateAnswer | None = None
    error: CheckError | None = None
    version: VersionAnswer | None = None
    version_error: CheckError | None = None
    try:
        answer = await client.fetch_state(tenant.context_id, tenant.env)
        if versions:
            try:
                version = await client.fetch_version(answer.state, tenant.env)
            except CheckError as exc:
                version_error = exc
    except CheckError as exc:
        error = _detached(exc)
    except Exception as exc:
        error = unexpected(exc)
    if version_error is not None:
        version_error = _detached(version_error)
    return CheckResult(
        tenant=tenant,
        state=answer.state if answer else None,
        error=error,
        checked_at=clock.wall(),
        duration=clock.monotonic() - started,
        version=version,
        version_error=version_error,
        server_date=answer.server_date if answer else None,
    )


async def check_all(
    client: TenantClient,
    tenants: Sequence[Tenant],
    *,
    concurrency: int,
    clock: Clock | None = None,
    versions: bool = False,
) -> list[CheckResult]:
    """Check every tenant once, ``concurrency`` at a time; results in the input order."""
    clock = clock or SystemClock()
    results: list[CheckResult | None] = [None] * len(tenants)
    cursor = iter(range(len(tenants)))

    async def worker() -> None:
        for index in cursor:
            results[index] = await check_once(client, tenants[index], clock, versions=versions)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(tenants))))))
    return [result for result in results if result is not None]


class Monitor:
    """Keeps every tenant checked on its own schedule; reports each result to a callback.

    ``on_outage`` is told when the board's own outage starts (``outage.ended`` is None) and
    when it ends (``ended`` set): one call each, however many tenants there are.
    """

    def __init__(
        self,
        client: TenantClient,
        tenants: Iterable[Tenant],
        *,
        policy: RefreshPolicy,
        concurrency: int,
        on_result: Callable[[CheckResult], None],
        clock: Clock | None = None,
        on_outage: Callable[[Outage], None] | None = None,
        detector: ConnectivityDetector | None = None,
    ) -> None:
        self.client = client
        self.policy = policy
        self.concurrency = concurrency
        self.clock = clock or SystemClock()
        self._on_result = on_result
        self._on_outage = on_outage
        self._tenants: dict[str, Tenant] = {}
        self._failures: dict[str, int] = {}
        #: Monotonic time of each tenant's last successful check: staleness decides who
        #: is probed and who goes first after an outage.
        self._last_success: dict[str, float] = {}
        self._queue = DueQueue()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self.paused = False
        self.detector = detector or ConnectivityDetector()
        #: The board's own outage while it lasts, else None.
        self.outage: Outage | None = None
        self._probe_due = 0.0
        self._probe_key: str | None = None
        self._probe_order: list[str] = []
        self.set_tenants(tenants)

    # -- control (called from the UI) -----------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def is_checking(self, key: str) -> bool:
        return key in self._running

    def due_at(self, key: str) -> float | None:
        return self._queue.due_at(key)

    def set_tenants(self, tenants: Iterable[Tenant]) -> None:
        """Adopt a new list: new tenants are due now, removed ones are forgotten."""
        wanted = {tenant.key: tenant for tenant in tenants}
        for key in set(self._tenants) - set(wanted):
            self._queue.discard(key)
            self._failures.pop(key, None)
            self._last_success.pop(key, None)
            self._again.discard(key)
        now = self.clock.monotonic()
        for key in wanted:
            if key not in self._tenants:
                self._queue.schedule(key, now)
        self._tenants = wanted
        self.poke()

    def recheck(self, key: str) -> None:
        """Check ``key`` as soon as a slot is free, before anything merely due.

        During an outage a manual re-check sends the next probe now instead."""
        if key not in self._tenants:
            return
        if self.outage is not None:
            self._probe_due = self.clock.monotonic()
        elif key in self._running:
            self._again.add(key)
        else:
            self._queue.schedule(key, self.clock.monotonic(), urgent=True)
        self.poke()

    def set_policy(self, policy: RefreshPolicy) -> None:
        """New intervals (the tenant file's settings changed): planned from each tenant's
        next check on, and no tenant waits longer than the new maximum from now."""
        self.policy = policy
        latest = self.clock.monotonic() + policy.max_interval
        for key in self._tenants:
            due = self._queue.due_at(key)
            if due is not None and due > latest:
                self._queue.schedule(key, latest)
        self.poke()

    def set_client(self, client: TenantClient, concurrency: int) -> None:
        """A new client (the timeout or concurrency changed): checks from now on use it."""
        self.client = client
        self.concurrency = concurrency
        self.poke()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.poke()

    def poke(self) -> None:
        """Wake the loop to look at the queue again (after a change or a clock jump)."""
        self._wake.set()

    def next_due(self) -> float | None:
        """When the loop next has something to start: the next probe during an outage."""
        return self._probe_due if self.outage is not None else self._queue.next_due()

    def wake_if_overdue(self) -> None:
        """Called now and then (the board's clock tick): the loop's own timer does not
        count time spent suspended, so after a sleep this notices what fell due."""
        due = self.next_due()
        if due is not None and due <= self.clock.monotonic() and not self.paused:
            self.poke()

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled; cancelling also cancels the checks in flight."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                delay = self._dispatch()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                if delay is not None:
                    self._timer = loop.call_later(max(delay, 0.0), self._wake.set)
                await self._wake.wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _dispatch(self) -> float | None:
        """Start what is due; return how long to sleep (None: until woken).

        While paused, only manual re-checks run: paused means no automatic checks."""
        now = self.clock.monotonic()
        if self.outage is not None:
            return self._dispatch_probe(now)
        free = self.concurrency - len(self._running)
        if free <= 0:
            return None  # a finishing check wakes us
        due = self._queue.pop_urgent(free) if self.paused else self._queue.pop_due(now, free)
        for key in due:
            if key in self._running:
                self._again.add(key)
                continue
            tenant = self._tenants.get(key)
            if tenant is not None:
                self._running[key] = asyncio.create_task(self._check(tenant))
        next_due = self._queue.next_due()
        if next_due is None or len(self._running) >= self.concurrency or self.paused:
            return None
        return next_due - now

    def _dispatch_probe(self, now: float) -> float | None:
        """During an outage: one probe at a time, when its backoff has passed."""
        if self._probe_key is not None:
            return None  # the probe's result wakes us
        if now < self._probe_due:
            return self._probe_due - now
        tenant = self._next_probe()
        if tenant is None:
            return None  # every candidate is still in flight from before the outage
        assert self.outage is not None
        self.outage.probes += 1
        self._probe_key = tenant.key
        self._running[tenant.key] = asyncio.create_task(self._check(tenant))
        return None

    def _next_probe(self) -> Tenant | None:
        """The stalest tenant not probed yet this outage, in turn: a tenant that is broken
        on its own (slow, say) must not keep the outage going when the network is back."""
        order = [key for key in self._probe_order if key in self._tenants]
        if not order:
            order = self._probe_order = self._stalest_first()
        for turn in range(len(order)):
            key = order[((self.outage.probes if self.outage else 0) + turn) % len(order)]
            if key not in self._running:
                return self._tenants[key]
        return None

    def _stalest_first(self) -> list[str]:
        """Tenants by their last success, oldest first; never-succeeded ones before all."""
        position = {key: index for index, key in enumerate(self._tenants)}
        return sorted(
            self._tenants,
            key=lambda key: (self._last_success.get(key, -math.inf), position[key]),
        )

    async def _check(self, tenant: Tenant) -> None:
        key = tenant.key
        try:
            result = await check_once(self.client, tenant, self.clock)
            result = self._after_check(result)
        finally:
            self._running.pop(key, None)
            if self._probe_key == key:
                self._probe_key = None
        if self._tenants.get(key) is not None:
            self._on_result(result)
        self.poke()

    def _after_check(self, result: CheckResult) -> CheckResult:
        """Tell the connectivity detector, then plan the tenant's next check."""
        key = result.tenant.key
        now = self.clock.monotonic()
        if self.outage is None:
            failing = self.detector.observe(key, result.error, now, result.checked_at)
            if failing >= self.detector.min_tenants and result.error is not None:
                self._begin_outage(result.error, failing, now)
        elif is_contact(result.error):
            self._end_outage(now, recovered=key)
        if self.outage is not None and not is_contact(result.error):
            return self._hold_during_outage(result, now)
        return self._plan_next(result)

    def _begin_outage(self, error: CheckError, tenants: int, now: float) -> None:
        first = self.detector.first_failure_at() or now
        since = self.detector.first_failure_wall() or self.clock.wall() - timedelta(
            seconds=max(0.0, now - first)
        )
        self.outage = Outage(since=since, reason=short_reason(error), tenants=tenants)
        self._probe_due = now + probe_delay(0)
        self._probe_order = self._stalest_first()
        if self._on_outage is not None:
            self._on_outage(self.outage)

    def _end_outage(self, now: float, *, recovered: str) -> None:
        """A check got through: re-check everyone, stalest first, spread out."""
        outage = self.outage
        assert outage is not None
        outage.ended = self.clock.wall()
        self.outage = None
        self.detector.reset()
        self._probe_key = None
        order = [key for key in self._stalest_first() if key != recovered]
        gap = recovery_gap(len(order))
        for index, key in enumerate(order):
            self._failures.pop(key, None)
            if key in self._running:
                continue  # its result schedules it
            self._queue.schedule(key, now + index * gap)
        if self._on_outage is not None:
            self._on_outage(outage)

    def _hold_during_outage(self, result: CheckResult, now: float) -> CheckResult:
        """A network failure while the outage lasts: the tenant's own backoff does not grow
        and its row keeps its last known state; recovery reschedules it."""
        key = result.tenant.key
        assert self.outage is not None
        if key == self._probe_key:
            self._probe_due = now + probe_delay(self.outage.probes)
        wait = max(0.0, self._probe_due - now)
        next_check = NextCheck(wait, "waiting for the network")
        self._again.discard(key)  # not queued: the end of the outage schedules everyone
        return replace(
            result,
            next_check=next_check,
            next_due=now + wait,
            failures=self._failures.get(key, 0),
            during_outage=True,
        )

    def _plan_next(self, result: CheckResult) -> CheckResult:
        key = result.tenant.key
        if result.error is None and result.state is not None:
            self._failures.pop(key, None)
            self._last_success[key] = self.clock.monotonic()
            failures = 0
            reference = result.server_date or result.checked_at
            next_check = self.policy.after_success(result.state.valid_until, reference)
        else:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            retry_after = result.error.retry_after if result.error else None
            next_check = self.policy.after_failure(failures, retry_after)
        now = self.clock.monotonic()
        due = now + next_check.delay
        if key in self._tenants:
            if key in self._again:
                self._again.discard(key)
                self._queue.schedule(key, now, urgent=True)
            else:
                self._queue.schedule(key, due)
        return result.planned(next_check, due, failures)
