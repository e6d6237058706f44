"""§Scaling out: two demo processes on two ports sharing one database and one Redis behave as
one service -- run as a user runs them, over HTTP."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
from support import databases
from support.redisdb import URL, require_redis
from test_demo import PASSWORD, Demo, bearer, signup, start_demo, unique_email

from jwe_gate import KeyRing


@dataclass
class Pair:
    """Two demos sharing one database, one key set and one Redis key prefix."""

    one: httpx.Client
    two: httpx.Client
    prefix: str


def _drop_tables(url: str, prefix: str) -> None:
    """Remove the tables a test's demos made (their names start with ``prefix``)."""
    engine = sa.create_engine(url)
    try:
        names = [n for n in sa.inspect(engine).get_table_names() if n.startswith(prefix)]
        metadata = sa.MetaData()
        metadata.reflect(engine, only=names)
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        pytest.param(None, id="sqlite"),
        pytest.param(databases.PG, id="postgresql"),
        pytest.param(databases.MARIA, id="mariadb"),
    ]
)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """An ASGI and a WSGI demo on one database (a SQLite file, PostgreSQL or MariaDB, with
    tables of their own) and one Redis, with HTTP clients."""
    require_redis()
    url: str | None = request.param
    if url is not None:
        databases.require_server(url)
    prefix = f"jwe_gate_test:{secrets.token_hex(6)}:"
    tables = databases.prefix()
    keys = tmp_path / "keys.json"
    keys.write_text(KeyRing.generate().to_json())
    db = ("--db", url, "--db-prefix", tables) if url else ("--db", str(tmp_path / "shared.db"))
    common = (*db, "--keys", str(keys), "--redis", URL, "--redis-prefix", prefix)
    demos: list[Demo] = []
    try:
        demos.append(start_demo(tmp_path, *common))
        demos.append(start_demo(tmp_path, *common, "--wsgi"))
        with demos[0].client() as one, demos[1].client() as two:
            yield Pair(one, two, prefix)
    finally:
        for demo in demos:
            demo.stop()
        client = redis.Redis.from_url(URL)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()
        if url is not None:
            _drop_tables(url, tables)


def _ends_within_a_second(client: httpx.Client, tokens: dict[str, str]) -> None:
    ended = time.monotonic()
    while True:
        # When the request started counts: one started a second after the end is refused.
        started = time.monotonic()
        if client.get("/auth/me", headers=bearer(tokens)).status_code != 200:
            break
        assert started - ended < 1.0, "still accepted a second later"
        time.sleep(0.05)


def test_two_processes_behave_as_one_service(pair: Pair) -> None:
    """Signup on one, login on the other; a refresh token spent on one is spent on the other
    (its reuse ends the session everywhere); a logout on one ends the access token on the other
    within a second."""
    email = unique_email("scale")
    first = signup(pair.one, email)
    login = pair.two.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert pair.two.get("/auth/me", headers=bearer(first)).status_code == 200
    child = pair.one.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert child.status_code == 200
    # Within the grace window the other process answers the same child: it sees the rotation.
    same = pair.two.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert same.json()["refreshToken"] == child.json()["refreshToken"]
    grandchild = pair.two.post("/auth/refresh", json={"refreshToken": child.json()["refreshToken"]})
    assert grandchild.status_code == 200
    # The first token, spent on one process and older than the parent now: presented there
    # again it is a reuse, and it ends the session the other process advanced.
    reused = pair.one.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reused.status_code == 401
    ended = pair.two.post("/auth/refresh", json={"refreshToken": grandchild.json()["refreshToken"]})
    assert ended.status_code == 401
    session = login.json()
    assert pair.one.get("/auth/me", headers=bearer(session)).status_code == 200  # remembered
    assert pair.two.post("/auth/logout", headers=bearer(session)).status_code == 204
    _ends_within_a_second(pair.one, session)


def test_the_throttle_counts_across_processes(pair: Pair) -> None:
    """Wrong passwords sent alternately to the two processes count together: the next one is
    refused (429) wherever it lands."""
    email = unique_email("throttle")
    signup(pair.one, email)
    statuses = []
    for i in range(10):
        client = pair.one if i % 2 == 0 else pair.two
        res = client.post("/auth/login", json={"email": email, "password": f"wrong {i} pass"})
        statuses.append(res.status_code)
    assert statuses == [403] * 10
    for client in (pair.one, pair.two):
        res = client.post("/auth/login", json={"email": email, "password": "wrong again 1"})
        assert res.status_code == 429
        assert int(res.headers["retry-after"]) > 0


def test_revoke_from_the_command_line_reaches_both(pair: Pair) -> None:
    """``jwe-gate revoke --redis`` ends a record's sessions on both processes within a second."""
    tokens = signup(pair.one, unique_email("revoke"))
    me = pair.two.get("/auth/me", headers=bearer(tokens))
    assert me.status_code == 200
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jwe_gate",
            "revoke",
            "--table",
            "user",
            "--id",
            str(me.json()["id"]),
            "--redis",
            URL,
            "--redis-prefix",
            pair.prefix,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for client in (pair.one, pair.two):
        _ends_within_a_second(client, tokens)
    refreshed = pair.two.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 401
