"""What counts as loopback, and the four places that allow something only there agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantboard.client import BaseUrl
from tenantboard.netaddr import is_loopback
from tenantboard.remote import AttachTarget
from tenantboard.serve.server import ServeError, token_rule
from tenantboard.tenant_file import StoreError, parse_tenant_text

LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost", "::ffff:127.0.0.1"]
#: Names that resolve to loopback (or look like it) do not count: what a name resolves to
#: can change (DNS rebinding); only the literal name localhost does.
NOT_LOOPBACK = [
    "127.0.0.1.nip.io",
    "localhost.example.com",
    "localtest.me",
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "192.168.1.10",
    "2001:db8::1",
    "127.1",
    "",
]


@pytest.mark.parametrize("host", LOOPBACK)
def test_what_counts_as_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_what_does_not_count_as_loopback(host: str) -> None:
    assert not is_loopback(host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_everywhere(host: str) -> list[bool]:
    """Whether each of the four checks lets plain http (or no token) through to ``host``:
    serve --listen without a token, --base-url, a webhook, --attach with a token."""
    url = f"http://{_url_host(host)}:9464"
    answers = []
    try:
        answers.append(token_rule(host.strip("[]"), None, False) is None)
    except ServeError:
        answers.append(False)
    for check in (
        lambda: BaseUrl.parse(url),
        lambda: parse_tenant_text(f'[[notify]]\nurl = "{url}/hook"\n', Path("tenants.toml")),
        lambda: AttachTarget.parse(url, token="t" * 20),
    ):
        try:
            check()
            answers.append(True)
        except (ValueError, StoreError):
            answers.append(False)
    return answers


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.1.nip.io", "10.0.0.1"])
def test_serve_base_url_hooks_and_attach_agree_on_loopback(host: str) -> None:
    assert allowed_everywhere(host) == [is_loopback(host)] * 4


def test_attach_sends_a_token_over_plain_http_only_to_loopback() -> None:
    with pytest.raises(ValueError, match="plain text"):
        AttachTarget.parse("http://watcher.example:9464", token="t" * 20)
    assert AttachTarget.parse("https://watcher.example:9464", token="t" * 20).token
    assert AttachTarget.parse("http://watcher.example:9464").token is None  # no token: fine
