"""A tenant and its rules: context ids, environments and their hosts (the bottom layer).

Everything else (the tenant file, the client, the board) builds on these; this module
imports nothing of ours but the error type and the text cleaner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tenantboard.errors import CheckError, ErrorKind
from tenantboard.sanitize import clean, quoted

ENV_HOSTS: dict[str, str] = {
    "sod": "sod.superoffice.com",
    "stage": "qaonline.superoffice.com",
    "online": "online.superoffice.com",
}
ENVIRONMENTS: tuple[str, ...] = tuple(ENV_HOSTS)
_CANONICAL_ENVS = {env: env for env in ENVIRONMENTS}
#: Other names of an environment: SuperOffice's newer docs call stage `qaonline`.
ENV_ALIASES: dict[str, str] = {"qaonline": "stage"}
#: The hosts that answer "where does this tenant live"; a tenant's API is elsewhere.
DISCOVERY_HOSTS = frozenset(ENV_HOSTS.values())
TENANT_DOMAIN = "superoffice.com"
DEFAULT_ENV = "online"
MAX_LABEL_LENGTH = 120

_CONTEXT_ID = re.compile(r"cust(\d{1,12})", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_context_id(text: str) -> str:
    """Return the canonical ``Cust12345`` form, or raise :class:`CheckError`.

    The documented form is ``Cust`` and digits; any case is accepted. Anything else is
    refused before a request is made, so nothing odd ever lands in a URL path.
    """
    match = _CONTEXT_ID.fullmatch(text.strip())
    if match is None:
        raise CheckError(
            ErrorKind.INVALID_CONTEXT,
            f"{quoted(text, 40)} is not a context id (expected Cust followed by digits, e.g. Cust12345)",
        )
    return f"Cust{match.group(1)}"


def normalize_env(text: str) -> str:
    """The environment's canonical name (``qaonline`` is ``stage``), or raise CheckError."""
    env = text.strip().lower()
    canonical = _CANONICAL_ENVS.get(ENV_ALIASES.get(env, env))
    if canonical is None:
        raise CheckError(
            ErrorKind.INVALID_CONTEXT,
            f"{quoted(text, 20)} is not an environment (one of {env_names()})",
        )
    return canonical  # the one string of that name, not one per tenant


def env_names() -> str:
    """The environments as a person would list them: ``sod, stage (or qaonline), online``."""
    aliases = {env: [a for a, e in ENV_ALIASES.items() if e == env] for env in ENVIRONMENTS}
    return ", ".join(
        f"{env} (or {' or '.join(aliases[env])})" if aliases[env] else env for env in ENVIRONMENTS
    )


@dataclass(frozen=True, slots=True)
class Tenant:
    context_id: str
    env: str = DEFAULT_ENV
    label: str = ""
    #: The operator's ``tags = [...]`` (a customer, a team, a partner): maintenance windows
    #: can cover tenants by tag, and the board groups and filters by them (groups.py).
    tags: tuple[str, ...] = ()
    #: Identity in the list: one context id may be watched in several environments. Made
    #: once: every dictionary of a session is keyed by it (one string, not one each).
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.env}:{self.context_id}")

    @property
    def display_name(self) -> str:
        return clean(self.label, MAX_LABEL_LENGTH) or self.context_id


def make_tenant(
    context_id: str,
    env: str | None = None,
    label: str | None = None,
    tags: tuple[str, ...] = (),
) -> Tenant:
    """Validate user input into a Tenant; raises ValueError with a message to show."""
    try:
        ctx = normalize_context_id(context_id)
        environment = normalize_env(env or DEFAULT_ENV)
    except CheckError as exc:
        raise ValueError(exc.message) from None
    text = (label or "").strip()
    if len(text) > MAX_LABEL_LENGTH:
        raise ValueError(f"label is longer than {MAX_LABEL_LENGTH} characters")
    if _CONTROL.search(text):
        raise ValueError("label contains control characters")
    if not text.isascii() and _SURROGATE.search(text):
        # Bytes that were not UTF-8 (e.g. a Latin-1 argument): the file could not hold them.
        raise ValueError("label is not valid UTF-8 text")
    return Tenant(ctx, environment, text, tuple(check_tag(tag) for tag in tags))


_TAG = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


def check_tag(tag: str) -> str:
    """A tag as given, or ValueError: 1-40 letters, digits, '.', '_', ':' or '-'."""
    if not _TAG.fullmatch(tag):
        raise ValueError(f"tag {quoted(tag, 40)} is not 1-40 letters, digits, '.', '_', ':' or '-'")
    return tag
