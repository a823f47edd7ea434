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


def board_environment(
    home: Path,
    tenant_file: str = '[[tenants]]\ncontext_id = "Cust1001"\n',
    base_url: str | None = None,
) -> dict[str, str]:
    """The environment of a board on ``tenant_file`` asking ``base_url`` (by default a
    port where nobody listens)."""
    config = home / "tenants.toml"
    if "superoffice_maintenance" not in tenant_file:  # its clock is the real one (conftest)
        tenant_file += "\n[superoffice_maintenance]\nwindows = []\n"
    config.write_text(tenant_file)
    return dict(
        os.environ,
        TERM="xterm-256color",
        TENANTBOARD_CONFIG=str(config),
        TENANTBOARD_BASE_URL=base_url or f"http://127.0.0.1:{closed_port()}",
    )


def sized_pty(rows: int = 30, columns: int = 100) -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    return master, slave


#: The board as `tenantboard` starts it.
BOARD = [sys.executable, "-m", "tenantboard"]
#: The board with a bug that keeps its event loop busy forever a second after it starts:
#: nothing the loop would run (a signal handler added with ``loop.add_signal_handler``,
#: the orderly exit) runs again. A resize storm did that to a board whose output was piped.
STUCK_BOARD = [
    sys.executable,
    "-c",
    "import sys\n"
    "from tenantboard.cli import main\n"
    "from tenantboard.ui.screens.board import BoardScreen\n"
    "def spin():\n"
    "    sys.__stderr__.write('STUCK')\n"
    "    sys.__stderr__.flush()\n"
    "    while True:\n"
    "        pass\n"
    "mounted = BoardScreen.on_mount\n"
    "def on_mount(self):\n"
    "    mounted(self)\n"
    "    self.set_timer(1.0, spin)\n"
    "BoardScreen.on_mount = on_mount\n"
    "sys.exit(main([]))\n",
]


