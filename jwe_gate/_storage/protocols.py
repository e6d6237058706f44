"""The storage protocols: table backends, and the stores of shared state (refresh tokens, the
login throttle), each with a sync and an async side. Implement either side of each (or both:
each is then used natively by its colour of adapter).

Every store operation is atomic by design (one conditional update, a transaction, or a lock),
never read-then-write across calls, so several workers or hosts sharing a store behave as one.

``RefreshStore`` contract (token values are never stored, only their SHA-256 hashes). A
family (a session) is one record of O(1) size however often it is refreshed: its session, the
hash of its current token (the head) and of the head's parent, when the head was made and
expires, a generation count, and whether it is revoked.

* ``add(token_hash, session, expires_at=, now=)``: record a new family whose head is
  ``token_hash``, with the family's ``Session`` and its ``created_at``.
* ``rotate(family, token_hash, child_hash, now=, expires_at=, grace=)``: in one atomic step, the
  state machine of ``jwe_gate._storage.state.rotation`` -- unknown, expired or revoked:
  ``INVALID``; the head: the child becomes the head, ``ROTATED``; the parent, at most ``grace``
  seconds after it was spent and with that same child: ``GRACE`` (the caller answers with the
  same child); the parent otherwise: revoke the family, ``REUSED``; anything else: ``STALE``,
  with the head's hash and the generation, so the caller can tell an older token of the family
  (a reuse: it revokes the family) from a stranger's guess (invalid).
* ``revoke(family, token_hash)``: revoke the family if ``token_hash`` is its head or parent;
  return its session, or None.
* ``revoke_family(family)``; ``revoke_subject(table, subject, keep=family or None)``: revoke
  every family of that record except ``keep``.
* ``session(family)``: the family's ``Session`` while it is live, else None. The gate asks
  it (through a cache of at most a second) on every request with an access token minted for a
  session, so it must be a single keyed read.

Every ``Session`` a store returns carries the ``created_at`` it was added with: the
endpoints refuse a family started before the record's last password change.

Stores forget expired families on their own (every so many ``add`` calls), so they stay bounded
by the number of live sessions.

``ThrottleStore`` contract: counters in fixed windows, each starting at the key's first
count.

* ``hit(key, window=, now=, amount=1)``: add ``amount`` (a negative amount takes some off; the
  count never goes below 0) and return ``(count, reset_at)`` -- the count *including* this hit,
  so a caller can count an attempt and learn whether it is over the limit in one atomic step.
  ``amount=0`` reads a count (0 for an unknown key or an ended window) without counting.
* ``take(key, now=, at_most=None)``: read and delete the key in one atomic step and return its
  count (0 if unknown or its window has ended); with ``at_most``, take no more than that and
  leave the rest. Racing takes of one key share its count (one gets it all, the others 0), so
  what was taken can be subtracted elsewhere exactly once.

A throttle store forgets ended windows on its own, with bounded work per call (a few at a
time), so it stays bounded by the windows still running however many keys it has seen.

The async protocols are the same methods, ``a``-prefixed coroutines. Every protocol declares
``inline``: True only where every call returns in microseconds without blocking (an in-process
dict), so it may run on the event loop; otherwise calls from asyncio run in a worker thread.
A refresh store whose writes may block but whose ``session`` read never does (a primary-key read
from a local SQLite file in WAL mode) may also declare ``inline_session = True``: the
per-request session check then runs on the event loop too.

The pure state transitions (what a rotation does to a token, how a window counts) live once in
``jwe_gate._storage.state``; the contract suites are public in ``jwe_gate.testing``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..types import Record

__all__ = [
    "AsyncBackend",
    "AsyncOneTimeStore",
    "AsyncRefreshStore",
    "AsyncThrottleStore",
    "Backend",
    "OneTimeStore",
    "Outcome",
    "RefreshStore",
    "Rotation",
    "Session",
    "ThrottleStore",
]


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh-token family: one login of one record, as a ``RefreshStore`` keeps it."""

    family: str
    """The family's id (the access tokens' ``sid``)."""
    table: str
    """The name of the record's table."""
    subject: str
    """The record's id, as a string."""
    created_at: float
    """When the family was started (epoch seconds): a family started before the record's
    password change is refused, even if revoking it failed or raced the change."""


