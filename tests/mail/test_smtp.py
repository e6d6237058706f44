"""The SMTP mailer against real SMTP servers (aiosmtpd on free ports): what arrives, over which
security, with which login, and how every failure becomes one ``MailError``."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from support.smtp import PASSWORD, USER, SMTPCerts, SMTPServer, free_port, running_smtp

from jwe_gate import (
    AsyncMailer,
    ConfigurationError,
    ConsoleMailer,
    Mail,
    Mailer,
    MailError,
    OutboxMailer,
    SMTPMailer,
)
from jwe_gate._mail import parse_smtp

SENDER = "Example App <no-reply@example.com>"
MAIL = Mail(
    to="Ann Example <ann@example.com>",
    subject="Réinitialiser le mot de passe",
    text="Reset it here: https://app.example.com/reset?token=abc123&x=1\n",
    html='<p>Reset it <a href="https://app.example.com/reset?token=abc123&amp;x=1">here</a>.</p>\n',
)


def send(mailer: SMTPMailer, mail: Mail, side: str) -> None:
    """``mailer.send(mail)``, or ``asend`` on a fresh event loop."""
    if side == "sync":
        mailer.send(mail)
    else:
        asyncio.run(mailer.asend(mail))


sides = pytest.mark.parametrize(
    "side", [pytest.param("sync", id="send"), pytest.param("async", id="asend")]
)


def mailer_for(server: SMTPServer, **kwargs: Any) -> SMTPMailer:
    """A mailer for ``server``: its port and security, trusting its certificate, logging in
    when it has users."""
    if server.security != "none":
        kwargs.setdefault("ssl_context", server.client_context())
        kwargs.setdefault("username", USER)
        kwargs.setdefault("password", PASSWORD)
    return SMTPMailer(
        server.host, SENDER, port=server.port, security=server.security, timeout=10, **kwargs
    )


@pytest.fixture(
    params=[
        pytest.param("none", id="plain"),
        pytest.param("starttls", id="starttls-login"),
        pytest.param("tls", id="implicit-tls-login"),
    ]
)
def any_server(request: pytest.FixtureRequest, smtp_certs: SMTPCerts) -> Iterator[SMTPServer]:
    """Each kind of server: a plain relay, STARTTLS with login, implicit TLS with login."""
    security = request.param
    users = None if security == "none" else {USER: PASSWORD}
    with running_smtp(security, certs=smtp_certs, users=users) as server:
        yield server


# -- what arrives ------------------------------------------------------------------------------


@sides
def test_text_and_html_arrive_as_alternatives(any_server: SMTPServer, side: str) -> None:
    """A mail with text and HTML arrives as multipart/alternative, both parts intact, with the
    headers and envelope the mailer was given, over TLS and logged in where the server asks."""
    send(mailer_for(any_server), MAIL, side)
    [got] = any_server.received
    assert got.sender == "no-reply@example.com"
    assert got.recipients == ["ann@example.com"]
    assert got.message.get_content_type() == "multipart/alternative"
    assert got.message["From"] == SENDER
    assert got.message["To"] == "Ann Example <ann@example.com>"
    assert got.message["Subject"] == MAIL.subject
    assert got.message["Date"]
    assert got.message["Message-ID"].endswith("@example.com>")
    assert got.part("plain") == MAIL.text
    assert got.part("html") == MAIL.html
    assert got.tls is (any_server.security != "none")
    assert got.login == (None if any_server.security == "none" else USER)


def test_text_only_mail_is_one_plain_part(smtp_server: SMTPServer) -> None:
    """A mail without HTML arrives as a single text/plain part."""
    mailer_for(smtp_server).send(Mail("bob@example.com", "Hello", "Just text.\n"))
    [got] = smtp_server.received
    assert got.message.get_content_type() == "text/plain"
    assert got.part("plain") == "Just text.\n"


def test_each_mail_is_its_own_delivery(smtp_server: SMTPServer) -> None:
    """Two mails to two recipients arrive as two deliveries, each to its own recipient only."""
    mailer = mailer_for(smtp_server)
    mailer.send(Mail("a@example.com", "One", "1"))
    mailer.send(Mail("b@example.com", "Two", "2"))
    assert [r.recipients for r in smtp_server.received] == [["a@example.com"], ["b@example.com"]]


# -- failures: one MailError, a safe message ---------------------------------------------------


@sides
def test_refused_recipient_is_a_mail_error(smtp_server: SMTPServer, side: str) -> None:
    """A recipient the server refuses (550) raises MailError carrying the code."""
    smtp_server.collector.refuse.add("ghost@example.com")
    with pytest.raises(MailError, match="refused the recipient") as caught:
        send(mailer_for(smtp_server), Mail("ghost@example.com", "Hi", "text"), side)
    assert caught.value.code == 550
    assert smtp_server.received == []


@sides
def test_nothing_listening_is_a_mail_error(side: str) -> None:
    """A port nobody listens on raises MailError saying the server cannot be reached."""
    mailer = SMTPMailer("127.0.0.1", SENDER, port=free_port(), security="none")
    with pytest.raises(MailError, match="cannot reach the mail server") as caught:
        send(mailer, MAIL, side)
    assert caught.value.code is None


def test_silent_server_is_a_timeout() -> None:
    """A server that accepts the connection but never greets raises MailError (timed out)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # never accepted: the greeting never comes
        port = listener.getsockname()[1]
        mailer = SMTPMailer("127.0.0.1", SENDER, port=port, security="none", timeout=0.3)
        with pytest.raises(MailError, match="timed out"):
            mailer.send(MAIL)


