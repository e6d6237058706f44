"""§Storage and §Scaling out on Redis: the public contract suites (``jwe_gate.testing``) over the
Redis stores on every kind of redis-py client (sync, sync decoding replies, asyncio), which side
each store offers, TTLs on every key, races of one-time tokens, faults, and the missing extra.

An asyncio client is made on jwe_gate's background loop: the suites call stores through the
sync bridges, which run an async store's coroutines on that loop, so the client's connections
are opened and used on the one loop that runs them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import redis.asyncio
from support.clients import wrap
from support.redisdb import (
    FLAVOURS,
    close_client,
    drop_keys,
    keys_of,
    make_store,
    new_prefix,
    require_redis,
    sync_client,
)

from jwe_gate import (
    ConfigurationError,
    Gate,
    KeyRing,
    MemoryBackend,
    OneTimeStore,
    RedisOneTimeStore,
    RedisRefreshStore,
    RedisThrottleStore,
    RefreshStore,
    Rule,
    Session,
    Table,
    ThrottleStore,
    redis_client,
    redis_stores,
)
from jwe_gate._storage.protocols import (
    AsyncOneTimeStore,
    AsyncRefreshStore,
    AsyncThrottleStore,
)
from jwe_gate._twins import twin
from jwe_gate.testing import OneTimeStoreContract, RefreshStoreContract, ThrottleStoreContract

NOW = 1_700_000_000.0


def h(name: str) -> str:
    """The SHA-256 hex digest stored for a token called ``name``."""
    return hashlib.sha256(name.encode()).hexdigest()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix (Redis must be running); its keys are deleted after the test."""
    require_redis()
    value = new_prefix()
    yield value
    drop_keys(value)


def _store(kind: str, flavour: str, prefix: str) -> Iterator[Any]:
    store, client = make_store(kind, flavour, prefix)
    yield store
    close_client(client)


@pytest.fixture(params=FLAVOURS)
def refresh_store(request: pytest.FixtureRequest, prefix: str) -> Iterator[Any]:
    """A Redis refresh store on each kind of client, under a fresh prefix."""
    yield from _store("refresh", request.param, prefix)


@pytest.fixture(params=FLAVOURS)
def throttle_store(request: pytest.FixtureRequest, prefix: str) -> Iterator[Any]:
    """A Redis throttle store on each kind of client, under a fresh prefix."""
    yield from _store("throttle", request.param, prefix)


@pytest.fixture(params=FLAVOURS)
def once_store(request: pytest.FixtureRequest, prefix: str) -> Iterator[Any]:
    """A Redis one-time token store on each kind of client, under a fresh prefix."""
    yield from _store("once", request.param, prefix)


class TestRedisRefreshStore(RefreshStoreContract):
    """The public refresh-store contract over the Redis store, sync and asyncio."""


class TestRedisThrottleStore(ThrottleStoreContract):
    """The public throttle-store contract over the Redis store, sync and asyncio."""


class TestRedisOneTimeStore(OneTimeStoreContract):
    """The public one-time-store contract over the Redis store, sync and asyncio."""


# -- the side a store offers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "sync_protocol", "async_protocol"),
    [
        pytest.param(RedisRefreshStore, RefreshStore, AsyncRefreshStore, id="refresh"),
        pytest.param(RedisThrottleStore, ThrottleStore, AsyncThrottleStore, id="throttle"),
        pytest.param(RedisOneTimeStore, OneTimeStore, AsyncOneTimeStore, id="once"),
    ],
)
def test_a_store_has_the_side_of_its_client(
    cls: Any, sync_protocol: type, async_protocol: type
) -> None:
    """A redis.Redis gives the sync protocol only, a redis.asyncio.Redis the async one only."""
    sync = cls(redis.Redis(host="127.0.0.1", port=6379))
    asynchronous = cls(redis.asyncio.Redis(host="127.0.0.1", port=6379))
    assert sync.inline is False  # a network round trip never runs on the event loop
    assert isinstance(sync, cls)
    assert isinstance(asynchronous, cls)
    assert isinstance(sync, sync_protocol)
    assert not isinstance(sync, async_protocol)
    assert isinstance(asynchronous, async_protocol)
    assert not isinstance(asynchronous, sync_protocol)


