"""The import graph runs one way, by package: every rule tui/ARCHITECTURE.md states is here.

Imports are read from the source (everything a module imports, at its top or inside a
function; ``TYPE_CHECKING`` blocks left out), so a new module is checked the moment it
exists. Each rule is a sentence and a check: the sentences are the bullets of
ARCHITECTURE.md's "The rules" section, word for word, and a test keeps the two in step.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tui" / "tenantboard"
ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"

#: The bottom: what everything else stands on; they import nothing of ours but each other.
BOTTOM = {"errors", "sanitize", "schedule", "clock", "paths", "files", "tenant", "lease", "netaddr"}
#: The modules at the root that speak HTTP (the client, its transport, the feed of an
#: attached board, the alert hooks' webhooks, the simulator) and the command line.
HTTP_AT_THE_ROOT = {"client", "aiohttp_transport", "remote", "notify", "cli"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module name imported (not under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
    return found


def all_modules() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def ours(imported: str, modules: set[str]) -> str | None:
    """Our module that ``imported`` names (``tenantboard.history.db.Mark`` ->
    ``history.db``), or None for anything not ours."""
    if not imported.startswith("tenantboard."):
        return None
    name = imported.removeprefix("tenantboard.")
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def wing(module: str) -> str:
    """``ui``, ``serve``, ``history``, ``simulator``, or ``root``."""
    top = module.split(".")[0]
    return top if "." in module or top in ("ui", "serve", "history", "simulator") else "root"


def foreign(imports: set[str], *prefixes: str) -> list[str]:
    return sorted(
        name for name in imports if any(name == p or name.startswith(p + ".") for p in prefixes)
    )


def ours_in(imports: set[str], modules: set[str]) -> set[str]:
    return {target for name in imports if (target := ours(name, modules)) is not None}


# -- the rules ---------------------------------------------------------------------------------

Problems = list[str]


@dataclass(frozen=True)
class Rule:
    text: str
    check: Callable[[dict[str, set[str]]], Problems]


def _no_textual_outside_ui(graph: dict[str, set[str]]) -> Problems:
    return [
        f"{module} imports {name}"
        for module, imports in graph.items()
        if wing(module) != "ui"
        for name in foreign(imports, "textual", "rich")
    ]


def _no_server_outside_serve(graph: dict[str, set[str]]) -> Problems:
    return [
        f"{module} imports {name}"
        for module, imports in graph.items()
        if wing(module) != "serve"
        for name in foreign(imports, "aiohttp.web", "prometheus_client")
    ]


def _http_only_where_named(graph: dict[str, set[str]]) -> Problems:
    allowed = HTTP_AT_THE_ROOT
    return [
        f"{module} imports {name}"
        for module, imports in graph.items()
        if wing(module) in ("root", "history") and module not in allowed
        for name in foreign(imports, "httpx", "httpcore", "aiohttp")
    ]


def _faces_apart(graph: dict[str, set[str]]) -> Problems:
    modules = set(graph)
    problems = []
    for module, imports in graph.items():
        for target in ours_in(imports, modules):
            target_wing, own = wing(target), wing(module)
            if target_wing in ("ui", "serve") and own != target_wing and module != "cli":
                problems.append(f"{module} imports {target}")
    return problems


def _history_below_the_session(graph: dict[str, set[str]]) -> Problems:
    modules = set(graph)
    above = {"session", "cli", "__main__"}
    return [
        f"{module} imports {target}"
        for module, imports in graph.items()
        if wing(module) == "history"
        for target in ours_in(imports, modules)
        if target in above or wing(target) in ("ui", "serve")
    ]


def _the_bottom(graph: dict[str, set[str]]) -> Problems:
    modules = set(graph)
    return [
        f"{module} imports {target}"
        for module in BOTTOM
        for target in ours_in(graph[module], modules)
        if target not in BOTTOM
    ]


def _no_cycles(graph: dict[str, set[str]]) -> Problems:
    modules = set(graph)
    edges = {module: ours_in(imports, modules) - {module} for module, imports in graph.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(module: str, path: list[str]) -> bool:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycle.extend([*path, module, target])
                return True
            if state.get(target) is None and visit(target, [*path, module]):
                return True
        state[module] = 2
        return False

    for module in sorted(edges):
        # A package's __init__ and its modules import each other by design: skip packages.
        if module in ("ui", "serve", "history", "simulator", ""):
            continue
        if state.get(module) is None and visit(module, []):
            return [" -> ".join(cycle)]
    return []


def picture_bands() -> list[set[str]]:
    """The picture in ARCHITECTURE.md's "The shape", top band first: the modules (``x.py``)
    and wings and packages (``x/``) each band names; bands end at lines of only ``|``,
    ``\\`` and ``/``."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    picture = text.split("## The shape", 1)[1].split("```", 2)[1]
    bands: list[set[str]] = [set()]
    for line in picture.splitlines():
        if line.strip() and not line.strip(" |\\/"):
            bands.append(set())
        else:
            bands[-1].update(re.findall(r"\b(\w+)(?:\.py\b|/)", line))
    return [band for band in bands if band]


