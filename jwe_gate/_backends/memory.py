"""The in-memory backend: a dict and a lock. For tests and examples."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from threading import Lock
from typing import Any

from .._types import Record
from ..exceptions import ConfigurationError, DuplicateRecordError

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Records held in process memory, for one table (give each table its own).

    Args:
        records: initial records, each a dict with an ``id``.
    """

    inline = True

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self._records: dict[str, Record] = {}
        self._lock = Lock()
        self._next_id = 1
        for record in records:
            if "id" not in record:
                raise ConfigurationError("every MemoryBackend record needs an 'id'")
            self._records[str(record["id"])] = dict(record)
            if isinstance(record["id"], int):
                self._next_id = max(self._next_id, record["id"] + 1)

    def get(self, table: str, id: str) -> Record | None:
        record = self._records.get(id)
        return dict(record) if record is not None else None

    def find(self, table: str, field: str, value: Any) -> Record | None:
        with self._lock:
            for record in self._records.values():
                if record.get(field) == value:
                    return dict(record)
        return None

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        with self._lock:
            value = fields.get(unique)
            if any(r.get(unique) == value for r in self._records.values()):
                raise DuplicateRecordError(f"{unique} already in use")
            while str(self._next_id) in self._records:  # a seeded "3" must not be overwritten
                self._next_id += 1
            record: Record = {**dict(fields), "id": self._next_id,
                              "created_at": int(time.time() * 1000)}
            self._records[str(self._next_id)] = record
            self._next_id += 1
            return dict(record)

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        with self._lock:
            record = self._records.get(id)
            if record is None:
                return None
            # id and created_at are the backend's, as in SQLiteBackend: never overwritten.
            record.update({k: v for k, v in changes.items() if k not in ("id", "created_at")})
            return dict(record)

    def __len__(self) -> int:
        return len(self._records)
