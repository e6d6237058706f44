"""Shared fixtures: keys, a gate factory, and one raw client per adapter.

The raw clients send the request target as a server would hand it to the app (percent-decoded
path, headers as given, repeats kept) without any URL normalisation, so path spellings such as
``/a/../b`` reach the gate and the real router exactly as typed.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, unquote_to_bytes

import argon2
import pytest
from flask import Flask, jsonify, request
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwe_gate import Gate, Hasher, KeyRing, MemoryBackend, Rule, Table

ADMIN_PATHS = ("/admin/stats", "/admin/users/<name>")


@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    handled: bool = False
    """True when the app's handler ran (it sets the X-Handled header)."""
    json: Any = field(default=None)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class RawClient(Protocol):
    name: str

    def __call__(self, method: str, target: str,
                 headers: Sequence[tuple[str, str]] = (), root_path: str = "", *,
                 body: bytes = b"", client_addr: str = "127.0.0.1",
                 content_length: bool = True) -> Result: ...


def _result(status: int, headers: list[tuple[str, str]], body: bytes) -> Result:
    import json

    res = Result(status, headers, body)
    res.handled = any(k.lower() == "x-handled" for k, _ in headers)
    if body and (res.header("content-type") or "").startswith("application/json"):
        res.json = json.loads(body)
    return res


# -- the real apps ---------------------------------------------------------------------------


def _user_info(user: Any, auth: Any) -> dict[str, Any]:
    return {
        "authenticated": user.is_authenticated,
        "identity": user.identity,
        "record": dict(user.record) if user.is_authenticated else None,
        "table": auth.table,
        "scopes": list(auth.scopes),
        "extras": dict(auth.extras),
    }


def starlette_app() -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse(_user_info(request.user, request.auth), headers={"X-Handled": "1"})

    @requires("admin")
    async def admin_only(request: Request) -> JSONResponse:
        return JSONResponse({"admin": True}, headers={"X-Handled": "1"})

    async def echo_authorization(request: Request) -> JSONResponse:
        return JSONResponse({"authorization": request.headers.getlist("authorization"),
                             **_user_info(request.user, request.auth)},
                            headers={"X-Handled": "1"})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.user.identity})
        await websocket.close()

    inner = Starlette(routes=[Route("/stats", whoami)])
    return Starlette(routes=[
        Route("/health", whoami),
        Route("/api/hello", whoami, methods=["GET", "POST"]),
        Route("/api/{rest:path}", whoami),
        Route("/blog/{slug}", whoami),
        Route("/admin/stats", whoami),
        Route("/admin/users/{name}", whoami),
        Route("/orgs/{org}/billing", whoami),
        Route("/requires-admin", admin_only),
        Route("/echo", echo_authorization),
        Route("/public/{rest:path}", whoami),
        Mount("/mounted", app=inner),
        WebSocketRoute("/ws", ws),
    ])


def flask_app() -> Flask:
    app = Flask(__name__)

    def whoami(**_: Any) -> Any:
        resp = jsonify(_user_info(request.environ["jwe_gate.user"],
                                  request.environ["jwe_gate.auth"]))
        resp.headers["X-Handled"] = "1"
        return resp

    for i, rule in enumerate(("/health", "/api/hello", "/api/<path:rest>", "/blog/<slug>",
                              "/admin/stats", "/admin/users/<name>", "/orgs/<org>/billing",
                              "/public/<path:rest>", "/mounted/stats")):
        app.add_url_rule(rule, f"r{i}", whoami, methods=["GET", "POST"])

    @app.route("/echo")
    def echo() -> Any:
        resp = jsonify({"authorization": request.headers.getlist("Authorization"),
                        **_user_info(request.environ["jwe_gate.user"],
                                     request.environ["jwe_gate.auth"])})
        resp.headers["X-Handled"] = "1"
        return resp

    @app.route("/requires-admin")
    def admin_only() -> Any:
        auth = request.environ["jwe_gate.auth"]
        if "admin" not in auth.scopes:
            return jsonify({"admin": False}), 403
        resp = jsonify({"admin": True})
        resp.headers["X-Handled"] = "1"
        return resp

    return app


# -- raw drivers -----------------------------------------------------------------------------