class BoardInPty:
    """The board in a pseudo-terminal on the tenant file ``tenant_file``, asking
    ``base_url`` (by default a port where nobody listens); with ``output_pty``, its output
    goes to a second one (so that the output can go away while its keyboard stays)."""

    def __init__(
        self,
        home: Path,
        command: list[str] = BOARD,
        output_pty: bool = False,
        tenant_file: str = '[[tenants]]\ncontext_id = "Cust1001"\n',
        base_url: str | None = None,
    ) -> None:
        self.master, self.slave = sized_pty()
        self.output_master, self.output_slave = sized_pty() if output_pty else (None, None)
        out = self.output_slave if output_pty else self.slave
        self.process = subprocess.Popen(
            command,
            stdin=self.slave,
            stdout=out,
            stderr=out,
            env=board_environment(home, tenant_file, base_url),
            start_new_session=True,
        )
        self.output = b""

    @property
    def screen(self) -> int:
        """The descriptor the board's drawing is read from."""
        return self.master if self.output_master is None else self.output_master

    def read_until(self, text: bytes, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while text not in self.output and time.monotonic() < end:
            ready, _, _ = select.select([self.screen], [], [], 0.2)
            if ready:
                self.output += os.read(self.screen, 65536)
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
            ready, _, _ = select.select([self.screen], [], [], 1.0)
            if not ready:
                return written
            try:
                chunk = os.read(self.screen, 65536)
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
        for fd in (self.master, self.slave, self.output_master, self.output_slave):
            if fd is not None:
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


@pytest.fixture
def start_board(hermetic_environment: Path):
    """Starts a board as the test says; each is closed (and killed if it still runs) after."""
    started: list[BoardInPty] = []

    def start(**kwargs) -> BoardInPty:
        started.append(BoardInPty(hermetic_environment, **kwargs))
        return started[-1]

    yield start
    for running in started:
        running.close()


def test_a_board_whose_terminal_goes_away_exits_and_does_not_spin(board, hermetic_environment):
    board.read_until(b"Cust1001")
    wait_for_lease(hermetic_environment)
    cpu_before = board.cpu_seconds()
    os.close(board.master)  # the SSH session dies, tmux kill-session, the laptop lid...
    os.close(board.slave)
    code, cpu_total = board.wait(timeout=10)
    assert code == 129  # as a shell reports a process ended by a hang-up
    assert cpu_total - cpu_before < 2.0  # it exited; it did not burn a core on a dead terminal
    remembered = list((hermetic_environment / "xdg_data_home").rglob("ui-state.json"))
    assert remembered, "the board's remembered choices were not saved on the way out"
    assert lease_left(hermetic_environment) == "", "the poller lease still names the board"


@pytest.mark.parametrize(
    ("number", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signal_ends_the_board_and_leaves_the_terminal_sane(
    board, number, code, hermetic_environment
) -> None:
    board.read_until(b"Cust1001")
    wait_for_lease(hermetic_environment)
    cpu_before = board.cpu_seconds()
    os.kill(board.process.pid, number)
    written = board.drain()
    exit_code, cpu_total = board.wait(timeout=10)
    assert exit_code == code
    assert cpu_total - cpu_before < 2.0
    assert LEAVE_ALTERNATE_SCREEN in written and SHOW_CURSOR in written and MOUSE_OFF in written
    mode = termios.tcgetattr(board.slave)[3]
    assert mode & termios.ICANON and mode & termios.ECHO  # cooked again, as the shell left it
    assert lease_left(hermetic_environment) == ""  # its details go with it (docs/files.md)


def wait_for_lease(home: Path) -> None:
    """Until the board holds the tenant file's poller lease and has said so in it."""
    lease = home / ".tenants.toml.poller"
    end = time.monotonic() + 10
    while not (lease.exists() and '"kind": "board"' in lease.read_text()):
        assert time.monotonic() < end, "the board never took the poller lease"
        time.sleep(0.05)


def lease_left(home: Path) -> str:
    """What the tenant file's poller lease still says once the board has ended."""
    return (home / ".tenants.toml.poller").read_text()


def test_a_board_whose_screen_goes_away_exits_and_does_not_spin(start_board) -> None:
    """The keyboard stays but the terminal it draws on is gone: the next frame finds out,
    and the board ends as after a hang-up instead of checking on, unseen, for days."""
    board = start_board(output_pty=True)
    board.read_until(b"Cust1001")
    cpu_before = board.cpu_seconds()
    os.close(board.output_master)
    os.close(board.output_slave)
    board.output_master = board.output_slave = None
    os.write(board.master, b"j")  # a key: the board draws its answer, to nobody
    code, cpu_total = board.wait(timeout=10)
    assert code == 129
    assert cpu_total - cpu_before < 2.0


@pytest.mark.parametrize(
    ("ending", "code"),
    [("SIGTERM", 143), ("terminal closed", 129)],  # SIGHUP takes SIGTERM's way
)
def test_a_board_whose_event_loop_is_stuck_still_ends(start_board, ending, code) -> None:
    """A bug that keeps the event loop busy must not make the board immortal: what the loop
    would run (the orderly exit) never runs, so the board gives the loop a few seconds,
    then restores the terminal and ends anyway."""
    board = start_board(command=STUCK_BOARD)
    board.read_until(b"STUCK")
    if ending == "terminal closed":
        os.close(board.master)
        os.close(board.slave)
        board.master = board.slave = None
        exit_code, _ = board.wait(timeout=20)
    else:
        os.kill(board.process.pid, getattr(signal, ending))
        exit_code, _ = board.wait(timeout=20)
        written = board.drain()
        assert LEAVE_ALTERNATE_SCREEN in written and SHOW_CURSOR in written
        mode = termios.tcgetattr(board.slave)[3]
        assert mode & termios.ICANON and mode & termios.ECHO
    assert exit_code == code


#: Standard input, output and error: a pseudo-terminal, except the one the case names.
NOT_A_TERMINAL = ["input", "output", "error"]


@pytest.mark.parametrize("stream", NOT_A_TERMINAL)
def test_the_board_refuses_to_start_without_a_terminal(hermetic_environment, stream) -> None:
    """`make demo 2>&1 | tee demo.log`: a board whose output was piped spun at 93% of a core
    and ignored SIGTERM. It now says why it cannot run and what to use instead, at once."""
    master, slave = sized_pty()
    pipe_read, pipe_write = os.pipe()
    streams = {name: slave for name in NOT_A_TERMINAL}
    streams[stream] = subprocess.DEVNULL if stream == "input" else pipe_write
    try:
        process = subprocess.run(
            BOARD,
            stdin=streams["input"],
            stdout=streams["output"],
            stderr=streams["error"],
            env=board_environment(hermetic_environment),
            timeout=20,
        )
    finally:
        os.close(pipe_write)
        os.close(slave)
    with os.fdopen(pipe_read, "rb") as piped:
        said = piped.read() + read_all(master)
    os.close(master)
    assert process.returncode == 64
    message = said.decode().replace("\r\n", "\n")
    assert f"standard {stream} is not a terminal" in message
    assert "tenantboard check" in message
    assert "\x1b[" not in message  # nothing was drawn


def read_all(master: int) -> bytes:
    """What was written to a pseudo-terminal whose other side is closed."""
    written = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: everything was read
            break
        if not chunk:
            break
        written += chunk
    return written


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
        hermetic_environment,
        tenant_file=tenant_file_with(f"bell = {str(bell).lower()}"),
        base_url=server.url,
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
