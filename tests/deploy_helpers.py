"""What the tests of deploy/ share: the distribution's tools, found or required, and the
shipped files."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "tenantboard.rules.yml"
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
DASHBOARD = DEPLOY / "grafana" / "tenantboard.json"
UNIT = DEPLOY / "systemd" / "tenantboard.service"
RUNBOOK = ROOT / "docs" / "runbook.md"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def require_tools(variable: str, package: str, *names: str) -> dict[str, str]:
    """The paths of the named programs; without them the module is skipped, or fails when
    ``variable`` is 1 (.ci/run sets it, so CI never passes by skipping)."""
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install {package})"
        if os.environ.get(variable) == "1":
            pytest.fail(f"{variable}=1 but {message}", pytrace=False)
        pytest.skip(message, allow_module_level=True)
    return {name: path for name, path in found.items() if path is not None}


def prometheus_tools() -> dict[str, str]:
    return require_tools("TENANTBOARD_REQUIRE_PROMETHEUS", "prometheus", "promtool", "prometheus")


def fenced_block(document: Path, first_line: str) -> str:
    """The fenced code block of ``document`` whose first line is ``first_line`` (a file
    name comment such as ``# prometheus.yml``), without the fences."""
    text = document.read_text(encoding="utf-8")
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        if block.startswith(first_line + "\n"):
            return block
    raise AssertionError(f"{document.name} has no block starting with {first_line!r}")


def process_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for a tenantboard process of a test: our own variables and
    systemd's left out, every folder it would use under ``home``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TENANTBOARD_", "XDG_"))
        and name not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY")
    }
    env["HOME"] = str(home)
    env.update(extra)
    return env


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll ``condition`` (a real process is on the other side: no fake clock to turn)
    until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def log_line(path: Path, pattern: str) -> re.Match[str] | None:
    """The first match of ``pattern`` in a process's log file so far."""
    try:
        return re.search(pattern, path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it does not end in ``timeout``; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def start_simulate(
    home: Path, *options: str, program: tuple[str, ...] = (sys.executable, "-m", "tenantboard")
) -> tuple[subprocess.Popen, str]:
    """`tenantboard simulate` on a free loopback port; the process and its URL."""
    process = subprocess.Popen(
        [*program, "simulate", "--port", "0", *options],
        stdout=subprocess.PIPE,
        text=True,
        env=process_env(home),
    )
    assert process.stdout is not None
    port = re.search(r"127\.0\.0\.1:(\d+)", process.stdout.readline())
    if port is None:
        stop(process)
        raise AssertionError("tenantboard simulate did not say where it listens")
    return process, f"http://127.0.0.1:{port.group(1)}"
