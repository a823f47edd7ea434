"""Hermetic fixtures: no test touches the network or the developer's real config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tenantboard.engine import Clock

FIXED_NOW = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def hermetic_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every platformdirs folder and our own variables at a temp folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    for name in ("TENANTBOARD_CONFIG", "TENANTBOARD_BASE_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return home


class FakeClock(Clock):
    """Monotonic and wall time that move only when a test says so."""

    def __init__(self, start: datetime = FIXED_NOW) -> None:
        self._wall = start
        self._mono = 1000.0

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self._mono += seconds
        self._wall += timedelta(seconds=seconds)

    @property
    def epoch(self) -> float:
        return self._wall.timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
