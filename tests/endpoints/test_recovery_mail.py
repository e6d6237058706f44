"""§Account recovery's mail: no enumeration (status, body and time alike for unknown emails),
the mail throttle, a failing mail server, links from the configured template only, the mail
templates (HTML escaped), which endpoints are served, and the cookie transport."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from typing import Any

import pytest
from support.clients import wrap
from support.mailbox import AsyncMailbox, DownMailer, Mailbox
from support.recovery import links, mailed_token, post, recovery_gate, signup

from jwe_gate import (
    ConfigurationError,
    Cookies,
    Gate,
    KeyRing,
    MailTemplate,
    MemoryBackend,
    Recovery,
    Table,
)
from jwe_gate._endpoints import later
from jwe_gate._endpoints.registry import AuthRoutes

# -- no enumeration --------------------------------------------------------------------------


async def _timed_asgi(app: Any, email: str) -> tuple[int, bytes, float]:
    """POST forgot through the ASGI app: status, body, and the seconds until the response's
    last body message was sent (the client has its answer then; the mail comes after)."""
    body = json.dumps({"email": email}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/auth/password/forgot",
        "raw_path": b"/auth/password/forgot",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    sent: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")
            if not message.get("more_body", False):
                sent["at"] = time.perf_counter()

    start = time.perf_counter()
    await app(scope, receive, send)
    return sent["status"], sent["body"], sent["at"] - start


class SlowMailbox(Mailbox):
    """A mail server that takes 50 ms a mail: were the mail sent before the answer, a known
    email's answer would be 50 ms slower."""

    inline = False

    def send(self, mail: Any) -> None:
        time.sleep(0.05)
        super().send(mail)


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_forgot_answers_known_and_unknown_emails_alike(adapter: str) -> None:
    """Known and unknown emails get the same status and body, and medians of the answer time
    within a generous factor of each other (the lookup and the mail come after the answer)."""
    box = SlowMailbox()
    gate = recovery_gate(box, recovery={"mail_per_account": 1000, "mail_per_address": 1000})
    wsgi = wrap(gate, "wsgi")
    signup(wsgi)
    app = gate.asgi(lambda *a: None)  # type: ignore[arg-type]
    times: dict[str, list[float]] = {"zoe@x.com": [], "nobody@x.com": []}
    answers: set[tuple[int, bytes]] = set()
    for _ in range(25):
        for email in times:  # interleaved: drift hits both alike
            if adapter == "asgi":
                status, body, took = asyncio.run(_timed_asgi(app, email))
            else:
                start = time.perf_counter()
                res = post(wsgi, "/auth/password/forgot", {"email": email})
                status, body, took = res.status, res.body, time.perf_counter() - start
            answers.add((status, body))
            times[email].append(took)
    assert later.drain(30)
    assert len(answers) == 1
    assert next(iter(answers))[0] == 202
    known, unknown = (statistics.median(t) for t in times.values())
    # 25 mails of 50 ms each went out, none of them inside an answer: were the mail sent
    # before answering, a known email's median would be 50 ms over an unknown one's.
    assert len(box.mails) == 25
    assert known < 3 * unknown + 0.005
    assert unknown < 3 * known + 0.005


# -- the mail throttle -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/password/forgot", "/auth/magic"])
def test_mail_requests_per_email_are_throttled_alike_for_unknown_emails(
    adapter: str, path: str
) -> None:
    """Past mail_per_account requests for one email, 429 with Retry-After, whether or not the
    email has an account (a refusal reveals nothing)."""
    box = Mailbox()
    client = wrap(recovery_gate(box, recovery={"mail_per_account": 2}), adapter)
    signup(client)
    for email in ("zoe@x.com", "nobody@x.com"):
        assert [post(client, path, {"email": email}).status for _ in range(2)] == [202, 202]
        refused = post(client, path, {"email": email})
        assert refused.status == 429
        assert refused.json["code"] == "ERROR_CODE_TOO_MANY_REQUESTS"
        assert 1 <= int(refused.header("retry-after") or 0) <= 3600
    assert later.drain()
    assert len(box.mails) == 2


