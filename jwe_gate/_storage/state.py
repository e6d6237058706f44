"""The pure state transitions every store shares: what presenting a refresh token does to its
family, and how a fixed-window counter moves. Stores read their rows, ask here, and write what
they are told inside their own atomic step (a lock, a transaction, a conditional statement)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .protocols import Outcome

__all__ = ["FamilyState", "Step", "rotation", "window_hit", "window_take"]


class Step(enum.Enum):
    """What a store writes after a rotation decision."""

    NONE = "none"
    ADVANCE = "advance"
    """The presented head becomes the parent, the child the new head: generation + 1."""
    REVOKE = "revoke"
    """Revoke the whole family."""


@dataclass(frozen=True, slots=True)
class FamilyState:
    """A session as a refresh store keeps it: O(1), however often it is refreshed. Only the
    current token (the head) and its parent are stored, as hashes; older tokens of the family
    are recognised by the endpoints, which can derive the chain forward from them."""

    head: str
    prev: str | None
    rotated_at: float
    """When the head was made (the parent spent)."""
    expires_at: float
    """When the head expires."""
    revoked: bool


def rotation(
    family: FamilyState | None, *, token_hash: str, child_hash: str, now: float, grace: float
) -> tuple[Outcome, Step]:
    """The refresh-token state machine (RFC 9700 §4.14.2), once for every store."""
    if family is None or family.revoked or family.expires_at <= now:
        return Outcome.INVALID, Step.NONE
    if token_hash == family.head:
        return Outcome.ROTATED, Step.ADVANCE
    if token_hash == family.prev:
        if grace > 0 and now - family.rotated_at <= grace and child_hash == family.head:
            # Two tabs refreshing at once: the second gets the same child, and the family never
            # forks (the child is derived from the parent, so it is the head already stored).
            return Outcome.GRACE, Step.NONE
        # A spent token presented again: the thief or the victim holds a copy (RFC 9700).
        return Outcome.REUSED, Step.REVOKE
    # Older than the parent, or not of this family at all: the store cannot tell which; the
    # endpoint derives the chain forward from it to find out (see Outcome.STALE).
    return Outcome.STALE, Step.NONE


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
