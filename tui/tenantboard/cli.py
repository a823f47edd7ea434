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
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tenantboard import __version__, completion
from tenantboard.errors import CheckError
from tenantboard.groups import DIMENSIONS
from tenantboard.humanize import plural
from tenantboard.paths import board_data_dir, history_path, resolve_config_path
from tenantboard.sanitize import quoted
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
    how to end: 64 for most commands, an UNKNOWN status line for `check`.

    Options may also come from environment variables (:func:`variables_of`): the parser
    notes which of its options the command line gave (argparse reads every argument's
    values through ``_get_values``), and reads the others' variables after parsing. That
    hook and ``_actions`` are argparse's own parts (argcomplete uses them too); the tests
    of tests/test_cli_environment.py fail if a Python changes them."""

    def __init__(self, *args: Any, options_from_environment: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: Whether this command's own options are read from variables too (`serve`'s,
        #: for systemd's EnvironmentFile= and containers); the global ones always are.
        self.options_from_environment = options_from_environment
        #: The dests of the arguments the command line gave this parser.
        self.given: set[str] = set()

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.command}: {message}" if self.command else message)

    @property
    def command(self) -> str:
        return self.prog.removeprefix("tenantboard").strip()

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        self.given.add(action.dest)
        return super()._get_values(action, arg_strings)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.given = set()
        namespace, rest = super().parse_known_args(args, namespace)
        for action, variable in variables_of(self).items():
            # The global options are read once the command is known (_settle_global_options).
            if action.dest not in self.given and action.dest not in GLOBAL_DESTS:
                _read_variable(namespace, action, variable, self.command)
        return namespace, rest

    def format_help(self) -> str:
        for action, variable in variables_of(self).items():
            shown = f"[env: {variable}]"
            if action.help not in (None, argparse.SUPPRESS) and shown not in action.help:
                action.help = f"{action.help} {shown}"
        return super().format_help()


def number_type(
    convert: Callable[[str], float], what: str, rule: str, accept: Callable[[float], bool]
) -> Callable[[str], Any]:
    """A number option's type: the text ``convert``-ed (else "'x' is not WHAT"), then
    ``accept``-ed (else RULE); NaN and the infinities are never accepted."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{quoted(text)} is not {what}") from None
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
#: Arguments shown as CTX are saved tenants' context ids (TAB completes them).
CTX_METAVAR = "CTX"
#: What the file's [settings] are when it has none: the defaults the help text names.
DEFAULT_SETTINGS = Settings()

#: The board's three ways to open, told apart for the options each uses.
BOARD, DEMO, ATTACH = "board", "--demo", "--attach"
_SHOWN_AS = {BOARD: "the board", DEMO: "the board with --demo", ATTACH: "the board with --attach"}
#: The commands that read the tenant file, that check tenants, and that keep checking.
_READ_THE_FILE = frozenset(
    {BOARD, "check", "add", "remove", "list", "paths", "import", "report", "history"}
    | {"versions"}
    | {"serve", "notify-test", "maintenance"}
)
_CHECK = frozenset({BOARD, DEMO, "check", "serve"})
_KEEP_CHECKING = frozenset({BOARD, DEMO, "serve"})


@dataclass(frozen=True)
class GlobalOption:
    """An option that may go before the command, and after it for the commands that use
    it (``used_by``); given to any other command, it is an error, never ignored. Unless
    ``from_environment`` is False, the commands that use it read it from its variable when
    the command line does not give it (:func:`variable_name`)."""

    flag: str
    used_by: frozenset[str]
    settings: dict[str, Any]
    from_environment: bool = True

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
        {"metavar": "PATH", "help": "tenant file (default: the platform's config folder)"},
    ),
    GlobalOption(
        "--data-dir",
        _READ_THE_FILE,
        {
            "metavar": "PATH",
            "type": Path,
            "help": "where to keep the history, event log and remembered choices (default: "
            "the state folder systemd gives a service, else the platform's data folder)",
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
        from_environment=False,  # how the board opens is said on the command line
    ),
    GlobalOption(
        "--attach",
        frozenset({ATTACH}),
        {
            "metavar": "URL",
            "help": "open the board on a running `tenantboard serve` (its list and checks; "
            "nothing is asked of SuperOffice from here)",
        },
        from_environment=False,
    ),
    GlobalOption(
        "--attach-token-file",
        frozenset({ATTACH}),
        {"metavar": "PATH", "type": Path, "help": "the token that server asks for (with --attach)"},
    ),
)


