"""`tenantboard serve`: the watcher over HTTP (aiohttp), read-only but for marks and
SuperOffice's calls.

Endpoints (GET and HEAD only, but for the two POSTs that mark tenants and the one
SuperOffice calls; any other method is 405):

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
         "maintenance": [window, ...],   # the windows open now, the last to close first
         "outage": null or our own outage while it lasts (serve cannot reach SuperOffice):
                   {"since": ISO, "ended": null, "reason", "tenants", "probes", "headline"},
         "tenants": [row, ...]}   # in the list's order

    where each ``row`` is::

        {"key": "online:Cust1001", "context_id", "env", "label", "tags": ["acme"],
         "severity": "OK" | "WARNING" | "CRITICAL" | "UNKNOWN" | "PENDING",
         "glyph": "✔", "bucket": what the header counts it as,
         "state", "state_code", "is_running", "running_mismatch", "endpoint_host",
         "version",                 # all from the last successful answer (kept while
                                    # later checks fail)
         "checked_at": ISO or null, "last_change": ISO or null (state or check outcome),
         "checks": N, "error": null or {"kind", "message", "status"},
         "during_outage": true when that error is our own outage's (the row is stale,
                          its last known state stands), not the tenant's,
         "last_known": while the last check failed, null or the last successful
                       answer (the state fields of /api/tenants, "checked_at": when it
                       was had): what an attached board shows meanwhile,
         "uptime_24h": null or the share of the last 24 hours it was up (0 to 1),
                       from the history database, read each minute,
         "marks": null or {"muted": mark or null, "acknowledged": mark or null}, each
                  mark {"id", "by", "created_at", "until" (null: until the state
                  changes), "state"}; the session's (the history database's, read
                  every 30 s, so those made by boards on the same file too),
         "maintenance": null or the window covering it now (maintenance.Window.as_json),
         "rev": N,                  # changes whenever anything in the row changes
         "result": null or the last check as /api/tenants shows it}

    The response has an ``ETag``; ``If-None-Match`` gets 304 while nothing changed. It
    is sent in pieces with the checks running between them: each row is as it was when
    its piece was made, never older than ``seq`` (so events after ``seq`` apply on top);
    a tenant removed meanwhile is left out (a ``reset`` event follows).
``/api/incidents``
    Host incidents (many tenants of one endpoint host turning bad together, see
    incidents.py and docs/fleet.md): the open ones, then those resolved since `serve`
    started (the newest 50), newest first::

        {"generated_at": ISO, "open": N,
         "incidents": [{"id": "online3.superoffice.com@20260302T140200Z",
                        "host": "online3.superoffice.com",
                        "status": "open" | "resolved",
                        "state": "Unknown",    # most common bad state of its members
                        "since": ISO,          # its first member turned bad
                        "opened_at": ISO, "resolved_at": ISO or null,
                        "tenants_on_host": 530, "members": 412,
                        "bad": 412, "back": 0, "peak": 412,
                        "headline": "online3.superoffice.com: 412 of 530 tenants Unknown
                                     since 14:02",
                        "member_keys": ["online:Cust1", ...]}, ...]}

    Older incidents are in the history: ``tenantboard history --host NAME``, ``report``.
``/api/events``
    Server-sent events (``text/event-stream``), each with an ``id`` (the ``seq``) and one
    of these types, ``data`` being JSON:

    ``result``  a check finished, or a mark or a window of the tenant began or ended:
                the tenant's ``row`` as in the snapshot.
    ``change``  something worth telling: ``{"key", "name", "kind": "state" | "endpoint" |
                "version" | "pushed" | "failure" | "recovery" | "incident" | ..., "text",
                "worse", "at", "severity"}`` (``name``: the tenant's label or context id;
                a host incident's and our own outage's have key "" and name the host, or
                SuperOffice).
    ``maintenance``  ``{"open": [window, ...]}``: windows opened or closed (the rows
                they cover come first, as ``result``).
    ``outage``  our own outage began (``"ended": null``) or ended: the snapshot's
                ``outage`` (the rows it holds follow, as ``result``).
    ``tenant_file``  ``{"tenant_file_error": null or why}``: the tenant file became
                unusable (the list is kept) or usable again, as the snapshot's
                ``tenant_file_error``.
    ``incident`` a host incident opened, grew or was resolved: the incident as
                ``/api/incidents`` shows it, with ``"change": "opened" | "grew" |
                "resolved"``.
    ``reset``   ``{"reason", "seq"}``: the list changed, or this client fell behind or
                asked for events no longer kept. Fetch ``/api/snapshot`` again and apply
                only events whose id is greater than its ``seq``.

    A comment line is sent every 15 s to keep proxies from closing the stream. To follow
    without gaps: fetch the snapshot, then connect with ``Last-Event-ID: <its seq>`` (or
    ``?last_event_id=``); events after it are replayed (the newest 4,096 are kept; a
    ``result`` replayed carries its row as it is by then, never older: its ``rev`` says).
``/api/availability/KEY``
    One tenant's availability over 24 h, 7 d and 30 d with its 30-day strip, as the
    board's detail pane shows it (``history.reader.TenantAvailability.as_json``).
``POST /api/marks``, ``POST /api/marks/ID/clear``
    Mute or acknowledge a tenant, clear a mark (tenant_api.py; docs/serve.md has the
    shapes). Taken only as JSON, with the token in the ``Authorization`` header when there
    is one (never the cookie alone), without one only on loopback, and never from a page
    of another site (``Origin``, ``Sec-Fetch-Site``): see :func:`_may_change`.
``POST /superoffice/state-change``
    SuperOffice's pushed changes (state_change.py): a call whose JWT checks out re-checks
    that tenant at once and is logged; it takes no serve token (the JWT proves the call).

Security (docs/security.md): the server listens on loopback unless told otherwise.
Listening on any other address needs ``--token-file`` or ``--insecure-public``; a token file
given on loopback is enforced as well. The token is then required on every endpoint but
``/healthz`` as ``Authorization: Bearer TOKEN`` (compared in constant time), with one
exception for browsers: ``/?token=TOKEN`` answers 303 to the same address without the token
and sets an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` over https or with
``X-Forwarded-Proto: https``) that ``/`` and ``/api/...`` accept in its place. ``?token=``
is refused anywhere else, and the cookie is not taken by ``/metrics``.

Only requests whose ``Host`` names this server are answered (421 otherwise, against DNS
rebinding): the listen address, ``localhost`` on loopback, any IP address on a wildcard
address, and each ``--allow-host NAME``. ``/healthz`` answers any ``Host``.

At most ``--max-connections`` (256) connections are held at once, event streams included;
past it new ones are closed at once. A connection with no request in progress (a request
head still arriving, an idle keep-alive; not an event stream) is closed after 10 s.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import re
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.http import HttpProcessingError

from tenantboard import __version__
from tenantboard.humanize import plural
from tenantboard.netaddr import DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, is_loopback
from tenantboard.quietgc import SteadyCollector
from tenantboard.sanitize import clean
from tenantboard.serve.connections import CappedSite, ConnectionCap
from tenantboard.serve.metrics import Exposition, gather_tenant_part, take_snapshot
from tenantboard.serve.sdnotify import SystemdNotifier
from tenantboard.serve.state_change import STATE_CHANGE_PATH, StateChangeReceiver
from tenantboard.serve.status_page import status_page
from tenantboard.serve.tenant_api import LET_IN, TenantAPI
from tenantboard.serve.watcher import Watcher
from tenantboard.session import ResultsApplied, Session, SessionChange, SessionConfig
from tenantboard.tenant_file import StateChangeConfig

log = logging.getLogger("tenantboard.serve")

HEARTBEAT_SECONDS = 15.0
MIN_TOKEN_LENGTH = 16
#: Connections held at once (the event stream's too); past it new ones are closed at once.
MAX_CONNECTIONS = DEFAULT_MAX_CONNECTIONS
#: A connection with no request in progress (a request head still arriving, an idle
#: keep-alive) is closed after this many seconds.
IDLE_TIMEOUT = 10.0
#: The status page's cookie: set by ``/?token=TOKEN``, then sent by the browser instead.
COOKIE = "tenantboard_token"
#: A Last-Event-ID longer than this is not one of ours (ids count events from 1).
MAX_EVENT_ID_DIGITS = 18
EXIT_SIGTERM = 0
EXIT_SIGINT = 130
#: `serve` in a terminal that hung up (closed, its SSH session gone) ends as a hang-up ends
#: a program (128 + SIGHUP); a SIGHUP with the terminal still there is a reload.
EXIT_HUNG_UP = 129

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


def host_name(text: str) -> str | None:
    """The host of a ``Host`` header or a ``--allow-host`` value: no port, no brackets,
    lower case, no final dot; an IP address in its usual spelling. None when it is not
    ``HOST``, ``HOST:PORT``, ``[IPv6]`` or ``[IPv6]:PORT``."""
    found = host_and_port(text)
    return found[0] if found is not None else None


def host_and_port(text: str) -> tuple[str, int | None] | None:
    """:func:`host_name`, and the port when one is written."""
    match = _HOST_PORT.fullmatch(text.strip().lower())
    if match is None:
        return None
    name = (match["bracketed"] or match["plain"]).rstrip(".")
    port = int(match["port"]) if match["port"] else None
    try:
        return str(ipaddress.ip_address(name)), port
    except ValueError:
        return (name, port) if match["plain"] else None  # brackets hold an IPv6 address only


_HOST_PORT = re.compile(
    r"(?:\[(?P<bracketed>[^\]]+)\]|(?P<plain>[^:\[\]]+|[0-9a-f:.]+))(?::(?P<port>\d{1,5}))?"
)


def same_origin(origin: str, host: str | None) -> bool:
    """True when a browser's ``Origin`` is the address the request was sent to (its
    ``Host``): the same name and port (a scheme's default port when none is written)."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    if scheme not in ("http", "https") or not sep or not host:
        return False
    theirs, ours = host_and_port(rest), host_and_port(host)
    if theirs is None or ours is None:
        return False
    default = 443 if scheme == "https" else 80
    return theirs[0] == ours[0] and (theirs[1] or default) == (ours[1] or default)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """The names a request's ``Host`` may give (anything else is 421): a page on another
    name that resolves to this server (DNS rebinding) cannot read it."""

    names: frozenset[str]
    #: Listening on every address (0.0.0.0, ::): any IP address is one of this server's.
    any_address: bool = False
    #: Listening on a loopback address: only this machine reaches it (changes without a
    #: token are taken only then).
    loopback: bool = False

    @classmethod
    def for_listen(cls, host: str, extra: Iterable[str] = ()) -> AllowedHosts:
        """The listen address; ``localhost`` (and the loopback addresses, listening as
        ``localhost``) on loopback; any IP address on a wildcard address; and ``extra``."""
        listen = host_name(host) or host
        names = {listen, *(parse_allowed_host(name) for name in extra)}
        if is_loopback(host):
            names.add("localhost")
        if listen == "localhost":
            names.update(("127.0.0.1", "::1"))
        wildcard = _is_address(listen) and ipaddress.ip_address(listen).is_unspecified
        return cls(frozenset(names), any_address=wildcard, loopback=is_loopback(host))

    def allows(self, header: str | None) -> bool:
        name = host_name(header) if header else None
        if name is None:
            return False
        return name in self.names or (self.any_address and _is_address(name))


def parse_allowed_host(text: str) -> str:
    """A ``--allow-host`` value: a host name or an IP address (a port is ignored)."""
    name = host_name(text)
    if name is None or not (_is_address(name) or _HOST_NAME.fullmatch(name)):
        raise ServeError(f"--allow-host {text!r}: expected a host name, e.g. status.example.com")
    return name


#: The Host names the server answers.
HOSTS = web.AppKey("hosts", AllowedHosts)


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


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server log, less the traceback it logs at error for every malformed
    request (a scanner, a bad client): one line at info (debug where aiohttp chose debug)
    on serve's log instead. Everything else passes through."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            peer = args[0] if args else "?"
            reason = clean(str(exc.message).splitlines()[0] if exc.message else "", 160)
            reason = reason.rstrip(": ") or type(exc).__name__
            log.log(
                min(level, logging.INFO),
                "malformed request from %s refused (400): %s",
                peer,
                reason,
            )
            return
        super().log(level, msg, *args, **kwargs)


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


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


def cookie_value(token: str) -> str:
    """What the status page's cookie holds: made from the token, not the token itself,
    so that no browser keeps the token that /metrics takes."""
    return hmac.new(token.encode(), b"tenantboard status page", "sha256").hexdigest()


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _authorized(request: web.Request, token: str) -> bool:
    """``Authorization: Bearer TOKEN`` anywhere; the status page's cookie on the page and
    the JSON it reads (``/``, ``/api/...``). Never ``?token=`` (see :func:`_open_page`)."""
    bearer = _bearer(request)
    if bearer is not None:
        return _same(bearer, token)
    cookie = request.cookies.get(COOKIE)
    page = request.path == "/" or request.path.startswith("/api/")
    return page and cookie is not None and _same(cookie, cookie_value(token))


def _unauthorized(text: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=text + "\n", headers={"WWW-Authenticate": 'Bearer realm="tenantboard"'}
    )


def _open_page(request: web.Request, token: str) -> web.HTTPException:
    """``/?token=TOKEN``: the status page's cookie, and the same address without the
    token (so it stays out of the address bar, the history and any Referer)."""
    if not _same(request.query.get("token", ""), token):
        return _unauthorized("that is not this server's token")
    kept = urlencode([(name, value) for name, value in request.query.items() if name != "token"])
    opened = web.HTTPSeeOther("./" + (f"?{kept}" if kept else ""))
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    opened.set_cookie(
        COOKIE,
        cookie_value(token),
        httponly=True,
        samesite="Strict",
        secure=request.secure or forwarded == "https",
    )
    return opened


#: The only requests that change something: POSTs to these paths (tenant_api.py).
CHANGE_PATHS = re.compile(r"/api/marks(?:/-?[0-9]{1,18}/clear)?")
#: Where a browser says a request comes from (Sec-Fetch-Site) that may change something.
SAME_SITE_FETCHES = ("same-origin", "none")


def _may_change(request: web.Request, token: str | None) -> None:
    """A change (a mark) is taken only with the token in the ``Authorization`` header when
    there is one (never the status page's cookie alone), without one only on loopback,
    never from a page of another site (``Origin``, ``Sec-Fetch-Site``), and only as JSON
    (a form cannot send it). Raises the refusal, logged."""
    refused: web.HTTPException | None = None
    bearer = _bearer(request)
    if token is not None and (bearer is None or not _same(bearer, token)):
        refused = _unauthorized(
            "a change needs Authorization: Bearer TOKEN (the status page's cookie is not enough)"
        )
    elif token is None and not request.app[HOSTS].loopback:
        refused = web.HTTPForbidden(
            text="this server has no token (--insecure-public): it takes no changes; "
            "give it --token-file\n"
        )
    elif not _from_this_site(request):
        refused = web.HTTPForbidden(text="a change cannot come from a page of another site\n")
    elif request.content_type != "application/json":
        refused = web.HTTPUnsupportedMediaType(
            text="send the change as JSON (Content-Type: application/json)\n"
        )
    if refused is not None:
        log.info(
            "%s %s from %s refused (%d): %s",
            request.method,
            request.path,
            request.remote,
            refused.status,
            refused.text.strip() if refused.text else refused.reason,
        )
        raise refused
    request[LET_IN] = "with the token" if token is not None else "no token (loopback)"


def _from_this_site(request: web.Request) -> bool:
    """False for a browser's request made by a page of another site; a client that is
    not a browser (an attached board, curl) sends neither header."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.lower() not in SAME_SITE_FETCHES:
        return False
    origin = request.headers.get("Origin")
    return origin is None or same_origin(origin, request.headers.get("Host"))


@web.middleware
async def _guard(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    change = request.method == "POST" and CHANGE_PATHS.fullmatch(request.path) is not None
    # SuperOffice's calls: POSTed, and proven by their JWT, not by serve's token.
    pushed = request.path == STATE_CHANGE_PATH
    posted = change or (pushed and request.method == "POST")
    if request.method not in ("GET", "HEAD") and not posted:
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"], text="read-only\n")
    if request.path == "/healthz":  # for probes: any Host, no token; it says only "ok"
        return await handler(request)
    if not request.app[HOSTS].allows(request.headers.get("Host")):
        shown = clean(request.headers.get("Host", ""), 80)
        raise web.HTTPMisdirectedRequest(
            text=f"this server does not answer to the host name {shown!r} "
            "(serve --allow-host NAME adds a name)\n"
        )
    token = request.app.get(TOKEN)
    if change:
        _may_change(request, token)
    elif token is not None and not pushed:
        if request.path == "/" and "token" in request.query:
            raise _open_page(request, token)
        if not _authorized(request, token):
            if "token" in request.query:
                raise _unauthorized(
                    "?token= only opens the status page (/); here send Authorization: Bearer TOKEN"
                )
            raise _unauthorized(
                "a token is needed: Authorization: Bearer TOKEN "
                "(the status page: open /?token=TOKEN once)"
            )
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Server"] = "tenantboard"  # not aiohttp's and Python's versions
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cache-Control", "no-store")
    headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")


def _checked(exposition: Exposition, change: SessionChange) -> None:
    """Rows just checked have their metrics lines made as they come (Exposition.checked)."""
    if isinstance(change, ResultsApplied):
        exposition.checked(change.rows)


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


async def metrics(request: web.Request) -> web.StreamResponse:
    """The rows compared a slice at a time on the loop (their lines are made as results
    come), the lines joined in a worker thread, the exposition streamed in pieces (see
    metrics.py)."""
    watcher = request.app[WATCHER]
    exposition = request.app[EXPOSITION]
    counts = watcher.session.notifier.counts
    pushed = request.app[STATE_CHANGE].counts
    tenants = await gather_tenant_part(watcher, exposition)
    accept = request.headers.get("Accept")
    snapshot = take_snapshot(watcher, exposition, accept, counts, pushed, tenants=tenants)
    pieces, content_type = await asyncio.to_thread(exposition.render, snapshot)
    return await stream(request, pieces, content_type, made_in_thread=True)


async def stream(
    request: web.Request,
    pieces: Iterable[bytes],
    content_type: str,
    headers: dict[str, str] | None = None,
    *,
    made_in_thread: bool = False,
) -> web.StreamResponse:
    """Send ``pieces`` one at a time (chunked), letting the event loop run between them:
    an answer of 100,000 tenants (90 MB) is never made in one go on the loop the checks
    run on. With ``made_in_thread`` each piece is made in a worker thread (it reads
    nothing the loop changes). Gzip when the client takes it (:class:`Gzip`)."""
    all_headers = {"Content-Type": content_type, **(headers or {})}
    if request.method == "HEAD":
        return web.Response(headers=all_headers)
    gzip = Gzip() if "gzip" in request.headers.get("Accept-Encoding", "") else None
    if gzip is not None:
        all_headers["Content-Encoding"] = "gzip"
        all_headers["Vary"] = "Accept-Encoding"
    response = web.StreamResponse(headers=all_headers)
    await response.prepare(request)
    made = iter(pieces)
    while True:
        if made_in_thread:
            piece = await asyncio.to_thread(_next_piece, made, gzip)
        else:  # made here, on the loop: it reads what the loop changes
            piece = next(made, None)
            if piece is not None and gzip is not None:
                piece = await asyncio.to_thread(gzip.compress, piece)
            else:
                await asyncio.sleep(0)  # a socket that takes everything at once never waits
        if piece is None:
            break
        if piece:
            await response.write(piece)
    if gzip is not None:
        await response.write(gzip.end())
    await response.write_eof()
    return response


class Gzip:
    """Gzip at level 1 for the streamed answers, in the worker thread that makes each
    piece. aiohttp's compression (level 6) took 1.5 s of CPU for every scrape of 100,000
    tenants' metrics (80 MB, every 15 s: a tenth of a core) and most of the time the
    status page took to open; level 1 takes a quarter of that, for an answer about a
    third larger (still a tenth of its size)."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: the gzip format

    def compress(self, data: bytes) -> bytes:
        return self._compressor.compress(data)

    def end(self) -> bytes:
        return self._compressor.flush()


#: A streamed answer made in a worker thread is sent about this much at a time: each piece
#: sent costs a turn of the event loop to come back from the thread, and a turn takes
#: 10 to 30 ms while checks run back to back (a scrape of 100,000 tenants sent in 140
#: pieces of 5,000 tenants' lines took 0.7 to 3.2 s).
SEND_BYTES = 4 << 20


def _next_piece(pieces: Iterator[bytes], gzip: Gzip | None) -> bytes | None:
    """The next pieces up to :data:`SEND_BYTES` together, compressed (b"" while the
    compressor holds it); None at the end. Runs in a worker thread: the compressor
    releases the interpreter lock as it works."""
    piece = next(pieces, None)
    if piece is None:
        return None
    together = [piece]
    size = len(piece)
    while size < SEND_BYTES and (piece := next(pieces, None)) is not None:
        together.append(piece)
        size += len(piece)
    joined = b"".join(together) if len(together) > 1 else together[0]
    return gzip.compress(joined) if gzip is not None else joined


async def api_incidents(request: web.Request) -> web.StreamResponse:
    return await stream(request, [request.app[WATCHER].incidents_text().encode()], JSON)


JSON = "application/json; charset=utf-8"


async def api_tenants(request: web.Request) -> web.StreamResponse:
    return await stream(request, request.app[WATCHER].tenants_pieces(), JSON)


async def api_snapshot(request: web.Request) -> web.StreamResponse:
    watcher = request.app[WATCHER]
    etag = f'"{watcher.revision}-{watcher.hub.seq}"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return await stream(request, watcher.snapshot_pieces(), JSON, {"ETag": etag})


def _last_event_id(request: web.Request) -> int | None:
    """The last event the client saw (None: none); 400 for anything but ASCII digits."""
    text = (
        request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or ""
    ).strip()
    if not text:
        return None
    if len(text) > MAX_EVENT_ID_DIGITS or not (text.isascii() and text.isdigit()):
        log.info(
            "/api/events from %s refused (400): Last-Event-ID is not an event id", request.remote
        )
        raise web.HTTPBadRequest(
            text=f"Last-Event-ID must be an event id: up to {MAX_EVENT_ID_DIGITS} digits 0-9\n"
        )
    return int(text)


async def api_events(request: web.Request) -> web.StreamResponse:
    watcher = request.app[WATCHER]
    last_event_id = _last_event_id(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    subscription = watcher.hub.subscribe(last_event_id)
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
    watcher: Watcher,
    *,
    token: str | None = None,
    hosts: AllowedHosts | None = None,
    state_change: StateChangeConfig | None = None,
    tenant_series: str = "all",
) -> web.Application:
    """The application; ``hosts``: the Host names it answers (default: those of the
    default listen address, 127.0.0.1); ``state_change``: serve's options for SuperOffice's
    calls (they win over the tenant file's ``[state_change]``); ``tenant_series``: which
    tenants' series ``/metrics`` shows ("all", or "attention": see metrics.Exposition)."""
    app = web.Application(middlewares=[_guard], client_max_size=1024)
    app[WATCHER] = watcher
    app[HOSTS] = hosts or AllowedHosts.for_listen(parse_listen(DEFAULT_LISTEN)[0])
    exposition = app[EXPOSITION] = Exposition(tenant_series)
    watcher.session.subscribe(lambda change: _checked(exposition, change))
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
    app.router.add_get("/api/incidents", api_incidents)
    app.router.add_get("/api/events", api_events)
    app.router.add_post(STATE_CHANGE_PATH, receiver.handle)
    TenantAPI(watcher).add_routes(app.router)
    return app


# -- running -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the server holds: connections at once, and seconds a connection may sit
    with no request in progress (see the constants)."""

    max_connections: int = MAX_CONNECTIONS
    idle_timeout: float = IDLE_TIMEOUT


async def listen(app: web.Application, host: str, port: int, limits: Limits) -> web.AppRunner:
    """Serve ``app`` on HOST:PORT within ``limits``; ServeError when it cannot listen.
    The caller cleans the runner up."""
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=2.0,
        handle_signals=False,
        # aiohttp closes a connection with no request in progress after this: one that
        # never finishes its request's head, and an idle keep-alive (not a stream).
        keepalive_timeout=limits.idle_timeout,
        logger=ServerLog(),
    )
    await runner.setup()
    site = CappedSite(runner, host, port, ConnectionCap(limits.max_connections))
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return runner


@dataclass(slots=True)
class ServeConfig:
    host: str
    port: int
    #: The tenant file, its history and how to check: what the session watches.
    session: SessionConfig
    token: str | None = None
    #: ``--state-change-certificate`` and ``--state-change-client-id``, or None.
    state_change: StateChangeConfig | None = None
    #: Host names to answer besides the listen address's (--allow-host).
    allowed_hosts: tuple[str, ...] = ()
    limits: Limits = Limits()
    #: Which tenants' series /metrics shows (--tenant-series): "all" or "attention".
    tenant_series: str = "all"


#: Seconds between looks at whether a steady garbage collection round is due: soon after
#: each generation-1 collection, so that a round finds the survivors of one, not of
#: several (rounds of 2 ms median, 11 ms p95 at 100,000 tenants).
COLLECT_EVERY = 0.05


async def collect_steadily(collector: SteadyCollector) -> None:
    """Garbage collection a little at a time while serving (quietgc.SteadyCollector)."""
    while True:
        await asyncio.sleep(COLLECT_EVERY)
        collector.maybe_collect()


def systemd_status(watcher: Watcher) -> str:
    """What ``systemctl status`` shows: the tenants by severity, and our own outage."""
    counts = ", ".join(f"{n} {word}" for word, n in watcher.severity_counts().items() if n)
    outage = watcher.session.monitor.outage
    return f"{plural(len(watcher.model.list_order), 'tenant')}: {counts or 'none'}" + (
        f"; {outage.headline}" if outage else ""
    )


def has_terminal() -> bool:
    """Whether this process has a controlling terminal now: ``/dev/tty`` opens. Under
    systemd it never has; in a terminal it has until the terminal hangs up."""
    try:
        descriptor = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(descriptor)
    return True


async def reload_on_hangup(
    hangup: asyncio.Event, watcher: Watcher, systemd: SystemdNotifier
) -> None:
    """Until cancelled: on each SIGHUP (``ExecReload=``), re-read the tenant file and its
    hooks now, say so in one line and tell systemd; connections, checks and the history's
    queue carry on. SIGHUPs during a reload make one more."""
    while True:
        await hangup.wait()
        hangup.clear()
        systemd.reloading()
        log.info("SIGHUP: %s", await watcher.session.reload())
        systemd.ready(systemd_status(watcher))


async def serve(config: ServeConfig) -> int:
    """Run until SIGTERM (exit 0), SIGINT (exit 130) or the hang-up of the terminal it
    was started in (129), re-reading the tenant file on any other SIGHUP; everything
    closed on the way out."""
    loop = asyncio.get_running_loop()
    systemd = SystemdNotifier.from_environment()
    stopped: asyncio.Future[int] = loop.create_future()
    hangup = asyncio.Event()  # one that comes while starting is handled once serving

    def stop(code: int) -> None:
        if not stopped.done():
            stopped.set_result(code)

    for signum, code in ((signal.SIGTERM, EXIT_SIGTERM), (signal.SIGINT, EXIT_SIGINT)):
        loop.add_signal_handler(signum, stop, code)
    started_on_terminal = has_terminal()

    def hung_up() -> None:
        """SIGHUP: ``ExecReload=`` or ``kill -HUP`` asks for a reload; the terminal serve
        was started in going away asks it to end, as it ends any program run there."""
        if started_on_terminal and not has_terminal():
            stop(EXIT_HUNG_UP)
        else:
            hangup.set()

    loop.add_signal_handler(signal.SIGHUP, hung_up)
    config.session.kind = "serve"
    config.session.url = f"http://{config.host}:{config.port}"
    session = Session(config.session)
    watcher = Watcher(session)
    hosts = AllowedHosts.for_listen(config.host, config.allowed_hosts)
    app = build_app(
        watcher,
        token=config.token,
        hosts=hosts,
        state_change=config.state_change,
        tenant_series=config.tenant_series,
    )
    watching: asyncio.Task[None] | None = None
    collecting: asyncio.Task[None] | None = None
    runner: web.AppRunner | None = None
    heartbeat: asyncio.Task[None] | None = None
    reloading: asyncio.Task[None] | None = None
    collector = SteadyCollector()
    collector.start()  # the tenants and their rows frozen: no collection looks at them again
    try:
        runner = await listen(app, config.host, config.port, config.limits)
        for address in runner.addresses:
            host, port = address[0], address[1]
            shown = f"[{host}]" if ":" in host else host
            log.info(
                "tenantboard %s listening on http://%s:%d (%s from %s, %s)",
                __version__,
                shown,
                port,
                plural(len(config.session.tenants), "tenant"),
                watcher.path or "memory",
                plural(len(config.session.hooks), "alert hook"),
            )
        pushed = app[STATE_CHANGE].describe()
        if pushed is not None:
            log.info("%s", pushed)
        if not config.session.tenants:
            log.warning(
                "no tenants in the tenant file yet: add some (tenantboard add CTX) and they "
                "are picked up as the file changes"
            )
        collecting = asyncio.create_task(collect_steadily(collector), name="garbage collection")
        watching = asyncio.create_task(watcher.run(), name="watcher")
        systemd.ready(systemd_status(watcher))
        heartbeat = asyncio.create_task(systemd.keep_alive(lambda: systemd_status(watcher)))
        reloading = asyncio.create_task(reload_on_hangup(hangup, watcher, systemd))
        await asyncio.wait({stopped, watching}, return_when=asyncio.FIRST_COMPLETED)
        if watching.done() and not stopped.done():
            await watching  # the watcher crashed: surface it
        code = stopped.result()
        reason = {
            EXIT_SIGTERM: "SIGTERM",
            EXIT_SIGINT: "SIGINT",
            EXIT_HUNG_UP: "the terminal hung up",
        }
        log.info("stopping (%s)", reason[code])
        return code
    finally:
        systemd.stopping()
        watcher.hub.close()
        if runner is not None:
            await runner.cleanup()
        for task in (heartbeat, reloading, collecting):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if watching is not None:
            watching.cancel()  # the session writes what it holds and sends what hooks hold
            await asyncio.gather(watching, return_exceptions=True)
        else:
            await session.aclose()
        collector.stop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        systemd.close()
        log.info("stopped")
