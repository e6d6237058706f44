"""The real Redis on 127.0.0.1:6379 for the Redis store tests: clients, a key prefix per test,
and the worker the multi-process races run in (importable, for the ``spawn`` start method)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from jwe_gate._twins import run_on_loop

HOST, PORT = "127.0.0.1", 6379
URL = f"redis://{HOST}:{PORT}/0"


def require_redis() -> None:
    """Fail under CI when the server is missing; skip elsewhere (outside CI only)."""
    client = redis.Redis(host=HOST, port=PORT, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not running on {URL}: {exc}")
        pytest.skip(f"Redis is not running on {URL} (outside CI only)")
    finally:
        client.close()


def new_prefix() -> str:
    """A key prefix no other test (or run) uses."""
    return f"jwe_gate_test:{secrets.token_hex(6)}:"


def keys_of(prefix: str) -> list[bytes]:
    """Every key under ``prefix``."""
    client = redis.Redis(host=HOST, port=PORT)
    try:
        return sorted(client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


def drop_keys(prefix: str) -> None:
    """Delete every key under ``prefix``."""
    client = redis.Redis(host=HOST, port=PORT)
    try:
        found = list(client.scan_iter(match=prefix + "*", count=1000))
        if found:
            client.delete(*found)
    finally:
        client.close()


def sync_client(*, decode: bool = False) -> redis.Redis:
    """A blocking client with bounded waits."""
    return redis.Redis(
        host=HOST, port=PORT, decode_responses=decode, socket_timeout=5, socket_connect_timeout=5
    )


def async_client_on_background_loop() -> redis.asyncio.Redis:
    """An asyncio client made on jwe_gate's background loop: the loop every sync call of an
    async store runs on, so its connections are opened and used on that one loop."""

    async def make() -> redis.asyncio.Redis:
        return redis.asyncio.Redis(host=HOST, port=PORT, socket_timeout=5, socket_connect_timeout=5)

    return run_on_loop(make())


def close_async_on_background_loop(client: redis.asyncio.Redis) -> None:
    """Close an asyncio client on the loop that used it."""
    run_on_loop(client.aclose())


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix; its keys are deleted after the test."""
    require_redis()
    prefix = new_prefix()
    yield prefix
    drop_keys(prefix)


def make_store(kind: str, flavour: str, prefix: str) -> tuple[Any, Any]:
    """``(store, client)``: a Redis store of ``kind`` on a client of ``flavour``."""
    from jwe_gate import RedisOneTimeStore, RedisRefreshStore, RedisThrottleStore

    cls: Any = {
        "refresh": RedisRefreshStore,
        "throttle": RedisThrottleStore,
        "once": RedisOneTimeStore,
    }[kind]
    client: Any
    if flavour == "async":
        client = async_client_on_background_loop()
    else:
        client = sync_client(decode=flavour == "sync-decoded")
    return cls(client, prefix=prefix), client


def close_client(client: Any) -> None:
    """Close a client made by :func:`make_store`, on its loop."""
    if isinstance(client, redis.asyncio.Redis):
        close_async_on_background_loop(client)
    else:
        client.close()


FLAVOURS = [
    pytest.param("sync", id="sync"),
    pytest.param("sync-decoded", id="sync-decode-responses"),
    pytest.param("async", id="asyncio"),
]
"""Every client a store can take: sync (bytes replies), sync with ``decode_responses=True``
(str replies), and ``redis.asyncio``."""


# -- the multi-process races -------------------------------------------------------------------


def race_worker(
    op: str, prefix: str, threads: int, barrier: Any, results: Any, args: tuple[Any, ...]
) -> None:
    """In a spawned process: ``threads`` threads, released with every other process's by
    ``barrier``, each run ``op`` once on its own store call; put the answers on ``results``."""
    from jwe_gate import RedisOneTimeStore, RedisRefreshStore

    client = sync_client()
    refresh, once = (
        RedisRefreshStore(client, prefix=prefix),
        RedisOneTimeStore(client, prefix=prefix),
    )
    answers: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)

    def one(i: int) -> None:
        ready.wait(timeout=30)
        if op == "rotate":
            family, token, now = args
            got = refresh.rotate(
                family, token, f"child-{os.getpid()}-{i}", now=now, expires_at=now + 600, grace=10
            ).outcome.value
        else:
            token, now = args
            got = str(once.take(token, purpose="reset", table="user", now=now))
        with lock:
            answers.append(got)

    workers = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=30)  # every process is ready: release the threads together
    ready.wait(timeout=30)
    for worker in workers:
        worker.join(timeout=30)
    client.close()
    results.put(answers)
