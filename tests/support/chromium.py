"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by selenium, and the
helpers the demo page's tests share. A missing browser is a failure, never a skip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMEDRIVER", "CHROMIUM", "act", "chromium", "log_entries"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def start_chromium(
    profile: Path, size: tuple[int, int] = (1280, 1000), prefs: dict[str, Any] | None = None
) -> Any:
    """A headless Chromium with its own profile folder (the caller quits it); missing
    Chromium is a failure, never a skip."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: install Debian's chromium and "
            "chromium-driver (apt-get install chromium chromium-driver; scripts/test does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={size[0]},{size[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(30)
    return driver


@contextmanager
def chromium(profile: Path, size: tuple[int, int] = (1280, 1000)) -> Iterator[Any]:
    """A headless Chromium with its own profile folder, quit on exit."""
    driver = start_chromium(profile, size)
    try:
        yield driver
    finally:
        driver.quit()


def act(driver: Any, do: Callable[[], object], label: str, status: int) -> str:
    """Run ``do`` (a click, an Enter key), wait until the page shows the answer of a new
    action, check its label and status, and return the text of the last response."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script('document.getElementById("output").dataset.status = "pending";')
    do()
    WebDriverWait(driver, 15, poll_frequency=0.05).until(
        lambda d: d.find_element(By.ID, "output").get_attribute("data-status") != "pending"
    )
    output = driver.find_element(By.ID, "output")
    text = str(output.text)
    assert output.get_attribute("data-label") == label, text
    assert output.get_attribute("data-status") == str(status), text
    return text


def log_entries(driver: Any) -> list[tuple[str, int]]:
    """The page's log, one ``(action, status)`` per line, oldest first."""
    entries: list[list[str]] = driver.execute_script(
        "return [...document.querySelectorAll('#log li')]"
        ".map(li => [li.dataset.label, li.dataset.status]);"
    )
    return [(label, int(status)) for label, status in entries]
