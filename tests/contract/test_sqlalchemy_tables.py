"""SPEC §Storage on SQLAlchemy beyond the contract: the app's own table (its column names, an
integer or a UUID key, columns the gate never touches) behind the gate's endpoints, the start-up
errors, the schema as MetaData, and the optional dependency."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2.profiles import CHEAPEST
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateTable
from support.clients import wrap
from support.databases import (
    MARIA,
    MARIA_ASYNC,
    PG,
    PG_ASYNC,
    dispose,
    make_engine,
    prefix,
    sync_url,
)
from support.results import RawClient, Result

from jwe_gate import (
    ConfigurationError,
    Gate,
    Hasher,
    KeyRing,
    Session,
    SQLAlchemyBackend,
    Table,
    sqlalchemy_stores,
)

COLUMNS = {
    "id": "person_id",
    "email": "mail",
    "password": "pw_hash",
    "name": "full_name",
    "created_at": "joined_ms",
    "password_changed_at": "pw_changed_ms",
}
"""The app table's own column names for the fields the gate uses."""


def people(name: str, key: str, *, unique: bool = True) -> sa.Table:
    """The app's table as a test makes it: its own names, an integer or UUID key, and a column
    the gate never touches."""
    md = sa.MetaData()
    id_col = (
        sa.Column("person_id", sa.Integer, primary_key=True, autoincrement=True)
        if key == "int"
        else sa.Column("person_id", sa.Uuid, primary_key=True)
    )
    return sa.Table(
        name,
        md,
        id_col,
        sa.Column("mail", sa.String(254), nullable=False, unique=unique),
        sa.Column("pw_hash", sa.String(255)),
        sa.Column("full_name", sa.String(200)),
        sa.Column("joined_ms", sa.BigInteger, nullable=False),
        sa.Column("pw_changed_ms", sa.BigInteger),
        sa.Column("shoe_size", sa.Integer, nullable=False, server_default="42"),
    )


def _call(client: RawClient, endpoint: str, body: Any = None, token: str = "") -> Result:
    """One request to the gate's endpoint through the real app and adapter."""
    headers = [("Content-Type", "application/json")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    if endpoint == "me":
        return client("GET", "/auth/me", headers)
    return client("POST", f"/auth/{endpoint}", headers, body=json.dumps(body).encode())


@pytest.mark.parametrize(
    ("url", "key"),
    [
        pytest.param("sqlite", "int", id="sqlite-int"),
        pytest.param(PG, "int", id="postgres-psycopg-int"),
        pytest.param(PG, "uuid", id="postgres-psycopg-uuid"),
        pytest.param(PG_ASYNC, "uuid", id="postgres-asyncpg-uuid"),
        pytest.param(MARIA, "int", id="mariadb-pymysql-int"),
        pytest.param(MARIA, "uuid", id="mariadb-pymysql-uuid"),
        pytest.param(MARIA_ASYNC, "int", id="mariadb-aiomysql-int"),
    ],
)
def test_the_apps_own_table_serves_every_endpoint(url: str, key: str, tmp_path: Path) -> None:
    """On a table the test made (its names, an int or UUID key, a column the gate never
    touches): signup, login, me, refresh and a password change work through the endpoints."""
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = make_engine(url)
    cleaner = sa.create_engine(sync_url(url))
    p = prefix()
    table = people(p + "people", key)
    table.metadata.create_all(cleaner)
    stores = sqlalchemy_stores(engine, prefix=p)
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", SQLAlchemyBackend(engine, table=table, columns=COLUMNS))],
        auth_routes={"/auth": "user"},
        hasher=Hasher(CHEAPEST),
        stores=stores,
    )
    # An async engine under ASGI, a sync one under WSGI: each side used natively.
    client = wrap(gate, "wsgi" if isinstance(engine, sa.Engine) else "asgi")
    try:
        creds = {"email": "Ann@Example.com ", "password": "correct horse 1"}
        signed = _call(client, "signup", {**creds, "name": "Ann"})
        assert signed.status == 200, signed.body
        pair = _call(client, "login", creds).json
        me = _call(client, "me", token=pair["authToken"])
        assert me.status == 200, me.body
        record = me.json
        assert (record["email"], record["name"]) == ("ann@example.com", "Ann")
        assert "password" not in record
        if key == "uuid":
            assert str(uuid.UUID(record["id"])) == record["id"]
        again = _call(client, "refresh", {"refreshToken": pair["refreshToken"]})
        assert again.status == 200, again.body
        new = {"password": creds["password"], "newPassword": "battery staple 2"}
        changed = _call(client, "password", new, token=again.json["authToken"])
        assert changed.status == 200, changed.body
        stale = _call(client, "refresh", {"refreshToken": pair["refreshToken"]})
        assert stale.status == 401  # the session begun before the change has ended
        relog = _call(client, "login", {**creds, "password": "battery staple 2"})
        assert relog.status == 200, relog.body
        with cleaner.connect() as conn:
            row = conn.execute(sa.select(table)).mappings().one()
        assert row["mail"] == "ann@example.com"
        assert row["pw_changed_ms"]
        assert row["pw_hash"].startswith("$argon2id$")
        assert row["shoe_size"] == 42  # a column the gate never touches
    finally:
        gate.close()
        table.metadata.drop_all(cleaner)
        stores.refresh.metadata.drop_all(cleaner)  # type: ignore[attr-defined]
        cleaner.dispose()
        dispose(engine)


