"""Where tenantboard keeps things: the tenant file (config) and its own files (data)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

APP_NAME = "tenantboard"

#: Set by systemd for a unit with ``StateDirectory=`` (colon-separated if several).
SYSTEMD_STATE_ENV_VAR = "STATE_DIRECTORY"


def default_data_dir(given: Path | None = None) -> Path:
    """Where tenantboard keeps its own files: ``given`` (--data-dir, $TENANTBOARD_DATA_DIR:
    the command line reads both), else the state folder systemd made for the service
    ($STATE_DIRECTORY: deploy/systemd/tenantboard.service), else the platform's user data
    folder. Under ``ProtectSystem=strict`` the state folder is the one place it may write."""
    if given is not None:
        return Path(given).expanduser()
    state = os.environ.get(SYSTEMD_STATE_ENV_VAR, "").split(":")[0]
    if state:
        return Path(state)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def board_data_dir(tenant_file: Path, data_root: Path | None = None) -> Path:
    """The folder for what is kept about one tenant file (its history, event log and
    remembered choices), in ``data_root`` (else :func:`default_data_dir`'s): a board on
    another tenant file keeps its own."""
    resolved = tenant_file.expanduser().resolve()
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:10]
    return default_data_dir(data_root) / "boards" / f"{resolved.stem}-{digest}"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "tenants.toml"


def resolve_config_path(given: str | None) -> Path:
    """The tenant file ``given`` (--config, $TENANTBOARD_CONFIG: the command line reads
    both), else the one in the platform's config folder."""
    if given:
        return Path(given).expanduser()
    return default_config_path()


def history_path(config_path: Path, *, data_root: Path | None = None) -> Path:
    """The history database of one tenant file, in that file's own data folder (under
    ``data_root`` when given): two tenant files never share one, and a file always finds
    its own."""
    return board_data_dir(Path(config_path), data_root) / "history.sqlite3"