GLOBAL_DESTS = frozenset(option.dest for option in GLOBAL_OPTIONS)
_GLOBALS_FROM_ENVIRONMENT = frozenset(o.dest for o in GLOBAL_OPTIONS if o.from_environment)


# -- options from environment variables ---------------------------------------------------------

#: An option's variable is its long name in capitals after this prefix.
VARIABLE_PREFIX = "TENANTBOARD_"
#: What separates the values of a repeatable option in its variable (host names hold none).
LIST_SEPARATOR = ","
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: Where the namespace notes which options came from variables: {flag: variable}.
_FROM_VARIABLES = "options_from_variables"


def variable_name(flag: str) -> str:
    """``--max-connections`` is read from ``TENANTBOARD_MAX_CONNECTIONS``."""
    return VARIABLE_PREFIX + flag.removeprefix("--").upper().replace("-", "_")


def _long_flag(action: argparse.Action) -> str | None:
    return next((flag for flag in action.option_strings if flag.startswith("--")), None)


def variables_of(parser: _Parser) -> dict[argparse.Action, str]:
    """The options of ``parser`` that have a variable, and its name: the global options
    (but the board's modes), and every option of a command read from the environment."""
    found = {}
    for action in parser._actions:
        flag = _long_flag(action)
        if flag is None or action.dest in ("help", "version"):
            continue
        if action.dest in GLOBAL_DESTS:
            if action.dest in _GLOBALS_FROM_ENVIRONMENT:
                found[action] = variable_name(flag)
        elif parser.options_from_environment:
            found[action] = variable_name(flag)
    return found


def command_variables(command: str) -> dict[str, str]:
    """The variable of each option ``command`` reads from one (as its --help shows), by
    flag: what an EnvironmentFile= for it may set."""
    for parser in _parsers_in(build_parser()):
        if isinstance(parser, _Parser) and parser.command == command:
            return {
                flag: variable
                for action, variable in variables_of(parser).items()
                if action.help != argparse.SUPPRESS and (flag := _long_flag(action))
            }
    raise KeyError(command)


def variable_text(variable: str) -> str | None:
    """The variable's value; None when it is unset or empty (an EnvironmentFile's
    ``NAME=`` line sets nothing)."""
    text = os.environ.get(variable, "")
    return text if text.strip() else None


def value_of_variable(action: argparse.Action, variable: str, text: str) -> Any:
    """What ``text``, ``variable``'s value, gives the option, read as the command line's
    value would be (its type and choices; a switch from yes or no; a repeatable option's
    values separated by commas); UsageError naming the variable when it is not good."""

    def bad(reason: str) -> UsageError:
        return UsageError(f"{variable}={quoted(text.strip())} in the environment: {reason}")

    def one(item: str) -> Any:
        try:
            value = action.type(item) if callable(action.type) else item
        except argparse.ArgumentTypeError as exc:
            raise bad(str(exc)) from None
        except (TypeError, ValueError):
            raise bad(f"{quoted(item)} is not a valid value") from None
        if action.choices is not None and value not in action.choices:
            raise bad(f"{quoted(item)} is not one of {', '.join(map(str, action.choices))}")
        return value

    if action.nargs == 0:  # a switch
        word = text.strip().lower()
        if word not in _YES + _NO:
            raise bad(f"{quoted(text)} is neither yes nor no ({'/'.join(_YES)} or {'/'.join(_NO)})")
        return action.const if word in _YES else action.default
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):  # repeatable
        return [one(item.strip()) for item in text.split(LIST_SEPARATOR) if item.strip()]
    return one(text.strip())


def _read_variable(
    namespace: argparse.Namespace, action: argparse.Action, variable: str, command: str
) -> None:
    """Set the option from its variable when that is set; note that it came from there."""
    text = variable_text(variable)
    if text is None:
        return
    try:
        setattr(namespace, action.dest, value_of_variable(action, variable, text))
    except UsageError as exc:
        raise UsageError(f"{command}: {exc}" if command else str(exc)) from None
    noted = getattr(namespace, _FROM_VARIABLES, None) or {}
    setattr(namespace, _FROM_VARIABLES, {**noted, _long_flag(action): variable})


