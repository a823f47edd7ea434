"""Command line: the board (default), `check`, list management, and the simulator.

The HTTP client, asyncio and the board are imported only by the commands that use them,
so that `add`, `list` and `import` start quickly (scripts run many of them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tenantboard import __version__
from tenantboard.errors import CheckError
from tenantboard.paths import board_data_dir, history_path, resolve_config_path
from tenantboard.tenant import DEFAULT_ENV, Tenant, env_names, make_tenant, normalize_env
from tenantboard.tenant_file import (
    BadImportLines,
    NotSaved,
    Settings,
    StoreError,
    TenantStore,
    parse_import_lines,
)

if TYPE_CHECKING:
    from tenantboard.client import BaseUrl
    from tenantboard.remote import AttachTarget

#: Nagios UNKNOWN: `check` could not tell (here: the tenant file is broken).
EXIT_UNKNOWN = 3
EXIT_USAGE = 64
#: sysexits' EX_DATAERR: lines given to `import` are not tenants (the tenant file is fine).
EXIT_DATA = 65
EXIT_CONFIG = 78


class UsageError(Exception):
    """Bad arguments: exit 64 with the message, never a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 1e7:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < 1e7:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 to 65535 (0 picks a free one)")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= 1_000_000):
        raise argparse.ArgumentTypeError("must be a factor above 0 (1 is real time)")
    return value


def _env(text: str) -> str:
    """An environment by any of its names; `qaonline` is `stage`."""
    try:
        return normalize_env(text)
    except CheckError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


ENV_METAVAR = "ENV"


def _shared_options() -> argparse.ArgumentParser:
    """Options every command takes. SUPPRESS keeps a subcommand from resetting the value
    given before it (``tenantboard --config X check``)."""
    shared = argparse.ArgumentParser(add_help=False)
    group = shared.add_argument_group("shared options")
    group.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="tenant file (default: $TENANTBOARD_CONFIG, else the platform's config folder)",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="send every request to this server instead of SuperOffice (e.g. the simulator)",
    )
    group.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="checks in flight at once (default: the file's setting, else 8)",
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="time allowed for one request (default: the file's setting, else 10)",
    )
    return shared


def build_parser() -> argparse.ArgumentParser:
    shared = _shared_options()
    parser = _Parser(
        prog="tenantboard",
        description="A live terminal status board for SuperOffice CRM Online tenants.",
        parents=[shared],
    )
    parser.add_argument("--version", action="version", version=f"tenantboard {__version__}")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the board on the built-in simulator with a demo list (your file is not touched)",
    )
    parser.add_argument(
        "--attach",
        metavar="URL",
        help="open the board on a running `tenantboard serve` (its list and checks; nothing is "
        "asked of SuperOffice from here)",
    )
    parser.add_argument(
        "--attach-token-file",
        metavar="PATH",
        type=Path,
        help="the token that server asks for (with --attach)",
    )
    parser.add_argument(
        "--min-interval",
        type=_seconds,
        metavar="SECONDS",
        help="never check a tenant more often than this (default 30)",
    )
    parser.add_argument(
        "--max-interval",
        type=_seconds,
        metavar="SECONDS",
        help="never wait longer than this between checks (default 900)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser(
        "check",
        parents=[shared],
        help="check tenants once; Nagios-style exit code",
        description="Check the named tenants (or the saved list) once. Exit code: 0 OK, "
        "1 WARNING, 2 CRITICAL, 3 UNKNOWN; the worst tenant decides.",
    )
    check.add_argument("context_ids", nargs="*", metavar="CTX")
    check.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        help=f"{env_names()}: the environment of the named tenants (default online); "
        "with none named, check only the saved tenants in this environment",
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument(
        "--versions", action="store_true", help="also fetch each running tenant's version info"
    )
    check.add_argument(
        "--respect-mutes",
        action="store_true",
        help="leave muted and acknowledged tenants out of the exit code",
    )

    add = commands.add_parser("add", parents=[shared], help="add tenants to the list")
    add.add_argument("context_ids", nargs="+", metavar="CTX")
    add.add_argument(
        "--env", type=_env, metavar=ENV_METAVAR, default=DEFAULT_ENV, help=f"{env_names()}"
    )
    add.add_argument("--label", default="", help="a name to show instead of the context id")

    remove = commands.add_parser("remove", parents=[shared], help="remove tenants from the list")
    remove.add_argument("context_ids", nargs="+", metavar="CTX")
    remove.add_argument(
        "--env",
        type=_env,
        metavar=ENV_METAVAR,
        help="only in this environment (default: every environment)",
    )

    listing = commands.add_parser("list", parents=[shared], help="show the saved list")
    listing.add_argument("--json", action="store_true")

    commands.add_parser("paths", parents=[shared], help="show where tenantboard keeps its files")

    importing = commands.add_parser(
        "import",
        parents=[shared],
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
        help="environment for lines that name none (default online)",
    )

    _add_history_commands(commands, shared)

    simulate = commands.add_parser(
        "simulate",
        help="serve the simulated state API on 127.0.0.1",
        description="Serve the simulator over HTTP for end-to-end tests and benchmarks. Point "
        "tenantboard at it with --base-url http://127.0.0.1:PORT.",
    )
    simulate.add_argument("--port", type=_port, default=8080, help="port (0 picks a free one)")
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
        help="how long the slow tenants take to answer (default 4)",
    )
    simulate.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="FACTOR",
        help="run the scenario's clock this many times faster (default 1)",
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
    _add_serve_commands(commands, shared)
    return parser


