from __future__ import annotations

import os
from pathlib import Path

import pytest

from tenantboard.paths import resolve_config_path
from tenantboard.tenant import Tenant, make_tenant
from tenantboard.tenant_file import (
    Settings,
    StoreError,
    TenantStore,
    parse_import_lines,
    without_known,
)

HAND_WRITTEN = """\
# My tenants -- keep this comment
[settings]
concurrency = 4  # be gentle

[[tenants]]
context_id = "Cust1"   # the big one
env = "online"
label = "Acme"

# staging copy below
[[tenants]]
context_id = "Cust2"
env = "stage"
"""


@pytest.fixture
def store(tmp_path: Path) -> TenantStore:
    path = tmp_path / "tenants.toml"
    path.write_text(HAND_WRITTEN)
    return TenantStore(path)


def test_reads_tenants_and_settings(store: TenantStore) -> None:
    loaded = store.load()
    assert loaded.tenants == [Tenant("Cust1", "online", "Acme"), Tenant("Cust2", "stage", "")]
    assert loaded.settings == Settings(concurrency=4)


def test_a_missing_file_is_an_empty_list(tmp_path: Path) -> None:
    loaded = TenantStore(tmp_path / "nope.toml").load()
    assert loaded.tenants == [] and loaded.settings == Settings()


def test_add_keeps_comments_and_order(store: TenantStore) -> None:
    store.add([make_tenant("cust3", "sod", "New")])
    text = store.path.read_text()
    assert text.startswith(HAND_WRITTEN.rstrip("\n"))
    assert "# the big one" in text and "# staging copy below" in text
    assert [t.context_id for t in store.load().tenants] == ["Cust1", "Cust2", "Cust3"]


def test_add_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    store = TenantStore(tmp_path / "deep" / "er" / "tenants.toml")
    store.add([make_tenant("Cust9")])
    assert store.load().tenants == [Tenant("Cust9", "online", "")]
    assert store.path.read_text().startswith("# tenantboard's tenant list")