def name_the_variables(exc: UsageError, args: argparse.Namespace) -> UsageError:
    """A usage error about an option that came from its variable says so (a bad
    TENANTBOARD_LISTEN is found after parsing, by what reads --listen)."""
    message = str(exc)
    named = [
        f"{flag} is {variable} in the environment"
        for flag, variable in (getattr(args, _FROM_VARIABLES, None) or {}).items()
        if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", message)
    ]
    return UsageError(f"{message} ({'; '.join(named)})") if named else exc


def _add_global_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The global options, after the command as before it: those ``command`` uses in its
    help, the others hidden, there only to be refused by name (not as a stray argument)."""
    used = [option for option in GLOBAL_OPTIONS if command in option.used_by]
    group = parser.add_argument_group("options that may also go before the command")
    for option in GLOBAL_OPTIONS:
        option.add_to(group, hidden=option not in used)


def _settle_global_options(args: argparse.Namespace, parser: _Parser) -> None:
    """Every global option given must be one ``args.command`` uses; those it uses and the
    command line does not give are read from their variables."""
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
    actions = {action.dest: action for action in variables_of(parser)}
    for option in GLOBAL_OPTIONS:  # from here on, every option is there: None if not given
        if hasattr(args, option.dest):
            continue
        setattr(args, option.dest, False if option.flag == "--demo" else None)
        if option.dest in actions and command in option.used_by:
            _read_variable(args, actions[option.dest], variable_name(option.flag), "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tenantboard",
        description="A live terminal status board for SuperOffice CRM Online tenants.",
    )
    parser.add_argument("--version", action="version", version=f"tenantboard {__version__}")
    for option in GLOBAL_OPTIONS:
        option.add_to(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add_command(
        name: str, *, options_from_environment: bool = False, **settings: Any
    ) -> argparse.ArgumentParser:
        """A command; with ``options_from_environment`` each of its options is read from
        its variable too (`serve`'s: a service's EnvironmentFile=, a container)."""
        command = commands.add_parser(
            name, options_from_environment=options_from_environment, **settings
        )
        _add_global_options(command, name)
        return command

    check = add_command(
        "check",
        help="check tenants once; Nagios-style exit code",
        description="Check the named tenants (or the saved list) once. Exit code: 0 OK, "
        "1 WARNING, 2 CRITICAL, 3 UNKNOWN (also when it cannot check: bad options, a "
        "broken tenant file); the worst tenant decides.",
    )
    check.add_argument("context_ids", nargs="*", metavar=CTX_METAVAR)
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
    new_ids = add.add_argument("context_ids", nargs="+", metavar=CTX_METAVAR)
    new_ids.completer = completion.no_candidates  # type: ignore[attr-defined]
    add.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        default=DEFAULT_ENV,
        help=f"{env_names()} (default %(default)s)",
    )
    add.add_argument("--label", default="", help="a name to show instead of the context id")
    add.add_argument(
        "--tag",
        action="append",
        default=[],
        dest="tags",
        metavar="TAG",
        help="a tag to group and filter by (a customer, a team, a partner); again for more",
    )

    remove = add_command("remove", help="remove tenants from the list")
    remove.add_argument("context_ids", nargs="+", metavar=CTX_METAVAR)
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
        "--host-failure",
        metavar="HOST",
        help="act out a failing endpoint host, e.g. online3.superoffice.com: most of its "
        "tenants answer Unknown for a while, then recover (a host incident)",
    )
    simulate.add_argument(
        "--host-failure-at",
        type=_non_negative_seconds,
        default=60.0,
        metavar="SECONDS",
        help="scenario seconds before the host fails (default %(default)g)",
    )
    simulate.add_argument(
        "--host-failure-for",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="how long it stays failed (default %(default)g)",
    )
    simulate.add_argument(
        "--host-failure-every",
        type=_non_negative_seconds,
        default=0.0,
        metavar="SECONDS",
        help="fail again this often (default 0: once)",
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
    simulate.add_argument(
        "--rollout",
        action="store_true",
        help="act out a release rolling out: Release_11.9 to Release_11.10, one host a "
        "simulated day, each tenant offline a few minutes in its host's upgrade night",
    )
    simulate.add_argument(
        "--rollout-day",
        type=_seconds,
        default=86_400.0,
        metavar="SECONDS",
        help="how long one simulated day of the rollout lasts, in the scenario's seconds "
        "(default %(default)g; 120 shows a whole rollout in about five minutes)",
    )
    _add_serve_commands(add_command)
    completing = add_command(
        "completion",
        help="print the code that makes bash or zsh complete tenantboard's command lines",
        description="Print the code that makes the shell complete tenantboard's commands, "
        'options, environments and saved context ids. Bash: add `eval "$(tenantboard '
        'completion bash)"` to ~/.bashrc; zsh: `eval "$(tenantboard completion zsh)"` '
        "to ~/.zshrc, after compinit.",
    )
    completing.add_argument("shell", choices=completion.SHELLS, help="the shell")
    return parser


def _parsers_in(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and its commands' parsers, and theirs."""
    yield parser
    for action in parser._actions:
        if isinstance(action.choices, dict):  # a command's parsers by name
            for command in action.choices.values():
                yield from _parsers_in(command)


