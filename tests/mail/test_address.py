"""Header injection: a recipient or subject that would add a header or a recipient is refused
by every mailer before anything is sent, and EmailMessage itself refuses line breaks too."""

from __future__ import annotations

import io
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from support.smtp import SMTPServer

from jwe_gate import ConsoleMailer, Mail, MailError, OutboxMailer, SMTPMailer
from jwe_gate._mail.address import mailbox

SENDER = "no-reply@example.com"

injections = pytest.mark.parametrize(
    "mail",
    [
        pytest.param(Mail("ann@example.com", "Hi\r\nBcc: eve@evil.test", "x"), id="subject-crlf"),
        pytest.param(Mail("ann@example.com", "Hi\nBcc: eve@evil.test", "x"), id="subject-lf"),
        pytest.param(Mail("ann@example.com", "Hi\rX-Evil: 1", "x"), id="subject-cr"),
        pytest.param(Mail("ann@example.com", "Hi\x00", "x"), id="subject-nul"),
        pytest.param(Mail("ann@example.com\r\nBcc: eve@evil.test", "Hi", "x"), id="to-crlf"),
        pytest.param(Mail("ann@example.com\nCc: eve@evil.test", "Hi", "x"), id="to-lf"),
        pytest.param(Mail("ann@example.com, eve@evil.test", "Hi", "x"), id="to-two-addresses"),
        pytest.param(Mail("ann@example.com; eve@evil.test", "Hi", "x"), id="to-semicolon"),
        pytest.param(Mail("", "Hi", "x"), id="to-empty"),
        pytest.param(Mail("ann", "Hi", "x"), id="to-no-domain"),
        pytest.param(Mail("<ann@example.com>>", "Hi", "x"), id="to-stray-bracket"),
    ],
)


@injections
def test_smtp_mailer_refuses_before_connecting(smtp_server: SMTPServer, mail: Mail) -> None:
    """The SMTP mailer raises MailError and the server receives nothing."""
    mailer = SMTPMailer(smtp_server.host, SENDER, port=smtp_server.port, security="none")
    with pytest.raises(MailError, match="refused to send"):
        mailer.send(mail)
    assert smtp_server.received == []


@injections
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: ConsoleMailer(stream=io.StringIO()), id="console"),
        pytest.param(OutboxMailer, id="outbox"),
    ],
)
def test_local_mailers_refuse_the_same(
    make: Callable[[], ConsoleMailer | OutboxMailer], mail: Mail
) -> None:
    """The console and outbox mailers refuse exactly what SMTP refuses, keeping nothing."""
    mailer = make()
    with pytest.raises(MailError, match="refused to send"):
        mailer.send(mail)
    if isinstance(mailer, OutboxMailer):
        assert mailer.mails() == []
    else:
        assert isinstance(mailer.stream, io.StringIO)
        assert mailer.stream.getvalue() == ""


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Hi\r\nBcc: eve@evil.test", id="crlf"),
        pytest.param("Hi\nBcc: eve@evil.test", id="lf"),
        pytest.param("Hi\rBcc: eve@evil.test", id="cr"),
    ],
)
def test_email_message_refuses_line_breaks_itself(value: str) -> None:
    """The standard library's EmailMessage (default policy) also refuses CR or LF in a header
    value: the second wall behind the mailers' own check."""
    message = EmailMessage()
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        message["Subject"] = value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("ann@example.com", "ann@example.com", id="bare"),
        pytest.param("Ann <ann@example.com>", "ann@example.com", id="display-name"),
        pytest.param('"Ann, Ex" <ann@example.com>', "ann@example.com", id="quoted-comma-name"),
        pytest.param("ann@example.com, eve@evil.test", None, id="two"),
        pytest.param("ann@exa mple.com", None, id="space"),
        pytest.param("@example.com", None, id="no-local-part"),
    ],
)
def test_mailbox_reads_exactly_one_address(value: str, expected: str | None) -> None:
    """``mailbox`` gives the bare address of exactly one mailbox, else None."""
    assert mailbox(value) == expected
