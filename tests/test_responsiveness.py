"""What keeps the board quick to answer keys: how frames are scheduled, results waiting
while the operator types, keys handled as they arrive, and redraws without a layout.

How quick is measured by `make bench`, not here; these tests pin down the behaviour.
"""

from __future__ import annotations

import asyncio

import httpx

from tenantboard.tenant import Tenant
from tenantboard.ui.screens.tenant_form import ConfirmScreen
from tenantboard.ui.textual_overrides import FrameTimer
from tenantboard.ui.widgets.keybar import KeyBar
from tenantboard.ui.widgets.table import TenantTable

from .conftest import FakeClock, choose_in_palette, make_board, settle_board

# -- the frame timer ------------------------------------------------------------------------


class FakeFrameTime:
    """Time for a FrameTimer that moves only when it sleeps or a test says so."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def get_time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


async def test_a_frame_waits_only_for_the_rest_of_the_interval() -> None:
    from textual.app import App

    async with App().run_test() as pilot:
        await _frames_after_quiet_and_busy_spells(pilot.app.screen)


async def _frames_after_quiet_and_busy_spells(screen) -> None:
    time = FakeFrameTime()
    ticks: list[float] = []
    timer: FrameTimer

    def draw() -> None:  # like the screen: each frame pauses the timer until a refresh
        ticks.append(time.now)
        timer.pause()

    timer = FrameTimer(
        screen, 0.016, name="frames", callback=draw, get_time=time.get_time, sleep=time.sleep
    )
    timer._start()
    try:
        timer.resume()  # after a quiet spell: drawn at once
        await _until(lambda: len(ticks) == 1)
        assert ticks == [100.0] and time.sleeps == []
        time.now += 0.004  # a key 4 ms after that frame: drawn 12 ms later, not 28
        timer.resume()
        await _until(lambda: len(ticks) == 2)
        assert time.sleeps == [0.012]
        assert ticks[1] == 100.016
        time.now += 0.5  # long after: at once again
        timer.resume()
        await _until(lambda: len(ticks) == 3)
        assert time.sleeps == [0.012]
    finally:
        timer.stop()


async def _until(condition) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the timer never ticked")


async def test_the_board_draws_with_the_frame_timer(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        assert isinstance(app.screen._update_timer, FrameTimer)


# -- results wait while the operator types ---------------------------------------------------


async def test_a_key_on_the_board_makes_results_wait(clock: FakeClock) -> None:
    """The app tells the pacing policy about every key, before any binding sees it."""
    import time as real_time

    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        assert not app.board.pacing.operator_busy(real_time.monotonic())
        await pilot.press("j")
        assert app.board.pacing.operator_busy(real_time.monotonic())


# -- keys are handled as they arrive, and only where they belong ----------------------------


async def test_enter_in_the_filter_line_closes_it_and_opens_no_detail(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", *"sod", "enter")
        assert app.board.detail_key is None
        assert app.focused is app.board.table
        await pilot.press("enter")
        assert app.board.detail_key == app.board.table.cursor_key


async def test_enter_in_a_dialog_presses_its_button(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")  # the focused button is "No"
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.board.detail_key is None
        assert len(app.board.model) == len(app.board.model.rows) == 22


async def test_the_palette_opens_the_detail_pane(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await choose_in_palette(pilot, "Details")
        for _ in range(20):
            await pilot.pause()
        assert app.board.detail_key == app.board.table.cursor_key


async def test_cursor_keys_do_not_reach_the_table_while_typing_a_filter(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("slash", *"jkg")  # the table's keys, typed as text
        assert app.board.model.view.filter_text == "jkg"
        assert app.board.table.cursor == 0


# -- redraws without a layout -----------------------------------------------------------------


async def test_the_scrollbar_follows_the_filter(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        table = app.board.table
        assert table.show_vertical_scrollbar  # 22 rows and a header do not fit
        await pilot.press("slash", *"sod")
        await pilot.pause()
        assert not table.show_vertical_scrollbar
        assert table.max_scroll_y == 0
        await pilot.press("escape")
        await pilot.pause()
        assert table.show_vertical_scrollbar
        assert (
            table.max_scroll_y == len(app.board.model) + 1 - table.scrollable_content_region.height
        )


async def test_no_line_is_lost_to_a_horizontal_scrollbar(clock: FakeClock) -> None:
    """The columns always fit the width: a horizontal scrollbar would only hide a row."""
    app = make_board(clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_board(pilot, app)
        table = app.board.table
        assert not table.show_horizontal_scrollbar
        assert table.scrollable_content_region.height == table.size.height


async def test_a_tenant_removed_and_added_again_shows_its_new_label(clock: FakeClock) -> None:
    """Lines are cached per tenant: a new row for the same tenant must not reuse them."""

    async def never_answers(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = make_board(
        clock,
        tenants=[Tenant("Cust1001", "online", "Old label")],
        transport=httpx.MockTransport(never_answers),
    )
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(TenantTable)
        assert app.monitor.is_checking("online:Cust1001")  # both rows: "never", "checking"
        assert "Old label" in table.render_line(1).text
        app.session.adopt_tenants([], source="file")
        app.session.adopt_tenants([Tenant("Cust1001", "online", "New label")], source="file")
        await pilot.pause()
        assert "New label" in table.render_line(1).text


# -- the key bar ------------------------------------------------------------------------------


async def test_the_key_bar_shows_the_keys_that_work_where_the_focus_is(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle_board(pilot, app)
        bar = app.query_one(KeyBar)
        text = bar.render_line(0).text
        assert " r Refresh " in text and " / Filter " in text and " q Quit " in text
        assert text.rstrip().endswith("▏^p palette")
        await pilot.press("slash")
        await pilot.pause()
        text = bar.render_line(0).text
        assert " esc Clear filter " in text
        assert " r Refresh " not in text  # typed into the filter, not a key for the board
        await pilot.press("escape")
        await pilot.pause()
        assert " r Refresh " in bar.render_line(0).text


async def test_clicking_a_key_in_the_key_bar_presses_it(clock: FakeClock) -> None:
    app = make_board(clock)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle_board(pilot, app)
        bar = app.query_one(KeyBar)
        x = bar.render_line(0).text.index(" s Sort ") + 2
        assert app.board.model.view.sort == "list"
        await pilot.click(KeyBar, offset=(x, 0))
        await pilot.pause()
        assert app.board.model.view.sort != "list"


def test_a_row_with_a_glyph_is_measured_by_its_pieces() -> None:
    """Rich measures a string holding a glyph character by character; a row is handed over
    as ASCII runs and the odd pieces apart, exactly as wide as the table."""
    from rich.cells import cell_len
    from rich.style import Style

    from tenantboard.ui.widgets.table import measured_segments

    style = Style(color="green")
    pieces = ["✔ ", "Cust1001   ", "online ", "Running   ", "⟳ moved ", "1m ago   "]
    segments = measured_segments(pieces, 60, style)
    assert "".join(segment.text for segment in segments) == "".join(pieces).ljust(60)
    assert [segment.text for segment in segments][:3] == [
        "✔ ",
        "Cust1001   online Running   ",
        "⟳ moved ",
    ]
    assert sum(cell_len(segment.text) for segment in segments) == 60
    assert {segment.style for segment in segments} == {style}
    cut = measured_segments(["✔ ", "x" * 70], 40, style)
    assert sum(cell_len(segment.text) for segment in cut) == 40


async def test_relative_times_in_the_table_are_redrawn_on_five_second_marks(clock) -> None:
    """Rows whose "10s ago" or "in 4m" change within the same few seconds are drawn in one
    frame on the wall clock's 5-second marks, not one frame a second; the header's clock
    shows minutes, so an idle board draws its header once a minute (to the second, it was
    half the idle board's CPU at 10,000 tenants)."""
    app = make_board(clock, [Tenant(f"Cust{1000 + number}") for number in range(20)])
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        board, table = app.board, app.board.table
        clock.advance(60 - clock.epoch % 60 + 5)  # onto a mark, 5 s into a minute
        board.tick()
        drawn: list[int] = []
        refresh_line = table.refresh_line
        table.refresh_line = lambda y: drawn.append(y) or refresh_line(y)  # type: ignore[method-assign]
        headers = []
        for _ in range(4):  # the seconds between two marks: the table's times wait
            clock.advance(1)
            board.tick()
            headers.append(board.summary.render().plain)
        assert drawn == []
        assert len(set(headers)) == 1
        clock.advance(1)  # the next mark
        board.tick()
        assert drawn, "the table's times were not redrawn on the 5-second mark"
        clock.advance(50)  # the next minute
        board.tick()
        assert board.summary.render().plain != headers[0]


async def test_escape_then_slash_typed_quickly_open_the_filter_for_the_next_key(clock) -> None:
    """Keys queued back to back, as a quick typist or a slow frame queues them: escape
    closes the pane, / opens the filter line and 7 lands in it (escape went the focus
    chain's way and cleared the filter the slash had just opened; the table's deferred
    focus took the keys back from it)."""
    from textual import events

    app = make_board(clock, [Tenant(f"Cust{1000 + number}") for number in range(20)])
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        await pilot.press("enter")
        assert app.board.detail_key is not None
        for key, character in (("escape", None), ("slash", "/"), ("7", "7")):
            app.post_message(events.Key(key, character))
        await pilot.pause()
        await pilot.pause()
        assert app.board.detail_key is None
        assert app.board.model.view.filter_text == "7"
        assert app.focused is app.board.filter_line