def _attach_completers(parser: argparse.ArgumentParser) -> None:
    """What TAB offers for an argument with neither choices nor a completer of its own:
    an environment's names for every ENV option, the saved context ids for every CTX
    argument (a command added later gets both by using ``_env`` and CTX_METAVAR)."""
    for command in _parsers_in(parser):
        for action in command._actions:
            if hasattr(action, "completer") or action.choices is not None:
                continue
            if action.type is _env:
                action.completer = completion.environment_names  # type: ignore[attr-defined]
            elif action.metavar == CTX_METAVAR and not action.option_strings:
                action.completer = _complete_saved_ids  # type: ignore[attr-defined]


def _complete_saved_ids(parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The saved context ids in the tenant file the line names (--config, else its
    variable, else the default), in its --env when given, but those already on the line."""
    given = getattr(parsed_args, "config", None) or variable_text(variable_name("--config"))
    typed = getattr(parsed_args, "context_ids", None) or []
    env = getattr(parsed_args, "env", None)
    return completion.saved_context_ids(resolve_config_path(given), env, typed)


def complete_command_line(**answer_to: Any) -> int:
    """Answer the shell's TAB from the parser with its completers (completion.py), to
    the shell (or ``output_stream``), and end (or call ``exit_method``)."""
    parser = build_parser()
    _attach_completers(parser)
    completion.complete(parser, **answer_to)
    return 0


def _add_serve_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    from tenantboard.netaddr import DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, TENANT_SERIES

    serving = add_command(
        "serve",
        options_from_environment=True,
        help="watch the tenant file's tenants without a screen: metrics, alerts, status page",
        description="Check every tenant in the tenant file on its schedule and serve "
        "Prometheus metrics (/metrics), a status page (/), JSON (/api/tenants, "
        "/api/snapshot) and an event stream (/api/events); run the [[notify]] alert hooks. "
        "Stops on SIGTERM (exit 0), SIGINT (exit 130) or when the terminal it was "
        "started in goes away (129); any other SIGHUP re-reads the tenant file and its "
        "hooks at once. Each option may also be set by "
        "the environment variable shown with it (a list separated by commas; a switch by "
        "1 or 0); the command line wins.",
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
        type=_positive_int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="connections held at once, event streams included (default %(default)s); past "
        "it new ones are closed at once",
    )
    serving.add_argument(
        "--state-change-certificate",
        type=Path,
        action="append",
        metavar="FILE",
        help="SuperOffice's signing certificate or public key (PEM or DER; repeat for "
        "several) to check its pushed changes on POST /superoffice/state-change "
        "(default: the tenant file's [state_change] certificate)",
    )
    serving.add_argument(
        "--state-change-client-id",
        metavar="ID",
        help="your application's client id: the audience of SuperOffice's tokens "
        "(default: the tenant file's [state_change] client_id)",
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
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command = args.command or BOARD
    _settle_global_options(args, parser)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and completion.requested():  # the shell asks what may come next
        return complete_command_line()
    argv = list(sys.argv[1:] if argv is None else argv)
    code = 0
    args = None
    try:
        args = parse_arguments(argv)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that went away is noticed here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return code
    except (Exception, KeyboardInterrupt) as exc:
        if isinstance(exc, UsageError) and args is not None:
            exc = name_the_variables(exc, args)
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


def data_dir_for(args: argparse.Namespace, tenant_file: Path) -> Path:
    """The folder for what is kept about ``tenant_file``, under --data-dir when given."""
    return board_data_dir(tenant_file, args.data_dir)


def history_for(args: argparse.Namespace, tenant_file: Path) -> Path:
    """``tenant_file``'s history database, under --data-dir when given."""
    return history_path(tenant_file, data_root=args.data_dir)


def base_url_for(args: argparse.Namespace) -> BaseUrl | None:
    from tenantboard.client import BaseUrl

    if not args.base_url:
        return None
    try:
        return BaseUrl.parse(args.base_url)
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
    context_ids: Sequence[str], env: str | None, label: str = "", tags: Sequence[str] = ()
) -> list[Tenant]:
    tenants = []
    for ctx in context_ids:
        try:
            tenants.append(make_tenant(ctx, env, label, tuple(tags)))
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

    demo = bool(args.demo)
    return BoardConfig(session=_board_session(args), demo=demo, group_by="host" if demo else None)


