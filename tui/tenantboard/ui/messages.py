"""The typed messages that carry data into the board's widgets (one way: engine -> screen)."""

from __future__ import annotations

from textual.message import Message

from tenantboard.answers import VersionAnswer
from tenantboard.engine import CheckResult
from tenantboard.errors import CheckError


class ResultsArrived(Message):
    """A batch of check results, in the order they finished."""

    def __init__(self, results: list[CheckResult]) -> None:
        super().__init__()
        self.results = results


class VersionArrived(Message):
    """The version document behind a tenant's Api link, or why it could not be had."""

    def __init__(
        self, key: str, endpoint: str | None, answer: VersionAnswer | None, error: CheckError | None
    ) -> None:
        super().__init__()
        self.key = key
        self.endpoint = endpoint
        self.answer = answer
        self.error = error
