"""What the SQLAlchemy stores share (PostgreSQL, MySQL/MariaDB, SQLite): their tables and base.

Every operation is one transaction that locks what it changes first (an upsert or a no-op
``UPDATE``: the row lock of ``SELECT ... FOR UPDATE``, which SQLite lacks, on every dialect), or
one conditional statement; the state transitions are ``jwe_gate._storage.state``'s. A sync
engine gives the blocking methods, an async engine the coroutines.
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any, ClassVar

from ...exceptions import BackendError, ConfigurationError
from .engine import EngineLike, Runner, prune_keys, sa

__all__ = ["KEY_MAX", "Store", "store_metadata"]

_PRUNE = 4
"""Expired rows one write deletes at most: bounded work per call, and the tables stay bounded
by what is live."""

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}|")

_CREATING = threading.Lock()

_SIDE = {False: "a sync Engine", True: "an AsyncEngine"}

KEY_MAX = 191
"""Longer throttle keys are stored as their SHA-256 (a MySQL index key stays small)."""


def store_metadata(prefix: str = "jwe_gate_", metadata: sa.MetaData | None = None) -> sa.MetaData:
    """The three stores' tables (``{prefix}session``, ``{prefix}throttle``, ``{prefix}once``)
    in ``metadata`` (a new one by default), for ``create_all`` and Alembic."""
    md = metadata if metadata is not None else sa.MetaData()
    if prefix + "session" in md.tables:
        return md
    text = sa.String(191)
    sa.Table(
        prefix + "session",
        md,
        sa.Column("family", text, primary_key=True),
        sa.Column("tbl", sa.String(64), nullable=False),
        sa.Column("subject", text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
        sa.Column("head", sa.String(128), nullable=False),
        sa.Column("prev", sa.String(128)),
        sa.Column("rotated_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False, default=0),
        sa.Index(f"{prefix}session_subject", "tbl", "subject"),
        sa.Index(f"{prefix}session_expires", "expires_at"),
    )
    sa.Table(
        prefix + "throttle",
        md,
        sa.Column("key", text, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("reset_at", sa.Double, nullable=False),
        sa.Index(f"{prefix}throttle_reset", "reset_at"),
    )
    sa.Table(
        prefix + "once",
        md,
        sa.Column("token_hash", sa.String(128), primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("tbl", sa.String(64), nullable=False),
        sa.Column("subject", text, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.UniqueConstraint("purpose", "tbl", "subject", name=f"{prefix}once_record"),
        sa.Index(f"{prefix}once_expires", "expires_at"),
    )
    return md


class Store:
    """An engine, the stores' tables, and the two ways of running the work on them."""

    inline: ClassVar[bool] = False  # a network round trip: never on the event loop
    _name: ClassVar[str]
    _runner: Runner

    is_async: ClassVar[bool] = False
    """Which side the class offers: the engine given must be of that side."""

    def __init__(
        self, engine: EngineLike, *, prefix: str = "jwe_gate_", timeout: float = 10.0
    ) -> None:
        self._runner = Runner(engine, timeout=timeout)
        if self._runner.is_async != self.is_async:  # each class offers one side, natively
            raise ConfigurationError(f"{type(self).__name__} needs {_SIDE[self.is_async]}")
        if not _PREFIX.fullmatch(prefix):  # spliced into table names: a plain identifier only
            raise ConfigurationError(f"prefix {prefix!r} is not a valid identifier prefix")
        self.metadata = store_metadata(prefix)
        """The stores' tables, for ``create_all`` and Alembic autogenerate."""
        self.table = self.metadata.tables[prefix + self._name]
        self._created = False

    def _sql(self, work: Any, *args: Any) -> Any:
        if not self._created:
            self.create_all()
        return self._runner.run(work, *args)

    async def _asql(self, work: Any, *args: Any) -> Any:
        if not self._created:
            await self.acreate_all()
        return await self._runner.arun(work, *args)

    def _create_work(self, conn: Any) -> None:
        self.metadata.create_all(conn, checkfirst=True)

    def create_all(self) -> None:
        """Create the stores' tables where missing (also done on first use)."""
        with _CREATING:
            for attempt in range(3):  # another process may be creating them at the same time
                try:
                    self._runner.run(self._create_work)
                    break
                except BackendError:
                    if attempt == 2:
                        raise
        self._created = True

    async def acreate_all(self) -> None:
        """Create the stores' tables where missing (also done on first use)."""
        for attempt in range(3):  # another task or process may be creating them too
            try:
                await self._runner.arun(self._create_work)
                break
            except BackendError:
                if attempt == 2:
                    raise
        self._created = True

    def _prune_work(self, conn: Any, ended: Any) -> None:
        prune_keys(conn, self.table, self.table.primary_key.columns[0], ended, _PRUNE)

    def _prune(self, ended: Any) -> None:
        # A prune that lost a lock race is skipped: the next write prunes again.
        with contextlib.suppress(BackendError):
            self._sql(self._prune_work, ended)

    async def _aprune(self, ended: Any) -> None:
        # A prune that lost a lock race is skipped: the next write prunes again.
        with contextlib.suppress(BackendError):
            await self._asql(self._prune_work, ended)

    def close(self) -> None:
        """Dispose of the engine's pool if the store made the engine."""
        self._runner.dispose()

    async def aclose(self) -> None:
        await self._runner.adispose()
