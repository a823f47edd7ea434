"""SuperOffice's pushed changes: the JWT checks (keys the tests generate), the replay guard,
and `serve`'s POST /superoffice/state-change over a real loopback server, on the fake clock:
a valid call re-checks the tenant at once and is logged; anything else is refused and
logged without its token."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from tenantboard.cli import main
from tenantboard.pushed import (
    PushedChange,
    PushRefused,
    PushVerifier,
    ReplayGuard,
    load_keys,
    parse_body,
)
from tenantboard.serve.server import build_app
from tenantboard.serve.state_change import STATE_CHANGE_PATH
from tenantboard.serve.watcher import Watcher
from tenantboard.session import Session, SessionConfig
from tenantboard.simulator import Simulator, SimulatorTransport
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import StateChangeConfig, StoreError, TenantStore
from tests.conftest import FakeClock

CLIENT_ID = "a43a2b7a9302b4921881fcb75d578dc2"
ISSUER = "https://online.superoffice.com"
TOKEN = "s3cret-token-0123456789"


# -- keys the tests make ---------------------------------------------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(
    key: rsa.RSAPrivateKey, name: str = "SuperOfficeFederatedLogin"
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """SuperOffice's key, and somebody else's."""
    return new_key(), new_key()


@pytest.fixture
def crt(tmp_path: Path, keys) -> Path:
    """SuperOffice's certificate as its .crt files come: DER."""
    path = tmp_path / "SuperOfficeFederatedLogin.crt"
    path.write_bytes(certificate(keys[0]).public_bytes(serialization.Encoding.DER))
    return path


def claims(clock: FakeClock, **changes: Any) -> dict[str, Any]:
    now = int(clock.epoch)
    found: dict[str, Any] = {
        "iss": ISSUER,
        "aud": f"spn:{CLIENT_ID}",
        "sub": "Cust12345",
        "http://schemes.superoffice.net/identity/ctx": "Cust12345",
        "nonce": f"{random.getrandbits(64):016X}",
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 360,
    }
    found.update(changes)
    return {name: value for name, value in found.items() if value is not None}