def _board_session(args: argparse.Namespace) -> SessionConfig:
    from tenantboard.session import SessionConfig

    overrides = settings_overrides(args)
    if args.attach is not None:  # the serve it follows checks, records and runs the hooks
        return SessionConfig(tenants=[], overrides=overrides, attach=_attach_target(args))
    if args.demo:
        from tenantboard.simulator import demo_fleet

        effective_settings(args, Settings())  # a bad combination of options is said now
        return SessionConfig(tenants=demo_fleet(), overrides=overrides)
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
        history_path=history_for(args, store.path),
        data_dir=data_dir_for(args, store.path),
        base_url=base_url_for(args),
        kind=kind,
        commands_refused=tenant_list.commands_refused,
        maintenance=tenant_list.maintenance,
        incidents=tenant_list.incidents,
        state_change=tenant_list.state_change,
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
    history = history_for(args, store.path)
    marks = _check_marks(history, results)
    windows = _check_windows(store, history, results, clock.wall())
    set_aside = _set_aside(results, marks, windows) if args.respect_mutes else None
    if args.json:
        write_out(_check_json(results, marks, windows, versions=args.versions))
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        duration = clock.monotonic() - started
        write_out(
            outage_summary_line(results, duration, set_aside)
            or summary_line(results, duration, set_aside)
        )
        write_out(render_table(results, color=color, versions=args.versions))
        _print_marks(results, marks)
        _print_windows(results, windows, clock.wall())
    return worst_exit_code(results, set_aside)


def _set_aside(
    results: Sequence[Any], marks: dict[str, dict[str, Any]], windows: dict[str, Any]
) -> set[str]:
    """The keys `--respect-mutes` leaves out of the status: muted, acknowledged or in a
    maintenance window."""
    return {r.tenant.key for r in results if marks.get(r.tenant.key) or r.tenant.key in windows}


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
        raise UsageError(_nothing_to_check(args, store.path))
    return tenants, effective_settings(args, tenant_list.settings)


def _nothing_to_check(args: argparse.Namespace, path: Path) -> str:
    """Why `check` named no tenant has none: which file it looked for, and how to give
    tenants or a tenant file."""
    if path.exists():
        return f"no tenants to check in {path}: name some (check CTX ...) or add them (add CTX)"
    if args.config:
        return (
            f"no tenant file at {path} (--config): name the tenants to check (check CTX ...), "
            "or give the path of an existing tenant file"
        )
    return (
        f"no tenant file: looked for {path} (the default). Name the tenants to check "
        "(check CTX ...), give a tenant file with --config PATH or TENANTBOARD_CONFIG, or "
        "create this one with `tenantboard add CTX`"
    )


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
    tenants = _tenants_from_args(args.context_ids, args.env, args.label, args.tags)
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
                [
                    {"context_id": t.context_id, "env": t.env, "label": t.label, "tags": t.tags}
                    for t in tenants
                ],
                indent=2,
            )
        )
        return 0
    width = max((len(t.context_id) for t in tenants), default=10)
    for tenant in tenants:
        tags = f"  tags: {', '.join(tenant.tags)}" if tenant.tags else ""
        label = clean(tenant.label, 120)
        write_out(f"{tenant.context_id:<{width}}  {tenant.env:<6}  {label}{tags}".rstrip())
    if not tenants:
        print(
            "no tenants yet: add some with `tenantboard add CTX` or `tenantboard import FILE`",
            file=sys.stderr,
        )
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    from tenantboard.paths import default_config_path

    tenant_file = resolve_config_path(args.config)
    data_dir = data_dir_for(args, tenant_file)
    write_out(f"tenant file:  {tenant_file}")
    write_out(f"default:      {default_config_path()}")
    write_out(f"remembered:   {data_dir / 'ui-state.json'}")
    write_out(f"history:      {history_for(args, tenant_file)}  (results, event log, mutes)")
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


