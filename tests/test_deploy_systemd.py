"""deploy/systemd/tenantboard.service and what `serve` does for it: the unit verified and
rated by the distribution's systemd-analyze (skipped without it, unless
TENANTBOARD_REQUIRE_SYSTEMD=1), the history kept in the state folder systemd gives it, and
the notifications (READY, STATUS, WATCHDOG, STOPPING) read from a real datagram socket."""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import pty
import re
import signal
import socket
import statistics
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tenantboard.cli import command_variables, main, parse_arguments, serve_config
from tenantboard.serve.sdnotify import SystemdNotifier, socket_address, watchdog_seconds
from tests.deploy_helpers import (
    DEPLOY_DOC,
    UNIT,
    fenced_block,
    log_line,
    process_env,
    require_tools,
    start_simulate,
    stop,
    wait_for,
)

UNIT_PATH = "/etc/systemd/system/tenantboard.service"


def unit_settings() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit (comments left out), each key's values in order."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def unit_environment() -> dict[str, str]:
    """The variables the unit's ``Environment=`` lines set (one assignment a line)."""
    return dict(value.split("=", 1) for value in unit_settings()["Environment"])


def environment_file(text: str) -> dict[str, str]:
    """The variables of an ``EnvironmentFile=`` (``NAME=value`` lines, # comments)."""
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def test_the_docs_show_the_unit_as_shipped() -> None:
    assert fenced_block(DEPLOY_DOC, f"# {UNIT_PATH}") == UNIT.read_text(encoding="utf-8")


def test_the_unit_keeps_the_history_writable_and_everything_else_shut() -> None:
    settings = unit_settings()
    one = {key: values[-1] for key, values in settings.items()}
    # the history: the state folder is the one place it may write, and serve finds it there
    assert one["ProtectSystem"] == "strict" and one["StateDirectory"] == "tenantboard"
    assert one["ConfigurationDirectory"] == "tenantboard"
    assert unit_environment()["TENANTBOARD_CONFIG"] == "/etc/tenantboard/tenants.toml"
    assert one["DynamicUser"] == "yes"
    # systemd hears from serve
    assert one["Type"] == "notify" and int(one["WatchdogSec"]) > 0
    for key in (
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ):
        assert one[key] == "yes", key
    assert one["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert settings["SystemCallFilter"][0] == "@system-service"
    assert one["CapabilityBoundingSet"] == "" and one["AmbientCapabilities"] == ""


@pytest.fixture
def checkable_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart's program at a path that exists here (verify checks it)."""
    program = tmp_path / "tenantboard"
    program.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    program.chmod(0o755)
    unit = tmp_path / "tenantboard.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/tenantboard", str(program)),
        encoding="utf-8",
    )
    return unit


def systemd_analyze() -> str:
    return require_tools("TENANTBOARD_REQUIRE_SYSTEMD", "systemd", "systemd-analyze")[
        "systemd-analyze"
    ]


def test_systemd_analyze_verifies_the_unit(checkable_unit: Path) -> None:
    done = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(checkable_unit)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""  # not even a warning (an unknown key is one)


def test_systemd_analyze_rates_the_unit_safe(checkable_unit: Path) -> None:
    """systemd's own exposure score, 0 (locked down) to 10: the shipped unit rates 1.1
    (Debian's own prometheus.service rates 4.0); 1.5 leaves room for one more opening."""
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--threshold=15", str(checkable_unit)],
        capture_output=True,
        text=True,
    )
    rating = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert rating is not None, done.stdout + done.stderr
    assert done.returncode == 0, f"exposure {rating.group(1)}"


# -- its options from the environment ---------------------------------------------------------------

ENVIRONMENT_FILE = "/etc/default/tenantboard"


def test_the_unit_gives_serve_its_options_as_variables_and_reads_an_environment_file() -> None:
    """Its settings are variables, so that /etc/default/tenantboard can change any of them:
    on the command line an option would win over the file."""
    settings = unit_settings()
    assert settings["ExecStart"][0] == "/usr/local/bin/tenantboard serve"
    assert settings["EnvironmentFile"] == [f"-{ENVIRONMENT_FILE}"]  # "-": if there is one
    serve_reads = set(command_variables("serve").values())
    assert set(unit_environment()) <= serve_reads
    example = environment_file(fenced_block(DEPLOY_DOC, f"# {ENVIRONMENT_FILE}"))
    assert example and set(example) <= serve_reads