def signed(key: rsa.RSAPrivateKey, payload: dict[str, Any], algorithm: str = "RS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def body(token: str, change_type: Any = 0, context_id: str = "Cust12345", **fields: Any) -> bytes:
    data = {
        "ChangeType": change_type,
        "ContextIdentifier": context_id,
        "VersionName": "Release_11.10_2026.02.24-02",
        "FileVersion": "11.10.721.0",
        "Token": token,
        **fields,
    }
    return json.dumps(data).encode()


def verifier_for(crt: Path, clock: FakeClock, **config: Any) -> PushVerifier:
    settings = StateChangeConfig(certificates=(crt,), client_id=CLIENT_ID, **config)
    return PushVerifier.from_config(settings, ReplayGuard(), clock.wall)


# -- the checks ------------------------------------------------------------------------------


def test_a_call_signed_by_superoffice_is_taken(crt, keys, clock) -> None:
    change = verifier_for(crt, clock).verify(body(signed(keys[0], claims(clock))))
    assert change == PushedChange(
        0, "Cust12345", "online", "Release_11.10_2026.02.24-02", "11.10.721.0", None
    )
    assert change.describe() == "SuperOffice pushed: upgrade (to Release_11.10_2026.02.24-02)"
    moved = PushedChange(5, "Cust1", "sod", public_endpoint="sod3.superoffice.com")
    assert moved.describe() == "SuperOffice pushed: moved to sod3.superoffice.com"


@pytest.mark.parametrize(
    ("issuer", "env"),
    [
        ("https://sod.superoffice.com", "sod"),
        ("https://qaonline.superoffice.com", "stage"),
        ("https://online.superoffice.com", "online"),
    ],
)
def test_the_issuer_says_which_environment(crt, keys, clock, issuer, env) -> None:
    change = verifier_for(crt, clock).verify(body(signed(keys[0], claims(clock, iss=issuer))))
    assert change.env == env
    assert change.names("Cust12345", env) and not change.names("Cust12345", "elsewhere")


def test_an_issuer_naming_no_environment_means_the_tenant_in_any(crt, keys, clock) -> None:
    """SuperOffice's older tokens say "SuperOffice AS": taken only when the operator lists
    it, and then the tenant is re-checked in every environment it is listed in."""
    legacy = signed(keys[0], claims(clock, iss="SuperOffice AS"))
    change = verifier_for(crt, clock, issuers=("SuperOffice AS",)).verify(body(legacy))
    assert change.env is None
    assert change.names("Cust12345", "sod") and change.names("Cust12345", "online")
    assert not change.names("Cust1", "online")


def test_the_bare_client_id_is_taken_as_the_audience_too(crt, keys, clock) -> None:
    verifier_for(crt, clock).verify(body(signed(keys[0], claims(clock, aud=CLIENT_ID))))


@pytest.mark.parametrize(
    ("what", "change", "reason"),
    [
        ("another key", {"key": 1}, "Signature verification failed"),
        ("another app", {"aud": "spn:someone-else"}, "audience"),
        ("no audience", {"aud": None}, 'missing the "aud"'),
        ("another issuer", {"iss": "https://evil.example.com"}, "issuer"),
        ("the legacy issuer, not asked for", {"iss": "SuperOffice AS"}, "issuer"),
        ("no expiry", {"exp": None}, 'missing the "exp"'),
        ("expired", {"exp": -61}, "expired"),
        ("not valid yet", {"nbf": 120}, "not valid yet"),
        ("issued in the future", {"iat": 120}, "issued in the future"),
        ("a time that is not one", {"exp": "soon"}, "exp"),
        ("another tenant", {"http://schemes.superoffice.net/identity/ctx": "Cust9"}, "another"),
    ],
)
def test_a_token_that_does_not_check_out_is_refused(crt, keys, clock, what, change, reason) -> None:
    change = dict(change)
    key = keys[change.pop("key", 0)]
    now = int(clock.epoch)
    for name in ("exp", "nbf", "iat"):
        if isinstance(change.get(name), int):
            change[name] += now
    token = signed(key, claims(clock, **change))
    with pytest.raises(PushRefused) as refused:
        verifier_for(crt, clock).verify(body(token))
    assert refused.value.status == 401, what
    assert reason.casefold() in refused.value.reason.casefold(), what
    assert token not in str(refused.value)


def test_the_clocks_may_disagree_by_a_minute(crt, keys, clock) -> None:
    now = int(clock.epoch)
    verifier = verifier_for(crt, clock)
    verifier.verify(body(signed(keys[0], claims(clock, exp=now - 30))))
    verifier.verify(body(signed(keys[0], claims(clock, nbf=now + 30, iat=now + 30))))


def test_the_expiry_is_read_on_the_injected_clock(crt, keys, clock) -> None:
    verifier = verifier_for(crt, clock)
    token = signed(keys[0], claims(clock))
    clock.advance(360 + 61)
    with pytest.raises(PushRefused, match="expired"):
        verifier.verify(body(token))


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
def test_no_other_algorithm_is_taken(crt, keys, clock, algorithm) -> None:
    """alg none, and the public key used as an HMAC secret (key confusion)."""
    public = (
        keys[0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": algorithm, "typ": "JWT"}
    if algorithm == "none":
        token = jwt.api_jws.PyJWS().encode(
            json.dumps(claims(clock)).encode(), None, algorithm="none", headers=header
        )
    else:
        import hmac

        def part(data: dict) -> str:
            return jwt.utils.base64url_encode(json.dumps(data).encode()).decode()

        unsigned = f"{part(header)}.{part(claims(clock))}"
        digest = hmac.new(public, unsigned.encode(), "sha256").digest()
        token = f"{unsigned}.{jwt.utils.base64url_encode(digest).decode()}"
    with pytest.raises(PushRefused, match="alg"):
        verifier_for(crt, clock).verify(body(token))


def test_a_token_is_taken_once(crt, keys, clock) -> None:
    verifier = verifier_for(crt, clock)
    call = body(signed(keys[0], claims(clock)))
    verifier.verify(call)
    with pytest.raises(PushRefused, match="used before") as refused:
        verifier.verify(call)
    assert refused.value.result == "replayed"
    # Without jti or nonce, the signature itself identifies the token.
    bare = body(signed(keys[0], claims(clock, nonce=None)))
    verifier.verify(bare)
    with pytest.raises(PushRefused, match="used before"):
        verifier.verify(bare)


def test_the_replay_guard_is_bounded_and_forgets_expired_tokens() -> None:
    guard = ReplayGuard(limit=2)
    guard.take("a", expires=100.0, now=0.0)
    guard.take("b", expires=1000.0, now=0.0)
    with pytest.raises(PushRefused) as full:
        guard.take("c", expires=1000.0, now=50.0)  # a and b still live: refuse, not forget
    assert full.value.status == 503
    guard.take("c", expires=1000.0, now=500.0)  # a has expired and is forgotten
    assert len(guard) == 2


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"ChangeType": 0, "ContextIdentifier": "Cust1"}', "Token"),
        (b'{"ChangeType": true, "ContextIdentifier": "Cust1", "Token": "x"}', "ChangeType"),
        (b'{"ChangeType": 0, "ContextIdentifier": "../etc", "Token": "x"}', "context id"),
    ],
)
def test_what_superoffice_does_not_send_is_a_bad_request(payload: bytes, reason: str) -> None:
    with pytest.raises(PushRefused, match=reason) as refused:
        parse_body(payload)
    assert refused.value.status == 400