class Outcome(enum.Enum):
    """What ``RefreshStore.rotate`` did with a presented token."""

    ROTATED = "rotated"
    """The token was unspent: it is spent now and its child stored."""
    GRACE = "grace"
    """The token was spent moments ago and its child is still unspent: answer with that child."""
    REUSED = "reused"
    """The token was spent before: its family is revoked now (RFC 9700 §4.14.2)."""
    INVALID = "invalid"
    """Unknown, expired or revoked: nothing was changed."""
    STALE = "stale"
    """Neither the head nor its parent: an older token of the family, or a guess. Nothing was
    changed; the ``Rotation`` carries the head and the generation to tell which."""


@dataclass(frozen=True, slots=True)
class Rotation:
    """The answer of ``RefreshStore.rotate``: the outcome and, unless ``INVALID``, the
    presented token's session."""

    outcome: Outcome
    session: Session | None = None
    head: str | None = None
    """With ``STALE``: the hash of the family's current token."""
    generation: int = 0
    """With ``STALE``: how many times the family has been rotated."""


@runtime_checkable
class RefreshStore(Protocol):
    """Where refresh-token hashes and their families live (see the module docstring for the
    whole contract). Every method is one atomic step, so processes sharing a store agree."""

    inline: ClassVar[bool]

    def add(self, token_hash: str, session: Session, *, expires_at: float, now: float) -> None:
        """Record ``session`` as a new family whose first, unspent token is ``token_hash``."""
        ...

    def rotate(
        self,
        family: str,
        token_hash: str,
        child_hash: str,
        *,
        now: float,
        expires_at: float,
        grace: float,
    ) -> Rotation:
        """Spend ``token_hash`` for ``child_hash`` in one step: ROTATED, GRACE, REUSED or
        INVALID."""
        ...

    def revoke(self, family: str, token_hash: str) -> Session | None:
        """Revoke ``family`` if ``token_hash`` is its head or parent; return its session, or
        None."""
        ...

    def revoke_family(self, family: str) -> None:
        """Revoke ``family``; an unknown family is a no-op."""
        ...

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        """Revoke every family of the record ``(table, subject)`` except ``keep``."""
        ...

    def session(self, family: str) -> Session | None:
        """``family``'s session while it is live; None once revoked, or if unknown (the
        per-request check of access tokens minted for it)."""
        ...


@runtime_checkable
class ThrottleStore(Protocol):
    """Counters in fixed windows for the login throttle (see the module docstring). Every
    method is one atomic step, so processes sharing a store count as one."""

    inline: ClassVar[bool]

    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        """Add ``amount`` to ``key`` (never below 0); return ``(count, reset_at)`` after it."""
        ...

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        """Remove ``key``'s count (at most ``at_most`` of it) and return it, in one step."""
        ...


@runtime_checkable
class AsyncRefreshStore(Protocol):
    """``RefreshStore`` with coroutines (``aadd``, ``arotate``, ...)."""

    inline: ClassVar[bool]

    async def aadd(
        self, token_hash: str, session: Session, *, expires_at: float, now: float
    ) -> None: ...

    async def arotate(
        self,
        family: str,
        token_hash: str,
        child_hash: str,
        *,
        now: float,
        expires_at: float,
        grace: float,
    ) -> Rotation: ...

    async def arevoke(self, family: str, token_hash: str) -> Session | None: ...

    async def arevoke_family(self, family: str) -> None: ...

    async def arevoke_subject(
        self, table: str, subject: str, *, keep: str | None = None
    ) -> None: ...

    async def asession(self, family: str) -> Session | None: ...