def test_serve_runs_on_the_units_variables_and_the_docs_environment_file(
    tmp_path, monkeypatch
) -> None:
    """The unit's variables, the documented /etc/default/tenantboard's over them: a serve
    configuration (here with the tenant file in a temporary folder)."""
    example = environment_file(fenced_block(DEPLOY_DOC, f"# {ENVIRONMENT_FILE}"))
    for name, value in {**unit_environment(), **example}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(tmp_path / "tenants.toml"))
    args = parse_arguments(["serve"])
    config = serve_config(args)
    assert args.log_format == "json"
    assert f"{config.host}:{config.port}" == example.get("TENANTBOARD_LISTEN", "127.0.0.1:9464")


def test_serve_takes_every_setting_from_the_environment(tmp_path: Path, simulator: str) -> None:
    """`tenantboard serve` with no option at all, as the unit starts it: the tenant file,
    the address, the server it asks and the log format from variables."""
    config = tmp_path / "tenants.toml"
    config.write_text('[[tenants]]\ncontext_id = "Cust1001"\n', encoding="utf-8")
    log = tmp_path / "serve.log"
    env = process_env(
        tmp_path,
        TENANTBOARD_CONFIG=str(config),
        TENANTBOARD_LISTEN="127.0.0.1:0",
        TENANTBOARD_BASE_URL=simulator,
        TENANTBOARD_LOG_FORMAT="json",
        TENANTBOARD_DATA_DIR=str(tmp_path / "data"),
    )
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tenantboard", "serve"], stderr=stderr, env=env
        )
    try:
        url = wait_for(lambda: log_line(log, r"http://127\.0\.0\.1:\d+"), "address").group(0)
        first = log.read_text(encoding="utf-8").splitlines()[0]
        assert json.loads(first)["message"]  # a JSON line: TENANTBOARD_LOG_FORMAT=json
        tenants = wait_for(
            lambda: "Running" in (text := httpx.get(f"{url}/api/tenants").text) and text,
            "the tenant checked against the simulator",
        )
        assert "Cust1001" in tenants
    finally:
        assert stop(process) == 0
    assert list((tmp_path / "data").glob("boards/tenants-*/history.sqlite3"))


# -- the state folder -----------------------------------------------------------------------------


def test_the_history_goes_to_the_state_folder_systemd_gives(tmp_path, monkeypatch, capsys) -> None:
    config = tmp_path / "etc" / "tenants.toml"
    state = tmp_path / "var-lib-tenantboard"
    monkeypatch.setenv("STATE_DIRECTORY", f"{state}:{tmp_path / 'second'}")
    assert main(["paths", "--config", str(config)]) == 0
    history = re.search(r"history:\s+(\S+)", capsys.readouterr().out)
    assert history is not None and Path(history.group(1)).is_relative_to(state)
    # $TENANTBOARD_DATA_DIR wins (an operator reading the service's history by hand)
    monkeypatch.setenv("TENANTBOARD_DATA_DIR", str(tmp_path / "mine"))
    assert main(["paths", "--config", str(config)]) == 0
    history = re.search(r"history:\s+(\S+)", capsys.readouterr().out)
    assert history is not None and Path(history.group(1)).is_relative_to(tmp_path / "mine")


# -- notifications ---------------------------------------------------------------------------------


def test_notify_socket_addresses() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@/org/freedesktop/systemd1/notify/1") == (
        b"\0/org/freedesktop/systemd1/notify/1"
    )
    assert socket_address("relative/path") is None and socket_address("@") is None


def test_the_watchdog_is_ours_only_when_systemd_says_so() -> None:
    assert watchdog_seconds("30000000", None, 42) == 30.0
    assert watchdog_seconds("30000000", "42", 42) == 30.0
    assert watchdog_seconds("30000000", "43", 42) is None  # another process's
    assert watchdog_seconds("0", None, 42) is None and watchdog_seconds("x", None, 42) is None
    assert watchdog_seconds(None, None, 42) is None


