"""The store protocols as the tests see the bundled stores: with their inspection methods."""

from __future__ import annotations

from typing import Protocol

from jwe_gate._storage.protocols import RefreshStore, ThrottleStore


class InspectableRefreshStore(RefreshStore, Protocol):
    """A :class:`RefreshStore` that also counts a family's live tokens (every bundled one does)."""

    def unspent(self, family: str, *, now: float) -> int: ...


class InspectableThrottleStore(ThrottleStore, Protocol):
    """A :class:`ThrottleStore` that also reads a count without changing it (every bundled one
    does)."""

    def peek(self, key: str, *, now: float) -> tuple[int, float]: ...
