"""The status page in a real headless Chromium (the distribution's, driven by Selenium).

Skipped when the browser is not installed, unless TENANTBOARD_REQUIRE_BROWSER=1 (CI sets
it) makes that a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tenantboard.answers import State
from tenantboard.errors import ErrorKind
from tenantboard.history.db import HistoryDB, Observation
from tenantboard.tenant import Tenant
from tests.conftest import FIXED_NOW, FakeClock, skip_unless_required
from tests.serve_helpers import (
    CHROMEDRIVER,
    CHROMIUM,
    ThreadedServer,
    chromium,
    failed,
    idle_watcher,
    ok,
)
from tests.test_board_history import a_bad_day, seed

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    skip_unless_required(
        f"no Chromium: {CHROMIUM} or {CHROMEDRIVER} is missing "
        "(apt-get install chromium chromium-driver)",
        "TENANTBOARD_REQUIRE_BROWSER",
        module=True,
    )

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TOKEN = "page-token-0123456789abcdef"
SCRIPT_LABEL = "<script>window.__pwned = 1</script>"
IMG_LABEL = '<img src=x onerror="window.__pwned = 2">'
TENANTS = [
    Tenant("Cust1001", "online", "Northwind"),
    Tenant("Cust1006", "online", SCRIPT_LABEL),
    Tenant("Cust1008", "online", IMG_LABEL),
    Tenant("Cust1014", "sod", "Flaky gateway"),
    Tenant("Cust1020", "stage", "Blue Yonder"),
]


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    watcher = idle_watcher(TENANTS)
    watcher.record(ok(TENANTS[0]))
    watcher.record(ok(TENANTS[1], State.Suspended))
    watcher.record(ok(TENANTS[2], State.OfflineMaintenance))
    watcher.record(failed(TENANTS[3], ErrorKind.UNAVAILABLE))
    with ThreadedServer(watcher, token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = chromium(tmp_path_factory.mktemp("profile"))
    try:
        yield driver
    finally:
        driver.quit()


def visible_rows(browser) -> list[list[str]]:
    """The text of each cell of each row shown, read in one round trip."""
    return browser.execute_script(
        "return [...document.querySelectorAll('#tenants tbody tr')]"
        ".filter((tr) => tr.offsetParent !== null)"
        ".map((tr) => [...tr.cells].map((td) => td.innerText.trim()))"
    )


def wait_for_rows(browser, count: int) -> list[list[str]]:
    WebDriverWait(browser, 20).until(lambda driver: len(visible_rows(driver)) == count)
    return visible_rows(browser)


def test_the_page_shows_every_tenant_worst_first_with_its_state(server, browser) -> None:
    browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
    rows = wait_for_rows(browser, len(TENANTS))
    assert [row[2] for row in rows] == ["Cust1006", "Cust1014", "Cust1008", "Cust1020", "Cust1001"]
    assert rows[0][0] == "✖Suspended"
    assert rows[1][0] == "?check failed" and rows[1][10] == "unavailable: unavailable happened"
    assert rows[3][0] == "·not checked yet"
    assert rows[4][:6] == [
        "✔Running",
        "Northwind",
        "Cust1001",
        "online",
        "yes",
        "online3.superoffice.com",
    ]
    summary = browser.find_element(By.ID, "summary").text.split("\n")
    assert summary == [
        "✖ 1 critical",
        "? 1 unknown",
        "▲ 1 warning",
        "✔ 1 ok",
        "· 1 not checked yet",
    ]
    colours = {
        row.get_attribute("class"): row.find_element(
            By.CLASS_NAME, "c-state"
        ).value_of_css_property("color")
        for row in browser.find_elements(By.CSS_SELECTOR, "#tenants tbody tr")
    }
    assert len(set(colours.values())) == 5  # a colour per severity, beside the glyph


def test_a_cell_cut_to_one_line_shows_its_whole_text_on_hover(server, browser) -> None:
    """Rows are one line each (the page draws only those on screen), so a long problem or
    host is cut short: its whole text is the cell's title, shown on hover; empty cells
    have none."""
    browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
    wait_for_rows(browser, len(TENANTS))
    titles = browser.execute_script(
        "return [...document.querySelectorAll('#tenants tbody tr')]"
        ".filter((tr) => tr.offsetParent !== null)"
        ".map((tr) => [tr.cells[2].title, tr.querySelector('td.c-problem').title])"
    )
    assert ["Cust1014", "unavailable: unavailable happened"] in titles
    assert ["Cust1001", ""] in titles  # no problem: "-" is shown, and no title


def test_untrusted_labels_show_literally_and_never_run(server, browser) -> None:
    browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
    rows = wait_for_rows(browser, len(TENANTS))
    names = [row[1] for row in rows]
    assert SCRIPT_LABEL in names and IMG_LABEL in names
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.find_elements(By.CSS_SELECTOR, "#tenants img, #tenants script") == []


def test_the_filter_box_filters_and_the_page_refreshes_itself(server, browser) -> None:
    browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
    wait_for_rows(browser, len(TENANTS))
    box = browser.find_element(By.ID, "filter")
    box.send_keys("sod")
    assert [row[2] for row in wait_for_rows(browser, 1)] == ["Cust1014"]
    box.clear()
    box.send_keys("SUSPENDED")
    assert [row[2] for row in wait_for_rows(browser, 1)] == ["Cust1006"]
    assert browser.execute_script("return location.hash") == "#q=SUSPENDED"
    box.clear()
    box.send_keys("nothing like this")
    wait_for_rows(browser, 0)
    assert browser.find_element(By.ID, "empty").is_displayed()
    box.clear()
    box.send_keys(" ")
    wait_for_rows(browser, len(TENANTS))
    # A check finishes on the server: the page picks it up on its own.
    server.call(server.watcher.record, ok(TENANTS[4], State.Provisioning))
    WebDriverWait(browser, 20).until(
        lambda driver: any(row[0] == "▲Provisioning" for row in visible_rows(driver))
    )


def test_without_the_token_the_server_says_what_is_missing(server, browser) -> None:
    browser.delete_all_cookies()
    browser.get(f"{server.url}/")
    assert "token" in browser.find_element(By.TAG_NAME, "body").text


def test_the_token_leaves_the_address_and_a_cookie_keeps_the_page_working(server, browser) -> None:
    """/?token=… opens the page once; the address bar, the history and the page's own
    requests no longer carry the token, and the page refreshes on the cookie."""
    browser.delete_all_cookies()
    browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
    wait_for_rows(browser, len(TENANTS))
    assert browser.current_url == f"{server.url}/?refresh=1"
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: not for scripts
    server.call(server.watcher.record, ok(TENANTS[4], State.Running))
    WebDriverWait(browser, 20).until(
        lambda driver: any(
            row[1] == "Blue Yonder" and row[0] == "✔Running" for row in visible_rows(driver)
        )
    )
    browser.get(f"{server.url}/")  # later visits: the cookie is enough
    wait_for_rows(browser, len(TENANTS))
    assert "cannot reach" not in browser.find_element(By.ID, "status").text


def test_times_are_on_a_24_hour_clock(server, browser) -> None:
    """As everywhere else in tenantboard (this Chromium's locale would say '4:03:05 PM')."""
    browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
    wait_for_rows(browser, len(TENANTS))
    assert re.fullmatch(r"updated \d\d:\d\d:\d\d", browser.find_element(By.ID, "status").text)


@pytest.fixture
def history_server(tmp_path: Path) -> Iterator[ThreadedServer]:
    """The tenants of :func:`server`, with a history: a bad day for Northwind (91.6 % up),
    a good one for Litware's label, Northwind muted by ana until 15:30 UTC, the failing one
    acknowledged by bo; and Blue Yonder answering IsRunning false while Running."""
    history = tmp_path / "history.sqlite3"
    seed(history, [*a_bad_day(TENANTS[0].key), *a_good_day(TENANTS[2].key)])
    failing = failed(TENANTS[3], ErrorKind.UNAVAILABLE)
    with HistoryDB.open(history) as db:
        db.add_mark(TENANTS[0].key, "mute", "Running", FIXED_NOW, until=MUTED_UNTIL, by="ana")
        db.add_mark(
            TENANTS[3].key, "ack", Observation.from_result(failing).label, FIXED_NOW, by="bo"
        )
    watcher = idle_watcher(TENANTS, history_path=history, clock=FakeClock())
    watcher.record(ok(TENANTS[0]))
    watcher.record(ok(TENANTS[1], State.Suspended))
    watcher.record(ok(TENANTS[2], State.OfflineMaintenance))
    watcher.record(failing)
    watcher.record(ok(TENANTS[4], State.Running, is_running=False))
    with ThreadedServer(watcher, token=TOKEN) as running:
        running.run(watcher.session.read_marks())
        keys = [tenant.key for tenant in TENANTS]
        running.run(watcher.session.read_availability(keys, with_strip=False))
        yield running
    watcher.session.writer.close()


MUTED_UNTIL = FIXED_NOW + timedelta(hours=6)  # 15:30 UTC: an afternoon


def a_good_day(key: str) -> list[Observation]:
    """The last 24 hours in 15-minute checks, all running."""
    start = FIXED_NOW - timedelta(hours=24)
    return [
        Observation(key, start + timedelta(minutes=15 * step), "Running", 2, True)
        for step in range(24 * 4)
    ]


def test_marks_uptime_and_the_running_mismatch(history_server, browser) -> None:
    """What the board shows beside a tenant, the page shows too: who muted or
    acknowledged it and until when (24-hour clock), its uptime over 24 h, and IsRunning
    contradicting State."""
    browser.get(f"{history_server.url}/?token={TOKEN}&refresh=1")
    WebDriverWait(browser, 20).until(
        lambda driver: any(row[7] == "91.6%" for row in visible_rows(driver))
    )
    rows = {row[2]: row for row in visible_rows(browser)}
    assert rows["Cust1001"][7] == "91.6%" and rows["Cust1008"][7] == "100%"
    assert rows["Cust1020"][7] == "-"  # no history: unknown, not 0 %
    # The page's "today" is the server's (its clock is FIXED_NOW): a time, and the date
    # only when it is another day.
    until, today = MUTED_UNTIL.astimezone(), FIXED_NOW.astimezone()
    until = f"{until:%H:%M}" if until.date() == today.date() else f"{until:%Y-%m-%d %H:%M}"
    assert rows["Cust1001"][11] == f"⊘ muted by ana until {until}"
    assert rows["Cust1014"][11] == "✓ acknowledged by bo until its state changes"
    assert rows["Cust1020"][4] == "no !"
    assert rows["Cust1020"][10] == "IsRunning disagrees with State"
    # Muted or acknowledged is someone's already: not "what needs attention".
    browser.find_element(By.ID, "attention").click()
    shown = {row[2] for row in wait_for_rows(browser, 3)}
    assert shown == {"Cust1006", "Cust1008", "Cust1020"}


def test_readable_on_a_phone_and_a_wall(server, browser) -> None:
    desktop = browser.get_window_size()
    try:
        browser.set_window_size(390, 844)
        browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
        wait_for_rows(browser, len(TENANTS))
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        )
        assert not browser.find_element(By.CSS_SELECTOR, "#tenants thead").is_displayed()
        browser.set_window_size(2560, 1440)
        root = "return parseFloat(getComputedStyle(document.documentElement).fontSize)"
        assert browser.execute_script(root) >= 20  # 15 px on a desktop: read from across the room
    finally:
        browser.set_window_size(desktop["width"], desktop["height"])


