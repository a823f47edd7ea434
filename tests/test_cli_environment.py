"""Options from environment variables (systemd's EnvironmentFile=, containers): every
option of `serve` and every shared option has one, named in --help; the command line wins;
a bad value is a usage error that names the variable."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tenantboard.cli import GLOBAL_OPTIONS, main, parse_arguments

CLI = Path(__file__).resolve().parent.parent / "tui" / "tenantboard" / "cli.py"

#: For each option of `serve` (its own and the shared ones it uses): its variable, a value
#: for it, and what that value becomes. A new option of serve gets a line here.
SERVE_VARIABLES = {
    "--config": ("TENANTBOARD_CONFIG", "t.toml", "t.toml"),
    "--data-dir": ("TENANTBOARD_DATA_DIR", "data", Path("data")),
    "--base-url": ("TENANTBOARD_BASE_URL", "http://127.0.0.1:1", "http://127.0.0.1:1"),
    "--concurrency": ("TENANTBOARD_CONCURRENCY", "3", 3),
    "--timeout": ("TENANTBOARD_TIMEOUT", "4", 4.0),
    "--min-interval": ("TENANTBOARD_MIN_INTERVAL", "5", 5.0),
    "--max-interval": ("TENANTBOARD_MAX_INTERVAL", "6", 6.0),
    "--listen": ("TENANTBOARD_LISTEN", "0.0.0.0:9464", "0.0.0.0:9464"),
    "--token-file": ("TENANTBOARD_TOKEN_FILE", "/run/token", Path("/run/token")),
    "--insecure-public": ("TENANTBOARD_INSECURE_PUBLIC", "yes", True),
    "--allow-host": (
        "TENANTBOARD_ALLOW_HOST",
        "status.example.com, tb.example.com",
        ["status.example.com", "tb.example.com"],
    ),
    "--max-connections": ("TENANTBOARD_MAX_CONNECTIONS", "7", 7),
    "--state-change-certificate": (
        "TENANTBOARD_STATE_CHANGE_CERTIFICATE",
        "/etc/so/a.pem,/etc/so/b.pem",
        [Path("/etc/so/a.pem"), Path("/etc/so/b.pem")],
    ),
    "--state-change-client-id": ("TENANTBOARD_STATE_CHANGE_CLIENT_ID", "app1", "app1"),
    "--log-format": ("TENANTBOARD_LOG_FORMAT", "json", "json"),
    "--tenant-series": ("TENANTBOARD_TENANT_SERIES", "attention", "attention"),
}
#: Another good value for each, given on the command line; what it becomes.
COMMAND_LINE = {
    "--config": ("c.toml", "c.toml"),
    "--data-dir": ("d", Path("d")),
    "--base-url": ("http://127.0.0.1:2", "http://127.0.0.1:2"),
    "--concurrency": ("30", 30),
    "--timeout": ("40", 40.0),
    "--min-interval": ("50", 50.0),
    "--max-interval": ("60", 60.0),
    "--listen": ("127.0.0.1:0", "127.0.0.1:0"),
    "--token-file": ("t", Path("t")),
    "--insecure-public": (None, True),
    "--allow-host": ("other.example", ["other.example"]),
    "--max-connections": ("70", 70),
    "--state-change-certificate": ("c.pem", [Path("c.pem")]),
    "--state-change-client-id": ("app2", "app2"),
    "--log-format": ("plain", "plain"),
    "--tenant-series": ("all", "all"),
}


def dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def serve_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_serve_help_names_every_options_variable(capsys) -> None:
    """Every option serve's help shows has its variable beside it, and the table above
    has every one of them (so a new option of serve is tested here too)."""
    text = serve_help(capsys)
    options = re.findall(r"^  (--[a-z-]+)", text, re.MULTILINE)  # all but -h, --help
    assert set(options) == set(SERVE_VARIABLES)
    named = dict(zip(options, re.findall(r"\[env:\s+(TENANTBOARD_[A-Z_]+)\]", text), strict=True))
    assert named == {flag: variable for flag, (variable, _, _) in SERVE_VARIABLES.items()}


@pytest.mark.parametrize("flag", list(SERVE_VARIABLES))
def test_each_serve_option_is_read_from_its_variable(flag: str, monkeypatch) -> None:
    variable, text, value = SERVE_VARIABLES[flag]
    monkeypatch.setenv(variable, text)
    assert getattr(parse_arguments(["serve"]), dest(flag)) == value


SHARED = [option.flag for option in GLOBAL_OPTIONS if option.flag in SERVE_VARIABLES]


@pytest.mark.parametrize(
    ("flag", "where"),
    [*((flag, "after") for flag in SERVE_VARIABLES), *((flag, "before") for flag in SHARED)],
)
def test_the_command_line_wins_over_the_variable(flag: str, where: str, monkeypatch) -> None:
    variable, text, _ = SERVE_VARIABLES[flag]
    monkeypatch.setenv(variable, "0" if flag == "--insecure-public" else text)
    given, value = COMMAND_LINE[flag]
    option = [flag] if given is None else [flag, given]
    argv = ["serve", *option] if where == "after" else [*option, "serve"]
    assert getattr(parse_arguments(argv), dest(flag)) == value


def test_a_bad_variable_is_not_read_when_the_option_is_given(monkeypatch) -> None:
    monkeypatch.setenv("TENANTBOARD_MAX_CONNECTIONS", "lots")
    monkeypatch.setenv("TENANTBOARD_CONCURRENCY", "0")
    args = parse_arguments(["--concurrency", "2", "serve", "--max-connections", "9"])
    assert (args.concurrency, args.max_connections) == (2, 9)


def test_an_empty_variable_sets_nothing(monkeypatch) -> None:
    """An EnvironmentFile's ``TENANTBOARD_LISTEN=`` line leaves the default."""
    for variable, _, _ in SERVE_VARIABLES.values():
        monkeypatch.setenv(variable, " ")
    args = parse_arguments(["serve"])
    assert args.listen == "127.0.0.1:9464" and args.allow_host == []
    assert args.config is None and args.concurrency is None and not args.insecure_public


