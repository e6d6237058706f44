"""SQLite refresh and throttle stores: shared by every process that opens the same file. Each
operation is one ``BEGIN IMMEDIATE`` transaction or one statement; the state transitions are
``jwe_gate._storage.state``'s."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import ClassVar

from ..protocols import Outcome, Rotation, Session
from ..state import FamilyState, Step, rotation, window_take
from .file import SQLiteFile

__all__ = ["SQLiteOneTimeStore", "SQLiteRefreshStore", "SQLiteThrottleStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jwe_gate_session (
    family TEXT PRIMARY KEY, tbl TEXT NOT NULL, subject TEXT NOT NULL, created_at REAL NOT NULL,
    revoked_at REAL, head TEXT NOT NULL, prev TEXT, rotated_at REAL NOT NULL,
    expires_at REAL NOT NULL, generation INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jwe_gate_session_subject ON jwe_gate_session (tbl, subject);
CREATE INDEX IF NOT EXISTS jwe_gate_session_head ON jwe_gate_session (head);
CREATE TABLE IF NOT EXISTS jwe_gate_once (
    token_hash TEXT PRIMARY KEY, purpose TEXT NOT NULL, tbl TEXT NOT NULL,
    subject TEXT NOT NULL, expires_at REAL NOT NULL, UNIQUE (purpose, tbl, subject));
CREATE TABLE IF NOT EXISTS jwe_gate_throttle (
    key TEXT PRIMARY KEY, count INTEGER NOT NULL, reset_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jwe_gate_throttle_reset ON jwe_gate_throttle (reset_at);
"""

_LEGACY = ("jwe_gate_refresh_family", "jwe_gate_refresh_token")
"""The tables of the first format: one row per refresh token ever minted."""

_MOVE = (
    "INSERT OR IGNORE INTO jwe_gate_session (family, tbl, subject, created_at, head, rotated_at, "
    "expires_at) SELECT f.family, f.tbl, f.subject, {created}, t.token_hash, ?, t.expires_at "
    "FROM jwe_gate_refresh_family f JOIN jwe_gate_refresh_token t ON t.family = f.family "
    "WHERE f.revoked_at IS NULL AND t.spent_at IS NULL"
)
"""Each live family of the first format, from its unspent token ({created}: its start, or 0)."""

_FAMILY = (
    "SELECT family, tbl, subject, created_at, revoked_at, head, prev, rotated_at, expires_at, "
    "generation FROM jwe_gate_session WHERE "
)


