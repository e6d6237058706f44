"""The Redis refresh store: sessions, one hash per family and one set per record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, overload

from ..protocols import Outcome, Rotation, Session
from .client import Async, Call, RedisStore, Sync, is_async_client, record_key, text, ttl_ms
from .lua import (
    SESSION_ADD,
    SESSION_REVOKE,
    SESSION_REVOKE_FAMILY,
    SESSION_REVOKE_SUBJECT,
    SESSION_ROTATE,
)

if TYPE_CHECKING:  # the types only: redis-py is imported when a store is made
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

__all__ = ["RedisRefreshStore"]


def _rotation(family: str, reply: Any) -> Rotation:
    outcome = Outcome(text(reply[0]))
    if outcome is Outcome.INVALID:
        return Rotation(Outcome.INVALID)
    table, subject, created, head = (text(v) for v in reply[1:5])
    return Rotation(outcome, Session(family, table, subject, float(created)), head, int(reply[5]))


class RedisRefreshStore(RedisStore):
    """Sessions in Redis: a hash per family (``<prefix>session:<family>``: its session, head,
    parent, when the head was made and expires, generation, revoked) that expires with its head,
    and a set per record (``<prefix>sessions-of:<table>:<id>``) for ``revoke_subject``.

    ``RedisRefreshStore(client)`` is a sync store for a ``redis.Redis`` and an async one for a
    ``redis.asyncio.Redis``."""

    _scripts: ClassVar[dict[str, str]] = {
        "add": SESSION_ADD,
        "rotate": SESSION_ROTATE,
        "revoke": SESSION_REVOKE,
        "revoke_family": SESSION_REVOKE_FAMILY,
        "revoke_subject": SESSION_REVOKE_SUBJECT,
    }

    @overload
    def __new__(cls, client: Redis, **kwargs: Any) -> _SyncRedisRefreshStore: ...
    @overload
    def __new__(cls, client: AsyncRedis, **kwargs: Any) -> _AsyncRedisRefreshStore: ...
    @overload
    def __new__(cls, client: object, **kwargs: Any) -> RedisRefreshStore: ...
    def __new__(cls, client: Any, **kwargs: Any) -> RedisRefreshStore:
        if cls is RedisRefreshStore:
            cls = _AsyncRedisRefreshStore if is_async_client(client) else _SyncRedisRefreshStore
        return super().__new__(cls)

    def _family(self, family: str) -> str:
        return f"{self.prefix}session:{family}"

    def _add(self, token_hash: str, session: Session, expires_at: float, now: float) -> Call[None]:
        of = f"{self.prefix}sessions-of:{record_key(session.table, session.subject)}"
        args = [
            token_hash,
            session.table,
            session.subject,
            repr(float(session.created_at)),
            repr(float(now)),
            repr(float(expires_at)),
            ttl_ms(expires_at, now),
            self._family(""),
            session.family,
        ]
        return self._script("add", [self._family(session.family), of], args, lambda _: None)

    def _rotate(
        self,
        family: str,
        token_hash: str,
        child_hash: str,
        now: float,
        expires_at: float,
        grace: float,
    ) -> Call[Rotation]:
        args = [
            token_hash,
            child_hash,
            repr(float(now)),
            repr(float(expires_at)),
            repr(float(grace)),
            ttl_ms(expires_at, now),
        ]
        return self._script(
            "rotate", [self._family(family)], args, lambda reply: _rotation(family, reply)
        )

    def _revoke(self, family: str, token_hash: str) -> Call[Session | None]:
        def read(reply: Any) -> Session | None:
            if not reply:
                return None
            return Session(family, text(reply[0]), text(reply[1]), float(text(reply[2])))

        return self._script("revoke", [self._family(family)], [token_hash], read)

    def _revoke_family(self, family: str) -> Call[None]:
        return self._script("revoke_family", [self._family(family)], [], lambda _: None)

    def _revoke_subject(self, table: str, subject: str, keep: str | None) -> Call[None]:
        of = f"{self.prefix}sessions-of:{record_key(table, subject)}"
        args = [self._family(""), keep or "", "0" if keep is None else "1"]
        return self._script("revoke_subject", [of], args, lambda _: None)

    def _session(self, family: str) -> Call[Session | None]:
        key = self._family(family)

        def read(reply: Any) -> Session | None:
            table, subject, created, revoked = reply
            if table is None or text(revoked) == "1":
                return None
            return Session(family, text(table), text(subject), float(text(created)))

        # One keyed read (HMGET), the per-request check of access tokens.
        return Call(
            lambda: self.client.hmget(key, ["table", "subject", "created_at", "revoked"]), read
        )


class _SyncRedisRefreshStore(Sync, RedisRefreshStore):
    def add(self, token_hash: str, session: Session, *, expires_at: float, now: float) -> None:
        self._do(self._add(token_hash, session, expires_at, now))

    def rotate(
        self,
        family: str,
        token_hash: str,
        child_hash: str,
        *,
        now: float,
        expires_at: float,
        grace: float,
    ) -> Rotation:
        return self._do(self._rotate(family, token_hash, child_hash, now, expires_at, grace))

    def revoke(self, family: str, token_hash: str) -> Session | None:
        return self._do(self._revoke(family, token_hash))

    def revoke_family(self, family: str) -> None:
        self._do(self._revoke_family(family))

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        self._do(self._revoke_subject(table, subject, keep))

    def session(self, family: str) -> Session | None:
        return self._do(self._session(family))


class _AsyncRedisRefreshStore(Async, RedisRefreshStore):
    async def aadd(
        self, token_hash: str, session: Session, *, expires_at: float, now: float
    ) -> None:
        await self._do(self._add(token_hash, session, expires_at, now))

    async def arotate(
        self,
        family: str,
        token_hash: str,
        child_hash: str,
        *,
        now: float,
        expires_at: float,
        grace: float,
    ) -> Rotation:
        return await self._do(self._rotate(family, token_hash, child_hash, now, expires_at, grace))

    async def arevoke(self, family: str, token_hash: str) -> Session | None:
        return await self._do(self._revoke(family, token_hash))

    async def arevoke_family(self, family: str) -> None:
        await self._do(self._revoke_family(family))

    async def arevoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        await self._do(self._revoke_subject(table, subject, keep))

    async def asession(self, family: str) -> Session | None:
        return await self._do(self._session(family))
