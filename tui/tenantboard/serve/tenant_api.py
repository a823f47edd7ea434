"""`serve`'s endpoints for one tenant: mute, acknowledge and clear (the only changes it
takes), and the availability the board's detail pane shows.

``POST /api/marks`` and ``POST /api/marks/ID/clear`` go through the session
(:meth:`Session.add_mark`, :meth:`Session.end_marks`) as a board's keys do: the mark is
recorded in the history database, logged, silences this server's alert hooks, and reaches
every attached board through the event stream. Who may send them is decided before these
handlers run (``server._may_change``); who made a mark is what the client says (``by``),
recorded as given, and the log says from where and how it was let in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from tenantboard.answers import time_from_json
from tenantboard.history.db import MAX_BY, Mark
from tenantboard.history.reader import mark_text
from tenantboard.sanitize import clean
from tenantboard.serve.watcher import Watcher
from tenantboard.session import MarkRefused

log = logging.getLogger("tenantboard.serve")

#: The longest a mute may last (a longer silence is a maintenance window, or a removal).
LONGEST_MUTE = timedelta(days=31)
#: Seconds a tenant's availability, once read, is served again instead of read anew.
AVAILABILITY_FRESH = 10.0
MARK_FIELDS = ("key", "kind", "until", "by")


@dataclass(frozen=True, slots=True)
class MarkRequest:
    """A mute or acknowledgement asked for through the API."""

    key: str
    kind: str
    until: datetime | None
    by: str


def parse_mark_request(body: Any, now: datetime) -> MarkRequest:
    """``{"key", "kind": "mute" | "ack", "until": ISO or null, "by"}``; ValueError saying
    what is wrong."""
    if not isinstance(body, dict):
        raise ValueError('send a JSON object: {"key", "kind", "until", "by"}')
    unknown = sorted(set(body) - set(MARK_FIELDS))
    if unknown:
        raise ValueError(f"unknown field {clean(unknown[0], 40)!r}: expected {MARK_FIELDS}")
    key = body.get("key")
    if not isinstance(key, str) or not 0 < len(key) <= 200:
        raise ValueError('"key" must name a tenant, e.g. "online:Cust1001"')
    kind = body.get("kind")
    if kind not in ("mute", "ack"):
        raise ValueError('"kind" must be "mute" or "ack"')
    until = None if body.get("until") is None else time_from_json(body["until"], '"until"')
    if until is not None and kind == "ack":
        raise ValueError('an acknowledgement lasts until the state changes: "until" must be null')
    if until is not None and not now < until <= now + LONGEST_MUTE:
        raise ValueError(f'"until" must be later than now and within {LONGEST_MUTE.days} days')
    return MarkRequest(key, kind, until, who_asks(body))


def who_asks(body: dict[str, Any]) -> str:
    """``by``: who makes the change (recorded as given, cleaned)."""
    by = body.get("by")
    name = clean(by, MAX_BY).strip() if isinstance(by, str) else ""
    if not name:
        raise ValueError('"by" must say who makes the change, e.g. your user name')
    return name


def mark_record(mark: Mark) -> dict[str, Any]:
    """A mark as the API answers it: the row's fields, and which tenant and kind."""
    return {**mark.as_json(), "key": mark.key, "kind": mark.kind}


def refusal(status: type[web.HTTPException], message: str) -> web.HTTPException:
    """An error answered as JSON ``{"error": message}`` (an attached board shows it)."""
    return status(text=json.dumps({"error": message}), content_type="application/json")


async def json_body(request: web.Request) -> Any:
    """The request's JSON (the app caps its size: 413 past it)."""
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise refusal(web.HTTPBadRequest, "the body is not JSON") from None


#: Where the server's guard notes how a change was let in ("with the token", ...).
LET_IN = web.RequestKey("let_in", str)


def where_from(request: web.Request) -> str:
    """For the log: the peer, what a proxy says it forwards for, and how it was let in."""
    forwarded = request.headers.get("X-Forwarded-For")
    via = f", forwarded for {clean(forwarded, 80)}" if forwarded else ""
    return f"from {request.remote}{via}, {request.get(LET_IN, '?')}"


class TenantAPI:
    """The handlers, over a watcher's session."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/marks", self.add_mark)
        router.add_post(r"/api/marks/{mark_id:-?[0-9]{1,18}}/clear", self.clear_mark)
        router.add_get("/api/availability/{key}", self.availability)

    async def add_mark(self, request: web.Request) -> web.Response:
        session = self.watcher.session
        try:
            wanted = parse_mark_request(await json_body(request), session.clock.wall())
        except ValueError as exc:
            raise refusal(web.HTTPBadRequest, str(exc)) from None
        row = session.model.rows.get(wanted.key)
        if row is None:
            raise refusal(web.HTTPNotFound, f"no tenant {clean(wanted.key, 80)!r} in the list")
        try:
            mark, saved = await session.add_mark(
                wanted.key, wanted.kind, wanted.until, by=wanted.by
            )
        except MarkRefused as exc:
            raise refusal(web.HTTPConflict, str(exc)) from None
        log.info(
            "%s: %s (through the API %s)",
            row.tenant.display_name,
            mark_text(mark),
            where_from(request),
        )
        return web.json_response({"mark": mark_record(mark), "saved": saved}, status=201)

    async def clear_mark(self, request: web.Request) -> web.Response:
        session = self.watcher.session
        mark_id = int(request.match_info["mark_id"])
        body = await json_body(request)
        try:
            if not isinstance(body, dict) or set(body) - {"by"}:
                raise ValueError('send a JSON object: {"by"}')
            by = who_asks(body)
        except ValueError as exc:
            raise refusal(web.HTTPBadRequest, str(exc)) from None
        mark = next((mark for mark in session.marks.all() if mark.id == mark_id), None)
        if mark is None:
            raise refusal(web.HTTPNotFound, f"no mark {mark_id} in force: it has ended")
        session.end_marks([mark], f"cleared by {by}")
        log.info(
            "%s: %s cleared by %r (through the API %s)",
            mark.key,
            mark_text(mark),
            by,
            where_from(request),
        )
        return web.json_response({"cleared": mark_record(mark)})

    async def availability(self, request: web.Request) -> web.Response:
        """One tenant's availability over 24 hours, 7 and 30 days, with its 30-day strip
        (what the detail pane shows), from the history database."""
        session = self.watcher.session
        key = request.match_info["key"]
        if key not in session.model.rows:
            raise refusal(web.HTTPNotFound, f"no tenant {clean(key, 80)!r} in the list")
        if not session.keeps_availability:
            raise refusal(web.HTTPNotFound, "this server keeps no history database")
        figures = session.availability.get(key)
        age = session.availability_age(key)
        if figures is None or age is None or age >= AVAILABILITY_FRESH:
            figures = (await session.read_availability([key], with_strip=True)).get(key)
        if figures is None:
            error = session.history_error
            why = str(error) if error is not None else "nothing recorded yet"
            raise refusal(web.HTTPServiceUnavailable, f"availability not read: {why}")
        return web.json_response({"key": key, **figures.as_json()})