@pytest.mark.parametrize(
    "url", [pytest.param(PG, id="postgres"), pytest.param(MARIA, id="mariadb")]
)
def test_a_uuid_table_finds_no_record_for_a_non_uuid(url: str) -> None:
    """On a UUID-keyed table, ids that are not a record's canonical UUID are not found (and
    never reach the database as a bad value)."""
    engine = make_engine(url)
    table = people(prefix() + "people", "uuid")
    table.metadata.create_all(engine)
    try:
        users = Table("user", SQLAlchemyBackend(engine, table=table, columns=COLUMNS))
        ann = users.create({"email": "ann@example.com"})
        assert users.get(ann["id"]) == ann
        for bad in ("42", "not-a-uuid", ann["id"].upper(), ann["id"].replace("-", ""), "\x00"):
            assert users.get(bad) is None
            assert users.update(bad, {"name": "x"}) is None
    finally:
        table.metadata.drop_all(engine)
        dispose(engine)


@pytest.mark.parametrize(
    ("columns", "missing"),
    [
        pytest.param({**COLUMNS, "password_changed_at": "nope"}, "password_changed_at", id="stamp"),
        pytest.param({**COLUMNS, "password": "hash"}, "password", id="password"),
        pytest.param({**COLUMNS, "email": "email"}, "email", id="login"),
        pytest.param({**COLUMNS, "created_at": "created"}, "created_at", id="created"),
    ],
)
def test_a_missing_column_is_a_start_up_error(columns: dict[str, str], missing: str) -> None:
    """A field the gate needs with no column is a ConfigurationError naming it, at Table()."""
    backend = SQLAlchemyBackend("sqlite://", table=people("people", "int"), columns=columns)
    with pytest.raises(ConfigurationError, match=f"'{missing}'"):
        Table("user", backend)


def test_a_login_column_without_a_unique_constraint_is_refused() -> None:
    """A login column the database does not keep unique is a start-up error (a Python check
    would lose the signup race)."""
    table = people("people", "int", unique=False)
    with pytest.raises(ConfigurationError, match="unique"):
        Table("user", SQLAlchemyBackend("sqlite://", table=table, columns=COLUMNS))


class Base(DeclarativeBase):
    """The app's declarative base."""


class Member(Base):
    """An app's declarative model, used as the user table."""

    __tablename__ = "members"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    password_changed_at: Mapped[int | None] = mapped_column(sa.BigInteger)


