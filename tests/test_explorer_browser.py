"""The explorer in a real browser: headless Chromium (Debian's chromium + chromium-driver, `make browser-deps`)
driven by Selenium watches a dispute played by the real daemons (lying operator, challenger) on eth-tester.
The rounds must appear on the game page without a reload, the outcome must be shown; screenshots of the
game page and the overview are saved under build/explorer-shots/."""

from __future__ import annotations

import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from challenger.models import toy_model
from contracts.system import GameStatus, RequestStatus
from optimist.explorer import ChainView, Explorer
from optimist.explorer.data import serialize_provider
from optimist.world import World

SHOTS = Path(__file__).resolve().parents[1] / "build" / "explorer-shots"
TOY_INPUT = bytes(range(64))
PACE = 0.15   # seconds each game move waits, so the page (polling every 300 ms) sees the rounds arrive
MOVES = ("midpoint", "responded")


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("headless Chromium not found (chromium and chromedriver on PATH): run `make browser-deps` "
                    "(apt-get install chromium chromium-driver, as root)")
    return chromium, driver


@pytest.fixture
def browser():
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,1500"):
        options.add_argument(arg)
    d = webdriver.Chrome(options=options, service=Service(driver))
    yield d
    d.quit()


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status == 200
    except OSError:
        return False


def test_dispute_is_shown_live(browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    world = World.on_eth_tester(toy_model(engine="stepper"), window=600, clock=300, trace_interval=4096,
                                engine="stepper")
    lock = serialize_provider(world.w3)
    failures: list[BaseException] = []
    done = threading.Event()
    resolved = threading.Event()

    def story() -> None:   # the daemons and their SQLite stores live in this thread
        try:
            liar, ch, honest = world.operator(dishonest=True), world.challenger(), world.operator()
            for d in (liar, ch):
                d.listeners.append(lambda event, fields: time.sleep(PACE) if event in MOVES else None)
            rid = world.request(TOY_INPUT)
            liar.tick()                                   # the liar answers first
            world.run_until(lambda: world.system.game(1).status != GameStatus.ACTIVE if
                            world.system.counts()[3] else False, [liar, ch])
            resolved.set()
            world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.POSTED, [honest, liar, ch])
            world.advance_time(602)
            world.run_until(lambda: world.system.get_request(rid).status == RequestStatus.FINALIZED,
                            [honest, liar, ch])
        except BaseException as exc:  # reported by the test below
            failures.append(exc)
        finally:
            resolved.set()
            done.set()

    with Explorer(ChainView(world.system, lock=lock), poll_ms=300) as server:
        thread = threading.Thread(target=story, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not _ok(server.url + "/api/game/1"):
            assert time.monotonic() < deadline and not failures, failures or "no game opened"
            time.sleep(0.1)
        browser.get(server.url + "/game/1")
        browser.execute_script("window.__loadedOnce = true;")
        seen: list[int] = []
        rounds_xpath = "//*[local-name()='text' and starts-with(normalize-space(.), 'round ')]"
        while time.monotonic() < deadline:
            count = len(browser.find_elements(By.XPATH, rounds_xpath))
            if not seen or seen[-1] != count:
                seen.append(count)
            if "wins by proof" in browser.find_element(By.ID, "main").text:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the outcome never appeared (round counts seen: {seen}; {failures})")
        assert browser.execute_script("return window.__loadedOnce === true;"), "the page reloaded"
        assert len(seen) >= 3 and seen == sorted(seen), f"rounds did not appear live: {seen}"
        main = browser.find_element(By.ID, "main").text
        assert "challenger wins by proof" in main and "One-step proof" in main and "mnemonic" in main
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "game.png"))

        assert done.wait(120) and not failures, failures
        browser.get(server.url + "/")
        time.sleep(0.5)
        text = browser.find_element(By.ID, "main").text
        assert "Finished games" in text and "challenger won" in text and "finalized (1)" in text
        browser.save_screenshot(str(SHOTS / "overview.png"))
        browser.get(server.url + "/request/1")
        assert "finalized answer" in browser.find_element(By.ID, "main").text
        browser.save_screenshot(str(SHOTS / "request.png"))
    thread.join(10)
    assert (SHOTS / "game.png").stat().st_size > 10_000 and (SHOTS / "overview.png").stat().st_size > 10_000
