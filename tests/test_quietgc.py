from __future__ import annotations

import gc

from tenantboard import quietgc
from tenantboard.quietgc import QuietCollector


def test_what_is_alive_once_settled_is_out_of_later_collections() -> None:
    """An attached board's rows come after the board started: once the snapshot is in,
    they are kept out of every later collection's sight, as the rows of a local board."""
    collector = QuietCollector()
    before = gc.get_freeze_count()
    collector.settle()  # not started: nothing to do
    assert gc.get_freeze_count() == before
    collector.start()
    try:
        frozen = gc.get_freeze_count()
        rows = [[number] for number in range(1000)]
        collector.settle()
        assert gc.get_freeze_count() >= frozen + len(rows)
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0


def test_full_collections_wait_for_a_quiet_moment(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(quietgc.time, "monotonic", lambda: now[0])
    collector = QuietCollector()
    before = gc.get_threshold()
    collector.start()
    try:
        assert gc.get_threshold()[2] > 10**6  # automatic full collections are held back
        monkeypatch.setattr(quietgc.gc, "get_count", lambda: (0, 0, 50))
        now[0] += 60
        collector.touched()
        assert not collector.maybe_collect()  # the operator just pressed a key
        now[0] += 2
        assert collector.maybe_collect()
        assert not collector.maybe_collect()  # not again so soon
        now[0] += 60
        monkeypatch.setattr(quietgc.gc, "get_count", lambda: (0, 0, 1))
        assert not collector.maybe_collect()  # too little allocated to bother
    finally:
        collector.stop()
    assert gc.get_threshold() == before