def test_a_declarative_model_is_a_table(tmp_path: Path) -> None:
    """A declarative model with the gate's names needs no mapping; its UUID key is named only
    by its canonical string, and anything else names no record (never an error)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'model.db'}")
    Base.metadata.create_all(engine)
    backend = SQLAlchemyBackend(engine, table=Member)
    users = Table("user", backend)
    assert backend.metadata is Base.metadata
    ann = users.create({"email": "ann@example.com", "password": "x"})
    assert str(uuid.UUID(ann["id"])) == ann["id"]
    assert users.get(ann["id"]) == ann
    for bad in ("1", "not-a-uuid", ann["id"].upper(), "", ann["id"] + " "):
        assert users.get(bad) is None
        assert users.update(bad, {"password": "y"}) is None
    engine.dispose()


def test_the_created_schema_is_metadata() -> None:
    """The backend's and the stores' tables are SQLAlchemy MetaData with real columns (what
    Alembic autogenerate reads), and compile to PostgreSQL and MariaDB DDL."""
    backend = SQLAlchemyBackend("sqlite://", prefix="app_")
    Table("user", backend)
    user = backend.metadata.tables["app_user"]
    assert set(user.c.keys()) == {
        "id",
        "created_at",
        "email",
        "password",
        "name",
        "password_changed_at",
        "extra",
    }
    stores = sqlalchemy_stores("sqlite://")
    names = set(stores.refresh.metadata.tables)  # type: ignore[attr-defined]
    assert names == {"jwe_gate_session", "jwe_gate_throttle", "jwe_gate_once"}
    for url in ("postgresql+psycopg://", "mysql+pymysql://"):
        dialect = sa.create_engine(url).dialect  # no connection: only its SQL dialect
        ddl = str(CreateTable(user).compile(dialect=dialect))
        assert "UNIQUE (email)" in ddl


def test_sqlalchemy_is_imported_only_when_used() -> None:
    """Importing jwe_gate never imports SQLAlchemy; using the backend without it raises
    MissingDependencyError naming the extra."""
    code = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "import jwe_gate\n"
        "assert 'sqlalchemy' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n"
        "    jwe_gate.SQLAlchemyBackend\n"
        "except jwe_gate.MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'jwe_gate[sqlalchemy]'" in out.stdout


@pytest.fixture
def users_on_postgres() -> Iterator[tuple[sa.Engine, Any]]:
    """A created user table on PostgreSQL, dropped after the test."""
    engine = make_engine(PG)
    backend = SQLAlchemyBackend(engine, prefix=prefix())
    yield engine, backend
    backend.metadata.drop_all(engine)
    engine.dispose()


@pytest.mark.parametrize(
    "url", [pytest.param("sqlite", id="sqlite"), pytest.param(PG, id="postgres")]
)
def test_stores_forget_ended_rows_a_few_per_call(url: str, tmp_path: Path) -> None:
    """Ended throttle windows and expired sessions are deleted at most four per write, until
    none is left: bounded work per call, and tables bounded by what is live."""
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 'prune.db'}"
    engine = make_engine(url)
    stores = sqlalchemy_stores(engine, prefix=prefix())
    throttle: Any = stores.throttle
    refresh: Any = stores.refresh
    try:
        for i in range(10):
            throttle.hit(f"old{i}", window=5, now=0.0)
            refresh.add(f"h{i}", Session(f"f{i}", "user", "1", 0.0), expires_at=5.0, now=0.0)

        def rows(table: sa.Table) -> int:
            with engine.connect() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())

        counts = []
        for n in range(4):
            throttle.hit(f"new{n}", window=60, now=10.0)
            refresh.add(f"n{n}", Session(f"g{n}", "user", "1", 10.0), expires_at=99.0, now=10.0)
            counts.append((rows(throttle.table), rows(refresh.table)))
        # Each write adds one live row and deletes at most four ended ones.
        assert counts == [(7, 7), (4, 4), (3, 3), (4, 4)]
    finally:
        refresh.metadata.drop_all(engine)
        dispose(engine)
