"""The tenant list: one TOML file the user owns.

Reading uses ``tomli`` (the standard library's ``tomllib``, compiled); changes are written
so that the user's comments and order survive (appending text, or ``tomlkit`` for edits),
always atomically, and never over a file that did not parse.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli
import tomlkit
from tomlkit import TOMLDocument
from tomlkit.items import AoT, Comment, Item, Table, Whitespace

from tenantboard.files import FileError, NotSaved, atomic_write, write_target
from tenantboard.humanize import plural
from tenantboard.maintenance import (
    BadWindow,
    MaintenancePlan,
    Rule,
    SuperOfficeWindows,
    parse_superoffice,
    parse_window,
)
from tenantboard.netaddr import is_loopback
from tenantboard.sanitize import quoted
from tenantboard.tenant import DEFAULT_ENV, Tenant, env_names, make_tenant


class ConflictError(ValueError):
    """The file changed on disk in a way that this change would overwrite."""


#: The tenant file (or an import file) could not be used; says where (path:line) and why.
StoreError = FileError


class BadSetting(ValueError):
    """A setting out of its range; ``keys`` are the settings to look at, likeliest first."""

    def __init__(self, message: str, *keys: str) -> None:
        super().__init__(message)
        self.keys = keys


@dataclass(frozen=True, slots=True)
class Settings:
    concurrency: int = 8
    timeout: float = 10.0
    min_interval: float = 30.0
    max_interval: float = 900.0
    #: Ring the terminal bell when a tenant changes for the worse.
    bell: bool = False
    #: Days of history kept in the history database (older rows are deleted).
    history_days: int = 400

    def validated(self) -> Settings:
        """Itself, or :class:`BadSetting` naming what is out of range."""
        if not 1 <= self.concurrency <= 256:
            raise BadSetting("concurrency must be between 1 and 256", "concurrency")
        if not 0.5 <= self.timeout <= 300:
            raise BadSetting("timeout must be between 0.5 and 300 seconds", "timeout")
        if not 1 <= self.min_interval <= 86_400:
            raise BadSetting("min_interval must be between 1 and 86400 seconds", "min_interval")
        if not self.min_interval <= self.max_interval <= 7 * 86_400:
            raise BadSetting(
                "max_interval must be at least min_interval and at most 7 days",
                "max_interval",
                "min_interval",
            )
        if not 1 <= self.history_days <= 36_500:
            raise BadSetting("history_days must be between 1 and 36500", "history_days")
        return self


_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "concurrency": (int,),
    "timeout": (int, float),
    "min_interval": (int, float),
    "max_interval": (int, float),
    "bell": (bool,),
    "history_days": (int,),
}


@dataclass(frozen=True, slots=True)
class IncidentRules:
    """``[incidents]``: when tenants of one endpoint host that turn bad together are one
    host incident (see incidents.py), and when it is over."""

    enabled: bool = True
    #: At least this many of the host's tenants...
    min_tenants: int = 5
    #: ...and at least this share of them...
    min_share: float = 0.5
    #: ...turned bad within this many seconds.
    within: float = 120.0
    #: Resolved once this share of its tenants is back.
    resolved_share: float = 0.8

    def validated(self) -> IncidentRules:
        """Itself, or :class:`BadSetting` naming what is out of range."""
        if not 2 <= self.min_tenants <= 100_000:
            raise BadSetting("min_tenants must be between 2 and 100000", "min_tenants")
        if not 0 < self.min_share <= 1:
            raise BadSetting("min_share must be above 0 and at most 1", "min_share")
        if not 10 <= self.within <= 86_400:
            raise BadSetting("within must be between 10 and 86400 seconds", "within")
        if not 0 < self.resolved_share <= 1:
            raise BadSetting("resolved_share must be above 0 and at most 1", "resolved_share")
        return self


_INCIDENT_TYPES: dict[str, tuple[type, ...]] = {
    "enabled": (bool,),
    "min_tenants": (int,),
    "min_share": (int, float),
    "within": (int, float),
    "resolved_share": (int, float),
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
    #: Also report changes inside a maintenance window (marked planned); by default they
    #: are held back, and a tenant still not back when its window closes is reported then.
    planned: bool = False
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


#: The issuers of SuperOffice's tokens, one per environment (its OpenID Connect metadata,
#: https://{environment}.superoffice.com/login/.well-known/openid-configuration), and the
#: environment each one's tenants are in.
STATE_CHANGE_ISSUERS: dict[str, str] = {
    "https://sod.superoffice.com": "sod",
    "https://qaonline.superoffice.com": "stage",
    "https://online.superoffice.com": "online",
}


@dataclass(frozen=True, slots=True)
class StateChangeConfig:
    """``[state_change]``: how `serve` checks the calls SuperOffice pushes when a tenant
    changes (see pushed.py). Empty fields are not given (serve's options fill them in)."""

    #: PEM or DER files with SuperOffice's signing certificate(s) or public key(s).
    certificates: tuple[Path, ...] = ()
    #: The application's client id (app id) from the developer portal: the token's audience.
    client_id: str = ""
    #: The issuers accepted; none given: every environment's (:data:`STATE_CHANGE_ISSUERS`).
    issuers: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """True when calls can be checked: a key to check them with and an audience."""
        return bool(self.certificates and self.client_id)

    @property
    def accepted_issuers(self) -> tuple[str, ...]:
        return self.issuers or tuple(STATE_CHANGE_ISSUERS)

    def merged(self, over: StateChangeConfig | None) -> StateChangeConfig:
        """These values with ``over``'s given ones in their place."""
        if over is None:
            return self
        return StateChangeConfig(
            certificates=over.certificates or self.certificates,
            client_id=over.client_id or self.client_id,
            issuers=over.issuers or self.issuers,
        )


def parse_state_change(raw: Any, folder: Path) -> StateChangeConfig:
    """``[state_change]``'s values (certificate paths relative to ``folder``: the tenant
    file's); ValueError says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("must be a table")
    unknown = set(raw) - {"certificate", "client_id", "issuers"}
    if unknown:
        raise ValueError(
            f"unknown key(s) {sorted(unknown)} (known: certificate, client_id, issuers)"
        )
    certificate = raw.get("certificate", [])
    paths = [certificate] if isinstance(certificate, str) else certificate
    if not (isinstance(paths, list) and all(isinstance(p, str) and p.strip() for p in paths)):
        raise ValueError('certificate is a file (or a list of files): certificate = "so.crt"')
    client_id = raw.get("client_id", "")
    if not isinstance(client_id, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{0,200}", client_id):
        raise ValueError("client_id is your application's client id from the developer portal")
    issuers = raw.get("issuers", [])
    if not (isinstance(issuers, list) and all(isinstance(i, str) and i for i in issuers)):
        raise ValueError('issuers is a list of strings, e.g. ["https://online.superoffice.com"]')
    return StateChangeConfig(
        certificates=tuple(folder / Path(path).expanduser() for path in paths),
        client_id=client_id,
        issuers=tuple(issuers),
    )


@dataclass(slots=True)
class TenantList:
    tenants: list[Tenant] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    #: [keys]: binding id -> keys, to remap the board's keys (checked by the board).
    keys: dict[str, str] = field(default_factory=dict)
    #: [[notify]]: alert hooks (run by `serve` and the board).
    notify: list[NotifyHook] = field(default_factory=list)
    #: Why the file's command hooks were left out of :attr:`notify` (others can change
    #: the file: see :func:`unsafe_for_commands`); None when none were.
    commands_refused: str | None = None
    #: [superoffice_maintenance] and [[maintenance]]: the windows of planned maintenance.
    maintenance: MaintenancePlan = field(default_factory=MaintenancePlan)
    #: [state_change]: checking the changes SuperOffice pushes (`serve`), or None.
    state_change: StateChangeConfig | None = None
    #: [incidents]: when tenants of one host that turn bad together are one incident.
    incidents: IncidentRules = field(default_factory=IncidentRules)


_TABLE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*tenants[ \t]*\]\]", re.MULTILINE)


_TOML_LINE = re.compile(r"at line (\d+)")


def parse_tenant_text(text: str, path: Path) -> TenantList:
    """Parse and strictly validate the file's text; raises StoreError with a line."""
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise StoreError(
            path, f"not valid TOML: {exc}", int(found.group(1)) if found else None
        ) from None
    unknown = set(data) - {
        "tenants",
        "settings",
        "keys",
        "notify",
        "maintenance",
        "superoffice_maintenance",
        "state_change",
        "incidents",
    }
    if unknown:
        what = plural(len(unknown), "unknown top-level key")
        raise StoreError(path, f"{what}: {', '.join(sorted(unknown))}")
    return TenantList(
        _parse_tenants(data.get("tenants", []), text, path),
        _parse_settings(data, text, path),
        _parse_keys(data, path),
        _parse_notify(data.get("notify", []), text, path),
        maintenance=MaintenancePlan(
            _parse_superoffice_windows(data, text, path),
            _parse_maintenance(data.get("maintenance", []), text, path),
        ),
        state_change=_parse_state_change(data, text, path),
        incidents=_parse_incidents(data, text, path),
    )


_STATE_CHANGE_HEADER = re.compile(r"^[ \t]*\[[ \t]*state_change[ \t]*\]", re.MULTILINE)


def _parse_state_change(data: dict[str, Any], text: str, path: Path) -> StateChangeConfig | None:
    if "state_change" not in data:
        return None
    try:
        return parse_state_change(data["state_change"], path.parent)
    except ValueError as exc:
        raise StoreError(
            path, f"[state_change]: {exc}", _header_line(_STATE_CHANGE_HEADER, text, 0)
        ) from None


_MAINTENANCE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*maintenance[ \t]*\]\]", re.MULTILINE)
_SUPEROFFICE_HEADER = re.compile(
    r"^[ \t]*\[[ \t]*superoffice_maintenance[ \t.\]]|^[ \t]*superoffice_maintenance[ \t]*=",
    re.MULTILINE,
)


