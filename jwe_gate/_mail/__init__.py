"""Mail for account recovery (SPEC §Account recovery): the message, the mailer protocols (sync
and async), and the mailers that ship with the package."""

from .message import AsyncMailer, Mail, Mailer

__all__ = ["AsyncMailer", "Mail", "Mailer"]
