"""In process memory: the backend for tests and examples, and the default stores. One lock per
object makes every operation atomic. One process only; use the SQLite, SQLAlchemy or Redis
stores to share state between workers."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..exceptions import ConfigurationError, DuplicateRecordError
from ..types import Record
from .protocols import Outcome, Rotation, Session
from .state import FamilyState, Step, rotation, window_hit, window_take

__all__ = ["MemoryBackend", "MemoryOneTimeStore", "MemoryRefreshStore", "MemoryThrottleStore"]


class _Rows:
    """One table's records and its next id."""

    __slots__ = ("next_id", "records")

    def __init__(self, seed: Iterable[Mapping[str, Any]]) -> None:
        self.records: dict[str, Record] = {}
        self.next_id = 1
        for record in seed:
            self.records[str(record["id"])] = dict(record)
            if isinstance(record["id"], int):
                self.next_id = max(self.next_id, record["id"] + 1)


class MemoryBackend:
    """Records held in process memory, each table's apart from the others'.

    Args:
        records: initial records, each a dict with an ``id``; every table this backend serves
            starts with its own copy of them.
    """

    inline: ClassVar[bool] = True

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self._seed = [dict(r) for r in records]
        if any("id" not in r for r in self._seed):
            raise ConfigurationError("every MemoryBackend record needs an 'id'")
        self._tables: dict[str, _Rows] = {}
        self._lock = threading.Lock()

    def _rows(self, table: str) -> _Rows:
        rows = self._tables.get(table)
        if rows is None:
            with self._lock:
                rows = self._tables.setdefault(table, _Rows(self._seed))
        return rows

    def get(self, table: str, id: str) -> Record | None:
        record = self._rows(table).records.get(id)
        return dict(record) if record is not None else None

    def find(self, table: str, field: str, value: Any) -> Record | None:
        rows = self._rows(table)
        with self._lock:
            for record in rows.records.values():
                if record.get(field) == value:
                    return dict(record)
        return None

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        rows = self._rows(table)
        with self._lock:
            value = fields.get(unique)
            if any(r.get(unique) == value for r in rows.records.values()):
                raise DuplicateRecordError(f"{unique} already in use")
            while str(rows.next_id) in rows.records:  # a seeded "3" must not be overwritten
                rows.next_id += 1
            record: Record = {**dict(fields), "id": rows.next_id}
            rows.records[str(rows.next_id)] = record
            rows.next_id += 1
            return dict(record)

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        rows = self._rows(table)
        with self._lock:
            record = rows.records.get(id)
            if record is None:
                return None
            record.update(changes)
            return dict(record)

    def __len__(self) -> int:
        """How many records it holds, across tables (the seed's count until one is used)."""
        if not self._tables:
            return len(self._seed)
        return sum(len(rows.records) for rows in self._tables.values())


@dataclass(slots=True)
class _Family:
    session: Session
    head: str
    prev: str | None
    rotated_at: float
    expires_at: float
    generation: int = 0
    revoked: bool = False

    def state(self) -> FamilyState:
        return FamilyState(self.head, self.prev, self.rotated_at, self.expires_at, self.revoked)


class MemoryRefreshStore:
    """Sessions in a dict: one entry per family, however often it is refreshed."""

    inline: ClassVar[bool] = True

    def __init__(self, *, purge_every: int = 1000) -> None:
        self._families: dict[str, _Family] = {}
        self._by_subject: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()
        self._purge_every = purge_every
        self._adds = 0

    def add(self, token_hash: str, session: Session, *, expires_at: float, now: float) -> None:
        with self._lock:
            self._families[session.family] = _Family(session, token_hash, None, now, expires_at)
            self._by_subject.setdefault((session.table, session.subject), set()).add(session.family)
            self._adds += 1
            if self._adds % self._purge_every == 0:
                self._purge(now)

    def _purge(self, now: float) -> None:
        """Forget expired families (memory stays bounded by the live sessions)."""
        for family, fam in list(self._families.items()):
            if fam.expires_at <= now:
                del self._families[family]
                key = (fam.session.table, fam.session.subject)
                subjects = self._by_subject.get(key, set())
                subjects.discard(family)
                if not subjects:
                    self._by_subject.pop(key, None)

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
        with self._lock:
            fam = self._families.get(family)
            outcome, step = rotation(
                None if fam is None else fam.state(),
                token_hash=token_hash,
                child_hash=child_hash,
                now=now,
                grace=grace,
            )
            if fam is None or outcome is Outcome.INVALID:
                return Rotation(Outcome.INVALID)
            if step is Step.ADVANCE:
                fam.prev, fam.head, fam.rotated_at = fam.head, child_hash, now
                fam.expires_at, fam.generation = expires_at, fam.generation + 1
            elif step is Step.REVOKE:
                fam.revoked = True
            return Rotation(outcome, fam.session, fam.head, fam.generation)

    def revoke(self, family: str, token_hash: str) -> Session | None:
        with self._lock:
            fam = self._families.get(family)
            if fam is None or token_hash not in (fam.head, fam.prev):
                return None
            fam.revoked = True
            return fam.session

    def revoke_family(self, family: str) -> None:
        with self._lock:
            fam = self._families.get(family)
            if fam is not None:
                fam.revoked = True

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        with self._lock:
            for family in self._by_subject.get((table, subject), ()):
                if family != keep:
                    self._families[family].revoked = True

    def session(self, family: str) -> Session | None:
        with self._lock:
            fam = self._families.get(family)
            return None if fam is None or fam.revoked else fam.session

    def unspent(self, family: str, *, now: float) -> int:
        """How many live, unspent tokens ``family`` has: its head, or none (for tests)."""
        with self._lock:
            fam = self._families.get(family)
            return int(fam is not None and not fam.revoked and fam.expires_at > now)

    def __len__(self) -> int:
        """How many families it holds (live or not yet purged)."""
        return len(self._families)