def _parse_superoffice_windows(data: dict[str, Any], text: str, path: Path) -> SuperOfficeWindows:
    if "superoffice_maintenance" not in data:
        return SuperOfficeWindows()
    try:
        return parse_superoffice(data["superoffice_maintenance"])
    except BadWindow as exc:
        line = _key_line(_SUPEROFFICE_HEADER, text, 0)
        tables = len(_SUPEROFFICE_HEADER.findall(text))  # [superoffice_maintenance.envs] too
        for index in range(tables if exc.key else 0):
            found = _key_line(_SUPEROFFICE_HEADER, text, index, exc.key or "")
            if found != _key_line(_SUPEROFFICE_HEADER, text, index):
                line = found
                break
        raise StoreError(path, f"[superoffice_maintenance]: {exc}", line) from None


def _parse_maintenance(raw: Any, text: str, path: Path) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        raise StoreError(path, "'maintenance' must be an array of tables ([[maintenance]])")
    rules: list[Rule] = []
    for index, entry in enumerate(raw):
        try:
            rule = parse_window(entry, index)
        except BadWindow as exc:
            keys = (exc.key,) if exc.key else ()
            line = _key_line(_MAINTENANCE_HEADER, text, index, *keys)
            raise StoreError(path, f"[[maintenance]] #{index + 1}: {exc}", line) from None
        if any(other.name == rule.name for other in rules):
            line = _key_line(_MAINTENANCE_HEADER, text, index, "name")
            raise StoreError(
                path, f"[[maintenance]] #{index + 1}: name {quoted(rule.name)} is used twice", line
            )
        rules.append(rule)
    return tuple(rules)


