"""Tables: auth-enabled record sets, and the small protocol their backends implement.

A backend stores records (plain dicts with an ``id``) for one or more tables. Write one for
anything -- Mongo, an HTTP user service, Django's ORM -- by implementing the four sync methods of
:class:`Backend` **or** the four async ones of :class:`AsyncBackend`. Both kinds work under both
adapters: the :class:`Table` drivers below bridge them (a worker thread for a sync backend under
ASGI unless it says ``inline = True``; ``async_to_sync`` for an async backend under WSGI).

Contract for every backend:

* ``get(table, id)``: the record whose ``id`` (compared as a string) is ``id``, or None.
* ``find(table, field, value)``: the record whose ``field`` equals ``value``, or None.
* ``create(table, fields, unique=field)``: store a new record, assigning ``id`` and
  ``created_at`` (milliseconds since the epoch, like Xano); raise
  :class:`~jwe_gate.exceptions.DuplicateRecordError` if a record with the same ``fields[unique]``
  exists. Must be atomic: of two concurrent creates with one value, exactly one succeeds.
* ``update(table, id, changes)``: merge ``changes`` into the record; return it, or None if gone.

Records are returned as new dicts: callers may change them freely.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any, Protocol, runtime_checkable

from asgiref.sync import async_to_sync, sync_to_async

from ._types import Record
from .exceptions import ConfigurationError

__all__ = ["PASSWORD_CHANGED_AT", "PASSWORD_STAMP", "AsyncBackend", "Backend", "Table", "millis"]

PASSWORD_CHANGED_AT = "password_changed_at"
"""Record field holding the time (epoch seconds) of the last password change; always hidden."""

PASSWORD_STAMP = "pwc"
"""Claim holding the record's ``password_changed_at`` (0 if never) when the token was minted."""

def millis(t: float) -> float:
    """``t`` truncated to milliseconds: how :data:`PASSWORD_CHANGED_AT` is kept, so it survives
    JSON and SQL round trips and compares exactly with a token's ``pwc``."""
    return math.floor(t * 1000) / 1000


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@runtime_checkable
class Backend(Protocol):
    """A synchronous backend.

    It may also set a class attribute ``inline = True`` when ``get`` never blocks on the network
    (an in-process dict, a local SQLite file): ``get`` is then called on the event loop under
    ASGI, saving a thread hop (~100 µs) per request. Without it, every call runs in a thread.
    """

    def get(self, table: str, id: str) -> Record | None: ...
    def find(self, table: str, field: str, value: Any) -> Record | None: ...
    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record: ...
    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None: ...


