"""§Demo: account recovery on the demo page, driven from headless Chromium.

One demo process per mode: without ``--smtp`` (bearer headers and cookies, on uvicorn and on
waitress) the mail lands in the page's outbox and the test clicks the link there, as a person
would; with ``--smtp`` a real SMTP server (aiosmtpd) receives it and the test opens the link read
from the received mail. Each mode walks the three flows: forgot password -> reset (every older
session refused, the new password logs in), verify email, and the sign-in link.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.chromium import act, log_entries
from support.smtp import PASSWORD as SMTP_PASSWORD
from support.smtp import USER as SMTP_USER
from support.smtp import SMTPServer, make_certs, running_smtp
from test_demo import PASSWORD, Demo, clean_env, start_demo, unique_email

from jwe_gate import ConfigurationError, KeyRing
from jwe_gate._demo_mail import OUTBOX_NOTE, demo_mail, page_url

NEW_PASSWORD = "n3w-password"
SUBJECTS = {
    "reset": "Reset your password",
    "verify": "Confirm your email address",
    "magic": "Your sign-in link",
}


@dataclass
class Mode:
    """A running demo, and the SMTP server it mails through (None: the page's outbox)."""

    demo: Demo
    flags: list[str]
    smtp: SMTPServer | None

    @property
    def cookies(self) -> bool:
        return "--cookies" in self.flags

    def link(self, email: str, purpose: str) -> str:
        """The link of the newest ``purpose`` mail to ``email`` the SMTP server received."""
        server = self.smtp
        assert server is not None

        def found() -> str | None:
            for mail in reversed(server.received):
                if mail.recipients == [email] and mail.message["Subject"] == SUBJECTS[purpose]:
                    match = re.search(r"http://\S+", mail.part("plain"))
                    assert match
                    return match.group(0)
            return None

        return poll(found)


def poll(find: Callable[[], str | None]) -> str:
    """What ``find`` returns once it returns something (the mail is sent after the answer)."""
    deadline = time.monotonic() + 15
    while (value := find()) is None:
        assert time.monotonic() < deadline, "nothing came in 15 s"
        time.sleep(0.05)
    return value


MODES = [
    pytest.param(([], False), id="outbox-headers-asgi"),
    pytest.param((["--wsgi"], False), id="outbox-headers-wsgi"),
    pytest.param((["--cookies"], False), id="outbox-cookies-asgi"),
    pytest.param((["--cookies", "--wsgi"], False), id="outbox-cookies-wsgi"),
    pytest.param((["--query-token"], False), id="outbox-query-token"),
    pytest.param(([], True), id="smtp-headers-asgi"),
    pytest.param((["--cookies", "--wsgi"], True), id="smtp-cookies-wsgi"),
]


@pytest.fixture(scope="module", params=MODES)
def mode(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mode]:
    """The demo started with one mode's flags, its own database and keys (and SMTP server)."""
    flags, use_smtp = request.param
    tmp = tmp_path_factory.mktemp("recovery-demo")
    keys = tmp / "keys.json"
    keys.write_text(KeyRing.generate().to_json())
    base = ["--db", str(tmp / "demo.db"), "--keys", str(keys), *flags]
    if not use_smtp:
        demo = start_demo(tmp, *base)
        yield Mode(demo, flags, None)
        demo.stop()
        return
    with running_smtp("none") as server:
        demo = start_demo(tmp, *base, "--smtp", server.address)
        yield Mode(demo, flags, server)
        demo.stop()


@pytest.fixture
def page(mode: Mode, browser: Any) -> Any:
    """The demo page, freshly loaded, with no cookie left from another test."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(mode.demo.url + "/")
    return browser


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def enter(driver: Any, field: str, text: str, label: str, status: int) -> str:
    """Type ``text`` into ``#field`` (emptied first) and press Enter: the form submits."""
    from selenium.webdriver.common.keys import Keys

    element = by_id(driver, field)
    element.clear()
    return act(driver, lambda: element.send_keys(text + Keys.ENTER), label, status)


def fill(driver: Any, field: str, text: str) -> None:
    element = by_id(driver, field)
    element.clear()
    element.send_keys(text)


def signed_in_as(driver: Any) -> str:
    state = by_id(driver, "state")
    return str(state.text) if state.get_attribute("data-state") == "in" else ""


def until(driver: Any, check: Callable[[Any], object]) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15, poll_frequency=0.05).until(check)


