"""Async-only stores (``AsyncRefreshStore``, ``AsyncThrottleStore``) pass the same contract,
bridged to sync callers by the background loop, and serve the endpoints under both adapters."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest
from argon2.profiles import CHEAPEST

from jwe_gate import (
    Gate,
    Hasher,
    KeyRing,
    MemoryBackend,
    MemoryRefreshStore,
    MemoryThrottleStore,
    Rotation,
    Session,
    Table,
)
from jwe_gate._sansio.request import HandlerRequest, RequestView
from jwe_gate.testing import RefreshStoreContract, ThrottleStoreContract


class AsyncRefresh:
    """A refresh store with only the async side (a memory store behind awaits)."""

    inline: ClassVar[bool] = False

    def __init__(self) -> None:
        self._s = MemoryRefreshStore()
        self.calls = 0

    async def aadd(
        self, token_hash: str, session: Session, *, expires_at: float, now: float
    ) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        self._s.add(token_hash, session, expires_at=expires_at, now=now)

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
        self.calls += 1
        await asyncio.sleep(0)
        return self._s.rotate(
            family, token_hash, child_hash, now=now, expires_at=expires_at, grace=grace
        )

    async def arevoke(self, family: str, token_hash: str) -> Session | None:
        return self._s.revoke(family, token_hash)

    async def arevoke_family(self, family: str) -> None:
        self._s.revoke_family(family)

    async def arevoke_subject(self, table: str, subject: str, *, keep: str | None = None) -> None:
        self._s.revoke_subject(table, subject, keep=keep)

    async def asession(self, family: str) -> Session | None:
        return self._s.session(family)


class AsyncThrottle:
    """A throttle store with only the async side."""

    inline: ClassVar[bool] = False

    def __init__(self) -> None:
        self._s = MemoryThrottleStore()
        self.calls = 0

    async def ahit(
        self, key: str, *, window: float, now: float, amount: int = 1
    ) -> tuple[int, float]:
        self.calls += 1
        await asyncio.sleep(0)
        return self._s.hit(key, window=window, now=now, amount=amount)

    async def atake(self, key: str, *, now: float, at_most: int | None = None) -> int:
        return self._s.take(key, now=now, at_most=at_most)


class TestAsyncRefreshStore(RefreshStoreContract):
    """The refresh contract over an async-only store, driven from sync threads."""

    @pytest.fixture
    def refresh_store(self) -> AsyncRefresh:
        return AsyncRefresh()


class TestAsyncThrottleStore(ThrottleStoreContract):
    """The throttle contract over an async-only store, driven from sync threads."""

    @pytest.fixture
    def throttle_store(self) -> AsyncThrottle:
        return AsyncThrottle()


@pytest.mark.parametrize(
    "colour", [pytest.param("sync", id="handle"), pytest.param("async", id="ahandle")]
)
def test_async_stores_serve_signup_login_and_refresh(colour: str) -> None:
    """Signup, login and refresh work through both drivers with async-only stores."""
    refresh, throttle = AsyncRefresh(), AsyncThrottle()
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend())],
        hasher=Hasher(CHEAPEST),
        refresh_store=refresh,
        throttle_store=throttle,
    )
    service = gate.auth_service("user")

    def call(endpoint: str, body: dict[str, Any]) -> Any:
        request = HandlerRequest(
            RequestView("POST", f"/auth/{endpoint}", client="192.0.2.1"), json.dumps(body).encode()
        )
        if colour == "sync":
            response = service.handle(endpoint, request)
        else:
            response = asyncio.run(service.ahandle(endpoint, request))
        assert response.status == 200, response.body
        return json.loads(response.body)

    creds = {"email": "ann@example.com", "password": "secret123"}
    call("signup", {**creds, "name": "Ann"})
    pair = call("login", creds)
    again = call("refresh", {"refreshToken": pair["refreshToken"]})
    assert again["refreshToken"] != pair["refreshToken"]
    assert refresh.calls >= 3  # add (signup), add (login), rotate
    assert throttle.calls >= 3  # the login's three counters
    gate.close()
