"""The command line end to end, against the simulator served on a loopback socket."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantboard.cli import UsageError, board_config, main, parse_arguments, serve_config
from tenantboard.session import Session
from tenantboard.simulator import Simulator
from tests.serve_helpers import SimulatorInThread


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """`tenantboard simulate` in a thread: a real socket on 127.0.0.1."""
    with SimulatorInThread(Simulator(slow_delay=0.2)) as server:
        yield server.url


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("tenants", "code", "summary"),
    [
        (["Cust1001", "Cust1002"], 0, "TENANTBOARD OK - 2 tenants: 2 ok"),
        (["Cust1001", "Cust1009"], 1, "TENANTBOARD WARNING"),
        (["Cust1001", "Cust1017"], 3, "TENANTBOARD UNKNOWN"),
        (["Cust1018"], 3, "TENANTBOARD UNKNOWN"),
        (["Cust1008", "Cust1017", "Cust1009"], 2, "TENANTBOARD CRITICAL"),
    ],
)
def test_check_exit_codes_follow_nagios(capsys, simulator_url, tenants, code, summary) -> None:
    result, out, _ = run_cli(capsys, "check", "--base-url", simulator_url, *tenants)
    assert result == code
    assert out.splitlines()[0].startswith(summary)


def test_check_table_is_plain_when_not_a_terminal(capsys, simulator_url) -> None:
    _, out, _ = run_cli(capsys, "check", "--base-url", simulator_url, "Cust1008", "Cust1017")
    assert "\x1b" not in out
    lines = out.splitlines()
    assert lines[1].split() == ["CONTEXT", "ENV", "STATE", "RUN", "HOST", "LABEL", "/", "ERROR"]
    assert "Suspended" in lines[2] and "not found (404)" in lines[3]


def test_check_json(capsys, simulator_url) -> None:
    code, out, _ = run_cli(
        capsys,
        "check",
        "--json",
        "--versions",
        "--base-url",
        simulator_url,
        "Cust1012",
        "Cust1017",
        "Cust1008",
    )
    data = json.loads(out)
    assert code == 2
    assert [d["context_id"] for d in data] == ["Cust1012", "Cust1017", "Cust1008"]
    running, missing, suspended = data
    assert running["state"] == "Running" and running["state_code"] == 2 and running["is_running"]
    assert running["valid_until"].endswith("Z")
    assert running["version"]["netserver_numbers"][:2] in ([11, 10], [9, 1])
    assert running["error"] is None
    assert missing["error"]["kind"] == "not-found" and missing["state"] is None
    assert suspended["version"] is None and suspended["version_error"]["kind"] == "not-running"
    assert set(running) >= {
        "context_id",
        "env",
        "state",
        "state_code",
        "is_running",
        "endpoint",
        "api",
        "valid_until",
        "version",
        "error",
    }


def test_check_uses_the_saved_list(capsys, simulator_url, tmp_path: Path) -> None:
    config = str(tmp_path / "t.toml")
    assert (
        run_cli(capsys, "add", "--config", config, "Cust1001", "Cust1004", "--label", "Ours")[0]
        == 0
    )
    code, out, _ = run_cli(capsys, "check", "--config", config, "--base-url", simulator_url)
    assert code == 0 and "Cust1004" in out and "Ours" in out


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["add", "bogus"],
        ["add", "--label"],
        ["list", "--timeout", "5"],
        ["--base-url", "http://127.0.0.1:1", "add", "Cust1"],
        ["simulate", "--config", "t.toml"],
        ["notify-test", "--timeout", "5"],
        ["history", "Cust1", "--since", "soon"],
    ],
)
def test_usage_errors_exit_64_with_a_message_not_a_traceback(capsys, args) -> None:
    code, out, err = run_cli(capsys, *args)
    assert code == 64
    assert "Traceback" not in err and err.strip()
    assert out == ""


# -- check as a Nagios plugin: whatever keeps it from checking is UNKNOWN ----------------------

CANNOT_CHECK = [
    pytest.param(
        ["check"],
        "missing.toml (--config): name the tenants to check (check CTX ...), or give the path "
        "of an existing tenant file (--config is TENANTBOARD_CONFIG in the environment)",
        id="no-file",
    ),
    pytest.param(["check", "Cust1x"], '"Cust1x" is not a context id', id="bad-id"),
    pytest.param(  # the bad bytes named, not dropped (it read '"" is not a context id')
        ["check", "\x00\x01"], '"\\x00\\x01" is not a context id', id="control-characters"
    ),
    pytest.param(["check", "--env", "prod", "Cust1"], "not an environment", id="bad-env"),
    pytest.param(
        ["check", "--concurrency", "0", "Cust1"],
        "check: argument --concurrency: must be at least 1",
        id="bad-value",
    ),
    pytest.param(
        ["--concurrency", "0", "check", "Cust1"],
        "argument --concurrency: must be at least 1",
        id="bad-value-before",
    ),
    pytest.param(
        ["check", "--frobnicate", "Cust1"],
        "unrecognized arguments: --frobnicate",
        id="unknown-option",
    ),
    pytest.param(["check", "--env"], "check: argument --env: expected one argument", id="no-value"),
    pytest.param(
        ["--attach", "http://127.0.0.1:9", "--demo", "check", "Cust1"],
        "--demo is not an option of check (it goes with the board with --demo)",
        id="board-options",
    ),
    pytest.param(
        ["check", "--min-interval", "1", "Cust1"],
        "--min-interval is not an option of check",
        id="serve-option",
    ),
    pytest.param(
        ["check", "--base-url", "http://example.com", "Cust1"],
        "plain http is only allowed to a loopback address",
        id="bad-base-url",
    ),
]


@pytest.mark.parametrize(("args", "reason"), CANNOT_CHECK)
def test_check_that_cannot_check_is_unknown_with_one_status_line(
    capsys, tmp_path: Path, monkeypatch, args: list[str], reason: str
) -> None:
    """Nagios shows "Return code of 64 is out of bounds" and no reason: a plugin says
    UNKNOWN (3) and why, on the first line of standard output (the monitoring plugins'
    development guidelines)."""
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(tmp_path / "missing.toml"))
    code, out, err = run_cli(capsys, *args)
    assert code == 3
    (line,) = out.splitlines()
    assert line.startswith("TENANTBOARD UNKNOWN - ") and reason in line, line
    assert "|" not in line.split(" - ", 1)[1]  # nothing the plugin reader takes for perfdata
    assert reason in err and "Traceback" not in err


@pytest.mark.parametrize(("args", "reason"), CANNOT_CHECK)
def test_check_json_that_cannot_check_is_a_document_that_says_why(
    capsys, tmp_path: Path, monkeypatch, args: list[str], reason: str
) -> None:
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(tmp_path / "missing.toml"))
    code, out, _ = run_cli(capsys, *args, "--json")
    assert code == 3
    (entry,) = json.loads(out)
    assert entry["severity"] == "UNKNOWN" and entry["context_id"] is None
    assert entry["error"]["kind"] == "usage" and reason in entry["error"]["message"]


def test_check_without_a_tenant_file_says_which_it_looked_for_and_how_to_give_one(
    capsys, tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "check")
    default = tmp_path / "home" / "xdg_config_home" / "tenantboard" / "tenants.toml"
    assert code == 3
    assert out.startswith(f"TENANTBOARD UNKNOWN - no tenant file: looked for {default} (the ")
    assert "--config PATH or TENANTBOARD_CONFIG" in out and "tenantboard add CTX" in err
    missing = tmp_path / "tenants.tmol"
    code, out, _ = run_cli(capsys, "check", "--config", str(missing))
    assert code == 3
    assert out.startswith(f"TENANTBOARD UNKNOWN - no tenant file at {missing} (--config): ")
    empty = tmp_path / "empty.toml"
    empty.write_text("# no tenants yet\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "check", "--config", str(empty))
    assert code == 3
    assert out.startswith(f"TENANTBOARD UNKNOWN - no tenants to check in {empty}: name some")


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (RuntimeError("a bug"), "internal error: RuntimeError: a bug"),
        (KeyboardInterrupt(), "interrupted"),
    ],
)
def test_check_that_crashes_or_is_interrupted_is_unknown(
    capsys, monkeypatch, raised: BaseException, reason: str
) -> None:
    def broken(*args, **kwargs):
        raise raised

    monkeypatch.setattr("tenantboard.engine.check_all", broken)
    code, out, err = run_cli(capsys, "check", "Cust1")
    assert code == 3
    assert out == f"TENANTBOARD UNKNOWN - {reason}\n"
    assert ("Traceback" in err) == isinstance(raised, RuntimeError)  # a bug's, for its report


def test_add_list_remove_import(capsys, tmp_path: Path) -> None:
    config = str(tmp_path / "t.toml")
    assert (
        run_cli(capsys, "add", "--config", config, "cust5", "--env", "sod", "--label", "Five")[0]
        == 0
    )
    code, _, err = run_cli(capsys, "add", "--config", config, "Cust5", "--env", "sod")
    assert code == 64 and "already in the list" in err
    source = tmp_path / "many.txt"
    source.write_text("# ours\nCust6\nCust7,stage,Seven\nCust5,sod\n")
    code, out, _ = run_cli(capsys, "import", "--config", config, str(source))
    assert code == 0 and "imported 2 tenants (1 already listed, skipped)" in out
    _, out, _ = run_cli(capsys, "list", "--config", config, "--json")
    assert [t["context_id"] for t in json.loads(out)] == ["Cust5", "Cust6", "Cust7"]
    assert run_cli(capsys, "remove", "--config", config, "Cust6")[0] == 0
    code, _, err = run_cli(capsys, "remove", "--config", config, "Cust99")
    assert code == 64 and "not in the list" in err
    _, out, _ = run_cli(capsys, "list", "--config", config)
    assert out.split() == ["Cust5", "sod", "Five", "Cust7", "stage", "Seven"]


def test_a_bad_import_reports_every_bad_line_and_imports_nothing(capsys, tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    source = tmp_path / "many.txt"
    source.write_text("Cust1\nnope\nCust2\nnot-a-tenant\nCust3,prod\n")
    code, _, err = run_cli(capsys, "import", "--config", str(config), str(source))
    assert code == 65  # EX_DATAERR: the list is bad; 78 stays "the tenant file is broken"
    assert "3 bad lines; nothing imported" in err
    for line in (2, 4, 5):
        assert f"{source}:{line}: " in err
    assert f"{source}:1:" not in err and f"{source}:3:" not in err
    assert not config.exists()


def test_import_reads_csv_as_a_spreadsheet_saves_it(capsys, tmp_path: Path) -> None:
    config = str(tmp_path / "t.toml")
    source = tmp_path / "export.csv"
    source.write_bytes(
        "context_id,env,label\r\n"
        'Cust1,online,"Acme, Inc."\r\n'
        'Cust2, qaonline, "Bjørn ""the tester"""\r\n'
        "Cust3,,Plain, with a comma\r\n".encode("utf-8-sig")
    )
    code, out, err = run_cli(capsys, "import", "--config", config, str(source))
    assert code == 0, err
    assert "imported 3 tenants" in out
    _, out, _ = run_cli(capsys, "list", "--config", config, "--json")
    assert json.loads(out) == [
        {"context_id": "Cust1", "env": "online", "label": "Acme, Inc.", "tags": []},
        {"context_id": "Cust2", "env": "stage", "label": 'Bjørn "the tester"', "tags": []},
        {"context_id": "Cust3", "env": "online", "label": "Plain, with a comma", "tags": []},
    ]


