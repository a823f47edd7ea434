"""`serve`'s receiver of SuperOffice's pushed changes: ``POST /superoffice/state-change``.

SuperOffice calls the URL registered as the application's "Customer state change" URL when
a tenant is upgraded, restored, suspended, resumed, deleted or moved (docs/releases.md
says how to register it). Each call is checked by :class:`~tenantboard.pushed.PushVerifier`
(the JWT's signature, issuer, audience, times, tenant, and that it was not used before)
against the certificate and client id of the tenant file's ``[state_change]``, or of
``serve --state-change-certificate/--state-change-client-id`` (which win). A call that
passes makes the session check that tenant now and log what SuperOffice said
(:meth:`Session.pushed`); it never sets a state. Answers:

- 202: checked, the tenant is being re-checked; 200: checked, but not in the tenant list;
- 400: not a call SuperOffice makes (not JSON, no context id, no token); 413: too big;
- 401: the token is refused (bad signature, issuer, audience, expired, replayed, another
  tenant's); logged with the reason and the caller's address, never the token;
- 404: pushed changes are not set up; 503: they are, but cannot be checked (a certificate
  that cannot be read, no client id), logged once per problem.

The serve token (``--token-file``) is not asked for here: SuperOffice cannot send it, and
the JWT is what proves the call.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from aiohttp import web

from tenantboard.pushed import MAX_BODY, PushRefused, PushVerifier, ReplayGuard
from tenantboard.sanitize import clean
from tenantboard.session import Session
from tenantboard.tenant_file import StateChangeConfig

log = logging.getLogger("tenantboard.serve")

STATE_CHANGE_PATH = "/superoffice/state-change"
#: How `/metrics` counts calls (``tenantboard_pushed_changes_total{result}``).
RESULTS = ("accepted", "not_listed", "malformed", "refused", "replayed", "unavailable")

_Stamp = tuple[StateChangeConfig, tuple[tuple[str, int | None], ...]]


class StateChangeReceiver:
    """Checks and takes the calls (see the module's docstring)."""

    def __init__(self, session: Session, overrides: StateChangeConfig | None = None) -> None:
        self.session = session
        self.overrides = overrides
        self.replays = ReplayGuard()
        self.counts: Counter[str] = Counter(dict.fromkeys(RESULTS, 0))
        self._verifier: PushVerifier | None = None
        self._problem: str | None = None
        self._built_for: _Stamp | None = None

    def config(self) -> StateChangeConfig | None:
        """The tenant file's ``[state_change]`` with serve's options on top; None when
        neither sets anything up."""
        merged = (self.session.state_change or StateChangeConfig()).merged(self.overrides)
        return merged if merged.certificates or merged.client_id else None

    def verifier(self) -> PushVerifier:
        """The verifier for the configuration as it is now (rebuilt when it, or a
        certificate file, changed); PushRefused 404 or 503 when calls cannot be checked."""
        config = self.config()
        if config is None:
            raise PushRefused(
                "pushed changes are not set up: see [state_change] in docs/releases.md",
                status=404,
                result="unavailable",
            )
        stamp = (config, tuple(_file_stamp(path) for path in config.certificates))
        if stamp != self._built_for:
            self._built_for = stamp
            try:
                self._verifier = PushVerifier.from_config(
                    config, self.replays, self.session.clock.wall
                )
                self._problem = None
            except ValueError as exc:
                self._verifier = None
                self._problem = f"pushed changes cannot be checked: {exc}"
                log.error("%s", self._problem)
        if self._verifier is None:
            raise PushRefused(self._problem or "not set up", status=503, result="unavailable")
        return self._verifier

    def describe(self) -> str | None:
        """For serve's start: whether calls are taken, and where; None when not set up."""
        try:
            verifier = self.verifier()
        except PushRefused as exc:
            return None if exc.status == 404 else exc.reason
        keys = len(verifier.keys)
        return (
            f"SuperOffice's pushed changes are taken on POST {STATE_CHANGE_PATH} "
            f"(client id {verifier.config.client_id}, {keys} key{'s' if keys != 1 else ''})"
        )

    async def handle(self, request: web.Request) -> web.Response:
        try:
            verifier = self.verifier()
            change = verifier.verify(await _body(request))
        except PushRefused as exc:
            return self._refused(request, exc)
        keys = self.session.pushed(change)
        where = f"{change.context_id} ({change.env or 'any environment'})"
        if not keys:
            self.counts["not_listed"] += 1
            log.info("%s for %s, which is not in the tenant list", change.describe(), where)
            return web.Response(text=f"{where} is not in the tenant list: nothing to check\n")
        self.counts["accepted"] += 1
        return web.Response(status=202, text=f"checking {', '.join(keys)} now\n")

    def _refused(self, request: web.Request, exc: PushRefused) -> web.Response:
        self.counts[exc.result] += 1
        if exc.status != 404:
            level = logging.WARNING if exc.status in (401, 503) else logging.INFO
            log.log(
                level,
                "pushed change from %s refused (%d): %s",
                clean(request.remote or "?", 60),
                exc.status,
                exc.reason,
                extra={"data": {"result": exc.result, "status": exc.status}},
            )
        headers = {"WWW-Authenticate": 'Bearer realm="superoffice"'} if exc.status == 401 else None
        return web.Response(status=exc.status, text=f"{exc.reason}\n", headers=headers)


async def _body(request: web.Request) -> bytes:
    """The body, at most :data:`~tenantboard.pushed.MAX_BODY` bytes (413 past it, however
    it is sent: with a Content-Length or chunked)."""
    too_big = PushRefused(
        f"the body is larger than {MAX_BODY} bytes", status=413, result="malformed"
    )
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(4096):
        size += len(chunk)
        if size > MAX_BODY:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _file_stamp(path: Path) -> tuple[str, int | None]:
    try:
        return str(path), path.stat().st_mtime_ns
    except OSError:
        return str(path), None


__all__ = ["RESULTS", "STATE_CHANGE_PATH", "StateChangeReceiver"]
