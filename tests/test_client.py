from __future__ import annotations

import asyncio
import json
import socket
import ssl

import httpx
import pytest

from tenantboard import __version__
from tenantboard.answers import State, parse_state
from tenantboard.client import BaseUrl, TenantClient
from tenantboard.errors import CheckError, ErrorKind
from tenantboard.tenant import normalize_context_id

GOOD = {
    "ContextIdentifier": "Cust1",
    "Endpoint": "https://online3.superoffice.com/Cust1",
    "State": "Running",
    "IsRunning": True,
    "ValidUntil": "2026-03-02T09:35:00.0000000Z",
    "Api": "https://online3.superoffice.com/Cust1/api",
}
VERSION = {"NetServerVersion": "11.10.721.0", "NetServerLabel": "Release_11.10_2026.02.24-02"}


def client_for(handler, **options) -> TenantClient:
    return TenantClient(transport=httpx.MockTransport(handler), **options)


async def fetch(handler, **options):
    async with client_for(handler, **options) as client:
        return await client.fetch_state("Cust1", "online")


async def failure(handler, **options) -> CheckError:
    with pytest.raises(CheckError) as caught:
        await fetch(handler, **options)
    return caught.value


def respond(status: int = 200, body: bytes | str | None = None, **headers: str):
    if body is None:
        body = json.dumps(GOOD)
    content = body.encode() if isinstance(body, str) else body

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers)

    return handler


