"""The Textual private parts tenantboard relies on are still there, in the shape we use.

An upgrade of Textual that removes or changes one fails here, naming the hook, before
it fails on an operator's screen.
"""

from __future__ import annotations

import threading
import time

import pytest
import textual

from tenantboard.textual_overrides import HOOKS, VERIFIED_TEXTUAL, ExitDeadline, broken_hooks


def test_textual_is_the_version_the_overrides_were_verified_on() -> None:
    assert textual.__version__ == VERIFIED_TEXTUAL, (
        f"Textual {textual.__version__} is installed; textual_overrides.py was verified on "
        f"{VERIFIED_TEXTUAL}. Check every hook, re-run make bench, then move the pin."
    )


@pytest.mark.parametrize("hook", HOOKS, ids=[hook.name for hook in HOOKS])
def test_hook_is_still_there(hook) -> None:
    assert hook.check(), f"Textual's {hook.name} changed: {hook.used_by} relies on it"


def test_a_changed_hook_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.app import App

    monkeypatch.delattr(App, "_start_widget")
    assert broken_hooks() == ["App._start_widget"]


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