def test_the_variables_are_taken_out_so_hook_commands_do_not_inherit_them() -> None:
    environ = {
        "NOTIFY_SOCKET": "@notify",
        "WATCHDOG_USEC": "2000000",
        "WATCHDOG_PID": "7",
        "PATH": "/usr/bin",
    }
    notifier = SystemdNotifier.from_environment(environ, own_pid=7)
    assert environ == {"PATH": "/usr/bin"}
    assert notifier.address == b"\0notify" and notifier.watchdog == 2.0


def test_without_systemd_nothing_is_sent_and_a_vanished_one_is_reported_once(
    tmp_path, caplog
) -> None:
    quiet = SystemdNotifier.from_environment({})
    assert not quiet.enabled
    quiet.ready("0 tenants")  # nothing to send to, nothing raised
    gone = SystemdNotifier(str(tmp_path / "no-such-socket"))
    with caplog.at_level(logging.WARNING, logger="tenantboard.systemd"):
        gone.ready("1 tenants")
        gone.notify(WATCHDOG="1")
    assert len(caplog.records) == 1 and "cannot notify systemd" in caplog.text
    gone.close()


class NotifyListener:
    """A datagram socket standing in for systemd's, as a path or an abstract name."""

    def __init__(self, address: str | bytes) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(address)
        self.socket.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []

    def receive(self, until: float) -> None:
        """Collect datagrams until ``until`` (monotonic) or the socket goes quiet past it."""
        while time.monotonic() < until:
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append((time.monotonic(), fields))

    def first(self, field: str, until: float) -> dict[str, str]:
        while True:
            for _, fields in self.messages:
                if field in fields:
                    return fields
            if time.monotonic() > until:
                raise AssertionError(f"no {field} from serve; got {self.messages}")
            self.receive(time.monotonic() + 0.2)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[str]:
    process, url = start_simulate(tmp_path, "--slow-delay", "0")
    yield url
    stop(process)


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_serve_tells_systemd_ready_status_watchdog_and_stopping(
    tmp_path: Path, simulator: str, abstract: bool
) -> None:
    name = f"tenantboard-test-{os.getpid()}-{time.monotonic_ns()}"
    listener = NotifyListener(b"\0" + name.encode() if abstract else str(tmp_path / "notify"))
    config = tmp_path / "tenants.toml"
    config.write_text('[[tenants]]\ncontext_id = "Cust1001"\n', encoding="utf-8")
    state = tmp_path / "state"
    state.mkdir()
    log = tmp_path / "serve.log"
    env = process_env(
        tmp_path,
        NOTIFY_SOCKET=f"@{name}" if abstract else str(tmp_path / "notify"),
        WATCHDOG_USEC="400000",  # systemd's WatchdogSec=0.4: a WATCHDOG=1 every 0.2 s
        STATE_DIRECTORY=str(state),
    )
    command = [sys.executable, "-m", "tenantboard", "serve", "--config", str(config)]
    command += ["--base-url", simulator, "--listen", "127.0.0.1:0"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, stderr=stderr, env=env)
    try:
        ready = listener.first("READY", time.monotonic() + 20)
        assert ready["READY"] == "1" and ready["STATUS"].startswith("1 tenant: ")
        # READY comes once it listens: the address in the log answers at once
        url = wait_for(lambda: log_line(log, r"http://127\.0\.0\.1:\d+"), "address").group(0)
        assert httpx.get(f"{url}/healthz").text == "ok\n"
        listener.receive(time.monotonic() + 1.0)
        ticks = [at for at, fields in listener.messages if fields.get("WATCHDOG") == "1"]
        assert len(ticks) >= 3, listener.messages
        # at half the watchdog's timeout (a busy machine may delay one tick, not all)
        assert 0.15 < statistics.median(b - a for a, b in itertools.pairwise(ticks)) < 0.3
        statuses = [fields["STATUS"] for _, fields in listener.messages if "WATCHDOG" in fields]
        assert statuses[-1] == "1 tenant: 1 ok"  # checked by now: the counts follow
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        listener.receive(time.monotonic() + 0.3)
        assert listener.messages[-1][1] == {"STOPPING": "1", "STATUS": "stopping"}
    finally:
        stop(process)
        listener.socket.close()
    # and the history went to the state folder
    assert list(state.glob("boards/tenants-*/history.sqlite3"))


