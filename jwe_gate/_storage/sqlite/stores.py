"""SQLite refresh and throttle stores: shared by every process that opens the same file. Each
operation is one ``BEGIN IMMEDIATE`` transaction or one statement; the state transitions are
:mod:`jwe_gate._storage.state`'s."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import ClassVar

from ..protocols import Outcome, Rotation, Session
from ..state import Step, TokenState, rotation, window_take
from .file import SQLiteFile

__all__ = ["SQLiteRefreshStore", "SQLiteThrottleStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jwe_gate_refresh_family (
    family TEXT PRIMARY KEY, tbl TEXT NOT NULL, subject TEXT NOT NULL, revoked_at REAL,
    created_at REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jwe_gate_refresh_family_subject
    ON jwe_gate_refresh_family (tbl, subject);
CREATE TABLE IF NOT EXISTS jwe_gate_refresh_token (
    token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, expires_at REAL NOT NULL,
    spent_at REAL, child_hash TEXT);
CREATE INDEX IF NOT EXISTS jwe_gate_refresh_token_family ON jwe_gate_refresh_token (family);
CREATE TABLE IF NOT EXISTS jwe_gate_throttle (
    key TEXT PRIMARY KEY, count INTEGER NOT NULL, reset_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jwe_gate_throttle_reset ON jwe_gate_throttle (reset_at);
"""