def test_mail_requests_per_address_are_throttled(adapter: str) -> None:
    """One client address may ask for mail_per_address mails an hour, whatever the emails."""
    client = wrap(recovery_gate(Mailbox(), recovery={"mail_per_address": 3}), adapter)
    statuses = [
        post(client, "/auth/magic", {"email": f"u{i}@x.com"}, addr="10.0.0.1").status
        for i in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    assert post(client, "/auth/magic", {"email": "u9@x.com"}, addr="10.0.0.2").status == 202


def test_verify_send_is_throttled_per_account(adapter: str) -> None:
    """verify/send counts against the record's email too."""
    client = wrap(recovery_gate(Mailbox(), recovery={"mail_per_account": 1}), adapter)
    access = signup(client)["authToken"]
    assert post(client, "/auth/verify/send", token=access).status == 202
    assert post(client, "/auth/verify/send", token=access).status == 429


# -- a failing mail server -------------------------------------------------------------------


def test_a_failing_mail_server_is_a_503_for_verify_send(adapter: str) -> None:
    """verify/send through a mail server that is down: 503 ERROR_FATAL with Retry-After."""
    client = wrap(recovery_gate(DownMailer()), adapter)
    res = post(client, "/auth/verify/send", token=signup(client)["authToken"])
    assert res.status == 503
    assert res.json["code"] == "ERROR_FATAL"
    assert res.header("retry-after")
    assert "mail server down" not in res.body.decode()


@pytest.mark.parametrize("path", ["/auth/password/forgot", "/auth/magic"])
def test_a_failing_mail_server_is_logged_not_answered(
    adapter: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """forgot and magic still answer 202 when the mail server is down; the failure is logged."""
    mailer = DownMailer()
    client = wrap(recovery_gate(mailer), adapter)
    signup(client)
    with caplog.at_level(logging.ERROR, logger="jwe_gate"):
        res = post(client, path, {"email": "zoe@x.com"})
        assert later.drain()
    assert res.status == 202
    assert mailer.tries == 1
    assert any("failed after its answer" in r.getMessage() for r in caplog.records)


# -- links and templates ---------------------------------------------------------------------


def test_links_never_come_from_the_host_header(adapter: str) -> None:
    """A forged Host (and X-Forwarded-Host) never reaches the link: the configured page does."""
    box = Mailbox()
    client = wrap(recovery_gate(box), adapter)
    signup(client)
    forged = [("Host", "evil.example"), ("X-Forwarded-Host", "evil.example")]
    assert post(client, "/auth/password/forgot", {"email": "zoe@x.com"}, headers=forged).status
    mail = box.wait(1)[0]
    assert "evil.example" not in mail.text
    assert "https://app.example/reset?token=" in mail.text


def test_html_mail_escapes_the_name(adapter: str) -> None:
    """A name with markup arrives as text in the HTML part (escaped), as typed in the text one;
    a custom template replaces the default."""
    box = Mailbox()
    template = MailTemplate("Sign in, $name", "Go: $link", "<p>$name</p><a href='$link'>go</a>")
    gate = recovery_gate(box, recovery={"templates": {"magic": template}})
    client = wrap(gate, adapter)
    signup(client, name='<script>alert("x")</script>\r\nBcc: a@b')
    mailed_token(client, box, "/auth/magic")
    mail = box.mails[-1]
    assert mail.html is not None
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in mail.html
    assert "\n" not in mail.subject
    assert "\r" not in mail.subject
    assert mail.text.startswith("Go: https://app.example/magic?token=")


def test_an_async_only_mailer_is_used_from_both_adapters(adapter: str) -> None:
    """A mailer with only asend works under WSGI too (through the background loop)."""
    box = AsyncMailbox()
    client = wrap(recovery_gate(box), adapter)
    access = signup(client)["authToken"]
    assert post(client, "/auth/verify/send", token=access).status == 202
    assert post(client, "/auth/verify", {"token": box.token()}).status == 200


# -- what is served --------------------------------------------------------------------------


def test_a_purpose_without_a_link_is_not_served(adapter: str) -> None:
    """With only reset_url, magic and verify are not the gate's: the path goes to the app
    under its rules (the default: a token required), and OpenAPI leaves them out."""
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend(), recovery=Recovery(Mailbox(), reset_url=URL))],
        auth_routes={"/auth": "user"},
    )
    client = wrap(gate, adapter)
    assert post(client, "/auth/magic", {"email": "a@b.c"}).status == 401
    assert post(client, "/auth/password/forgot", {"email": "a@b.c"}).status == 202
    paths = set(gate.openapi()["paths"])
    assert "/auth/password/forgot" in paths
    assert "/auth/password/reset" in paths
    assert not {"/auth/magic", "/auth/magic/login", "/auth/verify", "/auth/verify/send"} & paths


