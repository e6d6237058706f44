"""Mail for account recovery (SPEC §Account recovery): the message, the mailer protocols (sync
and async), and the mailers that ship with the package: SMTP, console and outbox."""

from .local import ConsoleMailer, OutboxMailer
from .message import AsyncMailer, Mail, Mailer
from .smtp import SMTPMailer, parse_smtp

__all__ = [
    "AsyncMailer",
    "ConsoleMailer",
    "Mail",
    "Mailer",
    "OutboxMailer",
    "SMTPMailer",
    "parse_smtp",
]
