"""The router x server matrix: one gated app per framework, and the real servers that run them.

Every server runs in its own subprocess on a free 127.0.0.1 port and serves *every* framework of
its interface (ASGI or WSGI) at once: a transparent dispatcher picks the gated app by the
``Host`` header (``starlette.test``, ``flask.test``...), leaving the path, ``root_path`` and
every other part of the request exactly as the server made them. So the suite starts nine
processes, not one per (framework, server) pair.

Each app routes the same paths, and its handlers answer ``X-Handled: <name>``:

* ``/health`` (public), ``/status/`` (public, Django's trailing-slash style), ``/api/hello``
  (user table);
* ``/admin/stats`` and ``/admin/keys`` (admin table), answering **every** method, as a Django
  function view does. Django routes them case-insensitively (``re_path(r"(?i)...")``), so
  the dotless i, the long s and the Kelvin sign (U+0131, U+017F, U+212A) reach them there.

Two apps strip a root path of their own: FastAPI (``FastAPI(root_path="/x")``) and Django
(``FORCE_SCRIPT_NAME = "/x"``, which Django's ASGI handler strips from the path). One server,
``uvicorn-root``, runs with ``--root-path /srv`` (uvicorn then puts ``/srv`` in front of every
path and in ``root_path``).

Run as ``python -m support.matrix werkzeug PORT`` for Werkzeug's development server; the other
servers are started through their own command lines (:data:`COMMANDS`).
"""

# No "from __future__ import annotations": FastAPI and Litestar read the handlers' annotations,
# which name classes imported inside the factories.
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from jwe_gate import Gate, KeyRing, MemoryBackend, Rule, Table

from .apps import admins, users

__all__ = [
    "ASGI_FRAMEWORKS",
    "ASGI_SERVERS",
    "COMMANDS",
    "RULES",
    "SERVERS",
    "SERVER_ROOT",
    "WSGI_FRAMEWORKS",
    "WSGI_SERVERS",
    "Fleet",
    "Reply",
    "asgi_app",
    "running_fleet",
    "send_raw",
    "wsgi_app",
]

SERVER_ROOT = "/srv"
"""The root path ``uvicorn-root`` is started with (``--root-path``)."""

_RULES = (
    Rule("/health", "public"),
    Rule("/status/", "public"),
    Rule("/admin/**", "required", table="admin"),
    Rule("/api/**", "required"),
)
RULES = (*_RULES, *(Rule(SERVER_ROOT + r.pattern, r.mode, table=r.table) for r in _RULES))
"""The gate's rules in every app, each also under :data:`SERVER_ROOT`: behind a server's
root_path, a router that ignores it (Falcon) routes the full path, so the README tells users to
write both spellings. Everything else needs a user-table token (the default)."""

ADMIN = "admin"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
APP_ROOT = "/x"
"""The root path FastAPI and Django set themselves."""

ASGI_FRAMEWORKS = ("starlette", "fastapi", "litestar", "quart", "falcon", "django")
WSGI_FRAMEWORKS = ("flask", "django", "falcon")
ASGI_SERVERS = (
    "uvicorn-h11",
    "uvicorn-httptools",
    "hypercorn",
    "daphne",
    "granian-asgi",
    "uvicorn-root",
)
WSGI_SERVERS = ("gunicorn", "waitress", "werkzeug", "granian-wsgi")
SERVERS = ASGI_SERVERS + WSGI_SERVERS

MODULES = {
    "starlette": "starlette",
    "fastapi": "fastapi",
    "litestar": "litestar",
    "quart": "quart",
    "falcon": "falcon",
    "django": "django",
    "flask": "flask",
    "uvicorn-h11": "uvicorn",
    "uvicorn-httptools": "httptools",
    "uvicorn-root": "uvicorn",
    "hypercorn": "hypercorn",
    "daphne": "daphne",
    "granian-asgi": "granian",
    "granian-wsgi": "granian",
    "gunicorn": "gunicorn",
    "waitress": "waitress",
    "werkzeug": "werkzeug",
}
"""The module each framework or server needs (a missing one fails the suite under CI)."""


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