@pytest.mark.parametrize(
    "client",
    [
        pytest.param(None, id="none"),
        pytest.param("redis://127.0.0.1:6379", id="a-url-string"),
        pytest.param(object(), id="an-object"),
    ],
)
def test_a_store_refuses_what_is_not_a_redis_client(client: Any) -> None:
    """Anything but a redis-py client is a ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match="redis"):
        RedisRefreshStore(client)


def test_redis_stores_builds_all_three_on_one_client(prefix: str) -> None:
    """redis_stores(client) shares one client and one prefix; a url builds an owned client."""
    client = sync_client()
    stores = redis_stores(client, prefix=prefix)
    for store in (stores.refresh, stores.throttle, stores.once):
        assert store.client is client  # type: ignore[attr-defined]
        assert store.prefix == prefix  # type: ignore[attr-defined]
    owned = redis_stores(url="redis://127.0.0.1:6379/0", prefix=prefix)
    assert owned.refresh.client.connection_pool.connection_kwargs["socket_timeout"] == 2.0  # type: ignore[attr-defined]
    owned.refresh.close()  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError):
        redis_stores(client, url="redis://127.0.0.1:6379/0")
    client.close()


# -- TTLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_key_the_stores_write_has_a_ttl(prefix: str, flavour: str) -> None:
    """After every kind of operation, each key under the prefix has a TTL (PTTL > 0) no longer
    than what it holds (plus a second's slack)."""
    made = [make_store(kind, flavour, prefix) for kind in ("refresh", "throttle", "once")]
    (refresh, _), (throttle, _), (once, _) = made
    try:

        def call(store: Any, op: str, *args: Any, **kwargs: Any) -> Any:
            return twin(store, op).fn(*args, **kwargs)

        ann = Session("fam-a", "user", "1", NOW)
        call(refresh, "add", h("a"), ann, expires_at=NOW + 60, now=NOW)
        call(
            refresh, "add", h("b"), Session("fam-b", "user", "1", NOW), expires_at=NOW + 30, now=NOW
        )
        call(
            refresh, "rotate", "fam-a", h("a"), h("a2"), now=NOW + 1, expires_at=NOW + 90, grace=10
        )
        call(
            refresh, "rotate", "fam-a", h("a"), h("x"), now=NOW + 50, expires_at=NOW + 90, grace=10
        )
        call(refresh, "revoke_family", "fam-unknown")  # creates nothing
        call(refresh, "revoke_subject", "user", "1", keep="fam-b")
        call(refresh, "revoke", "fam-b", h("b"))
        call(throttle, "hit", "k1", window=20, now=NOW)
        call(throttle, "hit", "k2", window=20, now=NOW, amount=0)
        call(throttle, "hit", "k3", window=20, now=NOW, amount=3)
        call(throttle, "take", "k3", now=NOW, at_most=1)
        call(
            once,
            "put",
            h("t1"),
            purpose="reset",
            table="user",
            subject="1",
            expires_at=NOW + 40,
            now=NOW,
        )
        call(
            once,
            "put",
            h("t2"),
            purpose="verify",
            table="user",
            subject="1",
            expires_at=NOW + 10,
            now=NOW,
        )
        call(
            once,
            "put",
            h("t3"),
            purpose="reset",
            table="user",
            subject="2",
            expires_at=NOW + 10,
            now=NOW,
        )
        call(once, "take", h("t3"), purpose="reset", table="user", now=NOW)

        client = sync_client()
        found = keys_of(prefix)
        ttls = {key.decode(): client.pttl(key) for key in found}
        client.close()
        # 2 sessions and the record's set, 3 counters, 2 tokens and their record's hash
        assert len(found) == 3 + 3 + 3
        assert all(0 < ttl <= 91_000 for ttl in ttls.values()), ttls
        # The record's set lives as long as its longest-lived family.
        assert ttls[f"{prefix}sessions-of:4:user:1"] > 80_000
        assert not any(key.endswith("fam-unknown") for key in ttls)
    finally:
        for _, client in made:
            close_client(client)


# -- races --------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_fifty_racing_takes_of_one_token_have_one_winner(prefix: str, flavour: str) -> None:
    """50 threads take one one-time token at once: exactly one gets the subject."""
    once, client = make_store("once", flavour, prefix)
    take = twin(once, "take").fn
    twin(once, "put").fn(
        h("t"), purpose="reset", table="user", subject="7", expires_at=NOW + 60, now=NOW
    )
    barrier = threading.Barrier(50, timeout=10)

    def one(_: int) -> str | None:
        barrier.wait()
        got: str | None = take(h("t"), purpose="reset", table="user", now=NOW + 1)
        return got

    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(one, range(50)))
        assert results.count("7") == 1
        assert results.count(None) == 49
    finally:
        close_client(client)


