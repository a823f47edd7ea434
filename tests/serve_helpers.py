"""Check results built by hand, for the watcher, metrics, hook and server tests."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta
from pathlib import Path

import httpx

from tenantboard.answers import State, TenantState
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.notify import Notifier
from tenantboard.serve.watcher import Watcher
from tenantboard.session import Session, SessionConfig
from tenantboard.simulator import Simulator
from tenantboard.tenant import Tenant
from tests.conftest import FIXED_NOW


def answer_state(
    tenant: Tenant,
    state: State | None = State.Running,
    *,
    raw: str | None = None,
    host: str = "online3.superoffice.com",
    is_running: bool | None = None,
    version: str | None = None,
) -> TenantState:
    running = state.is_running if is_running is None and state is not None else is_running
    return TenantState(
        context_id=tenant.context_id,
        state=state,
        state_raw=raw or (state.name if state is not None else "Hibernating"),
        is_running=running,
        endpoint=f"https://{host}/{tenant.context_id}",
        api=f"https://{host}/{tenant.context_id}/api",
        valid_until=FIXED_NOW + timedelta(minutes=5),
        valid_until_raw="2026-03-02T09:35:00.0000000Z",
        version=version,
    )


def ok(
    tenant: Tenant, state: State | None = State.Running, *, at: float = 0, **fields
) -> CheckResult:
    return CheckResult(
        tenant=tenant,
        state=answer_state(tenant, state, **fields),
        error=None,
        checked_at=FIXED_NOW + timedelta(seconds=at),
        duration=0.07,
    )


def failed(tenant: Tenant, kind: ErrorKind = ErrorKind.TIMEOUT, *, at: float = 0) -> CheckResult:
    return CheckResult(
        tenant=tenant,
        state=None,
        error=CheckError(
            kind, f"{kind} happened", status=503 if kind is ErrorKind.UNAVAILABLE else None
        ),
        checked_at=FIXED_NOW + timedelta(seconds=at),
        duration=3.0,
    )


def begin_outage(session: Session, at: float = 30, reason: str = "connection refused"):
    """The session's monitor finds our own outage, from ``at`` seconds past FIXED_NOW, as
    the monitor tells it (its ``outage`` set, then the session's ``on_outage``)."""
    from tenantboard.connectivity import Outage

    outage = Outage(since=FIXED_NOW + timedelta(seconds=at), reason=reason, tenants=3)
    session.monitor.outage = outage
    session.monitor._on_outage(outage)
    return outage


def end_outage(session: Session, at: float) -> None:
    """A probe got through ``at`` seconds past FIXED_NOW: the monitor ends the outage."""
    outage = session.monitor.outage
    outage.ended = FIXED_NOW + timedelta(seconds=at)
    outage.probes += 2
    session.monitor.outage = None
    session.monitor._on_outage(outage)


def idle_watcher(tenants: list[Tenant], **options) -> Watcher:
    """A watcher fed by hand (``record``): its session never runs, so nothing is checked
    and nothing touches the network. ``options``: SessionConfig's fields, and ``clock``."""
    clock = options.pop("clock", None)
    options.setdefault("transport", httpx.MockTransport(_no_network))
    session = Session(SessionConfig(tenants=list(tenants), **options), clock=clock)
    if session.writer is not None:
        session.writer.start()  # what the session's run does after its start-up read
    return Watcher(session)


def with_notifier(watcher: Watcher, notifier: Notifier) -> Notifier:
    """The watcher's session sends its alerts through ``notifier`` (a recording deliverer);
    host incidents hold back their tenants' messages, as the session's own notifier does."""
    notifier.holds = notifier.holds or watcher.session.incidents.holds
    watcher.session.notifier = notifier
    return notifier


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"an idle watcher asked the network: {request.url}")


class ThreadedServer:
    """Serves ``build_app(watcher)`` on 127.0.0.1 from a thread of its own, for clients
    that block (a browser driven by Selenium)."""

    def __init__(self, watcher: Watcher, token: str | None = None) -> None:
        self.watcher = watcher
        self.token = token
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    def __enter__(self) -> ThreadedServer:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the test server did not start")
        return self

    async def _serve(self) -> None:
        from tenantboard.serve.server import Limits, build_app, listen

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = await listen(build_app(self.watcher, token=self.token), "127.0.0.1", 0, Limits())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        await self._stop.wait()
        self.watcher.hub.close()
        await runner.cleanup()

    def call(self, function, *args) -> None:
        """Run ``function(*args)`` on the server's loop (to record results while it serves)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(function, *args)

    def run(self, coroutine):
        """Run ``coroutine`` on the server's loop and wait for what it returns."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(profile: Path, size: tuple[int, int] = (1280, 800)):
    """The distribution's headless Chromium under Selenium, on a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(flag)
    # Its clock in UTC, as the tests' (conftest): times on the page are the browser's local.
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": "UTC"})
    return webdriver.Chrome(service=service, options=options)


class SimulatorInThread:
    """The simulator's HTTP server (`tenantboard simulate`) on 127.0.0.1, from a thread
    of its own, for code that blocks or runs in another process (the command line, a
    board in a pseudo-terminal)."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> SimulatorInThread:
        from tenantboard.simulator import serve

        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(serve(0, simulator=self.simulator), self._loop)
        self._server = started.result(timeout=30)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