URL = "https://app.example/p?t={token}"
RECOVERY = Recovery(Mailbox(), **links())


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        pytest.param(lambda: Recovery(Mailbox()), "reset_url", id="no-link"),
        pytest.param(lambda: Recovery(object(), reset_url=URL), "mailer", id="no-send"),
        pytest.param(
            lambda: Recovery(Mailbox(), reset_url="/reset?t={token}"), "absolute", id="rel"
        ),
        pytest.param(
            lambda: Recovery(Mailbox(), reset_url="javascript:x({token})"), "absolute", id="js"
        ),
        pytest.param(lambda: Recovery(Mailbox(), reset_url="https://a/"), "{token}", id="no-slot"),
        pytest.param(
            lambda: Recovery(Mailbox(), reset_url=URL, reset_ttl=0), "reset_ttl", id="ttl"
        ),
        pytest.param(
            lambda: Recovery(Mailbox(), reset_url=URL, mail_per_account=True),
            "mail_per_account",
            id="limit-bool",
        ),
        pytest.param(
            lambda: Recovery(
                Mailbox(), reset_url=URL, templates={"other": MailTemplate("s", "$link")}
            ),
            "unknown purposes",
            id="template-purpose",
        ),
        pytest.param(lambda: MailTemplate("s", "no link here"), "$link", id="template-no-link"),
        pytest.param(lambda: MailTemplate("$nmae", "$link"), "placeholder", id="template-typo"),
        pytest.param(
            lambda: Table("user", MemoryBackend(), login_field="username", recovery=RECOVERY),
            "email",
            id="username-table",
        ),
        pytest.param(
            lambda: Gate(
                keys=KeyRing.generate(),
                tables=[Table("user", MemoryBackend())],
                auth_routes={"/auth": AuthRoutes("user", frozenset({"login", "magic"}))},
            ),
            "need",
            id="asked-without-recovery",
        ),
    ],
)
def test_recovery_settings_are_checked_when_built(build: Any, needle: str) -> None:
    """A wrong Recovery, template or route set is a ConfigurationError at start-up."""
    with pytest.raises(ConfigurationError, match=needle.replace("$", r"\$").replace("{", r"\{")):
        build()


# -- cookies ---------------------------------------------------------------------------------


def test_reset_and_magic_login_set_the_cookies_in_cookie_mode(adapter: str) -> None:
    """The token answers of reset and magic/login go through the transport: cookies are set,
    with the refresh cookie's path at the auth prefix."""
    box = Mailbox()
    client = wrap(recovery_gate(box, cookies=Cookies(secure=False)), adapter)
    signup(client)
    for path, spend in (("/auth/magic", "/auth/magic/login"), ("/auth/password/forgot", None)):
        token = mailed_token(client, box, path)
        target = spend or "/auth/password/reset"
        res = post(client, target, {"token": token, "newPassword": "battery staple 2"})
        assert res.status == 200
        assert "csrfToken" in res.json
        cookies = [v for k, v in res.headers if k.lower() == "set-cookie"]
        assert any(c.startswith("jwe_access_user=") for c in cookies)
        assert any(c.startswith("jwe_refresh_user=") and "Path=/auth;" in c for c in cookies)


@pytest.mark.parametrize("spend", ["/auth/magic/login", "/auth/password/reset"])
def test_a_cross_site_form_cannot_spend_a_link_in_cookie_mode(adapter: str, spend: str) -> None:
    """Login CSRF: another site's text/plain form posting its owner's token is refused (403),
    the token unspent; the same token as JSON from the page's own origin works."""
    box = Mailbox()
    client = wrap(recovery_gate(box, cookies=Cookies(secure=False)), adapter)
    signup(client)
    path = "/auth/magic" if "magic" in spend else "/auth/password/forgot"
    token = mailed_token(client, box, path)
    body = json.dumps({"token": token, "newPassword": "battery staple 2"}).encode()
    form = [("Content-Type", "text/plain"), ("Origin", "https://evil.example")]
    res = client("POST", spend, form, body=body)
    assert res.status == 403
    assert res.json["code"] == "ERROR_CODE_ACCESS_DENIED"
    ok = post(client, spend, {"token": token, "newPassword": "battery staple 2"})
    assert ok.status == 200
