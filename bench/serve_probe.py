"""`tenantboard serve` as the command line runs it, with a probe for the fleet bench.

    python bench/serve_probe.py PROBE_FILE -- [serve's arguments...]

The server is the real one (`cli.serve_config` and `serve.server.serve`); beside it a task
ticks every 5 ms and notes how late each tick was (how long the event loop was held up),
and every 0.25 s a JSON line is appended to PROBE_FILE: checks done, tenants not checked
yet, the longest loop stall since the last line, the longest garbage collection, the
history writer's results waiting (and its bound), CPU seconds and resident memory. The
bench (bench/fleet.py) reads the file; nothing here changes what `serve` does.

For diagnosis: FLEET_STALL_STACKS=FILE writes the loop's stack and the other threads'
whenever the loop is 40 ms late; FLEET_SLOW_TURNS=FILE writes every turn of the loop over
40 ms with the CPU the loop and the other threads used in it (their difference from the
turn's wall time is waiting: for the interpreter lock, or for the machine);
FLEET_SWITCH_INTERVAL=SECONDS sets the interpreter's switch interval in place of the
session's (interpreter_lock.py).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import time
from pathlib import Path

from chaos_soak import history_bytes  # bench/ is on the path: this script lives there
from tenantboard import cli, interpreter_lock
from tenantboard.history.db import MAX_PENDING
from tenantboard.rows import PENDING_BUCKET
from tenantboard.serve import server
from tenantboard.serve.watcher import Watcher

TICK = 0.005
EVERY = 0.25
watchers: list[Watcher] = []


class ProbedWatcher(Watcher):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        watchers.append(self)


class GcTimer:
    """The longest collection of each generation since the last read."""

    def __init__(self) -> None:
        self.started = 0.0
        self.longest = [0.0, 0.0, 0.0]
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            generation = info["generation"]
            took = time.perf_counter() - self.started
            self.longest[generation] = max(self.longest[generation], took)

    def take(self) -> list[float]:
        longest, self.longest = self.longest, [0.0, 0.0, 0.0]
        return longest


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def probe(path: Path) -> None:
    timer = GcTimer()
    worst = 0.0
    next_line = time.perf_counter() + EVERY
    with path.open("a", buffering=1) as out:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            worst = max(worst, now - before - TICK)
            if now < next_line:
                continue
            next_line = now + EVERY
            line: dict[str, object] = {"t": time.time(), "lag": worst, "gc": timer.take()}
            worst = 0.0
            if watchers:
                watcher = watchers[0]
                writer = watcher.session.writer
                line.update(
                    checks=watcher.stats.count,
                    pending=watcher.model.counts.get(PENDING_BUCKET, 0),
                    tenants=len(watcher.model.list_order),
                    writer_waiting=writer.waiting if writer is not None else 0,
                    writer_bound=MAX_PENDING,
                    listeners=len(watcher.hub.subscribers),
                )
            line.update(cpu=time.process_time(), rss=rss_mb())
            out.write(json.dumps(line) + "\n")


def watch_stalls(path: Path, beats: list[float], limit: float = 0.04) -> None:
    """Diagnosis (FLEET_STALL_STACKS=1, or a file to write to): a thread that writes the
    event loop's stack, and the other threads', to ``path`` whenever the loop has not
    ticked for ``limit`` seconds."""
    import threading
    import traceback

    main_id = threading.main_thread().ident

    def other_stacks() -> str:
        told = []
        for thread in threading.enumerate():
            frame = sys._current_frames().get(thread.ident or -1)
            if frame is not None and thread.ident not in (main_id, threading.get_ident()):
                told.append(f"[{thread.name}]\n" + "".join(traceback.format_stack(frame, limit=5)))
        return "".join(told) or "(no other thread)\n"

    def run() -> None:
        with path.open("a") as out:
            while True:
                time.sleep(limit / 4)
                late = time.perf_counter() - beats[0]
                if late > limit and main_id is not None:
                    frame = sys._current_frames().get(main_id)
                    if frame is not None:
                        stack = "".join(traceback.format_stack(frame, limit=12))
                        out.write(f"--- loop late {late * 1000:.0f} ms\n{stack}")
                        out.write(f"--- the other threads meanwhile\n{other_stacks()}")
                        out.flush()
                    time.sleep(limit)

    threading.Thread(target=run, daemon=True, name="stall-watch").start()


def time_turns(path: Path, limit: float = 0.04) -> None:
    """Diagnosis (FLEET_SLOW_TURNS=file): every turn of the event loop that took over
    ``limit`` seconds (its wait for events included) is written to ``path``: its wall time,
    the loop thread's own CPU time in it, the other threads' (the process's less the
    loop's), the callbacks it ran and the three slowest. Wall time neither used is the
    CPU other processes took, or the wait for events."""
    from asyncio import base_events, events

    out = path.open("a", buffering=1)
    run_handle, run_once = events.Handle._run, base_events.BaseEventLoop._run_once
    timed: list[tuple[float, float, str]] = []

    def handle_run(handle: events.Handle) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        run_handle(handle)
        timed.append((time.perf_counter() - wall, time.thread_time() - cpu, named(handle)))

    def named(handle: events.Handle) -> str:
        task = getattr(handle._callback, "__self__", None)  # a task's step: name the task
        if isinstance(task, asyncio.Task):
            coro = task.get_coro()
            return f"task {task.get_name()} {getattr(coro, '__qualname__', coro)}"
        return repr(handle)[:160]

    def turn(loop: base_events.BaseEventLoop) -> None:
        timed.clear()
        wall, cpu, process = time.perf_counter(), time.thread_time(), time.process_time()
        run_once(loop)
        took = time.perf_counter() - wall
        if took > limit:
            own = time.thread_time() - cpu
            others = time.process_time() - process - own
            slowest = sorted(timed, reverse=True)[:3]
            said = "; ".join(f"{w * 1000:.1f}/{c * 1000:.1f} {name}" for w, c, name in slowest)
            out.write(
                f"{time.time():.3f} turn {took * 1000:.1f} ms loop cpu {own * 1000:.1f} "
                f"others cpu {others * 1000:.1f} callbacks {len(timed)} :: {said}\n"
            )

    events.Handle._run = handle_run  # type: ignore[method-assign]
    base_events.BaseEventLoop._run_once = turn  # type: ignore[method-assign]


async def beat(beats: list[float]) -> None:
    while True:
        beats[0] = time.perf_counter()
        await asyncio.sleep(0.002)


def find_frozen_garbage(path: Path) -> None:
    """SIGUSR1 (the bench, at the end of its compressed hour): a full collection of
    everything, frozen included; how many unreachable objects it found goes to the probe.
    serve's collector (quietgc.SteadyCollector) never collects a cycle it froze alive."""
    held = history_bytes(watchers[0].model.rows.values()) if watchers else 0
    gc.unfreeze()
    found = gc.collect()
    line = {"t": time.time(), "garbage": found, "history_mb": held / 1e6, "lag": 0, "gc": [0, 0, 0]}
    with path.open("a") as out:
        out.write(json.dumps(line) + "\n")


async def main(probe_file: Path, argv: list[str]) -> int:
    args = cli.parse_arguments(["serve", *argv])
    config = cli.serve_config(args)
    server.configure_logging(args.log_format)
    server.Watcher = ProbedWatcher  # type: ignore[misc]
    ticker = asyncio.create_task(probe(probe_file))
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, find_frozen_garbage, probe_file)
    beating = None
    if os.environ.get("FLEET_STALL_STACKS"):
        beats = [time.perf_counter()]
        beating = asyncio.create_task(beat(beats))
        asked = os.environ["FLEET_STALL_STACKS"]
        watch_stalls(Path(asked) if asked != "1" else probe_file.with_suffix(".stalls"), beats)
    if os.environ.get("FLEET_SLOW_TURNS"):
        time_turns(Path(os.environ["FLEET_SLOW_TURNS"]))
    if os.environ.get("FLEET_SWITCH_INTERVAL"):  # what the session sets while it runs
        interpreter_lock.SWITCH_INTERVAL = float(os.environ["FLEET_SWITCH_INTERVAL"])
        sys.setswitchinterval(interpreter_lock.SWITCH_INTERVAL)
    try:
        return await server.serve(config)
    finally:
        ticker.cancel()
        if beating is not None:
            beating.cancel()


if __name__ == "__main__":
    split = sys.argv.index("--")
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[split + 1 :])))
