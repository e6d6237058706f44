"""Mailers for development and tests: one prints each mail, one keeps the last ones in memory.

Both refuse what the SMTP mailer refuses (a recipient that is not one address, a line break in
a header), so a bug shows in development, not first in production.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar, TextIO

from ..exceptions import ConfigurationError
from .address import check_mail
from .message import Mail

__all__ = ["ConsoleMailer", "OutboxMailer"]


def render(mail: Mail) -> str:
    """``mail`` as a person reads it: the headers, the plain text, and the HTML if any."""
    lines = [f"To: {mail.to}", f"Subject: {mail.subject}", "", mail.text.rstrip("\n")]
    if mail.html is not None:
        lines += ["", "-- HTML --", mail.html.rstrip("\n")]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ConsoleMailer:
    """Prints each mail (headers and text, undecoded, so links can be clicked or copied) to a
    stream, standard error by default, or logs it at INFO to ``logger``. For development.

    Args:
        stream: Where to write; None means ``sys.stderr`` at the time of each mail.
        logger: Log each mail to this logger instead of writing to a stream.
    """

    stream: TextIO | None = None
    logger: logging.Logger | None = None
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    inline: ClassVar[bool] = True
    """Writing to a local stream does not wait on the network: async code calls it inline."""

    def __post_init__(self) -> None:
        if self.stream is not None and self.logger is not None:
            raise ConfigurationError("give a stream or a logger, not both")

    def send(self, mail: Mail) -> None:
        """Print ``mail``; ``MailError`` for a mail the SMTP mailer would refuse."""
        check_mail(mail)
        text = render(mail)
        if self.logger is not None:
            self.logger.info("mail\n%s", text)
            return
        stream = self.stream if self.stream is not None else sys.stderr
        with self._lock:  # two mails sent at once are printed one after the other
            stream.write(f"---- mail ----\n{text}\n---- end of mail ----\n")
            stream.flush()

    async def asend(self, mail: Mail) -> None:
        """``send``, inline."""
        self.send(mail)


@dataclass(frozen=True, slots=True)
class OutboxMailer:
    """Keeps the last ``limit`` mails in memory, newest first (an outbox a page or a test can
    read). Thread-safe; the oldest mail is dropped when it is full.

    Args:
        limit: How many mails it keeps (default 50).
    """

    limit: int = 50
    _mails: deque[Mail] = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    inline: ClassVar[bool] = True
    """Keeping a mail in memory never blocks: async code calls it inline."""

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigurationError(f"limit must be a positive integer, not {self.limit!r}")
        # Bounded: a flood of mail requests cannot grow the process's memory.
        object.__setattr__(self, "_mails", deque(maxlen=self.limit))

    def send(self, mail: Mail) -> None:
        """Keep ``mail``; ``MailError`` for a mail the SMTP mailer would refuse."""
        check_mail(mail)
        with self._lock:
            self._mails.append(mail)

    async def asend(self, mail: Mail) -> None:
        """``send``, inline."""
        self.send(mail)

    def mails(self, to: str | None = None) -> list[Mail]:
        """The mails kept, newest first; only those to ``to`` when it is given."""
        with self._lock:
            kept = list(self._mails)
        return [m for m in reversed(kept) if to is None or m.to == to]

    def clear(self) -> None:
        """Forget every mail kept."""
        with self._lock:
            self._mails.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._mails)