@pytest.mark.parametrize(("text", "value"), [("1", True), ("TRUE", True), ("off", False)])
def test_a_switch_is_yes_or_no(text: str, value: bool, monkeypatch) -> None:
    monkeypatch.setenv("TENANTBOARD_INSECURE_PUBLIC", text)
    assert parse_arguments(["serve"]).insecure_public is value


BAD_SERVE_VARIABLES = [
    (
        "TENANTBOARD_MAX_CONNECTIONS",
        "lots",
        'serve: TENANTBOARD_MAX_CONNECTIONS="lots" in the environment: "lots" is not a whole '
        "number",
    ),
    (
        "TENANTBOARD_MAX_CONNECTIONS",
        "0",
        'serve: TENANTBOARD_MAX_CONNECTIONS="0" in the environment: must be at least 1',
    ),
    (
        "TENANTBOARD_LOG_FORMAT",
        "xml",
        'TENANTBOARD_LOG_FORMAT="xml" in the environment: "xml" is not one of plain, json',
    ),
    ("TENANTBOARD_INSECURE_PUBLIC", "maybe", '"maybe" is neither yes nor no'),
    ("TENANTBOARD_TIMEOUT", "-1", 'TENANTBOARD_TIMEOUT="-1" in the environment: must be'),
    # found once the command reads it: the message says where it came from
    (
        "TENANTBOARD_LISTEN",
        "nowhere",
        "--listen 'nowhere': expected HOST:PORT, e.g. 127.0.0.1:9464 (--listen is "
        "TENANTBOARD_LISTEN in the environment)",
    ),
    (
        "TENANTBOARD_LISTEN",
        "0.0.0.0:9464",
        "not a loopback address: give --token-file FILE so that only those who have the token "
        "can read it, or --insecure-public to allow everyone (--listen is TENANTBOARD_LISTEN "
        "in the environment)",
    ),
    (
        "TENANTBOARD_ALLOW_HOST",
        "ok.example,not a name",
        "(--allow-host is TENANTBOARD_ALLOW_HOST in the environment)",
    ),
    (
        "TENANTBOARD_BASE_URL",
        "http://example.com",
        "plain http is only allowed to a loopback address (--base-url is TENANTBOARD_BASE_URL "
        "in the environment)",
    ),
]


@pytest.mark.parametrize(("variable", "text", "message"), BAD_SERVE_VARIABLES)
def test_a_bad_variable_is_a_usage_error_that_names_it(
    variable: str, text: str, message: str, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(tmp_path / "tenants.toml"))
    monkeypatch.setenv(variable, text)
    assert main(["serve"]) == 64
    out, err = capsys.readouterr()
    assert message in err and out == "" and "Traceback" not in err
    assert not (tmp_path / "tenants.toml").exists()


