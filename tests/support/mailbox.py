"""Mailers for the recovery tests: one that keeps every mail (and waits for them), and one whose
mail server is down."""

from __future__ import annotations

import re
import threading
import time
from typing import ClassVar

from jwe_gate._mail.message import Mail

LINK = re.compile(r"token=([A-Za-z0-9_-]{43})")


class Mailbox:
    """A ``Mailer`` keeping every mail in ``mails``; ``wait(n)`` blocks until n have come."""

    inline: ClassVar[bool] = True

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self._cond = threading.Condition()

    def send(self, mail: Mail) -> None:
        with self._cond:
            self.mails.append(mail)
            self._cond.notify_all()

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Mail]:
        """The mails, once at least ``count`` have come (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.mails) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} mails, got {len(self.mails)}"
                self._cond.wait(left)
            return list(self.mails)

    def token(self, index: int = -1) -> str:
        """The token in the link of mail ``index`` (the last by default)."""
        found = LINK.search(self.wait(1 if index < 0 else index + 1)[index].text)
        assert found is not None
        return found.group(1)


class AsyncMailbox(Mailbox):
    """A ``Mailbox`` with only the async side (``asend``)."""

    async def asend(self, mail: Mail) -> None:
        Mailbox.send(self, mail)

    send = None  # type: ignore[assignment]


class DownMailer:
    """A mailer whose server is unreachable: every send raises."""

    inline: ClassVar[bool] = True

    def __init__(self) -> None:
        self.tries = 0

    def send(self, mail: Mail) -> None:
        self.tries += 1
        raise ConnectionRefusedError("mail server down")