def _host_failure(args: argparse.Namespace) -> Any:
    """``simulate --host-failure``'s plan, or None."""
    from tenantboard.simulator import HostFailure

    if not args.host_failure:
        return None
    host = args.host_failure.strip().lower()
    if not host or "/" in host or " " in host:
        raise UsageError(f"--host-failure {quoted(args.host_failure)}: give a host name")
    return HostFailure(
        host,
        start=args.host_failure_at,
        duration=args.host_failure_for,
        every=args.host_failure_every,
    )


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


def rollout_of(args: argparse.Namespace) -> Any:
    """The rollout `simulate` acts out, or None; --rollout-day alone is a usage error."""
    from tenantboard.simulator import Rollout

    if not args.rollout:
        if args.rollout_day != 86_400.0:
            raise UsageError("--rollout-day goes with --rollout")
        return None
    return Rollout(day=args.rollout_day)


def cmd_simulate(args: argparse.Namespace) -> int:
    from tenantboard.simulator import Simulator, serve
    from tenantboard.simulator.scenario import Chaos
    from tenantboard.simulator.server import serve_with_outages

    rollout = rollout_of(args)

    def announce(port: int) -> None:
        print(f"simulating the state API on http://127.0.0.1:{port}", flush=True)
        if rollout is not None:
            print(
                f"rolling {rollout.old} out to {rollout.new}: one host every "
                f"{rollout.day:g} scenario seconds",
                flush=True,
            )
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
            rollout=rollout,
            host_failure=_host_failure(args),
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
    report.add_argument("context_ids", nargs="*", metavar=CTX_METAVAR)
    report.add_argument("--env", type=_env, metavar=ENV_METAVAR, help="only this environment")
    report.add_argument(
        "--by",
        choices=DIMENSIONS,
        help="add the tenants up per endpoint host, environment, version or tag (a tenant "
        "with several tags counts in each)",
    )
    _add_window_options(report, REPORT_SPAN)
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--csv", action="store_true", help="print CSV instead of a table")

    history = add_command(
        "history",
        help="one tenant's recorded states, events and mutes; or a host's incidents",
    )
    history.add_argument("context_id", metavar=CTX_METAVAR, nargs="?")
    history.add_argument(
        "--host",
        metavar="NAME",
        help="instead of a tenant: the host incidents of this endpoint host "
        "(e.g. online3.superoffice.com)",
    )
    history.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        help="the environment (default: the one the saved list, else the history, has it in)",
    )
    _add_window_options(history, HISTORY_SPAN)
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")

    versions = add_command(
        "versions",
        help="each version the tenants run, newest first: tenants, hosts, first seen",
        description="Who runs what, from the history the board and serve recorded: each "
        "version the listed tenants were last seen on, newest release first, with how many "
        "tenants run it, on which hosts, and when it was first seen on any tenant.",
    )
    versions.add_argument("--env", type=_env, metavar=ENV_METAVAR, help="only this environment")
    versions.add_argument("--json", action="store_true", help="print JSON instead of a table")


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
    start.add_argument("context_ids", nargs="*", metavar=CTX_METAVAR, help="these tenants")
    start.add_argument("--env", type=_env, metavar=ENV_METAVAR, help="tenants in this environment")
    start.add_argument("--host", metavar="HOST", help="tenants on this endpoint host (online3)")
    start.add_argument("--tag", metavar="TAG", help="tenants with this tag")
    start.add_argument("--all", action="store_true", help="every tenant")
    start.add_argument("--for", dest="length", required=True, metavar="SPAN", help="e.g. 2h, 90m")
    start.add_argument("--name", default="", help="what it is for (shown on the board)")
    start.add_argument(
        "--force",
        action="store_true",
        help="start it even when what it covers matches no tenant now (a host not yet seen)",
    )
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

    path = history_for(args, resolve_config_path(args.config))
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
    from tenantboard.history.report_output import (
        ReportRow,
        groups_csv,
        groups_json,
        groups_table,
        report_csv,
        report_groups,
        report_json,
        report_table,
    )

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
    if not tenants:  # the report is empty: say why, as `check` does (stdout stays the report)
        print(f"tenantboard: report: {_nothing_to_report(args, db is not None)}", file=sys.stderr)
    keys = [t.key for t in tenants]
    found = db.window_intervals(keys, start, end) if db else {}
    outages = db.outages(start, end) if db else []
    windows = db.windows(start, end) if db else []
    incidents = db.incidents(since=start, until=end) if db else []
    versions = db.last_versions(keys) if db and args.by == "version" else {}
    if db is not None:
        db.close()
    rows = []
    for tenant in tenants:
        spans = found.get(tenant.key, [])
        figures = availability(spans, start, end)
        rows.append(ReportRow(tenant, figures, planned_figures(tenant, spans, windows, figures)))
    if args.by is not None:
        values_of = _report_group_values(args.by, versions, found)
        grouped = report_groups(rows, args.by, values_of, incidents)
        if args.json:
            print(groups_json(grouped, args.by, start, end, incidents))
        elif args.csv:
            print(groups_csv(grouped))
        else:
            print(groups_table(grouped, args.by, start, end, incidents))
        return 0
    if args.json:
        print(report_json(rows, start, end, outages, incidents))
    elif args.csv:
        print(report_csv(rows))
    else:
        print(report_table(rows, start, end, outages, incidents))
    return 0


