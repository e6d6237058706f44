"""What the SQLAlchemy backend and stores share: the lazy import, engines with timeouts, and the
one place a statement runs (sync on an ``Engine``, natively async on an ``AsyncEngine``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ...exceptions import BackendError, ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["EngineLike", "Runner", "build", "prune_keys", "sa", "upsert"]

try:
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError
except ImportError as exc:  # the extra is optional: say which one to install
    raise MissingDependencyError("SQLAlchemy", "sqlalchemy") from exc

T = TypeVar("T")
S = TypeVar("S")
A = TypeVar("A")

EngineLike = Any
"""An ``Engine``, an ``AsyncEngine``, or a URL (a sync or an async driver's)."""


def _connect_args(url: sa.URL, timeout: float) -> dict[str, Any]:
    """Each driver's own connect and statement timeouts, so no call waits past ``timeout``."""
    driver, seconds = url.get_driver_name(), max(1, round(timeout))
    if driver == "psycopg":
        return {
            "connect_timeout": seconds,
            "options": f"-c statement_timeout={int(timeout * 1000)} "
            f"-c lock_timeout={int(timeout * 1000)}",
        }
    if driver == "asyncpg":
        return {"timeout": timeout, "command_timeout": timeout}
    if driver in ("pymysql", "mysqldb"):
        return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
    if driver in ("aiomysql", "asyncmy"):
        return {"connect_timeout": seconds}
    if driver in ("pysqlite", "aiosqlite"):
        return {"timeout": timeout}
    return {}


class Runner:
    """One engine and how to run a unit of work on it, in one transaction. ``is_async`` tells
    which side the owner offers: a sync engine gives the blocking methods, an async engine
    the coroutines (the gate bridges the other side)."""

    def __init__(self, engine: EngineLike, *, timeout: float) -> None:
        from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

        if not (0 < timeout < float("inf")):
            raise ConfigurationError("timeout must be positive and finite")
        self.timeout = float(timeout)
        self.owned = isinstance(engine, str | sa.URL)
        if self.owned:
            url = sa.make_url(engine)
            options: dict[str, Any] = {
                "connect_args": _connect_args(url, timeout),
                "pool_pre_ping": True,  # a connection the server dropped is replaced, not used
            }
            if url.get_backend_name() != "sqlite":
                options["pool_timeout"] = timeout
            # The URL's driver decides the side: asyncpg, aiomysql, psycopg_async, aiosqlite...
            # are async; the rest (psycopg, pymysql, pysqlite) sync.
            try:
                if url.get_dialect().is_async:
                    engine = create_async_engine(url, **options)
                else:
                    engine = sa.create_engine(url, **options)
            except ImportError as exc:  # the URL's driver is not installed: name its extra
                extra = "mysql" if url.get_backend_name() in ("mysql", "mariadb") else "postgres"
                raise MissingDependencyError(url.get_driver_name(), extra) from exc
        if isinstance(engine, AsyncEngine):
            self.aengine: AsyncEngine | None = engine
            self.engine: Engine | None = None
        elif isinstance(engine, sa.Engine):
            self.aengine, self.engine = None, engine
        else:
            raise ConfigurationError(
                f"expected an Engine, an AsyncEngine or a URL, not {type(engine).__name__}"
            )
        self.is_async = self.aengine is not None
        self.dialect = (self.aengine or self.engine).dialect.name  # type: ignore[union-attr]

    def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(conn, *args)`` in one transaction on the sync engine."""
        assert self.engine is not None
        try:
            with self.engine.begin() as conn:
                return work(conn, *args)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    async def arun(self, work: Callable[..., T], *args: Any) -> T:
        """``work(conn, *args)`` in one transaction on the async engine (SQLAlchemy runs the
        same code natively over the async driver)."""
        assert self.aengine is not None
        try:
            async with asyncio.timeout(self.timeout * 3):  # a last guard against a hang
                async with self.aengine.begin() as conn:
                    return await conn.run_sync(work, *args)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc
        except TimeoutError as exc:
            raise BackendError("the database did not answer in time") from exc

    def dispose(self) -> None:
        """Close the pool of an engine made here from a URL (a given engine is the caller's)."""
        if self.owned and self.engine is not None:
            self.engine.dispose()

    async def adispose(self) -> None:
        if self.owned and self.aengine is not None:
            await self.aengine.dispose()


def build(
    kinds: tuple[Callable[..., S], Callable[..., A]], engine: EngineLike, **kwargs: Any
) -> S | A:
    """The object of ``kinds`` (sync, async) the engine's side calls for, on that engine (a
    URL's engine made once, here, and disposed when the object closes)."""
    runner = Runner(engine, timeout=kwargs.get("timeout", 10.0))
    made: Any = engine if not runner.owned else (runner.aengine or runner.engine)
    obj: S | A = (kinds[1] if runner.is_async else kinds[0])(made, **kwargs)
    obj._runner.owned = runner.owned  # type: ignore[union-attr]
    return obj


def _unavailable(exc: Exception) -> Exception:
    """A database failure as the gate's BackendError (answered 503); already-mapped errors of
    ours pass through."""
    if isinstance(exc, BackendError):
        return exc
    return BackendError(f"database error: {type(exc).__name__}")


def prune_keys(conn: Connection, table: sa.Table, key: sa.Column[Any], ended: Any, n: int) -> None:
    """Delete at most ``n`` rows matching ``ended``: bounded work per call. The keys are read
    first, then deleted by key with the condition again (portable: MySQL has no LIMIT in an IN
    subquery, and a row that came back to life meanwhile is kept)."""
    keys = [r[0] for r in conn.execute(sa.select(key).where(ended).limit(n))]
    if keys:
        conn.execute(sa.delete(table).where(key.in_(keys), ended))


def upsert(
    dialect: str, table: sa.Table, values: dict[str, Any], target: list[str], sets: Any
) -> Any:
    """``INSERT ... ON CONFLICT DO UPDATE`` (PostgreSQL, SQLite) or ``ON DUPLICATE KEY UPDATE``
    (MySQL, MariaDB): one atomic statement. ``sets(excluded)`` names the updated columns."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).values(values)
        return stmt.on_conflict_do_update(index_elements=target, set_=sets(stmt.excluded))
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        lstmt = lite_insert(table).values(values)
        return lstmt.on_conflict_do_update(index_elements=target, set_=sets(lstmt.excluded))
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as my_insert

        mstmt = my_insert(table).values(values)
        return mstmt.on_duplicate_key_update(sets(mstmt.inserted))
    raise ConfigurationError(
        f"the SQLAlchemy stores support PostgreSQL, MySQL/MariaDB and SQLite, not {dialect}"
    )
