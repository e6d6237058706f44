"""Sessions and refresh tokens on SQLAlchemy: one row per family (see ``.schema``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, overload

from ..protocols import Outcome, Rotation, Session
from ..state import FamilyState, Step, rotation
from .engine import EngineLike, build, sa
from .schema import Store

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["AsyncRefreshStore", "SQLAlchemyRefreshStore", "SyncRefreshStore"]


class BaseRefreshStore(Store):
    """Sessions in ``{prefix}session``: one row per family, however often it is refreshed."""

    _name = "session"

    def _add(self, conn: Any, token_hash: str, s: Session, expires_at: float, now: float) -> None:
        t = self.table
        conn.execute(
            sa.insert(t).values(
                family=s.family,
                tbl=s.table,
                subject=s.subject,
                created_at=s.created_at,
                head=token_hash,
                rotated_at=now,
                expires_at=expires_at,
                generation=0,
            )
        )

    def _rotate(
        self,
        conn: Any,
        family: str,
        token_hash: str,
        child: str,
        now: float,
        exp: float,
        grace: float,
    ) -> Rotation:
        t = self.table
        # Lock the family's row first: racing rotations of one family run one after another.
        conn.execute(sa.update(t).where(t.c.family == family).values(generation=t.c.generation))
        row = conn.execute(sa.select(t).where(t.c.family == family)).mappings().first()
        if row is None:
            return Rotation(Outcome.INVALID)
        state = FamilyState(
            row["head"],
            row["prev"],
            row["rotated_at"],
            row["expires_at"],
            row["revoked_at"] is not None,
        )
        outcome, step = rotation(
            state, token_hash=token_hash, child_hash=child, now=now, grace=grace
        )
        if outcome is Outcome.INVALID:
            return Rotation(outcome)
        head, gen = row["head"], int(row["generation"])
        if step is Step.ADVANCE:
            conn.execute(
                sa.update(t)
                .where(t.c.family == family)
                .values(
                    # Values, not column references: MySQL applies SET left to right, so
                    # "prev = head" after "head = ..." would read the new head.
                    prev=row["head"],
                    head=child,
                    rotated_at=now,
                    expires_at=exp,
                    generation=gen + 1,
                )
            )
            head, gen = child, gen + 1
        elif step is Step.REVOKE:
            conn.execute(sa.update(t).where(t.c.family == family).values(revoked_at=now))
        session = Session(family, row["tbl"], row["subject"], float(row["created_at"]))
        return Rotation(outcome, session, head, gen)

    def _revoke(self, conn: Any, family: str, token_hash: str) -> Session | None:
        t = self.table
        mine = (t.c.family == family) & ((t.c.head == token_hash) | (t.c.prev == token_hash))
        row = conn.execute(sa.select(t.c.tbl, t.c.subject, t.c.created_at).where(mine)).first()
        if row is None:
            return None
        conn.execute(
            sa.update(t)
            .where(mine)
            .values(revoked_at=sa.func.coalesce(t.c.revoked_at, time.time()))
        )
        return Session(family, row[0], row[1], float(row[2]))

    def _revoke_where(self, conn: Any, where: Any) -> None:
        t = self.table
        conn.execute(
            sa.update(t).where(where, t.c.revoked_at.is_(None)).values(revoked_at=time.time())
        )

    def _subject(self, table: str, subject: str, keep: str | None) -> Any:
        t = self.table
        where = (t.c.tbl == table) & (t.c.subject == subject)
        return where if keep is None else where & (t.c.family != keep)

    def _session(self, conn: Any, family: str) -> Session | None:
        t = self.table
        row = conn.execute(
            sa.select(t.c.tbl, t.c.subject, t.c.created_at).where(
                t.c.family == family, t.c.revoked_at.is_(None)
            )
        ).first()
        return None if row is None else Session(family, row[0], row[1], float(row[2]))

    def _unspent(self, conn: Any, family: str, now: float) -> int:
        t = self.table
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    t.c.family == family, t.c.revoked_at.is_(None), t.c.expires_at > now
                )
            ).scalar_one()
        )


class SyncRefreshStore(BaseRefreshStore):
    """``BaseRefreshStore`` on a sync ``Engine``."""

    def add(self, token_hash: str, session: Session, *, expires_at: float, now: float) -> None:
        self._sql(self._add, token_hash, session, expires_at, now)
        self._prune(self.table.c.expires_at <= now)

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
        result: Rotation = self._sql(
            self._rotate, family, token_hash, child_hash, now, expires_at, grace
        )
        return result

    def revoke(self, family: str, token_hash: str) -> Session | None:
        result: Session | None = self._sql(self._revoke, family, token_hash)
        return result

    def revoke_family(self, family: str) -> None:
        self._sql(self._revoke_where, self.table.c.family == family)

    def revoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        self._sql(self._revoke_where, self._subject(table, subject, keep))

    def session(self, family: str) -> Session | None:
        result: Session | None = self._sql(self._session, family)
        return result

    def unspent(self, family: str, *, now: float) -> int:
        """How many live, unspent tokens ``family`` has: its head, or none (for tests)."""
        result: int = self._sql(self._unspent, family, now)
        return result


class AsyncRefreshStore(BaseRefreshStore):
    """``BaseRefreshStore`` on an ``AsyncEngine``."""

    is_async = True

    async def aadd(
        self, token_hash: str, session: Session, *, expires_at: float, now: float
    ) -> None:
        await self._asql(self._add, token_hash, session, expires_at, now)
        await self._aprune(self.table.c.expires_at <= now)

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
        result: Rotation = await self._asql(
            self._rotate, family, token_hash, child_hash, now, expires_at, grace
        )
        return result

    async def arevoke(self, family: str, token_hash: str) -> Session | None:
        result: Session | None = await self._asql(self._revoke, family, token_hash)
        return result

    async def arevoke_family(self, family: str) -> None:
        await self._asql(self._revoke_where, self.table.c.family == family)

    async def arevoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        await self._asql(self._revoke_where, self._subject(table, subject, keep))

    async def asession(self, family: str) -> Session | None:
        result: Session | None = await self._asql(self._session, family)
        return result

    async def aunspent(self, family: str, *, now: float) -> int:
        result: int = await self._asql(self._unspent, family, now)
        return result


@overload
def SQLAlchemyRefreshStore(engine: sa.Engine, **kwargs: Any) -> SyncRefreshStore: ...
@overload
def SQLAlchemyRefreshStore(engine: AsyncEngine, **kwargs: Any) -> AsyncRefreshStore: ...
@overload
def SQLAlchemyRefreshStore(
    engine: str | sa.URL, **kwargs: Any
) -> SyncRefreshStore | AsyncRefreshStore: ...


def SQLAlchemyRefreshStore(
    engine: EngineLike, **kwargs: Any
) -> SyncRefreshStore | AsyncRefreshStore:
    """Sessions and refresh tokens on SQLAlchemy: a sync ``Engine`` gives the blocking methods, an
    ``AsyncEngine`` the coroutines (a URL: its driver decides; its engine gets ``timeout``).
    Keywords: ``prefix`` (of the table names, ``"jwe_gate_"``), ``timeout`` (seconds)."""
    return build((SyncRefreshStore, AsyncRefreshStore), engine, **kwargs)
