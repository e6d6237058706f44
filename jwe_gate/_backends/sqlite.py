"""The SQLite backend (stdlib ``sqlite3``): the embedded default.

Each table is ``(id INTEGER PRIMARY KEY AUTOINCREMENT, created_at INTEGER, data TEXT)`` with the
other fields as a JSON object in ``data``, and a unique expression index on the login field, so
any record shape fits and concurrent signups with one email create exactly one record. Every
thread gets its own connection (``sqlite3`` connections must not be shared across threads); WAL
mode lets readers run beside a writer.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from typing import Any

from .._types import Record
from ..exceptions import BackendError, DuplicateRecordError

__all__ = ["SQLiteBackend"]


class SQLiteBackend:
    """Records in a SQLite file; creates its tables on first use.

    Args:
        path: the database file (created if missing).
        timeout: seconds a writer waits for another writer's lock.
    """

    inline = True  # a primary-key read from a local file takes microseconds

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._timeout = timeout
        self._local = threading.local()
        self._ready: set[str] = set()
        self._indexed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _table(self, table: str) -> sqlite3.Connection:
        conn = self._conn()
        if table not in self._ready:
            with self._lock:
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{table}" (id INTEGER PRIMARY KEY AUTOINCREMENT,'
                    " created_at INTEGER NOT NULL, data TEXT NOT NULL)"
                )
                self._ready.add(table)
        return conn

    def _index(self, conn: sqlite3.Connection, table: str, field: str) -> None:
        if (table, field) not in self._indexed:
            with self._lock:
                conn.execute(
                    f'CREATE UNIQUE INDEX IF NOT EXISTS "{table}__{field}" '
                    f"ON \"{table}\" (json_extract(data, '$.{field}'))"
                )
                self._indexed.add((table, field))

    @staticmethod
    def _record(row: tuple[int, int, str] | None) -> Record | None:
        if row is None:
            return None
        record: Record = json.loads(row[2])
        record["id"] = row[0]
        record["created_at"] = row[1]
        return record

    def get(self, table: str, id: str) -> Record | None:
        # Only decimal ids name a row; anything else ("1.0", " 1") is no record.
        if not id.isdecimal() or not id.isascii() or len(id) > 19:
            return None
        row = self._table(table).execute(
            f'SELECT id, created_at, data FROM "{table}" WHERE id = ?', (int(id),)
        ).fetchone()
        return self._record(row)

    def find(self, table: str, field: str, value: Any) -> Record | None:
        conn = self._table(table)
        self._index(conn, table, field)
        row = conn.execute(
            f"SELECT id, created_at, data FROM \"{table}\" WHERE json_extract(data, '$.{field}') = ?",
            (value,),
        ).fetchone()
        return self._record(row)

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        conn = self._table(table)
        self._index(conn, table, unique)
        data = {k: v for k, v in fields.items() if k not in ("id", "created_at")}
        created = int(time.time() * 1000)
        try:
            cur = conn.execute(
                f'INSERT INTO "{table}" (created_at, data) VALUES (?, ?)',
                (created, json.dumps(data)),
            )
        except sqlite3.IntegrityError as exc:
            # The unique index decides: of two racing signups, exactly one insert succeeds.
            raise DuplicateRecordError(f"{unique} already in use") from exc
        if cur.lastrowid is None:  # pragma: no cover - sqlite always sets it after INSERT
            raise BackendError("insert returned no id")
        return {**data, "id": cur.lastrowid, "created_at": created}

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        if not id.isdecimal() or not id.isascii() or len(id) > 19:
            return None
        conn = self._table(table)
        patch = {k: v for k, v in changes.items() if k not in ("id", "created_at")}
        # json_patch merges in one statement: no read-then-write window between two updates.
        row = conn.execute(
            f'UPDATE "{table}" SET data = json_patch(data, ?) WHERE id = ? '
            "RETURNING id, created_at, data",
            (json.dumps(patch), int(id)),
        ).fetchone()
        return self._record(row)

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
