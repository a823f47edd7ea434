"""The board's own files (remembered choices, event log) damaged on disk: the board
starts anyway, keeps the damaged file under a new name, says so, and what it writes
next survives a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tenantboard.eventlog import LoggedEvent
from tenantboard.files import set_aside
from tenantboard.ui_state import UiState, load_ui_state, read_ui_state, save_ui_state

YEAR_ONE_AT_PLUS_14 = "0001-01-01T00:00:00+14:00"


def _event(minute: int, key: str = "online:Cust1") -> LoggedEvent:
    at = datetime(2026, 3, 2, 9, minute, tzinfo=UTC)
    return LoggedEvent(at, key, "Acme", "state", "Running -> Suspended", "critical", True)


def _aside(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}.damaged-*"))


@pytest.mark.parametrize(
    "content",
    [
        "[" * 100_000 + "]" * 100_000,  # RecursionError in json
        json.dumps({"sort": "worst", "last_seen": YEAR_ONE_AT_PLUS_14}),  # OverflowError
        json.dumps({"sort": "worst", "last_seen": 12}),
        "{not json",
        "[1, 2]",
    ],
    ids=["nested-100000-deep", "year-1-at-plus-14", "time-not-text", "not-json", "not-an-object"],
)
def test_damaged_remembered_choices_are_set_aside_and_reported(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "ui-state.json"
    path.write_text(content)
    state, report = read_ui_state(path)
    assert state == UiState()
    (aside,) = _aside(tmp_path, "ui-state.json")
    assert aside.read_text() == content  # kept, not lost
    assert report is not None and str(aside) in report and "damaged" in report
    assert not path.exists()
    save_ui_state(path, UiState(sort="worst", last_seen=datetime(2026, 3, 2, tzinfo=UTC)))
    assert load_ui_state(path).sort == "worst"


def test_good_remembered_choices_are_read_and_nothing_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "ui-state.json"
    seen = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    save_ui_state(path, UiState(sort="name", theme="nord", last_seen=seen))
    assert read_ui_state(path) == (UiState(sort="name", theme="nord", last_seen=seen), None)
    assert read_ui_state(tmp_path / "missing.json") == (UiState(), None)
    assert _aside(tmp_path, "ui-state.json") == []


def test_an_old_event_log_with_damaged_lines_is_imported_without_them(tmp_path: Path) -> None:
    """The events.jsonl of earlier versions moves into the history database once: lines
    cut off, out of range or nested too deeply are skipped; the file is kept beside it."""
    from tenantboard.history.db import HistoryDB, import_event_log

    path = tmp_path / "events.jsonl"
    good = _event(1).to_json()
    bad_time = json.loads(good) | {"at": YEAR_ONE_AT_PLUS_14}
    deep = "[" * 100_000 + "]" * 100_000
    original = f"{good}\n{json.dumps(bad_time)}\n{deep}\n{_event(2).to_json()[:-25]}\n{_event(3).to_json()}"
    path.write_text(original)
    with HistoryDB.open(tmp_path / "history.sqlite3") as db:
        assert import_event_log(db, path) == 2
        assert [e.at.minute for e in db.events()] == [3, 1]
    assert (tmp_path / "events.jsonl.imported").read_text() == original


def test_set_aside_never_overwrites_an_earlier_damaged_copy(tmp_path: Path) -> None:
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    names = []
    for content in ("first", "second"):
        path = tmp_path / "ui-state.json"
        path.write_text(content)
        names.append(set_aside(path, now))
    assert [p.read_text() for p in names] == ["first", "second"]
    assert names[0].name == "ui-state.json.damaged-20260302T093000Z"
