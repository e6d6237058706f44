"""Cross-origin browser apps: a gated API per framework with its CORS middleware, the static
server that gives the browser page (``cross_origin.html``) its own origin, and the headless
Chromium that runs the page's flows (:func:`chromium`, :class:`Flows`).

Every API serves the same routes: ``/health`` (public), the gate's ``/auth/*`` endpoints (user
table) and ``/api/items`` (``GET`` lists, ``POST`` creates; a user token required, the default
rule). Each CORS middleware allows exactly one origin, the page's, with the methods and headers
the page uses (``X-Request-Id`` is allowed, ``X-Unlisted`` is not) and exposes
``WWW-Authenticate`` so the page can read why a 401 came. The Starlette app also has a
WebSocket, ``/api/socket``, which sends the user's email.
"""

# No "from __future__ import annotations": FastAPI reads the handlers' annotations.
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from argon2.profiles import CHEAPEST

from jwe_gate import Gate, Hasher, KeyRing, MemoryBackend, Rule, Table
from support.chromium import start_chromium

__all__ = [
    "ALLOWED_HEADERS",
    "EXPOSED_HEADERS",
    "METHODS",
    "PAGE",
    "PASSWORD",
    "Api",
    "Flows",
    "Results",
    "chromium",
    "django_server",
    "fastapi_api",
    "flask_api",
    "make_gate",
    "page_server",
    "starlette_api",
    "starlette_cors_inside",
    "starlette_cors_outside",
]

PAGE = Path(__file__).with_name("cross_origin.html")
METHODS = ["GET", "POST"]
ALLOWED_HEADERS = ["Authorization", "Content-Type", "X-Request-Id"]
EXPOSED_HEADERS = ["WWW-Authenticate"]
PASSWORD = "s3cret-pass1"

Results = dict[str, Any]


def make_gate(keys: KeyRing | None = None, **options: Any) -> Gate:
    """A gate over an in-memory user table (argon2's cheapest profile), ``/health`` public,
    its endpoints at ``/auth``, everything else a user token's."""
    return Gate(
        keys=keys or KeyRing.generate(),
        tables=[Table("user", MemoryBackend())],
        rules=[Rule("/health", "public")],
        auth_routes={"/auth": "user"},
        hasher=Hasher(CHEAPEST),
        **options,
    )


def _items(user: Any, request_id: str | None, created: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"user": user.record["email"], "requestId": request_id}
    if created is not None:
        body["created"] = created
    return body


def starlette_api(middleware: Any = ()) -> Any:
    """The Starlette app (``middleware``: its own stack, inside the gate when wrapped)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def items(request: Request) -> JSONResponse:
        request_id = request.headers.get("x-request-id")
        if request.method == "POST":
            created = (await request.json())["name"]
            return JSONResponse(_items(request.user, request_id, created), status_code=201)
        return JSONResponse(_items(request.user, request_id))

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.user.record["email"]})
        await websocket.close()

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/api/items", items, methods=METHODS),
            WebSocketRoute("/api/socket", socket),
        ],
        middleware=list(middleware),
    )


def _cors_options(origin: str, credentials: bool) -> dict[str, Any]:
    return {
        "allow_origins": [origin],
        "allow_methods": METHODS,
        "allow_headers": ALLOWED_HEADERS + (["X-CSRF-Token"] if credentials else []),
        "allow_credentials": credentials,
        "expose_headers": EXPOSED_HEADERS,
    }


def starlette_cors_outside(gate: Gate, origin: str, *, credentials: bool = False) -> Any:
    """The documented setup: Starlette's ``CORSMiddleware`` wraps the gated app."""
    from starlette.middleware.cors import CORSMiddleware

    return CORSMiddleware(gate.asgi(starlette_api()), **_cors_options(origin, credentials))


def starlette_cors_inside(gate: Gate, origin: str) -> Any:
    """The wrong order: ``CORSMiddleware`` in the app's own stack, inside the gate."""
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    inner = Middleware(CORSMiddleware, **_cors_options(origin, False))
    return gate.asgi(starlette_api([inner]))


def fastapi_api(gate: Gate, origin: str, *, credentials: bool = False) -> Any:
    """FastAPI with the integration's dependencies, its CORS middleware around the gate."""
    from fastapi import FastAPI, Header
    from fastapi.middleware.cors import CORSMiddleware
    from pydantic import BaseModel

    from jwe_gate.integrations.fastapi import CurrentUser, install

    class Item(BaseModel):
        name: str

    api = FastAPI()
    install(api, gate)

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/api/items")
    async def items(user: CurrentUser, x_request_id: str | None = Header(None)) -> Any:
        return _items(user, x_request_id)

    @api.post("/api/items", status_code=201)
    async def create(item: Item, user: CurrentUser, x_request_id: str | None = Header(None)) -> Any:
        return _items(user, x_request_id, item.name)

    return CORSMiddleware(gate.asgi(api), **_cors_options(origin, credentials))


