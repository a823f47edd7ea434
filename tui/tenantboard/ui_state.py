"""Choices the board remembers between runs (sort, theme, panels) and when it last ran."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from tenantboard.files import atomic_write


@dataclass(slots=True)
class UiState:
    """Choices the board remembers between runs (not configuration: that is the tenant file)."""

    sort: str = "list"
    theme: str | None = None
    attention_only: bool = False
    log_open: bool = False
    #: Toasts for state changes (the change line and the event log always tell them).
    notify_changes: bool = True
    last_seen: datetime | None = None

    def copy(self) -> UiState:
        return replace(self)


def load_ui_state(path: Path | None) -> UiState:
    if path is None:
        return UiState()
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        data = json.loads(path.read_text(encoding="utf-8"))
        last_seen = data.get("last_seen")
        return UiState(
            sort=str(data.get("sort", "list")),
            theme=str(data["theme"]) if data.get("theme") else None,
            attention_only=bool(data.get("attention_only", False)),
            log_open=bool(data.get("log_open", False)),
            notify_changes=bool(data.get("notify_changes", True)),
            last_seen=datetime.fromisoformat(last_seen) if last_seen else None,
        )
    return UiState()


def save_ui_state(path: Path | None, state: UiState) -> None:
    if path is None:
        return
    data = asdict(state)
    data["last_seen"] = state.last_seen.isoformat() if state.last_seen else None
    with contextlib.suppress(Exception):
        atomic_write(path, json.dumps(data, indent=2) + "\n")
