"""Headless Chromium (Debian's, driven by its chromium-driver through Selenium) and the pages it opens.

Each person is a browser of their own: separate profiles, so separate localStorage, as two people
on two machines would have. One opens the page `make up` deployed into the bucket; the other the
same files served by `make web`'s server, a third origin. Both call the API across origins.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from local.stack import config, web
from tests.conftest import STATE

SCREENSHOTS = STATE / "screenshots"


class Person:
    """One browser with the chat page open; waits for what a person would wait to see."""

    def __init__(self, name: str, driver: webdriver.Chrome):
        self.name = name
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def until(self, check, timeout: float = 20.0, what: str = ""):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            lambda d: check(), message=f"{self.name}: {what}"
        )

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def screenshot(self, step: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{step}-{self.name}.png"
        self.driver.save_screenshot(str(path))
        return path


def _chromium() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("chromium and chromium-driver are missing: `make up` installs them (apt)")
    return browser, driver


def start_chromium(size: str) -> webdriver.Chrome:
    """A headless Chromium of its own (profile, storage) with a window of `size` ("w,h")."""
    browser, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",  # runs as root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={size}",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(driver_path))


@pytest.fixture(scope="session")
def people() -> Iterator[dict]:
    drivers = {}
    try:
        for name, size in (("ana", "1000,720"), ("ben", "500,800")):
            drivers[name] = start_chromium(size)
        # Ana at a desk, Ben on a phone: a window cannot be narrower than 500 px, a viewport can.
        drivers["ben"].execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": 780, "deviceScaleFactor": 1, "mobile": True},
        )
        yield {name: Person(name, driver) for name, driver in drivers.items()}
    finally:
        for driver in drivers.values():
            driver.quit()


@pytest.fixture(scope="session")
def deployed_page(stack_outputs) -> str:
    return stack_outputs["WebUrl"]


@pytest.fixture(scope="session")
def served_page(stack_outputs) -> Iterator[str]:
    """web/ as `make web` serves it from disk, on WEB_PORT: an origin the local deploy allows."""
    cfg = config.load()
    socket_url = stack_outputs["WebSocketApis"]["ChatWebSocket"]["Url"]
    httpd = web.serve_in_background(stack_outputs["ApiUrl"], cfg.web_port, socket_url)
    try:
        yield f"http://127.0.0.1:{cfg.web_port}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()
