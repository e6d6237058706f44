"""A table backend in a page: records kept by some other service, here a dict behind asyncio.

Implement the four sync methods (get, find, create, update) *or* their async twins (aget, afind,
acreate, aupdate), and say whether calls may run on the event loop (``inline``). Both kinds work
under gate.asgi and gate.wsgi. The Table in front of it keeps the invariants (it sets
``created_at`` and never passes ``id`` or ``created_at`` to ``update``), and
``jwe_gate.testing.BackendContract`` proves a backend in a few lines -- see
tests/contract/test_custom_backend.py.

An async backend always runs on one event loop: under gate.asgi the server's, under gate.wsgi (or
any sync caller) jwe_gate's background loop. So the asyncio.Lock below, like an asyncpg pool or an
SQLAlchemy AsyncEngine, works under either -- but not under both at once in one process (two
loops): there, give each side its own backend object.
"""

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

from jwe_gate import DuplicateRecordError, Gate, KeyRing, Table


class AsyncDictBackend:
    """Pretends to be a remote user service: every call awaits. Keeps each table apart."""

    inline: ClassVar[bool] = False  # a remote service: never on the event loop's own time

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def aget(self, table: str, id: str) -> dict[str, Any] | None:
        row = self._rows.get((table, id))
        return dict(row) if row else None

    async def afind(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        return next(
            (dict(r) for (t, _), r in self._rows.items() if t == table and r.get(field) == value),
            None,
        )

    async def acreate(
        self, table: str, fields: Mapping[str, Any], *, unique: str
    ) -> dict[str, Any]:
        async with self._lock:  # check-and-insert must be atomic
            if await self.afind(table, unique, fields[unique]):
                raise DuplicateRecordError(unique)
            row = {**fields, "id": next(self._ids)}
            self._rows[(table, str(row["id"]))] = row
            return dict(row)

    async def aupdate(
        self, table: str, id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        async with self._lock:
            row = self._rows.get((table, id))
            if row is None:
                return None
            row.update(changes)
            return dict(row)


gate = Gate(
    keys=KeyRing.generate(),
    tables=[Table("user", AsyncDictBackend())],
    auth_routes={"/auth": "user"},
)
