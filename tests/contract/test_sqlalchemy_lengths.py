"""SPEC §Errors on SQLAlchemy: a value longer than its ``String(n)`` column is the client's bad
input (a 400 naming the field, or ``FieldValueError`` from the backend), refused before any
write on every database -- PostgreSQL and strict MariaDB would refuse the row (a 503), SQLite
would keep it whole. Only a password column too short for the gate's own hash is the table's
fault: a 503 that changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import Parameters, PasswordHasher
from argon2.profiles import CHEAPEST
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
from support.results import RawClient

from jwe_gate import (
    FieldValueError,
    Gate,
    Hasher,
    KeyRing,
    SQLAlchemyBackend,
    Table,
    sqlalchemy_stores,
)
from jwe_gate._endpoints.inputs import LOGIN_MAX, NAME_MAX
from jwe_gate._storage.sqlalchemy import store_metadata

TARGETS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(PG, id="postgres-psycopg"),
    pytest.param(PG_ASYNC, id="postgres-asyncpg"),
    pytest.param(MARIA, id="mariadb-pymysql"),
    pytest.param(MARIA_ASYNC, id="mariadb-aiomysql"),
]

COLUMNS = {"email": "mail", "password": "pw_hash", "name": "full_name"}
"""The app table's own column names for the fields the gate uses."""

MAIL_MAX, NAME_COL_MAX, NICK_MAX = 40, 20, 8
"""The app table's column lengths: shorter than the endpoint's own limits."""

FITS = {"email": "f" * (MAIL_MAX - 12) + "@example.com", "name": "n" * NAME_COL_MAX}
"""Values exactly as long as their columns."""


def people(name: str, *, pw_len: int = 255) -> sa.Table:
    """An app's table with short text columns, one of them (nickname) no gate field."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("mail", sa.String(MAIL_MAX), nullable=False, unique=True),
        sa.Column("pw_hash", sa.String(pw_len)),
        sa.Column("full_name", sa.Unicode(NAME_COL_MAX)),
        sa.Column("nickname", sa.String(NICK_MAX)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("password_changed_at", sa.BigInteger),
    )


@dataclass
class Place:
    """A test's engine, a sync engine on the same database, and its table there."""

    engine: Any
    cleaner: sa.Engine
    table: sa.Table

    def rows(self) -> list[dict[str, Any]]:
        """Every row of the table, read past the gate."""
        with self.cleaner.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(self.table)).mappings()]


@contextlib.contextmanager
def _place(url: str, tmp_path: Path, *, pw_len: int = 255) -> Iterator[Place]:
    """The app's table on one database (its own name), dropped after the test."""
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = make_engine(url)
    cleaner = sa.create_engine(sync_url(url))
    table = people(prefix() + "people", pw_len=pw_len)
    table.metadata.create_all(cleaner)
    try:
        yield Place(engine, cleaner, table)
    finally:
        table.metadata.drop_all(cleaner)
        cleaner.dispose()
        dispose(engine)


@pytest.fixture(params=TARGETS)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    """The app's table on each database and driver."""
    with _place(request.param, tmp_path) as made:
        yield made


CHEAP_HASH = len(PasswordHasher.from_parameters(CHEAPEST).hash("x"))
"""How long the tests' (cheapest) argon2id hashes are."""


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param(PG, id="postgres"),
        pytest.param(MARIA, id="mariadb"),
    ]
)
def narrow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    """The app's table with a password column exactly as long as the tests' hashes."""
    with _place(request.param, tmp_path, pw_len=CHEAP_HASH) as made:
        yield made


def _gate(
    engine: Any,
    table: sa.Table,
    p: str,
    *,
    keys: KeyRing | None = None,
    parameters: Parameters = CHEAPEST,
) -> tuple[Gate, RawClient]:
    """A gate on ``table`` (async engine under ASGI, sync under WSGI) and its raw client."""
    gate = Gate(
        keys=keys or KeyRing.generate(),
        tables=[Table("user", SQLAlchemyBackend(engine, table=table, columns=COLUMNS))],
        auth_routes={"/auth": "user"},
        hasher=Hasher(parameters),
        stores=sqlalchemy_stores(engine, prefix=p),
    )
    return gate, wrap(gate, "wsgi" if isinstance(engine, sa.Engine) else "asgi")


