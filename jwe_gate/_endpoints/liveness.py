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

    __slots__ = ("_clock", "_known", "_session", "_size", "_ttl")

    def __init__(
        self,
        store: object,
        *,
        ttl: float = 1.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session: Twin[Session | None] = twin(store, "session")
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._known: dict[str, float] = {}
        """Live families and when that was read. Only "live" is remembered: an ended session
        is asked again, so nothing revoked is ever reported live from memory."""

    def _remembered(self, family: str) -> bool:
        read_at = self._known.get(family)
        return read_at is not None and self._clock() - read_at < self._ttl

    def _remember(self, family: str) -> None:
        if len(self._known) >= self._size:
            self._known.clear()  # bounded: a flood of sessions costs a re-read, never memory
        self._known[family] = self._clock()

    def check(self, family: str) -> bool:
        """Whether ``family`` is live (blocking I/O at most once a second per family)."""
        if self._remembered(family):
            return True
        live = self._session.fn(family) is not None
        if live:
            self._remember(family)
        return live

    async def acheck(self, family: str) -> bool:
        """``check`` without blocking the event loop."""
        if self._remembered(family):
            return True
        live = await self._session.afn(family) is not None
        if live:
            self._remember(family)
        return live

    def forget(self, family: str | None = None) -> None:
        """Forget ``family`` (or every family): it was just revoked here."""
        if family is None:
            self._known.clear()
        else:
            self._known.pop(family, None)
