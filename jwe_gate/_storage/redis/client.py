"""What the Redis stores share: the optional import of redis-py, the client helper with bounded
waits, key and TTL arithmetic, and the sync and async ways to send one call.

A store takes a redis-py client and has the side that client has: a ``redis.Redis`` gives the
blocking methods (``rotate``), a ``redis.asyncio.Redis`` the coroutines (``arotate``); the gate
bridges the other side (``jwe_gate._twins``). redis-py is imported only when a store is made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from ...exceptions import ConfigurationError, MissingDependencyError

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_TIMEOUT",
    "SLACK_MS",
    "Async",
    "Call",
    "RedisStore",
    "Sync",
    "is_async_client",
    "record_key",
    "redis_client",
    "text",
    "ttl_ms",
]


T = TypeVar("T")

DEFAULT_PREFIX = "jwe_gate:"
DEFAULT_TIMEOUT = 2.0
"""Seconds ``redis_client`` lets a connect or a reply take: an unreachable Redis is a 503
after about twice this (one retry), never a hang."""

SLACK_MS = 1000
"""Each TTL runs this much past the end of what the key holds: the stored expiry, in the
caller's clock, decides; the TTL only collects what has ended."""


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:
        raise MissingDependencyError("redis", "redis") from exc
    return redis


def redis_client(
    url: str = "redis://127.0.0.1:6379/0",
    *,
    asyncio: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """A redis-py client for ``url`` with bounded waits: ``timeout`` seconds to connect and for
    each reply, and one immediate retry (a pooled connection a restarted Redis dropped is
    replaced at once), where redis-py's defaults would retry for many seconds."""
    module = _import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    cls = module.asyncio.Redis if asyncio else module.Redis
    return cls.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        retry_on_timeout=False,
    )


def is_async_client(client: object) -> bool:
    module = _import_redis()
    if isinstance(client, module.asyncio.Redis):
        return True
    if isinstance(client, module.Redis):
        return False
    raise ConfigurationError(
        f"a Redis store needs a redis.Redis or redis.asyncio.Redis client, not {type(client)!r}"
    )


def text(value: Any) -> str:
    """A reply as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def ttl_ms(end: float, now: float) -> int:
    return max(1, math.ceil((end - now) * 1000)) + SLACK_MS


def record_key(table: str, subject: str) -> str:
    """A record's part of a key: the table's length first, so no two records share one."""
    return f"{len(table.encode())}:{table}:{subject}"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One round trip: ``send()`` (a reply, or an awaitable of one) and how to read its reply."""

    send: Callable[[], Any]
    read: Callable[[Any], T]


class RedisStore:
    """What the sync and the async variants share: the client, the keys, the scripts."""

    inline: ClassVar[bool] = False  # a network round trip: off the event loop under ASGI
    _scripts: ClassVar[dict[str, str]] = {}

    def __init__(self, client: Any, *, prefix: str = DEFAULT_PREFIX, owns: bool = False) -> None:
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a string")
        self.client = client
        self.prefix = prefix
        self._owns = owns
        # Registered once: each call is an EVALSHA, loading the script again if Redis lost it.
        self._run = {name: client.register_script(src) for name, src in self._scripts.items()}

    def _script(
        self, name: str, keys: list[str], args: list[Any], read: Callable[[Any], T]
    ) -> Call[T]:
        script = self._run[name]
        return Call(lambda: script(keys=keys, args=args), read)


class Sync:
    """The blocking side: each operation is its call, sent and read."""

    client: Any
    _owns: bool

    @staticmethod
    def _do(call: Call[T]) -> T:
        return call.read(call.send())

    def close(self) -> None:
        """Close the client if the store made it (a client passed in is its owner's)."""
        if self._owns:
            self.client.close()


class Async:
    """The coroutine side: each operation is its call, awaited and read."""

    client: Any
    _owns: bool

    @staticmethod
    async def _do(call: Call[T]) -> T:
        reply: Any = await call.send()
        return call.read(reply)

    async def aclose(self) -> None:
        """Close the client if the store made it (a client passed in is its owner's)."""
        if self._owns:
            await self.client.aclose()
