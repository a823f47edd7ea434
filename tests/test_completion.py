"""Shell completion: what TAB offers for a partial command line, asked in-process as the
shell asks (argcomplete's COMP_LINE, COMP_POINT and _ARGCOMPLETE), and through the printed
script in a real bash (and zsh, where it is installed)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tenantboard.cli import COMMANDS, complete_command_line, main
from tests.conftest import skip_unless_required

TENANTS = """\
[[tenants]]
context_id = "Cust1001"
label = "Acme"

[[tenants]]
context_id = "Cust1002"
env = "sod"

[[tenants]]
context_id = "Cust2001"

[[tenants]]
context_id = "Cust1001"
env = "stage"
"""
#: The console script `tenantboard` of this environment (what the shell code runs).
BIN = Path(sys.executable).parent


@pytest.fixture
def tenant_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "tenants.toml"
    config.write_text(TENANTS, encoding="utf-8")
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(config))
    return config


def candidates(
    line: str, monkeypatch: pytest.MonkeyPatch, *, shell: str = "bash", point: int | None = None
) -> list[str]:
    """What TAB offers at the end of ``line`` (or at ``point``), as the shell code asks."""
    monkeypatch.setenv("_ARGCOMPLETE", "1")
    monkeypatch.setenv("_ARGCOMPLETE_SHELL", shell)
    if shell == "zsh":  # zsh adds the space itself
        monkeypatch.setenv("_ARGCOMPLETE_SUPPRESS_SPACE", "1")
    monkeypatch.setenv("COMP_LINE", line)
    monkeypatch.setenv("COMP_POINT", str(len(line) if point is None else point))
    answer, exits = io.StringIO(), []
    complete_command_line(output_stream=answer, exit_method=exits.append)
    assert exits == [0]
    return [word.strip() for word in answer.getvalue().split("\v") if word]


def test_a_bare_tab_offers_every_command_and_no_option(monkeypatch) -> None:
    offered = candidates("tenantboard ", monkeypatch)
    assert set(offered) == set(COMMANDS) - {"board"}
    assert candidates("tenantboard ma", monkeypatch) == ["maintenance"]
    assert candidates("tenantboard maintenance ", monkeypatch) == ["start", "list", "end"]


def test_options_are_those_of_the_command_once_a_dash_is_typed(monkeypatch) -> None:
    assert candidates("tenantboard serve --l", monkeypatch) == ["--listen", "--log-format"]
    offered = candidates("tenantboard check --", monkeypatch)
    assert {"--env", "--json", "--config", "--timeout", "--respect-mutes"} <= set(offered)
    # not an option of check: hidden there, so not offered
    assert "--listen" not in offered and "--min-interval" not in offered
    assert "--demo" in candidates("tenantboard --d", monkeypatch)


def test_choices_and_environments(monkeypatch) -> None:
    assert candidates("tenantboard serve --log-format ", monkeypatch) == ["plain", "json"]
    assert candidates("tenantboard completion ", monkeypatch) == ["bash", "zsh"]
    environments = ["sod", "stage", "online", "qaonline"]
    assert candidates("tenantboard check --env ", monkeypatch) == environments
    assert candidates("tenantboard add Cust1 --env ", monkeypatch) == environments
    assert candidates("tenantboard maintenance start --env s", monkeypatch) == ["sod", "stage"]


def test_saved_context_ids_come_from_the_tenant_file(monkeypatch, tenant_file) -> None:
    assert candidates("tenantboard check ", monkeypatch) == ["Cust1001", "Cust1002", "Cust2001"]
    assert candidates("tenantboard check Cust1", monkeypatch) == ["Cust1001", "Cust1002"]
    for command in ("remove", "report", "history", "maintenance start"):
        assert candidates(f"tenantboard {command} Cust2", monkeypatch) == ["Cust2001"], command
    # only those in --env; not those already on the line
    assert candidates("tenantboard remove --env sod C", monkeypatch) == ["Cust1002"]
    assert candidates("tenantboard check --env stage ", monkeypatch) == ["Cust1001"]
    assert candidates("tenantboard check Cust1001 C", monkeypatch) == ["Cust1002", "Cust2001"]
    # a tenant to add is a new one: nothing saved is offered
    assert candidates("tenantboard add C", monkeypatch) == []


def test_the_tenant_file_is_the_one_the_line_names(monkeypatch, tenant_file, tmp_path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[[tenants]]\ncontext_id = "Cust77"\n', encoding="utf-8")
    assert candidates(f"tenantboard check --config {other} C", monkeypatch) == ["Cust77"]
    assert candidates(f"tenantboard --config {other} report C", monkeypatch) == ["Cust77"]


def test_a_tenant_file_that_cannot_be_read_offers_nothing_and_says_nothing(
    monkeypatch, tenant_file, capsys
) -> None:
    tenant_file.write_text("[[tenants]\nbroken", encoding="utf-8")
    assert candidates("tenantboard check C", monkeypatch) == []
    tenant_file.unlink()
    assert candidates("tenantboard check C", monkeypatch) == []
    assert capsys.readouterr() == ("", "")


def test_zsh_gets_each_candidate_with_its_description(monkeypatch, tenant_file) -> None:
    offered = candidates("tenantboard se", monkeypatch, shell="zsh")
    assert len(offered) == 1 and offered[0].startswith("serve:watch the tenant file")
    assert candidates("tenantboard check Cust2", monkeypatch, shell="zsh") == ["Cust2001:"]


def test_completion_prints_the_shell_code(capsys) -> None:
    assert main(["completion", "bash"]) == 0
    bash = capsys.readouterr().out
    assert "complete -o nospace -o default -o bashdefault -F _python_argcomplete tenantboard" in (
        bash
    )
    assert main(["completion", "zsh"]) == 0
    zsh = capsys.readouterr().out
    assert zsh.startswith("#compdef tenantboard") and "compdef _python_argcomplete" in zsh
    assert main(["completion", "fish"]) == 64


# -- what it costs ---------------------------------------------------------------------------------


def imported_by(code: str, env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split("\n")[-2].split())


def test_other_commands_do_not_load_completion(tmp_path, tenant_file) -> None:
    """`list` (and every other command) starts as fast as before: argcomplete is loaded
    only when the shell asks for candidates."""
    env = {**os.environ, "HOME": str(tmp_path)}
    modules = imported_by("from tenantboard.cli import main\nmain(['list'])", env)
    assert "tenantboard.cli" in modules and "argcomplete" not in modules


def test_completing_ids_loads_neither_the_board_nor_the_client(tmp_path, tenant_file) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "_ARGCOMPLETE": "1",
        "COMP_LINE": "tenantboard check --env online C",
        "COMP_POINT": "32",
    }
    code = (
        "from tenantboard.cli import complete_command_line\n"
        "complete_command_line(output_stream=sys.stdout, exit_method=print)"
    )
    modules = imported_by(f"import sys\n{code}", env)
    assert "argcomplete" in modules
    assert not {m for m in modules if m.split(".")[0] in ("textual", "rich", "httpx", "aiohttp")}


# -- in a real shell -------------------------------------------------------------------------------

#: Asks the completion function bash would call for a line, as bash does at the end of it.
BASH_ASK = r"""
eval "$(tenantboard completion bash)"
ask() {
    COMP_LINE="$1" COMP_POINT=${#1} COMP_TYPE=9
    read -ra COMP_WORDS <<< "$1"
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=()
    "$(complete -p tenantboard | sed -E 's/.* -F ([^ ]+) .*/\1/')" tenantboard \
        "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "${COMPREPLY[*]}"
}
"""


def shell(name: str) -> str:
    """The shell's path; the test is skipped without it (or without the console script the
    shell code runs), or fails where .ci/run requires the shells."""
    found = shutil.which(name)
    if found is None or not (BIN / "tenantboard").exists():
        skip_unless_required(
            f"needs {name} (apt-get install {name}) and the tenantboard console script",
            "TENANTBOARD_REQUIRE_SHELLS",
        )
    return str(found)


def shell_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def test_bash_completes_with_the_printed_script(tmp_path, tenant_file) -> None:
    bash = shell("bash")
    lines = [
        "tenantboard ch",
        "tenantboard check --env st",
        "tenantboard check Cust",
        "tenantboard remove --env sod C",
        "tenantboard serve --max-c",
    ]
    script = BASH_ASK + "".join(f"ask {line!r}\n" for line in lines)
    done = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        env=shell_env(tmp_path),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "check ",
        "stage ",
        "Cust1001 Cust1002 Cust2001",
        "Cust1002 ",
        "--max-connections ",
    ]


#: zsh's completion system, loaded as ~/.zshrc would, with the script; `_describe` (which
#: hands the candidates to the line editor, there only inside a completion widget) prints them.
ZSH_ASK = r"""
autoload -Uz compinit && compinit -u -d "$HOME/.zcompdump"
eval "$(tenantboard completion zsh)"
print -r -- "registered: $_comps[tenantboard]"
_describe() { print -r -- "${(@)${(P)2}%%:*}" }
ask() { BUFFER=$1; CURSOR=${#1}; words=(${(z)1}); _python_argcomplete }
"""


def test_zsh_completes_with_the_printed_script(tmp_path, tenant_file) -> None:
    zsh = shell("zsh")
    script = ZSH_ASK + "ask 'tenantboard ch'\nask 'tenantboard check Cust1'\n"
    done = subprocess.run(
        [zsh, "-f", "-c", script],
        capture_output=True,
        text=True,
        env=shell_env(tmp_path),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "registered: _python_argcomplete",
        "check",
        "Cust1001 Cust1002",
    ]