_NOTIFY_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*notify[ \t]*\]\]", re.MULTILINE)
#: key -> (accepted types, lowest, highest) for the numbers and flags of a [[notify]] table.
_NOTIFY_NUMBERS: dict[str, tuple[tuple[type, ...], float, float]] = {
    "failure_threshold": ((int,), 1, 1000),
    "group_seconds": ((int, float), 0, 3600),
    "retries": ((int,), 0, 10),
    "retry_backoff": ((int, float), 0, 600),
    "timeout": ((int, float), 0.1, 300),
}
_NOTIFY_KEYS = {"name", "command", "url", "on", "send_on_resolved", "planned", *_NOTIFY_NUMBERS}


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
                path, f"[[notify]] #{index + 1}: name {quoted(hook.name)} is used twice", line
            )
        hooks.append(hook)
    return hooks


def _parse_hook(entry: Any, index: int) -> NotifyHook:
    if not isinstance(entry, dict):
        raise ValueError("not a table")
    unknown = set(entry) - _NOTIFY_KEYS
    if unknown:
        raise ValueError(
            f"{plural(len(unknown), 'unknown key')} {sorted(unknown)} "
            f"(known: {', '.join(sorted(_NOTIFY_KEYS))})"
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
    planned = entry.get("planned", False)
    if not isinstance(planned, bool):
        raise ValueError("planned must be true or false")
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
        planned=planned,
        **numbers,
    )