def test_wrong_password_is_refused_without_showing_it(smtp_starttls_server: SMTPServer) -> None:
    """A login the server refuses (535) raises MailError whose message and repr never hold the
    password."""
    wrong = "not-the-Password-7"
    mailer = mailer_for(smtp_starttls_server, password=wrong)
    with pytest.raises(MailError, match="refused the login") as caught:
        mailer.send(MAIL)
    assert caught.value.code == 535
    assert wrong not in str(caught.value)
    assert wrong not in repr(mailer)
    assert smtp_starttls_server.received == []


@pytest.mark.parametrize(
    "security",
    [pytest.param("starttls", id="starttls"), pytest.param("tls", id="implicit-tls")],
)
def test_untrusted_certificate_is_a_tls_error(
    smtp_certs: SMTPCerts, security: Literal["starttls", "tls"]
) -> None:
    """With the default context, the test authority's certificate is not trusted: MailError,
    and no mail (nor password) crosses."""
    with running_smtp(security, certs=smtp_certs, users={USER: PASSWORD}) as server:
        mailer = mailer_for(server, ssl_context=ssl.create_default_context())
        with pytest.raises(MailError, match=r"TLS with the mail server .* failed"):
            mailer.send(MAIL)
        assert server.received == []


def test_starttls_missing_is_never_downgraded(smtp_server: SMTPServer) -> None:
    """``security="starttls"`` against a server without STARTTLS raises MailError rather than
    sending in clear."""
    mailer = SMTPMailer(smtp_server.host, SENDER, port=smtp_server.port, security="starttls")
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        mailer.send(MAIL)
    assert smtp_server.received == []


def test_plain_client_on_a_starttls_server_is_refused(smtp_starttls_server: SMTPServer) -> None:
    """A plain client where the server demands STARTTLS gets MailError (530), nothing sent."""
    mailer = SMTPMailer(
        smtp_starttls_server.host, SENDER, port=smtp_starttls_server.port, security="none"
    )
    with pytest.raises(MailError) as caught:
        mailer.send(MAIL)
    assert caught.value.code == 530
    assert smtp_starttls_server.received == []


def test_implicit_tls_against_a_plain_server_fails_cleanly(smtp_server: SMTPServer) -> None:
    """``security="tls"`` against a plain server is a TLS MailError, not a hang or a crash."""
    mailer = SMTPMailer(smtp_server.host, SENDER, port=smtp_server.port, security="tls")
    with pytest.raises(MailError, match="TLS"):
        mailer.send(MAIL)


# -- login only over TLS -----------------------------------------------------------------------


def test_login_without_tls_is_refused_at_construction() -> None:
    """Username and password with ``security="none"`` are refused when the mailer is built."""
    with pytest.raises(ConfigurationError, match="in clear"):
        SMTPMailer("127.0.0.1", SENDER, security="none", username=USER, password=PASSWORD)


def test_login_without_tls_works_when_explicitly_allowed() -> None:
    """``allow_insecure_login=True`` logs in over plain SMTP (a relay on this host)."""
    with running_smtp("none", users={USER: PASSWORD}) as server:
        mailer = SMTPMailer(
            server.host,
            SENDER,
            port=server.port,
            security="none",
            username=USER,
            password=PASSWORD,
            allow_insecure_login=True,
        )
        mailer.send(MAIL)
        [got] = server.received
    assert got.login == USER
    assert got.tls is False


