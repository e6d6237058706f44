"""Per-request cost of an authenticated request by storage: the bare app, the SQLite default,
and a PostgreSQL user table with Redis sessions, in one run (in process: the ASGI app called
directly, one event loop, median of 5 rounds).

    python benchmarks/bench_storage.py [--requests 3000]

Needs PostgreSQL on 127.0.0.1:5432 (database ``test``) and Redis on 127.0.0.1:6379; the
tables and keys it makes carry a random prefix and are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from _common import bare_app
from argon2.profiles import CHEAPEST

from jwe_gate import (
    Gate,
    HandlerRequest,
    Hasher,
    KeyRing,
    RequestView,
    Rule,
    SQLAlchemyBackend,
    SQLiteBackend,
    Stores,
    Table,
    redis_stores,
)

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


def scope(token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/hello",
        "raw_path": b"/api/hello",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("bench", 80),
        "client": ("127.0.0.1", 1),
    }


async def timed(app: Any, token: str | None, n: int) -> float:
    """Median µs per request over 5 rounds of n (after one warm-up round)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    rounds = []
    for _ in range(6):
        t0 = time.perf_counter()
        for _ in range(n):
            await app(scope(token), receive, send)
        rounds.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(rounds[1:])


async def session_token(gate: Gate) -> str:
    body = json.dumps({"email": "ann@example.com", "name": "Ann", "password": "s3cret-pass"})
    answer = await gate.auth_service("user").ahandle(
        "signup", HandlerRequest(RequestView("POST", "/auth/signup"), body.encode())
    )
    return str(json.loads(answer.body)["authToken"])


def gate_on(table: Table, stores: Stores) -> Gate:
    return Gate(
        keys=KeyRing.generate(),
        tables=[table],
        rules=[Rule("/health", "public")],
        hasher=Hasher(CHEAPEST),
        stores=stores,
        auth_routes={"/auth": "user"},
    )


async def main(n: int) -> list[tuple[str, float]]:
    rows = [("bare Starlette", await timed(bare_app(), None, n))]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        sqlite = gate_on(Table("user", SQLiteBackend(db)), Stores.sqlite(db))
        rows.append(
            (
                "SQLite table and stores",
                await timed(sqlite.asgi(bare_app()), await session_token(sqlite), n),
            )
        )
        sqlite.close()
    prefix = f"bench_{secrets.token_hex(4)}_"
    backend: Any = SQLAlchemyBackend(PG, prefix=prefix)
    remote = gate_on(
        Table("user", backend),
        redis_stores(url=REDIS, prefix=prefix.replace("_", ":"), asyncio=True),
    )
    try:
        rows.append(
            (
                "PostgreSQL table, Redis",
                await timed(remote.asgi(bare_app()), await session_token(remote), n),
            )
        )
    finally:
        await remote.aclose()
    return rows


def cleanup(prefix_sql: str = "bench_", prefix_redis: str = "bench:") -> None:
    engine = sa.create_engine(PG.replace("+asyncpg", "+psycopg"))
    names = [t for t in sa.inspect(engine).get_table_names() if t.startswith(prefix_sql)]
    meta = sa.MetaData()
    meta.reflect(engine, only=names)
    meta.drop_all(engine)
    engine.dispose()
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(match=prefix_redis + "*"):
        client.delete(key)
    client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    try:
        result = asyncio.run(main(args.requests))
    finally:
        cleanup()
    base = result[0][1]
    print(f"{'storage':<28}{'µs/req':>10}{'x bare':>9}")
    for name, us in result:
        print(f"{name:<28}{us:>10.1f}{us / base:>9.2f}")
