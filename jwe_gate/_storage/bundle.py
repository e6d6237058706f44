"""``Stores``: the three stores of shared state, built together on one technology."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .memory import MemoryOneTimeStore, MemoryRefreshStore, MemoryThrottleStore
from .sqlite import SQLiteOneTimeStore, SQLiteRefreshStore, SQLiteThrottleStore

__all__ = ["Stores"]


@dataclass(frozen=True, slots=True)
class Stores:
    """The three stores of shared state, built together on one technology (one call:
    ``Stores.memory()``, ``Stores.sqlite(path)``, and the SQLAlchemy and Redis builders), given
    to ``Gate(stores=...)``."""

    refresh: object
    """A ``RefreshStore`` and/or ``AsyncRefreshStore``: sessions."""
    throttle: object
    """A ``ThrottleStore`` and/or ``AsyncThrottleStore``: the throttle's counters."""
    once: object
    """A ``OneTimeStore`` and/or ``AsyncOneTimeStore``: one-time tokens."""

    @classmethod
    def memory(cls) -> Stores:
        """In process memory: one process only."""
        return cls(MemoryRefreshStore(), MemoryThrottleStore(), MemoryOneTimeStore())

    @classmethod
    def sqlite(cls, path: str | os.PathLike[str]) -> Stores:
        """In one SQLite file, shared by every process that opens it."""
        return cls(SQLiteRefreshStore(path), SQLiteThrottleStore(path), SQLiteOneTimeStore(path))