# -- 100,000 tenants ----------------------------------------------------------------------------

FLEET = 100_000


@pytest.fixture(scope="module")
def fleet_server() -> Iterator[ThreadedServer]:
    """100,000 tenants checked, every thousandth Suspended (worst first: they lead)."""
    tenants = [
        Tenant(f"Cust{number}", "online", f"Tenant {number}") for number in range(1, FLEET + 1)
    ]
    watcher = idle_watcher(tenants)
    watcher.session.apply(
        [
            ok(tenant, State.Suspended if number % 1000 == 0 else State.Running)
            for number, tenant in enumerate(tenants, start=1)
        ]
    )
    with ThreadedServer(watcher) as running:
        yield running


def timed(browser, script: str) -> float:
    """Milliseconds the page took to run ``script`` and draw what follows from it (two
    animation frames)."""
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const started = performance.now();"
        + script
        + "requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - started)));"
    )


def test_a_page_of_100000_tenants_draws_scrolls_filters_and_stays_live(
    fleet_server, browser
) -> None:
    """Only the rows on screen are drawn: the page opens, scrolls to any tenant and
    filters all of them without freezing, and follows the checks. The bounds here only
    say "it does not freeze" (a busy machine runs tests); how quick is measured by
    `python bench/run.py --fleet`."""
    browser.set_script_timeout(60)
    browser.get(f"{fleet_server.url}/?refresh=1")
    WebDriverWait(browser, 60).until(lambda driver: len(visible_rows(driver)) > 10)
    rows = visible_rows(browser)
    assert len(rows) < 200  # drawn: what is on screen, not 100,000 rows
    assert rows[0][0] == "✖Suspended" and rows[0][2] == "Cust1000"  # worst first
    assert browser.find_element(By.ID, "shown").text == "100000 tenants"
    # Scroll to the middle: the rows there are drawn at once.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    assert height > 1_000_000  # as tall as 100,000 rows
    took = timed(browser, "window.scrollTo(0, document.documentElement.scrollHeight / 2);")
    assert took < 2000
    shown = [row[2] for row in visible_rows(browser)]
    numbers = [int(context_id.removeprefix("Cust")) for context_id in shown]
    assert 30_000 < min(numbers) < 70_000  # the middle of the list
    # Filter every tenant for one of them.
    took = timed(
        browser,
        "const box = document.getElementById('filter'); box.value = 'cust77777';"
        "box.dispatchEvent(new Event('input'));",
    )
    assert took < 5000
    assert [row[2] for row in visible_rows(browser)] == ["Cust77777"]
    # A check finishes on the server: the page follows.
    tenant = fleet_server.watcher.model.rows["online:Cust77777"].tenant
    fleet_server.call(fleet_server.watcher.record, ok(tenant, State.Deleted, at=60))
    WebDriverWait(browser, 20).until(
        lambda driver: [row[0] for row in visible_rows(driver)] == ["✖Deleted"]
    )
    assert browser.execute_script("return window.__pwned === undefined")


