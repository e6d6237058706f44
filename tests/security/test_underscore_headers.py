"""A header spelled with underscores (``X_Xano_Authorization``) is not the real header. Under
ASGI the gate compares raw names, so it is never read; WSGI folds both spellings into one
environ key, so it depends on the server: waitress and Werkzeug drop such headers (proven here
over raw sockets), as gunicorn does by default; granian passes them through (README)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from support.apps import flask_app, starlette_app
from support.servers import running_uvicorn

from jwe_gate import Gate


def _raw_get(port: int, path: str, header: str, token: str) -> int:
    """The status of a raw GET with ``header: Bearer token`` (no client normalization)."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}: Bearer {token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


@contextmanager
def _waitress(app: Any) -> Iterator[int]:
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    port = int(server.effective_port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.close()
        thread.join(5)


@contextmanager
def _werkzeug(app: Any) -> Iterator[int]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        thread.join(5)


def _uvicorn(gate: Gate) -> Any:
    return running_uvicorn(gate.asgi(starlette_app()))


SERVERS: list[Any] = [
    pytest.param(lambda gate: _waitress(gate.wsgi(flask_app().wsgi_app)), id="waitress"),
    pytest.param(lambda gate: _werkzeug(gate.wsgi(flask_app().wsgi_app)), id="werkzeug"),
    pytest.param(_uvicorn, id="uvicorn-asgi"),
]


@pytest.mark.parametrize("serve", SERVERS)
def test_an_underscore_header_is_never_the_token(
    make_gate: Callable[..., Gate], serve: Callable[[Gate], Any]
) -> None:
    """``X_Xano_Authorization`` carrying a valid token is not read (401); the real spelling,
    the positive control, reaches the handler (200)."""
    gate = make_gate()
    token = gate.issue("user", 1)
    with serve(gate) as port:
        assert _raw_get(port, "/api/hello", "X-Xano-Authorization", token) == 200
        assert _raw_get(port, "/api/hello", "X_Xano_Authorization", token) == 401
        assert _raw_get(port, "/api/hello", "Authorization", token) == 200
