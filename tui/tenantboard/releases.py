"""Releases: SuperOffice's release labels, a tenant's version changing, and who runs what.

Pure and UI-free: the board model (:mod:`.rows`) words a version change with
:func:`describe_change`; the session keeps when each version was first seen
(:class:`FirstSeen`); the versions view, ``tenantboard versions`` and ``/metrics`` all
count tenants per version with :func:`summarize`, newest release first.

SuperOffice names a release in the state answer's ``Version`` (and the version document's
``NetServerLabel``) as ``Release_11.10_2026.02.24-02``: the version numbers, the build's
date and the build of that day. Older labels read ``Release9_C-2020.10.05-01`` (a letter
after the major version) and the pushed changes' ``VersionName`` reads ``Release 8.4 R08``.
Labels are compared by their numbers as numbers (11.10 is after 11.9, which a comparison of
the text gets wrong), then by date, then by build; where the two labels do not carry the
same parts, or one is not a release label at all (a bare build number such as ``9729``),
the order is not clear and the change is said as "version changed", never guessed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tenantboard.clock import utc_iso
from tenantboard.sanitize import clean

#: Longest label kept or shown (the answer's Version is cut at 200 already).
LABEL_LIMIT = 80
#: Versions whose first sighting is remembered: answers are untrusted, and a server that
#: made up a version per answer must not grow memory without end.
MAX_VERSIONS_KEPT = 1000
#: How tenants whose answers name no version are shown.
NO_VERSION_TEXT = "no version reported"

_LABEL = re.compile(
    r"""
    release [ _-]*
    (?P<numbers>\d{1,6}(?:\.\d{1,6}){0,5})
    (?:[ _-]*(?P<letter>[a-z])(?![a-z0-9]))?      # Release9_C
    (?:[ _-]+r(?P<r_build>\d{1,4}))?               # Release 8.4 R08
    (?:[ _-]+(?P<year>\d{4})[.-](?P<month>\d{2})[.-](?P<day>\d{2}))?
    (?:-(?P<build>\d{1,4}))?
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class ReleaseLabel:
    """A release label's parts; only :func:`parse_release` makes one."""

    text: str
    #: The version numbers, padded with zeros to six (11.10 and 11.10.0 are the same).
    numbers: tuple[int, ...]
    #: The letter after the version in old labels ("C" of ``Release9_C``), upper case, or "".
    letter: str
    #: The build's date, or None when the label has none.
    date: tuple[int, int, int] | None
    #: The build of that date (``-02``) or the R number (``R08``), or None.
    build: int | None


def parse_release(text: str | None) -> ReleaseLabel | None:
    """The parts of a release label, or None when ``text`` is not one."""
    if not text:
        return None
    match = _LABEL.fullmatch(text.strip())
    if match is None:
        return None
    numbers = tuple(int(part) for part in match["numbers"].split("."))
    date = None
    if match["year"]:
        year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        date = (year, month, day)
    build_text = match["build"] or match["r_build"]
    return ReleaseLabel(
        text=text,
        numbers=numbers + (0,) * (6 - len(numbers)),
        letter=(match["letter"] or "").upper(),
        date=date,
        build=int(build_text) if build_text else None,
    )


def compare_releases(before: str, after: str) -> int | None:
    """1 when ``after`` is a later release than ``before``, -1 an earlier one, 0 the same
    release written alike; None when the order is not clear (see the module's docstring)."""
    if before == after:
        return 0
    old, new = parse_release(before), parse_release(after)
    if old is None or new is None:
        return None
    if old.numbers != new.numbers:
        return _sign(old.numbers, new.numbers)
    # The same version: its builds are told apart by date, then by the build of the day.
    # Letters (Release9_C, Release9_D) have no documented order: only a date orders them.
    if old.letter != new.letter and (old.date is None or new.date is None):
        return None
    for old_part, new_part in ((old.date, new.date), (old.build, new.build)):
        if (old_part is None) != (new_part is None):
            return None  # one says more than the other: not comparable
        if old_part != new_part:
            return _sign(old_part, new_part)
    return None  # the same build in other words ("Release 8.4 R08" vs "Release_8.4 R08")


def _sign(old: object, new: object) -> int:
    return 1 if new > old else -1  # type: ignore[operator]


def describe_change(before: str, after: str) -> str:
    """``upgraded Release_11.9_… → Release_11.10_…``; ``downgraded …``; ``version changed …``
    where the order is not clear."""
    order = compare_releases(before, after)
    verb = "upgraded" if order == 1 else "downgraded" if order == -1 else "version changed"
    return f"{verb} {shown(before)} → {shown(after)}"


def shown(version: str | None) -> str:
    """A version as text to show: cleaned and cut, or :data:`NO_VERSION_TEXT`."""
    return clean(version, LABEL_LIMIT) if version else NO_VERSION_TEXT


#: The ``version:`` filter's word for "answers name no version".
NO_VERSION_TERM = "none"


