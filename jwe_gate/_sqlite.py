"""One SQLite file shared by the SQLite backend and stores: a connection per thread (``sqlite3``
connections must not cross threads), WAL so readers run beside a writer, and write transactions
that take the lock first."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SQLiteFile"]


def _use_wal(path: str, timeout: float) -> None:
    """Put the file in WAL mode, once, when it is opened (WAL is a property of the file, kept
    across connections). Switching the journal mode while other connections hold the file fails
    at once with "database is locked" -- SQLite does not wait on its busy timeout there -- so the
    switch is retried until ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        while True:
            try:
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    # Answers the mode it ended in: "memory" for ":memory:", never WAL.
                    conn.execute("PRAGMA journal_mode=WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
    finally:
        conn.close()


class SQLiteFile:
    """Base of the SQLite backend and stores."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._timeout = timeout
        self._local = threading.local()
        _use_wal(self.path, timeout)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            # Per connection, and takes no lock: the journal mode was set once, in __init__.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. BEGIN IMMEDIATE takes the write lock first, so no other writer
        (thread or process) can slip in between this transaction's reads and writes."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
