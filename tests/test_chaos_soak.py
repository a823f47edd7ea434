"""The chaos soak's own bookkeeping (bench/chaos_soak.py): what it counts as memory growth,
and that the history writer keeps up with its virtual clock. The soak itself is too long
for the suite; these run it in small."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tenantboard.answers import Severity
from tenantboard.rows import HISTORY_LIMIT, TIMELINE_LIMIT, Event, TenantRow
from tenantboard.tenant import Tenant

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import chaos_soak  # bench/ is not a package: on the path above
from chaos_soak import Sample, history_bytes, soak, verdicts


def figures(samples: list[Sample]) -> dict[str, object]:
    """A run's figures that pass everything but memory, which the samples decide."""
    return {
        "tenants": 1000,
        "samples": [asdict(sample) for sample in samples],
        "crashes": [],
        "outages_seen": 1,
        "planned_outages": 1,
        "probes_per_outage_max": 10,
        "recovery_seconds_max": 60.0,
        "recoveries_unfinished": 0,
        "worst_gap_seconds": 900.0,
        "never_checked": 0,
        "event_lines": 5,
        "event_lines_valid": 5,
        "outage_events": 1,
        "failures_in_outages": 0,
        "tenant_file_identical": True,
    }


def verdict(samples: list[Sample], name: str) -> bool:
    return next(met for figure, _, _, met in verdicts(figures(samples)) if figure == name)


def test_memory_that_grows_only_with_the_bounded_history_is_flat() -> None:
    samples = [Sample(1.0, 40.0, 10_000, 1.0, 0), Sample(24.0, 48.0, 30_000, 8.5, 0)]
    assert verdict(samples, "memory less that history, hour 1 -> end")  # 39 -> 39.5 MB
    assert verdict(samples, "resident set, hour 1 -> end")  # +20%, all of it the history


def test_memory_that_grows_beyond_the_history_is_a_miss() -> None:
    samples = [Sample(1.0, 40.0, 10_000, 1.0, 0), Sample(24.0, 48.0, 30_000, 3.0, 0)]
    assert not verdict(samples, "memory less that history, hour 1 -> end")  # 39 -> 45 MB
    assert not verdict(samples, "resident set, hour 1 -> end")


def test_history_beyond_its_bound_is_a_miss_however_flat_the_rest() -> None:
    beyond = 1000 * (HISTORY_LIMIT + TIMELINE_LIMIT) + 1
    samples = [Sample(1.0, 40.0, 10_000, 1.0, 0), Sample(24.0, 40.0, beyond, 1.0, 0)]
    assert not verdict(samples, "per-tenant history held, hour 1 -> end")
    assert not verdict(samples, "resident set, hour 1 -> end")


def test_history_bytes_count_what_the_history_adds_and_shared_texts_once() -> None:
    rows = [TenantRow(Tenant(f"Cust{number}")) for number in (1, 2)]
    assert history_bytes(rows) == 0
    for row in rows:
        at = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # each check has its own time
        row.history.append(Event(at, "state", "Running → OfflineMaintenance"))
        row.severity_changes.append((at, Severity.WARNING))
    one = history_bytes(rows[:1])
    both = history_bytes(rows)
    text = sys.getsizeof(rows[0].history[0].text)
    assert one > text
    # The second row adds its event, its time and its tuple, not the shared text; and a
    # time both in an event and in a severity change is counted once.
    assert both == 2 * one - text
    event, change = rows[0].history[0], rows[0].severity_changes[0]
    assert one == sum(map(sys.getsizeof, (event, event.text, event.at, change)))


async def test_the_soak_leaves_nothing_for_the_history_writer_at_its_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer writes every two seconds of real time, and the soak's scenario second
    takes milliseconds: unless the soak flushes it as scenario time passes, its queue
    grows with the soak's speed (tens of MB in a few scenario hours), not the board's."""
    monkeypatch.setattr(chaos_soak, "rss_mb", lambda: 40.0)  # the test's process is not the soak's
    args = argparse.Namespace(
        tenants=30, hours=0.25, seed=1, concurrency=8, trace=0, sample_every=120.0
    )
    result = await soak(args, tmp_path)
    samples = [Sample(**sample) for sample in result["samples"]]  # type: ignore[attr-defined]
    assert len(samples) == 7
    assert [sample.backlog for sample in samples] == [0] * 7
    assert result["crashes"] == []
    assert result["event_lines_valid"] == result["event_lines"]
