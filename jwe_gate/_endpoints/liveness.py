"""Revocation that reaches access tokens: is the session an access token was minted for still
live? Asked on every request that carries such a token, so the answer is remembered per process
for at most ``ttl`` seconds (one by default): a revocation made on another process sharing the
store is seen within that time, one made here at once (the endpoints ``forget`` what they
revoke)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .._storage.protocols import Session
from .._twins import Twin, twin

__all__ = ["Liveness"]


class Liveness:
    """A bounded, short-lived memory of which sessions are live."""

    __slots__ = ("_clock", "_epoch", "_known", "_on_forget", "_session", "_size", "_ttl")

    def __init__(
        self,
        store: object,
        *,
        ttl: float = 1.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        on_forget: Callable[[], None] | None = None,
    ) -> None:
        self._session: Twin[Session | None] = twin(
            store,
            "session",
            inline=True if getattr(store, "inline_session", False) is True else None,
        )
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._on_forget = on_forget
        """Also told of every revocation made here (the gate's memory of allowed tokens)."""
        self._epoch = 0
        """Counts ``forget`` calls: an answer read while one happened is not remembered."""
        self._known: dict[str, float] = {}
        """Live families and when that was read. Only "live" is remembered: an ended session
        is asked again, so nothing revoked is ever reported live from memory."""

    def _remembered(self, family: str, tick: float) -> bool:
        read_at = self._known.get(family)
        return read_at is not None and tick - read_at < self._ttl

    def _remember(self, family: str, tick: float) -> None:
        if len(self._known) >= self._size:
            self._known.clear()  # bounded: a flood of sessions costs a re-read, never memory
        self._known[family] = tick

    def read_at(self, family: str) -> float | None:
        """When ``family`` was last read live from the store (on the caller's clock), if
        remembered: what is built on that answer must not outlive it by more than ``ttl``."""
        return self._known.get(family)

    def check(self, family: str, tick: float | None = None) -> bool:
        """Whether ``family`` is live (blocking I/O at most once a second per family).
        ``tick``: the caller's monotonic time (read here when None)."""
        tick = self._clock() if tick is None else tick
        if self._remembered(family, tick):
            return True
        epoch = self._epoch
        live = self._session.fn(family) is not None
        if live and epoch == self._epoch:
            # Not if a revocation here overlapped the read: "live" may predate it.
            self._remember(family, tick)
        return live

    async def acheck(self, family: str, tick: float | None = None) -> bool:
        """``check`` without blocking the event loop."""
        tick = self._clock() if tick is None else tick
        if self._remembered(family, tick):
            return True
        epoch = self._epoch
        live = await self._session.afn(family) is not None
        if live and epoch == self._epoch:
            # Not if a revocation here overlapped the read: "live" may predate it.
            self._remember(family, tick)
        return live

    def forget(self, family: str | None = None) -> None:
        """Forget ``family`` (or every family): it was just revoked here."""
        self._epoch += 1
        if family is None:
            self._known.clear()
        else:
            self._known.pop(family, None)
        if self._on_forget is not None:
            self._on_forget()