def test_add_to_an_inline_array_file_falls_back_to_tomlkit(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('# inline\ntenants = [{context_id = "Cust1"}]\n')
    store = TenantStore(path)
    store.add([make_tenant("Cust2")])
    assert [t.context_id for t in store.load().tenants] == ["Cust1", "Cust2"]
    assert path.read_text().startswith("# inline")


def test_duplicates_are_refused_and_nothing_is_written(store: TenantStore) -> None:
    before = store.path.read_text()
    with pytest.raises(ValueError, match="already in the list"):
        store.add([make_tenant("Cust4"), make_tenant("CUST1", "online")])
    assert store.path.read_text() == before


def test_same_context_id_in_another_environment_is_a_different_tenant(store: TenantStore) -> None:
    store.add([make_tenant("Cust1", "sod")])
    assert len(store.load().tenants) == 3


def test_remove_keeps_other_comments(store: TenantStore) -> None:
    store.remove(["online:Cust1"])
    text = store.path.read_text()
    assert "# My tenants -- keep this comment" in text and "be gentle" in text
    assert store.load().tenants == [Tenant("Cust2", "stage", "")]


def test_replace_edits_in_place(store: TenantStore) -> None:
    store.replace("stage:Cust2", make_tenant("Cust2", "sod", "Renamed"))
    assert store.load().tenants[1] == Tenant("Cust2", "sod", "Renamed")
    assert "# staging copy below" in store.path.read_text()


def test_remove_of_an_unknown_tenant_changes_nothing(store: TenantStore) -> None:
    before = store.path.read_text()
    with pytest.raises(ValueError, match="not in the list"):
        store.remove(["online:Cust77"])
    assert store.path.read_text() == before


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[[tenants]]\ncontext_id = \n", 2, "not valid TOML"),
        (
            '\n\n[[tenants]]\ncontext_id = "Cust1"\n[[tenants]]\ncontext_id = "nope"\n',
            5,
            "not a context id",
        ),
        ('[[tenants]]\ncontext_id = "Cust1"\nenv = "prod"\n', 1, "not an environment"),
        (
            '[[tenants]]\ncontext_id = "Cust1"\n[[tenants]]\ncontext_id = "cust1"\n',
            3,
            "listed twice",
        ),
        ("[[tenants]]\ncontext_id = 5\n", 1, "are strings"),
        ('[[tenants]]\ncontext_id = "Cust1"\ncolour = "red"\n', 1, "unknown key"),
        ("[settings]\nconcurency = 3\n", None, "unknown setting 'concurency'"),
        ("[settings]\nconcurrency = 0\n", None, "between 1 and 256"),
        ("[settings]\nmin_interval = 60\nmax_interval = 30\n", None, "at least min_interval"),
        ('[settings]\ntimeout = "10"\n', None, "wrong type"),
        ('tenants = "Cust1"\n', None, "array of tables"),
        ("colour = 1\n", None, "unknown top-level"),
    ],
)
def test_a_bad_file_is_reported_with_path_line_and_reason_and_left_alone(
    tmp_path: Path, text: str, line: int | None, reason: str
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    store = TenantStore(path)
    with pytest.raises(StoreError) as caught:
        store.load()
    assert caught.value.line == line
    assert reason in str(caught.value)
    assert str(path) in str(caught.value)
    with pytest.raises(StoreError):
        store.add([make_tenant("Cust500")])
    assert path.read_text() == text


def test_a_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_bytes(b"\xff\xfe[[tenants]]")
    with pytest.raises(StoreError, match="not UTF-8"):
        TenantStore(path).load()


def test_writes_are_atomic_and_keep_the_file_mode(store: TenantStore) -> None:
    os.chmod(store.path, 0o600)
    inode_before = store.path.stat().st_ino
    store.add([make_tenant("Cust3")])
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.stat().st_ino != inode_before  # replaced, not rewritten in place
    leftovers = [p for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_failed_write_leaves_the_original(
    store: TenantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = store.path.read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StoreError, match="cannot save: No space left on device"):
        store.add([make_tenant("Cust3")])
    assert store.path.read_text() == before
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_changes_start_from_the_file_on_disk_so_hand_edits_survive(store: TenantStore) -> None:
    store.load()
    store.path.write_text(store.path.read_text() + '\n[[tenants]]\ncontext_id = "Cust8"\n')
    store.add([make_tenant("Cust9")])
    assert [t.context_id for t in store.load().tenants] == ["Cust1", "Cust2", "Cust8", "Cust9"]


def test_config_path_option_then_environment_then_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_config_path(str(tmp_path / "a.toml")) == tmp_path / "a.toml"
    monkeypatch.setenv("TENANTBOARD_CONFIG", str(tmp_path / "b.toml"))
    assert resolve_config_path(None) == tmp_path / "b.toml"
    monkeypatch.delenv("TENANTBOARD_CONFIG")
    assert resolve_config_path(None).name == "tenants.toml"
    assert str(resolve_config_path(None)).startswith(os.environ["XDG_CONFIG_HOME"])


def test_import_lines() -> None:
    text = "# header\nCust1\n\ncust2, sod\nCust3,stage,Label, with comma\n  Cust4 , , Default env\n"
    assert parse_import_lines(text, "f.txt") == [
        Tenant("Cust1", "online", ""),
        Tenant("Cust2", "sod", ""),
        Tenant("Cust3", "stage", "Label, with comma"),
        Tenant("Cust4", "online", "Default env"),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [("Cust1\nCust2,prod\n", 2), ("# c\n\nbogus\n", 3), ("Cust1,sod,\x1b[31m\n", 1)],
)
def test_a_bad_import_line_is_reported_with_its_number(text: str, line: int) -> None:
    with pytest.raises(StoreError) as caught:
        parse_import_lines(text, "f.txt")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"f.txt:{line}: ")


def test_import_skips_what_is_already_listed() -> None:
    fresh, skipped = without_known(
        [Tenant("Cust1"), Tenant("Cust2"), Tenant("Cust2")], [Tenant("Cust1")]
    )
    assert fresh == [Tenant("Cust2")] and skipped == 2


def test_ten_thousand_tenants_round_trip(tmp_path: Path) -> None:
    store = TenantStore(tmp_path / "big.toml")
    text = "\n".join(f"Cust{i},online,Tenant {i}" for i in range(1, 10_001))
    store.add(parse_import_lines(text, "big.txt"))
    loaded = store.load().tenants
    assert len(loaded) == 10_000 and loaded[-1] == Tenant("Cust10000", "online", "Tenant 10000")
