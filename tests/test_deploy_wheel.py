"""The wheel and the sdist a team installs from (`python -m build`; docs/deploy.md installs
the wheel with pipx): they carry the board's styles and the status page's files, and the
wheel, installed into a fresh virtual environment, runs.

Offline: the build uses this environment's setuptools (--no-isolation), and the fresh
environment finds the dependencies in this one (a .pth line) while tenantboard itself
comes from the wheel only.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantboard import __version__
from tests.deploy_helpers import ROOT, process_env, start_simulate, stop

PACKAGE = ROOT / "tui" / "tenantboard"
#: The files besides the code that the package reads at run time.
DATA_FILES = sorted(
    str(path.relative_to(PACKAGE.parent))
    for pattern in ("**/*.tcss", "serve/static/*", "py.typed")
    for path in PACKAGE.glob(pattern)
)


def run(*command: str | Path, **options) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=300, **options
    )
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the sdist), the wheel built from the sdist as `python -m build` does."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    (wheel,) = out.glob("tenantboard-*.whl")
    (sdist,) = out.glob("tenantboard-*.tar.gz")
    return wheel, sdist


def test_the_wheel_and_the_sdist_carry_the_styles_and_the_status_page(built) -> None:
    wheel, sdist = built
    assert DATA_FILES and any(name.endswith(".tcss") for name in DATA_FILES)
    assert {
        "tenantboard/serve/static/status.html",
        "tenantboard/serve/static/status.js",
    } <= set(DATA_FILES)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [name for name in names if name.endswith("entry_points.txt")]
        assert "tenantboard = tenantboard.cli:main" in archive.read(entry_points).decode()
    assert set(DATA_FILES) <= names
    with tarfile.open(sdist) as archive:
        inside = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"tui/{name}" for name in DATA_FILES} <= inside


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the wheel installed; its bin folder."""
    wheel, _ = built
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel
    )
    # the dependencies, from this environment (no network in tests): a path, not a site
    # folder, so this checkout's editable install of tenantboard is not picked up with them
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    Path(purelib.stdout.strip(), "dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    yield venv / "bin"


def test_the_installed_wheel_runs_from_its_own_files(installed: Path, tmp_path: Path) -> None:
    python = installed / "python"
    where = run(python, "-c", "import tenantboard; print(tenantboard.__file__)").stdout
    assert Path(where.strip()).is_relative_to(installed.parent)  # the wheel's, not ours
    # every requirement the wheel declares is met, and its data files are readable
    run(sys.executable, "-m", "pip", "--python", python, "check")
    page = "from tenantboard.serve.status_page import status_page; print(len(status_page().html))"
    assert int(run(python, "-c", page).stdout) > 1000
    styles = "from importlib.resources import files; print((files('tenantboard.ui') / 'board.tcss').read_text()[:200])"
    assert run(python, "-c", styles).stdout.strip()


def test_the_installed_command_checks_and_serves(installed: Path, tmp_path: Path) -> None:
    command = installed / "tenantboard"
    env = process_env(tmp_path)
    assert run(command, "--version", env=env).stdout.strip() == f"tenantboard {__version__}"
    simulate, url = start_simulate(tmp_path, "--slow-delay", "0", program=(str(command),))
    try:
        done = subprocess.run(
            [command, "check", "--base-url", url, "Cust1001", "Cust1008"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        stop(simulate)
    assert done.returncode == 2, done.stderr  # Nagios CRITICAL: Cust1008 is Suspended
    assert "Cust1001" in done.stdout and "Suspended" in done.stdout
    assert "--listen" in run(command, "serve", "--help", env=env).stdout
    assert "_python_argcomplete" in run(command, "completion", "bash", env=env).stdout
