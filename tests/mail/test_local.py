"""The development mailers: the console prints each mail readably, the outbox keeps the last ones
in memory, newest first, bounded and thread-safe."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

import pytest

from jwe_gate import ConfigurationError, ConsoleMailer, Mail, OutboxMailer

LINK = "https://app.example.com/verify?token=abc123&table=user"
MAIL = Mail("ann@example.com", "Verify your email", f"Open {LINK}\n", f'<a href="{LINK}">x</a>')


def numbered(i: int, to: str = "ann@example.com") -> Mail:
    return Mail(to, f"mail {i}", f"body {i}")


# -- console -----------------------------------------------------------------------------------


def test_console_prints_headers_text_and_html() -> None:
    """The console writes the recipient, subject, text and HTML, the link left clickable (not
    quoted-printable)."""
    stream = io.StringIO()
    ConsoleMailer(stream=stream).send(MAIL)
    out = stream.getvalue()
    assert "To: ann@example.com\nSubject: Verify your email\n" in out
    assert f"Open {LINK}" in out
    assert f'<a href="{LINK}">x</a>' in out
    assert out.startswith("---- mail ----\n")
    assert out.endswith("---- end of mail ----\n")


def test_console_writes_to_standard_error_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, the mail goes to standard error (standard output stays the app's)."""
    asyncio.run(ConsoleMailer().asend(MAIL))
    captured = capsys.readouterr()
    assert LINK in captured.err
    assert captured.out == ""


def test_console_logs_when_given_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    """With a logger, each mail is one INFO record holding the whole mail."""
    logger = logging.getLogger("tests.mail.console")
    with caplog.at_level(logging.INFO, logger="tests.mail.console"):
        ConsoleMailer(logger=logger).send(MAIL)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert LINK in record.getMessage()


def test_console_refuses_both_stream_and_logger() -> None:
    """A stream and a logger at once is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="not both"):
        ConsoleMailer(stream=io.StringIO(), logger=logging.getLogger("x"))


# -- outbox ------------------------------------------------------------------------------------


def test_outbox_lists_newest_first() -> None:
    """``mails()`` gives the kept mails newest first, on both sides."""
    outbox = OutboxMailer()
    outbox.send(numbered(1))
    asyncio.run(outbox.asend(numbered(2)))
    outbox.send(numbered(3))
    assert [m.subject for m in outbox.mails()] == ["mail 3", "mail 2", "mail 1"]
    assert len(outbox) == 3


def test_outbox_filters_by_recipient() -> None:
    """``mails(to=...)`` gives only that recipient's mails, newest first."""
    outbox = OutboxMailer()
    outbox.send(numbered(1, "ann@example.com"))
    outbox.send(numbered(2, "bob@example.com"))
    outbox.send(numbered(3, "ann@example.com"))
    assert [m.subject for m in outbox.mails(to="ann@example.com")] == ["mail 3", "mail 1"]


def test_outbox_is_bounded() -> None:
    """Past ``limit`` the oldest mails are dropped: memory stays bounded."""
    outbox = OutboxMailer(limit=3)
    for i in range(10):
        outbox.send(numbered(i))
    assert [m.subject for m in outbox.mails()] == ["mail 9", "mail 8", "mail 7"]


def test_outbox_clear_forgets_everything() -> None:
    """``clear()`` empties the outbox."""
    outbox = OutboxMailer()
    outbox.send(MAIL)
    outbox.clear()
    assert outbox.mails() == []
    assert len(outbox) == 0


def test_outbox_keeps_every_mail_sent_from_many_threads() -> None:
    """Mails sent from many threads at once are all kept, none lost or doubled."""
    outbox = OutboxMailer(limit=1000)
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait()
        for i in range(50):
            outbox.send(numbered(n * 100 + i))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    subjects = [m.subject for m in outbox.mails()]
    assert len(subjects) == 400
    assert len(set(subjects)) == 400


@pytest.mark.parametrize(
    "limit",
    [pytest.param(0, id="zero"), pytest.param(-1, id="negative"), pytest.param(True, id="bool")],
)
def test_outbox_limit_must_be_positive(limit: int) -> None:
    """A limit below 1 (or not an int) is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="limit"):
        OutboxMailer(limit=limit)
