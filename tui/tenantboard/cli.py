"""Command line: the board (default), `check`, list management, and the simulator.

The HTTP client, asyncio and the board are imported only by the commands that use them,
so that `add`, `list` and `import` start quickly (scripts run many of them).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tenantboard import __version__
from tenantboard.errors import CheckError
from tenantboard.humanize import plural
from tenantboard.paths import board_data_dir, history_path, resolve_config_path
from tenantboard.tenant import DEFAULT_ENV, Tenant, env_names, make_tenant, normalize_env
from tenantboard.tenant_file import (
    BadImportLines,
    NotSaved,
    Settings,
    StoreError,
    TenantList,
    TenantStore,
    parse_import_lines,
)

if TYPE_CHECKING:
    from tenantboard.client import BaseUrl
    from tenantboard.clock import Clock
    from tenantboard.remote import AttachTarget
    from tenantboard.serve.server import ServeConfig
    from tenantboard.session import SessionConfig
    from tenantboard.ui.app import BoardConfig

#: Nagios UNKNOWN: `check` could not tell (a check failed, or it could not check at all).
EXIT_UNKNOWN = 3
EXIT_USAGE = 64
#: sysexits' EX_DATAERR: lines given to `import` are not tenants (the tenant file is fine).
EXIT_DATA = 65
EXIT_CONFIG = 78


class UsageError(Exception):
    """Bad arguments: exit 64 with the message, never a traceback."""


class _Parser(argparse.ArgumentParser):
    """Bad arguments print the usage and raise :class:`UsageError`, so that `main` decides
    how to end: 64 for most commands, an UNKNOWN status line for `check`."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        command = self.prog.removeprefix("tenantboard").strip()
        raise UsageError(f"{command}: {message}" if command else message)


def number_type(
    convert: Callable[[str], float], what: str, rule: str, accept: Callable[[float], bool]
) -> Callable[[str], Any]:
    """A number option's type: the text ``convert``-ed (else "'x' is not WHAT"), then
    ``accept``-ed (else RULE); NaN and the infinities are never accepted."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(rule)
        return value

    return parse


_positive_int = number_type(int, "a whole number", "must be at least 1", lambda n: n >= 1)
_seconds = number_type(
    float, "a number of seconds", "must be a positive number of seconds", lambda s: 0 < s < 1e7
)
_non_negative_seconds = number_type(
    float, "a number of seconds", "must be 0 or more seconds", lambda s: 0 <= s < 1e7
)
_port = number_type(
    int, "a port number", "a port is 0 to 65535 (0 picks a free one)", lambda p: 0 <= p <= 65535
)
_speed = number_type(
    float, "a number", "must be a factor above 0 (1 is real time)", lambda f: 0 < f <= 1_000_000
)


def _env(text: str) -> str:
    """An environment by any of its names; `qaonline` is `stage`."""
    try:
        return normalize_env(text)
    except CheckError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


ENV_METAVAR = "ENV"
#: What the file's [settings] are when it has none: the defaults the help text names.
DEFAULT_SETTINGS = Settings()

#: The board's three ways to open, told apart for the options each uses.
BOARD, DEMO, ATTACH = "board", "--demo", "--attach"
_SHOWN_AS = {BOARD: "the board", DEMO: "the board with --demo", ATTACH: "the board with --attach"}
#: The commands that read the tenant file, that check tenants, and that keep checking.
_READ_THE_FILE = frozenset(
    {BOARD, "check", "add", "remove", "list", "paths", "import", "report", "history"}
    | {"serve", "notify-test", "maintenance"}
)
_CHECK = frozenset({BOARD, DEMO, "check", "serve"})
_KEEP_CHECKING = frozenset({BOARD, DEMO, "serve"})


@dataclass(frozen=True)
class GlobalOption:
    """An option that may go before the command, and after it for the commands that use
    it (``used_by``); given to any other command, it is an error, never ignored."""

    flag: str
    used_by: frozenset[str]
    settings: dict[str, Any]

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser | Any, *, hidden: bool = False) -> None:
        # SUPPRESS: an option left out sets nothing, so the value given before the command
        # survives the command's parser, and `main` can tell what was given.
        settings = {**self.settings, "help": argparse.SUPPRESS} if hidden else self.settings
        parser.add_argument(self.flag, default=argparse.SUPPRESS, **settings)


GLOBAL_OPTIONS = (
    GlobalOption(
        "--config",
        _READ_THE_FILE,
        {
            "metavar": "PATH",
            "help": "tenant file (default: $TENANTBOARD_CONFIG, else the platform's config folder)",
        },
    ),
    GlobalOption(
        "--base-url",
        _CHECK - {DEMO},
        {
            "metavar": "URL",
            "help": "send every request to this server instead of SuperOffice (e.g. the simulator)",
        },
    ),
    GlobalOption(
        "--concurrency",
        _CHECK,
        {
            "type": _positive_int,
            "metavar": "N",
            "help": "checks in flight at once (default: the file's setting, else "
            f"{DEFAULT_SETTINGS.concurrency})",
        },
    ),
    GlobalOption(
        "--timeout",
        _CHECK,
        {
            "type": _seconds,
            "metavar": "SECONDS",
            "help": "time allowed for one request (default: the file's setting, else "
            f"{DEFAULT_SETTINGS.timeout:g})",
        },
    ),
    GlobalOption(
        "--min-interval",
        _KEEP_CHECKING,
        {
            "type": _seconds,
            "metavar": "SECONDS",
            "help": "never check a tenant more often than this (default: the file's setting, "
            f"else {DEFAULT_SETTINGS.min_interval:g})",
        },
    ),
    GlobalOption(
        "--max-interval",
        _KEEP_CHECKING,
        {
            "type": _seconds,
            "metavar": "SECONDS",
            "help": "never wait longer than this between checks (default: the file's setting, "
            f"else {DEFAULT_SETTINGS.max_interval:g})",
        },
    ),
    GlobalOption(
        "--demo",
        frozenset({DEMO}),
        {
            "action": "store_true",
            "help": "open the board on the built-in simulator with a demo list (your file is "
            "not touched)",
        },
    ),
    GlobalOption(
        "--attach",
        frozenset({ATTACH}),
        {
            "metavar": "URL",
            "help": "open the board on a running `tenantboard serve` (its list and checks; "
            "nothing is asked of SuperOffice from here)",
        },
    ),
    GlobalOption(
        "--attach-token-file",
        frozenset({ATTACH}),
        {"metavar": "PATH", "type": Path, "help": "the token that server asks for (with --attach)"},
    ),
)


def _add_global_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The global options, after the command as before it: those ``command`` uses in its
    help, the others hidden, there only to be refused by name (not as a stray argument)."""
    used = [option for option in GLOBAL_OPTIONS if command in option.used_by]
    group = parser.add_argument_group("options that may also go before the command")
    for option in GLOBAL_OPTIONS:
        option.add_to(group, hidden=option not in used)


