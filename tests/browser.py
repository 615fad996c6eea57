"""One headless Chromium (through chromedriver) for the tests that look at a rendered page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {', '.join(names)} is installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium started once per module; tests set the viewport themselves (``set_viewport``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser", "google-chrome")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-color-profile=srgb", "--lang=zh-CN"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(_binary("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def set_viewport(driver, width: int, height: int) -> None:
    """An exact CSS viewport (a phone is 390 px wide), independent of window decorations."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def full_page_png(driver, width: int) -> bytes:
    """A screenshot of the whole page at ``width`` CSS pixels."""
    height = int(driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)"))
    set_viewport(driver, width, height)
    return driver.get_screenshot_as_png()
