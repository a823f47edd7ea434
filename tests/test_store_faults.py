"""The tenant file when saving fails or several processes change it at once.

Faults are real: a tmpfs mounted read-only or filled up (root is needed to mount; the
tests say so and skip where it is not allowed, unless TENANTBOARD_REQUIRE_ROOT=1, as in
CI, makes that a failure), and twenty `tenantboard add` processes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tenantboard.cli import main
from tenantboard.tenant import make_tenant
from tenantboard.tenant_file import TenantStore

from .conftest import REQUIRE_ROOT, skip_unless_required

#: What the OS says: a read-only mount as root, a mode-0555 folder otherwise.
READ_ONLY = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
START = '# ours\n[[tenants]]\ncontext_id = "Cust1"\n'


def _mount_tmpfs(folder: Path, size: str) -> None:
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        skip_unless_required(
            f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}", REQUIRE_ROOT
        )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    _mount_tmpfs(folder, "256k")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A folder for the tenant file and a function that makes it read-only: chmod for an
    ordinary user; as root, who ignores mode bits, a tmpfs remounted read-only."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:

        def make_read_only() -> None:
            os.chmod(folder, 0o555)

        yield folder, make_read_only
        os.chmod(folder, 0o755)
        return
    _mount_tmpfs(folder, "256k")

    def remount_read_only() -> None:
        result = subprocess.run(
            ["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True
        )
        if result.returncode != 0:
            skip_unless_required(f"cannot remount read-only: {result.stderr.strip()}", REQUIRE_ROOT)

    try:
        yield folder, remount_read_only
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    """Write until the file system is full."""
    with (folder / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 4096)
    with pytest.raises(OSError) as full:
        (folder / "filler-2").write_bytes(b"\0" * 8192)
    assert full.value.errno == errno.ENOSPC


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", [["add", "Cust2"], ["remove", "Cust1"]])
def test_a_read_only_folder_is_reported_and_the_file_left_alone(
    read_only_folder, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    folder, make_read_only = read_only_folder
    config = folder / "tenants.toml"
    config.write_text(START)
    make_read_only()
    code, err = run_cli(capsys, "--config", str(config), *command)
    assert code == 78
    assert READ_ONLY in err and "Nothing was changed" in err
    assert "Traceback" not in err
    assert config.read_text() == START


def test_an_import_into_a_read_only_folder_is_reported(
    read_only_folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, make_read_only = read_only_folder
    config = folder / "tenants.toml"
    config.write_text(START)
    source = tmp_path / "list.csv"
    source.write_text("Cust2\nCust3\n")
    make_read_only()
    code, err = run_cli(capsys, "--config", str(config), "import", str(source))
    assert code == 78 and READ_ONLY in err
    assert config.read_text() == START


def test_a_full_disk_is_reported_and_the_file_left_alone(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = small_disk / "tenants.toml"
    config.write_text(START)
    _fill(small_disk)
    code, err = run_cli(capsys, "--config", str(config), "add", "Cust2", "--label", "x" * 100)
    assert code == 78 and "No space left on device" in err and "Nothing was changed" in err
    assert config.read_text() == START
    assert sorted(p.name for p in small_disk.iterdir() if not p.name.startswith("filler")) == [
        ".tenants.toml.lock",
        "tenants.toml",
    ]


def test_a_store_save_on_a_read_only_folder_is_a_store_error_for_the_board(
    read_only_folder,
) -> None:
    """The board's add form goes through the same store call; it must get StoreError."""
    from tenantboard.tenant_file import StoreError

    folder, make_read_only = read_only_folder
    config = folder / "tenants.toml"
    config.write_text(START)
    make_read_only()
    store = TenantStore(config)
    with pytest.raises(StoreError, match=READ_ONLY):
        store.add([make_tenant("Cust2")])
    with pytest.raises(StoreError, match=READ_ONLY):
        store.replace("online:Cust1", make_tenant("Cust1", "sod"))
    assert config.read_text() == START


def test_twenty_parallel_adds_all_end_up_in_the_file(tmp_path: Path) -> None:
    config = tmp_path / "tenants.toml"
    config.write_text(START)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tenantboard", "--config", str(config), "add", f"Cust{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=os.environ.copy(),
        )
        for n in range(100, 120)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read().decode()) for p in processes]
    for process in processes:
        process.stdout.close()
        process.stderr.close()
    assert [code for code, _ in outcomes] == [0] * 20, outcomes
    listed = {t.context_id for t in TenantStore(config).load().tenants}
    assert listed == {"Cust1"} | {f"Cust{n}" for n in range(100, 120)}
    assert config.read_text().startswith("# ours\n")


def test_a_test_that_ci_requires_fails_there_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(REQUIRE_ROOT, raising=False)
    with pytest.raises(pytest.skip.Exception):
        skip_unless_required("needs root", REQUIRE_ROOT)
    monkeypatch.setenv(REQUIRE_ROOT, "1")
    with pytest.raises(pytest.fail.Exception, match="TENANTBOARD_REQUIRE_ROOT=1 but needs root"):
        skip_unless_required("needs root", REQUIRE_ROOT)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_tenant_file_that_is_not_a_regular_file_is_refused_at_once(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO hung every reader until killed; a link to /dev/zero filled the memory."""
    from tenantboard.files import FileError

    path = tmp_path / "tenants.toml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(FileError, match="not a regular file"):
        TenantStore(path).load()


def test_a_tenant_file_far_too_large_is_refused(tmp_path: Path) -> None:
    from tenantboard.files import FileError
    from tenantboard.tenant_file import MAX_TENANT_FILE_BYTES

    path = tmp_path / "tenants.toml"
    with path.open("wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_TENANT_FILE_BYTES + 1)
    with pytest.raises(FileError, match="too large"):
        TenantStore(path).load()


def test_a_tenant_file_with_windows_line_ends_reads_and_saves_as_before(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_bytes(b'[[tenants]]\r\ncontext_id = "Cust1"\r\n')
    store = TenantStore(path)
    store.add([make_tenant("Cust2", "online")])
    assert b"\r" not in path.read_bytes()
    assert [t.context_id for t in store.load().tenants] == ["Cust1", "Cust2"]
