"""The throttle and one-time stores on SQLAlchemy, and all three stores on one engine."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, overload

from ..bundle import Stores
from ..state import window_hit, window_take
from .engine import EngineLike, Runner, build, sa, upsert
from .refresh import SQLAlchemyRefreshStore
from .schema import KEY_MAX, Store

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "AsyncOneTimeStore",
    "AsyncThrottleStore",
    "SQLAlchemyOneTimeStore",
    "SQLAlchemyThrottleStore",
    "SyncOneTimeStore",
    "SyncThrottleStore",
    "sqlalchemy_stores",
]


# -- the throttle -------------------------------------------------------------------------------


def _throttle_key(key: str) -> str:
    return key if len(key) <= KEY_MAX else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class BaseThrottleStore(Store):
    """Throttle counters in ``{prefix}throttle``, one row per key; each ``hit`` also deletes
    a few rows whose windows have ended (found through an index on ``reset_at``)."""

    _name = "throttle"

    def _hit(
        self, conn: Any, key: str, window: float, now: float, amount: int
    ) -> tuple[int, float]:
        t = self.table
        if amount:
            # An upsert that changes nothing but locks the row (a new one reads as ended).
            conn.execute(
                upsert(
                    self._runner.dialect,
                    t,
                    {"key": key, "count": 0, "reset_at": now},
                    ["key"],
                    lambda _: {"count": t.c.count},
                )
            )
        row = conn.execute(sa.select(t.c.count, t.c.reset_at).where(t.c.key == key)).first()
        count, reset_at = (int(row[0]), float(row[1])) if row is not None else (0, now)
        count, reset_at = window_hit(count, reset_at, window=window, now=now, amount=amount)
        if amount:
            conn.execute(sa.update(t).where(t.c.key == key).values(count=count, reset_at=reset_at))
        return count, reset_at

    def _take(self, conn: Any, key: str, now: float, at_most: int | None) -> int:
        t = self.table
        # Lock the row first: of racing takes, one reads the count and the others nothing.
        conn.execute(sa.update(t).where(t.c.key == key).values(count=t.c.count))
        row = conn.execute(sa.select(t.c.count, t.c.reset_at).where(t.c.key == key)).first()
        if row is None:
            return 0
        taken, left = window_take(int(row[0]), float(row[1]), now=now, at_most=at_most)
        if left:
            conn.execute(sa.update(t).where(t.c.key == key).values(count=left))
        else:
            conn.execute(sa.delete(t).where(t.c.key == key))
        return taken

    def _peek(self, conn: Any, key: str, now: float) -> tuple[int, float]:
        t = self.table
        row = conn.execute(sa.select(t.c.count, t.c.reset_at).where(t.c.key == key)).first()
        if row is None or row[1] <= now:
            return 0, now
        return int(row[0]), float(row[1])


class SyncThrottleStore(BaseThrottleStore):
    """``BaseThrottleStore`` on a sync ``Engine``."""

    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        result: tuple[int, float] = self._sql(self._hit, _throttle_key(key), window, now, amount)
        self._prune(self.table.c.reset_at <= now)
        return result

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        result: int = self._sql(self._take, _throttle_key(key), now, at_most)
        return result

    def peek(self, key: str, *, now: float) -> tuple[int, float]:
        """``(count, reset_at)`` without counting (for inspection and tests)."""
        result: tuple[int, float] = self._sql(self._peek, _throttle_key(key), now)
        return result


class AsyncThrottleStore(BaseThrottleStore):
    """``BaseThrottleStore`` on an ``AsyncEngine``."""

    is_async = True

    async def ahit(
        self, key: str, *, window: float, now: float, amount: int = 1
    ) -> tuple[int, float]:
        result: tuple[int, float] = await self._asql(
            self._hit, _throttle_key(key), window, now, amount
        )
        await self._aprune(self.table.c.reset_at <= now)
        return result

    async def atake(self, key: str, *, now: float, at_most: int | None = None) -> int:
        result: int = await self._asql(self._take, _throttle_key(key), now, at_most)
        return result

    async def apeek(self, key: str, *, now: float) -> tuple[int, float]:
        result: tuple[int, float] = await self._asql(self._peek, _throttle_key(key), now)
        return result


@overload
def SQLAlchemyThrottleStore(engine: sa.Engine, **kwargs: Any) -> SyncThrottleStore: ...
@overload
def SQLAlchemyThrottleStore(engine: AsyncEngine, **kwargs: Any) -> AsyncThrottleStore: ...
@overload
def SQLAlchemyThrottleStore(
    engine: str | sa.URL, **kwargs: Any
) -> SyncThrottleStore | AsyncThrottleStore: ...


def SQLAlchemyThrottleStore(
    engine: EngineLike, **kwargs: Any
) -> SyncThrottleStore | AsyncThrottleStore:
    """The throttle's counters on SQLAlchemy: a sync ``Engine`` gives the blocking methods, an
    ``AsyncEngine`` the coroutines (a URL: its driver decides, and the engine is made with
    ``timeout``). Keywords: ``prefix`` (of the table names, ``"jwe_gate_"``), ``timeout``."""
    return build((SyncThrottleStore, AsyncThrottleStore), engine, **kwargs)


# -- one-time tokens ------------------------------------------------------------------------


class BaseOneTimeStore(Store):
    """One-time token hashes in ``{prefix}once``: one row per (purpose, table, subject)."""

    _name = "once"

    def _put(
        self, conn: Any, token_hash: str, purpose: str, table: str, subject: str, exp: float
    ) -> None:
        values = {
            "token_hash": token_hash,
            "purpose": purpose,
            "tbl": table,
            "subject": subject,
            "expires_at": exp,
        }
        # One upsert on the unique (purpose, tbl, subject): the record's earlier token dies in
        # the same statement as the new one is stored.
        conn.execute(
            upsert(
                self._runner.dialect,
                self.table,
                values,
                ["purpose", "tbl", "subject"],
                lambda new: {"token_hash": new.token_hash, "expires_at": new.expires_at},
            )
        )

    def _take(self, conn: Any, token_hash: str, purpose: str, table: str, now: float) -> str | None:
        t = self.table
        live = (
            t.c.token_hash == token_hash,
            t.c.purpose == purpose,
            t.c.tbl == table,
            t.c.expires_at > now,
        )
        subject = conn.execute(sa.select(t.c.subject).where(*live)).scalar()
        if subject is None:
            return None
        # The conditional DELETE decides: of racing takes, exactly one deletes the row.
        won = conn.execute(sa.delete(t).where(*live)).rowcount == 1
        return str(subject) if won else None

    def _drop(self, conn: Any, table: str, subject: str, purpose: str | None) -> None:
        t = self.table
        where = [t.c.tbl == table, t.c.subject == subject]
        if purpose is not None:
            where.append(t.c.purpose == purpose)
        conn.execute(sa.delete(t).where(*where))


class SyncOneTimeStore(BaseOneTimeStore):
    """``BaseOneTimeStore`` on a sync ``Engine``."""

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
        self._sql(self._put, token_hash, purpose, table, subject, expires_at)
        self._prune(self.table.c.expires_at <= now)

    def take(self, token_hash: str, *, purpose: str, table: str, now: float) -> str | None:
        result: str | None = self._sql(self._take, token_hash, purpose, table, now)
        return result

    def drop(self, table: str, subject: str, *, purpose: str | None = None) -> None:
        self._sql(self._drop, table, subject, purpose)


class AsyncOneTimeStore(BaseOneTimeStore):
    """``BaseOneTimeStore`` on an ``AsyncEngine``."""

    is_async = True

    async def aput(
        self,
        token_hash: str,
        *,
        purpose: str,
        table: str,
        subject: str,
        expires_at: float,
        now: float,
    ) -> None:
        await self._asql(self._put, token_hash, purpose, table, subject, expires_at)
        await self._aprune(self.table.c.expires_at <= now)

    async def atake(self, token_hash: str, *, purpose: str, table: str, now: float) -> str | None:
        result: str | None = await self._asql(self._take, token_hash, purpose, table, now)
        return result

    async def adrop(self, table: str, subject: str, *, purpose: str | None = None) -> None:
        await self._asql(self._drop, table, subject, purpose)


@overload
def SQLAlchemyOneTimeStore(engine: sa.Engine, **kwargs: Any) -> SyncOneTimeStore: ...
@overload
def SQLAlchemyOneTimeStore(engine: AsyncEngine, **kwargs: Any) -> AsyncOneTimeStore: ...
@overload
def SQLAlchemyOneTimeStore(
    engine: str | sa.URL, **kwargs: Any
) -> SyncOneTimeStore | AsyncOneTimeStore: ...


def SQLAlchemyOneTimeStore(
    engine: EngineLike, **kwargs: Any
) -> SyncOneTimeStore | AsyncOneTimeStore:
    """One-time tokens on SQLAlchemy: a sync ``Engine`` gives the blocking methods, an
    ``AsyncEngine`` the coroutines (a URL: its driver decides; its engine gets ``timeout``).
    Keywords: ``prefix`` (of the table names, ``"jwe_gate_"``), ``timeout`` (seconds)."""
    return build((SyncOneTimeStore, AsyncOneTimeStore), engine, **kwargs)


def sqlalchemy_stores(
    engine: EngineLike, *, prefix: str = "jwe_gate_", timeout: float = 10.0
) -> Stores:
    """The three stores on one engine (a URL makes one engine, shared by the three)."""
    runner = Runner(engine, timeout=timeout)
    shared: Any = runner.aengine if runner.is_async else runner.engine
    stores = (
        SQLAlchemyRefreshStore(shared, prefix=prefix, timeout=timeout),
        SQLAlchemyThrottleStore(shared, prefix=prefix, timeout=timeout),
        SQLAlchemyOneTimeStore(shared, prefix=prefix, timeout=timeout),
    )
    for store in stores:  # an engine made here from a URL is disposed when they close
        store._runner.owned = runner.owned
    return Stores(*stores)
