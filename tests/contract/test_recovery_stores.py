"""§Account recovery on every store technology, against the real servers: SQLite (tables and
stores), SQLAlchemy on PostgreSQL (sync and async engines; tables and stores) and Redis (sync
and asyncio clients). Reset, verify and magic login complete; a used or replaced token is
refused; a password change kills pending tokens; only hashes are stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import argon2
import pytest
import sqlalchemy as sa
from support.clients import wrap
from support.databases import PG, PG_ASYNC, dispose, make_engine, prefix, sync_url
from support.mailbox import Mailbox
from support.recovery import (
    NEW_PASSWORD,
    PASSWORD,
    assert_refused_link,
    get,
    links,
    login,
    mailed_token,
    post,
    signup,
)
from support.redisdb import (
    async_client_on_background_loop,
    close_async_on_background_loop,
    drop_keys,
    keys_of,
    new_prefix,
    require_redis,
    sync_client,
)

from jwe_gate import (
    Gate,
    Hasher,
    KeyRing,
    MemoryBackend,
    Recovery,
    Rule,
    SQLAlchemyBackend,
    SQLiteBackend,
    Stores,
    Table,
    redis_stores,
    sqlalchemy_stores,
)

Setup = tuple[Any, Any, Callable[[], list[str]], Callable[[], None]]
"""(backend, stores, a function listing every stored one-time value, a function releasing
the client before the gate closes)"""


def _nothing() -> None:
    return None


def _sqlite(tmp_path: Path) -> Iterator[Setup]:
    path = tmp_path / "recovery.db"

    def stored() -> list[str]:
        with sa.create_engine(f"sqlite:///{path}").connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM jwe_gate_once")).all()
        return [str(v) for row in rows for v in row]

    yield SQLiteBackend(str(path)), Stores.sqlite(path), stored, _nothing


def _postgres(url: str) -> Iterator[Setup]:
    engine = make_engine(url)
    cleaner = sa.create_engine(sync_url(url))
    p = prefix()
    backend = SQLAlchemyBackend(engine, prefix=p)
    stores = sqlalchemy_stores(engine, prefix=p)

    def stored() -> list[str]:
        with cleaner.connect() as conn:
            rows = conn.execute(sa.select(sa.table(f"{p}once", sa.column("token_hash")))).all()
        return [str(v) for row in rows for v in row]

    try:
        yield backend, stores, stored, _nothing
    finally:
        for obj in (backend, stores.refresh, stores.throttle, stores.once):
            obj.metadata.drop_all(cleaner, checkfirst=True)  # type: ignore[union-attr]
        cleaner.dispose()
        dispose(engine)


def _redis(asyncio: bool) -> Iterator[Setup]:
    require_redis()
    p = new_prefix()
    client: Any = async_client_on_background_loop() if asyncio else sync_client()

    def stored() -> list[str]:
        raw = sync_client()
        try:
            return [k.decode() for k in keys_of(p)] + [str(raw.dump(k)) for k in keys_of(p)]
        finally:
            raw.close()

    def release() -> None:
        # An asyncio client is closed on the background loop, before the gate stops it.
        if asyncio:
            close_async_on_background_loop(client)
        else:
            client.close()

    try:
        yield MemoryBackend(), redis_stores(client, prefix=p), stored, release
    finally:
        drop_keys(p)


KINDS = [
    pytest.param("sqlite", "asgi", id="sqlite-asgi"),
    pytest.param("sqlite", "wsgi", id="sqlite-wsgi"),
    pytest.param("postgres", "wsgi", id="postgres-psycopg-wsgi"),
    pytest.param("postgres", "asgi", id="postgres-psycopg-asgi"),
    pytest.param("postgres-async", "asgi", id="postgres-asyncpg-asgi"),
    pytest.param("redis", "asgi", id="redis-asgi"),
    pytest.param("redis", "wsgi", id="redis-wsgi"),
    pytest.param("redis-async", "wsgi", id="redis-asyncio-wsgi"),
]


@pytest.fixture
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    kind = request.param
    if kind == "sqlite":
        yield from _sqlite(tmp_path)
    elif kind.startswith("postgres"):
        yield from _postgres(PG_ASYNC if kind.endswith("async") else PG)
    else:
        yield from _redis(kind.endswith("async"))


@pytest.mark.parametrize(("setup", "adapter"), KINDS, indirect=["setup"])
def test_recovery_on_every_store(setup: Setup, adapter: str) -> None:
    """Every flow completes on the store, its refusals hold, and no token is stored in clear."""
    backend, stores, stored, release = setup
    box = Mailbox()
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", backend, recovery=Recovery(box, **links()))],
        rules=[Rule("/api/verified/**", verified=True)],
        auth_routes={"/auth": "user"},
        hasher=Hasher(argon2.profiles.CHEAPEST),
        stores=stores,
    )
    client = wrap(gate, adapter)
    try:
        old = signup(client)
        # A newer reset link kills the older; tokens are stored only as hashes.
        first = mailed_token(client, box, "/auth/password/forgot")
        second = mailed_token(client, box, "/auth/password/forgot")
        values = " ".join(stored())
        assert values
        assert first not in values
        assert second not in values
        assert_refused_link(
            post(client, "/auth/password/reset", {"token": first, "newPassword": NEW_PASSWORD})
        )
        # A magic link sent before the reset dies with the password.
        magic = mailed_token(client, box, "/auth/magic")
        reset = post(client, "/auth/password/reset", {"token": second, "newPassword": NEW_PASSWORD})
        assert reset.status == 200, reset.json
        assert_refused_link(post(client, "/auth/magic/login", {"token": magic}))
        assert get(client, "/auth/me", old["authToken"]).status == 401
        assert post(client, "/auth/refresh", {"refreshToken": old["refreshToken"]}).status == 401
        assert login(client, password=PASSWORD).status == 403
        # Verification, persisted by the table; then a verified=True rule passes.
        access = reset.json["authToken"]
        unverified = gate.table("user").update(
            str(gate.verify(access).sub), {"email_verified": False}
        )
        assert unverified is not None
        assert get(client, "/api/verified/x", access).status == 403
        assert post(client, "/auth/verify/send", token=access).status == 202
        verified = post(client, "/auth/verify", {"token": box.token()})
        assert verified.status == 200, verified.json
        assert verified.json["email_verified"] is True
        assert get(client, "/api/verified/x", access).status in (200, 404)  # the app's answer
        # A magic link logs in, once.
        token = mailed_token(client, box, "/auth/magic")
        pair = post(client, "/auth/magic/login", {"token": token})
        assert pair.status == 200, pair.json
        assert get(client, "/auth/me", pair.json["authToken"]).status == 200
        assert_refused_link(post(client, "/auth/magic/login", {"token": token}))
    finally:
        release()
        gate.close()
