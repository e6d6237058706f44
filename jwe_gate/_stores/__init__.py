"""Shared state for refresh tokens and the login throttle, behind two small protocols.

Every store operation is atomic by design (one conditional update, a transaction, or a lock),
never read-then-write across calls, so several workers or hosts sharing a store behave as one.

:class:`RefreshStore` contract (token values are never stored, only their SHA-256 hashes):

* ``add(token_hash, session, expires_at=, now=)``: record the first token of a new family, and
  the family's :class:`Session` with its ``created_at``.
* ``rotate(token_hash, child_hash, now=, expires_at=, grace=)``: in one atomic step --
  unknown, expired or revoked: ``INVALID``; unspent: mark it spent, store the child, ``ROTATED``;
  spent at most ``grace`` seconds ago with that same child still unspent: ``GRACE`` (the caller
  answers with the same child); otherwise it is a reuse: revoke the family, ``REUSED``.
* ``revoke(token_hash)``: revoke that token's family; return its session, or None.
* ``revoke_family(family)``; ``revoke_subject(table, subject, keep=family or None)``: revoke
  every family of that record except ``keep``.
* ``unspent(family)``: how many live, unspent tokens the family has (0 or 1).

Every :class:`Session` a store returns carries the ``created_at`` it was added with: the
endpoints refuse a family started before the record's last password change.

Stores forget expired tokens on their own (every so many ``add`` calls), so they stay bounded by
the number of live sessions; a spent token is kept until it expires, for reuse detection.

:class:`ThrottleStore` contract: counters in fixed windows, each starting at the key's first
count.

* ``hit(key, window=, now=, amount=1)``: add ``amount`` (a negative amount takes some off; the
  count never goes below 0) and return ``(count, reset_at)`` -- the count *including* this hit,
  so a caller can count an attempt and learn whether it is over the limit in one atomic step.
* ``take(key, now=, at_most=None)``: read and delete the key in one atomic step and return its
  count (0 if unknown or its window has ended); with ``at_most``, take no more than that and
  leave the rest. Racing takes of one key share its count (one gets it all, the others 0), so
  what was taken can be subtracted elsewhere exactly once.
* ``peek(key, now=)``: ``(count, reset_at)`` without counting; ``(0, now)`` if unknown or
  ended. For inspection only: the endpoints never decide on a peek (a peek followed by a
  separate write is the race the two calls above avoid).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Outcome", "RefreshStore", "Rotation", "Session", "ThrottleStore"]


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh-token family: one login of one record, as a :class:`RefreshStore` keeps it."""

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
    """What :meth:`RefreshStore.rotate` did with a presented token."""

    ROTATED = "rotated"
    """The token was unspent: it is spent now and its child stored."""
    GRACE = "grace"
    """The token was spent moments ago and its child is still unspent: answer with that child."""
    REUSED = "reused"
    """The token was spent before: its family is revoked now (RFC 9700 §4.14.2)."""
    INVALID = "invalid"
    """Unknown, expired or revoked: nothing was changed."""


@dataclass(frozen=True, slots=True)
class Rotation:
    """The answer of :meth:`RefreshStore.rotate`: the outcome and, unless ``INVALID``, the
    presented token's session."""

    outcome: Outcome
    session: Session | None = None


@runtime_checkable
class RefreshStore(Protocol):
    """Where refresh-token hashes and their families live (see the module docstring for the
    whole contract). Every method is one atomic step, so processes sharing a store agree."""

    def add(self, token_hash: str, session: Session, *, expires_at: float,
            now: float) -> None:
        """Record ``session`` as a new family whose first, unspent token is ``token_hash``."""
        ...

    def rotate(self, token_hash: str, child_hash: str, *, now: float, expires_at: float,
               grace: float) -> Rotation:
        """Spend ``token_hash`` for ``child_hash`` in one step: ROTATED, GRACE, REUSED or
        INVALID."""
        ...

    def revoke(self, token_hash: str) -> Session | None:
        """Revoke the family of ``token_hash`` (spent or not); return its session, or None."""
        ...

    def revoke_family(self, family: str) -> None:
        """Revoke ``family``; an unknown family is a no-op."""
        ...

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        """Revoke every family of the record ``(table, subject)`` except ``keep``."""
        ...

    def unspent(self, family: str, *, now: float) -> int:
        """How many live, unspent tokens ``family`` has: 1, or 0 once revoked or expired."""
        ...


@runtime_checkable
class ThrottleStore(Protocol):
    """Counters in fixed windows for the login throttle (see the module docstring). Every
    method is one atomic step, so processes sharing a store count as one."""

    def hit(self, key: str, *, window: float, now: float,
            amount: int = 1) -> tuple[int, float]:
        """Add ``amount`` to ``key`` (never below 0); return ``(count, reset_at)`` after it."""
        ...

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        """Remove ``key``'s count (at most ``at_most`` of it) and return it, in one step."""
        ...

    def peek(self, key: str, *, now: float) -> tuple[int, float]:
        """``(count, reset_at)`` of ``key`` without counting; ``(0, now)`` if unknown or ended."""
        ...
