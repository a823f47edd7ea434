"""The tenant list: one TOML file the user owns.

Reading uses the standard library's fast ``tomllib``; changes are written so that the
user's comments and order survive (appending text, or ``tomlkit`` for edits), always
atomically, and never over a file that did not parse.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT

from tenantboard.files import FileError, atomic_write
from tenantboard.tenant import DEFAULT_ENV, ENVIRONMENTS, Tenant, make_tenant


class ConflictError(ValueError):
    """The file changed on disk in a way that this change would overwrite."""


#: The tenant file (or an import file) could not be used; says where (path:line) and why.
StoreError = FileError


@dataclass(frozen=True, slots=True)
class Settings:
    concurrency: int = 8
    timeout: float = 10.0
    min_interval: float = 30.0
    max_interval: float = 900.0
    #: Ring the terminal bell when a tenant changes for the worse.
    bell: bool = False

    def validated(self) -> Settings:
        if not 1 <= self.concurrency <= 256:
            raise ValueError("concurrency must be between 1 and 256")
        if not 0.5 <= self.timeout <= 300:
            raise ValueError("timeout must be between 0.5 and 300 seconds")
        if not 1 <= self.min_interval <= 86_400:
            raise ValueError("min_interval must be between 1 and 86400 seconds")
        if not self.min_interval <= self.max_interval <= 7 * 86_400:
            raise ValueError("max_interval must be at least min_interval and at most 7 days")
        return self


_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "concurrency": (int,),
    "timeout": (int, float),
    "min_interval": (int, float),
    "max_interval": (int, float),
    "bell": (bool,),
}


#: What a hook reports: changes for the worse, for the better.
NOTIFY_ON = ("worse", "better")


@dataclass(frozen=True, slots=True)
class NotifyHook:
    """One ``[[notify]]`` table: where alerts go and when (see notify.py for delivery)."""

    name: str
    #: A command (argv, no shell) that gets the payload JSON on standard input...
    command: tuple[str, ...] | None = None
    #: ...or a webhook that gets it as a JSON POST body (Slack/Teams read its ``text``).
    url: str | None = None
    on: frozenset[str] = frozenset({"worse"})
    #: Consecutive checks a change for the worse must last before it is reported.
    failure_threshold: int = 1
    #: Report a tenant's return to OK after a change for the worse was reported.
    send_on_resolved: bool = True
    #: Changes within this many seconds of the first go out as one message.
    group_seconds: float = 10.0
    retries: int = 3
    #: Seconds before the first retry; doubled for each further one.
    retry_backoff: float = 2.0
    timeout: float = 10.0

    @property
    def target(self) -> str:
        """Where the hook sends, safe to log: a webhook's path often holds its secret."""
        if self.command is not None:
            return f"command {self.command[0]}"
        from urllib.parse import urlsplit

        parts = urlsplit(self.url or "")
        return f"webhook {parts.scheme}://{parts.netloc}/…"


@dataclass(slots=True)
class TenantList:
    tenants: list[Tenant] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    #: [keys]: binding id -> keys, to remap the board's keys (checked by the board).
    keys: dict[str, str] = field(default_factory=dict)
    #: [[notify]]: alert hooks (run by `serve`).
    notify: list[NotifyHook] = field(default_factory=list)


_TABLE_HEADER = re.compile(r"^\s*\[\[\s*tenants\s*\]\]", re.MULTILINE)


def _tenant_line(text: str, index: int) -> int | None:
    """Line number of the index-th ``[[tenants]]`` header, to point at a bad entry."""
    for number, match in enumerate(_TABLE_HEADER.finditer(text)):
        if number == index:
            return text.count("\n", 0, match.start()) + 1
    return None


_TOML_LINE = re.compile(r"at line (\d+)")


