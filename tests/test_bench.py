"""The bench's scripts still run against today's code: `make bench` is not part of
`make test`, so a change of an API the bench uses would otherwise be found only when
someone measures (the soak still built the board's old configuration after the session
core came)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tenantboard.simulator import Simulator
from tests.serve_helpers import SimulatorInThread

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_soak_runs_a_small_board_and_says_its_memory() -> None:
    with SimulatorInThread(Simulator(slow_delay=0)) as simulator:
        done = subprocess.run(
            [sys.executable, str(BENCH / "soak.py"), simulator.url, "20", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=BENCH,
        )
    assert done.returncode == 0, done.stderr
    first, last = (float(value) for value in done.stdout.split())
    assert 10 < first < 1000 and 10 < last < 1000


@pytest.mark.parametrize("script", ["run.py", "fleet.py", "board_fleet.py", "history_size.py"])
def test_each_bench_script_starts(script: str) -> None:
    """Every import it makes resolves and its options parse (``--help``)."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=BENCH,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
