"""SPEC §Errors and §Storage faults on SQLAlchemy: with the database cut off (through a proxy
the test owns) the endpoints answer 503 ERROR_FATAL, a silent server is given up on after the
timeout instead of hanging, and service comes back by itself when the server does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from argon2.profiles import CHEAPEST
from support.clients import wrap
from support.databases import MARIA, PG, SERVERS, prefix, require_server
from support.proxy import Proxy

from jwe_gate import (
    BackendError,
    Gate,
    Hasher,
    KeyRing,
    Rule,
    SQLAlchemyBackend,
    Table,
    sqlalchemy_stores,
)


@pytest.fixture(params=[pytest.param(PG, id="postgres"), pytest.param(MARIA, id="mariadb")])
def proxied(request: pytest.FixtureRequest) -> Iterator[tuple[str, Proxy]]:
    """(a URL to the server through a proxy the test owns, the proxy)."""
    url: str = request.param
    require_server(url)
    backend_name = sa.make_url(url).get_backend_name()
    proxy = Proxy(SERVERS[backend_name])
    yield str(sa.make_url(url).set(port=proxy.port).render_as_string(hide_password=False)), proxy
    proxy.close()


def _post(client: Any, endpoint: str, body: dict[str, str]) -> Any:
    headers = [("Content-Type", "application/json")]
    return client("POST", f"/auth/{endpoint}", headers, body=json.dumps(body).encode())


def test_a_lost_database_is_a_503_and_service_recovers(proxied: tuple[str, Proxy]) -> None:
    """Cut off: signup and login answer 503 ERROR_FATAL with Retry-After (no traceback) while
    the public route answers; silent: the same once the timeout passes; back: login works again
    with no restart."""
    url, proxy = proxied
    p = prefix()
    backend: Any = SQLAlchemyBackend(url, prefix=p, timeout=2)
    stores = sqlalchemy_stores(url, prefix=p, timeout=2)
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", backend)],
        rules=[Rule("/health", "public")],
        auth_routes={"/auth": "user"},
        hasher=Hasher(CHEAPEST),
        stores=stores,
    )
    client = wrap(gate, "wsgi")
    creds = {"email": "ann@example.com", "password": "correct horse 1"}
    try:
        assert _post(client, "signup", creds).status == 200
        for mode in ("refuse", "blackhole"):
            proxy.set(mode)
            for endpoint in ("login", "signup"):
                res = _post(client, endpoint, {**creds, "email": f"{mode}@example.com"})
                assert res.status == 503, res.body
                assert res.json["code"] == "ERROR_FATAL"
                assert res.header("retry-after")
                assert b"Traceback" not in res.body
            assert client("GET", "/health").status == 200  # public routes need no database
        proxy.set("up")
        assert _post(client, "login", creds).status == 200  # the pool replaced dead connections
    finally:
        proxy.set("up")
        backend.metadata.drop_all(backend._runner.engine)
        stores.refresh.metadata.drop_all(backend._runner.engine)  # type: ignore[attr-defined]
        gate.close()


def test_a_database_error_is_a_backend_error() -> None:
    """A refused connection is a BackendError (the gate's 503), not a driver's exception."""
    backend: Any = SQLAlchemyBackend("postgresql+psycopg://postgres@127.0.0.1:9/x", timeout=1)
    with pytest.raises(BackendError):
        backend.get("user", "1")
    backend.close()