def _nothing_to_report(args: argparse.Namespace, recorded: bool) -> str:
    """Why a report has no tenant: none in the tenant file (or no file at all), none of
    the environment asked for, and none in the history (whose absence is said apart)."""
    path = store_for(args).path
    where = f"no tenants in {path}" if path.exists() else f"no tenant file at {path}"
    env = f" in environment {args.env}" if args.env else ""
    history = " and none in its history" if recorded else ""
    return f"nothing to report: {where}{env}{history} (give the tenant file with --config)"


def _report_group_values(
    dimension: str, versions: dict[str, Any], found: dict[str, list]
) -> Callable[[Any], tuple[str, ...]]:
    """A report row's groups: the host of its last interval in the period with one, the
    version it was last recorded on (the history's versions), its environment and its
    tags in the tenant file."""
    from tenantboard.groups import group_values, version_label

    def values_of(row: Any) -> tuple[str, ...]:
        tenant = row.tenant
        host = next((i.host for i in reversed(found.get(tenant.key, [])) if i.host), "")
        span = versions.get(tenant.key)
        version = version_label(span.version) if span is not None else None
        return group_values(dimension, tenant, host, version)

    return values_of


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

    if (args.context_id is None) == (args.host is None):
        raise UsageError("name a tenant (CTX) or a host (--host NAME), one of the two")
    if args.host is not None:
        return _host_history(args)
    start, end = _window(args)
    saved = store_for(args).load().tenants
    try:
        db = _open_history(args)
    except _HistoryUnreadable as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_HISTORY
    intervals, events, marks, outages, windows = [], [], [], [], HistoryWindows()
    incidents = []
    with db if db is not None else contextlib.nullcontext():
        tenant = _history_tenant(args, saved, db)
        if db is not None:
            incidents = db.incidents(key=tenant.key, since=start, until=end)
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
    print(render(tenant, intervals, events, marks, outages, windows, incidents))
    return 0


def _host_history(args: argparse.Namespace) -> int:
    """``history --host NAME``: the host's incidents in the period."""
    from tenantboard.history.report_output import host_history_json, host_history_table

    start, end = _window(args)
    host = args.host.strip().lower()
    try:
        db = _open_history(args)
    except _HistoryUnreadable as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_HISTORY
    incidents = []
    if db is not None:
        with db:
            incidents = db.incidents(host=host, since=start, until=end)
    render = host_history_json if args.json else host_history_table
    print(render(host, incidents))
    return 0


def cmd_maintenance(args: argparse.Namespace) -> int:
    """Ad hoc windows in the history database, where every session on the file reads them."""
    from tenantboard.history.db import HistoryDB, HistoryError

    store = store_for(args)
    tenant_list = store.load()
    path = history_for(args, store.path)
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
    """What ``maintenance start`` covers; UsageError when it is nothing, or when a value
    given matches no tenant in the list (a host: by each one's last known endpoint host,
    from the history) unless ``--force``."""
    from tenantboard.maintenance import EVERYTHING, Scope, check_host, scope_misses

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
    if args.force:
        return scope
    hosts = _last_known_hosts(args, saved) if scope.hosts else {}
    miss = scope_misses(scope, saved, hosts)
    if miss is not None:
        raise UsageError(f"{miss}; nothing started (--force starts it all the same)")
    return scope