def parse_tenant_text(text: str, path: Path) -> TenantList:
    """Parse and strictly validate the file's text; raises StoreError with a line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise StoreError(
            path, f"not valid TOML: {exc}", int(found.group(1)) if found else None
        ) from None
    unknown = set(data) - {"tenants", "settings", "keys", "notify"}
    if unknown:
        raise StoreError(path, f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    return TenantList(
        _parse_tenants(data.get("tenants", []), text, path),
        _parse_settings(data, path),
        _parse_keys(data, path),
        _parse_notify(data.get("notify", []), text, path),
    )


_NOTIFY_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*notify[ \t]*\]\]", re.MULTILINE)
#: key -> (accepted types, lowest, highest) for the numbers and flags of a [[notify]] table.
_NOTIFY_NUMBERS: dict[str, tuple[tuple[type, ...], float, float]] = {
    "failure_threshold": ((int,), 1, 1000),
    "group_seconds": ((int, float), 0, 3600),
    "retries": ((int,), 0, 10),
    "retry_backoff": ((int, float), 0, 600),
    "timeout": ((int, float), 0.1, 300),
}
_NOTIFY_KEYS = {"name", "command", "url", "on", "send_on_resolved", *_NOTIFY_NUMBERS}


def _parse_notify(raw: Any, text: str, path: Path) -> list[NotifyHook]:
    if not isinstance(raw, list):
        raise StoreError(path, "'notify' must be an array of tables ([[notify]])")
    hooks: list[NotifyHook] = []
    for index, entry in enumerate(raw):
        line = _header_line(_NOTIFY_HEADER, text, index)
        try:
            hook = _parse_hook(entry, index)
        except ValueError as exc:
            raise StoreError(path, f"[[notify]] #{index + 1}: {exc}", line) from None
        if any(other.name == hook.name for other in hooks):
            raise StoreError(
                path, f"[[notify]] #{index + 1}: name {hook.name!r} is used twice", line
            )
        hooks.append(hook)
    return hooks


def _parse_hook(entry: Any, index: int) -> NotifyHook:
    if not isinstance(entry, dict):
        raise ValueError("not a table")
    unknown = set(entry) - _NOTIFY_KEYS
    if unknown:
        raise ValueError(
            f"unknown key(s) {sorted(unknown)} (known: {', '.join(sorted(_NOTIFY_KEYS))})"
        )
    name = entry.get("name", f"notify-{index + 1}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        raise ValueError("name must be 1-40 letters, digits, '.', '_' or '-'")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ValueError('give either command = ["program", "arg", ...] or url = "https://..."')
    if command is not None:
        if not (
            isinstance(command, list)
            and command
            and all(isinstance(part, str) and part and "\x00" not in part for part in command)
        ):
            raise ValueError('command must be a non-empty list of strings, e.g. ["notify-send"]')
        command = tuple(command)
    if url is not None:
        url = _checked_hook_url(url)
    on = entry.get("on", ["worse"])
    if not (isinstance(on, list) and on and all(value in NOTIFY_ON for value in on)):
        raise ValueError('on must list "worse", "better" or both')
    resolved = entry.get("send_on_resolved", True)
    if not isinstance(resolved, bool):
        raise ValueError("send_on_resolved must be true or false")
    numbers: dict[str, Any] = {}
    for key, (types, lowest, highest) in _NOTIFY_NUMBERS.items():
        if key not in entry:
            continue
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"{key} must be a {'whole ' if types == (int,) else ''}number")
        if not lowest <= value <= highest:
            raise ValueError(f"{key} must be between {lowest:g} and {highest:g}")
        numbers[key] = value
    return NotifyHook(
        name=name,
        command=command,
        url=url,
        on=frozenset(on),
        send_on_resolved=resolved,
        **numbers,
    )


def _checked_hook_url(url: Any) -> str:
    """https anywhere; plain http only to a loopback address (a local relay, tests)."""
    import ipaddress
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise ValueError("url must be a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("url must be an https:// URL with a host")
    if parts.scheme == "http":
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("url must use https (plain http only to a loopback address)")
    return url


def _header_line(header: re.Pattern[str], text: str, index: int) -> int | None:
    """Line number of the index-th table header matching ``header``."""
    for number, match in enumerate(header.finditer(text)):
        if number == index:
            return text.count("\n", 0, match.start()) + 1
    return None


def _parse_keys(data: dict[str, Any], path: Path) -> dict[str, str]:
    raw = data.get("keys", {})
    if not isinstance(raw, dict) or not all(
        isinstance(value, str) and value.strip() for value in raw.values()
    ):
        raise StoreError(path, '[keys] maps binding ids to keys, e.g. refresh = "f5"')
    return {str(key): value.strip() for key, value in raw.items()}


def _parse_settings(data: dict[str, Any], path: Path) -> Settings:
    raw = data.get("settings", {})
    if not isinstance(raw, dict):
        raise StoreError(path, "[settings] must be a table")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        types = _SETTING_TYPES.get(key)
        if types is None:
            raise StoreError(path, f"unknown setting {key!r} (known: {', '.join(_SETTING_TYPES)})")
        if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
            raise StoreError(path, f"setting {key!r} has the wrong type")
        values[key] = value
    try:
        return Settings(**values).validated()
    except ValueError as exc:
        raise StoreError(path, f"[settings]: {exc}") from None


def _parse_tenants(raw: Any, text: str, path: Path) -> list[Tenant]:
    if not isinstance(raw, list):
        raise StoreError(path, "'tenants' must be an array of tables ([[tenants]])")
    tenants: list[Tenant] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        try:
            tenant = _parse_tenant(entry, index)
        except ValueError as exc:
            raise StoreError(path, str(exc), _tenant_line(text, index)) from None
        if tenant.key in seen:
            raise StoreError(
                path,
                f"tenant #{index + 1}: {tenant.context_id} ({tenant.env}) is listed twice",
                _tenant_line(text, index),
            )
        seen.add(tenant.key)
        tenants.append(tenant)
    return tenants


def _parse_tenant(entry: Any, index: int) -> Tenant:
    if not isinstance(entry, dict):
        raise ValueError(f"tenant #{index + 1} is not a table")
    unknown = set(entry) - {"context_id", "env", "label"}
    if unknown:
        raise ValueError(f"tenant #{index + 1}: unknown key(s) {sorted(unknown)}")
    values = [entry.get("context_id"), entry.get("env", DEFAULT_ENV), entry.get("label", "")]
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"tenant #{index + 1}: context_id, env and label are strings")
    try:
        return make_tenant(*values)
    except ValueError as exc:
        raise ValueError(f"tenant #{index + 1}: {exc}") from None


def _tenant_fields(tenant: Tenant) -> dict[str, str]:
    fields = {"context_id": tenant.context_id, "env": tenant.env}
    if tenant.label:
        fields["label"] = tenant.label
    return fields


def _tenant_block(tenant: Tenant) -> str:
    """One ``[[tenants]]`` table as text. JSON's string escapes are valid TOML basic
    strings, and this is far quicker than tomlkit for thousands of tenants."""
    lines = ["[[tenants]]"]
    lines += [
        f"{name} = {json.dumps(value, ensure_ascii=False)}"
        for name, value in _tenant_fields(tenant).items()
    ]
    return "\n".join(lines) + "\n"


NEW_FILE_HEADER = """\
# tenantboard's tenant list. Edit by hand or with `tenantboard add/remove/import`;
# comments and order are kept. env is one of: {envs}.
#
# [settings]
# concurrency = 8      # checks in flight at once
# timeout = 10.0       # seconds for one request
# min_interval = 30    # never check one tenant more often than this (seconds)
# max_interval = 900   # never wait longer than this (seconds)
"""


class TenantStore:
    """Reads and changes the tenant file at ``path``.

    Every change starts from the file as it is on disk now, so a change made by hand
    since the last read is kept rather than overwritten.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read_text(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise StoreError(self.path, "not UTF-8 text") from None
        except OSError as exc:
            raise StoreError(self.path, f"cannot read: {exc.strerror or exc}") from None

    def fingerprint(self) -> tuple[int, int] | None:
        """(modification time, size) of the file, to notice changes made elsewhere."""
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def load(self) -> TenantList:
        text = self.read_text()
        return TenantList() if text is None else parse_tenant_text(text, self.path)

    def add(self, new: Sequence[Tenant]) -> list[Tenant]:
        """Append tenants; refuses (adds nothing) if any is already listed or repeated."""
        text = self.read_text() or NEW_FILE_HEADER.format(envs=", ".join(ENVIRONMENTS))
        current = parse_tenant_text(text, self.path)
        keys = {tenant.key for tenant in current.tenants}
        for tenant in new:
            if tenant.key in keys:
                raise ValueError(f"{tenant.context_id} ({tenant.env}) is already in the list")
            keys.add(tenant.key)
        if not new:
            return current.tenants
        expected = current.tenants + list(new)
        updated = text.rstrip("\n") + "\n\n" + "\n".join(_tenant_block(t) for t in new)
        if self._parses_to(updated, expected):
            atomic_write(self.path, updated)
        else:
            # The file's layout (e.g. an inline `tenants = [...]`) does not allow a plain
            # append; let tomlkit place them instead.
            document = tomlkit.parse(text)
            if "tenants" not in document:
                document.append("tenants", tomlkit.aot())
            entries = document["tenants"]
            for tenant in new:
                entry = tomlkit.table() if isinstance(entries, AoT) else tomlkit.inline_table()
                entry.update(_tenant_fields(tenant))
                entries.append(entry)
            self._write_verified(tomlkit.dumps(document), expected)
        return expected

    def remove(self, keys: Iterable[str], *, expected: Iterable[Tenant] = ()) -> list[Tenant]:
        wanted = set(keys)
        return self._edit(
            lambda tenant: None if tenant.key in wanted else tenant, wanted, list(expected)
        )

    def replace(self, key: str, tenant: Tenant, *, expected: Tenant | None = None) -> list[Tenant]:
        """Change one tenant in place (same position, comments kept).

        With ``expected`` (the tenant as the operator saw it), a tenant that someone
        changed in the file meanwhile is not overwritten: :class:`ConflictError`.
        """
        return self._edit(
            lambda old: tenant if old.key == key else old, {key}, [expected] if expected else []
        )

    def _edit(
        self,
        change: Callable[[Tenant], Tenant | None],
        keys: set[str],
        expected_before: list[Tenant],
    ) -> list[Tenant]:
        text = self.read_text()
        if text is None:
            raise ValueError(f"{self.path} does not exist yet")
        current = parse_tenant_text(text, self.path)
        on_disk = {tenant.key: tenant for tenant in current.tenants}
        missing = keys - set(on_disk)
        if missing:
            raise ConflictError(
                f"not in the list (any more): {', '.join(sorted(missing))}; nothing changed"
            )
        for seen in expected_before:
            if on_disk.get(seen.key) != seen:
                raise ConflictError(
                    f"{seen.context_id} ({seen.env}) was changed in {self.path.name} since it was "
                    "read; nothing was overwritten. Look at it again and retry."
                )
        results = [change(tenant) for tenant in current.tenants]
        expected = [tenant for tenant in results if tenant is not None]
        document = tomlkit.parse(text)
        tables = document["tenants"]
        for index in reversed(range(len(results))):
            result = results[index]
            if result is None:
                del tables[index]
            elif result != current.tenants[index]:
                tables[index]["context_id"] = result.context_id
                tables[index]["env"] = result.env
                if result.label:
                    tables[index]["label"] = result.label
                elif "label" in tables[index]:
                    del tables[index]["label"]
        if len({t.key for t in expected}) != len(expected):
            raise ValueError("that change would list a tenant twice")
        self._write_verified(tomlkit.dumps(document), expected)
        return expected

    def _parses_to(self, text: str, expected: list[Tenant]) -> bool:
        try:
            return parse_tenant_text(text, self.path).tenants == expected
        except StoreError:
            return False

    def _write_verified(self, text: str, expected: list[Tenant]) -> None:
        if not self._parses_to(text, expected):  # never write what we could not read back
            raise StoreError(self.path, "internal error: the change did not round-trip; not saved")
        atomic_write(self.path, text)


def parse_import_lines(text: str, source: str, default_env: str = DEFAULT_ENV) -> list[Tenant]:
    """Parse ``CTX[,ENV[,LABEL]]`` lines (``#`` comments); any bad line fails the whole file."""
    tenants: list[Tenant] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [part.strip() for part in stripped.split(",", 2)]
        ctx = parts[0]
        env = parts[1] if len(parts) > 1 and parts[1] else default_env
        label = parts[2] if len(parts) > 2 else ""
        try:
            tenants.append(make_tenant(ctx, env, label))
        except ValueError as exc:
            raise StoreError(source, str(exc), number) from None
    return tenants


def without_known(tenants: Iterable[Tenant], known: Iterable[Tenant]) -> tuple[list[Tenant], int]:
    """Drop tenants already known (or repeated); returns the rest and how many were dropped."""
    seen = {tenant.key for tenant in known}
    fresh: list[Tenant] = []
    skipped = 0
    for tenant in tenants:
        if tenant.key in seen:
            skipped += 1
            continue
        seen.add(tenant.key)
        fresh.append(tenant)
    return fresh, skipped
