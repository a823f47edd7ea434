"""Typed failures of one tenant's check, each with a short reason a person can act on."""

from __future__ import annotations

import enum


class ErrorKind(enum.StrEnum):
    INVALID_CONTEXT = "invalid-context"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    NETWORK = "network"
    NOT_FOUND = "not-found"
    MISDIRECTED = "misdirected"
    RATE_LIMITED = "rate-limited"
    UNAVAILABLE = "unavailable"
    HTTP_STATUS = "http-status"
    REDIRECT = "redirect"
    NOT_JSON = "not-json"
    NOT_UTF8 = "not-utf8"
    TOO_LARGE = "too-large"
    TOO_DEEP = "too-deep"
    BAD_ANSWER = "bad-answer"
    REFUSED_URL = "refused-url"
    NOT_RUNNING = "not-running"


class CheckError(Exception):
    """One check failed. ``message`` is short and already safe to show (no control chars)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def as_json(self) -> dict[str, object]:
        return {"kind": str(self.kind), "message": self.message, "status": self.status}

    def __repr__(self) -> str:
        return f"CheckError({self.kind!s}, {self.message!r})"