def _last_known_hosts(args: argparse.Namespace, saved: Sequence[Tenant]) -> dict[str, str | None]:
    """Each saved tenant's last known endpoint host, by key, from the history (read-only):
    its last recorded answer's, else the one its last version was seen on."""
    try:
        db = _open_history(args)
    except _HistoryUnreadable as exc:
        raise UsageError(f"the hosts are not known: {exc}") from None
    if db is None:
        return {}
    keys = [tenant.key for tenant in saved]
    with db:
        recorded, versions = db.last_recorded(keys), db.last_versions(keys)
    found: dict[str, str | None] = {}
    for key in keys:
        interval, version = recorded.get(key), versions.get(key)
        found[key] = (interval.host if interval else None) or (version.host if version else None)
    return found


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


def cmd_versions(args: argparse.Namespace) -> int:
    from tenantboard.history.report_output import versions_json, versions_report, versions_table

    tenants = store_for(args).load().tenants
    try:
        db = _open_history(args)
    except _HistoryUnreadable as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_HISTORY
    last_versions, last_recorded, first_seen = {}, {}, {}
    with db if db is not None else contextlib.nullcontext():
        if not tenants and db is not None:
            tenants = [_tenant_of_key(key) for key in db.tenant_keys()]
        keys = [tenant.key for tenant in tenants if args.env in (None, tenant.env)]
        if db is not None:
            last_versions = db.last_versions(keys)
            last_recorded = db.last_recorded(keys)
            first_seen = db.versions_first_seen()
    report = versions_report(keys, last_versions, last_recorded, first_seen, datetime.now(UTC))
    write_out(versions_json(report) if args.json else versions_table(report))
    return 0


def _check_marks(history: Path, results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Active mutes and acknowledgements per tenant key, read-only from the history
    database when there is one; a database that cannot be read is a warning, not a failure."""
    from tenantboard.history.db import Mark, marks_for

    current = {r.tenant.key: Mark.compared_label(r) for r in results}
    marks, error = marks_for(history, current, datetime.now(UTC))
    if error is not None:
        print(f"tenantboard: mutes not read: {error}", file=sys.stderr)
    return marks


def _check_windows(
    store: TenantStore, history: Path, results: Sequence[Any], now: datetime
) -> dict[str, Any]:
    """The maintenance window covering each tenant now, by key: SuperOffice's and the
    tenant file's (as it reads; the defaults when it cannot be read), and the ad hoc ones
    in the history database (read-only; one that cannot be read is a warning)."""
    from tenantboard.history.db import recorded_windows
    from tenantboard.maintenance import MaintenancePlan, MaintenanceWatch, tenant_host

    plan = MaintenancePlan()
    with contextlib.suppress(StoreError):
        plan = store.load().maintenance
    adhoc, error = recorded_windows(history, now, source="adhoc")
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
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    return ServeConfig(
        host=host,
        port=port,
        session=_file_session(args, kind="serve"),
        token=token,
        allowed_hosts=tuple(args.allow_host),
        limits=Limits(max_connections=args.max_connections),
        state_change=_state_change_options(args),
        tenant_series=args.tenant_series,
    )


def _state_change_options(args: argparse.Namespace) -> Any:
    """serve's --state-change-* options (None when neither is given); a certificate that
    cannot be used is a usage error now, not a refused call later."""
    from tenantboard.pushed import load_keys
    from tenantboard.tenant_file import StateChangeConfig

    paths = tuple(path.expanduser().absolute() for path in args.state_change_certificate or ())
    client_id = args.state_change_client_id or ""
    if not paths and not client_id:
        return None
    if paths:
        try:
            load_keys(paths)
        except ValueError as exc:
            raise UsageError(f"--state-change-certificate: {exc}") from None
    return StateChangeConfig(certificates=paths, client_id=client_id)


def cmd_completion(args: argparse.Namespace) -> int:
    write_out(completion.shell_script(args.shell))
    return 0


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
        which = f"named {quoted(args.hook)} " if args.hook else ""
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
    "versions": cmd_versions,
    "serve": cmd_serve,
    "notify-test": cmd_notify_test,
    "maintenance": cmd_maintenance,
    "completion": cmd_completion,
}