@runtime_checkable
class AsyncThrottleStore(Protocol):
    """``ThrottleStore`` with coroutines (``ahit``, ``atake``)."""

    inline: ClassVar[bool]

    async def ahit(
        self, key: str, *, window: float, now: float, amount: int = 1
    ) -> tuple[int, float]: ...

    async def atake(self, key: str, *, now: float, at_most: int | None = None) -> int: ...


@runtime_checkable
class OneTimeStore(Protocol):
    """One-time tokens (password reset, email verification, magic links), stored only as
    hashes. At most one live token per (purpose, table, subject): a new one replaces the last.
    Every method is one atomic step."""

    inline: ClassVar[bool]

    def put(
        self,
        token_hash: str,
        *,
        purpose: str,
        table: str,
        subject: str,
        expires_at: float,
        now: float,
    ) -> None:
        """Store a token for record ``(table, subject)`` and ``purpose``; the record's earlier
        unused token of that purpose dies in the same step."""
        ...

    def take(self, token_hash: str, *, purpose: str, table: str, now: float) -> str | None:
        """Spend a token: its subject when it is live, unused and of this purpose and table;
        None otherwise (and then nothing is spent). Of racing takes, exactly one wins."""
        ...

    def drop(self, table: str, subject: str, *, purpose: str | None = None) -> None:
        """Kill the record's unused tokens (of one purpose, or of all): a password change."""
        ...


@runtime_checkable
class AsyncOneTimeStore(Protocol):
    """``OneTimeStore`` with coroutines (``aput``, ``atake``, ``adrop``)."""

    inline: ClassVar[bool]

    async def aput(
        self,
        token_hash: str,
        *,
        purpose: str,
        table: str,
        subject: str,
        expires_at: float,
        now: float,
    ) -> None: ...

    async def atake(
        self, token_hash: str, *, purpose: str, table: str, now: float
    ) -> str | None: ...

    async def adrop(self, table: str, subject: str, *, purpose: str | None = None) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """A synchronous table backend. Records are plain dicts with an ``id``; a backend may keep
    records of several tables, always apart.

    * ``get(table, id)``: the record whose ``id`` (compared as a string) is ``id``, or None.
    * ``find(table, field, value)``: the record whose ``field`` equals ``value``, or None.
    * ``create(table, fields, unique=field)``: store a new record with ``fields`` (they include
      ``created_at``, set by the ``Table``) and a new ``id``; raise
      ``jwe_gate.exceptions.DuplicateRecordError`` if a record with the same
      ``fields[unique]`` exists. Atomic: of two concurrent creates with one value, exactly one
      succeeds.
    * ``update(table, id, changes)``: merge ``changes`` into the record; return it, or None if
      gone. (The ``Table`` never passes ``id`` or ``created_at`` here.)

    Records are returned as new dicts: callers may change them freely. ``inline = True`` says
    ``get`` never blocks (an in-process dict, a local SQLite file): it is then called on the
    event loop under ASGI, saving a thread hop (~100 µs) per request.
    """

    inline: ClassVar[bool]

    def get(self, table: str, id: str) -> Record | None: ...

    def find(self, table: str, field: str, value: Any) -> Record | None: ...

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record: ...

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None: ...


@runtime_checkable
class AsyncBackend(Protocol):
    """An asynchronous backend: ``Backend``'s four methods as ``a``-prefixed coroutines.

    It runs on one event loop: under ASGI the server's; called from sync code (WSGI, the command
    line) jwe_gate's background loop, one per process. So loop-bound resources (an SQLAlchemy
    ``AsyncEngine``'s pool, an ``asyncio.Lock``) work under either adapter -- but not under both
    at once in one process (two loops): there, give each side its own backend object, or offer
    both sides (each is then used natively).
    """

    inline: ClassVar[bool]

    async def aget(self, table: str, id: str) -> Record | None: ...

    async def afind(self, table: str, field: str, value: Any) -> Record | None: ...

    async def acreate(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record: ...

    async def aupdate(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None: ...