def _by_the_picture(graph: dict[str, set[str]]) -> Problems:
    bands = picture_bands()
    band_of = {name: depth for depth, band in enumerate(bands) for name in band}
    modules = set(graph)

    def depth(module: str) -> int | None:
        return band_of.get(module.split(".")[0])

    problems = [
        f"{module} is not in the picture"
        for module in sorted(modules)
        if module not in ("", "__main__") and depth(module) is None
    ]
    for module, imports in graph.items():
        own = depth(module)
        for target in ours_in(imports, modules):
            theirs = depth(target)
            if own is not None and theirs is not None and theirs < own:
                problems.append(f"{module} imports {target}, from a band above it")
    return problems


RULES = [
    Rule("Nothing outside `ui/` imports Textual or Rich.", _no_textual_outside_ui),
    Rule(
        "Nothing outside `serve/` imports aiohttp's server or prometheus-client.",
        _no_server_outside_serve,
    ),
    Rule(
        "At the root and in `history/`, only `client.py`, `aiohttp_transport.py`, "
        "`remote.py`, `notify.py` and `cli.py` import an HTTP library (httpx, aiohttp).",
        _http_only_where_named,
    ),
    Rule(
        "The faces stay apart: `ui/` and `serve/` import nothing of each other, and nothing "
        "else imports them but `cli.py`.",
        _faces_apart,
    ),
    Rule(
        "`history/` imports nothing from `session.py`, `cli.py`, `ui/` or `serve/`.",
        _history_below_the_session,
    ),
    Rule(
        "The bottom modules (`errors`, `sanitize`, `schedule`, `clock`, `paths`, `files`, "
        "`tenant`, `lease`, `netaddr`) import nothing of ours but each other.",
        _the_bottom,
    ),
    Rule("There are no import cycles between our modules.", _no_cycles),
    Rule(
        "Every module is in the picture above, and imports only from its own band of it or "
        "the bands below.",
        _by_the_picture,
    ),
]


def test_every_rule_holds() -> None:
    graph = all_modules()
    broken = {rule.text: problems for rule in RULES if (problems := rule.check(graph))}
    assert broken == {}


def stated_rules() -> list[str]:
    """The bullets of ARCHITECTURE.md's "The rules" section, each joined into one line."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## The rules", 1)[1].split("\n## ", 1)[0]
    bullets: list[str] = []
    for line in section.splitlines():
        if line.startswith("- "):
            bullets.append(line[2:].strip())
        elif bullets and line.startswith("  "):
            bullets[-1] += " " + line.strip()
        elif bullets and not line.strip():
            break  # the list ends at its first blank line
    return bullets


def test_architecture_states_exactly_the_rules_checked_here() -> None:
    assert stated_rules() == [rule.text for rule in RULES]


def test_a_broken_rule_is_caught() -> None:
    """The checks see what they claim to: a board module importing the server, a history
    module importing the session and a cycle are each found."""
    graph = all_modules()
    graph["ui.widgets.table"] = graph["ui.widgets.table"] | {"tenantboard.serve.server"}
    graph["history.db"] = graph["history.db"] | {"tenantboard.session"}
    graph["errors"] = graph["errors"] | {"tenantboard.cli", "rich.text"}
    broken = [rule.text for rule in RULES if rule.check(graph)]
    assert broken == [
        RULES[0].text,  # errors imports rich
        RULES[3].text,  # ui imports serve
        RULES[4].text,  # history imports the session
        RULES[5].text,  # the bottom imports cli
        RULES[6].text,  # errors -> cli -> ... -> errors
        RULES[7].text,  # history below the session, errors below cli
    ]


def test_the_key_table_in_the_docs_comes_from_the_bindings() -> None:
    from tenantboard.ui.screens.board_keys import key_table_markdown

    doc = (PACKAGE.parent.parent / "docs" / "board.md").read_text(encoding="utf-8")
    start = doc.index("\n", doc.index("<!-- keys:")) + 1
    table = doc[start : doc.index("<!-- /keys -->")].strip()
    assert table == key_table_markdown(), (
        "docs/board.md's key table is out of step with BoardScreen.BINDINGS; replace it with:\n"
        + key_table_markdown()
    )


def test_the_board_starts_without_importing_what_only_other_commands_need() -> None:
    """aiohttp's client and server and prometheus-client take most of a second to import;
    the board's first paint must not wait for them (the transport and the alert hooks
    import aiohttp with their first request)."""
    import subprocess
    import sys

    probe = (
        "import sys, tenantboard.cli, tenantboard.ui.app; "
        "print(sorted(m for m in ('aiohttp', 'prometheus_client', 'tenantboard.serve') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
