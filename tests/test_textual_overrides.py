"""The Textual private parts tenantboard relies on are still there, in the shape we use.

An upgrade of Textual that removes or changes one fails here, naming the hook, before
it fails on an operator's screen.
"""

from __future__ import annotations

import pytest
import textual

from tenantboard.ui.textual_overrides import HOOKS, VERIFIED_TEXTUAL, broken_hooks


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
