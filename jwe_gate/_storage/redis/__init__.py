"""Redis (redis-py, sync and asyncio): the three stores of shared state on one Redis, for
several workers and hosts. redis-py is imported only when a store is made (the ``redis``
extra). Each operation is one Lua script (``lua.py``) or one command, so it is atomic; every
key has a TTL, so nothing outlives what it holds."""

from __future__ import annotations

from typing import Any

from ..bundle import Stores
from .client import DEFAULT_PREFIX, DEFAULT_TIMEOUT, redis_client
from .once import RedisOneTimeStore
from .sessions import RedisRefreshStore
from .throttle import RedisThrottleStore

__all__ = [
    "RedisOneTimeStore",
    "RedisRefreshStore",
    "RedisThrottleStore",
    "redis_client",
    "redis_stores",
]


def redis_stores(
    client: Any = None,
    *,
    url: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    asyncio: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Stores:
    """The three stores on one Redis client, for ``Gate(stores=...)``.

    Give a redis-py ``client`` (``redis.Redis``: sync stores; ``redis.asyncio.Redis``: async
    ones; it stays yours to close), or a ``url``: the stores then make their own client with
    ``redis_client``'s bounded waits (``timeout`` seconds; ``asyncio=True`` for an asyncio
    client) and close it with the gate. Every key starts with ``prefix``."""
    owns = client is None
    if owns:
        client = redis_client(url or "redis://127.0.0.1:6379/0", asyncio=asyncio, timeout=timeout)
    elif url is not None:
        from ...exceptions import ConfigurationError

        raise ConfigurationError("give redis_stores a client or a url, not both")
    return Stores(
        RedisRefreshStore(client, prefix=prefix, owns=owns),
        RedisThrottleStore(client, prefix=prefix, owns=owns),
        RedisOneTimeStore(client, prefix=prefix, owns=owns),
    )