def test_serves_own_outage_is_a_banner_and_the_rows_are_not_failures(server, browser) -> None:
    """serve cannot reach SuperOffice: a banner says since when and why (as text), the
    rows keep their last known state instead of reading as failed checks; the banner
    goes when it ends. A page opened meanwhile shows it from the snapshot."""
    from dataclasses import replace

    from tests.serve_helpers import begin_outage, end_outage

    session = server.watcher.session
    browser.get(f"{server.url}/?token={TOKEN}&refresh=1")
    wait_for_rows(browser, len(TENANTS))
    banner = browser.find_element(By.ID, "outage")
    assert not banner.is_displayed()
    server.call(begin_outage, session, 30, "<b>connection refused</b>")
    held = replace(failed(TENANTS[0], ErrorKind.CONNECT, at=40), during_outage=True)
    server.call(server.watcher.record, held)
    WebDriverWait(browser, 20).until(lambda driver: banner.is_displayed())
    since = (FIXED_NOW + timedelta(seconds=30)).astimezone().strftime("%H:%M")
    # (the date too: this server's clock is today's, the outage on FIXED_NOW's day)
    assert banner.text.startswith("The server cannot reach SuperOffice since ")
    assert f"{since}: <b>connection refused</b>. The rows show what was last" in banner.text
    assert browser.execute_script("return document.querySelector('#outage b')") is None
    WebDriverWait(browser, 20).until(
        lambda driver: any(row[0] == "✔Running (last known)" for row in visible_rows(driver))
    )
    row = next(row for row in visible_rows(browser) if row[2] == "Cust1001")
    assert row[10] == "not checked: the server cannot reach SuperOffice"

    browser.get(f"{server.url}/?refresh=1")  # opened during the outage: the snapshot's
    wait_for_rows(browser, len(TENANTS))
    banner = browser.find_element(By.ID, "outage")
    assert banner.is_displayed() and "cannot reach SuperOffice" in banner.text
    server.call(end_outage, session, 150)
    WebDriverWait(browser, 20).until(lambda driver: not banner.is_displayed())
