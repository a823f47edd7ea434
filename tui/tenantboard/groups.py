"""Groups of tenants: the endpoint host, the environment, the version, the operator's tags.

Pure and UI-free. A tenant belongs to one group of each dimension, except ``tag``, where it
belongs to one group per tag (and to "no tag" without any). The board groups its rows by
one dimension (:mod:`tenantboard.rows`), the filter line narrows to groups
(``host:online3 tag:acme``: ``rows.FIELD_FILTERS``), ``report --by`` adds availability
up per group, and ``serve``'s ``/metrics`` counts tenants per group and severity
(:class:`GroupTally`).

- **host**: the host of the last Endpoint a state answer named (kept while later answers
  name none, as a tenant in maintenance does); "no host" while none did (not checked
  yet, or a state that names none, such as Deleted).
- **env**: the tenant's environment.
- **version**: the release the last state answer named (without ``Release_``).
- **tag**: the tenant's ``tags = [...]`` in the tenant file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tenantboard.sanitize import clean, quoted
from tenantboard.tenant import Tenant

#: The dimensions, in the order the board offers them.
DIMENSIONS: tuple[str, ...] = ("host", "env", "version", "tag")
DIMENSION_NAMES: dict[str, str] = {
    "host": "endpoint host",
    "env": "environment",
    "version": "version",
    "tag": "tag",
}
#: The group of tenants with no value in a dimension (no host named, no version, no tag).
NO_GROUP = ""
_NO_GROUP_NAMES = {"host": "no host", "env": "no environment", "version": "no version"}
_NO_GROUP_NAMES["tag"] = "no tag"


def group_values(dimension: str, tenant: Tenant, host: str, version: str | None) -> tuple[str, ...]:
    """The groups of ``dimension`` a tenant is in (one, or one per tag)."""
    if dimension == "host":
        return (host or NO_GROUP,)
    if dimension == "env":
        return (tenant.env,)
    if dimension == "version":
        return (version or NO_GROUP,)
    if dimension == "tag":
        return tenant.tags or (NO_GROUP,)
    raise ValueError(f"not a group dimension: {quoted(dimension)}")


#: The dimensions ``serve`` counts per group for /metrics (per version is releases.py's
#: ``tenantboard_version_tenants``).
TALLIED: tuple[str, ...] = ("host", "env", "tag")


def memberships(
    tenant: Tenant, host: str, version: str | None, dimensions: tuple[str, ...] = DIMENSIONS
) -> tuple[tuple[str, str], ...]:
    """Every (dimension, group) a tenant is in, of ``dimensions``."""
    return tuple(
        (dimension, value)
        for dimension in dimensions
        for value in group_values(dimension, tenant, host, version)
    )


def version_label(version: str | None) -> str | None:
    """A release as the board shows it: ``Release_11.10_2026.02.24-02`` as
    ``11.10_2026.02.24-02``."""
    if not version:
        return None
    return version.removeprefix("Release_").removeprefix("Release")


def group_title(dimension: str, value: str) -> str:
    """How a group is named on screen and in reports ("no host" for the empty one)."""
    return clean(value, 80) if value else _NO_GROUP_NAMES[dimension]


def group_sort_key(value: str) -> tuple[bool, str]:
    """Groups by name, the empty group ("no host") last."""
    return (value == NO_GROUP, value.casefold())


# -- counts for /metrics ------------------------------------------------------------------


#: Distinct ways of being counted that :class:`GroupTally` shares (past it, each tenant
#: keeps its own: memberships come partly from answers, which must not grow it unbounded).
MAX_SHARED_COUNTED = 10_000


class GroupTally:
    """Tenants per (dimension, group, severity word), over every listed tenant, kept up to
    date one tenant at a time (a result, a changed tenant) so that a scrape copies a few
    hundred numbers instead of walking 10,000 rows."""

    def __init__(self) -> None:
        #: tenant key -> what it is counted as: its memberships and its severity word.
        self._counted: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {}
        self.counts: Counter[tuple[str, str, str]] = Counter()
        #: One object per distinct way of being counted, shared by the tenants counted
        #: so (a fleet has few hosts, environments and tags: 30 MB less at 100,000).
        self._shared: dict[tuple[tuple[tuple[str, str], ...], str], tuple] = {}

    def update(self, key: str, groups: tuple[tuple[str, str], ...], severity: str) -> None:
        counted = (groups, severity)
        before = self._counted.get(key)
        if before == counted:
            return
        if before is not None:
            self._count(before, -1)
        if len(self._shared) < MAX_SHARED_COUNTED:
            counted = self._shared.setdefault(counted, counted)
        else:
            counted = self._shared.get(counted, counted)
        self._counted[key] = counted
        self._count(counted, 1)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            before = self._counted.pop(key, None)
            if before is not None:
                self._count(before, -1)

    def _count(self, counted: tuple[tuple[tuple[str, str], ...], str], step: int) -> None:
        groups, severity = counted
        for dimension, value in groups:
            entry = (dimension, value, severity)
            self.counts[entry] += step
            if self.counts[entry] <= 0:
                del self.counts[entry]

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        return dict(self.counts)


def capped(
    counts: dict[tuple[str, str, str], int], limits: dict[str, int], other: str
) -> dict[tuple[str, str, str], int]:
    """The counts with at most ``limits[dimension]`` groups per dimension (the largest),
    the rest added up as the group ``other``: a metric's label values stay bounded
    whatever the network or the tenant file hold."""
    sizes: Counter[tuple[str, str]] = Counter()
    for (dimension, value, _), number in counts.items():
        sizes[(dimension, value)] += number
    kept: set[tuple[str, str]] = set()
    for dimension, limit in limits.items():
        ranked = sorted(
            (entry for entry in sizes if entry[0] == dimension),
            key=lambda entry: (-sizes[entry], entry[1]),
        )
        kept.update(ranked[:limit])
    result: Counter[tuple[str, str, str]] = Counter()
    for (dimension, value, severity), number in counts.items():
        shown = value if (dimension, value) in kept else other
        result[(dimension, shown, severity)] += number
    return dict(result)