# -- faults -------------------------------------------------------------------------------------


def _dead_port() -> int:
    """A local port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("op", "args", "kwargs"),
    [
        pytest.param("session", ("fam",), {}, id="session"),
        pytest.param(
            "rotate",
            ("fam", "a", "b"),
            {"now": NOW, "expires_at": NOW + 1, "grace": 1},
            id="rotate",
        ),
    ],
)
def test_an_unreachable_redis_raises(
    op: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """With nothing listening, a store call raises a redis ConnectionError (no hang: the
    client's connect timeout and one retry bound it)."""
    store = RedisRefreshStore(redis_client(f"redis://127.0.0.1:{_dead_port()}/0", timeout=1))
    with pytest.raises(redis.ConnectionError):
        getattr(store, op)(*args, **kwargs)


@pytest.mark.parametrize(
    "adapter", [pytest.param("asgi", id="asgi"), pytest.param("wsgi", id="wsgi")]
)
def test_a_request_with_a_session_token_is_503_when_redis_is_unreachable(adapter: str) -> None:
    """The per-request session check and a login (its throttle) fail on an unreachable Redis:
    the SPEC's 503 ERROR_FATAL with Retry-After, never a hang or a traceback; a public route
    still answers."""
    stores = redis_stores(url=f"redis://127.0.0.1:{_dead_port()}/0", timeout=1)
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend([{"id": 1, "email": "a@x.com"}]))],
        rules=[Rule("/health", "public")],
        auth_routes={"/auth": "user"},
        stores=stores,
    )
    client = wrap(gate, adapter)
    token = gate.issue("user", 1, session="fam-" + "a" * 12)
    login = json.dumps({"email": "a@x.com", "password": "whatever 1"}).encode()
    for res in (
        client("GET", "/blog/1", [("Authorization", f"Bearer {token}")]),
        client("POST", "/auth/login", [("Content-Type", "application/json")], body=login),
    ):
        assert res.status == 503, res.body
        assert res.json["code"] == "ERROR_FATAL"
        assert res.header("retry-after")
        assert b"Traceback" not in res.body
    assert client("GET", "/health").status == 200
    gate.close()


def test_a_dropped_connection_is_replaced_by_itself(prefix: str) -> None:
    """Redis closing the store's connection (a restart, an idle timeout) costs nothing: the
    next call reconnects on its own."""
    client = redis_client("redis://127.0.0.1:6379/0")
    store = RedisThrottleStore(client, prefix=prefix)
    assert store.hit("k", window=60, now=NOW) == (1, NOW + 60)
    admin = sync_client()
    killed = admin.client_kill_filter(_id=client.client_id())
    admin.close()
    assert killed == 1
    assert store.hit("k", window=60, now=NOW + 1) == (2, NOW + 60)
    client.close()


# -- the extra ----------------------------------------------------------------------------------

_WITHOUT_REDIS = """
import sys
sys.modules["redis"] = None  # as if the extra were not installed
import jwe_gate
assert "redis" not in [m for m in sys.modules if sys.modules[m] is not None]
from jwe_gate import MissingDependencyError, RedisRefreshStore, redis_stores
for build in (lambda: RedisRefreshStore(object()), lambda: redis_stores(url="redis://x")):
    try:
        build()
    except MissingDependencyError as exc:
        print(exc)
    else:
        raise SystemExit("no error")
"""


def test_without_redis_jwe_gate_imports_and_a_store_names_the_extra() -> None:
    """Importing jwe_gate never needs redis; making a Redis store without it raises
    MissingDependencyError naming the extra."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_REDIS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("pip install 'jwe_gate[redis]'") == 2, done.stdout


def test_redis_stores_from_a_url_with_asyncio_own_their_client(prefix: str) -> None:
    """redis_stores(url=..., asyncio=True) makes one bounded asyncio client on first use by
    the running loop; the stores close it (aclose, as Gate.aclose calls), each safely."""

    async def main() -> tuple[int, float]:
        stores = redis_stores(url="redis://127.0.0.1:6379/0", asyncio=True, prefix=prefix)
        assert isinstance(stores.throttle.client, redis.asyncio.Redis)  # type: ignore[attr-defined]
        got: tuple[int, float] = await stores.throttle.ahit("k", window=5, now=NOW)  # type: ignore[attr-defined]
        for store in (stores.refresh, stores.throttle, stores.once):
            await store.aclose()  # type: ignore[attr-defined]
        return got

    assert asyncio.run(main()) == (1, NOW + 5)
