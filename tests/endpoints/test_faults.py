"""§Storage faults: with the store's server unreachable, requests that need it get the SPEC's
503 (no traceback, no hang past the timeouts), public routes keep working, nothing is half
written, and service comes back by itself when the server does. The connection is cut through a
TCP proxy the test owns; the machine's servers keep running."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from support.clients import wrap
from support.proxy import Proxy
from support.redisdb import HOST, PORT, require_redis
from test_handlers import PASSWORD, assert_xano, get, login, post, refresh, signup

from jwe_gate import Gate, SQLiteBackend, Table, redis_stores


@pytest.fixture
def cut_redis() -> Iterator[tuple[Proxy, str]]:
    """A proxy to the real Redis, and a key prefix of this test's own (removed after)."""
    require_redis()
    prefix = f"jwe_gate_test:{secrets.token_hex(6)}:"
    proxy = Proxy((HOST, PORT))
    try:
        yield proxy, prefix
    finally:
        proxy.close()
    client = redis.Redis(host=HOST, port=PORT)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.mark.parametrize("adapter", [pytest.param("asgi"), pytest.param("wsgi")])
def test_redis_cut_and_restored(
    make_auth_gate: Callable[..., Gate],
    cut_redis: tuple[Proxy, str],
    tmp_path: Path,
    adapter: str,
) -> None:
    """Cut: a session token, a login and a refresh answer 503 ERROR_FATAL with Retry-After, the
    public route 200. Restored: the same requests work again, with the same tokens."""
    proxy, prefix = cut_redis
    db = tmp_path / "app.db"
    stores = redis_stores(url=f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix, timeout=1.0)
    gate = make_auth_gate(
        tables=[Table("user", SQLiteBackend(db)), Table("admin", SQLiteBackend(db))],
        stores=stores,
    )
    client = wrap(gate, adapter)
    pair = signup(client)
    assert get(client, "/auth/me", pair["authToken"]).status == 200
    proxy.set("refuse")
    time.sleep(1.1)  # past the liveness memory: the next check must ask the store
    for res in (
        get(client, "/auth/me", pair["authToken"]),
        login(client),
        refresh(client, pair["refreshToken"]),
    ):
        assert_xano(res, 503, "ERROR_FATAL")
        assert res.header("retry-after")
        assert b"Traceback" not in res.body
    assert client("GET", "/health").status == 200
    proxy.set("up")
    assert get(client, "/auth/me", pair["authToken"]).status == 200
    rotated = refresh(client, pair["refreshToken"])  # the refused refresh spent nothing
    assert rotated.status == 200, rotated.json
    assert login(client).status == 200
    assert post(client, "/auth/logout", token=pair["authToken"]).status == 204
    gate.close()


@pytest.mark.parametrize("adapter", [pytest.param("asgi"), pytest.param("wsgi")])
def test_a_signup_during_an_outage_stores_nothing(
    make_auth_gate: Callable[..., Gate],
    cut_redis: tuple[Proxy, str],
    tmp_path: Path,
    adapter: str,
) -> None:
    """A signup during the outage answers 503 and leaves no record behind (the store is asked
    before anything is written): afterwards the email is free and the same signup succeeds."""
    proxy, prefix = cut_redis
    db = tmp_path / "app.db"
    gate = make_auth_gate(
        tables=[Table("user", SQLiteBackend(db)), Table("admin", SQLiteBackend(db))],
        stores=redis_stores(url=f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix, timeout=1.0),
    )
    client = wrap(gate, adapter)
    proxy.set("refuse")
    res = post(client, "/auth/signup", {"email": "cut@x.io", "password": PASSWORD, "name": "C"})
    assert_xano(res, 503, "ERROR_FATAL")
    proxy.set("up")
    assert login(client, "cut@x.io").status == 403  # no such account: nothing was stored
    again = post(client, "/auth/signup", {"email": "cut@x.io", "password": PASSWORD, "name": "C"})
    assert again.status == 200, again.json
    gate.close()