def _refuse_unused_options(args: argparse.Namespace) -> None:
    """Every global option given must be one ``args.command`` uses."""
    command = args.command
    if command == BOARD:
        if hasattr(args, "attach") and hasattr(args, "demo"):
            raise UsageError("--attach and --demo: choose one")
        command = ATTACH if hasattr(args, "attach") else DEMO if hasattr(args, "demo") else BOARD
    for option in GLOBAL_OPTIONS:
        if hasattr(args, option.dest) and command not in option.used_by:
            users = sorted(_SHOWN_AS.get(user, user) for user in option.used_by)
            only = f" (it goes with {' and '.join(users)})" if len(users) <= 3 else ""
            raise UsageError(
                f"{option.flag} is not an option of {_SHOWN_AS.get(command, command)}{only}"
            )
    for option in GLOBAL_OPTIONS:  # from here on, every option is there: None if not given
        if not hasattr(args, option.dest):
            setattr(args, option.dest, False if option.flag == "--demo" else None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tenantboard",
        description="A live terminal status board for SuperOffice CRM Online tenants.",
    )
    parser.add_argument("--version", action="version", version=f"tenantboard {__version__}")
    for option in GLOBAL_OPTIONS:
        option.add_to(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add_command(name: str, **settings: Any) -> argparse.ArgumentParser:
        command = commands.add_parser(name, **settings)
        _add_global_options(command, name)
        return command

    check = add_command(
        "check",
        help="check tenants once; Nagios-style exit code",
        description="Check the named tenants (or the saved list) once. Exit code: 0 OK, "
        "1 WARNING, 2 CRITICAL, 3 UNKNOWN (also when it cannot check: bad options, a "
        "broken tenant file); the worst tenant decides.",
    )
    check.add_argument("context_ids", nargs="*", metavar="CTX")
    check.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        help=f"{env_names()}: the environment of the named tenants (default {DEFAULT_ENV}); "
        "with none named, check only the saved tenants in this environment",
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument(
        "--versions", action="store_true", help="also fetch each running tenant's version info"
    )
    check.add_argument(
        "--respect-mutes",
        action="store_true",
        help="leave muted and acknowledged tenants, and those in a maintenance window, out "
        "of the exit code",
    )

    add = add_command("add", help="add tenants to the list")
    add.add_argument("context_ids", nargs="+", metavar="CTX")
    add.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        default=DEFAULT_ENV,
        help=f"{env_names()} (default %(default)s)",
    )
    add.add_argument("--label", default="", help="a name to show instead of the context id")

    remove = add_command("remove", help="remove tenants from the list")
    remove.add_argument("context_ids", nargs="+", metavar="CTX")
    remove.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        help="only in this environment (default: every environment)",
    )

    listing = add_command("list", help="show the saved list")
    listing.add_argument("--json", action="store_true")

    add_command("paths", help="show where tenantboard keeps its files")

    importing = add_command(
        "import",
        help="add many tenants from a CSV file (CTX[,ENV[,LABEL]] a line)",
        description="Add many tenants from a CSV list: CTX[,ENV[,LABEL]] a line, # comments, "
        "an optional header row. Every bad line is reported and then nothing is imported "
        f"(exit {EXIT_DATA}); tenants already listed are skipped.",
    )
    importing.add_argument("file", metavar="FILE", help="the file, or - for standard input")
    importing.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        default=DEFAULT_ENV,
        help="environment for lines that name none (default %(default)s)",
    )

    _add_history_commands(add_command)
    _add_maintenance_command(add_command)

    simulate = add_command(
        "simulate",
        help="serve the simulated state API on 127.0.0.1",
        description="Serve the simulator over HTTP for end-to-end tests and benchmarks. Point "
        "tenantboard at it with --base-url http://127.0.0.1:PORT.",
    )
    simulate.add_argument(
        "--port", type=_port, default=8080, help="port (default %(default)s; 0 picks a free one)"
    )
    simulate.add_argument(
        "--tenants",
        type=_positive_int,
        metavar="N",
        help="tenants Cust1..CustN exist (plus the demo's); others are Unknown",
    )
    simulate.add_argument(
        "--slow-delay",
        type=_non_negative_seconds,
        default=4.0,
        metavar="SECONDS",
        help="how long the slow tenants take to answer (default %(default)g)",
    )
    simulate.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="FACTOR",
        help="run the scenario's clock this many times faster (default %(default)g)",
    )
    simulate.add_argument(
        "--chaos",
        action="store_true",
        help="a long day's faults: resets, slow and broken bodies, 5xx bursts, 429 with "
        "Retry-After, endpoint moves, whole-server outages, clock jumps in Date",
    )
    simulate.add_argument(
        "--seed", type=int, default=1, help="the chaos plan's seed: same seed, same faults"
    )
    simulate.add_argument(
        "--maintenance-night",
        nargs="?",
        const="superoffice",
        choices=("superoffice", "now"),
        help="act out maintenance: in SuperOffice's documented windows as they come "
        "(Europe/Oslo), or with `now` a two-hour night starting now; most tenants go "
        "OfflineMaintenance for a while, a few stay down past the window's end",
    )
    _add_serve_commands(add_command)
    return parser


