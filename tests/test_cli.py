"""The command line end to end, against the simulator served on a loopback socket."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantboard.cli import main
from tenantboard.simulator import Simulator, serve


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """`tenantboard simulate` in a thread: a real socket on 127.0.0.1."""
    ready = threading.Event()
    state: dict[str, object] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        state["loop"] = loop

        async def start() -> None:
            server = await serve(0, simulator=Simulator(slow_delay=0.2))
            state["port"] = server.sockets[0].getsockname()[1]
            state["server"] = server
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    yield f"http://127.0.0.1:{state['port']}"
    loop = state["loop"]
    loop.call_soon_threadsafe(loop.stop)  # type: ignore[attr-defined]
    thread.join(5)


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


def test_check_with_nothing_to_check_is_a_usage_error(capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "check", "--config", str(tmp_path / "none.toml"))
    assert code == 64 and "no tenants to check" in err


@pytest.mark.parametrize(
    "args",
    [
        ["check", "Cust1x"],
        ["check", "--concurrency", "0", "Cust1"],
        ["frobnicate"],
        ["check", "--env", "prod", "Cust1"],
        ["check", "--base-url", "http://example.com", "Cust1"],
        ["add", "bogus"],
    ],
)
def test_usage_errors_exit_64_with_a_message_not_a_traceback(capsys, args) -> None:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 64
    assert "Traceback" not in err and err.strip()


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


def test_a_bad_import_imports_nothing(capsys, tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    source = tmp_path / "many.txt"
    source.write_text("Cust1\nCust2\nnot-a-tenant\n")
    code, _, err = run_cli(capsys, "import", "--config", str(config), str(source))
    assert code == 78 and f"{source}:3:" in err
    assert not config.exists()


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