def _checked_hook_url(url: Any) -> str:
    """https anywhere; plain http only to a loopback address (a local relay, tests)."""
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
    if parts.scheme == "http" and not is_loopback(host):
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


def _parse_settings(data: dict[str, Any], text: str, path: Path) -> Settings:
    values = _typed_table(data, "settings", _SETTING_TYPES, text, path)
    try:
        return Settings(**values).validated()
    except BadSetting as exc:
        raise StoreError(
            path, f"[settings]: {exc}", _table_line(text, "settings", *exc.keys)
        ) from None


def _typed_table(
    data: dict[str, Any],
    table: str,
    types_by_key: dict[str, tuple[type, ...]],
    text: str,
    path: Path,
) -> dict[str, Any]:
    """A table of known keys, each of its type(s) (``[settings]``, ``[incidents]``); the
    error names the key's line and the type it wants."""
    raw = data.get(table, {})
    if not isinstance(raw, dict):
        raise StoreError(path, f"[{table}] must be a table", _table_line(text, table))
    what = "setting" if table == "settings" else f"[{table}] key"
    values: dict[str, Any] = {}
    for key, value in raw.items():
        types = types_by_key.get(key)
        if types is None:
            raise StoreError(
                path,
                f"unknown {what} {quoted(key)} (known: {', '.join(types_by_key)})",
                _table_line(text, table, key),
            )
        if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
            kind = "true or false" if bool in types else "a number"
            if types == (int,):
                kind = "a whole number"
            raise StoreError(
                path, f"{what} {quoted(key)} must be {kind}", _table_line(text, table, key)
            )
        values[key] = value
    return values


def _parse_incidents(data: dict[str, Any], text: str, path: Path) -> IncidentRules:
    values = _typed_table(data, "incidents", _INCIDENT_TYPES, text, path)
    try:
        return IncidentRules(**values).validated()
    except BadSetting as exc:
        raise StoreError(
            path, f"[incidents]: {exc}", _table_line(text, "incidents", *exc.keys)
        ) from None


_NEXT_TABLE = re.compile(r"^[ \t]*\[", re.MULTILINE)


def _table_line(text: str, table: str, *keys: str) -> int | None:
    """The line of the first of ``keys`` found in the ``[table]`` table (``[settings]``,
    ``[incidents]``), else of the table's header; None if there is no such table."""
    header = re.compile(rf"^[ \t]*\[[ \t]*{table}[ \t]*\]|^[ \t]*{table}[ \t]*=", re.MULTILINE)
    return _key_line(header, text, 0, *keys)


def _key_line(header_pattern: re.Pattern[str], text: str, index: int, *keys: str) -> int | None:
    """The line of the first of ``keys`` found in the ``index``-th table whose header
    matches ``header_pattern`` (up to the next table header), else of that header; None
    if there is no such table."""
    header = next(
        (found for number, found in enumerate(header_pattern.finditer(text)) if number == index),
        None,
    )
    if header is None:
        return None
    following = _NEXT_TABLE.search(text, header.end())
    end = following.start() if following else len(text)
    for key in keys:
        assignment = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", re.MULTILINE)
        found = assignment.search(text, header.end(), end)
        if found:
            return text.count("\n", 0, found.start()) + 1
    return text.count("\n", 0, header.start()) + 1


def _parse_tenants(raw: Any, text: str, path: Path) -> list[Tenant]:
    if not isinstance(raw, list):
        raise StoreError(path, "'tenants' must be an array of tables ([[tenants]])")
    tenants: list[Tenant] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        try:
            tenant = _parse_tenant(entry, index)
        except ValueError as exc:
            raise StoreError(path, str(exc), _header_line(_TABLE_HEADER, text, index)) from None
        if tenant.key in seen:
            raise StoreError(
                path,
                f"tenant #{index + 1}: {tenant.context_id} ({tenant.env}) is listed twice",
                _header_line(_TABLE_HEADER, text, index),
            )
        seen.add(tenant.key)
        tenants.append(tenant)
    return tenants