def test_check_answers_unknown_naming_the_variable(monkeypatch, capsys) -> None:
    monkeypatch.setenv("TENANTBOARD_CONCURRENCY", "many")
    assert main(["check", "Cust1"]) == 3
    out, _ = capsys.readouterr()
    assert out.startswith(
        'TENANTBOARD UNKNOWN - TENANTBOARD_CONCURRENCY="many" in the environment: "many" is not '
        "a whole number"
    )


def test_a_variable_is_read_only_by_the_commands_that_use_its_option(
    monkeypatch, capsys, tmp_path
) -> None:
    """TENANTBOARD_CONCURRENCY is for the checking commands: `list` never reads it, and
    the board's modes are said on the command line only."""
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(tmp_path / "tenants.toml"))
    for variable in ("TENANTBOARD_CONCURRENCY", "TENANTBOARD_LISTEN", "TENANTBOARD_BASE_URL"):
        monkeypatch.setenv(variable, "bad")
    assert main(["list"]) == 0
    monkeypatch.delenv("TENANTBOARD_CONCURRENCY")
    monkeypatch.setenv("TENANTBOARD_ATTACH", "http://127.0.0.1:9464")
    monkeypatch.setenv("TENANTBOARD_DEMO", "1")
    monkeypatch.setenv("TENANTBOARD_BASE_URL", "http://127.0.0.1:1")
    args = parse_arguments([])
    assert args.attach is None and args.demo is False
    assert parse_arguments(["--demo"]).base_url is None  # the demo asks nobody


def test_the_shared_options_variables_reach_every_command_that_uses_them(
    monkeypatch, capsys, tmp_path
) -> None:
    config, data = tmp_path / "env.toml", tmp_path / "data"
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(config))
    monkeypatch.setenv("TENANTBOARD_DATA_DIR", str(data))
    monkeypatch.setenv("TENANTBOARD_TIMEOUT", "2.5")
    assert main(["add", "Cust3"]) == 0 and "Cust3" in config.read_text()
    assert parse_arguments(["check"]).timeout == 2.5
    assert parse_arguments([]).timeout == 2.5  # the board
    capsys.readouterr()
    assert main(["paths"]) == 0
    out = capsys.readouterr().out
    assert f"tenant file:  {config}" in out
    assert re.search(rf"history:\s+{re.escape(str(data))}/boards/env-\w+/history.sqlite3", out)
    assert re.search(rf"remembered:\s+{re.escape(str(data))}/boards/env-\w+/ui-state.json", out)
    # given on the command line, --data-dir wins
    assert main(["paths", "--data-dir", str(tmp_path / "mine")]) == 0
    assert f"history:      {tmp_path / 'mine'}/boards/env-" in capsys.readouterr().out


def test_every_use_of_the_data_folder_goes_through_data_dir(tmp_path) -> None:
    """The command line decides the data folder in one place (history_for, data_dir_for),
    so no command forgets --data-dir and $TENANTBOARD_DATA_DIR."""
    tree = ast.parse(CLI.read_text(encoding="utf-8"))
    calls = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            called = (
                node.func.id
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                else ""
            )
            if called in ("history_path", "board_data_dir", "default_data_dir"):
                calls.append(function.name)
    assert sorted(calls) == ["data_dir_for", "history_for"]


def test_a_usage_error_about_an_option_given_on_the_command_line_names_no_variable(
    monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(tmp_path / "tenants.toml"))
    monkeypatch.setenv("TENANTBOARD_LISTEN", "127.0.0.1:0")
    monkeypatch.setenv("TENANTBOARD_LOG_FORMAT", "json")
    assert main(["serve", "--listen", "0.0.0.0:1"]) == 64
    err = capsys.readouterr().err
    assert "--listen 0.0.0.0 is not a loopback address" in err and "environment" not in err


def test_every_variable_is_in_the_docs() -> None:
    """docs/commands.md's table names the variable of every option read from one, for
    every command (a new command's or option's variable is documented there too)."""
    from tenantboard.cli import COMMANDS, command_variables

    docs = (CLI.parents[2] / "docs" / "commands.md").read_text(encoding="utf-8")
    table = docs.split("## Options from environment variables")[1].split("\n## ")[0]
    read = {
        variable
        for command in [*COMMANDS, ""]
        if command != "board"
        for variable in command_variables(command).values()
    }
    assert read == set(re.findall(r"`(TENANTBOARD_[A-Z_]+)`", table))