@runtime_checkable
class AsyncBackend(Protocol):
    """An asynchronous backend: the same four methods, ``a``-prefixed coroutines."""

    async def aget(self, table: str, id: str) -> Record | None: ...
    async def afind(self, table: str, field: str, value: Any) -> Record | None: ...
    async def acreate(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record: ...
    async def aupdate(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None: ...


class Table:
    """One auth-enabled record set (``user``, ``admin``, ...).

    Args:
        name: the table name; tokens carry it in ``tbl``.
        backend: where the records live (:class:`Backend` or :class:`AsyncBackend`).
        login_field: the unique field users log in with (``email`` by default; ``username``
            works too). Emails are trimmed and lower-cased.
        password_field: the field holding the argon2 hash; never shown to the app.
        hidden: more fields the app never sees.
        access_ttl: access-token lifetime, seconds (15 minutes).
        refresh_ttl: refresh-token lifetime, seconds (30 days).
    """

    __slots__ = ("access_ttl", "aio", "backend", "hidden", "login_field", "name",
                 "password_field", "refresh_ttl", "sync")

    def __init__(
        self,
        name: str,
        backend: Backend | AsyncBackend,
        *,
        login_field: str = "email",
        password_field: str = "password",
        hidden: Collection[str] = (),
        access_ttl: float = 15 * 60,
        refresh_ttl: float = 30 * 24 * 3600,
    ) -> None:
        if isinstance(hidden, str):  # hidden="notes" would hide the fields n, o, t, e, s
            raise ConfigurationError("hidden must be a collection of field names, e.g. ['notes']")
        if "id" in (password_field, *hidden):  # user.identity (the token's sub) is the id
            raise ConfigurationError("the id field cannot be hidden")
        for label, value in (("name", name), ("login_field", login_field),
                             ("password_field", password_field), *(("hidden", h) for h in hidden)):
            # Names reach SQL backends as identifiers: keep them to a safe alphabet.
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ConfigurationError(f"table {label} {value!r} is not a valid identifier")
        if not (0 < access_ttl < math.inf and 0 < refresh_ttl < math.inf):  # NaN fails too
            raise ConfigurationError("token lifetimes must be positive and finite")
        if isinstance(backend, AsyncBackend):
            self.aio: AsyncBackend = backend
            self.sync: Backend = _AsyncToSync(backend)
        elif isinstance(backend, Backend):
            self.sync = backend
            self.aio = _SyncToAsync(backend)
        else:
            raise ConfigurationError(
                f"{type(backend).__name__} implements neither Backend nor AsyncBackend"
            )
        self.name = name
        self.backend = backend
        self.login_field = login_field
        self.password_field = password_field
        # The hash and the revocation stamp never reach the app (SPEC: What the app sees).
        self.hidden = frozenset({password_field, PASSWORD_CHANGED_AT, *hidden})
        self.access_ttl = float(access_ttl)
        self.refresh_ttl = float(refresh_ttl)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {type(self.backend).__name__})"

    def public(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record as the app may see it: hidden fields removed."""
        return {k: v for k, v in record.items() if k not in self.hidden}

    def normalize_login(self, value: str) -> str:
        """Trim, and lower-case emails, so lookups and storage agree."""
        value = value.strip()
        return value.lower() if self.login_field == "email" or "@" in value else value

    def get(self, id: str) -> Record | None:
        return self.sync.get(self.name, id)

    def find(self, value: Any) -> Record | None:
        return self.sync.find(self.name, self.login_field, value)

    def create(self, fields: Mapping[str, Any]) -> Record:
        return self.sync.create(self.name, fields, unique=self.login_field)

    def update(self, id: str, changes: Mapping[str, Any]) -> Record | None:
        return self.sync.update(self.name, id, changes)

    async def aget(self, id: str) -> Record | None:
        return await self.aio.aget(self.name, id)

    async def afind(self, value: Any) -> Record | None:
        return await self.aio.afind(self.name, self.login_field, value)

    async def acreate(self, fields: Mapping[str, Any]) -> Record:
        return await self.aio.acreate(self.name, fields, unique=self.login_field)

    async def aupdate(self, id: str, changes: Mapping[str, Any]) -> Record | None:
        return await self.aio.aupdate(self.name, id, changes)


class _SyncToAsync:
    """Runs a sync backend under ASGI: inline reads when it allows, else a worker thread."""

    __slots__ = ("_b", "_create", "_find", "_get", "_inline", "_update")

    def __init__(self, backend: Backend) -> None:
        self._b = backend
        self._inline = getattr(backend, "inline", False) is True
        self._get = sync_to_async(backend.get, thread_sensitive=False)
        self._find = sync_to_async(backend.find, thread_sensitive=False)
        self._create = sync_to_async(backend.create, thread_sensitive=False)
        self._update = sync_to_async(backend.update, thread_sensitive=False)

    async def aget(self, table: str, id: str) -> Record | None:
        if self._inline:  # a local read costs microseconds; a thread hop costs ~100 µs
            return self._b.get(table, id)
        return await self._get(table, id)

    async def afind(self, table: str, field: str, value: Any) -> Record | None:
        return await self._find(table, field, value)

    async def acreate(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        # Writes always go to a thread: even a local SQLite write can wait on a lock.
        return await self._create(table, fields, unique=unique)

    async def aupdate(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        return await self._update(table, id, changes)


class _AsyncToSync:
    """Runs an async backend from sync code (WSGI, the command line) via asgiref."""

    __slots__ = ("_b",)
    inline = False

    def __init__(self, backend: AsyncBackend) -> None:
        self._b = backend

    def get(self, table: str, id: str) -> Record | None:
        return async_to_sync(self._b.aget)(table, id)

    def find(self, table: str, field: str, value: Any) -> Record | None:
        return async_to_sync(self._b.afind)(table, field, value)

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        return async_to_sync(self._b.acreate)(table, fields, unique=unique)

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        return async_to_sync(self._b.aupdate)(table, id, changes)