BODY_CHUNK = 64 * 1024
"""The raw clients deliver a request body in chunks of this size (ASGI messages)."""


def _with_length(headers: Sequence[tuple[str, str]], body: bytes, content_length: bool
                 ) -> list[tuple[str, str]]:
    """``headers`` plus a Content-Length for a non-empty body, unless the test set its own."""
    out = list(headers)
    if body and content_length and not any(k.lower() == "content-length" for k, _ in out):
        out.append(("Content-Length", str(len(body))))
    return out


class ASGIClient:
    """Drives an ASGI app with one raw request. ``body`` arrives in ``http.request`` messages
    of :data:`BODY_CHUNK` bytes, announced by a Content-Length header unless ``content_length``
    is False (a chunked upload); ``client_addr`` is the scope's client host."""

    name = "asgi"

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, method: str, target: str, headers: Sequence[tuple[str, str]] = (),
                 root_path: str = "", *, body: bytes = b"", client_addr: str = "127.0.0.1",
                 content_length: bool = True) -> Result:
        return asyncio.run(self.arequest(method, target, headers, root_path, body=body,
                                         client_addr=client_addr,
                                         content_length=content_length))

    async def arequest(self, method: str, target: str, headers: Sequence[tuple[str, str]] = (),
                       root_path: str = "", *, body: bytes = b"",
                       client_addr: str = "127.0.0.1", content_length: bool = True) -> Result:
        """The same request on the running event loop (to overlap several)."""
        headers = _with_length(headers, body, content_length)
        pending = [{"type": "http.request", "body": body[i:i + BODY_CHUNK],
                    "more_body": i + BODY_CHUNK < len(body)}
                   for i in range(0, len(body), BODY_CHUNK)]
        raw_path, _, query = target.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http",
            "path": root_path + unquote(raw_path), "raw_path": (root_path + raw_path).encode(),
            "root_path": root_path, "query_string": query.encode(),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            "server": ("testserver", 80), "client": (client_addr, 50000),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop(0)
            if not sent:
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        hdrs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
        return _result(start["status"], hdrs, body)


