"""The SQLite backend (stdlib ``sqlite3``), the embedded default.

Each table is ``(id INTEGER PRIMARY KEY AUTOINCREMENT, created_at INTEGER, data TEXT)`` with the
other fields as a JSON object in ``data``, and a unique expression index on the login field, so
any record shape fits and concurrent signups with one email create exactly one record.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from ...exceptions import BackendError, DuplicateRecordError
from ...types import Record
from .file import SQLiteFile

__all__ = ["SQLiteBackend"]


class SQLiteBackend(SQLiteFile):
    """Records in a SQLite file; creates its tables on first use.

    Args:
        path: the database file (created if missing).
        timeout: seconds a writer waits for another writer's lock.
    """

    inline: ClassVar[bool] = True  # a primary-key read from a local file takes microseconds

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        super().__init__(path, timeout=timeout)
        self._ready: set[str] = set()
        self._indexed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _table(self, conn: sqlite3.Connection, table: str) -> sqlite3.Connection:
        if table not in self._ready:
            _check_names(table)
            with self._lock:
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{table}" (id INTEGER PRIMARY KEY AUTOINCREMENT,'
                    " created_at INTEGER NOT NULL, data TEXT NOT NULL)"
                )
                self._ready.add(table)
        return conn

    def _index(self, conn: sqlite3.Connection, table: str, field: str) -> None:
        if (table, field) not in self._indexed:
            _check_names(field)
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
        rowid = _rowid(id)
        if rowid is None:
            return None
        with self._use() as conn:
            row = (
                self._table(conn, table)
                .execute(f'SELECT id, created_at, data FROM "{table}" WHERE id = ?', (rowid,))
                .fetchone()
            )
        return self._record(row)

    def find(self, table: str, field: str, value: Any) -> Record | None:
        with self._use() as conn:
            self._index(self._table(conn, table), table, field)
            row = conn.execute(
                f'SELECT id, created_at, data FROM "{table}" '
                f"WHERE json_extract(data, '$.{field}') = ?",
                (value,),
            ).fetchone()
        return self._record(row)

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        data = {k: v for k, v in fields.items() if k not in ("id", "created_at")}
        created = fields.get("created_at")
        if not isinstance(created, int):  # the Table sets it; a direct caller may not
            created = int(time.time() * 1000)
        with self._use() as conn:
            self._index(self._table(conn, table), table, unique)
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
        rowid = _rowid(id)
        if rowid is None:
            return None
        with self._use() as conn:
            self._table(conn, table)
        patch = {k: v for k, v in changes.items() if k not in ("id", "created_at")}  # columns
        # A shallow merge, as MemoryBackend does: json_patch (RFC 7396) would delete a field set
        # to None and deep-merge nested objects. The write transaction takes the lock first, so
        # two updates cannot interleave between the read and the write.
        with self._tx() as conn:
            row = conn.execute(
                f'SELECT id, created_at, data FROM "{table}" WHERE id = ?', (rowid,)
            ).fetchone()
            record: Record | None = None
            if row is not None:
                data = {**json.loads(row[2]), **patch}
                conn.execute(
                    f'UPDATE "{table}" SET data = ? WHERE id = ?', (json.dumps(data), rowid)
                )
                record = {**data, "id": row[0], "created_at": row[1]}
        return record


def _rowid(id: str) -> int | None:
    """The row id ``id`` names, or None: ids compare as strings, so only the canonical decimal
    spelling of a 64-bit row id names a row ("01", "1.0", " 1" and "" name none)."""
    if not (id.isascii() and id.isdecimal()) or len(id) > 19 or (id[0] == "0" and id != "0"):
        return None
    rowid = int(id)
    return rowid if rowid <= 2**63 - 1 else None  # sqlite3 raises OverflowError past int64


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _check_names(*names: str) -> None:
    # Names are spliced into SQL as identifiers: only a plain identifier may pass.
    for name in names:
        if not _IDENT.fullmatch(name):
            raise BackendError(f"invalid table or field name {name!r}")
