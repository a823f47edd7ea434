"""How times, spans and counts are written: one helper each, used wherever they are."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from tenantboard.humanize import length, plural, time_range

T = datetime(2026, 3, 2, 15, 3, 5, tzinfo=UTC)  # the tests run in UTC


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"), (45, "45s"), (60, "1m"), (95, "1m 35s"), (599, "9m 59s"), (600, "10m"),
        (754, "12m"), (3 * 3600 + 300, "3h 05m"), (2 * 86_400 + 4 * 3600, "2d 04h"),
    ],
)  # fmt: skip
def test_a_span_keeps_its_seconds_under_ten_minutes(seconds: float, text: str) -> None:
    assert length(seconds) == text


def test_times_to_the_minute_unless_the_minute_would_make_them_one() -> None:
    assert time_range(T, T + timedelta(minutes=7)) == ("15:03", "15:10")
    assert time_range(T, T + timedelta(seconds=21)) == ("15:03:05", "15:03:26")
    assert time_range(T, T + timedelta(days=1)) == ("Mar 02 15:03", "Mar 03 15:03")
    assert time_range(T, T, dates=True) == ("2026-03-02 15:03:05", "2026-03-02 15:03:05")


def test_counts_agree_with_their_noun() -> None:
    assert plural(1, "tenant") == "1 tenant"
    assert [plural(n, "event") for n in (0, 2)] == ["0 events", "2 events"]
    assert plural(1, "mute or acknowledgement", "mutes or acknowledgements").startswith("1 mute ")


def test_a_change_while_closed_for_seconds_says_which_seconds() -> None:
    from tenantboard.history.db import Observation, changed_while_closed

    before = Observation("online:Cust1", T, "Running", 2, True).as_interval()
    after = Observation("online:Cust1", T + timedelta(seconds=40), "Unknown", 0, False)
    change = changed_while_closed(before, after)
    assert change is not None
    assert change.describe() == "Running → Unknown while closed, between 15:03:05 and 15:03:45"


def test_a_report_of_seconds_says_which_seconds() -> None:
    from tenantboard.history.report_output import report_table

    title = report_table([], T, T + timedelta(seconds=45)).splitlines()[0]
    assert title == "availability 2026-03-02 15:03:05 to 2026-03-02 15:03:50 (45s)"


def test_the_history_table_shows_seconds_where_an_interval_is_within_a_minute() -> None:
    from tenantboard.history.availability import Interval
    from tenantboard.history.report_output import history_table
    from tenantboard.tenant import Tenant

    short = Interval("online:Cust1", T, T + timedelta(seconds=21), None, None, None, None, "dns")
    lines = history_table(Tenant("Cust1"), [short], [], []).splitlines()
    assert lines[2].split()[:5] == ["2026-03-02", "15:03:05", "2026-03-02", "15:03:26", "21s"]


async def test_a_reloaded_list_of_one_is_one_tenant(
    tmp_path, clock, caplog: pytest.LogCaptureFixture
) -> None:
    from .test_session import TWO, a_file, session_on

    store = a_file(tmp_path, TWO)
    session, _ = session_on(store, clock, tmp_path)
    store.path.write_text('[[tenants]]\ncontext_id = "Cust1001"\n', encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="tenantboard.session"):
        await session.look_at_file()
    await session.aclose()
    assert "tenant file reloaded: 1 tenant (was 2)" in caplog.text