def test_change_types_by_name_and_untrusted_text_cleaned() -> None:
    parsed = parse_body(body("t", change_type="Move", PublicEndpoint="sod3\x1b[2J.superoffice.com"))
    assert parsed.change_type == 5 and parsed.public_endpoint == "sod3.superoffice.com"


def test_certificates_and_keys_in_every_form_and_rotation(tmp_path, keys, clock) -> None:
    """PEM and DER certificates, a PEM public key, and a bundle of two (a rotation: either
    key's tokens are taken)."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"".join(certificate(key).public_bytes(serialization.Encoding.PEM) for key in keys)
    )
    public = tmp_path / "public.pem"
    public.write_bytes(
        keys[1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert len(load_keys([bundle, public])) == 3
    verifier = verifier_for(bundle, clock)
    for key in keys:
        verifier.verify(body(signed(key, claims(clock))))


def test_a_key_file_that_cannot_be_used_says_why(tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate")
    curve = tmp_path / "ec.pem"
    curve.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for path, reason in (
        (tmp_path / "missing.crt", "cannot read"),
        (text, "no certificate or public key"),
        (curve, "not RSA"),
    ):
        with pytest.raises(ValueError, match=reason):
            load_keys([path])


def test_state_change_in_the_tenant_file(tmp_path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(
        '[state_change]\ncertificate = "keys/so.crt"\nclient_id = "abc123"\n'
        'issuers = ["https://online.superoffice.com"]\n'
    )
    loaded = TenantStore(path).load().state_change
    assert loaded == StateChangeConfig((tmp_path / "keys/so.crt",), "abc123", (ISSUER,))
    over = StateChangeConfig(client_id="from-the-option")
    assert loaded.merged(over).client_id == "from-the-option"
    assert loaded.merged(over).certificates == loaded.certificates
    path.write_text('[[tenants]]\ncontext_id = "Cust1"\n\n[state_change]\ncertifcate = "x"\n')
    with pytest.raises(StoreError, match=r"\[state_change\]: unknown key") as bad:
        TenantStore(path).load()
    assert bad.value.line == 4


def test_serve_refuses_a_certificate_option_it_cannot_use(tmp_path, capsys) -> None:
    config = tmp_path / "tenants.toml"
    config.write_text("")
    code = main(
        ["serve", "--config", str(config), "--state-change-certificate", str(tmp_path / "x.crt")]
    )
    assert code == 64
    assert "--state-change-certificate: cannot read" in capsys.readouterr().err


# -- serve, over a loopback server -----------------------------------------------------------


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    logger = logging.getLogger("tenantboard")
    saved = logger.handlers[:], logger.propagate, logger.level
    yield
    logger.handlers[:], logger.propagate, logger.level = saved


class Served:
    """A session checking the in-process simulator, on the fake clock, with serve's app on
    127.0.0.1 in front of it."""

    def __init__(self, clock: FakeClock, tenants: list[Tenant], **config: Any) -> None:
        simulator = Simulator(now=lambda: clock.epoch, slow_delay=0)
        self.session = Session(
            SessionConfig(
                tenants=tenants,
                transport=SimulatorTransport(simulator),
                rng=random.Random(7),
                **config,
            ),
            clock=clock,
        )
        self.watcher = Watcher(self.session)
        self.client: TestClient | None = None
        self.running: asyncio.Task | None = None

    async def start(self, **app_options: Any) -> TestClient:
        self.running = asyncio.create_task(self.session.run())
        await until(lambda: self.session.model.pending() == 0)
        app = build_app(self.watcher, **app_options)
        self.client = TestClient(TestServer(app, host="127.0.0.1"))
        await self.client.start_server()
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.running is not None:
            self.running.cancel()
            await asyncio.gather(self.running, return_exceptions=True)


async def until(condition, tries: int = 400) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


@pytest.fixture
async def served(clock):
    made: list[Served] = []

    async def start(tenants: list[Tenant], **options: Any) -> tuple[Served, TestClient]:
        config = {key: options.pop(key) for key in list(options) if key == "state_change"}
        server = Served(clock, tenants, **config)
        made.append(server)
        return server, await server.start(**options)

    yield start
    for server in made:
        await server.stop()


ACME = Tenant("Cust12345", "online", "Acme")


async def test_a_valid_call_rechecks_the_tenant_at_once_and_is_logged(
    served, crt, keys, clock, caplog
) -> None:
    setup = StateChangeConfig(certificates=(crt,), client_id=CLIENT_ID)
    server, client = await served([ACME, Tenant("Cust2")], state_change=setup, token=TOKEN)
    row = server.session.model.rows[ACME.key]
    checks = row.checks
    caplog.set_level(logging.INFO, logger="tenantboard")
    response = await client.post(STATE_CHANGE_PATH, data=body(signed(keys[0], claims(clock))))
    assert response.status == 202  # no serve token asked: the JWT proves the call
    assert await response.text() == f"checking {ACME.key} now\n"
    await until(lambda: row.checks == checks + 1)  # at once: the fake clock has not moved
    assert server.session.model.rows["online:Cust2"].checks == 1
    (event,) = [event for event in server.session.event_log.events if event.kind == "pushed"]
    assert event.key == ACME.key
    assert event.text == (
        "SuperOffice pushed: upgrade (to Release_11.10_2026.02.24-02); checking now"
    )
    assert "SuperOffice pushed: upgrade" in caplog.text  # serve logs the event
    # The rest of serve still asks for its token.
    assert (await client.get("/api/tenants")).status == 401


async def test_a_refused_call_is_logged_without_its_token(served, crt, keys, clock, caplog) -> None:
    setup = StateChangeConfig(certificates=(crt,), client_id=CLIENT_ID)
    server, client = await served([ACME], state_change=setup)
    checks = server.session.model.rows[ACME.key].checks
    caplog.set_level(logging.INFO, logger="tenantboard")
    forged = signed(keys[1], claims(clock))
    response = await client.post(STATE_CHANGE_PATH, data=body(forged))
    assert response.status == 401
    assert "Signature verification failed" in await response.text()
    good = body(signed(keys[0], claims(clock)))
    assert (await client.post(STATE_CHANGE_PATH, data=good)).status == 202
    replayed = await client.post(STATE_CHANGE_PATH, data=good)
    assert replayed.status == 401 and "used before" in await replayed.text()
    refusals = [record for record in caplog.records if "refused" in record.getMessage()]
    assert len(refusals) == 2
    for record in refusals:
        assert "127.0.0.1" in record.getMessage()
        assert forged not in record.getMessage() and forged.split(".")[2] not in caplog.text
    assert server.session.model.rows[ACME.key].checks == checks + 1  # only the good one
    metrics = (await (await client.get("/metrics")).text()).replace("\r", "")
    pushed = {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "tenantboard_pushed_changes"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert pushed == {
        "accepted": 1,
        "not_listed": 0,
        "malformed": 0,
        "refused": 1,
        "replayed": 1,
        "unavailable": 0,
    }


async def test_a_call_for_a_tenant_not_listed_checks_nothing(served, crt, keys, clock) -> None:
    setup = StateChangeConfig(certificates=(crt,), client_id=CLIENT_ID)
    server, client = await served([Tenant("Cust2")], state_change=setup)
    response = await client.post(STATE_CHANGE_PATH, data=body(signed(keys[0], claims(clock))))
    assert response.status == 200
    assert "not in the tenant list" in await response.text()
    assert not [event for event in server.session.event_log.events if event.kind == "pushed"]


async def test_a_call_in_another_environment_is_not_this_tenant(served, crt, keys, clock) -> None:
    setup = StateChangeConfig(certificates=(crt,), client_id=CLIENT_ID)
    _, client = await served([ACME], state_change=setup)
    sod = signed(keys[0], claims(clock, iss="https://sod.superoffice.com"))
    response = await client.post(STATE_CHANGE_PATH, data=body(sod))
    assert response.status == 200  # Cust12345 is watched in online, not sod


async def test_bodies_are_limited_however_they_are_sent(served, crt, clock) -> None:
    setup = StateChangeConfig(certificates=(crt,), client_id=CLIENT_ID)
    _, client = await served([ACME], state_change=setup)
    big = b"{" + b" " * (20 * 1024) + b"}"
    assert (await client.post(STATE_CHANGE_PATH, data=big)).status == 413

    async def chunks():
        for _ in range(20):
            yield b" " * 1024

    assert (await client.post(STATE_CHANGE_PATH, data=chunks())).status == 413
    assert (await client.post(STATE_CHANGE_PATH, data=b"{}")).status == 400


async def test_only_superoffices_path_takes_a_post(served, crt) -> None:
    setup = StateChangeConfig(certificates=(crt,), client_id=CLIENT_ID)
    _, client = await served([ACME], state_change=setup)
    assert (await client.post("/api/tenants", data=b"{}")).status == 405
    assert (await client.get(STATE_CHANGE_PATH)).status == 405
    assert (await client.put(STATE_CHANGE_PATH, data=b"{}")).status == 405


async def test_not_set_up_is_404_and_set_up_badly_is_503(served, tmp_path, caplog) -> None:
    server, client = await served([ACME])
    assert (await client.post(STATE_CHANGE_PATH, data=b"{}")).status == 404
    caplog.set_level(logging.ERROR, logger="tenantboard")
    server.session.state_change = StateChangeConfig(certificates=(tmp_path / "gone.crt",))
    response = await client.post(STATE_CHANGE_PATH, data=b"{}")
    assert response.status == 503
    assert "no client_id" in await response.text()
    assert caplog.text.count("cannot be checked") == 1
    assert (await client.post(STATE_CHANGE_PATH, data=b"{}")).status == 503
    assert caplog.text.count("cannot be checked") == 1  # said once, not per call


async def test_the_tenant_files_section_is_followed_as_it_changes(
    served, tmp_path, crt, keys, clock
) -> None:
    """A certificate copied in place later (rotation, a first setup) is used at once."""
    later = tmp_path / "later.crt"
    setup = StateChangeConfig(certificates=(later,), client_id=CLIENT_ID)
    server, client = await served([ACME])
    server.session.state_change = setup
    call = body(signed(keys[0], claims(clock)))
    assert (await client.post(STATE_CHANGE_PATH, data=call)).status == 503
    later.write_bytes(crt.read_bytes())
    assert (await client.post(STATE_CHANGE_PATH, data=call)).status == 202
