"""§Sessions and §Scaling out end to end on Redis: ``Gate(stores=redis_stores(client))`` serves
signup, login, me, refresh and logout through both adapters, with a sync and an asyncio
client; revocation reaches access tokens; two gates sharing one Redis (two processes' worth)
share sessions; every key the gate wrote has a TTL.

Where the asyncio client runs: under ASGI the whole story runs in one event loop, which makes
the client (a server's loop, as in production); under WSGI the async stores run on jwe_gate's
background loop, so the client is made there."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from support.apps import starlette_app
from support.clients import ASGIClient, wrap
from support.redisdb import (
    FLAVOURS,
    async_client_on_background_loop,
    close_async_on_background_loop,
    drop_keys,
    keys_of,
    new_prefix,
    require_redis,
    sync_client,
)
from support.results import Result
from test_handlers import PASSWORD

from jwe_gate import Gate, MemoryBackend, Table, redis_stores

Call = Callable[..., Awaitable[Result]]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix (Redis must be running); its keys are deleted after the test."""
    require_redis()
    value = new_prefix()
    yield value
    drop_keys(value)


def _headers(token: str | None, body: bool) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json")] if body else []
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    return headers


def _caller(gate: Gate, adapter: str) -> Call:
    """``await call(method, path, data=None, token=None)`` through one adapter."""
    if adapter == "asgi":
        client = ASGIClient(gate.asgi(starlette_app()))

        async def acall(
            method: str, path: str, data: Any = None, token: str | None = None
        ) -> Result:
            body = b"" if data is None else json.dumps(data).encode()
            return await client.arequest(method, path, _headers(token, data is not None), body=body)

        return acall
    raw = wrap(gate, adapter)

    async def call(method: str, path: str, data: Any = None, token: str | None = None) -> Result:
        body = b"" if data is None else json.dumps(data).encode()
        return raw(method, path, _headers(token, data is not None), body=body)

    return call


async def _story(one: Call, two: Call, revoke: Callable[[str], Awaitable[None]]) -> None:
    """Signup, login, me, refresh, logout and revocation, on two gates sharing one Redis."""
    creds = {"email": "zoe@x.com", "password": PASSWORD}
    res = await one("POST", "/auth/signup", {**creds, "name": "Zoe"})
    assert res.status == 200, res.json
    first = res.json
    assert (await one("GET", "/auth/me", token=first["authToken"])).status == 200
    res = await two("POST", "/auth/login", creds)
    assert res.status == 200, res.json
    second = res.json
    assert (await two("GET", "/auth/me", token=second["authToken"])).status == 200

    # A rotation on one gate is seen by the other: the spent parent, within the grace window,
    # answers the very child the other gate stored.
    res = await one("POST", "/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert res.status == 200, res.json
    child = res.json["refreshToken"]
    res = await two("POST", "/auth/refresh", {"refreshToken": first["refreshToken"]})
    assert (res.status, res.json["refreshToken"]) == (200, child)

    # A logout on one gate ends the session's access and refresh tokens on the other (which
    # has not seen that token yet: one it has seen live is refused within a second).
    assert (await one("POST", "/auth/logout", token=first["authToken"])).status == 204
    assert (await two("GET", "/auth/me", token=first["authToken"])).status == 401
    assert (await two("POST", "/auth/refresh", {"refreshToken": child})).status == 401
    assert (await one("GET", "/auth/me", token=second["authToken"])).status == 200

    # Revoking the record ends every other session too.
    subject = str((await one("GET", "/auth/me", token=second["authToken"])).json["id"])
    await revoke(subject)
    assert (await one("GET", "/auth/me", token=second["authToken"])).status == 401
    assert (
        await one("POST", "/auth/refresh", {"refreshToken": second["refreshToken"]})
    ).status == 401

    # Logout of every session, from a new login.
    third = (await one("POST", "/auth/login", creds)).json
    fourth = (await two("POST", "/auth/login", creds)).json
    assert (
        await one("POST", "/auth/logout", {"all": True}, token=third["authToken"])
    ).status == 204
    assert (await two("GET", "/auth/me", token=fourth["authToken"])).status == 401
    assert (await one("POST", "/auth/login", creds)).status == 200  # the account itself is fine


def _assert_every_key_has_a_ttl(prefix: str) -> None:
    found = keys_of(prefix)
    assert found  # sessions, throttle counters
    client = sync_client()
    try:
        assert all(client.pttl(key) > 0 for key in found)
    finally:
        client.close()


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    "adapter", [pytest.param("asgi", id="asgi"), pytest.param("wsgi", id="wsgi")]
)
def test_the_gate_on_redis_stores(
    make_auth_gate: Callable[..., Gate], prefix: str, adapter: str, flavour: str
) -> None:
    """The whole story on Redis stores, through one adapter, with one kind of client."""
    backend = MemoryBackend()  # one table shared by both gates, as one database would be

    def gate(client: Any) -> Gate:
        return make_auth_gate(
            tables=[Table("user", backend), Table("admin", MemoryBackend())],
            stores=redis_stores(client, prefix=prefix),
        )

    if flavour != "async":
        client = sync_client(decode=flavour == "sync-decoded")
        one, two = gate(client), gate(client)

        async def revoke(subject: str) -> None:
            one.revoke("user", subject)

        asyncio.run(_story(_caller(one, adapter), _caller(two, adapter), revoke))
        client.close()
    elif adapter == "wsgi":
        aclient = async_client_on_background_loop()
        one, two = gate(aclient), gate(aclient)

        async def wsgi_revoke(subject: str) -> None:
            one.revoke("user", subject)

        asyncio.run(_story(_caller(one, adapter), _caller(two, adapter), wsgi_revoke))
        close_async_on_background_loop(aclient)
    else:

        async def main() -> None:
            aclient: redis.asyncio.Redis = redis.asyncio.Redis(host="127.0.0.1", port=6379)
            one, two = gate(aclient), gate(aclient)

            async def arevoke(subject: str) -> None:
                await one.arevoke("user", subject)

            await _story(_caller(one, adapter), _caller(two, adapter), arevoke)
            await aclient.aclose()

        asyncio.run(main())
    _assert_every_key_has_a_ttl(prefix)


def test_redis_stores_are_used_for_sessions(
    make_auth_gate: Callable[..., Gate], prefix: str
) -> None:
    """A signup writes its session to Redis under the prefix: one hash for the family and one
    set for the record."""
    client = sync_client()
    gate = make_auth_gate(stores=redis_stores(client, prefix=prefix))
    res = wrap(gate, "wsgi")(
        "POST",
        "/auth/signup",
        [("Content-Type", "application/json")],
        body=json.dumps({"name": "Ann", "email": "ann@x.com", "password": PASSWORD}).encode(),
    )
    assert res.status == 200, res.json
    names = [key.decode()[len(prefix) :] for key in keys_of(prefix)]
    assert sum(name.startswith("session:") for name in names) == 1
    assert sum(name.startswith("sessions-of:") for name in names) == 1
    client.close()
    assert isinstance(client, redis.Redis)