def _parse_tenant(entry: Any, index: int) -> Tenant:
    if not isinstance(entry, dict):
        raise ValueError(f"tenant #{index + 1} is not a table")
    unknown = set(entry) - {"context_id", "env", "label", "tags"}
    if unknown:
        raise ValueError(
            f"tenant #{index + 1}: {plural(len(unknown), 'unknown key')} {sorted(unknown)}"
        )
    values = [entry.get("context_id"), entry.get("env", DEFAULT_ENV), entry.get("label", "")]
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"tenant #{index + 1}: context_id, env and label are strings")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f'tenant #{index + 1}: tags is a list of strings, e.g. ["acme"]')
    try:
        return make_tenant(*values, tuple(tags))
    except ValueError as exc:
        raise ValueError(f"tenant #{index + 1}: {exc}") from None


def _tenant_fields(tenant: Tenant) -> dict[str, Any]:
    fields: dict[str, Any] = {"context_id": tenant.context_id, "env": tenant.env}
    if tenant.label:
        fields["label"] = tenant.label
    if tenant.tags:
        fields["tags"] = list(tenant.tags)
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
# bell = false         # ring the terminal bell when a tenant changes for the worse
# history_days = 400   # days of history kept (uptime reports, `tenantboard history`)
#
# [incidents]          # one incident per endpoint host when many of its tenants fail together
# min_tenants = 5      # at least this many of the host's tenants...
# min_share = 0.5      # ...and at least this share of them...
# within = 120         # ...turn bad within this many seconds
# resolved_share = 0.8 # resolved once this share of them is back
#
# [[tenants]]
# context_id = "Cust12345"
# label = "Acme production"   # optional
# tags = ["acme", "gold"]     # optional: group and filter by them (tag:acme)
"""


def unsafe_for_commands(path: Path) -> str | None:
    """Why ``[[notify]]`` commands must not be run from the tenant file at ``path`` (None:
    they may). A command runs as whoever runs tenantboard (root, for a service), so the
    file is held to ssh's and cron's rule for authorized_keys and crontabs: owned by that
    user or root, not writable by group or others, and in folders only they can change
    (whoever can write a folder can swap the file in it). A sticky folder such as /tmp is
    fine: others cannot swap what they do not own there. The answer names the fix."""
    if not hasattr(os, "geteuid"):
        return None  # Windows: no owners or mode bits to hold the file to
    me = os.geteuid()
    real = Path(os.path.realpath(path))
    shown = str(path) if real == Path(path) else f"{path} (→ {real})"
    try:
        file_stat = real.stat()
        if file_stat.st_uid not in (me, 0):
            return (
                f"{shown} is owned by {_user(file_stat.st_uid)}, not by {_user(me)} who runs "
                f"tenantboard; fix: chown {_user(me)} {real}"
            )
        if file_stat.st_mode & 0o022:
            return (
                f"other users can change {shown} (mode {stat.S_IMODE(file_stat.st_mode):o}); "
                f"fix: chmod go-w {real}"
            )
        for folder in real.parents:
            folder_stat = folder.stat()
            if folder_stat.st_uid not in (me, 0):
                return (
                    f"its folder {folder} is owned by {_user(folder_stat.st_uid)}, who could "
                    f"swap the file; move the file to a folder of {_user(me)}'s"
                )
            if folder_stat.st_mode & 0o022 and not folder_stat.st_mode & stat.S_ISVTX:
                mode = stat.S_IMODE(folder_stat.st_mode)
                return (
                    f"other users can change its folder {folder} (mode {mode:o}) and swap "
                    f"the file; fix: chmod go-w {folder}"
                )
    except OSError as exc:
        return f"cannot tell who may change {shown}: {exc.strerror or exc}"
    return None


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


#: How long a change waits for another process's change to the same file to finish.
LOCK_TIMEOUT = 10.0


class TenantStore:
    """Reads and changes the tenant file at ``path``.

    Every change starts from the file as it is on disk now, so a change made by hand
    since the last read is kept rather than overwritten, and runs under an advisory lock
    on a file beside it (``.tenants.toml.lock``), so that changes made at once by several
    processes (a script adding tenants in parallel, two boards) all end up in the file.
    Reading takes no lock: every write replaces the file whole, by a rename.
    """

    def __init__(self, path: Path, *, lock_timeout: float | None = None) -> None:
        self.path = path
        self.lock_timeout = LOCK_TIMEOUT if lock_timeout is None else lock_timeout

    @property
    def lock_path(self) -> Path:
        """Beside the real file (through a symlink), so every path to it shares one lock."""
        target = write_target(self.path)
        return target.with_name(f".{target.name}.lock")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's lock for one read-modify-write; StoreError if it cannot be had."""
        # filelock: flock on Unix, msvcrt on Windows, with a timeout; imported only here,
        # as only changes need it.
        from filelock import FileLock, Timeout

        lock_path = self.lock_path
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NotSaved(self.path, f"cannot create its folder: {exc.strerror or exc}") from None
        lock = FileLock(lock_path, timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise NotSaved(self.path, self._lock_held_message(lock_path)) from None
        except OSError as exc:
            raise NotSaved(
                self.path, f"cannot save: cannot lock {lock_path.name}: {exc.strerror or exc}"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _lock_held_message(self, lock_path: Path) -> str:
        holder = _flock_holder(lock_path)
        who = f"process {holder}" if holder else "another process"
        return (
            f"not changed: {who} has held its lock ({lock_path}) for over "
            f"{self.lock_timeout:g} s, changing the file (tenantboard add/remove/import or a "
            "board saving an edit). Try again when it is done; the lock is freed when that "
            "process ends."
        )

    def read_text(self) -> str | None:
        """The file's text, None where there is none. Only a regular file of a sane size
        is read: a FIFO would hang the reader, ``/dev/zero`` would fill the memory."""
        try:
            with open(self.path, "rb", opener=_nonblocking) as handle:
                found = os.fstat(handle.fileno())
                if not stat.S_ISREG(found.st_mode):
                    raise StoreError(self.path, "not a regular file (a FIFO, device or folder)")
                if found.st_size > MAX_TENANT_FILE_BYTES:
                    raise StoreError(
                        self.path,
                        f"too large to be a tenant file ({found.st_size // 2**20} MB; "
                        f"at most {MAX_TENANT_FILE_BYTES // 2**20} MB)",
                    )
                text = handle.read(MAX_TENANT_FILE_BYTES + 1).decode("utf-8")
                return text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise StoreError(self.path, "not UTF-8 text") from None
        except OSError as exc:
            raise StoreError(self.path, f"cannot read: {exc.strerror or exc}") from None

    def fingerprint(self) -> tuple[int, ...] | None:
        """(modification time, size, mode, owner) of the file, to notice changes made
        elsewhere; the mode and owner too, so that `chmod go-w` brings command hooks back."""
        try:
            found = self.path.stat()
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_size, found.st_mode, found.st_uid)

    def load(self) -> TenantList:
        """The file's list; command hooks are left out when others could change the file."""
        text = self.read_text()
        if text is None:
            return TenantList()
        tenant_list = parse_tenant_text(text, self.path)
        commands = [hook for hook in tenant_list.notify if hook.command is not None]
        if commands:
            problem = unsafe_for_commands(self.path)
            if problem is not None:
                names = ", ".join(hook.name for hook in commands)
                tenant_list.notify = [hook for hook in tenant_list.notify if hook.command is None]
                tenant_list.commands_refused = (
                    f"[[notify]] command hooks not run ({names}): {problem}"
                )
        return tenant_list

    def add(self, new: Sequence[Tenant], *, create: bool = True) -> list[Tenant]:
        """Append tenants; refuses (adds nothing) if any is already listed or repeated.
        Without ``create``, a file that is not there is not begun anew (StoreError)."""
        with self.locked():
            if not create and not self.path.exists():
                raise StoreError(
                    self.path,
                    "the tenant file is gone (deleted or moved away): nothing added, so that "
                    "a new file does not take the place of its list. Put it back, or start "
                    "tenantboard again to begin a new one",
                )
            text, current = self._read_for_change()
            keys = {tenant.key for tenant in current.tenants}
            for tenant in new:
                if tenant.key in keys:
                    raise ValueError(f"{tenant.context_id} ({tenant.env}) is already in the list")
                keys.add(tenant.key)
            return self._append(text, current.tenants, new)

    def add_new(self, tenants: Iterable[Tenant]) -> tuple[list[Tenant], int]:
        """Append the tenants not listed yet (an import); returns them and how many were
        skipped as already listed or repeated. Decided under the lock, so a tenant added
        by someone else meanwhile is skipped rather than refused."""
        with self.locked():
            text, current = self._read_for_change()
            fresh, skipped = without_known(tenants, current.tenants)
            self._append(text, current.tenants, fresh)
            return fresh, skipped

    def _read_for_change(self) -> tuple[str, TenantList]:
        text = self.read_text() or NEW_FILE_HEADER.format(envs=env_names())
        return text, parse_tenant_text(text, self.path)

    def _append(self, text: str, current: list[Tenant], new: Sequence[Tenant]) -> list[Tenant]:
        if not new:
            return current
        expected = current + list(new)
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
        with self.locked():
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
                        f"{seen.context_id} ({seen.env}) was changed in {self.path.name} since "
                        "it was read; nothing was overwritten. Look at it again and retry."
                    )
            results = [change(tenant) for tenant in current.tenants]
            expected = [tenant for tenant in results if tenant is not None]
            if len({t.key for t in expected}) != len(expected):
                raise ValueError("that change would list a tenant twice")
            document = tomlkit.parse(text)
            _apply_to_document(document, current.tenants, results)
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