COMMANDS: Mapping[str, Callable[[int], list[str]]] = {
    "uvicorn-h11": lambda p: [
        *(sys.executable, "-m", "uvicorn", "support.matrix:asgi_app", "--http", "h11"),
        *("--host", "127.0.0.1", "--port", str(p), "--log-level", "warning"),
    ],
    "uvicorn-httptools": lambda p: [
        *(sys.executable, "-m", "uvicorn", "support.matrix:asgi_app", "--http", "httptools"),
        *("--host", "127.0.0.1", "--port", str(p), "--log-level", "warning"),
    ],
    "uvicorn-root": lambda p: [
        *(sys.executable, "-m", "uvicorn", "support.matrix:asgi_app", "--http", "h11"),
        *("--root-path", SERVER_ROOT, "--host", "127.0.0.1", "--port", str(p)),
        *("--log-level", "warning"),
    ],
    "hypercorn": lambda p: [
        *(sys.executable, "-m", "hypercorn", "support.matrix:asgi_app"),
        *("--bind", f"127.0.0.1:{p}", "--log-level", "WARNING"),
    ],
    "daphne": lambda p: [
        *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(p)),
        *("-v", "0", "support.matrix:asgi_app"),
    ],
    "granian-asgi": lambda p: [
        *(_bin("granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(p)),
        *("--workers", "1", "--log-level", "warning", "support.matrix:asgi_app"),
    ],
    "granian-wsgi": lambda p: [
        *(_bin("granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(p)),
        *("--workers", "1", "--log-level", "warning", "support.matrix:wsgi_app"),
    ],
    "gunicorn": lambda p: [
        *(sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{p}", "-w", "1"),
        *("--log-level", "warning", "support.matrix:wsgi_app"),
    ],
    "waitress": lambda p: [
        *(sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{p}"),
        "support.matrix:wsgi_app",
    ],
    "werkzeug": lambda p: [sys.executable, "-m", "support.matrix", "werkzeug", str(p)],
}


def _gate() -> Gate:
    # The test process mints tokens with the same key set, passed through the environment.
    return Gate(
        keys=KeyRing.from_env(),
        tables=[Table("user", MemoryBackend(users())), Table("admin", MemoryBackend(admins()))],
        rules=RULES,
    )


# -- the apps --------------------------------------------------------------------------------


def _starlette(root_path: str = "") -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def endpoint(name: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"handled:{name}", headers={"X-Handled": name})

        return handle

    def fast(name: str) -> Callable[[], Any]:
        async def handle() -> PlainTextResponse:
            return PlainTextResponse(f"handled:{name}", headers={"X-Handled": name})

        return handle

    if root_path:
        from fastapi import FastAPI

        api = FastAPI(root_path=root_path)
        for path, name, methods in _ROUTES:
            api.add_api_route(path, fast(name), methods=methods)
        return api
    return Starlette(
        routes=[Route(path, endpoint(name), methods=methods) for path, name, methods in _ROUTES]
    )


_ROUTES = (
    ("/health", "health", ["GET"]),
    ("/status/", "status", ["GET"]),
    ("/api/hello", "hello", ["GET"]),
    ("/admin/stats", ADMIN, ALL_METHODS),
    ("/admin/keys", ADMIN, ALL_METHODS),
)


def _litestar() -> Any:
    from litestar import Litestar, Response, route

    def make(path: str, name: str, methods: list[str]) -> Any:
        # Litestar adds OPTIONS (and HEAD) handling itself; the rest are the handler's.
        own = [m for m in methods if m not in ("OPTIONS", "HEAD")]

        @route(
            path,
            http_method=cast(Any, own),
            name=f"{name}{path}",
            sync_to_thread=False,
            status_code=200,
        )
        def handle() -> Response[str]:
            return Response(f"handled:{name}", headers={"X-Handled": name})

        return handle

    return Litestar([make(*r) for r in _ROUTES], debug=False)


def _quart() -> Any:
    from quart import Quart

    app = Quart("matrix")
    for i, (path, name, methods) in enumerate(_ROUTES):

        async def handle(name: str = name) -> Any:
            return f"handled:{name}", 200, {"X-Handled": name}

        app.add_url_rule(path, f"r{i}", handle, methods=methods)
    return app


def _falcon(asgi: bool) -> Any:
    import falcon
    import falcon.asgi

    class Resource:
        def __init__(self, name: str, methods: list[str]) -> None:
            self.name = name
            for method in methods:
                if method != "HEAD":
                    responder = self._async if asgi else self._sync
                    setattr(self, f"on_{method.lower()}", responder)

        def _sync(self, req: Any, resp: Any) -> None:
            resp.text = f"handled:{self.name}"
            resp.set_header("X-Handled", self.name)

        async def _async(self, req: Any, resp: Any) -> None:
            self._sync(req, resp)

    app = falcon.asgi.App() if asgi else falcon.App()
    for path, name, methods in _ROUTES:
        app.add_route(path, Resource(name, methods))
    return app


@cache
def _django_urls() -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="matrix-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="support.matrix",
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        FORCE_SCRIPT_NAME=APP_ROOT,
        USE_TZ=True,
    )
    django.setup()


def _django_view(name: str) -> Callable[..., Any]:
    from django.http import HttpResponse

    def view(request: Any) -> Any:  # a function view: it answers every method
        resp = HttpResponse(f"handled:{name}", content_type="text/plain")
        resp["X-Handled"] = name
        return resp

    return view


def __getattr__(name: str) -> Any:
    # Django's ROOT_URLCONF is this module: its urlpatterns are built on first access.
    if name == "urlpatterns":
        from django.urls import re_path

        return [
            re_path(r"^health$", _django_view("health")),
            re_path(r"^status/$", _django_view("status")),
            re_path(r"^api/hello$", _django_view("hello")),
            re_path(r"(?i)^admin/stats$", _django_view(ADMIN)),
            re_path(r"(?i)^admin/keys$", _django_view(ADMIN)),
        ]
    raise AttributeError(name)


def _django(asgi: bool) -> Any:
    _django_urls()
    if asgi:
        from django.core.asgi import get_asgi_application

        return get_asgi_application()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _flask() -> Any:
    from flask import Flask

    app = Flask("matrix")
    for i, (path, name, methods) in enumerate(_ROUTES):

        def handle(name: str = name) -> Any:
            return f"handled:{name}", 200, {"X-Handled": name}

        app.add_url_rule(path, f"r{i}", handle, methods=methods)
    return app


def _installed(factories: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """The apps whose framework is installed; the tests fail (CI) or skip the others."""
    apps = {}
    for name, factory in factories.items():
        try:
            apps[name] = factory()
        except ImportError:
            continue
    return apps


@cache
def _asgi_apps() -> dict[str, Any]:
    gate = _gate()
    return _installed(
        {
            "starlette": lambda: gate.asgi(_starlette()),
            "fastapi": lambda: gate.asgi(_starlette(APP_ROOT)),
            "litestar": lambda: gate.asgi(_litestar()),
            "quart": lambda: gate.asgi(_quart()),
            "falcon": lambda: gate.asgi(_falcon(asgi=True)),
            "django": lambda: gate.asgi(_django(asgi=True)),
        }
    )


@cache
def _wsgi_apps() -> dict[str, Any]:
    gate = _gate()
    return _installed(
        {
            "flask": lambda: gate.wsgi(_flask()),
            "django": lambda: gate.wsgi(_django(asgi=False)),
            "falcon": lambda: gate.wsgi(_falcon(asgi=False)),
        }
    )


def _framework(host: str) -> str:
    return host.split(".", 1)[0].split(":", 1)[0].lower()


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every ASGI app, picked by the Host header; the scope passes unchanged."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
    app = _asgi_apps().get(_framework(host))
    if app is None:
        await send({"type": "http.response.start", "status": 421, "headers": []})
        await send({"type": "http.response.body", "body": b"unknown host"})
        return
    await app(scope, receive, send)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Every WSGI app, picked by the Host header; the environ passes unchanged."""
    app = _wsgi_apps().get(_framework(environ.get("HTTP_HOST", "")))
    if app is None:
        start_response("421 Misdirected Request", [])
        return [b"unknown host"]
    result: Iterable[bytes] = app(environ, start_response)
    return result


# -- talking to them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A raw HTTP answer: the status (0 when the server closed without one), the handler that
    answered (``X-Handled``), the headers (lower-case names) and the body."""

    status: int
    handled: str | None
    headers: dict[str, str]
    body: bytes


def send_raw(port: int, head: str, timeout: float = 5.0) -> Reply:
    """Send ``head`` (request line and headers, ``\\r\\n``-separated, no blank line) as typed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("utf-8") + b"\r\nConnection: close\r\n\r\n")
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Reply(status, headers.get("x-handled"), headers, body)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Fleet:
    """The running servers: name -> port, and the ones that failed to start, with why."""

    ports: dict[str, int]
    failed: dict[str, str]

    def send(self, server: str, framework: str, head: str) -> Reply:
        """``head`` with the framework's Host header, to ``server``."""
        return send_raw(self.ports[server], head.replace("{host}", f"{framework}.test"))


def _probe_head(server: str) -> str:
    framework = "starlette" if server in ASGI_SERVERS else "flask"
    return f"GET /health HTTP/1.1\r\nHost: {framework}.test"


@contextmanager
def running_fleet(servers: Iterable[str], env: Mapping[str, str]) -> Iterator[Fleet]:
    """Start ``servers`` at once (subprocesses on free ports), wait until each answers, yield
    them, then stop them. A server that does not start within 60 s is listed in ``failed``."""
    tests = str(Path(__file__).resolve().parents[1])
    environment = {**os.environ, **env}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (tests, environment.get("PYTHONPATH", "")) if p
    )
    with ExitStack() as stack:
        procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        logs: dict[str, Any] = {}
        for server in servers:
            port = _free_port()
            # A file, not a pipe: a chatty server must never block on a full pipe.
            logs[server] = stack.enter_context(tempfile.TemporaryFile())
            proc = subprocess.Popen(
                COMMANDS[server](port),
                env=environment,
                cwd=tests,
                stdout=logs[server],
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, proc)
            procs[server] = (proc, port)
        fleet = Fleet({}, {})
        deadline = time.monotonic() + 60
        waiting = dict(procs)
        while waiting and time.monotonic() < deadline:
            for server, (proc, port) in list(waiting.items()):
                if proc.poll() is not None:
                    logs[server].seek(0)
                    err = logs[server].read().decode(errors="replace")
                    fleet.failed[server] = f"exited {proc.returncode}: {err[-2000:]}"
                    del waiting[server]
                    continue
                try:
                    reply = send_raw(port, _probe_head(server), timeout=2)
                except OSError:
                    continue
                if reply.status == 200:
                    fleet.ports[server] = port
                    del waiting[server]
            time.sleep(0.1)
        for server in waiting:
            fleet.failed[server] = "did not answer within 60 s"
        yield fleet


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _serve_werkzeug(port: int) -> None:
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", port, wsgi_app, threaded=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["werkzeug"]:
        _serve_werkzeug(int(sys.argv[2]))
