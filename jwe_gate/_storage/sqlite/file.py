"""One SQLite file, shared by the SQLite backend and stores: a connection per thread
(``sqlite3`` connections must not cross threads), all of them closed by ``SQLiteFile.close``;
WAL so readers run beside a writer, switched on once per file; write transactions that take the
lock first (``BEGIN IMMEDIATE``), so racing refreshes or signups, in one process or many, are
serialised by SQLite's write lock."""

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
        self._open: list[_Slot] = []
        self._open_lock = threading.Lock()
        _use_wal(self.path, timeout)

    def _use(self) -> _Slot:
        """This thread's connection, held for one operation (``with self._use() as conn``).
        ``close`` may be called from any thread: it takes each connection's lock, so it
        never closes one mid-statement (that crashes the sqlite3 module), and the owner opens a
        new one on its next use."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            slot = self._local.slot = _Slot(self.path, self._timeout)
            with self._open_lock:
                self._open.append(slot)
        return slot

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. BEGIN IMMEDIATE takes the write lock first, so no other writer
        (thread or process) can slip in between this transaction's reads and writes."""
        with self._use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connections of every thread (each opens a new one on its next use)."""
        with self._open_lock:
            slots = list(self._open)
        for slot in slots:
            with slot.lock:
                if slot.conn is not None:
                    slot.conn.close()
                    slot.conn = None


class _Slot:
    """One thread's connection and the lock held while it is used: a context manager (a plain
    class, not ``contextlib``: it is entered on every request)."""

    __slots__ = ("conn", "lock", "path", "timeout")

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.conn: sqlite3.Connection | None = None
        self.lock = threading.RLock()

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        conn = self.conn
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )  # closable by close()
                # Per connection, and takes no lock: the journal mode was set once per file.
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                self.lock.release()
                raise
            self.conn = conn
        return conn

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
