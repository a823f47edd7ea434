"""The status page in a real headless Chromium (the distribution's, driven by Selenium).

Skipped when the browser is not installed, unless TENANTBOARD_REQUIRE_BROWSER=1 (CI sets
it) makes that a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantboard.answers import State
from tenantboard.errors import ErrorKind
from tenantboard.tenant import Tenant
from tests.conftest import skip_unless_required
from tests.serve_helpers import (
    CHROMEDRIVER,
    CHROMIUM,
    ThreadedServer,
    chromium,
    failed,
    idle_watcher,
    ok,
)

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
    assert rows[1][0] == "?check failed" and rows[1][9] == "unavailable: unavailable happened"
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
    browser.get(f"{server.url}/")
    assert "token" in browser.find_element(By.TAG_NAME, "body").text


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
