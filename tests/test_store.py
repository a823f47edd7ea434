from __future__ import annotations

import os
from pathlib import Path

import pytest

from tenantboard.paths import resolve_config_path
from tenantboard.tenant import Tenant, make_tenant
from tenantboard.tenant_file import (
    BadImportLines,
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
        # After blank lines: the table's own line, not the blank one above it.
        ('# list\n\n\n[[tenants]]\ncontext_id = "x"\n', 4, "not a context id"),
        ('[[tenants]]\ncontext_id = "Cust1"\ncolour = "red"\n', 1, "unknown key"),
        (
            '[[tenants]]\ncontext_id = "Cust1"\n\n[settings]\ntimeout = 5\nconcurency = 3\n',
            6,
            'unknown setting "concurency"',
        ),
        ("# mine\n[settings]\nbell = true\nconcurrency = 0\n", 4, "between 1 and 256"),
        ("[settings]\nmin_interval = 60\nmax_interval = 30\n", 3, "at least min_interval"),
        ("[settings]\nbell = true\nmin_interval = 1000\n", 3, "at least min_interval"),
        ('[settings]\n\n  timeout = "10"\n', 3, '"timeout" must be a number'),
        ("[settings]\nbell = 1\n", 2, '"bell" must be true or false'),
        ("[settings]\nhistory_days = 1.5\n", 2, '"history_days" must be a whole number'),
        ("\nsettings = { concurrency = 0 }\n", 2, "between 1 and 256"),
        ("settings = 5\n", 1, "[settings] must be a table"),
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


def test_config_path_given_else_platform(tmp_path: Path) -> None:
    """--config, else $TENANTBOARD_CONFIG (the command line reads both: test_cli.py), else
    the platform's config folder."""
    assert resolve_config_path(str(tmp_path / "a.toml")) == tmp_path / "a.toml"
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
    with pytest.raises(BadImportLines) as caught:
        parse_import_lines(text, "f.txt")
    assert [number for number, _ in caught.value.problems] == [line]
    assert str(caught.value).startswith(f"f.txt:{line}: ")


def test_an_unterminated_quote_is_its_own_lines_error_and_takes_no_other_line() -> None:
    lines = [f"Cust{n}" for n in range(1, 12)]
    lines += ['Cust12,online,"Twelve, the one', "Cust13,sod,Thirteen", "bogus", "Cust15"]
    with pytest.raises(BadImportLines) as caught:
        parse_import_lines("\n".join(lines) + "\n", "f.csv")
    assert caught.value.problems == [
        (12, "a quote is not closed on this line (a label is one line)"),
        (14, '"bogus" is not a context id (expected Cust followed by digits, e.g. Cust12345)'),
    ]
    fixed = [*lines[:11], 'Cust12,online,"Twelve, the one"', *lines[12:13], "Cust15"]
    assert [t.context_id for t in parse_import_lines("\n".join(fixed), "f.csv")] == [
        *(f"Cust{n}" for n in range(1, 14)),
        "Cust15",
    ]


def test_import_reports_every_bad_line_with_its_own_number() -> None:
    text = 'Cust1,sod,"two\nlines"\nbad one\nCust3,stage,"a, b",extra\nCust4\nCust5,sod,"x"y"\n'
    with pytest.raises(BadImportLines) as caught:
        parse_import_lines(text, "f.csv")
    assert [number for number, _ in caught.value.problems] == [1, 2, 3, 4]
    assert "quote is not closed" in caught.value.problems[0][1]
    assert "quotes around a label" in caught.value.problems[3][1]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "Cust5,sod,Five\nCust6\ncust5,qaonline,Other\n",
            [],  # another environment: another tenant
        ),
        (
            "Cust5,sod,Five\nCust6\nCust5,sod,Other\n",
            [(3, "Cust5 (sod) is on line 1 already, with another label: keep one of the two")],
        ),
        (
            "Cust5,sod\nCust5,sod,Five\n",
            [(2, "Cust5 (sod) is on line 1 already, with no label: keep one of the two")],
        ),
    ],
)
def test_a_tenant_repeated_with_another_label_is_a_bad_line(
    text: str, problems: list[tuple[int, str]]
) -> None:
    if not problems:
        assert len(parse_import_lines(text, "f.csv")) == 3
        return
    with pytest.raises(BadImportLines) as caught:
        parse_import_lines(text, "f.csv")
    assert caught.value.problems == problems


def test_a_tenant_repeated_as_it_is_is_passed_on_to_be_skipped() -> None:
    text = "Cust5,sod,Five\nCust5, sod , Five\n"
    assert parse_import_lines(text, "f.csv") == [Tenant("Cust5", "sod", "Five")] * 2


