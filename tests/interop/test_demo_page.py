"""§Demo: the page at ``/``, driven from headless Chromium in every mode of ``jwe-gate demo``.

One browser for the module; one demo process per mode (bearer headers on Starlette/uvicorn and
on Flask/waitress, ``--query-token``, ``--cookies`` on both). Each mode signs up (a field error
first, next to its field), logs in with the Enter key, calls the protected routes, refreshes,
changes the password (the current one asked for), is throttled with the wait shown, and logs
out; the page's log holds exactly one line per action. In cookie mode the page holds no token
and a POST without the CSRF header is refused.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.chromium import act, log_entries
from test_demo import PASSWORD, Demo, clean_env, start_demo, unique_email

from jwe_gate import KeyRing
from jwe_gate._demo import demo_cookies, is_loopback

NEW_PASSWORD = "n3w-password"


@dataclass
class Mode:
    """A running demo and what its page should say about it."""

    demo: Demo
    flags: list[str]
    app: str
    badge: str

    @property
    def query_token(self) -> bool:
        return "--query-token" in self.flags

    @property
    def cookies(self) -> bool:
        return "--cookies" in self.flags


MODES = [
    pytest.param(([], "uvicorn (ASGI)", "bearer headers"), id="headers-asgi"),
    pytest.param((["--wsgi"], "waitress (WSGI)", "bearer headers"), id="headers-wsgi"),
    pytest.param(
        (["--query-token"], "uvicorn (ASGI)", "bearer headers + ?authtoken="), id="query-token"
    ),
    pytest.param((["--cookies"], "uvicorn (ASGI)", "cookies + CSRF"), id="cookies-asgi"),
    pytest.param((["--cookies", "--wsgi"], "waitress (WSGI)", "cookies + CSRF"), id="cookies-wsgi"),
]


@pytest.fixture(scope="module", params=MODES)
def mode(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mode]:
    """The demo started with one mode's flags, its own database and keys."""
    flags, app, badge = request.param
    tmp = tmp_path_factory.mktemp("page-demo")
    keys = tmp / "keys.json"
    keys.write_text(KeyRing.generate().to_json())
    demo = start_demo(tmp, "--db", str(tmp / "demo.db"), "--keys", str(keys), *flags)
    yield Mode(demo, flags, app, badge)
    demo.stop()


@pytest.fixture
def page(mode: Mode, browser: Any) -> Any:
    """The demo page, freshly loaded, with no cookie left from another mode."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})  # every path, HttpOnly too
    browser.get(mode.demo.url + "/")
    return browser


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def click(driver: Any, button: str, label: str, status: int) -> str:
    return act(driver, by_id(driver, button).click, label, status)


def enter(driver: Any, field: str, text: str, label: str, status: int) -> str:
    """Type ``text`` into ``#field`` (emptied first) and press Enter: the form submits."""
    from selenium.webdriver.common.keys import Keys

    element = by_id(driver, field)
    element.clear()
    return act(driver, lambda: element.send_keys(text + Keys.ENTER), label, status)


def fill(driver: Any, **fields: str) -> None:
    for name, text in fields.items():
        element = by_id(driver, name.replace("_", "-"))
        element.clear()
        element.send_keys(text)


def signed_in(driver: Any) -> bool:
    return bool(by_id(driver, "state").get_attribute("data-state") == "in")


def test_page_is_served_with_its_mode_and_policy(mode: Mode) -> None:
    """GET / carries the mode in its config block, a hash-only script policy, and no-referrer."""
    resp = httpx.get(mode.demo.url + "/", timeout=10)
    assert resp.status_code == 200
    match = re.search(r'<script id="demo-config" type="application/json">(.*?)</script>', resp.text)
    assert match
    config = json.loads(match.group(1))
    assert config["transport"] == ("cookies" if mode.cookies else "headers")
    if mode.cookies:
        assert (config["csrfCookie"], config["csrfHeader"]) == ("jwe_csrf", "X-CSRF-Token")
    assert config["queryToken"] is mode.query_token
    assert config["app"].endswith(mode.app)
    policy = resp.headers["content-security-policy"]
    assert "script-src 'sha256-" in policy
    assert "unsafe-inline" not in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert resp.headers["referrer-policy"] == "no-referrer"


