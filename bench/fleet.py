"""`python bench/run.py --fleet` (or `python bench/fleet.py`): `serve` at 100,000 tenants.

Every figure is measured in this one run against `tenantboard simulate --tenants N` on
127.0.0.1 and printed beside its target; the ratios are to the bare aiohttp and httpx loops
measured in the same run, their rounds interleaved with serve's. The machine is 2 cores
shared with other work: the load average is printed before each phase.

The phases (docs/performance.md says what each figure is):

1. rounds, interleaved: a bare aiohttp loop over every tenant, a bare httpx loop over a
   tenth of them, and a fresh `serve` (its own history) from exec to every tenant checked;
   right after each pass its first /metrics scrape (every tenant formatted: alternately
   --tenant-series all and attention), /api/snapshot and /api/tenants, each timed by curl
   in another process while serve's event loop is watched for stalls (bench/serve_probe.py);
2. the steady state: one `serve` with every tenant due every 5 minutes, after its first
   pass, over a window (330 s; 150 s with --quick; --steady-window): its CPU, the checks, memory, the history
   writer's queue, and every answer while Prometheus-like scrapes come every 15 s, the
   snapshot and /api/tenants every minute and an event stream stays open;
3. the status page on that serve, live, in headless Chromium: first rows, scrolling,
   filtering;
4. a compressed hour: a `serve` re-checking every tenant back to back (every tenant due
   every 30 s) against the simulator at --speed 12, for 12 passes (an hour of checks at a
   5-minute cadence, more than an hour of the scenario's changes; 4 with --quick): resident
   memory after each pass, and what a full garbage collection would still find;
5. the history: the database after a simulated month of N tenants (bench/history_size.py)
   and `tenantboard report` over those 30 days for every tenant.

    python bench/run.py --fleet            # about 25 minutes
    python bench/run.py --fleet --quick    # about 12 minutes
    python bench/fleet.py --tenants 30000  # smaller
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from history_size import START, measure_history_size
from run import (
    ROOT,
    TICKS,
    Figure,
    SimulatorUrl,
    bare_aiohttp_pass,
    bare_httpx_pass,
    bench_tenants,
    end_cleanly_on_sigterm,
    print_table,
    simulator,
)
from tenantboard.paths import history_path
from tenantboard.tenant_file import TenantStore

CONCURRENCY = 16
#: A GET as a scraper makes it: gzip accepted (the body is not unpacked).
CURL = ("curl", "-s", "-o", "/dev/null", "-H", "Accept-Encoding: gzip")
#: Prometheus's default scrape interval.
SCRAPE_EVERY = 15.0
#: The targets of issue 22.
PASS_TO_AIOHTTP = 3.0
STEADY_CORE = 0.5
RSS_LIMIT_MB = 600.0
SCRAPE_LIMIT_S = 2.0
STALL_LIMIT_MS = 50.0
PAGE_LIMIT_S = 2.0
REPORT_LIMIT_S = 10.0
#: "Without freezing": a scroll drawn within this, a filter of every tenant within this.
SCROLL_LIMIT_MS = 100.0
FILTER_LIMIT_MS = 250.0


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}, load {load()}] {text}", flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- serve in its own process, watched through its probe -------------------------------------


@dataclass
class Serve:
    """`serve` run by bench/serve_probe.py: the real server, plus a probe file."""

    process: subprocess.Popen[bytes]
    folder: Path
    started: float
    url: str = ""
    _lines: list[dict] = field(default_factory=list)
    _read: int = 0

    @property
    def probe(self) -> Path:
        return self.folder / "probe.jsonl"

    def lines(self) -> list[dict]:
        """Every probe line so far (read on from where the last call stopped)."""
        if self.probe.exists():
            with self.probe.open() as file:
                file.seek(self._read)
                chunk = file.read()
            complete = chunk[: chunk.rfind("\n") + 1]
            self._read += len(complete)
            self._lines += [json.loads(line) for line in complete.splitlines()]
        return self._lines

    def last(self) -> dict:
        lines = self.lines()
        return lines[-1] if lines else {}

    def wait_for_pass(self, tenants: int, timeout: float = 900) -> float:
        """Until every tenant has been checked; the time it was seen (probe time)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.lines()[-8:]:
                if line.get("tenants") == tenants and line.get("pending") == 0:
                    return line["t"]
            time.sleep(0.1)
        raise TimeoutError("serve's first pass did not finish")

    def between(self, start: float, end: float) -> list[dict]:
        """Probe lines covering [start, end] (each covers the 0.25 s before it)."""
        self.lines()
        return [line for line in self._lines if start <= line["t"] <= end + 0.3]

    def stall_ms(self, start: float, end: float) -> float:
        return 1000 * max((line["lag"] for line in self.between(start, end)), default=0.0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_serve(work: Path, name: str, config: Path, url: str, *options: str) -> Serve:
    """A fresh serve in ``work/name`` (its own copy of the tenant file, its own history:
    two serves on one file would share the poller's lease)."""
    folder = work / name
    folder.mkdir()
    own = folder / "tenants.toml"
    shutil.copy(config, own)
    env = dict(os.environ)
    for variable in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        env[variable] = str(folder / variable.lower())
    command = [sys.executable, str(ROOT / "bench" / "serve_probe.py"), str(folder / "probe.jsonl")]
    command += ["--", "--config", str(own), "--base-url", url, "--listen", "127.0.0.1:0"]
    command += ["--concurrency", str(CONCURRENCY), *options]
    log = (folder / "serve.log").open("wb")
    started = time.time()
    process = subprocess.Popen(command, stderr=log, env=env)
    serve = Serve(process, folder, started)
    deadline = time.time() + 120
    while time.time() < deadline:
        found = re.search(
            rb"listening on (http://127\.0\.0\.1:\d+)", (folder / "serve.log").read_bytes()
        )
        if found:
            serve.url = found.group(1).decode()
            return serve
        if process.poll() is not None:
            break
        time.sleep(0.05)
    serve.stop()
    raise RuntimeError(f"serve did not start: {(folder / 'serve.log').read_text()[-2000:]}")


@dataclass
class Fetched:
    path: str
    seconds: float
    megabytes: float
    stall_ms: float


def fetch(serve: Serve, path: str) -> Fetched:
    """One GET by curl (another process), as a scraper asks it: gzip accepted."""
    started = time.time()
    done = subprocess.run(
        [*CURL, "-w", "%{time_total} %{size_download} %{http_code}", serve.url + path],
        capture_output=True,
        text=True,
        check=True,
    )
    took, size, status = done.stdout.split()
    if status != "200":
        raise RuntimeError(f"{path}: HTTP {status}")
    ended = time.time()
    time.sleep(0.35)  # the probe's line covering the end
    return Fetched(path, float(took), int(size) / 1e6, serve.stall_ms(started, ended))


# -- phase 1: full passes, interleaved with the bare loops --------------------------------------


@dataclass
class Round:
    aiohttp: float
    httpx_rate: float
    serve: float
    serve_cpu: float
    first: dict[str, Fetched]
    pass_stall_ms: float
    writer_most: int
    rss: float


def one_round(args: argparse.Namespace, number: int, url: str, work: Path, config: Path) -> Round:
    tenants = bench_tenants(args.tenants)
    aiohttp = asyncio.run(bare_aiohttp_pass(url, tenants, CONCURRENCY))
    slice_ = tenants[: max(1000, args.tenants // 10)]
    httpx_rate = len(slice_) / asyncio.run(bare_httpx_pass(url, slice_, CONCURRENCY))
    mode = "all" if number % 2 == 0 else "attention"
    serve = start_serve(work, f"round{number}", config, url, "--tenant-series", mode)
    try:
        done = serve.wait_for_pass(args.tenants)
        during = serve.between(serve.started, done)
        listening = [line for line in during if line.get("tenants")]
        first = {
            f"/metrics ({mode})": fetch(serve, "/metrics"),
            "/api/snapshot": fetch(serve, "/api/snapshot"),
            "/api/tenants": fetch(serve, "/api/tenants"),
        }
        last = serve.last()
        return Round(
            aiohttp=aiohttp,
            httpx_rate=httpx_rate,
            serve=done - serve.started,
            serve_cpu=listening[-1]["cpu"] if listening else float("nan"),
            first=first,
            pass_stall_ms=1000 * max((line["lag"] for line in listening[4:]), default=0.0),
            writer_most=max((line.get("writer_waiting", 0) for line in during), default=0),
            rss=last.get("rss", float("nan")),
        )
    finally:
        serve.stop()


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def pass_figures(
    rounds: list[Round], tenants: int, sim_cpu: float, client_cpu: float
) -> list[Figure]:
    aiohttp = [r.aiohttp for r in rounds]
    ratios = [r.serve / r.aiohttp for r in rounds]
    best = min(range(len(rounds)), key=lambda index: ratios[index])
    httpx = statistics.median(r.httpx_rate for r in rounds)
    figures = [
        Figure(
            "simulator: CPU per answer, to bare aiohttp's per request",
            sim_cpu / client_cpu,
            "x",
            "<= 0.5x (serves 2x what the fastest client asks)",
            sim_cpu / client_cpu / 0.5,
            f"simulator {sim_cpu * 1e3:.3f} ms, bare aiohttp {client_cpu * 1e3:.3f} ms a request",
        ),
        Figure(
            f"full pass, {tenants} tenants: bare aiohttp loop",
            min(aiohttp),
            "s",
            "baseline",
            None,
            f"rounds {spread(aiohttp)} s; bare httpx {httpx:.0f} req/s "
            f"(on {max(1000, tenants // 10)} tenants): {tenants / httpx:.0f} s for all",
        ),
        Figure(
            "full pass: serve, from exec to every tenant checked",
            rounds[best].serve,
            "s",
            f"<= {PASS_TO_AIOHTTP:g}x bare aiohttp",
            ratios[best] / PASS_TO_AIOHTTP,
            f"{ratios[best]:.2f}x aiohttp (rounds {spread(ratios)}x), "
            f"{rounds[best].serve / (tenants / httpx):.2f}x httpx; "
            f"{rounds[best].serve_cpu:.0f} s CPU",
        ),
        Figure(
            "  history writer during the pass: most results waiting",
            max(r.writer_most for r in rounds),
            "",
            "far below its bound (200000)",
            max(r.writer_most for r in rounds) / 200_000 / 0.25,
            "bound: history.db.MAX_PENDING",
        ),
        Figure(
            "  event loop's longest stall during the pass",
            max(r.pass_stall_ms for r in rounds),
            "ms",
            "-",
            None,
            "no request made; includes garbage collection and the machine's own load",
        ),
    ]
    for mode in ("all", "attention"):
        scraped = [r.first[key] for r in rounds for key in r.first if key == f"/metrics ({mode})"]
        if scraped:
            figures += scrape_figures(f"first /metrics after the pass ({mode})", scraped)
    for path in ("/api/snapshot", "/api/tenants"):
        got = [r.first[path] for r in rounds]
        figures += scrape_figures(f"first {path} after the pass", got, limit=None)
    return figures


def scrape_figures(
    name: str, got: list[Fetched], limit: float | None = SCRAPE_LIMIT_S
) -> list[Figure]:
    took = [f.seconds for f in got]
    stalls = [f.stall_ms for f in got]
    return [
        Figure(
            name,
            max(took),
            "s",
            f"< {limit:g} s" if limit else "-",
            max(took) / limit if limit else None,
            f"{len(got)} requests, {spread(took)} s, {max(f.megabytes for f in got):.1f} MB",
        ),
        Figure(
            "  its loop stall (worst)",
            max(stalls),
            "ms",
            f"< {STALL_LIMIT_MS:g} ms",
            max(stalls) / STALL_LIMIT_MS,
            f"{spread(stalls)} ms",
        ),
    ]


# -- phase 2: the steady state ----------------------------------------------------------------


@contextlib.contextmanager
def event_stream(serve: Serve) -> Iterator[Path]:
    """A listener on /api/events all along (what an open status page or board keeps);
    what it got is in the file yielded."""
    received = serve.folder / "events.txt"
    process = subprocess.Popen(["curl", "-s", "-N", "-o", str(received), serve.url + "/api/events"])
    try:
        yield received
    finally:
        process.terminate()
        process.wait()


def steady(args: argparse.Namespace, serve: Serve) -> tuple[list[Figure], dict[str, list[Fetched]]]:
    # One whole cycle by default: every tenant checked once more (the schedule adds up to
    # 10 %, at most 30 s, to each interval).
    window = args.steady_window or args.steady_interval + 30
    start_line = serve.last()
    started = time.time()
    got: dict[str, list[Fetched]] = {"/metrics": [], "/api/snapshot": [], "/api/tenants": []}
    with event_stream(serve) as received:
        next_scrape, next_big = started, started + 5
        while time.time() < started + window:
            now = time.time()
            if now >= next_scrape:
                got["/metrics"].append(fetch(serve, "/metrics"))
                next_scrape += SCRAPE_EVERY
            elif now >= next_big:
                got["/api/snapshot"].append(fetch(serve, "/api/snapshot"))
                got["/api/tenants"].append(fetch(serve, "/api/tenants"))
                next_big += 60
            else:
                time.sleep(0.2)
    ended = time.time()
    time.sleep(0.5)
    end_line = serve.last()
    lines = serve.between(started, ended)
    share = (end_line["cpu"] - start_line["cpu"]) / (end_line["t"] - start_line["t"])
    checks = end_line["checks"] - start_line["checks"]
    writer = max(line.get("writer_waiting", 0) for line in lines)
    figures = [
        Figure(
            f"steady: every tenant due every {args.steady_interval // 60} min, CPU over {window:.0f} s",
            share,
            "cores",
            f"< {STEADY_CORE:g} core",
            share / STEADY_CORE,
            f"{checks} checks ({checks / (end_line['t'] - start_line['t']):.0f}/s), "
            f"{len(got['/metrics'])} scrapes, an event stream open",
        ),
        Figure(
            "  resident memory at the end",
            end_line["rss"],
            "MB",
            f"< {RSS_LIMIT_MB:g} MB",
            end_line["rss"] / RSS_LIMIT_MB,
            memory_note(start_line, lines, args.steady_interval),
        ),
        Figure(
            "  history writer: most results waiting",
            writer,
            "",
            "far below its bound (200000)",
            writer / 200_000 / 0.25,
            "",
        ),
        Figure(
            "  event loop's longest stall over the window",
            1000 * max(line["lag"] for line in lines),
            "ms",
            f"< {STALL_LIMIT_MS:g} ms",
            1000 * max(line["lag"] for line in lines) / STALL_LIMIT_MS,
            f"longest garbage collection {1000 * max(max(line['gc']) for line in lines):.0f} ms",
        ),
    ]
    sent = received.read_bytes().count(b"event: result") if received.exists() else 0
    figures.append(
        Figure(
            "  event stream: results a listener got over the window",
            sent,
            "",
            "every check (live)",
            None,
            f"{checks} checks made meanwhile",
        )
    )
    figures += scrape_figures("steady /metrics every 15 s (all)", got["/metrics"])
    figures += scrape_figures("steady /api/snapshot", got["/api/snapshot"], limit=None)
    figures += scrape_figures("steady /api/tenants", got["/api/tenants"], limit=None)
    return figures, got


def memory_note(start_line: dict, lines: list[dict], every: float) -> str:
    """The memory at the start of the window; over a window of several cycles (an hour:
    --steady-window 3600), at the end of each and its growth from the first's end."""
    note = f"{start_line['rss']:.0f} MB at the start of the window"
    cycles = int((lines[-1]["t"] - start_line["t"]) // every) if lines else 0
    marks = [start_line["t"] + every * n for n in range(1, cycles + 1)]
    ends = [next(line for line in lines if line["t"] >= mark) for mark in marks]
    at_ends = [line["rss"] for line in ends if "rss" in line]
    if len(at_ends) < 2:
        return note
    growth = (at_ends[-1] - at_ends[0]) / at_ends[0] * 100
    return (
        f"{note}; at the end of each {every / 60:g} min: "
        f"{' '.join(f'{rss:.0f}' for rss in at_ends)} MB ({growth:+.1f} % from the first)"
    )


# -- phase 3: the status page in Chromium ---------------------------------------------------------


def headless_chromium(profile: Path):  # type: ignore[no-untyped-def]
    """The distribution's Chromium under Selenium, as tests/test_status_page.py drives it."""
    sys.path.insert(0, str(ROOT))
    from tests.serve_helpers import chromium

    return chromium(profile, size=(1400, 900))


def status_page(serve: Serve, work: Path) -> list[Figure]:
    from selenium.webdriver.support.ui import WebDriverWait

    browser = headless_chromium(work / "chromium")
    visible = (
        "return [...document.querySelectorAll('#tenants tbody tr')]"
        ".filter((tr) => tr.offsetParent !== null).length"
    )
    try:
        browser.set_script_timeout(60)
        opened = []
        for _ in range(3):
            browser.get("about:blank")
            browser.get(serve.url + "/")
            WebDriverWait(browser, 120, poll_frequency=0.02).until(
                lambda driver: driver.execute_script(visible) > 10
            )
            opened.append(browser.execute_script("return performance.now()") / 1000)
        scrolls = []
        for fraction in (0.1, 0.5, 0.9, 0.3, 0.7, 0.0):
            scrolls.append(
                timed(
                    browser,
                    f"window.scrollTo(0, document.documentElement.scrollHeight * {fraction});",
                )
            )
        filters = []
        for needle in ("cust7", "cust77777", "online3", "maintenance", ""):
            filters.append(
                timed(
                    browser,
                    f"const box = document.getElementById('filter'); box.value = {needle!r};"
                    "box.dispatchEvent(new Event('input'));",
                )
            )
    finally:
        browser.quit()
    return [
        Figure(
            "status page: first rows in headless Chromium (from navigation)",
            max(opened),
            "s",
            f"< {PAGE_LIMIT_S:g} s",
            max(opened) / PAGE_LIMIT_S,
            f"3 loads: {spread(opened)} s, the whole snapshot read and kept",
        ),
        Figure(
            "  a scroll, drawn (worst of 6)",
            max(scrolls),
            "ms",
            f"< {SCROLL_LIMIT_MS:g} ms",
            max(scrolls) / SCROLL_LIMIT_MS,
            f"{spread(scrolls)} ms",
        ),
        Figure(
            "  a filter of every tenant, drawn (worst of 5)",
            max(filters),
            "ms",
            f"< {FILTER_LIMIT_MS:g} ms",
            max(filters) / FILTER_LIMIT_MS,
            f"{spread(filters)} ms",
        ),
    ]


def live_page(serve: Serve, work: Path) -> list[Figure]:
    """The status page open on a serve that checks back to back: its first rows, and
    whether the rows on screen follow the checks."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser = headless_chromium(work / "chromium-live")
    checked = (
        "return [...document.querySelectorAll('#tenants tbody td.c-checked')]"
        ".map((td) => td.textContent)"
    )
    try:
        browser.get(serve.url + "/")
        WebDriverWait(browser, 120, poll_frequency=0.02).until(
            lambda driver: len(driver.execute_script(checked)) > 10
        )
        opened = browser.execute_script("return performance.now()") / 1000
        time.sleep(15)
        times = browser.execute_script(checked)
        status = browser.find_element("id", "status").text
    finally:
        browser.quit()
    recent = sum(text in ("just now", "5s ago", "10s ago") for text in times)
    return [
        Figure(
            "status page while serve checks back to back: first rows",
            opened,
            "s",
            f"< {PAGE_LIMIT_S:g} s",
            opened / PAGE_LIMIT_S,
            "",
        ),
        Figure(
            "  live: rows on screen checked in the last 15 s, 15 s after opening",
            recent,
            "rows",
            "most of them (it follows the checks)",
            None,
            f"of {len(times)} drawn; {status!r}",
        ),
    ]


def timed(browser, script: str) -> float:  # type: ignore[no-untyped-def]
    """Milliseconds the page took to run ``script`` and draw what follows (two frames)."""
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const started = performance.now();"
        + script
        + "requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - started)));"
    )


# -- phase 4: a compressed hour -------------------------------------------------------------------


def compressed_hour(args: argparse.Namespace, work: Path, config: Path) -> list[Figure]:
    with simulator(args.tenants, speed=12) as url:
        serve = start_serve(
            work, "hour", config, url, "--min-interval", "30", "--max-interval", "30"
        )
        try:
            serve.wait_for_pass(args.tenants)
            page = live_page(serve, work)
            after: list[float] = []
            started = serve.last()
            for number in range(1, args.passes + 1):
                target = started["checks"] + number * args.tenants
                while serve.last().get("checks", 0) < target:
                    time.sleep(0.5)
                after.append(serve.last()["rss"])
            ended = serve.last()
            serve.process.send_signal(signal.SIGUSR1)  # the probe: what a full collection finds
            deadline = time.time() + 60
            found = None
            while found is None and time.time() < deadline:
                time.sleep(0.5)
                found = next((line for line in serve.lines() if "garbage" in line), None)
            garbage = found["garbage"] if found else None
            history_mb = found.get("history_mb", float("nan")) if found else float("nan")
            lines = [line for line in serve.between(started["t"], ended["t"]) if "rss" in line]
        finally:
            serve.stop()
    minutes = (ended["t"] - started["t"]) / 60
    growth = (after[-1] - after[0]) / after[0] * 100
    return [
        *page,
        Figure(
            f"compressed hour: resident memory after pass 1 -> {args.passes}",
            growth,
            "%",
            "< 10% (flat)",
            growth / 10,
            f"{' '.join(f'{rss:.0f}' for rss in after)} MB; the rows' own history of "
            f"events and severity changes (bounded: 12 and 24 a tenant) held {history_mb:.0f} "
            f"MB at the end; {args.passes} passes in "
            f"{minutes:.1f} min against simulate --speed 12 ({minutes * 12 / 60:.1f} h of scenario)",
        ),
        Figure(
            "  resident memory, most",
            max(line["rss"] for line in lines),
            "MB",
            f"< {RSS_LIMIT_MB:g} MB",
            max(line["rss"] for line in lines) / RSS_LIMIT_MB,
            "",
        ),
        Figure(
            "  history writer: most results waiting",
            max(line.get("writer_waiting", 0) for line in lines),
            "",
            "far below its bound (200000)",
            max(line.get("writer_waiting", 0) for line in lines) / 200_000 / 0.25,
            "checks back to back: about 2,000 a second",
        ),
        Figure(
            "  cyclic garbage frozen (a full collection at the end finds)",
            garbage if garbage is not None else float("nan"),
            "objects",
            "-",
            None,
            "quietgc.SteadyCollector never collects a cycle frozen while alive",
        ),
    ]


# -- phase 5: the history -------------------------------------------------------------------------


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


REPORT = (sys.executable, "-m", "tenantboard", "report")


def history(args: argparse.Namespace, work: Path, config: Path) -> list[Figure]:
    folder = work / "history"
    folder.mkdir()
    size = measure_history_size(args.tenants, 30, folder=folder)
    built = folder / "history.sqlite3"
    home = work / "report-home"
    env = dict(os.environ)
    for variable in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        env[variable] = str(home / variable.lower())
    own = home / "tenants.toml"
    home.mkdir()
    shutil.copy(config, own)
    with environment(env):
        target = history_path(own)  # where `report` looks, with its folders
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(built, target)
    end = START.date().replace(day=30)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run(
            [*REPORT, "--config", str(own), "--from", str(START.date()), "--to", str(end)],
            stdout=subprocess.PIPE,
            env=env,
            check=True,
        )
        runs.append(time.perf_counter() - started)
        lines = done.stdout.count(b"\n")
    return [
        Figure(
            f"history db size, {args.tenants // 1000}k tenants, 30 days",
            size.megabytes,
            "MB",
            "-",
            None,
            f"{size.intervals} intervals, {size.events} events; built in {size.seconds:.0f} s",
        ),
        Figure(
            "  tenantboard report, 30 days, every tenant",
            min(runs),
            "s",
            f"< {REPORT_LIMIT_S:g} s",
            min(runs) / REPORT_LIMIT_S,
            f"3 runs {spread(runs)} s (the tenant file read included), {lines} lines",
        ),
    ]


# -- the run ----------------------------------------------------------------------------------------


PHASES = ("passes", "steady", "hour", "history")


def run(args: argparse.Namespace) -> list[Figure]:
    """Every phase asked for; one that fails is said and the others still run."""
    work = Path(tempfile.mkdtemp(prefix="tenantboard-fleet-"))
    config = work / "tenants.toml"
    TenantStore(config).add(bench_tenants(args.tenants))
    figures: list[Figure] = []

    def phase(name: str, measure: Callable[[], list[Figure]]) -> None:
        if name not in args.only:
            return
        say(name)
        try:
            figures.extend(measure())
        except Exception:  # a bench reports what it could measure
            traceback.print_exc()
            figures.append(Figure(f"{name}: FAILED (see above)", float("nan"), "", "-", None))

    try:
        with simulator(args.tenants) as url:
            say(f"simulator at {url}; {args.tenants} tenants; concurrency {CONCURRENCY}")
            phase("passes", lambda: passes(args, url, work, config))
            phase("steady", lambda: steady_and_page(args, url, work, config))
        phase("hour", lambda: compressed_hour(args, work, config))
        phase("history", lambda: history(args, work, config))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say("done")
    return figures


def passes(args: argparse.Namespace, url: SimulatorUrl, work: Path, config: Path) -> list[Figure]:
    tenants = bench_tenants(args.tenants)
    asyncio.run(bare_aiohttp_pass(url, tenants[:2000], CONCURRENCY))  # warm up
    rounds = []
    sim_cpu, client_cpu = [], []
    sample = tenants[:20000]
    for number in range(args.rounds):
        say(f"round {number + 1} of {args.rounds}")
        before_sim, before_client = cpu_seconds(url.pid), time.process_time()
        asyncio.run(bare_aiohttp_pass(url, sample, CONCURRENCY))
        sim_cpu.append((cpu_seconds(url.pid) - before_sim) / len(sample))
        client_cpu.append((time.process_time() - before_client) / len(sample))
        rounds.append(one_round(args, number, url, work, config))
    return pass_figures(rounds, args.tenants, min(sim_cpu), min(client_cpu))


def steady_and_page(
    args: argparse.Namespace, url: SimulatorUrl, work: Path, config: Path
) -> list[Figure]:
    every = str(args.steady_interval)
    serve = start_serve(
        work, "steady", config, url, "--min-interval", every, "--max-interval", every
    )
    try:
        serve.wait_for_pass(args.tenants)
        time.sleep(20)  # past the end of the pass
        figures, _ = steady(args, serve)
        say("status page")
        figures += status_page(serve, work)
        return figures
    finally:
        serve.stop()


def main(argv: list[str] | None = None) -> None:
    end_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2 rounds, 120 s steady, 4 passes")
    parser.add_argument(
        "--only", nargs="+", choices=PHASES, default=list(PHASES), help="only these phases"
    )
    parser.add_argument(
        "--steady-window",
        type=float,
        help="seconds the steady state is watched (one cycle and 30 s by default; 3600: an hour)",
    )
    args = parser.parse_args(argv)
    args.rounds = 2 if args.quick else 3
    args.steady_interval = 120 if args.quick else 300
    args.passes = 4 if args.quick else 12
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{os.uname().machine}; load average {load()}"
    )
    print_table(run(args))
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