def test_import_from_standard_input_with_a_byte_order_mark(
    capsys, tmp_path: Path, monkeypatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeffCust4,sod,Four\n"))
    config = str(tmp_path / "t.toml")
    assert run_cli(capsys, "import", "--config", config, "-")[0] == 0
    _, out, _ = run_cli(capsys, "list", "--config", config)
    assert out.split() == ["Cust4", "sod", "Four"]


def test_a_corrupt_config_is_reported_and_left_alone(capsys, tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text("[[tenants]]\ncontext_id = 'Cust1'\n[[tenants\n")
    code, _, err = run_cli(capsys, "add", "--config", str(config), "Cust2")
    assert code == 78 and f"{config}:3:" in err and "left as it is" in err
    assert config.read_text() == "[[tenants]]\ncontext_id = 'Cust1'\n[[tenants\n"
    code, _, _ = run_cli(capsys, "check", "--config", str(config))
    assert code == 3


def test_config_from_the_environment_variable(capsys, tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "env.toml"
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(config))
    run_cli(capsys, "add", "Cust3")
    assert "Cust3" in config.read_text()
    _, out, _ = run_cli(capsys, "paths")
    assert str(config) in out


def test_shared_options_work_before_the_command(capsys, tmp_path: Path) -> None:
    config = str(tmp_path / "t.toml")
    run_cli(capsys, "--config", config, "add", "Cust3")
    assert "Cust3" in Path(config).read_text()


# -- check, as Nagios and scripts meet it ------------------------------------------------


def test_check_env_without_names_checks_only_that_environments_tenants(
    capsys, simulator_url, tmp_path: Path
) -> None:
    config = str(tmp_path / "t.toml")
    run_cli(capsys, "add", "--config", config, "Cust1001", "Cust1008")
    run_cli(capsys, "add", "--config", config, "Cust1019", "--env", "stage")
    code, out, _ = run_cli(
        capsys, "check", "--config", config, "--base-url", simulator_url, "--env", "stage"
    )
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["Cust1019"]
    assert out.startswith("TENANTBOARD OK - 1 tenant: 1 ok |")
    assert code == 0
    code, out, _ = run_cli(capsys, "check", "--config", config, "--env", "sod")
    assert code == 3 and out.startswith("TENANTBOARD UNKNOWN - no tenants in sod to check")


def test_check_names_saved_labels_checks_each_tenant_once_and_gives_perfdata(
    capsys, simulator_url, tmp_path: Path
) -> None:
    config = str(tmp_path / "t.toml")
    run_cli(capsys, "add", "--config", config, "Cust1001", "--label", "Acme production")
    code, out, _ = run_cli(
        capsys,
        "check",
        "--config",
        config,
        "--base-url",
        simulator_url,
        "Cust1001",
        "Cust1001",
        "cust1001",
        "Cust1009",
    )
    lines = out.splitlines()
    assert re.fullmatch(
        r"TENANTBOARD WARNING - 2 tenants: 1 warning, 1 ok \| "
        r"ok=1 warning=1 critical=0 unknown=0 time=\d+\.\d{3}s",
        lines[0],
    ), lines[0]
    assert [line.split()[0] for line in lines[2:]] == ["Cust1001", "Cust1009"]
    assert lines[2].endswith("Acme production")
    assert code == 1
    _, out, _ = run_cli(
        capsys, "check", "--json", "--config", config, "--base-url", simulator_url, "CUST1001"
    )
    assert json.loads(out)[0]["label"] == "Acme production"


@pytest.mark.parametrize("json_output", [False, True])
def test_check_on_a_broken_tenant_file_tells_stdout_readers(
    capsys, tmp_path: Path, json_output: bool
) -> None:
    config = tmp_path / "t.toml"
    config.write_text("[[tenants]]\ncontext_id = 'Cust1'\n[[tenants\n")
    extra = ["--json"] if json_output else []
    code, out, err = run_cli(capsys, "check", "--config", str(config), *extra)
    assert code == 3
    assert f"{config}:3:" in err
    if json_output:
        (entry,) = json.loads(out)
        assert entry["severity"] == "UNKNOWN" and entry["context_id"] is None
        assert entry["error"]["kind"] == "tenant-file"
        assert entry["error"]["path"] == str(config) and entry["error"]["line"] == 3
        assert "not valid TOML" in entry["error"]["message"]
    else:
        (line,) = out.splitlines()
        assert line.startswith("TENANTBOARD UNKNOWN - cannot read the tenant file: ")
        assert f"{config}:3: not valid TOML" in line


def test_check_perfdata_says_how_long_the_check_took(capsys, simulator_url) -> None:
    """time=SECONDS as the plugin guidelines write it (label=value, unit s), measured over
    the whole check: a tenant that answers in 0.2 s takes at least that."""
    args = ["check", "--base-url", simulator_url, "--env", "stage", "Cust1013"]
    code, out, _ = run_cli(capsys, *args)
    found = re.search(
        r" \| ok=1 warning=0 critical=0 unknown=0 time=(\d+\.\d{3})s$", out.splitlines()[0]
    )
    assert code == 0 and found, out
    assert 0.2 <= float(found.group(1)) < 5


def test_check_versions_says_what_disagrees(capsys, simulator_url) -> None:
    _, out, _ = run_cli(
        capsys,
        "check",
        "--json",
        "--versions",
        "--env",
        "stage",
        "--base-url",
        simulator_url,
        "Cust1019",
    )
    (confused,) = json.loads(out)
    assert confused["state"] == "Running" and confused["is_running"] is False
    assert confused["version_error"]["message"] == (
        "no version info: State says Running but IsRunning is false"
    )


def test_qaonline_is_the_stage_environment_everywhere(capsys, simulator_url, tmp_path) -> None:
    config = tmp_path / "t.toml"
    code, out, _ = run_cli(capsys, "add", "--config", str(config), "Cust1019", "--env", "qaonline")
    assert code == 0 and "added Cust1019 (stage)" in out
    code, _, err = run_cli(capsys, "add", "--config", str(config), "Cust1019", "--env", "stage")
    assert code == 64 and "already in the list" in err
    config.write_text(
        config.read_text() + '\n[[tenants]]\ncontext_id = "Cust5"\nenv = "QAOnline"\n'
    )
    _, out, _ = run_cli(capsys, "list", "--config", str(config), "--json")
    assert [t["env"] for t in json.loads(out)] == ["stage", "stage"]
    code, out, _ = run_cli(
        capsys, "check", "--base-url", simulator_url, "--env", "qaonline", "Cust1019"
    )
    assert code == 0 and "Cust1019  stage" in out
    assert run_cli(capsys, "remove", "--config", str(config), "Cust5", "--env", "qaonline")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "0 to 65535"),
        (["--port", "-1"], "0 to 65535"),
        (["--port", "http"], "not a port number"),
        (["--slow-delay", "-1"], "0 or more seconds"),
        (["--speed", "0"], "above 0"),
        (["--speed", "-2"], "above 0"),
        (["--speed", "nan"], "above 0"),
        (["--speed", "fast"], "not a number"),
        (["--tenants", "0"], "at least 1"),
        (["--tenants", "1.5"], '"1.5" is not a whole number'),
    ],
)
def test_bad_simulate_options_are_usage_errors(capsys, monkeypatch, args, message) -> None:
    async def must_not_serve(*args, **kwargs):
        raise AssertionError("the simulator started with a bad option")

    monkeypatch.setattr("tenantboard.simulator.serve", must_not_serve)
    code, _, err = run_cli(capsys, "simulate", *args)
    assert code == 64
    assert message in err and "Traceback" not in err