# -- configuration, validated once -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        pytest.param({"host": ""}, "host", id="empty-host"),
        pytest.param({"host": "smtp.example.com\r\nX"}, "host", id="host-with-crlf"),
        pytest.param({"security": "ssl"}, "security", id="unknown-security"),
        pytest.param({"port": 70000}, "port", id="port-too-big"),
        pytest.param({"port": -1}, "port", id="negative-port"),
        pytest.param({"port": "25"}, "port", id="port-as-text"),
        pytest.param({"port": False}, "port", id="port-as-bool"),
        pytest.param({"sender": "not an address"}, "sender", id="sender-no-at"),
        pytest.param({"sender": "a@example.com, b@example.com"}, "sender", id="two-senders"),
        pytest.param({"sender": "a@example.com\r\nBcc: x@evil.test"}, "sender", id="sender-crlf"),
        pytest.param({"username": "u"}, "both", id="username-only"),
        pytest.param({"password": "p"}, "both", id="password-only"),
        pytest.param({"timeout": 0}, "timeout", id="zero-timeout"),
        pytest.param({"timeout": True}, "timeout", id="bool-timeout"),
        pytest.param({"ssl_context": "yes"}, "ssl_context", id="context-not-a-context"),
        pytest.param({"local_hostname": "a\nb"}, "local_hostname", id="ehlo-name-with-lf"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any], fragment: str) -> None:
    """Each wrong value is a ConfigurationError naming it, raised when the mailer is built."""
    settings: dict[str, Any] = {"host": "smtp.example.com", "sender": SENDER}
    settings.update(kwargs)
    with pytest.raises(ConfigurationError, match=fragment):
        SMTPMailer(**settings)


@pytest.mark.parametrize(
    ("security", "port"),
    [
        pytest.param("none", 25, id="none-25"),
        pytest.param("starttls", 587, id="starttls-587"),
        pytest.param("tls", 465, id="tls-465"),
    ],
)
def test_default_port_follows_security(security: Any, port: int) -> None:
    """Without a port the mailer uses the security's usual one."""
    assert SMTPMailer("smtp.example.com", SENDER, security=security).port == port


def test_defaults_are_starttls_and_a_verifying_context() -> None:
    """By default: STARTTLS on 587, a context verifying certificate and host name."""
    mailer = SMTPMailer("smtp.example.com", SENDER)
    assert (mailer.security, mailer.port) == ("starttls", 587)
    assert mailer.ssl_context is not None
    assert mailer.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert mailer.ssl_context.check_hostname is True


def test_mailers_follow_the_protocols() -> None:
    """The three mailers are both Mailer and AsyncMailer; only SMTP says it blocks."""
    mailers: list[SMTPMailer | ConsoleMailer | OutboxMailer] = [
        SMTPMailer("smtp.example.com", SENDER),
        ConsoleMailer(),
        OutboxMailer(),
    ]
    assert all(isinstance(m, Mailer) and isinstance(m, AsyncMailer) for m in mailers)
    assert [type(m).inline for m in mailers] == [False, True, True]


# -- --smtp HOST:PORT --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("smtp.example.com:587", ("smtp.example.com", 587), id="name-port"),
        pytest.param("127.0.0.1:2525", ("127.0.0.1", 2525), id="ipv4-port"),
        pytest.param("[::1]:25", ("::1", 25), id="ipv6-port"),
        pytest.param("smtp.example.com", ("smtp.example.com", None), id="no-port"),
        pytest.param(" mail.local:25 ", ("mail.local", 25), id="spaces-trimmed"),
    ],
)
def test_parse_smtp_reads_host_and_port(text: str, expected: tuple[str, int | None]) -> None:
    """``--smtp`` values give the host and the port (None when left out)."""
    assert parse_smtp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(":25", id="no-host"),
        pytest.param("host:", id="empty-port"),
        pytest.param("host:smtp", id="port-not-a-number"),
        pytest.param("host:0", id="port-zero"),
        pytest.param("host:65536", id="port-too-big"),
        pytest.param("::1:25", id="ipv6-without-brackets"),
        pytest.param("a b:25", id="space-in-host"),
    ],
)
def test_parse_smtp_refuses_what_is_not_host_port(text: str) -> None:
    """Anything else is a ConfigurationError saying what is expected."""
    with pytest.raises(ConfigurationError, match=r"HOST:PORT|port"):
        parse_smtp(text)
