"""Checks every mailer makes before a mail leaves: one recipient, headers without line breaks.

A header value holding CR or LF would end that header and start another (``Bcc:``, a second
``To:``, a forged body): the classic header injection. ``email.message.EmailMessage`` refuses
such values too, but the check is made here first, for every mailer, so the console and the
outbox refuse exactly what SMTP refuses and a development setup shows the bug.
"""

from __future__ import annotations

import re
from email.utils import getaddresses

from ..exceptions import ConfigurationError, MailError
from .message import Mail

__all__ = ["check_mail", "mailbox", "sender_address"]

_ADDR = re.compile(r"[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+")
"""A bare address ``local@domain``: no spaces, brackets, quotes or separators, so it stands
for exactly one mailbox in the ``RCPT TO`` and ``MAIL FROM`` commands."""
_BREAKS = re.compile(r"[\r\n\x00]")


def mailbox(value: str) -> str | None:
    """The bare address of ``value`` (``ann@example.com`` or ``Ann <ann@example.com>``), or
    None when it is not exactly one well-formed address."""
    if not isinstance(value, str) or _BREAKS.search(value):
        return None
    found = getaddresses([value])
    if len(found) != 1:  # "a@x, b@y" would mail a second, unintended recipient
        return None
    addr = found[0][1]
    # The parser mends some input ("ann@exa mple.com" -> "ann@example.com"): only an address
    # written out as it will be used is taken, never one the parser made up.
    return addr if _ADDR.fullmatch(addr) and addr in value else None


def sender_address(value: str) -> str:
    """The bare address of a configured sender; ``ConfigurationError`` when it is not one."""
    addr = mailbox(value)
    if addr is None:
        raise ConfigurationError(
            f"sender must be one mail address such as 'App <no-reply@example.com>', not {value!r}"
        )
    return addr


def check_mail(mail: Mail) -> str:
    """The recipient's bare address, after refusing (``MailError``) a mail whose recipient is
    not exactly one address or whose headers hold a line break."""
    if not isinstance(mail.subject, str) or _BREAKS.search(mail.subject):
        # A line break in the subject would start a header of the caller's choosing.
        raise MailError("refused to send: the subject holds a line break (header injection)")
    addr = mailbox(mail.to)
    if addr is None:
        raise MailError("refused to send: the recipient is not exactly one mail address")
    return addr