def recording(payload: dict[str, object]):
    """A handler answering ``payload``, and the list of requests it was sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=payload)

    return handler, sent


def raising(exc: Exception):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


async def test_asks_the_documented_url_with_our_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=GOOD, headers={"Date": "Mon, 02 Mar 2026 09:30:00 GMT"})

    answer = await fetch(handler)
    assert str(seen[0].url) == "https://online.superoffice.com/api/state/Cust1"
    assert seen[0].headers["accept"] == "application/json"
    user_agent = seen[0].headers["user-agent"]
    assert user_agent == f"tenantboard/{__version__} (SuperOffice tenant status board)"
    assert "://" not in user_agent  # no project URL that does not exist
    assert answer.state.state is State.Running
    assert answer.server_date is not None and answer.server_date.hour == 9


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ("sod", "sod.superoffice.com"),
        ("stage", "qaonline.superoffice.com"),
        ("online", "online.superoffice.com"),
    ],
)
def test_environment_hosts(env: str, host: str) -> None:
    assert TenantClient.state_url("Cust7", env) == f"https://{host}/api/state/Cust7"


async def test_base_url_redirects_the_request_but_keeps_the_logical_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=GOOD)

    await fetch(handler, base_url=BaseUrl.parse("http://127.0.0.1:8080"))
    assert str(seen[0].url) == "http://127.0.0.1:8080/api/state/Cust1"
    assert seen[0].headers["host"] == "online.superoffice.com"


@pytest.mark.parametrize(
    "text",
    [
        "http://example.com",
        "ftp://127.0.0.1",
        "http://127.0.0.1:1/path",
        "not a url",
        "http://10.0.0.1",
    ],
)
def test_base_url_refuses_plain_http_off_loopback_and_paths(text: str) -> None:
    with pytest.raises(ValueError):
        BaseUrl.parse(text)


def test_base_url_accepts_https_anywhere_and_http_on_loopback() -> None:
    assert str(BaseUrl.parse("https://staging.example.com")) == "https://staging.example.com"
    assert str(BaseUrl.parse("http://[::1]:9000")) == "http://[::1]:9000"
    assert str(BaseUrl.parse("http://localhost:9000/")) == "http://localhost:9000"


@pytest.mark.parametrize("text", ["cust12345", "CUST1", " Cust42 "])
def test_context_ids_any_case_are_normalised(text: str) -> None:
    assert normalize_context_id(text).startswith("Cust")


@pytest.mark.parametrize("text", ["", "Cust", "12345", "Cust12a", "Cust1/../x", "Cust 1", "Cüst1"])
async def test_invalid_context_ids_are_refused_before_any_request(text: str) -> None:
    handler, sent = recording(GOOD)

    async with client_for(handler) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_state(text, "online")
    assert caught.value.kind is ErrorKind.INVALID_CONTEXT
    assert sent == []


@pytest.mark.parametrize(
    ("handler", "kind", "words"),
    [
        (
            raising(httpx.ConnectError("[Errno 111] Connection refused")),
            ErrorKind.CONNECT,
            "cannot connect",
        ),
        (
            raising(httpx.ConnectError("[Errno -2] Name or service not known")),
            ErrorKind.DNS,
            "resolve",
        ),
        (
            raising(
                httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
            ),
            ErrorKind.TLS,
            "TLS",
        ),
        (raising(httpx.ConnectTimeout("timed out")), ErrorKind.TIMEOUT, "connecting"),
        (raising(httpx.ReadTimeout("timed out")), ErrorKind.TIMEOUT, "waiting for the answer"),
        (raising(httpx.RemoteProtocolError("peer closed")), ErrorKind.NETWORK, "connection failed"),
        (respond(404, "nope"), ErrorKind.NOT_FOUND, "404"),
        (
            respond(421, "Wrong subdomain used to access tenant"),
            ErrorKind.MISDIRECTED,
            "wrong subdomain",
        ),
        (respond(500, "boom"), ErrorKind.HTTP_STATUS, "HTTP 500"),
        (respond(403, "no"), ErrorKind.HTTP_STATUS, "HTTP 403"),
        (respond(302, "", location="https://evil.example/"), ErrorKind.REDIRECT, "not followed"),
        (
            respond(200, "<html>hi</html>", **{"content-type": "text/html"}),
            ErrorKind.NOT_JSON,
            "text/html",
        ),
        (respond(200, b"\xff\xfe{}"), ErrorKind.NOT_UTF8, "UTF-8"),
        (respond(200, "[" * 100 + "]" * 100), ErrorKind.TOO_DEEP, "deeply"),
        (respond(200, "[" * 100000 + "]" * 100000), ErrorKind.TOO_DEEP, "deeply"),
        (respond(200, json.dumps([1, 2])), ErrorKind.BAD_ANSWER, "expected an object"),
        (
            respond(200, json.dumps({**GOOD, "ContextIdentifier": "Cust2"})),
            ErrorKind.BAD_ANSWER,
            "Cust2",
        ),
    ],
)
async def test_every_failure_becomes_a_typed_error_with_a_reason(handler, kind, words) -> None:
    error = await failure(handler)
    assert error.kind is kind
    assert words.lower() in error.message.lower()


async def test_dns_failure_found_through_the_exception_chain() -> None:
    cause = socket.gaierror(-3, "Temporary failure")
    exc = httpx.ConnectError("connect failed")
    exc.__cause__ = cause
    assert (await failure(raising(exc))).kind is ErrorKind.DNS


async def test_tls_failure_found_through_the_exception_chain() -> None:
    exc = httpx.ConnectError("handshake failed")
    exc.__cause__ = ssl.SSLCertVerificationError("bad cert")
    assert (await failure(raising(exc))).kind is ErrorKind.TLS


@pytest.mark.parametrize(
    ("status", "kind"), [(429, ErrorKind.RATE_LIMITED), (503, ErrorKind.UNAVAILABLE)]
)
async def test_retry_after_is_read_as_seconds(status: int, kind: ErrorKind) -> None:
    error = await failure(respond(status, "busy", **{"retry-after": "120"}))
    assert error.kind is kind
    assert error.retry_after == 120
    assert "120" in error.message


async def test_retry_after_as_an_http_date() -> None:
    error = await failure(respond(503, "busy", **{"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    assert error.retry_after == 86_400  # capped at a day


async def test_receipt_and_retry_after_dates_are_read_by_the_injected_clock(clock) -> None:
    """The clock the engine runs on, not the machine's: a fake clock in a test, and one
    clock for everything a check measures."""
    answer = await fetch(respond(), clock=clock)
    assert answer.received_at == clock.wall()
    in_90_s = "Mon, 02 Mar 2026 09:31:30 GMT"  # FIXED_NOW is 09:30:00
    error = await failure(respond(503, "busy", **{"retry-after": in_90_s}), clock=clock)
    assert error.retry_after == 90


async def test_a_declared_huge_body_is_refused_without_reading() -> None:
    error = await failure(respond(200, b"{}", **{"content-length": str(50 << 20)}))
    assert error.kind is ErrorKind.TOO_LARGE


async def test_reading_stops_past_the_cap() -> None:
    chunks_sent = 0

    async def endless():
        nonlocal chunks_sent
        while True:
            chunks_sent += 1
            yield b" " * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    error = await failure(handler, max_body=1 << 20)
    assert error.kind is ErrorKind.TOO_LARGE
    assert chunks_sent <= 18


async def test_a_hung_server_times_out_within_the_budget() -> None:
    async def trickle():
        while True:
            await asyncio.sleep(0.05)
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    error = await failure(handler, timeout=0.3)
    assert error.kind is ErrorKind.TIMEOUT


# -- version info --------------------------------------------------------------------------


def state(**fields: object):
    return parse_state({**GOOD, **fields}, "Cust1")


async def test_version_info_is_fetched_from_the_api_link() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=VERSION)

    async with client_for(handler) as client:
        answer = await client.fetch_version(state(), "online")
    assert seen == ["https://online3.superoffice.com/Cust1/api"]
    assert answer.info.netserver_numbers == (11, 10, 721, 0)
    assert answer.fresh_state is None


@pytest.mark.parametrize(
    "api",
    [
        "http://online3.superoffice.com/Cust1/api",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/Cust1/api",
        "https://superoffice.com.evil.example/api",
        "https://user:pw@online3.superoffice.com/api",
        "javascript:alert(1)",
        "",
    ],
)
async def test_version_links_outside_superoffice_are_refused(api: str) -> None:
    handler, sent = recording(VERSION)

    async with client_for(handler) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_version(state(Api=api or None), "online")
    assert caught.value.kind is ErrorKind.REFUSED_URL
    assert sent == []


async def test_version_link_to_the_base_url_host_is_allowed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=VERSION)

    async with client_for(handler, base_url=BaseUrl.parse("http://127.0.0.1:9")) as client:
        answer = await client.fetch_version(state(Api="http://127.0.0.1:9/Cust1/api"), "online")
    assert answer.info.label == "Release_11.10_2026.02.24-02"


async def test_421_reads_the_state_again_and_retries_once_on_the_endpoint_host() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path.startswith("/api/state/"):
            return httpx.Response(
                200, json={**GOOD, "Endpoint": "https://online7.superoffice.com/Cust1"}
            )
        if request.url.host == "online7.superoffice.com":
            return httpx.Response(200, json=VERSION)
        return httpx.Response(421, text="Wrong subdomain used to access tenant")

    async with client_for(handler) as client:
        answer = await client.fetch_version(
            state(Api="https://online.superoffice.com/Cust1/api"), "online"
        )
    assert seen == [
        "https://online.superoffice.com/Cust1/api",
        "https://online.superoffice.com/api/state/Cust1",
        "https://online7.superoffice.com/Cust1/api",
    ]
    assert answer.fresh_state is not None
    assert answer.fresh_state.endpoint == "https://online7.superoffice.com/Cust1"


async def test_a_second_421_is_reported_not_retried_forever() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.url.path.startswith("/api/state/"):
            return httpx.Response(200, json=GOOD)
        return httpx.Response(421, text="Wrong subdomain used to access tenant")

    async with client_for(handler) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_version(state(), "online")
    assert caught.value.kind is ErrorKind.MISDIRECTED
    assert calls == 3


async def test_no_version_request_while_the_tenant_is_not_running() -> None:
    handler, sent = recording(VERSION)

    async with client_for(handler) as client:
        with pytest.raises(CheckError) as caught:
            await client.fetch_version(state(State="Suspended", IsRunning=False), "online")
    assert caught.value.kind is ErrorKind.NOT_RUNNING
    assert "Suspended" in caught.value.message
    assert sent == []


async def test_the_shared_client_is_closed_on_exit() -> None:
    client = client_for(respond())
    async with client:
        pass
    assert client.is_closed


@pytest.mark.parametrize("base", [None, "http://127.0.0.1:8080", "https://[::1]:8443"])
async def test_state_urls_made_from_a_template_equal_parsed_ones(base: str | None) -> None:
    """The state URL skips httpx's parser (with_safe_path): it must be the URL a parse gives."""
    handler, sent = recording(GOOD)
    base_url = BaseUrl.parse(base) if base else None
    async with client_for(handler, base_url=base_url) as client:
        await client.fetch_state("Cust1", "online")
        with pytest.raises(CheckError):  # the recorded answer is Cust1's
            await client.fetch_state("cust12345", "online")
    expected = (base or "https://online.superoffice.com") + "/api/state/Cust12345"
    url = sent[1].url
    assert url == httpx.URL(expected)
    assert (url.scheme, url.host, url.port, url.raw_path) == (
        httpx.URL(expected).scheme,
        httpx.URL(expected).host,
        httpx.URL(expected).port,
        b"/api/state/Cust12345",
    )
    assert str(url) == str(httpx.URL(expected))
    assert sent[1].headers["host"] == "online.superoffice.com"


async def test_a_closed_client_sends_nothing() -> None:
    handler, sent = recording(GOOD)
    client = client_for(handler)
    await client.aclose()
    with pytest.raises(RuntimeError):
        await client.fetch_state("Cust1", "online")
    assert sent == []