#: 100,000 tenants take about 8 MB; a file far larger is a mistake, not a list.
MAX_TENANT_FILE_BYTES = 64 * 2**20


def _nonblocking(path: str, flags: int) -> int:
    """Opens without waiting for a writer (a FIFO would block the open itself): the
    descriptor is then checked to be a regular file."""
    return os.open(path, flags | os.O_NONBLOCK)


def _flock_holder(lock_path: Path) -> int | None:
    """The process holding a flock on ``lock_path``, from Linux's /proc/locks (lines
    like ``1: FLOCK ADVISORY WRITE 4242 08:01:1234 0 EOF``); None where it cannot tell."""
    try:
        inode = lock_path.stat().st_ino
        table = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":  # waiters are marked "->"
            continue
        with contextlib.suppress(ValueError, IndexError):
            if int(fields[5].rsplit(":", 1)[1]) == inode:
                return int(fields[4])
    return None


def _apply_to_document(
    document: TOMLDocument, before: list[Tenant], results: list[Tenant | None]
) -> None:
    """Edit the ``[[tenants]]`` tables in place: None removes one, a changed tenant is
    written into its table, so every comment and the order stay."""
    tables = document["tenants"]
    for index in reversed(range(len(results))):
        result = results[index]
        if result is None:
            _remove_table(document, tables, index)
        elif result != before[index]:
            # Only what changed is written: an unchanged line keeps its comment and layout.
            fields, was = _tenant_fields(result), _tenant_fields(before[index])
            for name in ("context_id", "env", "label", "tags"):
                if fields.get(name) == was.get(name):
                    continue
                if name in fields:
                    tables[index][name] = fields[name]
                elif name in tables[index]:
                    del tables[index][name]
    if isinstance(tables, AoT) and len(tables) == 0:
        del document["tenants"]  # else tomlkit writes `tenants = []` at the top