def _add_serve_commands(commands: Any, shared: argparse.ArgumentParser) -> None:
    from tenantboard.remote import DEFAULT_LISTEN

    serving = commands.add_parser(
        "serve",
        parents=[shared],
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
        help=f"address to listen on (default {DEFAULT_LISTEN}; [::1]:PORT for IPv6)",
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
        "--log-format",
        choices=("plain", "json"),
        default="plain",
        help="log lines on standard error: plain text (default) or JSON lines",
    )
    testing = commands.add_parser(
        "notify-test",
        parents=[shared],
        help="send a sample message through each [[notify]] hook and report each result",
    )
    testing.add_argument("--hook", metavar="NAME", help="only the hook with this name")


def option(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "board"
    code = 0
    try:
        code = COMMANDS[command](args)
        sys.stdout.flush()  # a reader that went away is noticed here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return code
    except UsageError as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BadImportLines as exc:
        print(f"tenantboard: {len(exc.problems)} bad line(s); nothing imported", file=sys.stderr)
        print(exc, file=sys.stderr)
        return EXIT_DATA
    except NotSaved as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        print("Nothing was changed: the file was left as it is.", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        print("The file was left as it is; fix it and try again.", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    return code


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
    return TenantStore(resolve_config_path(option(args, "config")))


def base_url_for(args: argparse.Namespace) -> BaseUrl | None:
    from tenantboard.client import BaseUrl

    text = option(args, "base_url") or os.environ.get("TENANTBOARD_BASE_URL")
    if not text:
        return None
    try:
        return BaseUrl.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def effective_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The file's settings with the command line's overrides; validated."""
    values = {
        "concurrency": option(args, "concurrency") or settings.concurrency,
        "timeout": option(args, "timeout") or settings.timeout,
        "min_interval": option(args, "min_interval") or settings.min_interval,
        "max_interval": option(args, "max_interval") or settings.max_interval,
    }
    try:
        return Settings(**values).validated()
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
    from tenantboard.app import BoardConfig, run_board

    keys: dict[str, str] = {}
    data_dir = history = None
    hooks: list = []
    attach = _attach_target(args)
    if attach is not None:  # the serve it follows records the history and runs the hooks
        settings = effective_settings(args, Settings())
        tenants, store = [], None
    elif args.demo:
        from tenantboard.simulator import demo_tenants

        settings = effective_settings(args, Settings())
        tenants, store = demo_tenants(), None
    else:
        store = store_for(args)
        tenant_list = store.load()
        settings = effective_settings(args, tenant_list.settings)
        tenants, keys = tenant_list.tenants, tenant_list.keys
        data_dir = board_data_dir(store.path)
        history, hooks = history_path(store.path), list(tenant_list.notify)
    config = BoardConfig(
        tenants=tenants,
        settings=settings,
        base_url=base_url_for(args),
        demo=args.demo,
        store=store,
        keys=keys,
        data_dir=data_dir,
        attach=attach,
        history_path=history,
        hooks=hooks,
    )
    refusal = not_a_terminal()
    if refusal:
        raise UsageError(refusal)
    return run_board(config)


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


def _attach_target(args: argparse.Namespace) -> AttachTarget | None:
    from tenantboard.remote import AttachTarget

    if not args.attach:
        if args.attach_token_file:
            raise UsageError("--attach-token-file goes with --attach URL")
        return None
    if args.demo:
        raise UsageError("--attach and --demo: choose one")
    token = None
    if args.attach_token_file:
        from tenantboard.serve import ServeError, read_token

        try:
            token = read_token(args.attach_token_file)
        except ServeError as exc:
            raise UsageError(str(exc)) from None
    try:
        return AttachTarget.parse(args.attach, token)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    from tenantboard.check_output import (
        broken_file_json,
        broken_file_summary,
        outage_summary_line,
        render_table,
        summary_line,
        worst_exit_code,
    )

    store = store_for(args)
    try:
        tenants, settings = _tenants_to_check(args, store)
    except StoreError as exc:
        # Nagios reads standard output, and --json consumers need something to parse.
        write_out(broken_file_json(exc) if args.json else broken_file_summary(exc))
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    import asyncio

    results = asyncio.run(_check(args, tenants, settings))
    marks = _check_marks(store.path, results)
    if args.json:
        write_out(_check_json(results, marks, versions=args.versions))
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        write_out(outage_summary_line(results) or summary_line(results))
        write_out(render_table(results, color=color, versions=args.versions))
        _print_marks(results, marks)
    if args.respect_mutes:
        results = [result for result in results if not marks.get(result.tenant.key)]
        if not results:
            return 0
    return worst_exit_code(results)


def _tenants_to_check(
    args: argparse.Namespace, store: TenantStore
) -> tuple[list[Tenant], Settings]:
    """The named tenants (once each, with their saved labels), else the saved list (only
    ``--env``'s tenants when it is given); StoreError when the saved list is needed and
    broken."""
    if args.context_ids:
        named = _tenants_from_args(args.context_ids, args.env or DEFAULT_ENV)
        saved: dict[str, Tenant] = {}
        with contextlib.suppress(StoreError):  # labels are a nicety: check regardless
            saved = {tenant.key: tenant for tenant in store.load().tenants}
        unique = {tenant.key: saved.get(tenant.key, tenant) for tenant in named}
        return list(unique.values()), effective_settings(args, Settings())
    tenant_list = store.load()
    tenants = tenant_list.tenants
    if args.env is not None:
        tenants = [tenant for tenant in tenants if tenant.env == args.env]
        if not tenants and tenant_list.tenants:
            raise UsageError(f"no tenants in {args.env} to check in {store.path}")
    if not tenants:
        raise UsageError(f"no tenants to check: name some, or add them to {store.path}")
    return tenants, effective_settings(args, tenant_list.settings)


async def _check(args: argparse.Namespace, tenants: list[Tenant], settings: Settings) -> list:
    from tenantboard.client import TenantClient
    from tenantboard.clock import SystemClock
    from tenantboard.engine import check_all

    async with TenantClient(
        base_url=base_url_for(args),
        timeout=settings.timeout,
        max_connections=settings.concurrency,
    ) as client:
        return await check_all(
            client,
            tenants,
            concurrency=settings.concurrency,
            clock=SystemClock(),
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

    tenant_file = resolve_config_path(option(args, "config"))
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
    write_out(
        f"imported {len(fresh)} tenant{'s' if len(fresh) != 1 else ''}{note} into {store.path}"
    )
    return 0


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


def _add_history_commands(
    commands: argparse._SubParsersAction, shared: argparse.ArgumentParser
) -> None:
    report = commands.add_parser(
        "report",
        parents=[shared],
        help="availability per tenant over a period (default the last 30 days)",
        description="Uptime, downtime, incidents, longest outage, maintenance time, last seen "
        "running and observed coverage per tenant, from the history the board recorded.",
    )
    report.add_argument("context_ids", nargs="*", metavar="CTX")
    report.add_argument("--env", type=_env, metavar=ENV_METAVAR, help="only this environment")
    _add_window_options(report)
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--csv", action="store_true", help="print CSV instead of a table")

    history = commands.add_parser(
        "history",
        parents=[shared],
        help="one tenant's recorded states, events and mutes",
    )
    history.add_argument("context_id", metavar="CTX")
    history.add_argument("--env", type=_env, metavar=ENV_METAVAR, default=DEFAULT_ENV)
    _add_window_options(history, default="7d")
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_window_options(parser: argparse.ArgumentParser, default: str = "30d") -> None:
    window = parser.add_mutually_exclusive_group()
    window.add_argument(
        "--since", metavar="SPAN", help=f"the last SPAN, e.g. 7d, 24h, 2w (default {default})"
    )
    window.add_argument("--from", dest="date_from", metavar="DATE", help="from this date")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="up to this date (inclusive)")
    parser.set_defaults(default_span=default)


def _window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    from tenantboard.report_output import parse_moment, parse_span

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
    from tenantboard.history import HistoryDB, HistoryError

    path = history_path(resolve_config_path(option(args, "config")))
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
    from tenantboard.availability import availability
    from tenantboard.report_output import ReportRow, report_csv, report_json, report_table

    start, end = _window(args)
    if args.context_ids:
        tenants = _tenants_from_args(args.context_ids, args.env or DEFAULT_ENV)
    else:
        tenants = store_for(args).load().tenants
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
    if db is not None:
        db.close()
    rows = [ReportRow(t, availability(found.get(t.key, []), start, end)) for t in tenants]
    if args.json:
        print(report_json(rows, start, end))
    elif args.csv:
        print(report_csv(rows))
    else:
        print(report_table(rows, start, end))
    return 0


def _tenant_of_key(key: str) -> Tenant:
    env, _, context_id = key.partition(":")
    return Tenant(context_id, env)


def cmd_history(args: argparse.Namespace) -> int:
    from tenantboard.report_output import history_json, history_table

    start, end = _window(args)
    (tenant,) = _tenants_from_args([args.context_id], args.env)
    for listed in store_for(args).load().tenants:
        if listed.key == tenant.key:
            tenant = listed
    try:
        db = _open_history(args)
    except _HistoryUnreadable as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_HISTORY
    intervals, events, marks = [], [], []
    if db is not None:
        with db:
            intervals = db.intervals(tenant.key, start, end)
            events = [e for e in db.events(tenant.key, start, limit=10_000) if e.at < end]
            marks = [
                mark
                for mark in db.marks([tenant.key], include_ended=True)
                if mark.created_at < end and (mark.ended_at is None or mark.ended_at >= start)
            ]
    render = history_json if args.json else history_table
    print(render(tenant, intervals, events, marks))
    return 0


def _check_marks(config_path: Path, results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Active mutes and acknowledgements per tenant key, read-only from the history
    database when there is one; a database that cannot be read is a warning, not a failure."""
    from tenantboard.history import Observation, marks_for

    current = {r.tenant.key: Observation.from_result(r).label for r in results}
    marks, error = marks_for(history_path(config_path), current, datetime.now(UTC))
    if error is not None:
        print(f"tenantboard: mutes not read: {error}", file=sys.stderr)
    return marks


def _check_json(results: Sequence[Any], marks: dict[str, dict[str, Any]], *, versions: bool) -> str:
    from tenantboard.check_output import check_record

    records = [
        check_record(result, marks.get(result.tenant.key), versions=versions) for result in results
    ]
    return json.dumps(records, indent=2)


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

    from tenantboard.serve import (
        ServeConfig,
        ServeError,
        configure_logging,
        parse_listen,
        serve,
        token_rule,
    )

    configure_logging(args.log_format)
    try:
        host, port = parse_listen(args.listen)
        token = token_rule(host, args.token_file, args.insecure_public)
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    store = store_for(args)
    tenant_list = store.load()
    config = ServeConfig(
        host=host,
        port=port,
        tenant_list=tenant_list,
        settings=effective_settings(args, tenant_list.settings),
        store=store,
        token=token,
        base_url=base_url_for(args),
        history_path=history_path(store.path),
    )
    try:
        return asyncio.run(serve(config))
    except ServeError as exc:
        raise UsageError(str(exc)) from None


def cmd_notify_test(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from tenantboard.notify import Notifier

    # Each hook's outcome is printed below; the log lines would only repeat it.
    logging.getLogger("tenantboard").addHandler(logging.NullHandler())
    store = store_for(args)
    hooks = store.load().notify
    if args.hook is not None:
        hooks = [hook for hook in hooks if hook.name == args.hook]
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
    return 1 if failed else 0


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
}