class _SQLiteStore(SQLiteFile):
    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        super().__init__(path, timeout=timeout)
        self._adds = 0
        with self._use() as conn:
            conn.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a file of the first format (a row per token) to one row per session: each
        live family keeps working from its unspent token; the old tables are dropped."""
        with self._use() as conn:
            if not self._legacy(conn):
                return
        with self._tx() as conn:  # the write lock, then look again: racing openers move it once
            if not self._legacy(conn):
                return
            columns = {r[1] for r in conn.execute("PRAGMA table_info(jwe_gate_refresh_family)")}
            # Families of files older still did not record when they began: they read as begun
            # at 0, so the record's next password change refuses them (fail closed).
            created = "f.created_at" if "created_at" in columns else "0"
            conn.execute(_MOVE.replace("{created}", created), (time.time(),))
            for table in _LEGACY:
                conn.execute(f"DROP TABLE {table}")

    @staticmethod
    def _legacy(conn: sqlite3.Connection) -> bool:
        found = conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", _LEGACY
        ).fetchone()
        return bool(found[0] == len(_LEGACY))


class SQLiteRefreshStore(_SQLiteStore):
    """Sessions in the SQLite table ``jwe_gate_session``: one row per family, however often it
    is refreshed."""

    # Writes can wait on another writer's lock: keep them off the event loop.
    inline: ClassVar[bool] = False
    # The per-request session read is a primary-key read that WAL never makes wait on a
    # writer (as SQLiteBackend.get): it runs on the event loop, without a thread hop.
    inline_session: ClassVar[bool] = True

    purge_every = 1000
    """Every so many ``add`` calls (per instance), expired rows are deleted."""

    def add(self, token_hash: str, session: Session, *, expires_at: float, now: float) -> None:
        with self._use() as conn:
            conn.execute(
                "INSERT INTO jwe_gate_session (family, tbl, subject, created_at, head, "
                "rotated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session.family,
                    session.table,
                    session.subject,
                    session.created_at,
                    token_hash,
                    now,
                    expires_at,
                ),
            )
        self._adds += 1
        if self._adds % self.purge_every == 0:
            self.purge(now)

    def purge(self, now: float) -> None:
        """Delete expired sessions."""
        with self._use() as conn:
            conn.execute("DELETE FROM jwe_gate_session WHERE expires_at <= ?", (now,))

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
        with self._tx() as conn:
            row = conn.execute(_FAMILY + "family = ?", (family,)).fetchone()
            if row is None:
                # A token of the first format names no family: its family is found by its hash.
                row = conn.execute(_FAMILY + "head = ?", (token_hash,)).fetchone()
            if row is None:
                return Rotation(Outcome.INVALID)
            fam, tbl, subject, created, revoked, head, prev, rotated_at, expires, gen = row
            outcome, step = rotation(
                FamilyState(head, prev, rotated_at, expires, revoked is not None),
                token_hash=token_hash,
                child_hash=child_hash,
                now=now,
                grace=grace,
            )
            if outcome is Outcome.INVALID:
                return Rotation(outcome)
            if step is Step.ADVANCE:
                conn.execute(
                    "UPDATE jwe_gate_session SET prev = head, head = ?, rotated_at = ?, "
                    "expires_at = ?, generation = generation + 1 WHERE family = ?",
                    (child_hash, now, expires_at, fam),
                )
                head, gen = child_hash, gen + 1
            elif step is Step.REVOKE:
                conn.execute(
                    "UPDATE jwe_gate_session SET revoked_at = ? WHERE family = ?", (now, fam)
                )
            return Rotation(outcome, Session(fam, tbl, subject, float(created)), head, int(gen))

    def revoke(self, family: str, token_hash: str) -> Session | None:
        with self._use() as conn:
            rows = conn.execute(
                "UPDATE jwe_gate_session SET revoked_at = COALESCE(revoked_at, ?) "
                # The second test finds a first-format token's family by its hash.
                "WHERE (family = ? AND ? IN (head, prev)) OR head = ? "
                "RETURNING family, tbl, subject, created_at",
                (time.time(), family, token_hash, token_hash),
            ).fetchall()
        return Session(rows[0][0], rows[0][1], rows[0][2], float(rows[0][3])) if rows else None

    def revoke_family(self, family: str) -> None:
        with self._use() as conn:
            conn.execute(
                "UPDATE jwe_gate_session SET revoked_at = COALESCE(revoked_at, ?) WHERE family = ?",
                (time.time(), family),
            )

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        with self._use() as conn:
            conn.execute(
                "UPDATE jwe_gate_session SET revoked_at = COALESCE(revoked_at, ?) "
                "WHERE tbl = ? AND subject = ? AND family IS NOT ?",
                (time.time(), table, subject, keep),
            )

    def session(self, family: str) -> Session | None:
        with self._use() as conn:
            row = conn.execute(
                "SELECT tbl, subject, created_at FROM jwe_gate_session "
                "WHERE family = ? AND revoked_at IS NULL",
                (family,),
            ).fetchone()
        return None if row is None else Session(family, row[0], row[1], float(row[2]))

    def unspent(self, family: str, *, now: float) -> int:
        """How many live, unspent tokens ``family`` has: its head, or none (for tests)."""
        with self._use() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM jwe_gate_session WHERE family = ? AND revoked_at IS NULL "
                "AND expires_at > ?",
                (family, now),
            ).fetchone()
        return int(row[0])


class SQLiteThrottleStore(_SQLiteStore):
    """Login-failure counters in the SQLite table ``jwe_gate_throttle``. Each ``hit`` also
    deletes at most ``prune_per_call`` rows whose windows have ended (found through an index
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


class SQLiteOneTimeStore(_SQLiteStore):
    """One-time token hashes in the SQLite table ``jwe_gate_once``: one row per (purpose,
    table, subject), each operation one statement."""

    inline: ClassVar[bool] = False

    purge_every = 1000
    """Every so many ``put`` calls (per instance), expired rows are deleted."""

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
        with self._use() as conn:
            # REPLACE deletes the row the unique (purpose, tbl, subject) names: the earlier
            # unused token dies in the same statement.
            conn.execute(
                "INSERT OR REPLACE INTO jwe_gate_once (token_hash, purpose, tbl, subject, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (token_hash, purpose, table, subject, expires_at),
            )
        self._adds += 1
        if self._adds % self.purge_every == 0:
            with self._use() as conn:
                conn.execute("DELETE FROM jwe_gate_once WHERE expires_at <= ?", (now,))

    def take(self, token_hash: str, *, purpose: str, table: str, now: float) -> str | None:
        with self._use() as conn:
            # One DELETE ... RETURNING: of racing takes, exactly one sees the row.
            rows = conn.execute(
                "DELETE FROM jwe_gate_once WHERE token_hash = ? AND purpose = ? AND tbl = ? "
                "AND expires_at > ? RETURNING subject",
                (token_hash, purpose, table, now),
            ).fetchall()
        return str(rows[0][0]) if rows else None

    def drop(self, table: str, subject: str, *, purpose: str | None = None) -> None:
        with self._use() as conn:
            conn.execute(
                "DELETE FROM jwe_gate_once WHERE tbl = ? AND subject = ? "
                "AND (? IS NULL OR purpose = ?)",
                (table, subject, purpose, purpose),
            )
