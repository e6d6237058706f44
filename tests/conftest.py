"""Shared fixtures: keys, a gate factory, and one raw client per adapter.

The helpers they are built on (apps, raw clients, spies, servers) live in the ``support``
package (``tests/support``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import argon2
import pytest
from support.apps import AUTH_ROUTES, DEFAULT_RULES, admins, users
from support.chromium import chromium
from support.clients import wrap
from support.results import RawClient

from jwe_gate import Gate, Hasher, KeyRing, MemoryBackend, Table


@pytest.fixture(scope="session")
def keys() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def make_gate(keys: KeyRing) -> Callable[..., Gate]:
    """Build a gate over fresh memory tables ``user`` (first) and ``admin``."""

    def factory(**kwargs: Any) -> Gate:
        kwargs.setdefault("keys", keys)
        kwargs.setdefault(
            "tables",
            [
                Table("user", MemoryBackend(users()), hidden=("secret_note",)),
                Table("admin", MemoryBackend(admins())),
            ],
        )
        kwargs.setdefault("rules", DEFAULT_RULES)
        return Gate(**kwargs)

    return factory


@pytest.fixture
def gate(make_gate: Callable[..., Gate]) -> Gate:
    return make_gate()


@pytest.fixture(params=["asgi", "wsgi"])
def adapter(request: pytest.FixtureRequest) -> str:
    """Run the test once through the ASGI adapter (Starlette) and once through WSGI (Flask)."""
    return str(request.param)


@pytest.fixture
def client(adapter: str, gate: Gate) -> RawClient:
    """A raw client for ``gate`` wrapping the real Starlette or Flask app."""
    return wrap(gate, adapter)


@pytest.fixture
def bearer(gate: Gate) -> Callable[..., list[tuple[str, str]]]:
    """``bearer("user", 1, extras=...)`` -> an Authorization header list with a fresh token."""

    def make(table: str = "user", id: Any = 1, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Authorization", f"Bearer {gate.issue(table, id, **kwargs)}")]

    return make


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the auth endpoints ----------------------------------------------------------------------


@pytest.fixture
def make_auth_gate(make_gate: Callable[..., Gate]) -> Iterator[Callable[..., Gate]]:
    """Like ``make_gate``, serving the auth endpoints at ``/auth`` (user) and ``/admin/auth``
    (admin), with a ``Hasher`` on argon2's cheapest profile unless ``hasher=`` is given. The
    hashers' pools are shut down after the test."""
    hashers: list[Hasher] = []

    def factory(**kwargs: Any) -> Gate:
        kwargs.setdefault("auth_routes", AUTH_ROUTES)
        if "hasher" not in kwargs:
            kwargs["hasher"] = Hasher(argon2.profiles.CHEAPEST)
        if kwargs["hasher"] is not None:
            hashers.append(kwargs["hasher"])
        return make_gate(**kwargs)

    yield factory
    for hasher in hashers:
        hasher.close()


@pytest.fixture
def auth_gate(make_auth_gate: Callable[..., Gate]) -> Gate:
    """A gate serving the auth endpoints (see ``make_auth_gate``)."""
    return make_auth_gate()


@pytest.fixture
def auth_client(adapter: str, auth_gate: Gate) -> RawClient:
    """A raw client for ``auth_gate`` wrapping the real Starlette or Flask app."""
    return wrap(auth_gate, adapter)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium per test module; missing Chromium is a failure, never a skip."""
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver
