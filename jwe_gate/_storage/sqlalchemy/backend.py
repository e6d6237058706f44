"""The SQLAlchemy table backend: on a table it creates, or on the app's own table or model.

Either way the records live in real columns (id, created_at, the login field, the password
hash, name, password_changed_at); fields with no column of their own go to a JSON column where
there is one. The login field is unique in the database, so of racing signups one wins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, overload

from ..._sansio.records import CREATED_AT, PASSWORD_CHANGED_AT
from ...exceptions import BackendError, ConfigurationError, DuplicateRecordError
from ...types import Record
from .engine import EngineLike, Runner, build, sa
from .mapping import Bound, kind_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "AsyncSQLAlchemyBackend",
    "BaseSQLAlchemyBackend",
    "SQLAlchemyBackend",
    "SyncSQLAlchemyBackend",
]

_CREATING = threading.Lock()


class _Conflict(BackendError):
    """An insert broke a constraint (which one is found out after the rollback)."""


class BaseSQLAlchemyBackend:
    """Records on SQLAlchemy: a sync ``Engine`` gives ``jwe_gate.Backend``'s methods, an
    ``AsyncEngine`` ``jwe_gate.AsyncBackend``'s (a URL: its driver decides).

    Args:
        engine: an ``Engine``, an ``AsyncEngine``, or a URL (the backend then makes the engine
            with ``timeout`` as its connect, statement and pool timeouts, and ``pool_pre_ping``).
        table: the app's own table (a ``sqlalchemy.Table`` or a declarative model). Without it
            the backend creates one table per gate table, named ``prefix + name``.
        columns: the app table's column for each field the gate uses, where the names differ,
            e.g. ``{"email": "mail", "password": "pw_hash", "password_changed_at": "pw_at"}``.
        extra: a JSON column of the app's table for fields with no column of their own.
        prefix: the created tables' name prefix.
        timeout: seconds a database call may take (engines made from a URL).
        metadata: where the created tables are defined (a new ``MetaData`` by default).
    """

    inline: ClassVar[bool] = False  # a network round trip: never on the event loop

    _runner: Runner

    is_async: ClassVar[bool] = False
    """Which side the class offers: the engine given must be of that side."""

    def __init__(
        self,
        engine: EngineLike,
        *,
        table: Any = None,
        columns: Mapping[str, str] | None = None,
        extra: str | None = None,
        prefix: str = "",
        timeout: float = 10.0,
        metadata: sa.MetaData | None = None,
    ) -> None:
        self._runner = Runner(engine, timeout=timeout)
        if self._runner.is_async != self.is_async:  # each class offers one side, natively
            side = "an AsyncEngine" if self.is_async else "a sync Engine"
            raise ConfigurationError(f"{type(self).__name__} needs {side}")
        self.timeout = timeout
        self.prefix = prefix
        self._columns = dict(columns or {})
        self._bound: dict[str, Bound] = {}
        self._created: set[str] = set()
        self._app_table: sa.Table | None = None
        self._extra: sa.Column[Any] | None = None
        if table is not None:
            app = getattr(table, "__table__", table)
            if not isinstance(app, sa.Table):
                raise ConfigurationError("table must be a sqlalchemy.Table or a declarative model")
            self._app_table, self.metadata = app, app.metadata
            self._extra = app.c.get(extra) if extra is not None else None
            if extra is not None and self._extra is None:
                raise ConfigurationError(f"table {app.name!r} has no column {extra!r}")
        else:
            self.metadata = metadata if metadata is not None else sa.MetaData()
            """The tables, for ``metadata.create_all`` and Alembic autogenerate."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._runner.dialect}, {sorted(self._bound)})"

    # -- start-up -----------------------------------------------------------------------------

    def bind_table(
        self, name: str, *, login_field: str = "email", password_field: str = "password"
    ) -> sa.Table:
        """The database table of gate table ``name`` (``Table`` calls it at start-up; its
        schema is in ``metadata`` from then on). Raises ConfigurationError naming each
        column the gate needs and the table lacks."""
        bound = self._bound.get(name) or self._define(name, login_field, password_field)
        needed = (CREATED_AT, login_field, password_field, PASSWORD_CHANGED_AT)
        missing = [n for n in needed if n not in bound.cols]
        if missing:
            # A column the gate needs is never skipped: without password_changed_at a changed
            # password would not end the sessions begun before it.
            raise ConfigurationError(
                f"table {bound.table.name!r} has no column for "
                + ", ".join(f"{n!r} (looked for {self._columns.get(n, n)!r})" for n in missing)
                + "; name it in columns={field: column}"
            )
        if self._app_table is not None and not bound.unique(login_field):
            # Uniqueness must be the database's: a check in Python loses the signup race.
            raise ConfigurationError(
                f"column {bound.cols[login_field].name!r} of {bound.table.name!r} holds the "
                f"login field and needs a unique constraint or unique index"
            )
        self._bound[name] = bound
        return bound.table

    def _define(self, name: str, login_field: str, password_field: str) -> Bound:
        if self._app_table is not None:
            if self._bound:  # one app table is one gate table: two would share records
                raise ConfigurationError(
                    f"this backend serves the gate table {next(iter(self._bound))!r}; give "
                    f"{name!r} a backend of its own"
                )
            t = self._app_table
            id_col = self._columns.get("id")
            pks = list(t.primary_key.columns)
            pk = t.c.get(id_col) if id_col is not None else pks[0] if len(pks) == 1 else None
            if pk is None:
                raise ConfigurationError(f"table {t.name!r} needs a one-column primary key")
            mapped = {f: c for f, c in self._columns.items() if f != "id"}
            cols = {f: t.c[c] for f, c in mapped.items() if c in t.c}
            for col in t.columns:  # the other columns keep their names as field names
                if col is not pk and col is not self._extra and col.name not in mapped.values():
                    cols.setdefault(col.name, col)
            return Bound(t, pk, kind_of(pk), cols, self._extra)
        t = sa.Table(
            self.prefix + name,
            self.metadata,
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            sa.Column(CREATED_AT, sa.BigInteger, nullable=False),
            sa.Column(login_field, sa.String(320), nullable=False),
            sa.Column(password_field, sa.String(255)),
            *(
                [sa.Column("name", sa.String(255))]
                if "name" not in (login_field, password_field)
                else []
            ),
            sa.Column(PASSWORD_CHANGED_AT, sa.BigInteger),
            sa.Column("extra", sa.JSON),
            sa.UniqueConstraint(login_field, name=f"{self.prefix}{name}_{login_field}_key"),
        )
        cols = {c.name: c for c in t.columns if c.name not in ("id", "extra")}
        return Bound(t, t.c.id, "int", cols, t.c.extra)

    def _table(self, name: str, login_field: str = "email") -> Bound:
        if name not in self._bound:  # used without a Table in front: bind with the defaults
            self.bind_table(name, login_field=login_field)
        return self._bound[name]

    def _create_tables(self, conn: Any) -> None:
        self.metadata.create_all(conn, checkfirst=True)

    def _needs_create(self, name: str) -> bool:
        return self._app_table is None and name not in self._created

    # -- the work, one transaction each (the same code under both engines) ---------------

    @staticmethod
    def _read(conn: Any, b: Bound, key: Any) -> Record | None:
        row = conn.execute(sa.select(b.table).where(b.pk == key)).mappings().first()
        return None if row is None else b.record(row)

    @staticmethod
    def _find(conn: Any, b: Bound, field: str, value: Any) -> Record | None:
        col = b.cols.get(field)
        if col is None:
            return None  # no such column: no record has that field
        row = conn.execute(sa.select(b.table).where(col == value).limit(1)).mappings().first()
        return None if row is None else b.record(row)

    def _create_work(self, conn: Any, b: Bound, row: dict[str, Any]) -> Record:
        try:
            key = conn.execute(sa.insert(b.table).values(row)).inserted_primary_key[0]
        except sa.exc.IntegrityError:
            # The transaction is rolled back; the caller looks in a new one for the cause.
            raise _Conflict("a constraint refused the record") from None
        record = self._read(conn, b, key)
        assert record is not None
        return record

    def _update_work(
        self, conn: Any, b: Bound, key: Any, changes: Mapping[str, Any]
    ) -> Record | None:
        # The row is locked first (a no-op update), so a JSON merge never loses a racing write.
        stamp = b.cols[CREATED_AT]
        locked = conn.execute(sa.update(b.table).where(b.pk == key).values({stamp.name: stamp}))
        if locked.rowcount == 0:
            return None
        extra: dict[str, Any] = {}
        if b.extra is not None:
            raw = conn.execute(sa.select(b.extra).where(b.pk == key)).scalar()
            extra = dict(raw) if isinstance(raw, dict) else {}
            extra.update({k: v for k, v in changes.items() if k not in b.cols})
        row = b.values({k: v for k, v in changes.items() if k in b.cols}, extra)
        if row:
            conn.execute(sa.update(b.table).where(b.pk == key).values(row))
        return self._read(conn, b, key)

    def _prepare(
        self, table: str, fields: Mapping[str, Any], unique: str
    ) -> tuple[Bound, dict[str, Any]]:
        b = self._table(table, unique)
        if not b.unique(unique):
            # Refuse rather than create a record whose uniqueness nobody enforces.
            raise BackendError(f"{unique!r} is not unique in {b.table.name!r}")
        values = {k: v for k, v in fields.items() if k != "id"}
        b.fit(values)
        if not isinstance(values.get(CREATED_AT), int):  # the Table sets it; a caller may not
            values[CREATED_AT] = int(time.time() * 1000)
        row = b.values(values, {})
        if b.kind != "int" and b.pk.default is None and b.pk.server_default is None:
            row[b.pk.name] = b.new_key()  # the database does not fill this key in
        return b, row


class SyncSQLAlchemyBackend(BaseSQLAlchemyBackend):
    """``BaseSQLAlchemyBackend`` on a sync ``Engine``: the ``jwe_gate.Backend`` side."""

    def create_all(self) -> None:
        """Create the tables this backend made (``metadata.create_all``; existing ones are left)."""
        with _CREATING:
            for attempt in range(3):  # another process may be creating them at the same time
                try:
                    self._runner.run(self._create_tables)
                    break
                except BackendError:
                    if attempt == 2:
                        raise
        self._created.update(self._bound)

    def _ready(self, name: str) -> None:
        if self._needs_create(name):
            self.create_all()

    def get(self, table: str, id: str) -> Record | None:
        b = self._table(table)
        key = b.key(id)
        if key is None:
            return None
        self._ready(table)
        return self._runner.run(self._read, b, key)

    def find(self, table: str, field: str, value: Any) -> Record | None:
        b = self._table(table, field)
        self._ready(table)
        return self._runner.run(self._find, b, field, value)

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        b, row = self._prepare(table, fields, unique)
        self._ready(table)
        try:
            return self._runner.run(self._create_work, b, row)
        except _Conflict:
            # Which constraint? Only a taken login is a duplicate; anything else is an error.
            if self.find(table, unique, fields.get(unique)) is not None:
                raise DuplicateRecordError(f"{unique} already in use") from None
            raise

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        b = self._table(table)
        key = b.key(id)
        if key is None:
            return None
        b.fit(changes)
        self._ready(table)
        return self._runner.run(self._update_work, b, key, changes)

    def close(self) -> None:
        """Dispose of the engine's pool if the backend made the engine."""
        self._runner.dispose()


class AsyncSQLAlchemyBackend(BaseSQLAlchemyBackend):
    """``BaseSQLAlchemyBackend`` on an ``AsyncEngine``: the ``jwe_gate.AsyncBackend``
    side."""

    is_async = True

    async def acreate_all(self) -> None:
        """Create the tables this backend made (existing ones are left)."""
        for attempt in range(3):  # another task or process may be creating them too
            try:
                await self._runner.arun(self._create_tables)
                break
            except BackendError:
                if attempt == 2:
                    raise
        self._created.update(self._bound)

    async def _ready(self, name: str) -> None:
        if self._needs_create(name):
            await self.acreate_all()

    async def aget(self, table: str, id: str) -> Record | None:
        b = self._table(table)
        key = b.key(id)
        if key is None:
            return None
        await self._ready(table)
        return await self._runner.arun(self._read, b, key)

    async def afind(self, table: str, field: str, value: Any) -> Record | None:
        b = self._table(table, field)
        await self._ready(table)
        return await self._runner.arun(self._find, b, field, value)

    async def acreate(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        b, row = self._prepare(table, fields, unique)
        await self._ready(table)
        try:
            return await self._runner.arun(self._create_work, b, row)
        except _Conflict:
            # Which constraint? Only a taken login is a duplicate; anything else is an error.
            if await self.afind(table, unique, fields.get(unique)) is not None:
                raise DuplicateRecordError(f"{unique} already in use") from None
            raise

    async def aupdate(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        b = self._table(table)
        key = b.key(id)
        if key is None:
            return None
        b.fit(changes)
        await self._ready(table)
        return await self._runner.arun(self._update_work, b, key, changes)

    async def aclose(self) -> None:
        """Dispose of the engine's pool if the backend made the engine."""
        await self._runner.adispose()


@overload
def SQLAlchemyBackend(engine: sa.Engine, **kwargs: Any) -> SyncSQLAlchemyBackend: ...
@overload
def SQLAlchemyBackend(engine: AsyncEngine, **kwargs: Any) -> AsyncSQLAlchemyBackend: ...
@overload
def SQLAlchemyBackend(
    engine: str | sa.URL, **kwargs: Any
) -> SyncSQLAlchemyBackend | AsyncSQLAlchemyBackend: ...


def SQLAlchemyBackend(
    engine: EngineLike, **kwargs: Any
) -> SyncSQLAlchemyBackend | AsyncSQLAlchemyBackend:
    """Records on SQLAlchemy (see ``BaseSQLAlchemyBackend`` for the keywords): a sync
    ``Engine`` gives ``jwe_gate.Backend``'s methods, an ``AsyncEngine``
    ``jwe_gate.AsyncBackend``'s; a URL's driver decides (``postgresql+psycopg``,
    ``mysql+pymysql``, ``sqlite``: sync; ``postgresql+asyncpg``, ``mysql+aiomysql``: async)."""
    return build((SyncSQLAlchemyBackend, AsyncSQLAlchemyBackend), engine, **kwargs)
