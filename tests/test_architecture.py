"""The import graph runs one way: domain modules import no UI, no HTTP library, no edge.

Read from the source (module-level imports, ``TYPE_CHECKING`` blocks left out), so a new
module is checked the moment it exists. ``tui/ARCHITECTURE.md`` explains the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tui" / "tenantboard"

#: The Textual side: may import anything below it.
UI = {"app", "messages", "palette", "textual_overrides"}
UI_PACKAGES = {"screens", "widgets"}
#: Modules at the edge that talk to the outside world (HTTP, the command line, processes):
#: they may import HTTP libraries; nothing in the domain imports them.
EDGE = {
    "__main__",
    "cli",
    "client",
    "aiohttp_transport",
    "remote",
    "simulator",  # the package re-exports its transport and server
    "simulator.transport",
    "simulator.server",
    "notify",  # runs alert commands and posts webhooks
    "serve",  # the HTTP server
    "serve_connections",  # the HTTP server's connection cap
    "session",  # composes the client, the feed of an attached board, the hooks
    "watcher",  # serve's face on a session
    "metrics",  # serve's /metrics, from the watcher
}
FOREIGN_UI_OR_HTTP = ("textual", "rich", "httpx", "httpcore", "aiohttp")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def runtime_imports(path: Path) -> set[str]:
    """Top-level names imported at run time (not under ``if TYPE_CHECKING:``)."""
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
    return found


def all_modules() -> dict[str, set[str]]:
    return {module_name(path): runtime_imports(path) for path in PACKAGE.rglob("*.py")}


def is_ui(module: str) -> bool:
    return module in UI or module.split(".")[0] in UI_PACKAGES


def is_domain(module: str) -> bool:
    return module != "" and not is_ui(module) and module not in EDGE


def ours(imported: str) -> str | None:
    if imported == "tenantboard" or not imported.startswith("tenantboard."):
        return None
    return imported.removeprefix("tenantboard.")


def test_domain_modules_import_no_ui_and_no_http() -> None:
    problems = []
    for module, imports in all_modules().items():
        if not is_domain(module):
            continue
        for imported in imports:
            top = imported.split(".")[0]
            target = ours(imported)
            if top in FOREIGN_UI_OR_HTTP:
                problems.append(f"{module} imports {imported}")
            elif target is not None and not is_domain(target):
                problems.append(f"{module} imports {imported} (UI or edge)")
    assert problems == []


def test_the_tenant_module_is_the_bottom_layer() -> None:
    imports = all_modules()["tenant"]
    assert {name for name in imports if ours(name)} <= {
        "tenantboard.errors",
        "tenantboard.sanitize",
    }


def test_no_import_cycles_between_our_modules() -> None:
    graph = {
        module: {target for name in imports if (target := ours(name)) is not None}
        for module, imports in all_modules().items()
    }
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(module: str, path: list[str]) -> bool:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            target = target if target in graph else target.rsplit(".", 1)[0]
            if state.get(target) == 1:
                cycle.extend([*path, module, target])
                return True
            if state.get(target) is None and visit(target, [*path, module]):
                return True
        state[module] = 2
        return False

    for module in sorted(graph):
        if state.get(module) is None and visit(module, []):
            break
    assert cycle == []


def test_every_module_is_classified_the_way_its_imports_say() -> None:
    """A module that imports Textual must be listed as UI; an HTTP library, as an edge."""
    problems = []
    for module, imports in all_modules().items():
        tops = {name.split(".")[0] for name in imports}
        if "textual" in tops and not is_ui(module):
            problems.append(f"{module} imports textual but is not listed as UI")
    assert problems == []


def test_the_readme_key_table_comes_from_the_bindings() -> None:
    from tenantboard.screens.board_keys import key_table_markdown

    readme = (PACKAGE.parent.parent / "docs" / "board.md").read_text(encoding="utf-8")
    start = readme.index("\n", readme.index("<!-- keys:")) + 1
    table = readme[start : readme.index("<!-- /keys -->")].strip()
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
        "import sys, tenantboard.cli, tenantboard.app; "
        "print(sorted(m for m in ('aiohttp', 'prometheus_client', 'tenantboard.serve') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
