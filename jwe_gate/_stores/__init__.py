"""Shared state for refresh tokens and the login throttle, behind two small protocols.

Every store operation is atomic by design (one conditional update, a transaction, or a lock),
never read-then-write across calls, so several workers or hosts sharing a store behave as one.

:class:`RefreshStore` contract (token values are never stored, only their SHA-256 hashes):

* ``add(token_hash, session, expires_at=, now=)``: record the first token of a new family.
* ``rotate(token_hash, child_hash, now=, expires_at=, grace=)``: in one atomic step --
  unknown, expired or revoked: ``INVALID``; unspent: mark it spent, store the child, ``ROTATED``;
  spent at most ``grace`` seconds ago with that same child still unspent: ``GRACE`` (the caller
  answers with the same child); otherwise it is a reuse: revoke the family, ``REUSED``.
* ``revoke(token_hash)``: revoke that token's family; return its session, or None.
* ``revoke_family(family)``; ``revoke_subject(table, subject, keep=family or None)``: revoke
  every family of that record except ``keep``.
* ``unspent(family)``: how many live, unspent tokens the family has (0 or 1).

Stores forget expired tokens on their own (every so many ``add`` calls), so they stay bounded by
the number of live sessions; a spent token is kept until it expires, for reuse detection.

:class:`ThrottleStore` contract: ``hit(key, window=, now=, amount=1)`` adds ``amount`` failures
(a negative amount forgives some; the count never goes below 0) in a fixed window that starts at
the key's first failure and returns ``(count, reset_at)``; ``peek(key, now=)``
returns the same without counting; ``clear(key)`` forgets the key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Outcome", "RefreshStore", "Rotation", "Session", "ThrottleStore"]


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh-token family: one login of one record."""

    family: str
    table: str
    subject: str


class Outcome(enum.Enum):
    ROTATED = "rotated"
    GRACE = "grace"
    REUSED = "reused"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: Outcome
    session: Session | None = None


@runtime_checkable
class RefreshStore(Protocol):
    def add(self, token_hash: str, session: Session, *, expires_at: float,
            now: float) -> None: ...
    def rotate(self, token_hash: str, child_hash: str, *, now: float, expires_at: float,
               grace: float) -> Rotation: ...
    def revoke(self, token_hash: str) -> Session | None: ...
    def revoke_family(self, family: str) -> None: ...
    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None: ...
    def unspent(self, family: str, *, now: float) -> int: ...


@runtime_checkable
class ThrottleStore(Protocol):
    def hit(self, key: str, *, window: float, now: float,
            amount: int = 1) -> tuple[int, float]: ...
    def peek(self, key: str, *, now: float) -> tuple[int, float]: ...
    def clear(self, key: str) -> None: ...
