"""A mail as plain values, and what a mailer is: an object with ``send`` (blocking) and/or
``asend`` (a coroutine). The endpoints use whichever side the adapter runs on, bridging to the
other when a mailer has only one (as backends and stores do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

__all__ = ["AsyncMailer", "Mail", "Mailer"]


@dataclass(frozen=True, slots=True)
class Mail:
    """One message to one recipient: a plain-text body, and an HTML one when given."""

    to: str
    subject: str
    text: str
    html: str | None = None


@runtime_checkable
class Mailer(Protocol):
    """Sends a mail with blocking I/O; raises when the mail server refuses or is unreachable."""

    inline: ClassVar[bool]
    """True when ``send`` never blocks (it only keeps or prints the mail), so async code may
    call it on the event loop."""

    def send(self, mail: Mail) -> None: ...


@runtime_checkable
class AsyncMailer(Protocol):
    """Sends a mail without blocking the event loop; raises as :class:`Mailer` does."""

    inline: ClassVar[bool]

    async def asend(self, mail: Mail) -> None: ...