def _remove_table(document: TOMLDocument, tables: Any, index: int) -> None:
    """Remove one tenant's table, keeping the comments below its last line.

    tomlkit keeps the comments and blank lines between one table and the next as the
    tail of the first, but they head the next one (``# --- staging ---`` above a
    section): they stay, moved to the end of the table before, or in front of the next.
    A comment above the removed table stays too, as it may head a whole section.
    """
    if not isinstance(tables, AoT):  # an inline array of tables: no comments of its own
        del tables[index]
        return
    tail = _trailing_trivia(tables[index])
    del tables[index]
    if not any(isinstance(item, Comment) for item in tail):
        return
    if index > 0:
        previous = tables[index - 1]
        for item in tail:
            previous.value.append(None, item)
    elif index < len(tables):
        following = tables[index]
        text = "".join(item.as_string() for item in tail).lstrip("\n")
        following.trivia.indent = text + following.trivia.indent
    else:
        for item in tail:
            document.append(None, item)


def _trailing_trivia(table: Table) -> list[Item]:
    """The blank lines and comments after a table's last key."""
    body = table.value.body
    start = len(body)
    while (
        start > 0
        and body[start - 1][0] is None
        and isinstance(body[start - 1][1], Comment | Whitespace)
    ):
        start -= 1
    return [item for _, item in body[start:]]