class WSGIClient:
    """Drives a WSGI app with one raw request. ``body`` is ``wsgi.input`` with CONTENT_LENGTH
    unless ``content_length`` is False (then ``wsgi.input_terminated``, as servers mark a
    chunked upload); ``client_addr`` is REMOTE_ADDR."""

    name = "wsgi"

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, method: str, target: str, headers: Sequence[tuple[str, str]] = (),
                 root_path: str = "", *, body: bytes = b"", client_addr: str = "127.0.0.1",
                 content_length: bool = True) -> Result:
        headers = _with_length(headers, body, content_length)
        raw_path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": root_path,
            # PEP 3333: PATH_INFO is the percent-decoded bytes, as latin-1.
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": query, "SERVER_NAME": "testserver", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": client_addr,
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(), "wsgi.multithread": False,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        for k, v in headers:
            key = "HTTP_" + k.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                key = key[5:]
            # Servers join a repeated header with a comma (Werkzeug, gunicorn).
            environ[key] = f"{environ[key]},{v}" if key in environ else v
        if body and not content_length:
            environ["wsgi.input_terminated"] = True
        captured: dict[str, Any] = {}

        def start_response(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            captured["headers"] = hdrs
            return lambda data: None

        chunks = self.app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return _result(captured["status"], list(captured["headers"]), body)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def keys() -> KeyRing:
    return KeyRing.generate()


def users() -> list[dict[str, Any]]:
    return [
        {"id": 1, "name": "Ann", "email": "ann@example.com", "password": "$argon2id$x",
         "secret_note": "hidden"},
        {"id": 2, "name": "Bob", "email": "bob@example.com", "password": "$argon2id$y"},
    ]


def admins() -> list[dict[str, Any]]:
    return [{"id": 1, "name": "Root", "email": "root@example.com", "password": "$argon2id$z"}]


DEFAULT_RULES = (
    Rule("/health", "public"),
    Rule("/public/**", "public"),
    Rule("/blog/**", "optional"),
    Rule("/admin/**", "required", table="admin"),
    Rule("/orgs/*/billing", "required", when={"role": "owner"}),
    Rule("/mounted/**", "required", table="admin"),
)


@pytest.fixture
def make_gate(keys: KeyRing) -> Callable[..., Gate]:
    """Build a gate over fresh memory tables ``user`` (first) and ``admin``."""

    def factory(**kwargs: Any) -> Gate:
        kwargs.setdefault("keys", keys)
        kwargs.setdefault("tables", [
            Table("user", MemoryBackend(users()), hidden=("secret_note",)),
            Table("admin", MemoryBackend(admins())),
        ])
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


def wrap(gate: Gate, adapter: str) -> RawClient:
    if adapter == "asgi":
        return ASGIClient(gate.asgi(starlette_app()))
    return WSGIClient(gate.wsgi(flask_app()))


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


class Clock:
    """A clock for ``Gate(clock=...)``: the real time when made, then moved only by ``advance``."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Work:
    """One argon2 computation a :class:`SpyHasher` saw."""

    kind: str
    """``hash`` or ``verify``."""
    against: str | None
    """For ``verify``: the stored hash it checked against."""
    thread: str
    on_loop: bool
    """Whether an asyncio event loop was running in that thread."""


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Argon2Spy:
    """Stands in for a Hasher's argon2 ``PasswordHasher``, recording every computation."""

    def __init__(self, real: argon2.PasswordHasher, owner: SpyHasher) -> None:
        self._real = real
        self._owner = owner

    def _run(self, kind: str, against: str | None, fn: Callable[[], Any]) -> Any:
        o = self._owner
        on_loop = _loop_running()
        with o.spy_lock:
            o.work.append(Work(kind, against, threading.current_thread().name, on_loop))
            o.running += 1
            o.peak = max(o.peak, o.running)
        try:
            o.entered.set()
            if o.hold is not None and not on_loop:  # held on the loop, it would hang the test
                o.hold.wait(10)
            if o.delay:
                time.sleep(o.delay)
            return fn()
        finally:
            with o.spy_lock:
                o.running -= 1

    def hash(self, password: str | bytes, **kwargs: Any) -> str:
        return str(self._run("hash", None, lambda: self._real.hash(password, **kwargs)))

    def verify(self, hash: Any, password: str | bytes) -> Any:
        return self._run("verify", hash if isinstance(hash, str) else repr(hash),
                         lambda: self._real.verify(hash, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class SpyHasher(Hasher):
    """A ``Hasher`` (argon2's cheapest profile by default) that records the calls the handlers
    make (``calls``: ``hash``, ``ahash``, ``verify``, ``averify``) and every argon2 computation
    (``work``), with the peak number running at once. Setting ``hold`` (an Event) makes each
    computation wait for it, ``delay`` (seconds) sleep first; ``entered`` is set when one
    starts."""

    def __init__(self, parameters: argon2.Parameters = argon2.profiles.CHEAPEST,
                 **kwargs: Any) -> None:
        super().__init__(parameters, **kwargs)
        self.calls: list[str] = []
        self.work: list[Work] = []
        self.running = 0
        self.peak = 0
        self.hold: threading.Event | None = None
        self.delay = 0.0
        self.entered = threading.Event()
        self.spy_lock = threading.Lock()
        self._ph = _Argon2Spy(self._ph, self)  # type: ignore[assignment]

    def reset(self) -> None:
        """Forget what was recorded so far."""
        with self.spy_lock:
            self.calls.clear()
            self.work.clear()
            self.peak = self.running
        self.entered.clear()

    def hash(self, password: str) -> str:
        self.calls.append("hash")
        return super().hash(password)

    async def ahash(self, password: str) -> str:
        self.calls.append("ahash")
        return await super().ahash(password)

    def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        self.calls.append("verify")
        return super().verify(stored, password)

    async def averify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        self.calls.append("averify")
        return await super().averify(stored, password)


AUTH_ROUTES = {"/auth": "user", "/admin/auth": "admin"}


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


@contextmanager
def running_uvicorn(app: Any, **config: Any) -> Iterator[int]:
    """uvicorn serving ``app`` on a free 127.0.0.1 port in a thread; yields the port."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(app, **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn died on startup"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive()