# -- pipes that close early (`| head -1`) --------------------------------------------------


def _first_line_then_close(args: list[str]) -> tuple[bytes, int, str]:
    """Run tenantboard with its output into a small pipe, read a line, close the pipe."""
    import fcntl
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, 4096)  # so a few KB of output fill it
    process = subprocess.Popen(
        [sys.executable, "-m", "tenantboard", *args],
        stdout=write_end,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        first = reader.readline()
    _, err = process.communicate(timeout=60)
    return first, process.returncode, err.decode()


@pytest.fixture
def long_list(tmp_path: Path) -> str:
    from tenantboard.tenant import make_tenant
    from tenantboard.tenant_file import TenantStore

    config = tmp_path / "long.toml"
    TenantStore(config).add([make_tenant(f"Cust{n}", label=f"Tenant {n}") for n in range(1, 401)])
    return str(config)


@pytest.mark.parametrize("args", [["list"], ["list", "--json"]])
def test_list_into_a_pipe_closed_early_ends_quietly(long_list: str, args: list[str]) -> None:
    first, code, err = _first_line_then_close([*args, "--config", long_list])
    assert first.split() in ([b"["], [b"Cust1", b"online", b"Tenant", b"1"])
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert code == 0


def test_check_into_a_pipe_closed_early_keeps_its_exit_code(
    long_list: str, simulator_url: str
) -> None:
    first, code, err = _first_line_then_close(
        ["check", "--config", long_list, "--base-url", simulator_url, "--concurrency", "32"]
    )
    assert first.startswith(b"TENANTBOARD CRITICAL - 400 tenants")  # others answer Unknown
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert code == 2


def test_a_label_that_is_not_utf8_is_refused_before_anything_is_written(
    capsys, tmp_path: Path
) -> None:
    config = tmp_path / "t.toml"
    # What Python makes of the byte 0xff in an argument on a UTF-8 system.
    code, _, err = run_cli(capsys, "add", "--config", str(config), "Cust5", "--label", "\udcff")
    assert code == 64 and "label is not valid UTF-8 text" in err
    assert not config.exists()


# -- which options go with which command, before it or after it -------------------------------

#: A value for each option that may go before the command, and what it becomes.
OPTION_VALUES = {
    "--config": ("t.toml", "t.toml"),
    "--data-dir": ("data", Path("data")),
    "--base-url": ("http://127.0.0.1:1", "http://127.0.0.1:1"),
    "--concurrency": ("3", 3),
    "--timeout": ("4", 4.0),
    "--min-interval": ("5", 5.0),
    "--max-interval": ("6", 6.0),
    "--attach": ("http://127.0.0.1:9464", "http://127.0.0.1:9464"),
    "--attach-token-file": ("token", Path("token")),
}
CHECKING = {"--config", "--data-dir", "--base-url", "--concurrency", "--timeout"}
#: Each command (with the arguments it needs) and the options it uses: the spec.
USES = {
    ("check", "Cust1"): CHECKING,
    ("serve",): CHECKING | {"--min-interval", "--max-interval"},
    **{
        command: {"--config", "--data-dir"}
        for command in [
            ("add", "Cust1"),
            ("remove", "Cust1"),
            ("list",),
            ("paths",),
            ("import", "-"),
            ("report",),
            ("history", "Cust1"),
            ("notify-test",),
        ]
    },
    ("simulate",): set(),
    ("completion", "bash"): set(),
}


def given(flag: str) -> list[str]:
    return [flag] if flag == "--demo" else [flag, OPTION_VALUES[flag][0]]


@pytest.mark.parametrize("flag", [*OPTION_VALUES, "--demo"])
@pytest.mark.parametrize("command", list(USES), ids=lambda command: command[0])
@pytest.mark.parametrize("where", ["before", "after"])
def test_an_option_goes_before_or_after_the_command_that_uses_it_and_nowhere_else(
    command: tuple[str, ...], flag: str, where: str
) -> None:
    argv = [*given(flag), *command] if where == "before" else [*command, *given(flag)]
    if flag not in USES[command]:
        with pytest.raises(UsageError, match=f"^{flag} is not an option of {command[0]}"):
            parse_arguments(argv)
        return
    args = parse_arguments(argv)
    assert args.command == command[0]
    assert getattr(args, flag[2:].replace("-", "_")) == OPTION_VALUES[flag][1]


#: The board's three ways to open (no command), and the options each uses.
BOARD_USES = {
    (): CHECKING | {"--min-interval", "--max-interval"},
    ("--demo",): {"--concurrency", "--timeout", "--min-interval", "--max-interval"},
    ("--attach", "http://127.0.0.1:9464"): {"--attach-token-file"},
}


@pytest.mark.parametrize("flag", [flag for flag in OPTION_VALUES if flag != "--attach"])
@pytest.mark.parametrize("mode", list(BOARD_USES), ids=["board", "demo", "attach"])
def test_the_boards_options_are_those_its_way_of_opening_uses(
    mode: tuple[str, ...], flag: str
) -> None:
    argv = [*mode, *given(flag)]
    if flag not in BOARD_USES[mode]:
        with pytest.raises(UsageError, match=f"^{flag} is not an option of the board"):
            parse_arguments(argv)
        return
    args = parse_arguments(argv)
    assert args.command == "board"
    assert getattr(args, flag[2:].replace("-", "_")) == OPTION_VALUES[flag][1]


def test_attach_and_demo_together_is_refused() -> None:
    with pytest.raises(UsageError, match="--attach and --demo: choose one"):
        parse_arguments(["--demo", "--attach", "http://127.0.0.1:9464"])


def test_an_option_after_the_command_wins_over_the_same_before_it() -> None:
    args = parse_arguments(["--min-interval", "5", "serve", "--min-interval", "7"])
    assert args.min_interval == 7.0


def test_an_option_a_command_does_not_use_exits_64_and_runs_nothing(capsys, tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    code, out, err = run_cli(capsys, "--attach", "http://127.0.0.1:9", "add", "Cust1")
    assert code == 64 and out == "" and not config.exists()
    assert "--attach is not an option of add (it goes with the board with --attach)" in err


# -- every setting in the file reaches the board and serve ------------------------------------

SETTINGS_FILE = """\
[settings]
bell = true
history_days = 30
concurrency = 3
timeout = 7.5
min_interval = 60
max_interval = 600

[[tenants]]
context_id = "Cust1"
"""


def test_every_setting_in_the_file_reaches_the_board(capsys, tmp_path: Path, monkeypatch) -> None:
    from tenantboard.tenant_file import Settings

    config = tmp_path / "t.toml"
    config.write_text(SETTINGS_FILE)
    opened = []
    monkeypatch.setattr("tenantboard.ui.app.run_board", lambda config: opened.append(config) or 0)
    monkeypatch.setattr("tenantboard.cli.not_a_terminal", lambda: "")  # as in a terminal
    assert run_cli(capsys, "--config", str(config))[0] == 0
    (board,) = opened
    assert Session(board.session).settings == Settings(
        concurrency=3, timeout=7.5, min_interval=60, max_interval=600, bell=True, history_days=30
    )
    assert board.session.history_path is not None and board.session.store.path == config


def test_options_override_only_their_own_setting(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text(SETTINGS_FILE)
    options = ["--config", str(config), "--concurrency", "5", "--min-interval", "2"]
    for settings in (
        Session(board_config(parse_arguments(options)).session).settings,
        Session(serve_config(parse_arguments(["serve", *options])).session).settings,
        Session(serve_config(parse_arguments([*options, "serve"])).session).settings,
    ):
        assert (settings.concurrency, settings.min_interval) == (5, 2.0)
        assert (settings.bell, settings.history_days, settings.timeout) == (True, 30, 7.5)
        assert settings.max_interval == 600


def test_every_setting_in_the_file_reaches_serve(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text(SETTINGS_FILE)
    serving = Session(serve_config(parse_arguments(["serve", "--config", str(config)])).session)
    assert serving.settings == serving.config.settings
    assert serving.settings.bell is True and serving.settings.history_days == 30


def test_an_override_that_breaks_a_setting_rule_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text(SETTINGS_FILE)
    with pytest.raises(UsageError, match="max_interval must be at least min_interval"):
        board_config(parse_arguments(["--config", str(config), "--min-interval", "900"]))


def test_check_of_named_tenants_uses_the_files_settings(capsys, tmp_path: Path) -> None:
    """Naming tenants does not drop the file's settings: its timeout of half a second
    ends the check of a tenant that takes two."""
    config = tmp_path / "t.toml"
    config.write_text("[settings]\ntimeout = 0.5\n")
    with SimulatorInThread(Simulator(slow_delay=2)) as server:
        args = ["check", "--config", str(config), "--base-url", server.url, "--env", "stage"]
        code, out, _ = run_cli(capsys, *args, "Cust1013")
    assert code == 3
    assert "no complete answer within 0.5 s" in out


def test_add_with_tags_and_list_shows_them(capsys, tmp_path: Path) -> None:
    config = str(tmp_path / "t.toml")
    code, out, _ = run_cli(
        capsys,
        "add",
        "--config",
        config,
        "Cust7",
        "--label",
        "Acme",
        "--tag",
        "Acme",
        "--tag",
        "gold",
    )
    assert code == 0 and out.strip() == "added Cust7 (online)"
    run_cli(capsys, "add", "--config", config, "Cust8")
    _, out, _ = run_cli(capsys, "list", "--config", config)
    assert out.splitlines() == ["Cust7  online  Acme  tags: Acme, gold", "Cust8  online"]
    _, out, _ = run_cli(capsys, "list", "--config", config, "--json")
    assert [entry["tags"] for entry in json.loads(out)] == [["Acme", "gold"], []]
    code, _, err = run_cli(capsys, "add", "--config", config, "Cust9", "--tag", "two words")
    assert code == 64 and "is not 1-40 letters" in err
    assert "Cust9" not in (tmp_path / "t.toml").read_text()


def test_simulate_host_failure_options_are_checked(capsys) -> None:
    code, _, err = run_cli(
        capsys, "simulate", "--host-failure", "online3", "--host-failure-for", "0"
    )
    assert code == 64 and "--host-failure-for" in err
    code, _, err = run_cli(capsys, "simulate", "--host-failure", "a/b", "--port", "0")
    assert code == 64 and "give a host name" in err


def test_the_demo_opens_grouped_by_host_on_a_fleet_of_tagged_tenants() -> None:
    from tenantboard.cli import board_config, parse_arguments

    config = board_config(parse_arguments(["--demo"]))
    assert config.demo and config.group_by == "host"
    tenants = config.session.tenants
    assert len(tenants) > 50 and any("acme" in tenant.tags for tenant in tenants)
    assert board_config(parse_arguments([])).group_by is None  # your own list: your choice