class BadImportLines(ValueError):
    """Lines of an import that are not tenants: each with its number and reason."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}:{line}: {reason}" for line, reason in problems))


#: Words a header row of an import is made of (``context_id,env,label`` and the like).
_HEADER_WORDS = frozenset(
    {"context_id", "contextid", "context id", "context", "ctx", "tenant", "customer", "id"}
    | {"env", "environment", "label", "name", "description"}
)


def parse_import_lines(text: str, source: str, default_env: str = DEFAULT_ENV) -> list[Tenant]:
    """Read an import list: CSV records ``CTX[,ENV[,LABEL]]``, ``#`` comment lines.

    One record a line: quoted fields keep their content without the quotes, and a quote
    left open is that line's error (it never takes the lines after it). A UTF-8 byte
    order mark and a header row are skipped; an unquoted label may hold commas; a tenant
    repeated with the same label is passed on (to be skipped as already listed). Raises
    :class:`BadImportLines` naming every bad line (a tenant repeated with another label
    is one), so nothing is imported from a list with any.
    """
    text = text.removeprefix("\ufeff")
    tenants: list[Tenant] = []
    first_seen: dict[str, tuple[int, Tenant]] = {}
    problems: list[tuple[int, str]] = []
    header_possible = True
    for number, line in enumerate(_UNIVERSAL_NEWLINE.split(text), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        try:
            fields = _import_fields(line)
            if not any(fields):
                continue
            if header_possible and all(field.lower() in _HEADER_WORDS for field in fields if field):
                header_possible = False
                continue
            header_possible = False
            tenant = _import_tenant(fields, line, default_env)
            _refuse_relabelling(tenant, first_seen.setdefault(tenant.key, (number, tenant)))
        except ValueError as exc:
            header_possible = False
            problems.append((number, str(exc)))
            continue
        tenants.append(tenant)
    if problems:
        raise BadImportLines(source, problems)
    return tenants


#: Line ends as Python's universal newlines know them (not str.splitlines's many others:
#: a control character in a label is that label's error, not a new line).
_UNIVERSAL_NEWLINE = re.compile(r"\r\n|\r|\n")


def _import_fields(line: str) -> list[str]:
    """One line's CSV fields, stripped; ValueError when a quote is left open."""
    try:
        # A field can only end in a newline if its quote was still open at the line's end.
        (fields,) = csv.reader([line + "\n"], skipinitialspace=True)
    except csv.Error as exc:
        raise ValueError(f"not a CSV line: {exc}") from None
    if any(field.endswith("\n") for field in fields):
        raise ValueError("a quote is not closed on this line (a label is one line)")
    return [field.strip() for field in fields]


def _refuse_relabelling(tenant: Tenant, first: tuple[int, Tenant]) -> None:
    """ValueError if ``tenant`` came first on another line with another label."""
    line, earlier = first
    if earlier.label != tenant.label:
        raise ValueError(
            f"{tenant.context_id} ({tenant.env}) is on line {line} already, with "
            f"{'another label' if earlier.label else 'no label'}: keep one of the two"
        )


def _import_tenant(fields: list[str], line: str, default_env: str) -> Tenant:
    ctx = fields[0]
    env = fields[1] if len(fields) > 1 and fields[1] else default_env
    label = fields[2] if len(fields) > 2 else ""
    if len(fields) > 3:
        # An unquoted label with commas: keep it as written.
        if '"' in line:
            raise ValueError("more than three fields: put quotes around a label with commas")
        label = line.split(",", 2)[2].strip()
    return make_tenant(ctx, env, label)


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
