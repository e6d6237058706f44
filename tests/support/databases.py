"""The real database servers the SQLAlchemy tests run against, and a per-test name prefix.

PostgreSQL (127.0.0.1:5432, user postgres, database test) and MariaDB (127.0.0.1:3306, root,
database test) run on every developer machine and in CI; under CI a missing one is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

IN_CI = os.environ.get("CI", "").lower() == "true"

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_ASYNC = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MARIA = "mysql+pymysql://root@127.0.0.1:3306/test"
MARIA_ASYNC = "mysql+aiomysql://root@127.0.0.1:3306/test"

SERVERS = {"postgresql": ("127.0.0.1", 5432), "mysql": ("127.0.0.1", 3306)}


def require_server(url: str) -> None:
    """Fail (in CI) or skip (outside CI only) when the URL's server does not answer."""
    backend = sa.make_url(url).get_backend_name()
    if backend not in SERVERS:
        return
    try:
        socket.create_connection(SERVERS[backend], timeout=2).close()
    except OSError:
        reason = f"{backend} is not running on {SERVERS[backend]}"
        if IN_CI:
            pytest.fail(reason)  # CI must prove every database: nothing missing is skipped
        pytest.skip(reason)  # outside CI only: a machine missing one server runs the rest


def prefix() -> str:
    """A fresh table-name prefix: each test has its own tables."""
    return f"t{uuid.uuid4().hex[:10]}_"


def make_engine(url: str) -> Any:
    """A sync Engine or, for an async driver, an AsyncEngine without a pool (the contract
    suites drive it from the gate's background loop and from asyncio.run's loops alike, and a
    pooled connection belongs to the loop that made it)."""
    require_server(url)
    if sa.make_url(url).get_dialect().is_async:
        return create_async_engine(url, poolclass=NullPool)
    return sa.create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)


def sync_url(url: str) -> str:
    """The same database through its sync driver (to create and drop tables)."""
    return (
        url.replace("+asyncpg", "+psycopg")
        .replace("+aiomysql", "+pymysql")
        .replace("+aiosqlite", "")
    )


def dispose(engine: Any) -> None:
    """Close an engine's pooled connections (sync or async)."""
    (engine if isinstance(engine, sa.Engine) else engine.sync_engine).dispose()


def drop(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Drop a test's tables."""
    metadata.drop_all(engine, checkfirst=True)
