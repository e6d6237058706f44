"""Helpers the benchmarks share: the Starlette route, its bare app, the app behind a gate on
SQLite, the same app behind Starlette's AuthenticationMiddleware with a PyJWT HS256 backend and a
SQLite user lookup, the Flask route, and the in-process driver (the ASGI app called directly with
a minimal scope)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from typing import Any

import jwt
from argon2.profiles import CHEAPEST
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwe_gate import (
    Gate,
    HandlerRequest,
    Hasher,
    KeyRing,
    RequestView,
    Rule,
    SQLiteBackend,
    SQLiteRefreshStore,
    SQLiteThrottleStore,
    Table,
)


async def hello(request: Request) -> JSONResponse:
    user = request.scope.get("user")
    return JSONResponse({"hello": user.identity if user is not None else "anonymous"})


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/api/hello", hello), Route("/health", hello)])


SECRET = "bench-secret-" + "x" * 32  # HS256 wants at least 32 bytes


class DbUser(BaseUser):
    """A user row read from the SQLite table."""

    def __init__(self, uid: int, data: dict[str, Any]) -> None:
        self.uid = uid
        self.data = data

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return str(self.data.get("name", ""))

    @property
    def identity(self) -> str:
        return str(self.uid)


def lookup(db: sqlite3.Connection, uid: str) -> DbUser | None:
    """One real query per request: the user row by primary key."""
    row = db.execute('SELECT id, data FROM "user" WHERE id = ?', (int(uid),)).fetchone()
    return DbUser(row[0], json.loads(row[1])) if row else None


class PyJWTBackend(AuthenticationBackend):
    """Bearer HS256 token (PyJWT), then the user from SQLite."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
        auth = conn.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise AuthenticationError("no token")
        try:
            claims = jwt.decode(auth[7:], SECRET, algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise AuthenticationError("bad token") from exc
        user = lookup(self.db, claims["sub"])
        if user is None:
            raise AuthenticationError("no such user")
        return AuthCredentials(["authenticated"]), user


def starlette_pyjwt(db: sqlite3.Connection) -> Starlette:
    """The route behind Starlette's AuthenticationMiddleware with the PyJWT backend."""
    return Starlette(
        routes=[Route("/api/hello", hello)],
        middleware=[Middleware(AuthenticationMiddleware, backend=PyJWTBackend(db))],
    )


def pyjwt_token(sub: Any) -> str:
    """An HS256 token for the PyJWT backend, valid for an hour."""
    return jwt.encode({"sub": str(sub), "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


def flask_app() -> Any:
    """The Flask twin of the Starlette route; behind ``gate.wsgi`` it reads the gate's user."""
    from flask import Flask, jsonify, request  # only the served benchmark needs Flask

    app = Flask("bench")

    @app.get("/api/hello")
    def flask_hello() -> Any:
        user = request.environ.get("jwe_gate.user")
        return jsonify(hello=user.identity if user is not None else "anonymous")

    return app


def make_gate(db: str, *, cache: bool, recheck_after: float | None = None) -> tuple[Gate, str, Any]:
    """A gate with SQLite tables and stores (as the demo), one signed-up user, and that user's
    access token from the signup (so it carries a session) and id. ``recheck_after``: the
    gate's setting (its default when None; 0: no request is answered from memory)."""
    backend = SQLiteBackend(db)
    table = Table("user", backend)
    gate = Gate(
        recheck_after=recheck_after,
        keys=KeyRing.generate(),
        tables=[table],
        rules=[Rule("/health", "public")],
        token_cache_size=4096 if cache else 0,
        refresh_store=SQLiteRefreshStore(db),
        throttle_store=SQLiteThrottleStore(db),
        hasher=Hasher(CHEAPEST),
        auth_routes={"/auth": "user"},
    )
    body = json.dumps({"email": "ann@example.com", "name": "Ann", "password": "s3cret-pass"})
    answer = gate.auth_service("user").handle(
        "signup", HandlerRequest(RequestView("POST", "/auth/signup"), body.encode())
    )
    token = str(json.loads(answer.body)["authToken"])
    return gate, token, gate.verify(token).sub


def gated(db: str, *, cache: bool, session: bool = False) -> tuple[Any, str]:
    """The app behind a gate with SQLite tables and stores (as the demo), and a token for it:
    from ``gate.issue`` (no session), or from a login (``session``: checked per request)."""
    # Without the token cache, nothing is remembered either: every request decrypts.
    gate, token, sub = make_gate(db, cache=cache, recheck_after=None if cache else 0)
    if session:
        return gate.asgi(bare_app()), token
    return gate.asgi(bare_app()), gate.issue("user", sub, ttl=3600)


def in_process(app: Any, path: str, token: str | None, n: int, rounds: int = 5) -> float:
    """Median microseconds per request over ``rounds`` rounds of n requests (after one warm-up
    round)."""
    headers = [(b"host", b"bench")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("bench", 80),
        "client": ("127.0.0.1", 1),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    async def timed() -> list[float]:
        out = []
        for _ in range(rounds + 1):
            t0 = time.perf_counter()
            for _ in range(n):
                await app(dict(scope), receive, send)
            out.append((time.perf_counter() - t0) / n * 1e6)
        return out[1:]  # the first round warms caches

    return statistics.median(asyncio.run(timed()))


def login_gate(db: str, hasher: Hasher) -> Gate:
    """A gate with SQLite tables and stores (as the demo) hashing with ``hasher``, its auth
    endpoints under ``/auth`` and ``/health`` public: the server of the login benchmark."""
    return Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", SQLiteBackend(db))],
        rules=[Rule("/health", "public")],
        refresh_store=SQLiteRefreshStore(db),
        throttle_store=SQLiteThrottleStore(db),
        hasher=hasher,
        auth_routes={"/auth": "user"},
    )


def seed_accounts(db: str, count: int, password: str, parameters: Any) -> None:
    """``count`` accounts (``user0@example.com``...) in the SQLite user table, all with one
    argon2id hash of ``password`` made once with ``parameters``: as a signup would store them,
    without paying a hash per account."""
    from argon2 import PasswordHasher

    hashed = PasswordHasher.from_parameters(parameters).hash(password)
    table = Table("user", SQLiteBackend(db))
    for i in range(count):
        table.create({"email": f"user{i}@example.com", "name": f"User {i}", "password": hashed})
