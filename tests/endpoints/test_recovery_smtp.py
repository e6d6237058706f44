"""§Account recovery through real mail: an aiosmtpd submission server (STARTTLS, then a login)
started by the test receives the mails of ``SMTPMailer``; the tests read the links from them and
complete every flow through both adapters -- reset (then every old session refused), verify
(then a ``verified=True`` rule passes), magic-link login."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from support.clients import wrap
from support.recovery import NEW_PASSWORD, get, login, post, recovery_gate, signup
from support.results import RawClient
from support.smtp import PASSWORD as SMTP_PASSWORD
from support.smtp import USER, SMTPCerts, SMTPServer, free_port, running_smtp
from support.smtp import smtp_certs as smtp_certs  # the session fixture, used below

from jwe_gate import SMTPMailer
from jwe_gate._endpoints import later

LINK = re.compile(r"https://app\.example/(reset|verify|magic)\?token=([A-Za-z0-9_-]{43})")


@pytest.fixture
def server(smtp_certs: SMTPCerts) -> Iterator[SMTPServer]:
    with running_smtp("starttls", certs=smtp_certs, users={USER: SMTP_PASSWORD}) as running:
        yield running


@pytest.fixture
def client(server: SMTPServer, adapter: str) -> Iterator[RawClient]:
    mailer = SMTPMailer(
        server.host,
        "accounts@app.example",
        port=server.port,
        security="starttls",
        username=USER,
        password=SMTP_PASSWORD,
        ssl_context=server.client_context(),
        timeout=10,
    )
    gate = recovery_gate(mailer)
    yield wrap(gate, adapter)
    later.drain()
    gate.close()


def _link(server: SMTPServer, count: int, purpose: str) -> str:
    """The token of the link in mail number ``count`` (waiting for the mail after an answer)."""
    later.drain()
    mails = server.received
    assert len(mails) == count, [m.message["Subject"] for m in mails]
    mail = mails[-1]
    assert mail.tls
    assert mail.login == USER
    assert mail.recipients == ["zoe@x.com"]
    found = LINK.search(mail.part("plain"))
    assert found is not None
    assert found.group(1) == purpose
    assert found.group(0) in mail.part("html")
    return found.group(2)


def test_reset_verify_and_magic_through_a_real_mail_server(
    client: RawClient, server: SMTPServer
) -> None:
    """Each flow completes from the link in the mail the server received."""
    old = signup(client)
    # Verification: refused by the verified rule, then let through.
    assert get(client, "/api/verified/x", old["authToken"]).status == 403
    assert post(client, "/auth/verify/send", token=old["authToken"]).status == 202
    verified = post(client, "/auth/verify", {"token": _link(server, 1, "verify")})
    assert verified.status == 200
    assert verified.json["email_verified"] is True
    assert get(client, "/api/verified/x", old["authToken"]).status == 200
    # Reset: a new pair; every old session refused.
    assert post(client, "/auth/password/forgot", {"email": "zoe@x.com"}).status == 202
    token = _link(server, 2, "reset")
    reset = post(client, "/auth/password/reset", {"token": token, "newPassword": NEW_PASSWORD})
    assert reset.status == 200
    assert get(client, "/auth/me", old["authToken"]).status == 401
    assert post(client, "/auth/refresh", {"refreshToken": old["refreshToken"]}).status == 401
    assert login(client, password=NEW_PASSWORD).status == 200
    # Magic link: a working pair, once.
    assert post(client, "/auth/magic", {"email": "zoe@x.com"}).status == 202
    magic = _link(server, 3, "magic")
    signed = post(client, "/auth/magic/login", {"token": magic})
    assert signed.status == 200
    assert get(client, "/auth/me", signed.json["authToken"]).status == 200
    assert post(client, "/auth/magic/login", {"token": magic}).status == 400
    # An unknown email: the same answer, and no mail.
    assert post(client, "/auth/magic", {"email": "nobody@x.com"}).status == 202
    later.drain()
    assert len(server.received) == 3


def test_an_unreachable_mail_server(adapter: str) -> None:
    """SMTPMailer to a port nobody listens on: verify/send is a 503 with Retry-After; forgot
    still answers 202 (the failure is logged)."""
    mailer = SMTPMailer("127.0.0.1", "a@app.example", port=free_port(), security="none", timeout=2)
    gate = recovery_gate(mailer)
    client = wrap(gate, adapter)
    try:
        tokens = signup(client)
        res = post(client, "/auth/verify/send", token=tokens["authToken"])
        assert res.status == 503
        assert res.json["code"] == "ERROR_FATAL"
        assert res.header("retry-after")
        assert post(client, "/auth/password/forgot", {"email": "zoe@x.com"}).status == 202
    finally:
        later.drain()
        gate.close()
