"""`tenantboard serve`: the watcher over HTTP (aiohttp), read-only but for SuperOffice's calls.

Endpoints (GET and HEAD only, but for the one SuperOffice calls; any other method is 405,
nothing changes anything):

``/healthz``
    ``ok`` while the server runs; never asks for the token (for probes).
``/metrics``
    Prometheus exposition (see metrics.py); OpenMetrics when the scraper asks for it.
``/``
    The status page (status_page.py): every tenant, refreshed from ``/api/snapshot``.
``/api/tenants``
    Exactly what ``tenantboard check --json`` prints: an array with one object per tenant
    checked so far (a tenant not checked yet is left out until its first check), in the
    list's order, each object the last check's result with its ``muted`` and
    ``acknowledged`` (the marks in the history database, read every 30 s; null without one).
``/api/snapshot``
    Everything the watcher knows, for the status page and for a board attached to this
    server::

        {"generated_at": ISO, "started_at": ISO, "version": "0.1.0",
         "seq": N,            # the newest event's id at this moment (see /api/events)
         "total": N, "severities": {"ok": N, "warning": N, "critical": N,
                                    "unknown": N, "pending": N},
         "counts": {state name or "error" or "not checked yet": N},
         "tenant_file_error": null or why the file cannot be used (the list is kept),
         "tenants": [row, ...]}   # in the list's order

    where each ``row`` is::

        {"key": "online:Cust1001", "context_id", "env", "label",
         "severity": "OK" | "WARNING" | "CRITICAL" | "UNKNOWN" | "PENDING",
         "glyph": "✔", "bucket": what the header counts it as,
         "state", "state_code", "is_running", "running_mismatch", "endpoint_host",
         "version",                 # all from the last successful answer (kept while
                                    # later checks fail)
         "checked_at": ISO or null, "last_change": ISO or null (state or check outcome),
         "checks": N, "error": null or {"kind", "message", "status"},
         "result": null or the last check as /api/tenants shows it, less
                    "muted" and "acknowledged",
         "rev": N}                  # changes whenever anything in the row changes

    The response has an ``ETag``; ``If-None-Match`` gets 304 while nothing changed.
``/api/events``
    Server-sent events (``text/event-stream``), each with an ``id`` (the ``seq``) and one
    of these types, ``data`` being JSON:

    ``result``  a check finished: the tenant's ``row`` as in the snapshot.
    ``change``  something worth telling: ``{"key", "kind": "state" | "endpoint" |
                "version" | "pushed" | "failure" | "recovery" | ..., "text", "worse",
                "at", "severity"}``.
    ``reset``   ``{"reason", "seq"}``: the list changed, or this client fell behind or
                asked for events no longer kept. Fetch ``/api/snapshot`` again and apply
                only events whose id is greater than its ``seq``.

    A comment line is sent every 15 s to keep proxies from closing the stream. To follow
    without gaps: fetch the snapshot, then connect with ``Last-Event-ID: <its seq>`` (or
    ``?last_event_id=``); events after it are replayed (the newest 4,096 are kept).
``POST /superoffice/state-change``
    SuperOffice's pushed changes (state_change.py): a call whose JWT checks out re-checks
    that tenant at once and is logged; it takes no serve token (the JWT proves the call).

Security: the server listens on loopback unless told otherwise. Listening on any other
address needs ``--token-file`` (the token is then required on every endpoint but
``/healthz``, as ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``, compared in constant
time) or ``--insecure-public``. A token file given on loopback is enforced as well.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tenantboard import __version__
from tenantboard.remote import DEFAULT_LISTEN
from tenantboard.serve.metrics import Exposition, take_snapshot
from tenantboard.serve.state_change import STATE_CHANGE_PATH, StateChangeReceiver
from tenantboard.serve.status_page import status_page
from tenantboard.serve.watcher import Watcher
from tenantboard.session import Session, SessionConfig
from tenantboard.tenant_file import StateChangeConfig

log = logging.getLogger("tenantboard.serve")

HEARTBEAT_SECONDS = 15.0
MIN_TOKEN_LENGTH = 16
EXIT_SIGTERM = 0
EXIT_SIGINT = 130

WATCHER = web.AppKey("watcher", Watcher)
TOKEN = web.AppKey("token", str)
EXPOSITION = web.AppKey("exposition", Exposition)
STATE_CHANGE = web.AppKey("state_change", StateChangeReceiver)


class ServeError(ValueError):
    """A bad --listen, token file or security combination: a usage error."""


# -- configuration -----------------------------------------------------------------------------


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6); port 0 picks a free one."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ServeError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise ServeError(f"--listen {text!r}: name the address, e.g. 127.0.0.1:{port_text}")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it could resolve to anything


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"cannot read the token file {path}: {exc}") from None
    if len(token) < MIN_TOKEN_LENGTH or any(char.isspace() for char in token):
        raise ServeError(
            f"the token in {path} must be one word of at least {MIN_TOKEN_LENGTH} characters "
            "(e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    try:
        if path.stat().st_mode & 0o077:
            log.warning("the token file %s can be read by other users (chmod 600 it)", path)
    except OSError:
        pass
    return token


def token_rule(host: str, token_file: Path | None, insecure_public: bool) -> str | None:
    """The token to require (None: none), or ServeError when the combination is unsafe."""
    if token_file is not None:
        return read_token(token_file)
    if is_loopback(host):
        return None
    if insecure_public:
        log.warning(
            "listening on %s with no token (--insecure-public): anyone who can reach it "
            "sees every tenant",
            host,
        )
        return None
    raise ServeError(
        f"--listen {host} is not a loopback address: give --token-file FILE so that only "
        "those who have the token can read it, or --insecure-public to allow everyone"
    )


# -- logging ---------------------------------------------------------------------------------


class PlainFormatter(logging.Formatter):
    """``2026-03-02T09:30:00Z warning tenantboard.watcher: message``."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        text = f"{when} {record.levelname.lower()} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the record's ``data``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            entry.update({key: value for key, value in data.items() if key not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(fmt: str, stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    # aiohttp's own complaints (a handler's crash, a bad request) in the same format.
    for name, level in (("tenantboard", logging.INFO), ("aiohttp", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


# -- the application ------------------------------------------------------------------------


def _presented_token(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token")


@web.middleware
async def _guard(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    # SuperOffice's calls: POSTed, and proven by their JWT, not by serve's token.
    pushed = request.path == STATE_CHANGE_PATH
    if request.method not in ("GET", "HEAD") and not (pushed and request.method == "POST"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"], text="read-only\n")
    token = request.app.get(TOKEN)
    if token is not None and request.path != "/healthz" and not pushed:
        presented = _presented_token(request) or ""
        if not hmac.compare_digest(presented.encode(), token.encode()):
            raise web.HTTPUnauthorized(
                text="a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
                headers={"WWW-Authenticate": 'Bearer realm="tenantboard"'},
            )
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cache-Control", "no-store")
    headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def index(request: web.Request) -> web.Response:
    page = status_page()
    return web.Response(
        body=page.html,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": page.content_security_policy},
    )


async def metrics(request: web.Request) -> web.Response:
    watcher = request.app[WATCHER]
    exposition = request.app[EXPOSITION]
    counts = watcher.session.notifier.counts
    pushed = request.app[STATE_CHANGE].counts
    snapshot = take_snapshot(watcher, exposition, request.headers.get("Accept"), counts, pushed)
    body, content_type = await asyncio.to_thread(exposition.render, snapshot)
    response = web.Response(body=body, headers={"Content-Type": content_type})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression()
    return response


def _json(request: web.Request, text: str, headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(text=text, content_type="application/json", headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression()
    return response


async def api_tenants(request: web.Request) -> web.Response:
    return _json(request, request.app[WATCHER].tenants_text())


async def api_snapshot(request: web.Request) -> web.Response:
    watcher = request.app[WATCHER]
    etag = f'"{watcher.revision}-{watcher.hub.seq}"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return _json(request, watcher.snapshot_text(), {"ETag": etag})


def _last_event_id(request: web.Request) -> int | None:
    text = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or ""
    return int(text) if text.strip().isdigit() else None


async def api_events(request: web.Request) -> web.StreamResponse:
    watcher = request.app[WATCHER]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    subscription = watcher.hub.subscribe(_last_event_id(request))
    try:
        await response.write(b"retry: 5000\n: tenantboard events\n\n")
        while not subscription.closed:
            batch = await subscription.next_batch(HEARTBEAT_SECONDS)
            if batch:
                await response.write(b"".join(event.sse() for event in batch))
            elif not subscription.closed:
                await response.write(b": keep-alive\n\n")
    except ConnectionResetError:
        pass
    finally:
        subscription.unsubscribe()
    return response


def build_app(
    watcher: Watcher, *, token: str | None = None, state_change: StateChangeConfig | None = None
) -> web.Application:
    """The application; ``state_change``: serve's options for SuperOffice's calls (they win
    over the tenant file's ``[state_change]``)."""
    app = web.Application(middlewares=[_guard], client_max_size=1024)
    app[WATCHER] = watcher
    app[EXPOSITION] = Exposition()
    receiver = StateChangeReceiver(watcher.session, state_change)
    app[STATE_CHANGE] = receiver
    if token is not None:
        app[TOKEN] = token
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/tenants", api_tenants)
    app.router.add_get("/api/snapshot", api_snapshot)
    app.router.add_get("/api/events", api_events)
    app.router.add_post(STATE_CHANGE_PATH, receiver.handle)
    return app


# -- running -------------------------------------------------------------------------------


@dataclass(slots=True)
class ServeConfig:
    host: str
    port: int
    #: The tenant file, its history and how to check: what the session watches.
    session: SessionConfig
    token: str | None = None
    #: ``--state-change-certificate`` and ``--state-change-client-id``, or None.
    state_change: StateChangeConfig | None = None


async def serve(config: ServeConfig) -> int:
    """Run until SIGTERM (exit 0) or SIGINT (exit 130); everything closed on the way out."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(code: int) -> None:
        if not stopped.done():
            stopped.set_result(code)

    for signum, code in ((signal.SIGTERM, EXIT_SIGTERM), (signal.SIGINT, EXIT_SIGINT)):
        loop.add_signal_handler(signum, stop, code)
    config.session.kind = "serve"
    config.session.url = f"http://{config.host}:{config.port}"
    session = Session(config.session)
    watcher = Watcher(session)
    app = build_app(watcher, token=config.token, state_change=config.state_change)
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=2.0,
        handle_signals=False,
    )
    watching: asyncio.Task[None] | None = None
    try:
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
            ) from None
        for address in runner.addresses:
            host, port = address[0], address[1]
            shown = f"[{host}]" if ":" in host else host
            log.info(
                "tenantboard %s listening on http://%s:%d (%d tenants from %s, %d alert hooks)",
                __version__,
                shown,
                port,
                len(config.session.tenants),
                watcher.path or "memory",
                len(config.session.hooks),
            )
        pushed = app[STATE_CHANGE].describe()
        if pushed is not None:
            log.info("%s", pushed)
        if not config.session.tenants:
            log.warning(
                "no tenants in the tenant file yet: add some (tenantboard add CTX) and they "
                "are picked up as the file changes"
            )
        watching = asyncio.create_task(watcher.run(), name="watcher")
        await asyncio.wait({stopped, watching}, return_when=asyncio.FIRST_COMPLETED)
        if watching.done() and not stopped.done():
            await watching  # the watcher crashed: surface it
        code = stopped.result()
        log.info("stopping (%s)", "SIGTERM" if code == EXIT_SIGTERM else "SIGINT")
        return code
    finally:
        watcher.hub.close()
        await runner.cleanup()
        if watching is not None:
            watching.cancel()  # the session writes what it holds and sends what hooks hold
            await asyncio.gather(watching, return_exceptions=True)
        else:
            await session.aclose()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("stopped")
