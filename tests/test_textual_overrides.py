"""The Textual private parts tenantboard relies on are still there, in the shape we use.

An upgrade of Textual that removes or changes one fails here, naming the hook, before
it fails on an operator's screen.
"""

from __future__ import annotations

import ast
import inspect
import threading
import time
import types
from pathlib import Path

import pytest
import textual

import tenantboard.ui.textual_overrides as overrides
from tenantboard.ui.textual_overrides import HOOKS, VERIFIED_TEXTUAL, ExitDeadline, broken_hooks


def test_textual_is_the_version_the_overrides_were_verified_on() -> None:
    assert textual.__version__ == VERIFIED_TEXTUAL, (
        f"Textual {textual.__version__} is installed; textual_overrides.py was verified on "
        f"{VERIFIED_TEXTUAL}. Check every hook, re-run make bench, then move the pin."
    )


@pytest.mark.parametrize("hook", HOOKS, ids=[hook.name for hook in HOOKS])
def test_hook_is_still_there(hook) -> None:
    assert hook.check(), f"Textual's {hook.name} changed: {hook.used_by} relies on it"


def test_a_changed_hook_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.timer import Timer

    monkeypatch.delattr(Timer, "_tick")
    assert broken_hooks() == ["Timer._tick(next_timer, count)"]


# -- every private name the module touches has a hook -------------------------------------


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _foreign_bases(cls: type) -> list[type]:
    return [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] == "textual"]


def _textual_classes() -> set[type]:
    """Every Textual class the module imports or builds on, with their bases."""
    found: set[type] = set()
    for value in vars(overrides).values():
        if isinstance(value, type):
            if value.__module__.split(".")[0] == "textual":
                found.add(value)
            found.update(_foreign_bases(value))
    return found


def _defines(cls: type, name: str) -> bool:
    """Whether ``cls`` itself has ``name``: in its body, or set on self in its __init__."""
    if name in vars(cls):
        return True
    try:
        return "__init__" in vars(cls) and f"self.{name}" in inspect.getsource(cls.__init__)
    except (OSError, TypeError):
        return False


def textual_private_uses() -> set[frozenset[str]]:
    """Every private name of Textual's that textual_overrides.py reads, sets, calls or
    overrides, as the "Owner._name" spellings that could name it in a hook (an attribute of
    an object whose class the source does not say could be any Textual class's), and
    "textual._module" for every private module it imports. Found in the module's own
    source: a new use cannot go unchecked."""
    tree = ast.parse(Path(overrides.__file__).read_text(encoding="utf-8"))
    uses: set[frozenset[str]] = set()

    def owners(name: str, among: list[type] | set[type]) -> None:
        found = frozenset(f"{cls.__name__}.{name}" for cls in among if _defines(cls, name))
        if found:
            uses.add(found)

    def visit(node: ast.AST, cls: type | None) -> None:
        if isinstance(node, ast.ClassDef):
            cls = getattr(overrides, node.name)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("textual"):
            module = str(node.module)
            parts = module.split(".") + [alias.name for alias in node.names]
            uses.update(
                frozenset([".".join(parts[: i + 1])])
                for i, part in enumerate(parts)
                if _private(part)
            )
        private_method = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(
            node.name
        )
        if private_method and cls is not None:
            owners(node.name, _foreign_bases(cls))
        if isinstance(node, ast.Attribute) and _private(node.attr):
            value = node.value
            named = getattr(overrides, value.id, None) if isinstance(value, ast.Name) else None
            if isinstance(value, ast.Name) and value.id == "self":
                if cls is not None:
                    owners(node.attr, _foreign_bases(cls))
            elif isinstance(named, type):
                owners(node.attr, [named, *_foreign_bases(named)])
            elif isinstance(named, types.ModuleType):
                if named.__name__.split(".")[0] == "textual":
                    uses.add(frozenset([f"{named.__name__}.{node.attr}"]))
            else:
                owners(node.attr, _textual_classes())
        for child in ast.iter_child_nodes(node):
            visit(child, cls)

    visit(tree, None)
    return uses


def hooked_names() -> list[str]:
    """The hooks' names, "A._x/_y" spelled out as "A._x" and "A._y"."""
    names = []
    for hook in HOOKS:
        first, *rest = hook.name.split("/")
        prefix = first.split("(")[0].rsplit(".", 1)[0]
        names += [first, *(piece if "." in piece else f"{prefix}.{piece}" for piece in rest)]
    return names


def test_every_private_name_the_overrides_touch_has_a_hook() -> None:
    names = hooked_names()
    unchecked = sorted(
        " or ".join(sorted(use))
        for use in textual_private_uses()
        if not any(spelling in name for spelling in use for name in names)
    )
    assert not unchecked, f"textual_overrides.py uses {unchecked} without a hook in HOOKS"


def test_the_private_name_finder_finds_what_the_driver_reaches_into() -> None:
    uses = {spelling for use in textual_private_uses() for spelling in use}
    assert {"Driver._app", "Driver._loop", "LinuxDriver._writer_thread", "Timer._run"} <= uses
    assert {"textual._time", "textual.drivers._writer_thread"} <= uses
    assert not any("_signal_handlers" in use for use in uses)  # our own: not Textual's


@pytest.mark.parametrize(("began", "least", "most"), [(False, 0.0, 0.25), (True, 0.4, 2.0)])
def test_the_exit_deadline_waits_for_an_orderly_exit_that_has_begun(began, least, most) -> None:
    """A stuck loop gets ``loop_grace``; an exit the loop began (saving, hooks finishing)
    gets ``exit_grace`` more before the process is ended anyway."""
    given_up: list[int] = []
    done = threading.Event()

    def give_up(code: int) -> None:
        given_up.append(code)
        done.set()

    deadline = ExitDeadline(give_up, loop_grace=0.05, exit_grace=0.5)
    deadline.start()
    asked = time.monotonic()
    deadline.ask(143)
    if began:
        deadline.began()
    assert done.wait(5)
    assert least <= time.monotonic() - asked <= most
    assert given_up == [143]
