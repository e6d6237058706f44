"""The Redis throttle store: fixed-window counters, one hash per key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, overload

from .client import Async, Call, RedisStore, Sync, is_async_client, text, ttl_ms
from .lua import THROTTLE_HIT, THROTTLE_TAKE

if TYPE_CHECKING:  # the types only: redis-py is imported when a store is made
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

__all__ = ["RedisThrottleStore"]


class RedisThrottleStore(RedisStore):
    """Throttle counters in Redis: a hash per key (``<prefix>throttle:<key>``: count and the
    window's end, in the caller's clock) that expires with its window.

    ``RedisThrottleStore(client)`` is a sync store for a ``redis.Redis`` and an async one for a
    ``redis.asyncio.Redis``."""

    _scripts: ClassVar[dict[str, str]] = {"hit": THROTTLE_HIT, "take": THROTTLE_TAKE}

    @overload
    def __new__(cls, client: Redis, **kwargs: Any) -> _SyncRedisThrottleStore: ...
    @overload
    def __new__(cls, client: AsyncRedis, **kwargs: Any) -> _AsyncRedisThrottleStore: ...
    @overload
    def __new__(cls, client: object, **kwargs: Any) -> RedisThrottleStore: ...
    def __new__(cls, client: Any, **kwargs: Any) -> RedisThrottleStore:
        if cls is RedisThrottleStore:
            cls = _AsyncRedisThrottleStore if is_async_client(client) else _SyncRedisThrottleStore
        return super().__new__(cls)

    def _hit(self, key: str, window: float, now: float, amount: int) -> Call[tuple[int, float]]:
        # reset_at is computed here, in the caller's clock, and comes back exactly as sent.
        args = [
            repr(float(now)),
            int(amount),
            repr(float(now + window)),
            ttl_ms(now + window, now),
        ]
        return self._script(
            "hit",
            [f"{self.prefix}throttle:{key}"],
            args,
            lambda reply: (int(reply[0]), float(text(reply[1]))),
        )

    def _take(self, key: str, now: float, at_most: int | None) -> Call[int]:
        args = [repr(float(now)), "" if at_most is None else int(at_most)]
        return self._script("take", [f"{self.prefix}throttle:{key}"], args, int)


class _SyncRedisThrottleStore(Sync, RedisThrottleStore):
    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        return self._do(self._hit(key, window, now, amount))

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        return self._do(self._take(key, now, at_most))


class _AsyncRedisThrottleStore(Async, RedisThrottleStore):
    async def ahit(
        self, key: str, *, window: float, now: float, amount: int = 1
    ) -> tuple[int, float]:
        return await self._do(self._hit(key, window, now, amount))

    async def atake(self, key: str, *, now: float, at_most: int | None = None) -> int:
        return await self._do(self._take(key, now, at_most))