def test_import_skips_a_header_row_only_at_the_top() -> None:
    text = "# exported\nContext ID, Environment, Label\nCust1,qaonline,One\n"
    assert parse_import_lines(text, "f.csv") == [Tenant("Cust1", "stage", "One")]
    with pytest.raises(BadImportLines):
        parse_import_lines("Cust1\ncontext_id,env,label\n", "f.csv")


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


SECTIONED = """\
# --- production ---
[[tenants]]
context_id = "Cust1"
label = "Acme"
# Acme's second site is below

# --- staging ---
[[tenants]]
context_id = "Cust2"
env = "stage"
# trailing note about Cust2

# --- development ---
[[tenants]]
context_id = "Cust3"
env = "sod"

[keys]
refresh = "f5"
"""


@pytest.mark.parametrize("removed", ["online:Cust1", "stage:Cust2", "sod:Cust3"])
def test_removing_a_tenant_keeps_the_comments_that_head_the_next_section(
    tmp_path: Path, removed: str
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(SECTIONED)
    store = TenantStore(path)
    store.remove([removed])
    text = path.read_text()
    for comment in ("# --- production ---", "# --- staging ---", "# --- development ---"):
        assert comment in text
    headings = [
        text.index(f"# --- {name} ---") for name in ("production", "staging", "development")
    ]
    assert headings == sorted(headings)
    if removed != "sod:Cust3":
        assert headings[2] < text.index('"Cust3"')
    assert [t.key for t in store.load().tenants] == [
        key for key in ("online:Cust1", "stage:Cust2", "sod:Cust3") if key != removed
    ]
    assert store.load().keys == {"refresh": "f5"}


def test_removing_every_tenant_keeps_every_comment_and_leaves_no_empty_array(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(SECTIONED)
    TenantStore(path).remove(["online:Cust1", "stage:Cust2", "sod:Cust3"])
    text = path.read_text()
    comments = [line for line in SECTIONED.splitlines() if line.startswith("#")]
    assert [line for line in text.splitlines() if line.startswith("#")] == comments
    assert "tenants = []" not in text and TenantStore(path).load().tenants == []


def test_saving_writes_through_a_symlinked_tenant_file(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "tenants.toml"
    target.write_text(HAND_WRITTEN)
    os.chmod(target, 0o640)
    link = tmp_path / "config" / "link.toml"
    link.parent.mkdir()
    link.symlink_to(os.path.relpath(target, link.parent))
    store = TenantStore(link)
    store.add([make_tenant("Cust77")])
    store.replace("stage:Cust2", make_tenant("Cust2", "sod", "Edited in the board"))
    assert link.is_symlink() and link.resolve() == target
    assert "Cust77" in target.read_text() and "Edited in the board" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in dotfiles.iterdir()) == [".tenants.toml.lock", "tenants.toml"]
    assert [p.name for p in link.parent.iterdir()] == ["link.toml"]


def test_a_new_tenant_file_behind_a_dangling_symlink_is_created_at_the_target(
    tmp_path: Path,
) -> None:
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "real.toml")
    TenantStore(link).add([make_tenant("Cust5")])
    assert link.is_symlink() and "Cust5" in (tmp_path / "real.toml").read_text()


def test_environment_qaonline_in_the_file_is_stage(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text('[[tenants]]\ncontext_id = "Cust1"\nenv = "qaonline"\n')
    assert TenantStore(path).load().tenants == [Tenant("Cust1", "stage", "")]
    path.write_text(path.read_text() + '[[tenants]]\ncontext_id = "Cust1"\nenv = "stage"\n')
    with pytest.raises(StoreError, match="listed twice"):
        TenantStore(path).load()


def test_a_change_waits_for_the_lock_and_says_who_holds_it(
    store: TenantStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    from tenantboard.cli import main

    monkeypatch.setattr("tenantboard.tenant_file.LOCK_TIMEOUT", 0.3)
    before = store.path.read_text()
    lock_path = store.path.with_name(".tenants.toml.lock")
    with lock_path.open("w") as held:  # as another process holding it would
        fcntl.flock(held, fcntl.LOCK_EX)
        code = main(["--config", str(store.path), "add", "Cust9"])
    err = capsys.readouterr().err
    assert code == 78
    assert "has held its lock" in err and "for over 0.3 s" in err
    if Path("/proc/locks").exists():
        assert f"process {os.getpid()} has held its lock" in err
    assert "Nothing was changed" in err
    assert store.path.read_text() == before
