"""Per-request cost of an authenticated request by storage, and the store round trips it makes:
the bare app, the SQLite default, and a PostgreSQL user table with Redis sessions, each with
the gate's memory of recently allowed requests on (``recheck_after=1``, the default: a token
seen within the last second costs no round trip) and off (``recheck_after=0``: the record and
the session are read on every request). In process (the ASGI app called directly, one event
loop), median of 5 rounds, one run.

    python benchmarks/bench_storage.py [--requests 3000] [--quick]

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
import redis.asyncio
import sqlalchemy as sa
from _common import bare_app
from argon2.profiles import CHEAPEST
from sqlalchemy.ext.asyncio import create_async_engine

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


def gate_on(table: Table, stores: Stores, recheck_after: float) -> Gate:
    return Gate(
        keys=KeyRing.generate(),
        tables=[table],
        rules=[Rule("/health", "public")],
        hasher=Hasher(CHEAPEST),
        stores=stores,
        auth_routes={"/auth": "user"},
        recheck_after=recheck_after,
    )


class Trips:
    """Counts round trips: SQL statements an engine runs, commands a Redis client sends."""

    def __init__(self) -> None:
        self.count = 0

    def sql(self, *_: Any) -> None:
        self.count += 1

    def redis(self, client: redis.asyncio.Redis) -> redis.asyncio.Redis:
        send = client.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            self.count += 1
            return await send(*args, **options)

        client.execute_command = counted  # type: ignore[method-assign]
        return client


Row = tuple[str, float, float | None]
"""(variant, µs per request, round trips per request or None for a local store)"""


async def sqlite_row(n: int, recheck_after: float, label: str) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        gate = gate_on(Table("user", SQLiteBackend(db)), Stores.sqlite(db), recheck_after)
        try:
            us = await timed(gate.asgi(bare_app()), await session_token(gate), n)
        finally:
            gate.close()
    return (f"SQLite table and stores, {label}", us, None)


async def remote_row(n: int, recheck_after: float, label: str) -> Row:
    prefix = f"bench_{secrets.token_hex(4)}_"
    trips = Trips()
    engine = create_async_engine(PG)
    sa.event.listen(engine.sync_engine, "before_cursor_execute", trips.sql)
    client = trips.redis(redis.asyncio.Redis.from_url(REDIS))
    backend: Any = SQLAlchemyBackend(engine, prefix=prefix)
    gate = gate_on(
        Table("user", backend),
        redis_stores(client, prefix=prefix.replace("_", ":")),
        recheck_after,
    )
    try:
        app, token = gate.asgi(bare_app()), await session_token(gate)
        us = await timed(app, token, n)
        trips.count = 0
        await asyncio.sleep(1.0)  # past the second: the count covers the memory's re-reads
        for _ in range(n):
            await app(scope(token), _receive, _send)
        trips_per = trips.count / n
    finally:
        await gate.aclose()
        await client.aclose()
        await engine.dispose()
    return (f"PostgreSQL table, Redis, {label}", us, trips_per)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        raise RuntimeError(f"status {message['status']}")


async def main(n: int) -> list[Row]:
    rows: list[Row] = [("bare Starlette", await timed(bare_app(), None, n), None)]
    for recheck_after, label in ((1.0, "seen <1 s ago"), (0.0, "recheck_after=0")):
        rows.append(await sqlite_row(n, recheck_after, label))
        rows.append(await remote_row(n, recheck_after, label))
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
    parser.add_argument("--quick", action="store_true", help="300 requests per round")
    args = parser.parse_args()
    try:
        result = asyncio.run(main(300 if args.quick else args.requests))
    finally:
        cleanup()
    base = result[0][1]
    print("Authenticated request by storage (in process; the token from a login, so the")
    print("session is checked; round trips counted over a run that crosses a second)")
    print(f"{'variant':<46}{'µs/req':>9}{'x bare':>8}{'trips/req':>11}")
    for name, us, trips in result:
        shown = "local" if trips is None and name != "bare Starlette" else ""
        shown = f"{trips:.3f}" if trips is not None else shown
        print(f"{name:<46}{us:>9.1f}{us / base:>8.2f}{shown:>11}")