def _add_serve_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    from tenantboard.remote import DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, TENANT_SERIES

    serving = add_command(
        "serve",
        help="watch the tenant file's tenants without a screen: metrics, alerts, status page",
        description="Check every tenant in the tenant file on its schedule and serve "
        "Prometheus metrics (/metrics), a status page (/), JSON (/api/tenants, "
        "/api/snapshot) and an event stream (/api/events); run the [[notify]] alert hooks. "
        "Stops on SIGTERM (exit 0) or SIGINT (exit 130).",
    )
    serving.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="address to listen on (default %(default)s; [::1]:PORT for IPv6)",
    )
    serving.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="require the token in FILE on every endpoint but /healthz (needed to listen "
        "on a non-loopback address)",
    )
    serving.add_argument(
        "--insecure-public",
        action="store_true",
        help="allow a non-loopback address without a token: anyone who reaches it can read it",
    )
    serving.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to NAME (a reverse proxy's or a DNS name of "
        "this host); repeatable. Other names get 421 (see docs/security.md)",
    )
    serving.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="connections held at once, event streams included (default %(default)s); past "
        "it new ones are closed at once",
    )
    serving.add_argument(
        "--tenant-series",
        choices=TENANT_SERIES,
        default=TENANT_SERIES[0],
        help="which tenants have their own series in /metrics: every tenant checked "
        "(default), or only those that need attention (not OK, or past their planned "
        "check): a few hundred series, not seven per tenant, for a large fleet "
        "(docs/serve.md#how-many-series)",
    )
    serving.add_argument(
        "--log-format",
        choices=("plain", "json"),
        default="plain",
        help="log lines on standard error: plain text (default) or JSON lines",
    )
    testing = add_command(
        "notify-test",
        help="send a sample message through each [[notify]] hook and report each result",
    )
    testing.add_argument("--hook", metavar="NAME", help="only the hook with this name")


def command_in(argv: Sequence[str]) -> str:
    """The command ``argv`` names (BOARD when none), found without parsing the rest: even
    arguments that do not parse are answered the command's way (`check`'s, for Nagios)."""
    takes_value = [o.flag for o in GLOBAL_OPTIONS if o.settings.get("action") != "store_true"]
    after_option = False
    for word in argv:
        if word.startswith("-") and word != "-":
            # argparse takes `--opt VALUE`, `--opt=VALUE` and unambiguous prefixes of --opt.
            after_option = "=" not in word and any(flag.startswith(word) for flag in takes_value)
        elif after_option:
            after_option = False
        else:
            return word
    return BOARD


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The command line as the commands read it: ``command`` (BOARD for the board), every
    global option (None or False when not given); UsageError when it is wrong."""
    args = build_parser().parse_args(argv)
    args.command = args.command or BOARD
    _refuse_unused_options(args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    code = 0
    try:
        args = parse_arguments(argv)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that went away is noticed here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return code
    except (Exception, KeyboardInterrupt) as exc:
        if command_in(argv) == "check":
            return _check_failed(exc, json_output="--json" in argv)
        return _failed(exc)
    return code


def _failed(exc: BaseException) -> int:
    """Say why a command (other than `check`) failed; its exit code. A bug is raised on."""
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if not isinstance(exc, UsageError | BadImportLines | StoreError):
        raise exc
    if isinstance(exc, BadImportLines):
        bad = plural(len(exc.problems), "bad line")
        print(f"tenantboard: {bad}; nothing imported", file=sys.stderr)
        print(exc, file=sys.stderr)
        return EXIT_DATA
    print(f"tenantboard: {exc}", file=sys.stderr)
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, NotSaved):
        print("Nothing was changed: the file was left as it is.", file=sys.stderr)
    else:
        print("The file was left as it is; fix it and try again.", file=sys.stderr)
    return EXIT_CONFIG


def _reason(exc: BaseException) -> str:
    """Why `check` could not check, in a few words."""
    if isinstance(exc, StoreError):
        return f"cannot read the tenant file: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, UsageError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def _check_failed(exc: BaseException, *, json_output: bool) -> int:
    """`check` could not check (bad arguments, no tenants, the tenant file, a bug): as a
    Nagios plugin, UNKNOWN, with one status line (or JSON) on standard output saying why."""
    from tenantboard.check_output import broken_file_json, unknown_json, unknown_summary

    reason = _reason(exc)
    if isinstance(exc, UsageError | StoreError | KeyboardInterrupt):
        print(f"tenantboard: {reason}", file=sys.stderr)
    else:  # a bug: the whole story for the report, on standard error
        traceback.print_exception(exc, file=sys.stderr)
    if not json_output:
        write_out(unknown_summary(reason))
    elif isinstance(exc, StoreError):
        write_out(broken_file_json(exc))
    else:
        kind = "usage" if isinstance(exc, UsageError) else "internal"
        write_out(unknown_json(kind, reason))
    return EXIT_UNKNOWN


def write_out(text: str) -> None:
    """Print to standard output; a reader that stopped reading (``| head -1``) is not an
    error: the rest of the output is dropped and the command ends with its own code."""
    try:
        print(text)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Point standard output at the null device, so that flushing what is left (now, or
    at exit) cannot fail again with a traceback."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def store_for(args: argparse.Namespace) -> TenantStore:
    return TenantStore(resolve_config_path(args.config))


def base_url_for(args: argparse.Namespace) -> BaseUrl | None:
    from tenantboard.client import BaseUrl

    text = args.base_url or os.environ.get("TENANTBOARD_BASE_URL")
    if not text:
        return None
    try:
        return BaseUrl.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


#: The settings an option overrides; every other setting comes from the file as it is.
_SETTING_OPTIONS = ("concurrency", "timeout", "min_interval", "max_interval")


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as options, by name (None for those not given): they win over
    the file's, also when a session reads the file again."""
    return {name: getattr(args, name, None) for name in _SETTING_OPTIONS}


