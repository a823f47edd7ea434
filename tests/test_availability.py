"""Availability from intervals: exact figures for a hand-built day, and properties."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tenantboard.answers import Severity
from tenantboard.history.availability import Interval, availability, daily_strip, incidents, ordered

DAY = datetime(2026, 3, 1, tzinfo=UTC)


def span(start_h: float, end_h: float, state: str | None, error: str | None = None) -> Interval:
    running = None if state is None else state in ("Running", "OnlineMaintenance")
    return Interval(
        "online:Cust1",
        DAY + timedelta(hours=start_h),
        DAY + timedelta(hours=end_h),
        state,
        None,
        running,
        None,
        error,
    )


#: 00-06 up, 06-06:30 planned maintenance, -12 up, 12-13 Unknown, -18 up, closed until
#: 20:00, 20:00-20:20 failing checks, then up until 23:50.
HAND_BUILT = [
    span(0, 6, "Running"),
    span(6, 6.5, "OfflineMaintenance"),
    span(6.5, 12, "Running"),
    span(12, 13, "Unknown"),
    span(13, 18, "Running"),
    span(20, 20 + 1 / 3, None, "timeout"),
    span(20 + 1 / 3, 23 + 5 / 6, "Running"),
]


def test_a_hand_built_day() -> None:
    figures = availability(HAND_BUILT, DAY, DAY + timedelta(days=1))
    assert figures.observed == pytest.approx(21 * 3600 + 50 * 60)
    assert figures.up == pytest.approx(20 * 3600)
    assert figures.down == pytest.approx(110 * 60)
    assert figures.failed == pytest.approx(20 * 60)
    assert figures.uptime == pytest.approx(72_000 / 78_600)
    assert figures.coverage == pytest.approx(78_600 / 86_400)
    assert figures.incidents == 2  # Unknown at noon, failing checks at 20:00; not maintenance
    assert figures.longest_incident == pytest.approx(3600)
    assert figures.maintenance == {
        "OnlineMaintenance": 0.0,
        "OfflineMaintenance": pytest.approx(1800),
    }
    assert figures.last_seen_running == DAY + timedelta(hours=23, minutes=50)


def test_a_window_clips_intervals_and_incidents() -> None:
    figures = availability(
        HAND_BUILT, DAY + timedelta(hours=12, minutes=30), DAY + timedelta(hours=14)
    )
    assert figures.observed == pytest.approx(90 * 60)
    assert figures.up == pytest.approx(60 * 60)
    assert figures.incidents == 1 and figures.longest_incident == pytest.approx(30 * 60)


def test_nothing_observed_has_no_uptime_rather_than_full_uptime() -> None:
    figures = availability([], DAY, DAY + timedelta(days=1))
    assert figures.uptime is None and figures.coverage == 0 and figures.incidents == 0


def test_a_tenant_never_seen_running_has_downtime_but_no_incident() -> None:
    figures = availability([span(0, 24, "Suspended")], DAY, DAY + timedelta(days=1))
    assert figures.uptime == 0 and figures.incidents == 0 and figures.down == 86_400


def test_an_outage_spanning_a_gap_is_one_incident_until_seen_running_again() -> None:
    found = incidents([span(0, 1, "Running"), span(1, 2, "Unknown"), span(5, 6, "Unknown")])
    assert [(i.start, i.end) for i in found] == [
        (DAY + timedelta(hours=1), DAY + timedelta(hours=6))
    ]


def test_the_daily_strip_shows_each_days_worst_severity() -> None:
    history = [
        span(0, 30, "Running"),
        span(30, 31, "OfflineMaintenance"),
        span(31, 50, "Running"),
        span(50, 50.5, "Suspended"),
        span(50.5, 60, "Running"),
    ]
    strip = daily_strip(history, DAY + timedelta(hours=60), days=4, tz=UTC)
    assert strip == [None, Severity.OK, Severity.WARNING, Severity.CRITICAL]


intervals = st.lists(
    st.tuples(
        st.integers(min_value=-5000, max_value=100_000),
        st.integers(min_value=0, max_value=20_000),
        st.sampled_from(["Running", "Unknown", "OfflineMaintenance", "OnlineMaintenance", None]),
    ),
    max_size=30,
)


def build(raw: list[tuple[int, int, str | None]]) -> list[Interval]:
    return [
        span(start / 3600, (start + length) / 3600, state, None if state else "timeout")
        for start, length, state in raw
    ]


@settings(max_examples=300, deadline=None)
@given(intervals, st.integers(min_value=0, max_value=50_000), st.integers(1, 80_000))
def test_figures_stay_within_their_bounds(
    raw: list[tuple[int, int, str | None]], offset: int, length: int
) -> None:
    start = DAY + timedelta(seconds=offset)
    end = start + timedelta(seconds=length)
    figures = availability(build(raw), start, end)
    assert figures.uptime is None or 0 <= figures.uptime <= 1
    assert 0 <= figures.coverage <= 1 + 1e-9
    assert figures.observed <= length + 1e-6
    assert 0 <= figures.failed <= figures.down + 1e-6
    assert figures.longest_incident <= length + 1e-6
    assert sum(figures.maintenance.values()) <= figures.observed + 1e-6


@settings(max_examples=200, deadline=None)
@given(intervals)
def test_ordered_intervals_never_overlap(raw: list[tuple[int, int, str | None]]) -> None:
    result = ordered(build(raw))
    for interval in result:
        assert interval.start <= interval.end
    for before, after in itertools.pairwise(result):
        assert before.end <= after.start


@settings(max_examples=300, deadline=None)
@given(intervals, st.randoms(use_true_random=False))
@example([(0, 0, "Running"), (0, 0, "Unknown")], random.Random(1))  # two at one instant
def test_intervals_already_in_order_are_taken_as_they_are(
    raw: list[tuple[int, int, str | None]], shuffle
) -> None:
    """What the database gives (sorted, disjoint) skips the sort: the same list either way."""
    made = ordered(build(raw))
    mixed = list(made)
    shuffle.shuffle(mixed)
    assert ordered(made) == made == ordered(mixed)
