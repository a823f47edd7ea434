"""The board in a real pseudo-terminal: its terminal going away, and signals.

A board is left open for days over SSH. When its terminal disappears it must exit within
seconds (not spin on a dead descriptor), and SIGTERM, SIGHUP and SIGINT must end it the
orderly way: what it keeps is saved and a live terminal is left sane.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tenantboard.simulator import Simulator
from tests.serve_helpers import SimulatorInThread

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminals as on Linux")

LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"
MOUSE_OFF = b"\x1b[?1000l"


def closed_port() -> int:
    """A loopback port nobody listens on: every check fails fast with 'cannot connect'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BoardInPty:
    """``tenantboard`` (the command line, the board) in a pseudo-terminal, on the tenant
    file ``tenant_file``, asking ``base_url`` (by default a port where nobody listens)."""

    def __init__(
        self,
        home: Path,
        tenant_file: str = '[[tenants]]\ncontext_id = "Cust1001"\n',
        base_url: str | None = None,
    ) -> None:
        config = home / "tenants.toml"
        config.write_text(tenant_file)
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = dict(
            os.environ,
            TERM="xterm-256color",
            TENANTBOARD_CONFIG=str(config),
            TENANTBOARD_BASE_URL=base_url or f"http://127.0.0.1:{closed_port()}",
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tenantboard"],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
        )
        self.output = b""

    def read_until(self, text: bytes, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while text not in self.output and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                self.output += os.read(self.master, 65536)
        assert text in self.output, f"never drew {text!r}"

    def read_for(self, seconds: float) -> bytes:
        """What the board writes in the next ``seconds``."""
        written = b""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                written += os.read(self.master, 65536)
        return written

    def drain(self) -> bytes:
        """What the board writes until it stops writing (or closes the terminal)."""
        written = b""
        while True:
            ready, _, _ = select.select([self.master], [], [], 1.0)
            if not ready:
                return written
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return written
            if not chunk:
                return written
            written += chunk

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait(self, timeout: float) -> tuple[int, float]:
        """Exit code and CPU seconds used in total, or a failure if it outlives ``timeout``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                return self.process.returncode, usage.ru_utime + usage.ru_stime
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        raise AssertionError(f"the board still ran {timeout} s later")

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):  # closed by the test already
                os.close(fd)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def board(hermetic_environment: Path):
    running = BoardInPty(hermetic_environment)
    yield running
    running.close()


def test_a_board_whose_terminal_goes_away_exits_and_does_not_spin(board, hermetic_environment):
    board.read_until(b"Cust1001")
    cpu_before = board.cpu_seconds()
    os.close(board.master)  # the SSH session dies, tmux kill-session, the laptop lid...
    os.close(board.slave)
    code, cpu_total = board.wait(timeout=10)
    assert code == 129  # as a shell reports a process ended by a hang-up
    assert cpu_total - cpu_before < 2.0  # it exited; it did not burn a core on a dead terminal
    remembered = list((hermetic_environment / "xdg_data_home").rglob("ui-state.json"))
    assert remembered, "the board's remembered choices were not saved on the way out"


@pytest.mark.parametrize(
    ("number", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signal_ends_the_board_and_leaves_the_terminal_sane(board, number, code) -> None:
    board.read_until(b"Cust1001")
    os.kill(board.process.pid, number)
    written = board.drain()
    exit_code, _ = board.wait(timeout=10)
    assert exit_code == code
    assert LEAVE_ALTERNATE_SCREEN in written and SHOW_CURSOR in written and MOUSE_OFF in written
    mode = termios.tcgetattr(board.slave)[3]
    assert mode & termios.ICANON and mode & termios.ECHO  # cooked again, as the shell left it


#: select(2) and pselect6(2) on x86-64, pselect6 on arm64: where Textual's input thread waits.
SELECT_CALLS = {"23", "270", "72"}


def input_thread_wakeups(pid: int) -> int:
    """Voluntary context switches of the board's input thread: the one thread that waits
    in select (the event loop waits in epoll, the others on locks)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (task / "syscall").read_text().split()[0] in SELECT_CALLS:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    return int(line.split()[1])
    raise AssertionError("no thread of the board waits in select")


def test_the_input_thread_sleeps_until_a_key_and_keys_still_work(board) -> None:
    """Textual's input thread wakes ten times a second to poll; ours sleeps until a key
    comes (0.2% of a core on an idle board). An escape on its own is told from the start of
    a sequence by a timeout, so it must still arrive; and q must still end the board."""
    board.read_until(b"Cust1001")
    before = input_thread_wakeups(board.process.pid)
    time.sleep(2)
    assert input_thread_wakeups(board.process.pid) - before < 5  # polling would be ~20
    os.write(board.master, b"/x")
    board.read_until(b"matching 'x'")
    board.output = b""
    os.write(board.master, b"\x1b")  # escape alone: the filter is cleared
    board.read_until(b"1 tenant  ", timeout=5)
    os.write(board.master, b"q")
    code, _ = board.wait(timeout=10)
    assert code == 0


# -- the bell ------------------------------------------------------------------------------

#: An OSC sequence (a window title, the pointer's shape, the clipboard) may end in BEL too.
OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def bells(written: bytes) -> int:
    """How many times the terminal was told to ring."""
    return OSC.sub(b"", written).count(b"\x07")


#: Cust1006 of the simulator: Running, then Unknown 218 scenario seconds after its start.
INCIDENT_STARTS = 230.0


@pytest.fixture
def incident_server():
    """The simulator on a loopback socket, its clock moved only by the test."""
    now = [time.time()]
    simulator = Simulator(now=lambda: now[0], slow_delay=0)
    assert simulator.answer(1006, "online").state == "Running"
    with SimulatorInThread(simulator) as server:
        yield server, now


def tenant_file_with(settings: str) -> str:
    return (
        f"[settings]\n{settings}\nmin_interval = 1\nmax_interval = 1\n\n"
        '[[tenants]]\ncontext_id = "Cust1006"\nlabel = "Adventure Works"\n'
    )


@pytest.mark.parametrize(
    ("bell", "muted", "rings"),
    [(True, False, 1), (False, False, 0), (True, True, 0)],
    ids=["bell", "no-bell", "bell-but-muted"],
)
def test_the_bell_setting_rings_the_terminal_when_a_tenant_gets_worse(
    hermetic_environment, incident_server, bell: bool, muted: bool, rings: int
) -> None:
    """From `[settings] bell = true` in the tenant file, through the command line and the
    board, to a BEL on the terminal: once, when the tenant goes Running -> Unknown, and
    not for a tenant the operator muted."""
    server, now = incident_server
    board = BoardInPty(
        hermetic_environment, tenant_file_with(f"bell = {str(bell).lower()}"), server.url
    )
    try:
        board.read_until("✔ 1 Running".encode())  # the header counts its first result
        if muted:
            os.write(board.master, b"m")  # mute the tenant under the cursor...
            board.read_until(b"for 1 hour")
            os.write(board.master, b"\r")  # ...for an hour
            board.read_until("⊘".encode())
        assert bells(board.output) == 0  # a first result is no change
        board.output = b""
        now[0] += INCIDENT_STARTS
        assert server.simulator.answer(1006, "online").state == "Unknown"
        board.read_until("✖ 1 Unknown".encode())
        written = board.output + board.read_for(1.5)
        assert bells(written) == rings
        if not muted:
            assert "Running → Unknown".encode() in written  # told on the change line
        os.write(board.master, b"q")
        assert board.wait(timeout=10)[0] == 0
    finally:
        board.close()