def follow(mode: Mode, driver: Any, email: str, purpose: str) -> str:
    """Open the link of the newest ``purpose`` mail to ``email``: clicked in the page's outbox,
    or (``--smtp``) read from the mail the server received. Returns the link."""
    if mode.smtp is not None:
        link = mode.link(email, purpose)
        driver.get(link)
        return link
    from selenium.webdriver.common.by import By

    selector = f'#outbox li[data-to="{email}"][data-subject="{SUBJECTS[purpose]}"] a'
    anchor = until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, selector))[0]
    link = str(anchor.get_attribute("href"))
    anchor.click()
    return link


def opened(driver: Any, label: str, status: int) -> str:
    """After a link was opened: wait for the page's action ``label`` and check its status."""
    until(driver, lambda d: by_id(d, "output").get_attribute("data-label") == label)
    output = by_id(driver, "output")
    assert output.get_attribute("data-status") == str(status), output.text
    return str(output.text)


def signup(client: httpx.Client, email: str, name: str = "Ann") -> dict[str, Any]:
    """A new account; its tokens (a CSRF token too in cookie mode)."""
    resp = client.post("/auth/signup", json={"name": name, "email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    tokens: dict[str, Any] = resp.json()
    return tokens


def tokens_refused(mode: Mode, tokens: dict[str, Any]) -> None:
    with mode.demo.client() as c:
        me = c.get("/auth/me", headers={"Authorization": f"Bearer {tokens['authToken']}"})
        assert me.status_code == 401, me.text
        again = c.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert again.status_code == 401, again.text


def test_forgot_password_then_reset(mode: Mode, page: Any) -> None:
    """Forgot password -> the mail's link opens the page's reset form (the token leaves the
    address bar) -> a weak password is marked on its field without spending the link -> the new
    password signs in, every older session is refused, the link does not work twice, and the
    new password logs in."""
    email = unique_email("forgot").lower()
    with mode.demo.client() as c:
        old = signup(c, email, name="Rita")

    enter(page, "forgot-email", "not-an-email", "forgot", 400)
    assert by_id(page, "forgot-email-error").is_displayed()
    enter(page, "forgot-email", email, "forgot", 202)
    assert not by_id(page, "forgot-email-error").is_displayed()
    message = by_id(page, "forgot-message").text
    assert "a mail is on its way" in message
    assert ("outbox" in message) is (mode.smtp is None)

    link = follow(mode, page, email, "reset")
    assert link.startswith(mode.demo.url + "/?reset=")
    until(page, lambda d: by_id(d, "reset-card").is_displayed())
    assert page.current_url == mode.demo.url + "/"  # the token left the address bar
    assert page.switch_to.active_element == by_id(page, "reset-password")

    enter(page, "reset-password", "short1", "reset", 400)
    assert by_id(page, "reset-password-error").is_displayed()
    enter(page, "reset-password", NEW_PASSWORD, "reset", 200)
    until(page, lambda d: email in signed_in_as(d))
    assert "every earlier session has ended" in by_id(page, "reset-message").text
    assert email in act(page, by_id(page, "me").click, "me", 200)
    tokens_refused(mode, old)

    page.get(link)  # the same link again: spent
    until(page, lambda d: by_id(d, "reset-card").is_displayed())
    assert "Invalid or expired token." in enter(
        page, "reset-password", "an0ther-pass", "reset", 400
    )
    assert "Invalid or expired token." in by_id(page, "reset-message").text
    # Cookie mode: the new session's cookies outlived the page, which asked who is signed in.
    restored = [("restore", 200)] if mode.cookies else []
    assert log_entries(page) == [*restored, ("reset", 400)]

    if mode.cookies:
        act(page, by_id(page, "logout").click, "logout", 204)
    fill(page, "login-email", email)
    enter(page, "login-password", NEW_PASSWORD, "login", 200)
    assert email in signed_in_as(page)


def test_verify_email(mode: Mode, page: Any) -> None:
    """Signed in, "Verify email" answers 202; the mail's link opens the page, which verifies
    the address and shows the record with ``email_verified: true``."""
    email = unique_email("verify").lower()
    fill(page, "signup-name", "Vera")
    fill(page, "signup-email", email)
    enter(page, "signup-password", PASSWORD, "signup", 200)
    assert '"email_verified": false' in act(page, by_id(page, "me").click, "me", 200)
    act(page, by_id(page, "verify-send").click, "verify-send", 202)
    assert "a mail is on its way" in by_id(page, "session-message").text

    follow(mode, page, email, "verify")
    record = opened(page, "verify", 200)
    assert '"email_verified": true' in record
    assert email in record
    assert "Email verified" in by_id(page, "session-message").text
    expected = [("verify", 200)]
    if mode.cookies:  # the cookies outlived the page: still signed in
        expected.insert(0, ("restore", 200))
        assert email in signed_in_as(page)
    assert log_entries(page) == expected

    with mode.demo.client() as c:
        login = c.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
        me = c.get("/auth/me", headers={"Authorization": f"Bearer {login['authToken']}"})
        assert me.json()["email_verified"] is True


def test_sign_in_link(mode: Mode, page: Any) -> None:
    """ "Email me a sign-in link" answers 202; the mail's link opens the page signed in."""
    email = unique_email("magic").lower()
    with mode.demo.client() as c:
        signup(c, email, name="Max")
    fill(page, "forgot-email", email)
    act(page, by_id(page, "magic").click, "magic", 202)
    assert "a mail is on its way" in by_id(page, "forgot-message").text

    follow(mode, page, email, "magic")
    opened(page, "magic-login", 200)
    until(page, lambda d: email in signed_in_as(d))
    assert page.current_url == mode.demo.url + "/"
    assert "Hello, Max!" in act(page, by_id(page, "hello").click, "hello", 200)
    assert email in act(page, by_id(page, "me").click, "me", 200)


def test_outbox_is_the_demos_own_public_route(mode: Mode) -> None:
    """``GET /demo/outbox`` is public, says it is the demo's, and is not a gate endpoint (not in
    the OpenAPI document); with ``--smtp`` it is not served at all."""
    with mode.demo.client() as c:
        resp = c.get("/demo/outbox")
        paths = c.get("/openapi.json").json()["paths"]
    assert "/demo/outbox" not in paths
    assert "/auth/password/forgot" in paths
    if mode.smtp is not None:
        assert resp.status_code == 401  # the demo's default rule: no such public route
        return
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert resp.json()["note"] == OUTBOX_NOTE


def test_links_never_follow_the_host_header(mode: Mode) -> None:
    """A forged ``Host`` header does not change the link: it points to the configured page."""
    email = unique_email("host").lower()
    with mode.demo.client() as c:
        signup(c, email)
        resp = c.post(
            "/auth/magic",
            json={"email": email},
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        )
        assert resp.status_code == 202, resp.text
        if mode.smtp is not None:
            link = mode.link(email, "magic")
        else:
            link = poll(lambda: _outbox_link(c, email))
    assert link.startswith(mode.demo.url + "/?magic=")
    assert "evil" not in link


def test_smtp_with_starttls_and_login(tmp_path: Path) -> None:
    """``--smtp-security starttls --smtp-user --smtp-cafile`` (the password from the
    environment): the mail reaches a submission server over TLS, after the login."""
    certs = make_certs(tmp_path)
    with running_smtp("starttls", certs=certs, users={SMTP_USER: SMTP_PASSWORD}) as server:
        os.environ["JWE_GATE_SMTP_PASSWORD"] = SMTP_PASSWORD  # clean_env() copies it
        try:
            demo = start_demo(
                tmp_path,
                "--db",
                str(tmp_path / "demo.db"),
                "--keys",
                str(tmp_path / "keys.json"),
                "--smtp",
                server.address,
                "--smtp-security",
                "starttls",
                "--smtp-user",
                SMTP_USER,
                "--smtp-cafile",
                str(certs.ca),
            )
        finally:
            del os.environ["JWE_GATE_SMTP_PASSWORD"]
        try:
            email = unique_email("tls").lower()
            with demo.client() as c:
                signup(c, email)
                assert c.post("/auth/password/forgot", json={"email": email}).status_code == 202
            link = Mode(demo, [], server).link(email, "reset")
            assert link.startswith(demo.url + "/?reset=")
            mail = server.received[-1]
            assert (mail.tls, mail.login) == (True, SMTP_USER)
            assert SMTP_PASSWORD not in demo.stderr
        finally:
            demo.stop()


def _outbox_link(client: httpx.Client, email: str) -> str | None:
    for mail in client.get("/demo/outbox").json()["mails"]:
        if mail["to"] == email:
            return str(mail["link"])
    return None


# -- the demo's mail settings, without a server ------------------------------------------------


@pytest.mark.parametrize(
    ("host", "options", "via", "security"),
    [
        pytest.param("127.0.0.1", {}, "outbox", None, id="loopback-outbox"),
        pytest.param("localhost", {}, "outbox", None, id="localhost-outbox"),
        pytest.param("0.0.0.0", {}, "console", None, id="lan-console-only"),  # noqa: S104
        pytest.param(
            "127.0.0.1", {"smtp": "127.0.0.1:2525"}, "smtp 127.0.0.1:2525", "none", id="smtp-local"
        ),
        pytest.param(
            "127.0.0.1",
            {"smtp": "mail.example.com:587"},
            "smtp mail.example.com:587",
            "starttls",
            id="smtp-remote-starttls",
        ),
        pytest.param(
            "127.0.0.1",
            {"smtp": "mail.example.com:465", "smtp_security": "tls"},
            "smtp mail.example.com:465",
            "tls",
            id="smtp-remote-tls",
        ),
    ],
)
def test_where_the_demo_mail_goes(
    host: str, options: dict[str, Any], via: str, security: str | None
) -> None:
    """Without ``--smtp`` mail goes to the outbox on a loopback host only (on another host the
    outbox would hand anyone every link); an SMTP server on this machine is spoken to in plain
    text, any other with STARTTLS unless told otherwise."""
    mail = demo_mail(host, 8000, **options)
    assert mail.via == via
    assert (mail.outbox is not None) is (via == "outbox")
    assert mail.recovery.links["reset"] == page_url(host, 8000) + "?reset={token}"
    assert getattr(mail.recovery.mailer, "security", None) == security


@pytest.mark.parametrize(
    ("host", "url"),
    [
        pytest.param("127.0.0.1", "http://127.0.0.1:8000/", id="ipv4"),
        pytest.param("::1", "http://[::1]:8000/", id="ipv6"),
        pytest.param("localhost", "http://localhost:8000/", id="name"),
    ],
)
def test_page_url(host: str, url: str) -> None:
    """The links' page is the configured host and port (an IPv6 address bracketed)."""
    assert page_url(host, 8000) == url


def test_a_login_in_clear_to_a_remote_server_is_refused() -> None:
    """``--smtp-user`` with ``--smtp-security none`` to another machine: refused at start-up."""
    with pytest.raises(ConfigurationError, match="in clear"):
        demo_mail(
            "127.0.0.1",
            8000,
            smtp="mail.example.com:25",
            smtp_security="none",
            smtp_user="demo",
            smtp_password="pw",
        )


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["--smtp-security", "tls"], id="security"),
        pytest.param(["--smtp-user", "demo"], id="user"),
        pytest.param(["--smtp", "not a host:port"], id="bad-address"),
        pytest.param(
            ["--smtp", "mail.example.com:25", "--smtp-security", "none", "--smtp-user", "demo"],
            id="login-in-clear",  # refused before the password is asked for
        ),
    ],
)
def test_bad_smtp_options_exit_2(tmp_path: Path, flags: list[str]) -> None:
    """SMTP options without ``--smtp``, or a bad ``--smtp``: exit 2 with one message."""
    proc = subprocess.run(
        [sys.executable, "-m", "jwe_gate", "demo", "--port", "1", *flags],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr
