"""Planned maintenance windows: SuperOffice's, the operator's, and what is open when
(maintenance.py, and how the tenant file declares them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tenantboard.maintenance import (
    EVERYTHING,
    MaintenanceWatch,
    Rule,
    Scope,
    SuperOfficeWindows,
    Window,
    header_text,
    parse_zone,
    scheduled,
)
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import StoreError, parse_tenant_text

from .conftest import FIXED_NOW

OSLO = ZoneInfo("Europe/Oslo")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def windows_named(rules, name: str, since: datetime, until: datetime) -> list[Window]:
    return [window for window in scheduled(rules, since, until) if name in window.name]


def test_superoffices_weekly_window_is_read_in_oslo_with_summer_time() -> None:
    rules = SuperOfficeWindows().rules()
    winter = windows_named(rules, "weekly", utc(2026, 3, 7), utc(2026, 3, 9))
    summer = windows_named(rules, "weekly", utc(2026, 6, 6), utc(2026, 6, 8))
    # Saturday 20:00 - Sunday 06:00 Oslo: UTC+1 in March, UTC+2 in June.
    assert [(w.start, w.end) for w in winter] == [(utc(2026, 3, 7, 19), utc(2026, 3, 8, 5))]
    assert [(w.start, w.end) for w in summer] == [(utc(2026, 6, 6, 18), utc(2026, 6, 7, 4))]


def test_the_nightly_recycle_keeps_its_wall_times_across_the_changes_of_clocks() -> None:
    rules = SuperOfficeWindows().rules()
    spring = windows_named(rules, "recycle", utc(2026, 3, 28, 22), utc(2026, 3, 29, 4))
    autumn = windows_named(rules, "recycle", utc(2026, 10, 24, 22), utc(2026, 10, 25, 4))
    # 01:00-03:00 Oslo: one hour on the night the clocks go forward (02:00 does not
    # happen), three on the night they go back (02:00-03:00 happens twice).
    assert [(w.start, w.end) for w in spring] == [(utc(2026, 3, 29, 0), utc(2026, 3, 29, 1))]
    assert [(w.start, w.end) for w in autumn] == [(utc(2026, 10, 24, 23), utc(2026, 10, 25, 2))]


def test_a_window_over_midnight_is_open_on_both_days() -> None:
    watch = MaintenanceWatch(SuperOfficeWindows(windows=frozenset({"patch"})).rules())
    thursday_evening = datetime(2026, 3, 5, 21, 59, tzinfo=OSLO)
    assert watch.open_at(thursday_evening) == ()
    (patch,) = watch.open_at(datetime(2026, 3, 5, 22, 0, tzinfo=OSLO))
    assert patch.open_at(datetime(2026, 3, 6, 5, 59, tzinfo=OSLO))
    assert not patch.open_at(datetime(2026, 3, 6, 6, 0, tzinfo=OSLO))
    assert watch.open_at(datetime(2026, 3, 6, 1, 0, tzinfo=OSLO)) == (patch,)


def test_the_upgrade_cycle_runs_every_third_week_from_its_anchor_both_ways() -> None:
    rules = SuperOfficeWindows(upgrade_anchor=date(2026, 3, 3)).rules()
    found = windows_named(rules, "upgrade", utc(2026, 2, 1), utc(2026, 4, 1))
    starts = [w.start.astimezone(OSLO) for w in found]
    assert [(s.date(), s.time()) for s in starts] == [
        (date(2026, 2, 10), time(20)),
        (date(2026, 2, 13), time(20)),
        (date(2026, 3, 3), time(20)),
        (date(2026, 3, 6), time(20)),
        (date(2026, 3, 24), time(20)),
        (date(2026, 3, 27), time(20)),
    ]
    assert all(w.end - w.start == timedelta(hours=9) for w in found)  # 20:00-05:00


def test_no_upgrade_window_is_assumed_without_an_anchor_or_announced_dates() -> None:
    assert (
        windows_named(SuperOfficeWindows().rules(), "upgrade", utc(2026, 1, 1), utc(2026, 6, 1))
        == []
    )
    announced = SuperOfficeWindows(upgrade_dates=frozenset({date(2026, 4, 14)})).rules()
    (only,) = windows_named(announced, "upgrade", utc(2026, 1, 1), utc(2026, 6, 1))
    assert only.start == utc(2026, 4, 14, 18)  # 20:00 summer time


def test_superoffices_windows_can_be_switched_off_per_environment() -> None:
    text = (
        "[superoffice_maintenance]\n"
        'windows = ["weekly", "patch"]\n'
        "[superoffice_maintenance.envs]\n"
        "sod = []\n"
        'qaonline = ["weekly"]\n'
    )
    rules = parse_tenant_text(text, Path("t.toml")).maintenance.rules()
    saturday_night = datetime(2026, 3, 7, 23, tzinfo=OSLO)
    thursday_night = datetime(2026, 3, 5, 23, tzinfo=OSLO)
    watch = MaintenanceWatch(rules)
    (weekly,) = watch.open_at(saturday_night)
    assert weekly.scope == Scope(envs=frozenset({"online", "stage"}))
    (patch,) = watch.open_at(thursday_night)
    assert patch.scope == Scope(envs=frozenset({"online"}))
    assert watch.open_at(datetime(2026, 3, 5, 2, tzinfo=OSLO)) == ()  # recycle: switched off


def test_the_operators_windows_repeat_in_their_own_time_zone() -> None:
    text = (
        "[[maintenance]]\n"
        'name = "backups"\n'
        'start = "23:30"\n'
        'end = "00:30"\n'
        'repeat = "weekdays"\n'
        'time_zone = "UTC+1"\n'
        'tags = ["acme"]\n'
    )
    (rule,) = parse_tenant_text(text, Path("t.toml")).maintenance.windows
    found = scheduled([rule], utc(2026, 3, 6), utc(2026, 3, 10))  # Friday to Monday night
    assert [(w.start, w.end) for w in found] == [
        (utc(2026, 3, 6, 22, 30), utc(2026, 3, 6, 23, 30)),  # Friday
        (utc(2026, 3, 9, 22, 30), utc(2026, 3, 9, 23, 30)),  # Monday: no weekend ones
    ]
    assert rule.scope.covers(Tenant("Cust1", tags=("acme",)), None)
    assert not rule.scope.covers(Tenant("Cust2", tags=("other",)), None)


def test_a_duration_is_elapsed_time_and_an_end_is_a_wall_time() -> None:
    text = (
        "[[maintenance]]\n"
        'name = "by duration"\n'
        "start = 2026-03-29T01:00:00\n"
        'duration = "3h"\n'
        "all = true\n"
        "[[maintenance]]\n"
        'name = "by end"\n'
        "start = 2026-03-29T01:00:00\n"
        "end = 2026-03-29T04:00:00\n"
        "all = true\n"
    )
    rules = parse_tenant_text(text, Path("t.toml")).maintenance.windows
    by_duration, by_end = scheduled(rules, utc(2026, 3, 28), utc(2026, 3, 30))
    assert by_duration.end - by_duration.start == timedelta(hours=3)
    assert by_end.end - by_end.start == timedelta(hours=2)  # the clocks skipped an hour


def test_a_scope_matches_every_kind_given_and_hosts_by_full_or_short_name() -> None:
    scope = Scope(envs=frozenset({"online"}), hosts=frozenset({"online3"}))
    tenant = Tenant("Cust1", "online")
    assert scope.covers(tenant, "online3.superoffice.com")
    assert not scope.covers(tenant, "online4.superoffice.com")
    assert not scope.covers(tenant, None)
    assert not scope.covers(Tenant("Cust1", "sod"), "online3.superoffice.com")
    assert Scope.from_json(scope.as_json()) == scope
    assert Scope.from_json({"all": True}) == EVERYTHING
    assert Scope.from_json("garbage") == Scope()  # covers nothing


def test_the_watch_tells_what_opened_and_closed_and_which_window_covers_a_tenant() -> None:
    rule = Rule(
        "file", "deploy", UTC, time(10), until=time(11), scope=Scope(envs=frozenset({"sod"}))
    )
    watch = MaintenanceWatch([rule])
    assert watch.look(utc(2026, 3, 2, 9, 59)) == ([], [])
    opened, closed = watch.look(utc(2026, 3, 2, 10, 0))
    assert [w.name for w in opened] == ["deploy"] and closed == []
    assert watch.covering(Tenant("Cust1", "sod"), None) is opened[0]
    assert watch.covering(Tenant("Cust1", "online"), None) is None
    assert header_text(watch.open, utc(2026, 3, 2, 10)) == "maintenance: deploy until 11:00"
    assert watch.look(utc(2026, 3, 2, 10, 30)) == ([], [])
    opened, closed = watch.look(utc(2026, 3, 2, 11, 0))
    assert opened == [] and [w.name for w in closed] == ["deploy"]


def test_an_ad_hoc_window_ended_early_closes_then() -> None:
    window = Window("adhoc", "ad hoc", utc(2026, 3, 2, 10), utc(2026, 3, 2, 12), id=4)
    watch = MaintenanceWatch()
    watch.set_adhoc([window])
    assert watch.look(utc(2026, 3, 2, 10, 5))[0] == [window]
    from dataclasses import replace

    watch.set_adhoc([replace(window, ended_at=utc(2026, 3, 2, 10, 30))])
    opened, closed = watch.look(utc(2026, 3, 2, 10, 31))
    assert opened == [] and [w.id for w in closed] == [4]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            '[[maintenance]]\nname = "x"\nstart = 2026-03-01T10:00:00\nduration = "2h"\nall = true\nwho = 1\n',
            6,
            'unknown key "who"',
        ),
        (
            '[[maintenance]]\nname = "x"\nstart = 2026-03-01T10:00:00\nduration = "2h"\n',
            1,
            "say what it covers",
        ),
        ('[[maintenance]]\nstart = "10:00"\nduration = "2h"\nall = true\n', 2, "without repeat"),
        (
            '[[maintenance]]\nstart = "10:00"\nrepeat = "daily"\nduration = "2 hours"\nall = true\n',
            4,
            "duration is a span",
        ),
        (
            '[[maintenance]]\nstart = "10:00"\nrepeat = "daily"\nend = "11:00"\nenvs = ["prod"]\n',
            5,
            "envs:",
        ),
        (
            '[[maintenance]]\nstart = "10:00"\nrepeat = ["mon", "funday"]\nend = "11:00"\nall = true\n',
            3,
            "repeat is",
        ),
        (
            '[[maintenance]]\nstart = "10:00"\nrepeat = "daily"\nend = "11:00"\nall = true\ntime_zone = "Mars/Base"\n',
            6,
            "not a time zone",
        ),
        ('[superoffice_maintenance]\ntime_zone = "Oslo"\n', 2, "not a time zone"),
        ('[superoffice_maintenance]\nwindows = ["weekly", "upgrade"]\n', 2, "upgrade_anchor"),
        (
            '[superoffice_maintenance]\nwindows = ["weekly"]\n[superoffice_maintenance.envs]\nsod = ["nightly"]\n',
            4,
            'no window "nightly"',
        ),
    ],
)
def test_a_bad_window_is_refused_with_its_line(text: str, line: int, words: str) -> None:
    with pytest.raises(StoreError) as caught:
        parse_tenant_text(text, Path("t.toml"))
    assert caught.value.line == line
    assert words in str(caught.value)


def test_time_zones_read_as_superoffice_writes_them() -> None:
    assert utc(2026, 7, 1, 12).astimezone(parse_zone("UTC+1")).hour == 13
    assert utc(2026, 7, 1, 12).astimezone(parse_zone("UTC-05:30")).minute == 30
    with pytest.raises(ValueError, match="more than 14 hours"):
        parse_zone("UTC+15")


def test_tenants_carry_their_tags_from_the_file() -> None:
    text = '[[tenants]]\ncontext_id = "Cust1"\ntags = ["acme", "team-a"]\n'
    (tenant,) = parse_tenant_text(text, Path("t.toml")).tenants
    assert tenant.tags == ("acme", "team-a")
    with pytest.raises(StoreError, match="tag"):
        parse_tenant_text('[[tenants]]\ncontext_id = "Cust1"\ntags = ["a b"]\n', Path("t.toml"))


def test_a_window_read_back_is_the_same_window() -> None:
    """As an attached board reads what its server sends."""
    scoped = Scope(envs=frozenset({"online"}), hosts=frozenset({"online3"}))
    for window in (
        Window("file", "nightly", FIXED_NOW, FIXED_NOW + timedelta(hours=2), scoped),
        Window(
            "adhoc",
            "ad hoc, by ana",
            FIXED_NOW,
            FIXED_NOW + timedelta(hours=2),
            EVERYTHING,
            id=4,
            by="ana",
            ended_at=FIXED_NOW + timedelta(hours=1),
        ),
    ):
        assert Window.from_json(window.as_json()) == window
