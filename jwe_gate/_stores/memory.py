"""In-process refresh and throttle stores: one lock makes every operation atomic. One process
only; use the SQLite, SQLAlchemy or Redis stores to share state between workers."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from . import Outcome, Rotation, Session

__all__ = ["MemoryRefreshStore", "MemoryThrottleStore"]


@dataclass(slots=True)
class _Token:
    family: str
    expires_at: float
    spent_at: float | None = None
    child: str | None = None


class MemoryRefreshStore:
    """Refresh-token hashes in a dict."""

    inline = True

    def __init__(self, *, purge_every: int = 1000) -> None:
        self._tokens: dict[str, _Token] = {}
        self._families: dict[str, Session] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self._purge_every = purge_every
        self._adds = 0

    def add(self, token_hash: str, session: Session, *, expires_at: float, now: float) -> None:
        with self._lock:
            self._families[session.family] = session
            self._tokens[token_hash] = _Token(session.family, expires_at)
            self._adds += 1
            if self._adds % self._purge_every == 0:
                self._purge(now)

    def _purge(self, now: float) -> None:
        """Forget expired tokens and families left without a token (memory stays bounded)."""
        self._tokens = {h: t for h, t in self._tokens.items() if t.expires_at > now}
        live = {t.family for t in self._tokens.values()}
        self._families = {f: s for f, s in self._families.items() if f in live}
        self._revoked &= live

    def rotate(self, token_hash: str, child_hash: str, *, now: float, expires_at: float,
               grace: float) -> Rotation:
        with self._lock:
            tok = self._tokens.get(token_hash)
            if tok is None or tok.family in self._revoked or tok.expires_at <= now:
                return Rotation(Outcome.INVALID)
            session = self._families[tok.family]
            if tok.spent_at is None:
                tok.spent_at, tok.child = now, child_hash
                self._tokens[child_hash] = _Token(tok.family, expires_at)
                return Rotation(Outcome.ROTATED, session)
            child = self._tokens.get(tok.child or "")
            if (grace > 0 and now - tok.spent_at <= grace and tok.child == child_hash
                    and child is not None and child.spent_at is None):
                return Rotation(Outcome.GRACE, session)
            # A spent token presented again: the thief or the victim holds a copy (RFC 9700).
            self._revoked.add(tok.family)
            return Rotation(Outcome.REUSED, session)

    def revoke(self, token_hash: str) -> Session | None:
        with self._lock:
            tok = self._tokens.get(token_hash)
            if tok is None:
                return None
            self._revoked.add(tok.family)
            return self._families[tok.family]

    def revoke_family(self, family: str) -> None:
        with self._lock:
            self._revoked.add(family)

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        with self._lock:
            for fam, s in self._families.items():
                if s.table == table and s.subject == subject and fam != keep:
                    self._revoked.add(fam)

    def unspent(self, family: str, *, now: float) -> int:
        with self._lock:
            if family in self._revoked:
                return 0
            return sum(1 for t in self._tokens.values()
                       if t.family == family and t.spent_at is None and t.expires_at > now)


class MemoryThrottleStore:
    """Failure counters in a dict."""

    inline = True

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        with self._lock:
            count, reset_at = self._counts.get(key, (0, 0.0))
            if reset_at <= now:
                count, reset_at = 0, now + window
            count = max(0, count + amount)
            self._counts[key] = (count, reset_at)
            if len(self._counts) > 100_000:  # bound memory: drop windows that have ended
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            return count, reset_at

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        with self._lock:
            count, reset_at = self._counts.pop(key, (0, 0.0))
            if reset_at <= now:
                return 0
            taken = count if at_most is None else max(0, min(count, at_most))
            if taken < count:
                self._counts[key] = (count - taken, reset_at)
            return taken

    def peek(self, key: str, *, now: float) -> tuple[int, float]:
        with self._lock:
            count, reset_at = self._counts.get(key, (0, 0.0))
        return (count, reset_at) if reset_at > now else (0, now)
