"""Choices the board remembers between runs (sort, theme, panels) and when it last ran."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tenantboard.files import FileError, atomic_write, set_aside, stored_time


@dataclass(slots=True)
class UiState:
    """Choices the board remembers between runs (not configuration: that is the tenant file)."""

    sort: str = "list"
    theme: str | None = None
    attention_only: bool = False
    log_open: bool = False
    #: Toasts for state changes (the change line and the event log always tell them).
    notify_changes: bool = True
    #: The "Up 24h" column (off by default).
    show_uptime: bool = False
    last_seen: datetime | None = None

    def copy(self) -> UiState:
        return replace(self)


def load_ui_state(path: Path | None) -> UiState:
    """The remembered choices, or the defaults; a damaged file is set aside."""
    return read_ui_state(path)[0]


def read_ui_state(path: Path | None) -> tuple[UiState, str | None]:
    """The remembered choices and, when the file could not be used, what happened to it
    (to show the operator). A damaged file (not JSON, nested too deep, a time out of
    range, wrong types) is kept under a new name, so the next save starts afresh."""
    if path is None:
        return UiState(), None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UiState(), None
    except UnicodeDecodeError as exc:
        return UiState(), _set_aside(path, f"not UTF-8 ({exc.reason})")
    except OSError as exc:
        return UiState(), f"remembered choices not read: {path}: {exc.strerror or exc}"
    try:
        return _parse(json.loads(text)), None
    except RecursionError:
        return UiState(), _set_aside(path, "nested too deeply")
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        return UiState(), _set_aside(path, str(exc)[:120])


def _parse(data: Any) -> UiState:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    last_seen = data.get("last_seen")
    return UiState(
        sort=str(data.get("sort", "list")),
        theme=str(data["theme"]) if data.get("theme") else None,
        attention_only=bool(data.get("attention_only", False)),
        log_open=bool(data.get("log_open", False)),
        notify_changes=bool(data.get("notify_changes", True)),
        show_uptime=bool(data.get("show_uptime", False)),
        last_seen=stored_time(last_seen) if last_seen else None,
    )


def _set_aside(path: Path, why: str) -> str:
    try:
        aside = set_aside(path)
    except FileError as exc:
        return f"remembered choices damaged ({why}) and not set aside: {exc.reason}"
    return f"remembered choices damaged ({why}); set aside as {aside}, starting afresh"


def save_ui_state(path: Path | None, state: UiState) -> None:
    if path is None:
        return
    data = asdict(state)
    data["last_seen"] = state.last_seen.isoformat() if state.last_seen else None
    with contextlib.suppress(Exception):
        atomic_write(path, json.dumps(data, indent=2) + "\n", private=True)