def version_matches(version: str | None, wanted: str) -> bool:
    """The board filter's ``version:`` term. ``none`` matches a tenant whose answer names
    no version; otherwise the label itself, or the label without ``Release`` down to where
    its numbers end (``11.10`` matches ``Release_11.10_2026.02.24-02`` but not
    ``Release_11.1``), case aside, a space the same as an underscore."""
    if wanted.casefold() == NO_VERSION_TERM:
        return not version
    if not version:
        return False
    label, want = _spelled(version), _spelled(wanted)
    if label == want:
        return True
    bare = label.removeprefix("release").lstrip("_")
    return bare == want or bare.startswith((want + "_", want + "-"))


def filter_term(version: str | None) -> str:
    """The filter word that shows exactly the tenants on ``version``."""
    return f"version:{_spelled(version) if version else NO_VERSION_TERM}"


def _spelled(text: str) -> str:
    return re.sub(r"[\s_]+", "_", text.strip().casefold())


def newest_first(version: str | None, first_seen: datetime | None) -> tuple:
    """Sort key, ascending = newest first: release labels by their order, newest first;
    then other versions by when they were first seen, newest first; no version last."""
    seen = -first_seen.timestamp() if first_seen is not None else 0.0
    if version is None:
        return (2,)
    label = parse_release(version)
    if label is None:
        return (1, seen, version)
    negated = tuple(-number for number in label.numbers)
    letter = -ord(label.letter) if label.letter else 0
    date = tuple(-part for part in label.date) if label.date else (1, 0, 0)
    build = -label.build if label.build is not None else 1
    return (0, negated, letter, date, build, seen, version)


# -- who runs what ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """One version and the tenants that run it now."""

    #: The label as answered, or None for tenants whose answers name no version.
    version: str | None
    tenants: int
    #: Endpoint hosts and how many of these tenants each has, most first.
    hosts: tuple[tuple[str, int], ...]
    #: When it was first seen on any tenant (the history's, else this session's), or None.
    first_seen: datetime | None

    @property
    def text(self) -> str:
        return shown(self.version)

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "release": _release_json(self.version),
            "tenants": self.tenants,
            "hosts": [{"host": host, "tenants": count} for host, count in self.hosts],
            "first_seen": utc_iso(self.first_seen),
        }


def _release_json(version: str | None) -> dict[str, object] | None:
    label = parse_release(version)
    if label is None:
        return None
    numbers = list(label.numbers)
    while len(numbers) > 2 and numbers[-1] == 0:
        numbers.pop()
    return {
        "numbers": ".".join(str(number) for number in numbers),
        "date": "{:04d}-{:02d}-{:02d}".format(*label.date) if label.date else None,
        "build": label.build,
    }


def summarize(
    running: Mapping[tuple[str | None, str | None], int],
    first_seen: Mapping[str, datetime],
) -> list[VersionSummary]:
    """Per version, newest first: how many tenants run it and on which hosts. ``running``:
    how many tenants answered with each (version, endpoint host)."""
    tenants: Counter[str | None] = Counter()
    hosts: dict[str | None, Counter[str]] = {}
    for (version, host), count in running.items():
        tenants[version] += count
        if host:
            hosts.setdefault(version, Counter())[host] += count
    found = [
        VersionSummary(
            version,
            count,
            tuple(
                sorted(hosts.get(version, Counter()).items(), key=lambda item: (-item[1], item[0]))
            ),
            first_seen.get(version) if version is not None else None,
        )
        for version, count in tenants.items()
    ]
    return sorted(found, key=lambda item: newest_first(item.version, item.first_seen))


class FirstSeen:
    """When each version was first seen on any tenant: the history's record, adopted at
    start, and what this session sees since."""

    def __init__(self, limit: int = MAX_VERSIONS_KEPT) -> None:
        self.at: dict[str, datetime] = {}
        self.limit = limit

    def saw(self, version: str | None, moment: datetime) -> None:
        if not version:
            return
        known = self.at.get(version)
        if known is None:
            if len(self.at) < self.limit:
                self.at[version] = moment
        elif moment < known:
            self.at[version] = moment

    def adopt(self, recorded: Mapping[str, datetime]) -> None:
        """What the history says (earlier sightings win)."""
        for version, moment in recorded.items():
            self.saw(version, moment)


@dataclass(frozen=True, slots=True)
class VersionSpan:
    """A stretch of one tenant's life on one version: from when it was first seen on it
    until the next version was (None: it still runs it, as far as recorded)."""

    version: str
    host: str | None
    since: datetime
    until: datetime | None = None


__all__ = [
    "NO_VERSION_TEXT",
    "FirstSeen",
    "ReleaseLabel",
    "VersionSpan",
    "VersionSummary",
    "compare_releases",
    "describe_change",
    "newest_first",
    "parse_release",
    "shown",
    "summarize",
]
