"""SPEC §Sessions and §Storage across processes: on PostgreSQL and MariaDB, 50 refreshes of one
token racing from several processes leave one live head, and 50 racing signups of one email
make one record."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from support.databases import MARIA, PG, prefix, require_server
from support.races import NOW, h, rotate_worker, signup_worker

from jwe_gate import Session, SQLAlchemyBackend, SQLAlchemyRefreshStore, Table

PROCESSES = 5
PER_PROCESS = 10  # 5 x 10 = 50 racing calls

SERVERS = [pytest.param(PG, id="postgres"), pytest.param(MARIA, id="mariadb")]


def _race(worker: Callable[..., None], *args: Any) -> list[str]:
    """Run ``worker(*args, barrier, queue)`` in PROCESSES spawned processes; their results."""
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(*args, barrier, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [r for _ in procs for r in out.get(timeout=120)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


@pytest.mark.parametrize("url", SERVERS)
@pytest.mark.parametrize(
    ("same_child", "live"),
    [
        pytest.param(True, 1, id="same-child"),
        pytest.param(False, 0, id="different-children"),
    ],
)
def test_racing_refreshes_from_processes_leave_one_head(
    url: str, same_child: bool, live: int
) -> None:
    """50 rotations of one token from 5 processes: exactly one ROTATED. With one child (tabs
    retrying) the rest are GRACE and the family keeps one live head; with different children
    the rest are reuses and the family ends, never forked."""
    require_server(url)
    p = prefix()
    store: Any = SQLAlchemyRefreshStore(url, prefix=p)
    try:
        store.add(h("a"), Session("fam", "user", "1", NOW), expires_at=NOW + 3600, now=NOW)
        outcomes = _race(rotate_worker, url, p, PER_PROCESS, same_child)
        assert len(outcomes) == PROCESSES * PER_PROCESS
        assert outcomes.count("rotated") == 1
        others = {"grace"} if same_child else {"reused", "invalid"}
        assert set(outcomes) - {"rotated"} <= others
        assert store.unspent("fam", now=NOW + 1) == live
    finally:
        store.metadata.drop_all(store._runner.engine)
        store.close()


@pytest.mark.parametrize("url", SERVERS)
def test_racing_signups_from_processes_make_one_record(url: str) -> None:
    """50 creates of one email from 5 processes: one created, 49 duplicates, one row."""
    require_server(url)
    p = prefix()
    backend: Any = SQLAlchemyBackend(url, prefix=p)
    Table("user", backend)
    backend.create_all()
    try:
        outcomes = _race(signup_worker, url, p, PER_PROCESS)
        assert outcomes.count("created") == 1
        assert outcomes.count("duplicate") == PROCESSES * PER_PROCESS - 1
        engine = backend._runner.engine
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(sa.table(p + "user")))
            assert rows.scalar_one() == 1
    finally:
        backend.metadata.drop_all(backend._runner.engine)
        backend.close()
