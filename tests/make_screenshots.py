"""Write the README's screenshots from the demo scenario on a fixed clock, and the README's
key table from the board's bindings (`make screenshots`).

Never edit the SVGs or the key table by hand: change the app or this script and run it again.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import FakeClock, make_board, settle_board  # noqa: E402
from tests.test_snapshots import history_read, write_history  # noqa: E402

OUT = ROOT / "screenshots"


async def shoot(
    name: str,
    size: tuple[int, int],
    theme: str,
    keys: Sequence[str] = (),
    data_dir: Path | None = None,
) -> None:
    history = data_dir / "history.sqlite3" if data_dir else None
    app = make_board(FakeClock(), data_dir=data_dir, history_path=history)
    async with app.run_test(size=size) as pilot:
        app.theme = theme
        await settle_board(pilot, app)
        for key in keys:
            await pilot.press(key)
        await settle_board(pilot, app)
        await history_read(pilot)
        for _ in range(5):
            await pilot.pause()
        svg = app.export_screenshot(title=f"tenantboard — {name}")
    (OUT / f"{name}.svg").write_text(svg, encoding="utf-8")
    print(f"wrote screenshots/{name}.svg")


def write_readme_keys() -> None:
    from tenantboard.ui.screens.board_keys import key_table_markdown

    readme = ROOT / "docs" / "board.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index("\n", text.index("<!-- keys:")) + 1
    end = text.index("<!-- /keys -->")
    readme.write_text(text[:start] + key_table_markdown() + "\n" + text[end:], encoding="utf-8")
    print("wrote docs/board.md's key table")


async def shoot_versions() -> None:
    """The versions view halfway through a rollout: 60 tenants, two of three hosts done."""
    from tenantboard.simulator import Rollout, Simulator, SimulatorTransport
    from tenantboard.tenant import Tenant
    from tests.conftest import let_time_pass, until

    clock = FakeClock()
    simulator = Simulator(now=lambda: clock.epoch, slow_delay=0, rollout=Rollout(day=600))
    tenants = [Tenant(f"Cust{number}", "online", f"Customer {number}") for number in range(1, 61)]
    app = make_board(clock, tenants, transport=SimulatorTransport(simulator))
    async with app.run_test(size=(140, 30)) as pilot:
        await settle_board(pilot, app)
        await let_time_pass(pilot, clock, 1290)  # the third host's night has begun
        await pilot.press("v")
        await until(pilot, lambda: app.screen.id != "board")
        for _ in range(5):
            await pilot.pause()
        svg = app.export_screenshot(title="tenantboard — versions")
    (OUT / "versions.svg").write_text(svg, encoding="utf-8")
    print("wrote screenshots/versions.svg")


def shoot_status_page() -> None:
    """`serve`'s status page on the demo scenario, in the distribution's headless Chromium."""
    from tenantboard.client import TenantClient
    from tenantboard.engine import check_all
    from tenantboard.simulator import Simulator, SimulatorTransport, demo_tenants
    from tests.serve_helpers import ThreadedServer, chromium, idle_watcher

    clock = FakeClock()
    tenants = demo_tenants()
    watcher = idle_watcher(tenants, clock=clock)

    async def two_passes() -> None:
        simulator = Simulator(now=lambda: clock.epoch, slow_delay=0)
        async with TenantClient(transport=SimulatorTransport(simulator)) as client:
            for minutes in (0, 47):
                clock.advance(minutes * 60)
                for result in await check_all(client, tenants, concurrency=8, clock=clock):
                    watcher.record(result)
        clock.advance(35)

    asyncio.run(two_passes())
    with ThreadedServer(watcher) as server, tempfile.TemporaryDirectory() as profile:
        for name, size in (("status-page", (1400, 860)), ("status-page-phone", (390, 844))):
            browser = chromium(Path(profile) / name, size=size)
            try:
                browser.get(f"{server.url}/")
                from selenium.webdriver.support.ui import WebDriverWait

                WebDriverWait(browser, 20).until(
                    lambda driver: (
                        driver.execute_script(
                            "return document.querySelectorAll('#tenants tbody tr').length"
                        )
                        == len(tenants)
                    )
                )
                browser.save_screenshot(str(OUT / f"{name}.png"))
            finally:
                browser.quit()
            print(f"wrote screenshots/{name}.png")


async def main() -> None:
    write_readme_keys()
    os.environ["TZ"] = "UTC"
    time.tzset()
    OUT.mkdir(exist_ok=True)
    await shoot("board", (160, 30), "textual-dark")
    await shoot("board-light", (160, 30), "textual-light")
    await shoot("add-tenant", (100, 30), "textual-dark", ("a", *"Cust12x"))
    with tempfile.TemporaryDirectory() as folder:
        write_history(Path(folder))
        keys = ("down",) * 11 + ("enter",)  # Cust1012, with a month of recorded history
        await shoot("detail", (160, 50), "textual-dark", keys, data_dir=Path(folder))
    with tempfile.TemporaryDirectory() as folder:
        write_history(Path(folder), closed_change=True)
        await shoot("event-log", (140, 36), "textual-dark", ("l",), data_dir=Path(folder))
    await shoot_versions()


if __name__ == "__main__":
    asyncio.run(main())
    shoot_status_page()
