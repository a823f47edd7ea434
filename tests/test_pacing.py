"""The pacing policy on its own: a fake clock and fake timers, no screen."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tenantboard.ui.pacing import (
    BATCH_DELAY,
    INPUT_PRIORITY,
    MAX_BATCH,
    MAX_DEFER,
    NOTICE_DELAY,
    SUMMARY_DELAY,
    VIEW_DELAY,
    Pacing,
)


class FakeTimers:
    """One-shot timers that fire only when the test moves the clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self._timers: list[FakeTimer] = []

    def start(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self.now + delay, callback)
        self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted(
                (t for t in self._timers if not t.stopped and t.at <= end), key=lambda t: t.at
            )
            if not due:
                break
            timer = due[0]
            self.now = max(self.now, timer.at)
            timer.stopped = True
            timer.callback()
        self.now = end


class FakeTimer:
    def __init__(self, at: float, callback: Callable[[], None]) -> None:
        self.at, self.callback, self.stopped = at, callback, False

    def stop(self) -> None:
        self.stopped = True


class Board:
    """What the policy drives: records every call."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.views = 0
        self.headers = 0
        self.told: list[list[str]] = []


@pytest.fixture
def timers() -> FakeTimers:
    return FakeTimers()


@pytest.fixture
def board() -> Board:
    return Board()


@pytest.fixture
def pacing(timers: FakeTimers, board: Board) -> Pacing[int, str]:
    def redo_view() -> None:
        board.views += 1
        policy.view_done()

    def redraw() -> None:
        board.headers += 1

    policy: Pacing[int, str] = Pacing(
        now=lambda: timers.now,
        start_timer=timers.start,
        deliver=board.batches.append,
        redo_view=redo_view,
        redraw_header=redraw,
        announce=board.told.append,
    )
    return policy


def test_results_finishing_together_are_one_batch(pacing, timers, board) -> None:
    for result in (1, 2, 3):
        pacing.add(result)
        timers.advance(0.01)
    assert board.batches == [] and not pacing.idle
    timers.advance(BATCH_DELAY)
    assert board.batches == [[1, 2, 3]]
    assert pacing.idle


def test_a_flood_of_results_is_delivered_a_slice_at_a_time(pacing, timers, board) -> None:
    """An attached board hands on a snapshot's rows by the thousand: the board draws them
    in slices, each at its own turn of the event loop (keys and frames come between),
    all of them, in the order they came."""
    flood = list(range(2 * MAX_BATCH + 7))
    for result in flood:
        pacing.add(result)
    timers.advance(BATCH_DELAY)
    assert [len(batch) for batch in board.batches] == [MAX_BATCH, MAX_BATCH, 7]
    assert [result for batch in board.batches for result in batch] == flood
    assert pacing.idle


def test_results_wait_while_keys_arrive_but_not_for_long(pacing, timers, board) -> None:
    pacing.add(1)
    for _ in range(3):  # keys every 0.1 s: the batch keeps waiting
        pacing.key_pressed()
        timers.advance(0.1)
    assert board.batches == [] and not pacing.idle
    while timers.now < 100.0 + MAX_DEFER - 0.1:  # the operator keeps typing...
        pacing.key_pressed()
        timers.advance(0.1)
    pacing.key_pressed()
    timers.advance(0.2)  # ...but a second is the most a result waits
    assert board.batches == [[1]]


def test_without_keys_a_batch_goes_at_once(pacing, timers, board) -> None:
    pacing.key_pressed()
    timers.advance(INPUT_PRIORITY + 0.01)
    pacing.add(7)
    timers.advance(BATCH_DELAY)
    assert board.batches == [[7]]


def test_the_view_is_redone_at_most_once_a_second(pacing, timers, board) -> None:
    pacing.view_soon()
    assert board.views == 1  # the first at once
    pacing.view_soon()
    pacing.view_soon()
    assert board.views == 1
    timers.advance(VIEW_DELAY / 2)
    assert board.views == 1
    timers.advance(VIEW_DELAY / 2 + 0.01)
    assert board.views == 2  # the two requests became one redo


def test_the_view_waits_for_the_operator(pacing, timers, board) -> None:
    pacing.view_done()
    pacing.view_soon()
    timers.advance(VIEW_DELAY - 0.05)
    pacing.key_pressed()
    timers.advance(0.1)
    assert board.views == 0
    timers.advance(INPUT_PRIORITY)
    assert board.views == 1


def test_the_header_is_redrawn_a_few_times_a_second(pacing, timers, board) -> None:
    for _ in range(10):
        pacing.header_soon()
    timers.advance(SUMMARY_DELAY)
    assert board.headers == 1


def test_notices_are_gathered_then_told_together(pacing, timers, board) -> None:
    pacing.notice(["a"])
    timers.advance(NOTICE_DELAY / 2)
    pacing.notice(["b", "c"])
    pacing.notice([])
    assert board.told == []
    timers.advance(NOTICE_DELAY / 2)
    assert board.told == [["a", "b", "c"]]


def test_stop_delivers_nothing_more(pacing, timers, board) -> None:
    pacing.add(1)
    pacing.notice(["x"])
    pacing.header_soon()
    pacing.stop()
    timers.advance(5)
    assert board.batches == [] and board.told == [] and board.headers == 0
    assert pacing.idle
