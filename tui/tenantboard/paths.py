"""Where tenantboard keeps things: the tenant file (config) and its own files (data)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

APP_NAME = "tenantboard"
CONFIG_ENV_VAR = "TENANTBOARD_CONFIG"


#: Where tenantboard keeps its own files (the history, remembered choices), if set.
DATA_DIR_ENV_VAR = "TENANTBOARD_DATA_DIR"
#: Set by systemd for a unit with ``StateDirectory=`` (colon-separated if several).
SYSTEMD_STATE_ENV_VAR = "STATE_DIRECTORY"


def default_data_dir() -> Path:
    """$TENANTBOARD_DATA_DIR, else the state folder systemd made for the service
    ($STATE_DIRECTORY: deploy/systemd/tenantboard.service), else the platform's user data
    folder. Under ``ProtectSystem=strict`` the state folder is the one place it may write."""
    explicit = os.environ.get(DATA_DIR_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get(SYSTEMD_STATE_ENV_VAR, "").split(":")[0]
    if state:
        return Path(state)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def board_data_dir(tenant_file: Path) -> Path:
    """The folder for what the board keeps about one tenant file (its event log, its
    remembered choices): a board on another tenant file keeps its own."""
    resolved = tenant_file.expanduser().resolve()
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:10]
    return default_data_dir() / "boards" / f"{resolved.stem}-{digest}"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "tenants.toml"


def resolve_config_path(option: str | None) -> Path:
    """--config wins, then $TENANTBOARD_CONFIG, then the platform's config folder."""
    if option:
        return Path(option).expanduser()
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return default_config_path()


def history_path(config_path: Path, data_dir: Path | None = None) -> Path:
    """The history database of one tenant file, in that file's own data folder (or, given
    ``data_dir``, named there after the file's resolved path): two tenant files never share
    one, and a file always finds its own."""
    if data_dir is None:
        return board_data_dir(Path(config_path)) / "history.sqlite3"
    resolved = str(Path(config_path).expanduser().resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:12]
    return data_dir / f"history-{digest}.sqlite3"
