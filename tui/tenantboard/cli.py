"""Command line: the board (default), `check`, list management, and the simulator."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from tenantboard import __version__
from tenantboard.client import BaseUrl, TenantClient
from tenantboard.clock import SystemClock
from tenantboard.engine import check_all
from tenantboard.paths import default_data_dir, resolve_config_path
from tenantboard.tenant import DEFAULT_ENV, ENVIRONMENTS, Tenant, make_tenant
from tenantboard.tenant_file import (
    Settings,
    StoreError,
    TenantStore,
    parse_import_lines,
    without_known,
)

EXIT_USAGE = 64
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
        choices=ENVIRONMENTS,
        default=DEFAULT_ENV,
        help="environment of the named tenants (default online)",
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument(
        "--versions", action="store_true", help="also fetch each running tenant's version info"
    )

    add = commands.add_parser("add", parents=[shared], help="add tenants to the list")
    add.add_argument("context_ids", nargs="+", metavar="CTX")
    add.add_argument("--env", choices=ENVIRONMENTS, default=DEFAULT_ENV)
    add.add_argument("--label", default="", help="a name to show instead of the context id")

    remove = commands.add_parser("remove", parents=[shared], help="remove tenants from the list")
    remove.add_argument("context_ids", nargs="+", metavar="CTX")
    remove.add_argument(
        "--env", choices=ENVIRONMENTS, help="only in this environment (default: every environment)"
    )

    listing = commands.add_parser("list", parents=[shared], help="show the saved list")
    listing.add_argument("--json", action="store_true")

    commands.add_parser("paths", parents=[shared], help="show where tenantboard keeps its files")

    importing = commands.add_parser(
        "import", parents=[shared], help="add many tenants from a file (CTX[,ENV[,LABEL]] a line)"
    )
    importing.add_argument("file", metavar="FILE", help="the file, or - for standard input")
    importing.add_argument(
        "--env",
        choices=ENVIRONMENTS,
        default=DEFAULT_ENV,
        help="environment for lines that name none (default online)",
    )

    simulate = commands.add_parser(
        "simulate",
        help="serve the simulated state API on 127.0.0.1",
        description="Serve the simulator over HTTP for end-to-end tests and benchmarks. Point "
        "tenantboard at it with --base-url http://127.0.0.1:PORT.",
    )
    simulate.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    simulate.add_argument(
        "--tenants",
        type=_positive_int,
        metavar="N",
        help="tenants Cust1..CustN exist (plus the demo's); others are Unknown",
    )
    simulate.add_argument(
        "--slow-delay",
        type=float,
        default=4.0,
        metavar="SECONDS",
        help="how long the slow tenants take to answer (default 4)",
    )
    simulate.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="run the scenario's clock this many times faster (default 1)",
    )
    _add_serve_commands(commands, shared)
    return parser


def _add_serve_commands(commands: Any, shared: argparse.ArgumentParser) -> None:
    from tenantboard.serve import DEFAULT_LISTEN

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
    try:
        return COMMANDS[command](args)
    except UsageError as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"tenantboard: {exc}", file=sys.stderr)
        print("The file was left as it is; fix it and try again.", file=sys.stderr)
        return 3 if command == "check" else EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def store_for(args: argparse.Namespace) -> TenantStore:
    return TenantStore(resolve_config_path(option(args, "config")))


def base_url_for(args: argparse.Namespace) -> BaseUrl | None:
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
    from tenantboard.app import BoardConfig, binding_ids, run_board

    keys: dict[str, str] = {}
    data_dir = None
    if args.demo:
        from tenantboard.simulator import demo_tenants

        settings = effective_settings(args, Settings())
        tenants, store = demo_tenants(), None
    else:
        store = store_for(args)
        tenant_list = store.load()
        settings = effective_settings(args, tenant_list.settings)
        tenants, keys, data_dir = tenant_list.tenants, tenant_list.keys, default_data_dir()
        unknown = sorted(set(keys) - binding_ids())
        if unknown:
            raise StoreError(
                store.path,
                f"[keys]: unknown binding id(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(binding_ids()))})",
            )
    config = BoardConfig(
        tenants=tenants,
        settings=settings,
        base_url=base_url_for(args),
        demo=args.demo,
        store=store,
        keys=keys,
        data_dir=data_dir,
    )
    return run_board(config)


def cmd_check(args: argparse.Namespace) -> int:
    from tenantboard.check_output import render_json, render_table, summary_line, worst_exit_code

    store = store_for(args)
    if args.context_ids:
        tenants = _tenants_from_args(args.context_ids, args.env)
        settings = effective_settings(args, Settings())
    else:
        tenant_list = store.load()
        tenants = tenant_list.tenants
        settings = effective_settings(args, tenant_list.settings)
        if not tenants:
            raise UsageError(f"no tenants to check: name some, or add them to {store.path}")
    results = asyncio.run(_check(args, tenants, settings))
    if args.json:
        print(render_json(results, versions=args.versions))
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        print(summary_line(results))
        print(render_table(results, color=color, versions=args.versions))
    return worst_exit_code(results)


async def _check(args: argparse.Namespace, tenants: list[Tenant], settings: Settings) -> list:
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
        print(f"added {tenant.context_id} ({tenant.env})")
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
    store.remove(keys)
    for key in keys:
        print(f"removed {key.split(':', 1)[1]} ({key.split(':', 1)[0]})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from tenantboard.sanitize import clean

    tenants = store_for(args).load().tenants
    if args.json:
        print(
            json.dumps(
                [{"context_id": t.context_id, "env": t.env, "label": t.label} for t in tenants],
                indent=2,
            )
        )
        return 0
    width = max((len(t.context_id) for t in tenants), default=10)
    for tenant in tenants:
        print(f"{tenant.context_id:<{width}}  {tenant.env:<6}  {clean(tenant.label, 120)}".rstrip())
    if not tenants:
        print(
            "no tenants yet: add some with `tenantboard add CTX` or `tenantboard import FILE`",
            file=sys.stderr,
        )
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    from tenantboard.paths import default_config_path

    print(f"tenant file:  {resolve_config_path(option(args, 'config'))}")
    print(f"default:      {default_config_path()}")
    print(f"event log:    {default_data_dir() / 'events.jsonl'}")
    print(f"remembered:   {default_data_dir() / 'ui-state.json'}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    source = "<stdin>" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {exc}") from None
    tenants = parse_import_lines(text, source, args.env)
    store = store_for(args)
    fresh, skipped = without_known(tenants, store.load().tenants)
    store.add(fresh)
    note = f" ({skipped} already listed, skipped)" if skipped else ""
    print(f"imported {len(fresh)} tenant{'s' if len(fresh) != 1 else ''}{note} into {store.path}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from tenantboard.simulator import Simulator, serve

    async def run() -> None:
        simulator = Simulator(
            slow_delay=args.slow_delay, tenant_count=args.tenants, speed=args.speed
        )
        server = await serve(args.port, simulator=simulator)
        port = server.sockets[0].getsockname()[1]
        print(f"simulating the state API on http://127.0.0.1:{port}", flush=True)
        print(
            f"try: tenantboard check --base-url http://127.0.0.1:{port} Cust1001 Cust1008",
            flush=True,
        )
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except OSError as exc:
        raise UsageError(f"cannot serve on port {args.port}: {exc.strerror or exc}") from None
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
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
    )
    try:
        return asyncio.run(serve(config))
    except ServeError as exc:
        raise UsageError(str(exc)) from None


def cmd_notify_test(args: argparse.Namespace) -> int:
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
    "serve": cmd_serve,
    "notify-test": cmd_notify_test,
}