def _post(client: RawClient, endpoint: str, body: dict[str, str], token: str = "") -> Any:
    """POST ``body`` to the gate's ``endpoint``, with ``token`` as the bearer if given."""
    headers = [("Content-Type", "application/json")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    return client("POST", f"/auth/{endpoint}", headers, body=json.dumps(body).encode())


TOO_LONG = [
    pytest.param({"email": "e" * (MAIL_MAX - 11) + "@example.com"}, "email", id="email"),
    pytest.param({"name": "n" * (NAME_COL_MAX + 1)}, "name", id="name"),
]


@pytest.mark.parametrize(("given", "field"), TOO_LONG)
def test_a_signup_too_long_for_its_column_is_a_400(
    place: Place, given: dict[str, str], field: str
) -> None:
    """A signup whose email or name the endpoint takes but the app's column cannot hold is a
    400 naming the field (never a 503), and leaves no row; values that just fit are kept."""
    p = prefix()
    gate, client = _gate(place.engine, place.table, p)
    try:
        refused = _post(
            client, "signup", {"email": "ann@example.com", "password": "pw-1234x", **given}
        )
        assert refused.status == 400, refused.body
        assert (refused.json["code"], refused.json["payload"]) == (
            "ERROR_CODE_INPUT_ERROR",
            {"param": field},
        )
        assert field in refused.json["message"]
        assert place.rows() == []
        fits = _post(client, "signup", {**FITS, "password": "pw-1234x"})
        assert fits.status == 200, fits.body
        row = place.rows()[0]
        assert (row["mail"], row["full_name"]) == (FITS["email"], FITS["name"])
    finally:
        gate.close()
        store_metadata(p).drop_all(place.cleaner)


BACKEND_CASES = [
    pytest.param("mail", "email", MAIL_MAX, id="login-column"),
    pytest.param("full_name", "name", NAME_COL_MAX, id="mapped-column"),
    pytest.param("nickname", "nickname", NICK_MAX, id="unmapped-column"),
]


def _run(backend: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """``backend.method(...)`` on the side the backend offers (the async one via asyncio.run)."""
    if backend.is_async:
        return asyncio.run(getattr(backend, "a" + method)(*args, **kwargs))
    return getattr(backend, method)(*args, **kwargs)


@pytest.mark.parametrize(("column", "field", "limit"), BACKEND_CASES)
def test_the_backend_refuses_a_value_too_long_for_its_column(
    place: Place, column: str, field: str, limit: int
) -> None:
    """backend.create and backend.update (sync and async engines) raise FieldValueError naming
    the record field for a value one character longer than its column, and write nothing;
    a value exactly as long is stored whole."""
    backend = SQLAlchemyBackend(place.engine, table=place.table, columns=COLUMNS)
    Table("user", backend)  # binds the table, as a gate does at start-up
    long = "x" * (limit + 1) + ("@example.com" if field == "email" else "")
    base = {"email": "bo@example.com", "created_at": 1}
    with pytest.raises(FieldValueError) as made:
        _run(backend, "create", "user", {**base, field: long}, unique="email")
    assert made.value.field == field
    assert str(limit) in str(made.value)
    assert place.rows() == []
    record = _run(backend, "create", "user", base, unique="email")
    with pytest.raises(FieldValueError) as changed:
        _run(backend, "update", "user", str(record["id"]), {"name": "Bo", field: long})
    assert changed.value.field == field
    assert place.rows()[0][column] == record[field]  # nothing changed: not even the name
    assert place.rows()[0]["full_name"] is None
    fit = "y" * (limit - 12) + "@example.com" if field == "email" else "y" * limit
    updated = _run(backend, "update", "user", str(record["id"]), {field: fit})
    assert updated[field] == fit
    assert place.rows()[0][column] == fit


@pytest.mark.parametrize(
    "url", [pytest.param(PG, id="postgres"), pytest.param(MARIA, id="mariadb")]
)
def test_the_created_table_holds_the_longest_input_the_endpoint_takes(url: str) -> None:
    """On the table the backend creates (email 320, name 255 characters), the longest email
    and name a signup accepts (254, 200) are stored whole: the endpoint's limits are the
    tighter ones, so the gate's own table never refuses its own input."""
    engine = make_engine(url)
    p = prefix()
    backend = SQLAlchemyBackend(engine, prefix=p)
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", backend)],
        auth_routes={"/auth": "user"},
        hasher=Hasher(CHEAPEST),
        stores=sqlalchemy_stores(engine, prefix=p),
    )
    email = "l" * (LOGIN_MAX - 12) + "@example.com"
    try:
        created = backend.metadata.tables[p + "user"]
        assert created.c.email.type.length >= LOGIN_MAX
        assert created.c.name.type.length >= NAME_MAX
        answer = _post(
            wrap(gate, "wsgi"),
            "signup",
            {"email": email, "password": "pw-1234x", "name": "m" * NAME_MAX},
        )
        assert answer.status == 200, answer.body
        assert backend.find("user", "email", email)["name"] == "m" * NAME_MAX
    finally:
        gate.close()
        backend.metadata.drop_all(engine)
        store_metadata(p).drop_all(engine)
        dispose(engine)


def test_a_password_column_too_short_for_the_hash_is_the_tables_fault(narrow: Place) -> None:
    """A table whose password column cannot hold the gate's hash answers a signup with the
    503 (the table's fault, logged), not a 400 blaming the client's password, and keeps no
    row."""
    p = prefix()
    short = dataclasses.replace(CHEAPEST, hash_len=CHEAPEST.hash_len + 1)  # one more byte
    gate, client = _gate(narrow.engine, narrow.table, p, parameters=short)
    try:
        answer = _post(client, "signup", {"email": "cy@example.com", "password": "pw-1234x"})
        assert answer.status == 503, answer.body
        assert answer.json["code"] == "ERROR_FATAL"
        assert narrow.rows() == []
    finally:
        gate.close()
        store_metadata(p).drop_all(narrow.cleaner)


def test_a_password_change_the_column_cannot_hold_changes_nothing(narrow: Place) -> None:
    """A password change whose new hash (a hasher with longer hashes) does not fit the column
    is a 503 that leaves the stored hash, so the old password still logs in."""
    p, keys = prefix(), KeyRing.generate()
    first, client = _gate(narrow.engine, narrow.table, p, keys=keys)
    longer = dataclasses.replace(CHEAPEST, hash_len=CHEAPEST.hash_len + 4)
    second, other = _gate(narrow.engine, narrow.table, p, keys=keys, parameters=longer)
    creds = {"email": "di@example.com", "password": "pw-1234x"}
    try:
        token = _post(client, "signup", creds).json["authToken"]
        stored = narrow.rows()[0]["pw_hash"]
        change = {"password": "pw-1234x", "newPassword": "pw-5678y"}
        answer = _post(other, "password", change, token=token)
        assert answer.status == 503, answer.body
        assert narrow.rows()[0]["pw_hash"] == stored
        assert _post(client, "login", creds).status == 200
    finally:
        first.close()
        second.close()
        store_metadata(p).drop_all(narrow.cleaner)