class _SQLiteStore(SQLiteFile):
    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        super().__init__(path, timeout=timeout)
        self._adds = 0
        with self._use() as conn:
            conn.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a file made by an older version up to the current schema."""
        with self._use() as conn:
            if "created_at" in self._columns(conn):
                return
        with self._tx() as conn:  # the write lock, then look again: racing openers add it once
            if "created_at" not in self._columns(conn):
                # Older files did not record when a family began. Their families read as begun
                # at 0: after the record's next password change they are refused (fail closed),
                # and until then they work as before.
                conn.execute(
                    "ALTER TABLE jwe_gate_refresh_family "
                    "ADD COLUMN created_at REAL NOT NULL DEFAULT 0"
                )

    @staticmethod
    def _columns(conn: sqlite3.Connection) -> set[str]:
        return {row[1] for row in conn.execute("PRAGMA table_info(jwe_gate_refresh_family)")}


class SQLiteRefreshStore(_SQLiteStore):
    """Refresh-token hashes in SQLite tables ``jwe_gate_refresh_family`` and ``_token``."""

    # Writes can wait on another writer's lock: keep them off the event loop.
    inline: ClassVar[bool] = False

    purge_every = 1000
    """Every so many ``add`` calls (per instance), expired rows are deleted."""

    def add(self, token_hash: str, session: Session, *, expires_at: float, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO jwe_gate_refresh_family (family, tbl, subject, created_at)"
                " VALUES (?, ?, ?, ?)",
                (session.family, session.table, session.subject, session.created_at),
            )
            conn.execute(
                "INSERT INTO jwe_gate_refresh_token (token_hash, family, expires_at) "
                "VALUES (?, ?, ?)",
                (token_hash, session.family, expires_at),
            )
        self._adds += 1
        if self._adds % self.purge_every == 0:
            self.purge(now)

    def purge(self, now: float) -> None:
        """Delete expired tokens and the families left without one."""
        with self._tx() as conn:
            conn.execute("DELETE FROM jwe_gate_refresh_token WHERE expires_at <= ?", (now,))
            conn.execute(
                "DELETE FROM jwe_gate_refresh_family WHERE family NOT IN "
                "(SELECT family FROM jwe_gate_refresh_token)"
            )

    def rotate(
        self, token_hash: str, child_hash: str, *, now: float, expires_at: float, grace: float
    ) -> Rotation:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT t.family, t.expires_at, t.spent_at, t.child_hash, f.tbl, f.subject, "
                "f.revoked_at, f.created_at, c.spent_at IS NULL AND c.token_hash IS NOT NULL "
                "FROM jwe_gate_refresh_token t "
                "JOIN jwe_gate_refresh_family f ON f.family = t.family "
                "LEFT JOIN jwe_gate_refresh_token c ON c.token_hash = t.child_hash "
                "WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            if row is None:
                return Rotation(Outcome.INVALID)
            family, expires, spent_at, child, tbl, subject, revoked_at, created, live = row
            outcome, step = rotation(
                TokenState(expires, spent_at, child, revoked_at is not None),
                child_hash=child_hash,
                now=now,
                grace=grace,
                child_unspent=bool(live),
            )
            if outcome is Outcome.INVALID:
                return Rotation(outcome)
            if step is Step.SPEND:
                conn.execute(
                    "UPDATE jwe_gate_refresh_token SET spent_at = ?, child_hash = ? "
                    "WHERE token_hash = ?",
                    (now, child_hash, token_hash),
                )
                conn.execute(
                    "INSERT INTO jwe_gate_refresh_token (token_hash, family, expires_at)"
                    " VALUES (?, ?, ?)",
                    (child_hash, family, expires_at),
                )
            elif step is Step.REVOKE:
                conn.execute(
                    "UPDATE jwe_gate_refresh_family SET revoked_at = ? WHERE family = ?",
                    (now, family),
                )
            return Rotation(outcome, Session(family, tbl, subject, float(created)))

    def revoke(self, token_hash: str) -> Session | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT f.family, f.tbl, f.subject, f.created_at FROM jwe_gate_refresh_token t "
                "JOIN jwe_gate_refresh_family f ON f.family = t.family WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jwe_gate_refresh_family SET revoked_at = "
                "COALESCE(revoked_at, ?) WHERE family = ?",
                (time.time(), row[0]),
            )
            return Session(row[0], row[1], row[2], float(row[3]))

    def revoke_family(self, family: str) -> None:
        with self._use() as conn:
            conn.execute(
                "UPDATE jwe_gate_refresh_family SET revoked_at = "
                "COALESCE(revoked_at, ?) WHERE family = ?",
                (time.time(), family),
            )

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        with self._use() as conn:
            conn.execute(
                "UPDATE jwe_gate_refresh_family SET revoked_at = COALESCE(revoked_at, ?) "
                "WHERE tbl = ? AND subject = ? AND family IS NOT ?",
                (time.time(), table, subject, keep),
            )

    def unspent(self, family: str, *, now: float) -> int:
        """How many live, unspent tokens ``family`` has (for inspection and tests)."""
        with self._use() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM jwe_gate_refresh_token t JOIN jwe_gate_refresh_family f "
                "ON f.family = t.family WHERE t.family = ? AND t.spent_at IS NULL "
                "AND t.expires_at > ? AND f.revoked_at IS NULL",
                (family, now),
            ).fetchone()
        return int(row[0])


class SQLiteThrottleStore(_SQLiteStore):
    """Login-failure counters in the SQLite table ``jwe_gate_throttle``. Each ``hit`` also
    deletes at most :attr:`prune_per_call` rows whose windows have ended (found through an index
    on ``reset_at``): bounded work per call, and the table stays bounded by the live windows."""

    inline: ClassVar[bool] = False

    prune_per_call = 4
    """How many ended rows one ``hit`` deletes at most."""

    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        # One upsert: a new or ended window restarts at `amount`, else the count moves by it.
        # fetchall, not fetchone: the statement runs to its end, so its write lock is let go now.
        first = max(0, amount)
        with self._use() as conn:
            rows = conn.execute(
                "INSERT INTO jwe_gate_throttle (key, count, reset_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN reset_at <= ? THEN ? ELSE MAX(0, count + ?) END, "
                "reset_at = CASE WHEN reset_at <= ? THEN excluded.reset_at ELSE reset_at END "
                "RETURNING count, reset_at",
                (key, first, now + window, now, first, amount, now),
            ).fetchall()
            # Ended windows are forgotten a few at a time (the index finds them): an ended row
            # counts as nothing anyway, so deleting it never changes an answer.
            conn.execute(
                "DELETE FROM jwe_gate_throttle WHERE key IN (SELECT key FROM jwe_gate_throttle "
                "WHERE reset_at <= ? ORDER BY reset_at LIMIT ?)",
                (now, self.prune_per_call),
            )
        return int(rows[0][0]), float(rows[0][1])

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        if at_most is None:
            # One DELETE ... RETURNING: of racing takes, exactly one sees the row.
            with self._use() as conn:
                rows = conn.execute(
                    "DELETE FROM jwe_gate_throttle WHERE key = ? RETURNING count, reset_at", (key,)
                ).fetchall()
            return int(rows[0][0]) if rows and rows[0][1] > now else 0
        with self._tx() as conn:  # RETURNING shows only the new count: read it first, locked
            row = conn.execute(
                "SELECT count, reset_at FROM jwe_gate_throttle WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return 0
            taken, left = window_take(int(row[0]), float(row[1]), now=now, at_most=at_most)
            if left:
                conn.execute("UPDATE jwe_gate_throttle SET count = ? WHERE key = ?", (left, key))
            else:
                conn.execute("DELETE FROM jwe_gate_throttle WHERE key = ?", (key,))
            return taken

    def peek(self, key: str, *, now: float) -> tuple[int, float]:
        """``(count, reset_at)`` without counting (for inspection and tests)."""
        with self._use() as conn:
            row = conn.execute(
                "SELECT count, reset_at FROM jwe_gate_throttle WHERE key = ?", (key,)
            ).fetchone()
        if row is None or row[1] <= now:
            return 0, now
        return int(row[0]), float(row[1])