def test_page_walks_the_account_life_cycle(mode: Mode, page: Any) -> None:
    """Sign up (a short password first: its error sits next to its field), log out, log in with
    Enter, call /auth/me, /api/hello (and ?authtoken= in that mode), /admin/stats, refresh,
    change the password (a wrong current one is marked on its field), in cookie mode hold no
    token in reach of the script and refuse a POST without the CSRF header, log out; one log
    line per action."""
    email = unique_email("page").lower()
    assert page.title == "jwe_gate demo"
    assert mode.app in by_id(page, "app-name").text
    assert by_id(page, "mode").text == mode.badge
    assert page.execute_script("return getComputedStyle(document.body).maxWidth") != "none"
    assert by_id(page, "hello-query").is_displayed() is mode.query_token

    fill(page, signup_name="Dana", signup_email=email)
    enter(page, "signup-password", "short1", "signup", 400)
    error = by_id(page, "signup-password-error")
    assert error.is_displayed()
    assert "at least 8 characters" in error.text
    assert by_id(page, "signup-password").get_attribute("aria-invalid") == "true"
    assert not by_id(page, "signup-email-error").is_displayed()
    assert not signed_in(page)

    assert "authToken" in enter(page, "signup-password", PASSWORD, "signup", 200)
    assert not error.is_displayed()
    assert signed_in(page)
    assert email in by_id(page, "state").text
    click(page, "logout", "logout", 204)
    assert not signed_in(page)

    fill(page, login_email=email)
    enter(page, "login-password", PASSWORD, "login", 200)
    assert signed_in(page)
    assert email in click(page, "me", "me", 200)
    assert "Hello, Dana!" in click(page, "hello", "hello", 200)
    expected = [("signup", 400), ("signup", 200), ("logout", 204), ("login", 200)]
    expected += [("me", 200), ("hello", 200)]
    if mode.query_token:
        assert "Hello, Dana!" in click(page, "hello-query", "hello-query", 200)
        line = page.execute_script(
            "return document.querySelector('#log li:last-child').textContent"
        )
        assert "authtoken=…" in line
        assert "eyJ" not in line
        expected.append(("hello-query", 200))
    assert "ERROR_CODE_UNAUTHORIZED" in click(page, "stats", "stats", 401)  # a user, not an admin
    click(page, "refresh", "refresh", 200)
    assert email in click(page, "me", "me", 200)
    expected += [("stats", 401), ("refresh", 200), ("me", 200)]

    fill(page, new_password=NEW_PASSWORD)
    enter(page, "current-password", "wrong-pass1", "password", 403)
    assert by_id(page, "current-password-error").is_displayed()
    assert by_id(page, "current-password").get_attribute("aria-invalid") == "true"
    enter(page, "current-password", PASSWORD, "password", 200)
    assert not by_id(page, "current-password-error").is_displayed()
    assert "password changed" in by_id(page, "password-message").text.lower()
    assert email in click(page, "me", "me", 200)  # the new pair works
    expected += [("password", 403), ("password", 200), ("me", 200)]

    if mode.cookies:
        assert log_entries(page) == expected
        expected = cookie_mode_checks(page, email)

    click(page, "logout", "logout", 204)
    assert not signed_in(page)
    assert "ERROR_CODE_UNAUTHORIZED" in click(page, "me", "me", 401)
    expected += [("logout", 204), ("me", 401)]
    if mode.cookies:  # logout cleared the token cookies
        assert not [c for c in all_cookies(page) if c["httpOnly"]]
    assert log_entries(page) == expected

    fill(page, login_email=email)
    enter(page, "login-password", NEW_PASSWORD, "login", 200)  # the new password logs in


def all_cookies(driver: Any) -> list[dict[str, Any]]:
    """Every cookie of the browser, whatever its path, HttpOnly ones included."""
    cookies: list[dict[str, Any]] = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    return cookies


