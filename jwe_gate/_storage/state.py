"""The pure state transitions every store shares: what presenting a refresh token does to its
family, and how a fixed-window counter moves. Stores read their rows, ask here, and write what
they are told inside their own atomic step (a lock, a transaction, a conditional statement)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .protocols import Outcome

__all__ = ["Step", "TokenState", "rotation", "window_hit", "window_take"]


class Step(enum.Enum):
    """What a store writes after a rotation decision."""

    NONE = "none"
    SPEND = "spend"
    """Mark the presented token spent (with its child) and store the child, unspent."""
    REVOKE = "revoke"
    """Revoke the whole family."""


@dataclass(frozen=True, slots=True)
class TokenState:
    """A stored refresh token as a store reads it."""

    expires_at: float
    spent_at: float | None
    child: str | None
    revoked: bool
    """Whether its family is revoked."""


def rotation(
    token: TokenState | None, *, child_hash: str, now: float, grace: float, child_unspent: bool
) -> tuple[Outcome, Step]:
    """The refresh-token state machine (RFC 9700 §4.14.2), once for every store.

    ``child_unspent`` says whether the token's recorded child is still stored and unspent (a
    store need only look it up when the token is spent and its child is ``child_hash``)."""
    if token is None or token.revoked or token.expires_at <= now:
        return Outcome.INVALID, Step.NONE
    if token.spent_at is None:
        return Outcome.ROTATED, Step.SPEND
    if grace > 0 and now - token.spent_at <= grace and token.child == child_hash and child_unspent:
        # Two tabs refreshing at once: the second gets the same child, and the family never
        # forks (the child is derived from the parent, so it is the one already stored).
        return Outcome.GRACE, Step.NONE
    # A spent token presented again: the thief or the victim holds a copy (RFC 9700).
    return Outcome.REUSED, Step.REVOKE


def window_hit(
    count: int, reset_at: float, *, window: float, now: float, amount: int
) -> tuple[int, float]:
    """A counter after adding ``amount``: an ended window restarts at ``now``; never below 0."""
    if reset_at <= now:
        count, reset_at = 0, now + window
    return max(0, count + amount), reset_at


def window_take(count: int, reset_at: float, *, now: float, at_most: int | None) -> tuple[int, int]:
    """``(taken, left)`` when a counter is taken: nothing from an ended window."""
    if reset_at <= now:
        return 0, 0
    taken = count if at_most is None else max(0, min(count, at_most))
    return taken, count - taken