def flask_api(gate: Gate, origin: str, *, credentials: bool = False) -> Any:
    """Flask with the integration installed and flask-cors (``CORS(app)``), whose
    ``after_request`` reaches the gate's own answers too; serve it with a WSGI server."""
    from flask import Flask, request
    from flask_cors import CORS

    from jwe_gate.integrations.flask import current_user, install

    api = Flask(__name__)
    install(api, gate)
    CORS(
        api,
        origins=[origin],
        methods=METHODS,
        allow_headers=ALLOWED_HEADERS + (["X-CSRF-Token"] if credentials else []),
        expose_headers=EXPOSED_HEADERS,
        supports_credentials=credentials,
    )

    @api.get("/health")
    def health() -> Any:
        return {"status": "ok"}

    @api.route("/api/items", methods=METHODS)
    def items() -> Any:
        request_id = request.headers.get("X-Request-Id")
        if request.method == "POST":
            return _items(current_user, request_id, request.get_json()["name"]), 201
        return _items(current_user, request_id)

    return api


class _PageHandler(http.server.BaseHTTPRequestHandler):
    """Answers ``GET /`` with the page, anything else with 404."""

    def do_GET(self) -> None:
        body = PAGE.read_bytes() if self.path == "/" else b"not found"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_server() -> Iterator[int]:
    """The page's own origin: a static server on a free 127.0.0.1 port; yields the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def django_server(
    origin: str, *, credentials: bool = False, wrapped: bool = False
) -> Iterator[int]:
    """:mod:`support.cross_origin_django` under gunicorn (a subprocess) on a free 127.0.0.1
    port, allowing ``origin``; yields the port. ``wrapped``: the Django app inside
    ``gate.wsgi``, django-cors-headers thus inside the gate (the wrong order)."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "JWE_GATE_KEYS"},
        "JWE_GATE_KEYS": KeyRing.generate().to_json(),
        "DJANGO_SETTINGS_MODULE": "support.cross_origin_django",
        "CROSS_ORIGIN_PAGE": origin,
        "CROSS_ORIGIN_CREDENTIALS": "1" if credentials else "",
        "CROSS_ORIGIN_WRAPPED": "1" if wrapped else "",
    }
    command = [
        *(sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1"),
        *("--no-control-socket", "--log-level", "warning"),
        *("--chdir", str(Path(__file__).parents[1]), "support.cross_origin_django:application"),
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            _wait_until_up(proc, port, log)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    """Until ``/health`` answers 200 (a worker is up, not only the master's socket)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    log.seek(0)
    raise AssertionError(f"gunicorn did not start:\n{log.read().decode(errors='replace')}")


# -- the browser -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    """Where the page calls an API (``url``), and the page's origin it allows (``page``)."""

    url: str
    page: str


def chromium(profile: Path, prefs: dict[str, Any] | None = None) -> Any:
    """Headless Chromium (the caller quits it), with ``prefs`` such as the third-party
    cookie setting."""
    return start_chromium(profile, prefs=prefs)


class Flows:
    """Runs each of the page's flows once per API, on first use, from the page origin the
    API allows, and keeps what the page saw."""

    def __init__(self, driver: Any, apis: dict[str, Api]) -> None:
        self.driver = driver
        self.apis = apis
        self._seen: dict[tuple[str, str], Results] = {}

    def open(self, page: str) -> None:
        """Load the page from ``page`` (an origin), unless it is already there."""
        if not str(self.driver.current_url).startswith(page + "/"):
            self.driver.get(page + "/")
            assert self.driver.title == "cross-origin page"

    def run(self, flow: str, api: str) -> Results:
        if (flow, api) not in self._seen:
            target = self.apis[api]
            self.open(target.page)
            # Cookies ignore ports: every localhost API shares one jar; start each flow empty.
            self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
            email = f"{api}-{uuid.uuid4().hex[:8]}@example.com"
            script = f"{flow}(arguments[0], arguments[1], arguments[2]).then(arguments[3]);"
            results = self.driver.execute_async_script(script, target.url, email, PASSWORD)
            results["email"] = email
            self._seen[flow, api] = results
        return self._seen[flow, api]

    def call(self, api: str, path: str, init: dict[str, Any]) -> Results:
        """One ``fetch`` from the page: what its JavaScript reads."""
        target = self.apis[api]
        self.open(target.page)
        script = "call(arguments[0], arguments[1]).then(arguments[2]);"
        result: Results = self.driver.execute_async_script(script, target.url + path, init)
        return result