def cookie_mode_checks(page: Any, email: str) -> list[tuple[str, int]]:
    """Signed in by cookie: the tokens are in HttpOnly cookies only, out of reach of the page's
    script; a POST without the CSRF header is refused; a reload is still signed in. Returns the
    new page's log."""
    from selenium.webdriver.support.ui import WebDriverWait

    jar = all_cookies(page)
    hidden = [c for c in jar if c["httpOnly"]]
    assert len(hidden) >= 2  # the access and the refresh token
    assert all(not c["secure"] for c in jar)  # plain HTTP on a loopback host
    readable = page.execute_script("return document.cookie")
    assert [part.split("=")[0] for part in readable.split("; ")] == ["jwe_csrf"]
    text = page.find_element("tag name", "body").text
    for cookie in hidden:
        assert cookie["name"] not in readable
        assert cookie["value"] not in readable
        assert cookie["value"] not in text
    assert page.execute_script("return localStorage.length + sessionStorage.length") == 0

    forged = page.execute_async_script(  # what a form on another site could make us send
        "const done = arguments[arguments.length - 1];"
        "fetch('/auth/logout', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: '{}'}).then(r => r.json().then(b => done([r.status, b.code])),"
        " e => done(String(e)));"
    )
    assert forged == [403, "ERROR_CODE_ACCESS_DENIED"]
    assert email in click(page, "me", "me", 200)  # the refused logout ended nothing

    page.refresh()  # the cookies outlive the page: it asks who is signed in
    WebDriverWait(page, 15, poll_frequency=0.05).until(
        lambda d: by_id(d, "output").get_attribute("data-label") == "restore"
    )
    assert by_id(page, "output").get_attribute("data-status") == "200"
    assert signed_in(page)
    assert email in by_id(page, "state").text
    assert "Hello, Dana!" in click(page, "hello", "hello", 200)
    assert log_entries(page) == [("restore", 200), ("hello", 200)]
    return [("restore", 200), ("hello", 200)]


def test_throttled_login_says_when_to_retry(mode: Mode, page: Any) -> None:
    """Wrong passwords until the throttle answers 429: the login form says how long to wait
    (from Retry-After) and counts down; each attempt is one log line."""
    fill(page, login_email=unique_email("stranger"))
    for _ in range(10):  # the throttle's default: 10 failures per account and address
        enter(page, "login-password", "wrong-pass1", "login", 403)
    enter(page, "login-password", "wrong-pass1", "login", 429)
    message = by_id(page, "login-message")
    assert re.fullmatch(r"Too many attempts\. Try again in \d+ (min( \d+ s)?|s)\.", message.text)
    first = int(message.get_attribute("data-retry-after"))
    assert 0 < first <= 15 * 60  # the throttle's window
    assert log_entries(page) == [("login", 403)] * 10 + [("login", 429)]
    last_line = page.execute_script(
        "return document.querySelector('#log li:last-child').textContent"
    )
    assert "retry in" in last_line

    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, 5).until(  # the wait is counted down live
        lambda d: int(by_id(d, "login-message").get_attribute("data-retry-after")) < first
    )


def test_cookies_and_query_token_are_refused_together(tmp_path: Path) -> None:
    """``--cookies --query-token``: exit 2 with a message naming both, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "jwe_gate", "demo", "--cookies", "--query-token"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "--cookies and --query-token do not combine" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        pytest.param("127.0.0.1", True, id="ipv4-loopback"),
        pytest.param("127.8.9.10", True, id="ipv4-loopback-net"),
        pytest.param("localhost", True, id="localhost"),
        pytest.param("LocalHost", True, id="localhost-case"),
        pytest.param("::1", True, id="ipv6-loopback"),
        pytest.param("[::1]", True, id="ipv6-bracketed"),
        pytest.param("0.0.0.0", False, id="every-interface"),  # noqa: S104 - a host name
        pytest.param("::", False, id="every-interface-v6"),
        pytest.param("192.168.1.20", False, id="lan"),
        pytest.param("demo.example.com", False, id="name"),
        pytest.param("localhost.example.com", False, id="localhost-lookalike"),
    ],
)
def test_cookies_are_secure_unless_the_host_is_loopback(host: str, loopback: bool) -> None:
    """``--cookies`` drops ``Secure`` (plain-HTTP demo) only on a host no one else can reach."""
    assert is_loopback(host) is loopback
    assert demo_cookies(host).secure is not loopback
