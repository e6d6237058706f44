"""Save a screenshot of the demo page (``docs/img/demo.png`` by default).

Starts ``jwe-gate demo`` on a free port with a throw-away database and key set, drives the page
in headless Chromium through a short session (sign up, /auth/me, /api/hello, refresh, "Verify
email" and a reset link asked for, so the outbox shows two mails, and a password change with a
wrong current password, so a field error shows), and saves the whole page.

    python scripts/screenshot_demo.py [--out FILE] [--width PX] [-- DEMO FLAGS...]

e.g. ``python scripts/screenshot_demo.py --out /tmp/cookies.png -- --cookies``. Needs the
``demo`` extra, selenium, and Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo(tmp: Path, flags: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    keys = tmp / "keys.json"
    subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "jwe_gate", "keygen", "--out", str(keys)],
        check=True,
        capture_output=True,
    )
    cmd = [sys.executable, "-m", "jwe_gate", "demo", "--port", str(port)]
    cmd += ["--db", str(tmp / "demo.db"), "--keys", str(keys), *flags]
    proc = subprocess.Popen(cmd, cwd=tmp, stderr=subprocess.DEVNULL)  # noqa: S603 - ours
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):  # noqa: S310 - http
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"the demo exited with {proc.returncode}") from None
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the demo did not start")


def chromium(profile: Path, width: int) -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={width},900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def act(driver: Any, do: Any) -> None:
    """Run ``do`` and wait until the page has shown its answer."""
    driver.execute_script('document.getElementById("output").dataset.status = "pending";')
    do()
    WebDriverWait(driver, 15, poll_frequency=0.05).until(
        lambda d: d.find_element(By.ID, "output").get_attribute("data-status") != "pending"
    )


def session(driver: Any) -> None:
    """A short session that leaves something in every part of the page."""
    field = lambda id_: driver.find_element(By.ID, id_)  # noqa: E731
    field("signup-name").send_keys("Ann")
    field("signup-email").send_keys("ann@example.com")
    act(driver, lambda: field("signup-password").send_keys("s3cret-pass" + Keys.ENTER))
    for button in ("me", "refresh", "hello", "verify-send"):
        act(driver, field(button).click)
    field("forgot-email").send_keys("ann@example.com")
    act(driver, lambda: field("forgot-email").send_keys(Keys.ENTER))
    WebDriverWait(driver, 15).until(  # both mails in the outbox (sent after the answers)
        lambda d: d.find_element(By.ID, "outbox").get_attribute("data-count") == "2"
    )
    field("new-password").send_keys("n3w-password")
    act(driver, lambda: field("current-password").send_keys("not-it-42" + Keys.ENTER))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "demo.png"))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("flags", nargs="*", help="flags for jwe-gate demo (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_demo(Path(tmp), args.flags)
        driver = chromium(Path(tmp) / "profile", args.width)
        try:
            driver.get(url + "/")
            session(driver)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd(  # a viewport as tall as the page: the whole of it
                "Emulation.setDeviceMetricsOverride",
                {"width": args.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            # No focus ring, no scroll: the page from its top.
            driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
            driver.save_screenshot(args.out)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(10)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
