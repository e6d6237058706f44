"""Tables: auth-enabled record sets, and the small protocol their backends implement.

A backend stores records (plain dicts with an ``id``) for one or more tables. Write one for
anything -- Mongo, an HTTP user service, Django's ORM -- by implementing the four sync methods of
:class:`Backend` **or** the four async ones of :class:`AsyncBackend`. Both kinds work under both
adapters: the :class:`Table` drivers below bridge them (a worker thread for a sync backend under
ASGI unless it says ``inline = True``; one long-lived background event loop for an async backend
called from sync code, e.g. under WSGI).

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

import asyncio
import math
import os
import re
import threading
from collections.abc import Awaitable, Collection, Coroutine, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from asgiref.sync import sync_to_async

from ._types import Record
from .exceptions import ConfigurationError

__all__ = ["PASSWORD_CHANGED_AT", "PASSWORD_STAMP", "AsyncBackend", "Backend", "Table", "millis",
           "password_stamp"]

PASSWORD_CHANGED_AT = "password_changed_at"
"""Record field holding the time (epoch seconds) of the last password change; always hidden."""

PASSWORD_STAMP = "pwc"
"""Claim holding the record's ``password_changed_at`` (0 if never) when the token was minted."""

def password_stamp(record: Mapping[str, Any]) -> float:
    """The record's :data:`PASSWORD_CHANGED_AT`, 0 if never changed (or not a finite number).
    The one reading of it: the gate's revocation check and the minted ``pwc`` must agree."""
    stamp = record.get(PASSWORD_CHANGED_AT)
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and math.isfinite(stamp):
        return stamp
    return 0


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

    def get(self, table: str, id: str) -> Record | None:
        """The record whose ``id`` (compared as a string) is ``id``, or None."""
        ...

    def find(self, table: str, field: str, value: Any) -> Record | None:
        """The record whose ``field`` equals ``value``, or None."""
        ...

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        """Atomically store a new record with ``id`` and ``created_at`` (ms), or raise
        DuplicateRecordError if one with the same ``fields[unique]`` exists."""
        ...

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        """Merge ``changes`` into the record and return it, or None if there is no such id."""
        ...


@runtime_checkable
class AsyncBackend(Protocol):
    """An asynchronous backend: the same four methods, ``a``-prefixed coroutines.

    An async backend runs on one event loop: under ASGI the server's; called from sync code
    (WSGI, the command line, ``Table.get``) a dedicated background loop, one per process, shared
    by every async backend. So loop-bound resources (asyncpg or aiosqlite connections, an
    SQLAlchemy ``AsyncEngine``'s pool, an ``asyncio.Lock``) work under either adapter. But those
    are two different loops: a backend used from both ASGI and sync code in one process sees
    both, and its loop-bound resources must cope (e.g. one backend object per side).
    """

    async def aget(self, table: str, id: str) -> Record | None:
        """The record whose ``id`` (compared as a string) is ``id``, or None."""
        ...

    async def afind(self, table: str, field: str, value: Any) -> Record | None:
        """The record whose ``field`` equals ``value``, or None."""
        ...

    async def acreate(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        """Atomically store a new record with ``id`` and ``created_at`` (ms), or raise
        DuplicateRecordError if one with the same ``fields[unique]`` exists."""
        ...

    async def aupdate(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        """Merge ``changes`` into the record and return it, or None if there is no such id."""
        ...


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


_T = TypeVar("_T")

# The background loop that runs async backends for sync callers: (pid, loop), started lazily.
_bridge: tuple[int, asyncio.AbstractEventLoop] | None = None
_bridge_lock = threading.Lock()
_orphans: list[asyncio.AbstractEventLoop] = []
"""Loops inherited through fork (their thread is gone): kept, as collecting one would warn of
an unclosed loop, and closing it would touch the parent's selector and self-pipe."""


def _forget_bridge() -> None:
    """In a forked child the loop's thread is gone (and the lock may be held by a ghost)."""
    global _bridge, _bridge_lock
    if _bridge is not None:
        _orphans.append(_bridge[1])
    _bridge = None
    _bridge_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_bridge)


def _bridge_loop() -> asyncio.AbstractEventLoop:
    """The process's background event loop, started on first use (and anew after a fork)."""
    global _bridge
    bridge = _bridge
    if bridge is not None and bridge[0] == os.getpid():
        return bridge[1]
    with _bridge_lock:
        if _bridge is None or _bridge[0] != os.getpid():
            if _bridge is not None:  # forked without register_at_fork's hook
                _orphans.append(_bridge[1])
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="jwe-gate-async-backends",
                             daemon=True).start()
            _bridge = (os.getpid(), loop)
        return _bridge[1]


async def _awaiting(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


def _run(awaitable: Awaitable[_T]) -> _T:
    """Run ``awaitable`` on the background loop and wait for its result (context vars carry
    over: the loop's callback, and so the task, runs in a copy of the caller's context)."""
    coro = awaitable if isinstance(awaitable, Coroutine) else _awaiting(awaitable)
    loop = _bridge_loop()
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError(
            "a sync Table method (get/find/create/update) was called from a coroutine running on "
            "jwe_gate's background loop, i.e. from inside an async backend: it would wait for "
            "itself forever. Await the async method (aget/afind/acreate/aupdate) instead."
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt while waiting: don't leave the call running
        raise


class _AsyncToSync:
    """Runs an async backend from sync code (WSGI, the command line) on the background loop.

    Not asgiref's ``async_to_sync``: outside a running loop it makes a new event loop per call,
    which breaks loop-bound connection pools and locks (and costs ~0.5-2 ms a call).
    """

    __slots__ = ("_b",)
    inline = False

    def __init__(self, backend: AsyncBackend) -> None:
        self._b = backend

    def get(self, table: str, id: str) -> Record | None:
        return _run(self._b.aget(table, id))

    def find(self, table: str, field: str, value: Any) -> Record | None:
        return _run(self._b.afind(table, field, value))

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        return _run(self._b.acreate(table, fields, unique=unique))

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        return _run(self._b.aupdate(table, id, changes))
