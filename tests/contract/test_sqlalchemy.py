"""SPEC §Storage: the public contract suites (``jwe_gate.testing``) over the SQLAlchemy backend
and the three SQLAlchemy stores, on SQLite, PostgreSQL and MariaDB, sync and async drivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.databases import (
    MARIA,
    MARIA_ASYNC,
    PG,
    PG_ASYNC,
    dispose,
    drop,
    make_engine,
    prefix,
    sync_url,
)

from jwe_gate import (
    SQLAlchemyBackend,
    SQLAlchemyOneTimeStore,
    SQLAlchemyRefreshStore,
    SQLAlchemyThrottleStore,
)
from jwe_gate._storage.sqlalchemy.stores import SyncThrottleStore
from jwe_gate.testing import (
    BackendContract,
    OneTimeStoreContract,
    RefreshStoreContract,
    ThrottleStoreContract,
)

TARGETS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(PG, id="postgres-psycopg"),
    pytest.param(PG_ASYNC, id="postgres-asyncpg"),
    pytest.param(MARIA, id="mariadb-pymysql"),
    pytest.param(MARIA_ASYNC, id="mariadb-aiomysql"),
]


@pytest.fixture(scope="module", params=TARGETS)
def engines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, sa.Engine]]:
    """(the engine under test, a sync engine on the same database to drop tables), reused by
    the module's tests."""
    url: str = request.param
    if url == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqla') / 'contract.db'}"
    engine = make_engine(url)
    cleaner = engine if isinstance(engine, sa.Engine) else sa.create_engine(sync_url(url))
    yield engine, cleaner
    cleaner.dispose()
    dispose(engine)


def _cleanup(cleaner: sa.Engine, *metadatas: sa.MetaData) -> None:
    for md in metadatas:
        drop(cleaner, md)


class TestSQLAlchemyBackendContract(BackendContract):
    """The backend contract over a table the backend creates, on every database and driver."""

    @pytest.fixture
    def backend(self, engines: tuple[Any, sa.Engine]) -> Iterator[Any]:
        engine, cleaner = engines
        backend = SQLAlchemyBackend(engine, prefix=prefix())
        yield backend
        _cleanup(cleaner, backend.metadata)


class TestSQLAlchemyRefreshStoreContract(RefreshStoreContract):
    """The refresh-store contract on every database and driver."""

    @pytest.fixture
    def refresh_store(self, engines: tuple[Any, sa.Engine]) -> Iterator[Any]:
        engine, cleaner = engines
        store = SQLAlchemyRefreshStore(engine, prefix=prefix())
        yield store
        _cleanup(cleaner, store.metadata)


class TestSQLAlchemyThrottleStoreContract(ThrottleStoreContract):
    """The throttle-store contract on every database and driver."""

    @pytest.fixture
    def throttle_store(self, engines: tuple[Any, sa.Engine]) -> Iterator[Any]:
        engine, cleaner = engines
        store = SQLAlchemyThrottleStore(engine, prefix=prefix())
        yield store
        _cleanup(cleaner, store.metadata)


class TestSQLAlchemyOneTimeStoreContract(OneTimeStoreContract):
    """The one-time-store contract on every database and driver."""

    @pytest.fixture
    def once_store(self, engines: tuple[Any, sa.Engine]) -> Iterator[Any]:
        engine, cleaner = engines
        store = SQLAlchemyOneTimeStore(engine, prefix=prefix())
        yield store
        _cleanup(cleaner, store.metadata)


def test_sqlite_file_is_shared(tmp_path: Path) -> None:
    """Two store objects on one SQLite file (two engines) see one state."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = SQLAlchemyThrottleStore(url), SQLAlchemyThrottleStore(url)
    assert isinstance(first, SyncThrottleStore)  # a sync driver's URL: the sync side
    assert isinstance(second, SyncThrottleStore)
    first.hit("k", window=60, now=1.0)
    assert second.hit("k", window=60, now=2.0) == (2, 61.0)
    first.close()
    second.close()
