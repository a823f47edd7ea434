"""Pushed changes: SuperOffice calling us when a tenant changes, and proving it was SuperOffice.

SuperOffice calls the "Customer state change" URL registered in its developer portal with a
JSON body when one of the application's tenants changes::

    {"ChangeType": 0, "ContextIdentifier": "Cust12345",
     "VersionName": "Release_10.3.8_2024.08.30-01", "FileVersion": "10.3.8.2024",
     "PublicEndpoint": "sod3.superoffice.com", "Token": "eyJ..."}

``ChangeType``: 0 Upgrade, 1 BackupRestored, 2 Suspend, 3 Resume, 4 Delete, 5 Move (then
``PublicEndpoint`` names the new host). ``Token`` is a JWT that SuperOffice signs with the
private key of its "SuperOfficeFederatedLogin" certificate, one per environment (published
on SuperOffice's certificates page and as the JWKS of each environment's OpenID Connect
metadata). It is checked here as SuperOffice's own samples check it:

- the signature (RS256 only), against the certificate(s) or public key(s) the operator
  configured (``[state_change] certificate``, or ``serve --state-change-certificate``);
- ``iss``: the environment's issuer, ``https://{sod,qaonline,online}.superoffice.com``;
  which one also says which environment the tenant is in;
- ``aud``: the application, ``spn:<client id>`` (or the bare client id);
- ``exp`` (required), ``nbf`` and ``iat`` against the injected clock, a minute's leeway;
- the tenant claim (``http://schemes.superoffice.net/identity/ctx``), when present, must
  name the body's ``ContextIdentifier``;
- a token is taken once: its ``jti`` (else ``nonce``, else the signature itself) is kept
  until it expires, and a second call with it is refused as replayed.

A call that passes is not a state: it is a reason to check that tenant now
(:meth:`Session.recheck`); the state API stays the truth. Nothing here logs or keeps a
token beyond its id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tenantboard.errors import CheckError
from tenantboard.releases import LABEL_LIMIT
from tenantboard.sanitize import clean
from tenantboard.tenant import normalize_context_id
from tenantboard.tenant_file import STATE_CHANGE_ISSUERS, StateChangeConfig

#: The change types SuperOffice documents, by number.
CHANGE_TYPES: dict[int, str] = {
    0: "Upgrade",
    1: "BackupRestored",
    2: "Suspend",
    3: "Resume",
    4: "Delete",
    5: "Move",
}
#: How each is said in the event log.
_SAID = {
    "Upgrade": "upgrade",
    "BackupRestored": "restored from a backup",
    "Suspend": "suspended",
    "Resume": "resumed",
    "Delete": "deleted",
    "Move": "moved",
}
#: The claim that names the tenant in SuperOffice's tokens.
CONTEXT_CLAIM = "http://schemes.superoffice.net/identity/ctx"
#: The only signing algorithm accepted (SuperOffice's metadata lists RS256 alone).
ALGORITHMS = ["RS256"]
#: Seconds the clocks may disagree by when exp, nbf and iat are checked.
LEEWAY = 60.0
#: The largest body taken (a real one is well under 4 KiB).
MAX_BODY = 16 * 1024
MAX_TOKEN = 8 * 1024
#: Token ids kept at once; past it (after forgetting the expired) new calls are refused.
MAX_REMEMBERED = 50_000


class PushRefused(Exception):
    """A call that is not taken. ``status``: 400 (not a call SuperOffice makes), 401 (the
    token does not prove it was SuperOffice, or was used before), 503 (we cannot check
    now). ``result``: how ``/metrics`` counts it. The message never holds the token."""

    def __init__(self, reason: str, *, status: int = 401, result: str = "refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.result = result


@dataclass(frozen=True, slots=True)
class PushedChange:
    """A call that passed every check: what SuperOffice says changed."""

    change_type: int
    context_id: str
    #: The environment the issuer is for, or None when the issuer names none.
    env: str | None
    version_name: str | None = None
    file_version: str | None = None
    public_endpoint: str | None = None

    @property
    def name(self) -> str:
        return CHANGE_TYPES.get(self.change_type, f"ChangeType {self.change_type}")

    def describe(self) -> str:
        """E.g. ``SuperOffice pushed: upgrade to Release_11.10_2026.02.24-02``."""
        text = f"SuperOffice pushed: {_SAID.get(self.name, self.name)}"
        if self.name == "Move" and self.public_endpoint:
            text += f" to {self.public_endpoint}"
        elif self.version_name:
            text += f" ({'to ' if self.name == 'Upgrade' else ''}{self.version_name})"
        return text

    def names(self, context_id: str, env: str) -> bool:
        """True for the tenant this change is about."""
        return context_id == self.context_id and self.env in (None, env)


# -- the body --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Body:
    change_type: int
    context_id: str
    token: str
    version_name: str | None
    file_version: str | None
    public_endpoint: str | None


def parse_body(body: bytes) -> _Body:
    """The call's JSON; PushRefused (400) when it is not what SuperOffice sends."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise _malformed("the body is not JSON") from None
    if not isinstance(data, dict):
        raise _malformed("the body is not a JSON object")
    change_type = data.get("ChangeType")
    if isinstance(change_type, str) and change_type in CHANGE_TYPES.values():
        change_type = next(n for n, name in CHANGE_TYPES.items() if name == change_type)
    if isinstance(change_type, bool) or not isinstance(change_type, int) or change_type < 0:
        raise _malformed("ChangeType is not a change type number")
    context = data.get("ContextIdentifier")
    try:
        context_id = normalize_context_id(context if isinstance(context, str) else "")
    except CheckError:
        raise _malformed("ContextIdentifier is not a context id (Cust and digits)") from None
    token = data.get("Token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise _malformed("Token is missing (or too long)")
    return _Body(
        change_type=change_type,
        context_id=context_id,
        token=token,
        version_name=_text(data.get("VersionName"), LABEL_LIMIT),
        file_version=_text(data.get("FileVersion"), 60),
        public_endpoint=_text(data.get("PublicEndpoint"), 253),
    )


def _text(value: Any, limit: int) -> str | None:
    return clean(value, limit) or None if isinstance(value, str) else None


def _malformed(reason: str) -> PushRefused:
    return PushRefused(reason, status=400, result="malformed")


# -- keys ------------------------------------------------------------------------------------


def load_keys(paths: Iterable[Path]) -> tuple[Any, ...]:
    """The RSA public keys in ``paths``: X.509 certificates (PEM, several in one file too,
    or DER, as SuperOffice's .crt files are) or public keys (PEM or DER). ValueError says
    which file cannot be used and why."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    keys: list[Any] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        found = _keys_in(data)
        if not found:
            raise ValueError(f"{path} holds no certificate or public key (PEM or DER)")
        if not all(isinstance(key, RSAPublicKey) for key in found):
            raise ValueError(f"{path}: SuperOffice signs with RSA (RS256); this key is not RSA")
        keys.extend(found)
    if not keys:
        raise ValueError("no certificate given")
    return tuple(keys)


def _keys_in(data: bytes) -> list[Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    readers: list[Callable[[bytes], list[Any]]] = [
        lambda raw: [cert.public_key() for cert in x509.load_pem_x509_certificates(raw)],
        lambda raw: [serialization.load_pem_public_key(raw)],
        lambda raw: [x509.load_der_x509_certificate(raw).public_key()],
        lambda raw: [serialization.load_der_public_key(raw)],
    ]
    for read in readers:
        try:
            return read(data)
        except (ValueError, TypeError):
            continue
    return []


# -- replays ---------------------------------------------------------------------------------


class ReplayGuard:
    """The ids of the tokens taken, each until its token expires: a token is taken once."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._expires: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expires)

    def take(self, token_id: str, expires: float, now: float) -> None:
        """Remember ``token_id`` until ``expires`` (Unix time); PushRefused when it was
        taken before, or when too many unexpired ids are kept to take another."""
        if token_id in self._expires and self._expires[token_id] > now - LEEWAY:
            raise PushRefused("the token was used before (a replay)", result="replayed")
        if len(self._expires) >= self.limit:
            self._forget_expired(now)
            if len(self._expires) >= self.limit:
                raise PushRefused(
                    "too many calls in the tokens' lifetime to tell a replay", status=503
                )
        self._expires[token_id] = expires

    def _forget_expired(self, now: float) -> None:
        self._expires = {
            token_id: expires
            for token_id, expires in self._expires.items()
            if expires > now - LEEWAY
        }


# -- the check -------------------------------------------------------------------------------


class PushVerifier:
    """Checks calls against one configuration's keys (see the module's docstring)."""

    def __init__(
        self,
        config: StateChangeConfig,
        keys: tuple[Any, ...],
        replays: ReplayGuard,
        now: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.keys = keys
        self.replays = replays
        self._now = now

    @classmethod
    def from_config(
        cls, config: StateChangeConfig, replays: ReplayGuard, now: Callable[[], datetime]
    ) -> PushVerifier:
        """ValueError when the configuration is incomplete or a key file cannot be used."""
        if not config.client_id:
            raise ValueError("no client_id: the application's client id is the token's audience")
        return cls(config, load_keys(config.certificates), replays, now)

    def verify(self, body: bytes) -> PushedChange:
        """The change a call reports, once everything about it checks out; else PushRefused."""
        call = parse_body(body)
        claims = self._claims(call.token)
        now = self._now().timestamp()
        expires = _check_times(claims, now)
        named = claims.get(CONTEXT_CLAIM)
        if named is not None and not _same_tenant(named, call.context_id):
            raise PushRefused("the token is for another tenant than ContextIdentifier")
        self.replays.take(_token_id(claims, call.token), expires, now)
        return PushedChange(
            change_type=call.change_type,
            context_id=call.context_id,
            env=STATE_CHANGE_ISSUERS.get(claims["iss"]),
            version_name=call.version_name,
            file_version=call.file_version,
            public_endpoint=call.public_endpoint,
        )

    def _claims(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, issuer and audience check out. The
        times are checked by :func:`_check_times` on the injected clock (PyJWT reads the
        system's)."""
        import jwt

        client_id = self.config.client_id
        failure: jwt.InvalidTokenError | None = None
        for key in self.keys:
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=ALGORITHMS,
                    audience=[f"spn:{client_id}", client_id],
                    issuer=self.config.accepted_issuers,
                    options={
                        "require": ["exp", "iss", "aud"],
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                    },
                )
            except jwt.InvalidSignatureError as exc:
                failure = exc  # perhaps the next key (a certificate being rotated)
            except jwt.InvalidTokenError as exc:
                raise PushRefused(f"token refused: {_said(exc)}") from None
        raise PushRefused(f"token refused: {_said(failure)}")


def _said(exc: Exception | None) -> str:
    """PyJWT's reason, which names claims and algorithms but never holds the token."""
    text = clean(str(exc), 160) if exc is not None else ""
    return text or "its signature matches none of the configured keys"


def _check_times(claims: dict[str, Any], now: float) -> float:
    """exp (required), nbf and iat as PyJWT checks them, against ``now``; returns exp."""
    times = {}
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PushRefused(f"token refused: {name} is not a time")
        times[name] = float(value)
    if times["exp"] <= now - LEEWAY:
        raise PushRefused("token refused: it has expired")
    if times.get("nbf", now) > now + LEEWAY:
        raise PushRefused("token refused: it is not valid yet (nbf)")
    if times.get("iat", now) > now + LEEWAY:
        raise PushRefused("token refused: it was issued in the future (iat)")
    return times["exp"]


def _same_tenant(named: Any, context_id: str) -> bool:
    try:
        return isinstance(named, str) and normalize_context_id(named) == context_id
    except CheckError:
        return False


def _token_id(claims: dict[str, Any], token: str) -> str:
    """What identifies the token for the replay guard: its jti, else its nonce, else a
    digest of its signature (a JWT's signature is unique to it)."""
    for name in ("jti", "nonce"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return f"{name}:{value[:200]}"
    signature = token.rpartition(".")[2]
    return "sig:" + hashlib.sha256(signature.encode()).hexdigest()


__all__ = [
    "CHANGE_TYPES",
    "MAX_BODY",
    "PushRefused",
    "PushVerifier",
    "PushedChange",
    "ReplayGuard",
    "load_keys",
    "parse_body",
]
