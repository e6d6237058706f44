"""What the gate remembers of a request it has just let through, so the same request again (the
same token, method and path spellings) costs neither a decryption nor a store round trip.

An entry is keyed by everything the gate's decision reads of a request (the adapter's
``request_key`` or ``RequestView.key()``), and holds the verdict of the full check: the token
valid for that rule's table, its session live, its record found and current, the rule's
conditions met. It is used only while all of these hold:

* at most ``ttl`` seconds have passed since the stores were read (one by default, never more:
  a revocation made on another process is seen within a second, as without the memory);
* the token has not expired (its ``exp``, without the leeway: the full check applies that);
* no record of its table was changed through this gate since (a password change, a verified
  email, a reset), and nothing was revoked here since (``forget`` empties the memory).

Only allowed answers are remembered, never refusals; never the gate's own endpoints (they read
the record anew), nor a token that came in a cookie (its CSRF check runs every time). Each hit
hands out a fresh ``AuthUser`` with its own copy of the record, so an app that writes into
``request.user.record`` changes nothing for the next request. Pure: the caller passes both
clocks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Protocol

from .decision import Allow, Lookup
from .user import AuthUser

__all__ = ["Counted", "Recent"]


class Counted(Protocol):
    """A table, as far as this memory cares: how many updates were made through it."""

    @property
    def changes(self) -> int: ...


class _Entry:
    __slots__ = ("auth", "counted", "exp", "generation", "record", "table", "until", "vary")

    def __init__(
        self,
        lookup: Lookup,
        answer: Allow,
        record: Mapping[str, Any],
        until: float,
        counted: Counted,
        generation: int,
    ) -> None:
        self.table = lookup.table
        self.exp = lookup.claims.exp
        self.record = record
        self.auth = answer.auth
        """Frozen, and it holds nothing the app could change: shared by the hits."""
        self.until = until
        self.counted = counted
        self.generation = generation
        self.vary = answer.vary


class Recent:
    """A bounded, short-lived memory of allowed requests."""

    __slots__ = ("_entries", "_size", "epoch", "ttl")

    def __init__(self, ttl: float = 1.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self._size = size
        self._entries: dict[Hashable, _Entry] = {}
        self.epoch = 0
        """Counts ``forget`` calls: read it before a check, hand it to ``keep``."""

    def get(self, key: Hashable, *, now: float, tick: float) -> Allow | None:
        """The remembered answer for the request ``key`` stands for, or None (check it).

        ``now`` is the gate's clock (for ``exp``), ``tick`` a monotonic one (for ``ttl``).
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        if (
            tick >= entry.until  # older than ttl: a revocation elsewhere must be seen
            or now >= entry.exp  # expired: the full check applies the leeway
            or entry.counted.changes != entry.generation  # a record of this table changed here
        ):
            self._entries.pop(key, None)
            return None
        auth = entry.auth
        user = AuthUser(dict(entry.record), entry.table, auth.extras)
        return Allow(user, auth, vary=entry.vary)

    def keep(
        self,
        key: Hashable,
        lookup: Lookup,
        answer: object,
        *,
        tick: float,
        counted: Counted,
        generation: int,
        epoch: int,
    ) -> None:
        """Remember ``answer`` to ``lookup`` if it let a request through to the app.

        ``tick``, ``generation`` and ``epoch`` must be read before the stores were asked, so
        the entry never outlives what they said by more than ``ttl``, nor a change or a
        revocation made meanwhile.
        """
        if (
            self.ttl <= 0
            or epoch != self.epoch  # a revocation here overlapped the check: it may predate it
            or lookup.by_cookie  # its CSRF check (a signature with a lifetime) runs every time
            or not isinstance(answer, Allow)
            or answer.endpoint is not None  # the gate's own endpoints read the record anew
            or not isinstance(answer.user, AuthUser)
        ):
            return
        if len(self._entries) >= self._size:
            self._entries.clear()  # bounded: a flood of tokens costs a re-read, never memory
        self._entries[key] = _Entry(
            lookup,
            answer,
            dict(answer.user.record),  # a copy: the app may write into the one it was given
            tick + self.ttl,
            counted,
            generation,
        )

    def forget(self) -> None:
        """Forget everything: something was just revoked here."""
        self.epoch += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