def effective_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The file's settings (all of them) with the options given on the command line in
    their place; validated."""
    from tenantboard.session import with_overrides

    try:
        return with_overrides(settings, settings_overrides(args)).validated()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _tenants_from_args(
    context_ids: Sequence[str], env: str | None, label: str = ""
) -> list[Tenant]:
    tenants = []
    for ctx in context_ids:
        try:
            tenants.append(make_tenant(ctx, env, label))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return tenants


# -- commands ---------------------------------------------------------------------------


def cmd_board(args: argparse.Namespace) -> int:
    from tenantboard.ui.app import run_board

    config = board_config(args)
    refusal = not_a_terminal()
    if refusal:
        raise UsageError(refusal)
    return run_board(config)


def board_config(args: argparse.Namespace) -> BoardConfig:
    """What the board opens on: the tenant file (its list, every setting, keys, hooks and
    history), the demo, or a running serve (--attach)."""
    from tenantboard.ui.app import BoardConfig

    return BoardConfig(session=_board_session(args), demo=bool(args.demo))


def _board_session(args: argparse.Namespace) -> SessionConfig:
    from tenantboard.session import SessionConfig

    overrides = settings_overrides(args)
    if args.attach is not None:  # the serve it follows checks, records and runs the hooks
        return SessionConfig(tenants=[], overrides=overrides, attach=_attach_target(args))
    if args.demo:
        from tenantboard.simulator import demo_tenants

        effective_settings(args, Settings())  # a bad combination of options is said now
        return SessionConfig(tenants=demo_tenants(), overrides=overrides)
    return _file_session(args, kind="board")


def _file_session(args: argparse.Namespace, *, kind: str) -> SessionConfig:
    """A session on the tenant file: its list, every setting (the options' on top), keys,
    hooks, history and data folder."""
    from tenantboard.session import SessionConfig

    store = store_for(args)
    tenant_list = store.load()
    effective_settings(args, tenant_list.settings)  # a bad combination is said now
    return SessionConfig(
        tenants=tenant_list.tenants,
        settings=tenant_list.settings,
        overrides=settings_overrides(args),
        store=store,
        hooks=list(tenant_list.notify),
        keys=tenant_list.keys,
        history_path=history_path(store.path),
        data_dir=board_data_dir(store.path),
        base_url=base_url_for(args),
        kind=kind,
        commands_refused=tenant_list.commands_refused,
        maintenance=tenant_list.maintenance,
    )


def not_a_terminal() -> str:
    """Why the board cannot run here ("" when it can). It reads keys from standard input,
    takes the screen's size from standard output and draws on standard error (Textual's
    way): with any of them piped or redirected it would draw into a file, or take a size
    that is not the terminal's and redraw without end (a piped board spun at 93% of a core
    and ignored SIGTERM)."""
    streams = (("input", sys.stdin), ("output", sys.stdout), ("error", sys.stderr))
    missing = [name for name, stream in streams if stream is None or not stream.isatty()]
    if not missing:
        return ""
    names = ", ".join(missing[:-1]) + " and " if len(missing) > 1 else ""
    verb = "is not a terminal" if len(missing) == 1 else "are not terminals"
    return (
        f"the board runs in a terminal, and standard {names}{missing[-1]} {verb} "
        "(piped or redirected). "
        "For scripts and logs use `tenantboard check` (a table; --json for machines). "
        "The board needs standard input, output and error on the terminal."
    )


def _attach_target(args: argparse.Namespace) -> AttachTarget:
    from tenantboard.remote import AttachTarget

    token = None
    if args.attach_token_file:
        from tenantboard.serve.server import ServeError, read_token

        try:
            token = read_token(args.attach_token_file)
        except ServeError as exc:
            raise UsageError(str(exc)) from None
    try:
        return AttachTarget.parse(args.attach, token)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    """Check once and exit with the worst tenant's Nagios code. Whatever keeps it from
    checking (no tenants, the tenant file, a bad id) is raised; `main` answers UNKNOWN."""
    import asyncio

    from tenantboard.check_output import (
        outage_summary_line,
        render_table,
        summary_line,
        worst_exit_code,
    )
    from tenantboard.clock import SystemClock

    clock = SystemClock()
    started = clock.monotonic()
    store = store_for(args)
    tenants, settings = _tenants_to_check(args, store)
    results = asyncio.run(_check(args, tenants, settings, clock))
    marks = _check_marks(store.path, results)
    windows = _check_windows(store, results, clock.wall())
    if args.json:
        write_out(_check_json(results, marks, windows, versions=args.versions))
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        duration = clock.monotonic() - started
        write_out(outage_summary_line(results, duration) or summary_line(results, duration))
        write_out(render_table(results, color=color, versions=args.versions))
        _print_marks(results, marks)
        _print_windows(results, windows, clock.wall())
    if args.respect_mutes:
        results = [
            result
            for result in results
            if not marks.get(result.tenant.key) and result.tenant.key not in windows
        ]
        if not results:
            return 0
    return worst_exit_code(results)


def _tenants_to_check(
    args: argparse.Namespace, store: TenantStore
) -> tuple[list[Tenant], Settings]:
    """The named tenants (once each, with their saved labels), else the saved list (only
    ``--env``'s tenants when it is given); StoreError when the saved list is needed and
    broken. The file's settings with the options' overrides either way."""
    if args.context_ids:
        saved = TenantList()
        with contextlib.suppress(StoreError):  # labels are a nicety: check regardless
            saved = store.load()
        named = _named_tenants(args.context_ids, args.env or DEFAULT_ENV, saved.tenants)
        return named, effective_settings(args, saved.settings)
    tenant_list = store.load()
    tenants = tenant_list.tenants
    if args.env is not None:
        tenants = [tenant for tenant in tenants if tenant.env == args.env]
        if not tenants and tenant_list.tenants:
            raise UsageError(f"no tenants in {args.env} to check in {store.path}")
    if not tenants:
        raise UsageError(f"no tenants to check: name some, or add them to {store.path}")
    return tenants, effective_settings(args, tenant_list.settings)


async def _check(
    args: argparse.Namespace, tenants: list[Tenant], settings: Settings, clock: Clock
) -> list:
    from tenantboard.client import TenantClient
    from tenantboard.engine import check_all

    async with TenantClient(
        base_url=base_url_for(args),
        timeout=settings.timeout,
        max_connections=settings.concurrency,
        clock=clock,
    ) as client:
        return await check_all(
            client,
            tenants,
            concurrency=settings.concurrency,
            clock=clock,
            versions=args.versions,
        )


def cmd_add(args: argparse.Namespace) -> int:
    store = store_for(args)
    tenants = _tenants_from_args(args.context_ids, args.env, args.label)
    try:
        store.add(tenants)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for tenant in tenants:
        write_out(f"added {tenant.context_id} ({tenant.env})")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    store = store_for(args)
    wanted = {t.context_id for t in _tenants_from_args(args.context_ids, DEFAULT_ENV)}
    current = store.load().tenants
    keys = [
        t.key for t in current if t.context_id in wanted and (args.env is None or t.env == args.env)
    ]
    found = {t.context_id for t in current if t.key in keys}
    missing = sorted(wanted - found)
    if missing:
        raise UsageError(f"not in the list: {', '.join(missing)}; nothing removed")
    try:
        store.remove(keys)
    except ValueError as exc:  # removed by someone else meanwhile
        raise UsageError(str(exc)) from None
    for key in keys:
        env, context_id = key.split(":", 1)
        write_out(f"removed {context_id} ({env})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from tenantboard.sanitize import clean

    tenants = store_for(args).load().tenants
    if args.json:
        write_out(
            json.dumps(
                [{"context_id": t.context_id, "env": t.env, "label": t.label} for t in tenants],
                indent=2,
            )
        )
        return 0
    width = max((len(t.context_id) for t in tenants), default=10)
    for tenant in tenants:
        write_out(
            f"{tenant.context_id:<{width}}  {tenant.env:<6}  {clean(tenant.label, 120)}".rstrip()
        )
    if not tenants:
        print(
            "no tenants yet: add some with `tenantboard add CTX` or `tenantboard import FILE`",
            file=sys.stderr,
        )
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    from tenantboard.paths import default_config_path

    tenant_file = resolve_config_path(args.config)
    data_dir = board_data_dir(tenant_file)
    write_out(f"tenant file:  {tenant_file}")
    write_out(f"default:      {default_config_path()}")
    write_out(f"remembered:   {data_dir / 'ui-state.json'}")
    write_out(f"history:      {history_path(tenant_file)}  (results, event log, mutes)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    source = "<stdin>" if args.file == "-" else args.file
    try:
        # utf-8-sig: a list saved by a spreadsheet starts with a byte order mark.
        if args.file == "-":
            text = sys.stdin.read()
        else:
            text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {exc}") from None
    tenants = parse_import_lines(text, source, args.env)
    store = store_for(args)
    fresh, skipped = store.add_new(tenants)
    note = f" ({skipped} already listed, skipped)" if skipped else ""
    write_out(f"imported {plural(len(fresh), 'tenant')}{note} into {store.path}")
    return 0


def _maintenance_night(which: str | None, seed: int) -> Any:
    """``simulate --maintenance-night``'s plan: SuperOffice's windows, or a night from now."""
    from datetime import timedelta

    from tenantboard.maintenance import Rule
    from tenantboard.simulator.scenario import MaintenanceNight

    if which is None:
        return None
    if which == "superoffice":
        return MaintenanceNight(seed=seed)
    now = datetime.now(UTC)
    night = Rule(
        "adhoc",
        "simulated maintenance night",
        UTC,
        now.time().replace(microsecond=0),
        length=timedelta(hours=2),
        first=now.date(),
        last=now.date(),
    )
    return MaintenanceNight(rules=(night,), seed=seed)


def cmd_simulate(args: argparse.Namespace) -> int:
    from tenantboard.simulator import Simulator, serve
    from tenantboard.simulator.scenario import Chaos
    from tenantboard.simulator.server import serve_with_outages

    def announce(port: int) -> None:
        print(f"simulating the state API on http://127.0.0.1:{port}", flush=True)
        print(
            f"try: tenantboard check --base-url http://127.0.0.1:{port} Cust1001 Cust1008",
            flush=True,
        )

    async def run() -> None:
        simulator = Simulator(
            slow_delay=args.slow_delay,
            tenant_count=args.tenants,
            speed=args.speed,
            chaos=Chaos(seed=args.seed) if args.chaos else None,
            maintenance=_maintenance_night(args.maintenance_night, args.seed),
        )
        if args.chaos:
            await serve_with_outages(args.port, simulator=simulator, on_ready=announce)
            return
        server = await serve(args.port, simulator=simulator)
        announce(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    import asyncio

    try:
        asyncio.run(run())
    except OSError as exc:
        raise UsageError(f"cannot serve on port {args.port}: {exc.strerror or exc}") from None
    return 0


# -- history: `report`, `history`, and `check`'s mutes -----------------------------------------

EXIT_HISTORY = 74  # the history database cannot be read (damaged, newer, unreadable)


#: The period `report` and `history` look at when none is given.
REPORT_SPAN, HISTORY_SPAN = "30d", "7d"


def _add_history_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    report = add_command(
        "report",
        help=f"availability per tenant over a period (default --since {REPORT_SPAN})",
        description="Uptime, downtime, incidents, longest outage, maintenance time, last seen "
        "running and observed coverage per tenant, from the history the board recorded.",
    )
    report.add_argument("context_ids", nargs="*", metavar="CTX")
    report.add_argument("--env", type=_env, metavar=ENV_METAVAR, help="only this environment")
    _add_window_options(report, REPORT_SPAN)
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--csv", action="store_true", help="print CSV instead of a table")

    history = add_command("history", help="one tenant's recorded states, events and mutes")
    history.add_argument("context_id", metavar="CTX")
    history.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        help="the environment (default: the one the saved list, else the history, has it in)",
    )
    _add_window_options(history, HISTORY_SPAN)
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_maintenance_command(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    maintenance = add_command(
        "maintenance",
        help="ad hoc maintenance windows: start one, list the windows, end one early",
        description="While a maintenance window covers a tenant, its changes are planned: "
        "no pop-up, bell or alert hook, and reports leave the downtime out. Windows started "
        "here reach every board and serve on the tenant file within half a minute.",
    )
    actions = maintenance.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser
    )
    start = actions.add_parser("start", help="a window from now, for a while")
    _add_global_options(start, "maintenance")
    start.add_argument("context_ids", nargs="*", metavar="CTX", help="these tenants")
    start.add_argument("--env", type=_env, metavar=ENV_METAVAR, help="tenants in this environment")
    start.add_argument("--host", metavar="HOST", help="tenants on this endpoint host (online3)")
    start.add_argument("--tag", metavar="TAG", help="tenants with this tag")
    start.add_argument("--all", action="store_true", help="every tenant")
    start.add_argument("--for", dest="length", required=True, metavar="SPAN", help="e.g. 2h, 90m")
    start.add_argument("--name", default="", help="what it is for (shown on the board)")
    listing = actions.add_parser("list", help="the windows open now and to come")
    _add_global_options(listing, "maintenance")
    listing.add_argument(
        "--days",
        type=_positive_int,
        default=7,
        metavar="N",
        help="windows to come within N days (default %(default)s)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    end = actions.add_parser("end", help="end ad hoc windows now")
    _add_global_options(end, "maintenance")
    end.add_argument("ids", nargs="*", type=_positive_int, metavar="ID", help="as listed")
    end.add_argument("--all", action="store_true", help="every ad hoc window open now")


def _add_window_options(parser: argparse.ArgumentParser, default: str) -> None:
    window = parser.add_mutually_exclusive_group()
    window.add_argument(
        "--since", metavar="SPAN", help=f"the last SPAN, e.g. 7d, 24h, 2w (default {default})"
    )
    window.add_argument("--from", dest="date_from", metavar="DATE", help="from this date")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="up to this date (inclusive)")
    parser.set_defaults(default_span=default)


def _window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    from tenantboard.history.report_output import parse_moment
    from tenantboard.humanize import parse_span

    now = datetime.now(UTC)
    try:
        end = parse_moment(args.date_to, end_of_day=True) if args.date_to else now
        if args.date_from:
            start = parse_moment(args.date_from)
        else:
            if args.date_to and args.since is None:
                raise ValueError("--to needs --from")
            start = end - parse_span(args.since or args.default_span)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    end = min(end, now)  # the future has not been observed yet
    if start >= end:
        raise UsageError("the period is empty: --from must be before --to, and in the past")
    return start, end


def _open_history(args: argparse.Namespace) -> Any:
    """The history database, read-only (a board may be writing it); None when there is
    none yet. A damaged or newer file ends the command with EXIT_HISTORY."""
    from tenantboard.history.db import HistoryDB, HistoryError

    path = history_path(resolve_config_path(args.config))
    if not path.exists():
        print(f"tenantboard: no history recorded yet ({path})", file=sys.stderr)
        return None
    try:
        return HistoryDB.open(path, read_only=True)
    except HistoryError as exc:
        if "no history" in exc.detail:
            print(f"tenantboard: no history recorded yet ({path})", file=sys.stderr)
            return None
        raise _HistoryUnreadable(str(exc)) from None


class _HistoryUnreadable(Exception):
    pass


def cmd_report(args: argparse.Namespace) -> int:
    from tenantboard.history.availability import availability
    from tenantboard.history.planned import planned_figures
    from tenantboard.history.report_output import ReportRow, report_csv, report_json, report_table

    # A report of 100,000 tenants makes millions of objects that all live until it is
    # printed: hunting for cycles among them took a tenth of its time, and finds none.
    gc.disable()
    start, end = _window(args)
    saved = store_for(args).load().tenants
    tenants = _named_tenants(args.context_ids, args.env, saved) if args.context_ids else saved
    try:
        db = _open_history(args)
    except _HistoryUnreadable as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_HISTORY
    if not args.context_ids and not tenants and db is not None:
        tenants = [_tenant_of_key(key) for key in db.tenant_keys()]
    if args.env:
        tenants = [tenant for tenant in tenants if tenant.env == args.env]
    found = db.window_intervals([t.key for t in tenants], start, end) if db else {}
    outages = db.outages(start, end) if db else []
    windows = db.windows(start, end) if db else []
    if db is not None:
        db.close()
    rows = []
    for tenant in tenants:
        spans = found.get(tenant.key, [])
        figures = availability(spans, start, end)
        rows.append(ReportRow(tenant, figures, planned_figures(tenant, spans, windows, figures)))
    if args.json:
        print(report_json(rows, start, end, outages))
    elif args.csv:
        print(report_csv(rows))
    else:
        print(report_table(rows, start, end, outages))
    return 0


def _tenant_of_key(key: str) -> Tenant:
    env, _, context_id = key.partition(":")
    return Tenant(context_id, env)


def _named_tenants(
    context_ids: Sequence[str], env: str | None, saved: Sequence[Tenant]
) -> list[Tenant]:
    """The tenants named, once each, as the saved list has them (their labels, and
    without ``env`` every environment it has each in); one not saved is taken in ``env``,
    else online."""
    found: dict[str, Tenant] = {}
    for named in _tenants_from_args(context_ids, env or DEFAULT_ENV):
        for tenant in _with_id(saved, named.context_id, env) or [named]:
            found.setdefault(tenant.key, tenant)
    return list(found.values())


def _with_id(tenants: Iterable[Tenant], context_id: str, env: str | None) -> list[Tenant]:
    """Those of ``tenants`` with this context id (in ``env`` when it is given)."""
    return [t for t in tenants if t.context_id == context_id and env in (None, t.env)]


def _history_tenant(args: argparse.Namespace, saved: Sequence[Tenant], db: Any) -> Tenant:
    """The one tenant `history CTX` is about: in ``--env`` when given, else in the
    environment the saved list has it in, else the history; UsageError when that is
    several, or when it is neither listed nor recorded."""
    (named,) = _tenants_from_args([args.context_id], args.env or DEFAULT_ENV)
    found, where = _with_id(saved, named.context_id, args.env), "saved"
    if not found and db is not None:
        recorded = map(_tenant_of_key, db.tenant_keys())
        found, where = _with_id(recorded, named.context_id, args.env), "recorded"
    if len(found) > 1:
        envs = " and ".join(tenant.env for tenant in found)
        raise UsageError(f"{named.context_id} is {where} in {envs}: say which with --env")
    if not found:
        env = f" in {args.env}" if args.env else ""
        raise UsageError(
            f"{named.context_id}{env} is neither in the list nor in the history: nothing to show"
        )
    return found[0]


def cmd_history(args: argparse.Namespace) -> int:
    from tenantboard.history.planned import covering_windows
    from tenantboard.history.report_output import HistoryWindows, history_json, history_table

    start, end = _window(args)
    saved = store_for(args).load().tenants
    try:
        db = _open_history(args)
    except _HistoryUnreadable as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_HISTORY
    intervals, events, marks, outages, windows = [], [], [], [], HistoryWindows()
    with db if db is not None else contextlib.nullcontext():
        tenant = _history_tenant(args, saved, db)
        if db is not None:
            intervals = db.intervals(tenant.key, start, end)
            outages = db.outages(start, end)
            events = [e for e in db.events(tenant.key, start, limit=10_000) if e.at < end]
            marks = [
                mark
                for mark in db.marks([tenant.key], include_ended=True)
                if mark.created_at < end and (mark.ended_at is None or mark.ended_at >= start)
            ]
            spans = db.window_intervals([tenant.key], start, end)[tenant.key]
            covering = covering_windows(tenant, spans, db.windows(start, end))
            windows = HistoryWindows.of(tenant, spans, covering, start, end)
    render = history_json if args.json else history_table
    print(render(tenant, intervals, events, marks, outages, windows))
    return 0


def cmd_maintenance(args: argparse.Namespace) -> int:
    """Ad hoc windows in the history database, where every session on the file reads them."""
    from tenantboard.history.db import HistoryDB, HistoryError

    store = store_for(args)
    tenant_list = store.load()
    path = history_path(store.path)
    now = datetime.now(UTC).replace(microsecond=0)
    if args.action == "list":
        return _list_windows(args, tenant_list, path, now)
    window = _new_window(args, tenant_list.tenants, now) if args.action == "start" else None
    try:
        with HistoryDB.open(path) as db:
            if window is not None:
                window = db.add_window(window, now)
                write_out(
                    f"maintenance window {window.id} started: {window.name}, for "
                    f"{window.scope.describe()}, {window.until_text(now)}"
                )
                return 0
            return _end_windows(args, db, now)
    except HistoryError as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_HISTORY


def _window_scope(args: argparse.Namespace, saved: Sequence[Tenant]) -> Any:
    """What ``maintenance start`` covers; UsageError when it is nothing or matches no
    tenant in the list (hosts are known only to a running board or serve)."""
    from tenantboard.maintenance import EVERYTHING, Scope, check_host

    given = [args.context_ids, args.env, args.host, args.tag]
    if args.all:
        if any(given):
            raise UsageError("--all covers every tenant: name no tenant, --env, --host or --tag")
        return EVERYTHING
    if not any(given):
        raise UsageError("say what it covers: CTX..., --env, --host, --tag or --all")
    try:
        ids = {t.context_id for t in _tenants_from_args(args.context_ids, DEFAULT_ENV)}
        scope = Scope(
            envs=frozenset({args.env} if args.env else ()),
            hosts=frozenset({check_host(args.host)} if args.host else ()),
            tags=frozenset({args.tag} if args.tag else ()),
            context_ids=frozenset(ids),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not scope.hosts and not any(scope.covers(tenant, None) for tenant in saved):
        raise UsageError(f"no tenant in the list is {scope.describe()}; nothing started")
    return scope


def _new_window(args: argparse.Namespace, saved: Sequence[Tenant], now: datetime) -> Any:
    """The window ``maintenance start`` asks for; UsageError before anything is written."""
    from tenantboard.history.db import current_user
    from tenantboard.humanize import parse_span
    from tenantboard.maintenance import LONGEST, Window

    scope = _window_scope(args, saved)
    try:
        length = parse_span(args.length)
    except ValueError as exc:
        raise UsageError(f"--for: {exc}") from None
    if length > LONGEST:
        raise UsageError("--for: at most 7 days")
    name = args.name.strip()
    if args.name and (not name or len(name) > 60 or not name.isprintable()):
        raise UsageError("--name is 1-60 characters of text")
    by = current_user()
    return Window("adhoc", name or f"ad hoc, by {by}", now, now + length, scope, by=by)


def _end_windows(args: argparse.Namespace, db: Any, now: datetime) -> int:
    open_ones = {w.id: w for w in db.windows(now, None, source="adhoc") if w.open_at(now)}
    if args.all == bool(args.ids):
        raise UsageError(
            "name the windows to end (their ids, as `maintenance list` shows), or --all"
        )
    ids = list(open_ones) if args.all else args.ids
    missing = [str(i) for i in ids if i not in open_ones]
    if missing:
        raise UsageError(
            f"no ad hoc window open now with id {', '.join(missing)}; nothing ended "
            "(SuperOffice's and the tenant file's windows are changed in the tenant file)"
        )
    for window_id in ids:
        db.end_window(open_ones[window_id], now)
        write_out(f"maintenance window {window_id} ended: {open_ones[window_id].name}")
    if not ids:
        write_out("no ad hoc window is open")
    return 0


def _list_windows(
    args: argparse.Namespace, tenant_list: TenantList, path: Path, now: datetime
) -> int:
    from datetime import timedelta

    from tenantboard.history.db import recorded_windows
    from tenantboard.history.report_output import windows_json, windows_table
    from tenantboard.maintenance import scheduled

    adhoc, error = recorded_windows(path, now, source="adhoc")
    if error is not None:
        print(f"tenantboard: ad hoc windows not read: {error}", file=sys.stderr)
    coming = scheduled(tenant_list.maintenance.rules(), now, now + timedelta(days=args.days))
    adhoc = [window for window in adhoc if window.start < now + timedelta(days=args.days)]
    windows = sorted([*coming, *adhoc], key=lambda window: (window.start, window.name))
    write_out(windows_json(windows, now) if args.json else windows_table(windows, now))
    if not tenant_list.maintenance.superoffice.upgrades_known:
        print(
            "note: no SuperOffice upgrade windows are assumed: set upgrade_anchor or "
            "upgrade_dates in [superoffice_maintenance] (see docs/maintenance.md)",
            file=sys.stderr,
        )
    return 0


def _check_marks(config_path: Path, results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Active mutes and acknowledgements per tenant key, read-only from the history
    database when there is one; a database that cannot be read is a warning, not a failure."""
    from tenantboard.history.db import Mark, marks_for

    current = {r.tenant.key: Mark.compared_label(r) for r in results}
    marks, error = marks_for(history_path(config_path), current, datetime.now(UTC))
    if error is not None:
        print(f"tenantboard: mutes not read: {error}", file=sys.stderr)
    return marks


def _check_windows(store: TenantStore, results: Sequence[Any], now: datetime) -> dict[str, Any]:
    """The maintenance window covering each tenant now, by key: SuperOffice's and the
    tenant file's (as it reads; the defaults when it cannot be read), and the ad hoc ones
    in the history database (read-only; one that cannot be read is a warning)."""
    from tenantboard.history.db import recorded_windows
    from tenantboard.maintenance import MaintenancePlan, MaintenanceWatch, tenant_host

    plan = MaintenancePlan()
    with contextlib.suppress(StoreError):
        plan = store.load().maintenance
    adhoc, error = recorded_windows(history_path(store.path), now, source="adhoc")
    if error is not None:
        print(f"tenantboard: ad hoc maintenance windows not read: {error}", file=sys.stderr)
    watch = MaintenanceWatch(plan.rules())
    watch.set_adhoc(adhoc)
    watch.look(now)
    found = {}
    for result in results:
        host = tenant_host(result.state.endpoint if result.state else None)
        window = watch.covering(result.tenant, host)
        if window is not None:
            found[result.tenant.key] = window
    return found


def _check_json(
    results: Sequence[Any],
    marks: dict[str, dict[str, Any]],
    windows: dict[str, Any],
    *,
    versions: bool,
) -> str:
    from tenantboard.check_output import check_record

    records = [
        check_record(
            result,
            marks.get(result.tenant.key),
            versions=versions,
            window=windows.get(result.tenant.key),
        )
        for result in results
    ]
    return json.dumps(records, indent=2)


def _print_windows(results: Sequence[Any], windows: dict[str, Any], now: datetime) -> None:
    for result in results:
        window = windows.get(result.tenant.key)
        if window is not None:
            tenant = result.tenant
            write_out(f"{tenant.context_id} ({tenant.env}) in maintenance: {window.describe(now)}")


def _print_marks(results: Sequence[Any], marks: dict[str, dict[str, Any]]) -> None:
    from tenantboard.sanitize import clean

    for result in results:
        for kind, mark in sorted(marks.get(result.tenant.key, {}).items()):
            until = mark.until.astimezone().strftime("%Y-%m-%d %H:%M") if mark.until else None
            word = "muted" if kind == "mute" else "acknowledged"
            write_out(
                f"{result.tenant.context_id} ({result.tenant.env}) {word} by {clean(mark.by, 60)}"
                f" until {until or 'its state changes'}"
            )


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    from tenantboard.serve.server import ServeError, configure_logging, serve

    config = serve_config(args)
    configure_logging(args.log_format)
    try:
        return asyncio.run(serve(config))
    except ServeError as exc:
        raise UsageError(str(exc)) from None


def serve_config(args: argparse.Namespace) -> ServeConfig:
    """What `serve` watches and how: the tenant file (its list, every setting, hooks and
    history) and the address and token rule of the options."""
    from tenantboard.serve.server import (
        AllowedHosts,
        Limits,
        ServeConfig,
        ServeError,
        parse_listen,
        token_rule,
    )

    try:
        host, port = parse_listen(args.listen)
        token = token_rule(host, args.token_file, args.insecure_public)
        AllowedHosts.for_listen(host, args.allow_host)  # a bad name is a usage error now
        if args.max_connections < 1:
            raise ServeError("--max-connections must be at least 1")
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    return ServeConfig(
        host=host,
        port=port,
        session=_file_session(args, kind="serve"),
        token=token,
        allowed_hosts=tuple(args.allow_host),
        limits=Limits(max_connections=args.max_connections),
        tenant_series=args.tenant_series,
    )


def cmd_notify_test(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from tenantboard.notify import Notifier

    # Each hook's outcome is printed below; the log lines would only repeat it.
    logging.getLogger("tenantboard").addHandler(logging.NullHandler())
    store = store_for(args)
    tenant_list = store.load()
    refused = tenant_list.commands_refused
    hooks = tenant_list.notify
    if args.hook is not None:
        hooks = [hook for hook in hooks if hook.name == args.hook]
    if not hooks and refused:
        print(f"REFUSED: {refused}")
        return 1
    if not hooks:
        which = f"named {args.hook!r} " if args.hook else ""
        raise UsageError(f"no [[notify]] hook {which}in {store.path}")

    async def send() -> list:
        notifier = Notifier(hooks)
        try:
            return await notifier.test()
        finally:
            await notifier.aclose(grace=0)

    failed = 0
    for hook, error in asyncio.run(send()):
        outcome = "sent" if error is None else f"FAILED: {error}"
        failed += error is not None
        print(f"{hook.name} ({hook.target}): {outcome}")
    if refused:
        print(f"REFUSED: {refused}")
    return 1 if failed or refused else 0


COMMANDS = {
    "board": cmd_board,
    "check": cmd_check,
    "add": cmd_add,
    "remove": cmd_remove,
    "list": cmd_list,
    "paths": cmd_paths,
    "import": cmd_import,
    "simulate": cmd_simulate,
    "report": cmd_report,
    "history": cmd_history,
    "serve": cmd_serve,
    "notify-test": cmd_notify_test,
    "maintenance": cmd_maintenance,
}
