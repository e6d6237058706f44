"""The Redis one-time token store: one hash per token, one per record (purpose -> token)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, overload

from .client import Async, Call, RedisStore, Sync, is_async_client, record_key, text, ttl_ms
from .lua import ONCE_DROP, ONCE_PUT, ONCE_TAKE

if TYPE_CHECKING:  # the types only: redis-py is imported when a store is made
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

__all__ = ["RedisOneTimeStore"]


class RedisOneTimeStore(RedisStore):
    """One-time tokens in Redis: a hash per token (``<prefix>once:<hash>``: purpose, table,
    subject, expiry) and a hash per record (``<prefix>once-of:<table>:<id>``: purpose -> its
    one live token), each expiring with what it holds.

    ``RedisOneTimeStore(client)`` is a sync store for a ``redis.Redis`` and an async one for a
    ``redis.asyncio.Redis``."""

    _scripts: ClassVar[dict[str, str]] = {
        "put": ONCE_PUT,
        "take": ONCE_TAKE,
        "drop": ONCE_DROP,
    }

    @overload
    def __new__(cls, client: Redis, **kwargs: Any) -> _SyncRedisOneTimeStore: ...
    @overload
    def __new__(cls, client: AsyncRedis, **kwargs: Any) -> _AsyncRedisOneTimeStore: ...
    @overload
    def __new__(cls, client: object, **kwargs: Any) -> RedisOneTimeStore: ...
    def __new__(cls, client: Any, **kwargs: Any) -> RedisOneTimeStore:
        if cls is RedisOneTimeStore:
            cls = _AsyncRedisOneTimeStore if is_async_client(client) else _SyncRedisOneTimeStore
        return super().__new__(cls)

    def _token(self, token_hash: str) -> str:
        return f"{self.prefix}once:{token_hash}"

    def _of(self, table: str, subject: str) -> str:
        return f"{self.prefix}once-of:{record_key(table, subject)}"

    def _put(
        self,
        token_hash: str,
        purpose: str,
        table: str,
        subject: str,
        expires_at: float,
        now: float,
    ) -> Call[None]:
        args = [
            token_hash,
            purpose,
            table,
            subject,
            repr(float(expires_at)),
            ttl_ms(expires_at, now),
            self._token(""),
        ]
        keys = [self._token(token_hash), self._of(table, subject)]
        return self._script("put", keys, args, lambda _: None)

    def _take(self, token_hash: str, purpose: str, table: str, now: float) -> Call[str | None]:
        args = [purpose, table, repr(float(now)), token_hash]
        return self._script(
            "take",
            [self._token(token_hash)],
            args,
            lambda reply: None if reply is None else text(reply),
        )

    def _drop(self, table: str, subject: str, purpose: str | None) -> Call[None]:
        args = [self._token(""), "0" if purpose is None else "1", purpose or ""]
        return self._script("drop", [self._of(table, subject)], args, lambda _: None)


class _SyncRedisOneTimeStore(Sync, RedisOneTimeStore):
    def put(
        self,
        token_hash: str,
        *,
        purpose: str,
        table: str,
        subject: str,
        expires_at: float,
        now: float,
    ) -> None:
        self._do(self._put(token_hash, purpose, table, subject, expires_at, now))

    def take(self, token_hash: str, *, purpose: str, table: str, now: float) -> str | None:
        return self._do(self._take(token_hash, purpose, table, now))

    def drop(self, table: str, subject: str, *, purpose: str | None = None) -> None:
        self._do(self._drop(table, subject, purpose))


class _AsyncRedisOneTimeStore(Async, RedisOneTimeStore):
    async def aput(
        self,
        token_hash: str,
        *,
        purpose: str,
        table: str,
        subject: str,
        expires_at: float,
        now: float,
    ) -> None:
        await self._do(self._put(token_hash, purpose, table, subject, expires_at, now))

    async def atake(self, token_hash: str, *, purpose: str, table: str, now: float) -> str | None:
        return await self._do(self._take(token_hash, purpose, table, now))

    async def adrop(self, table: str, subject: str, *, purpose: str | None = None) -> None:
        await self._do(self._drop(table, subject, purpose))