class MemoryThrottleStore:
    """Failure counters in a dict, forgotten incrementally as their windows end.

    Each new window is queued by its end, one queue per window length (a throttle uses a
    handful), so each queue is in end order; every call drops at most ``prune_per_call``
    ended counters from the queues' heads. Each call is O(1) amortized (however many counters
    are live) and memory stays bounded by the counters whose windows are still running: a
    window is queued once and dropped once, and pruning outpaces queueing."""

    inline: ClassVar[bool] = True

    prune_per_call = 4
    """How many ended counters one call drops at most (bounded work per call)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._ends: dict[float, deque[tuple[float, str]]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        with self._lock:
            count, reset_at = self._counts.get(key, (0, 0.0))
            count, new_reset = window_hit(count, reset_at, window=window, now=now, amount=amount)
            if new_reset != reset_at:  # a new window: queued by its end, to be forgotten then
                queue = self._ends.get(window)
                if queue is None:
                    queue = self._ends[window] = deque()
                queue.append((new_reset, key))
            self._counts[key] = (count, new_reset)
            self._prune(now)
            return count, new_reset

    def _prune(self, now: float) -> None:
        """Drop at most ``prune_per_call`` counters whose windows have ended (under the
        lock). A queued entry whose key was taken or restarted since is skipped: the dict,
        not the queue, says when a counter ends."""
        budget = self.prune_per_call
        for window in list(self._ends):
            queue = self._ends[window]
            while budget and queue and queue[0][0] <= now:
                _, key = queue.popleft()
                budget -= 1
                held = self._counts.get(key)
                if held is not None and held[1] <= now:
                    del self._counts[key]
            if not queue:
                del self._ends[window]  # only the window lengths in use keep a queue
            if not budget:
                return

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        with self._lock:
            count, reset_at = self._counts.pop(key, (0, 0.0))
            taken, left = window_take(count, reset_at, now=now, at_most=at_most)
            if left:
                self._counts[key] = (left, reset_at)
            return taken

    def peek(self, key: str, *, now: float) -> tuple[int, float]:
        """``(count, reset_at)`` without counting (for inspection and tests)."""
        with self._lock:
            count, reset_at = self._counts.get(key, (0, 0.0))
        return (count, reset_at) if reset_at > now else (0, now)


class MemoryOneTimeStore:
    """One-time token hashes in a dict: one live token per (purpose, table, subject)."""

    inline: ClassVar[bool] = True

    def __init__(self, *, purge_every: int = 1000) -> None:
        self._by_hash: dict[str, tuple[str, str, str, float]] = {}
        """hash -> (purpose, table, subject, expires_at)"""
        self._by_owner: dict[tuple[str, str, str], str] = {}
        """(purpose, table, subject) -> the live token's hash"""
        self._purposes: set[str] = set()
        """Every purpose seen (a handful): what ``drop`` of every purpose goes through."""
        self._lock = threading.Lock()
        self._purge_every = purge_every
        self._puts = 0

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
        owner = (purpose, table, subject)
        with self._lock:
            earlier = self._by_owner.pop(owner, None)
            if earlier is not None:
                self._by_hash.pop(earlier, None)  # a new token kills the last one
            self._by_hash[token_hash] = (*owner, expires_at)
            self._by_owner[owner] = token_hash
            self._purposes.add(purpose)
            self._puts += 1
            if self._puts % self._purge_every == 0:
                for h, (p, t, s, exp) in list(self._by_hash.items()):
                    if exp <= now:
                        del self._by_hash[h]
                        self._by_owner.pop((p, t, s), None)

    def take(self, token_hash: str, *, purpose: str, table: str, now: float) -> str | None:
        with self._lock:
            entry = self._by_hash.get(token_hash)
            # Bound to its purpose and table: a reset token never verifies an email.
            if entry is None or entry[:2] != (purpose, table) or entry[3] <= now:
                return None
            del self._by_hash[token_hash]
            self._by_owner.pop(entry[:3], None)
            return entry[2]

    def drop(self, table: str, subject: str, *, purpose: str | None = None) -> None:
        with self._lock:
            for kind in list(self._purposes) if purpose is None else [purpose]:
                earlier = self._by_owner.pop((kind, table, subject), None)
                if earlier is not None:
                    self._by_hash.pop(earlier, None)

    def __len__(self) -> int:
        return len(self._by_hash)