def test_serve_started_in_a_terminal_ends_when_the_terminal_hangs_up(tmp_path: Path) -> None:
    """Run in a terminal (tmux, SSH), serve ends when that terminal goes away, as any
    program run there does, though a SIGHUP with the terminal still there is a reload:
    a closed SSH session leaves no serve behind holding the port and the poller lease."""
    config = tmp_path / "tenants.toml"
    config.write_text('[[tenants]]\ncontext_id = "Cust1001"\n', encoding="utf-8")
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "tenantboard", "serve", "--config", str(config)]
    command += ["--base-url", "http://127.0.0.1:9", "--listen", "127.0.0.1:0"]
    terminal, its_end = pty.openpty()

    def take_the_terminal() -> None:  # in the child, a session of its own: as a login shell
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=its_end,
            stdout=its_end,
            stderr=stderr,
            env=process_env(tmp_path),
            start_new_session=True,
            preexec_fn=take_the_terminal,
        )
    os.close(its_end)
    try:
        url = wait_for(lambda: log_line(log, r"http://127\.0\.0\.1:\d+"), "address").group(0)
        process.send_signal(signal.SIGHUP)  # the terminal is still there: a reload
        wait_for(lambda: log_line(log, r"SIGHUP: re-read"), "the reload")
        assert httpx.get(f"{url}/healthz").text == "ok\n"
        os.close(terminal)  # the terminal goes away: the kernel hangs it up
        terminal = -1
        assert process.wait(timeout=20) == 129
        assert log_line(log, r"stopping \(the terminal hung up\)")
        assert log_line(log, r"stopped")
    finally:
        if terminal >= 0:
            os.close(terminal)
        stop(process)


def test_serve_reloads_the_tenant_file_on_sighup_and_keeps_serving(
    tmp_path: Path, simulator: str
) -> None:
    """ExecReload's SIGHUP: the tenant file is re-read at once (one log line), systemd is
    told RELOADING=1 then READY=1, and serve goes on answering, its event stream included."""
    listener = NotifyListener(str(tmp_path / "notify"))
    config = tmp_path / "tenants.toml"
    config.write_text('[[tenants]]\ncontext_id = "Cust1001"\n', encoding="utf-8")
    log = tmp_path / "serve.log"
    env = process_env(tmp_path, NOTIFY_SOCKET=str(tmp_path / "notify"))
    command = [sys.executable, "-m", "tenantboard", "serve", "--config", str(config)]
    command += ["--base-url", simulator, "--listen", "127.0.0.1:0"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, stderr=stderr, env=env)
    try:
        listener.first("READY", time.monotonic() + 20)
        url = wait_for(lambda: log_line(log, r"http://127\.0\.0\.1:\d+"), "address").group(0)
        with (
            httpx.Client(timeout=20) as client,
            client.stream("GET", f"{url}/api/events") as events,
        ):
            lines = events.iter_lines()
            config.write_text(
                '[[tenants]]\ncontext_id = "Cust1001"\n\n[[tenants]]\ncontext_id = "Cust1008"\n',
                encoding="utf-8",
            )
            process.send_signal(signal.SIGHUP)
            line = wait_for(lambda: log_line(log, r"SIGHUP: .*"), "the reload's log line")
            assert line.group(0) == f"SIGHUP: re-read {config}: 2 tenants, 0 alert hooks"
            # the stream opened before the reload carries the new tenant's first check
            assert any('"online:Cust1008"' in text for text in lines)
        reloading = listener.first("RELOADING", time.monotonic() + 10)
        assert reloading["MONOTONIC_USEC"].isdigit()

        def told() -> list[dict[str, str]]:
            return [f for _, f in listener.messages if "RELOADING" in f or "READY" in f]

        deadline = time.monotonic() + 10
        while len(told()) < 3 and time.monotonic() < deadline:
            listener.receive(time.monotonic() + 0.2)
        assert [sorted(fields) for fields in told()] == [
            ["READY", "STATUS"],  # started
            ["MONOTONIC_USEC", "RELOADING", "STATUS"],
            ["READY", "STATUS"],  # reloaded
        ]
        assert httpx.get(f"{url}/healthz").text == "ok\n"
        assert "tenantboard_tenants" in httpx.get(f"{url}/metrics").text
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        stop(process)
        listener.socket.close()
