"""Raw clients: one request straight into an ASGI or WSGI app.

They send the request target as a server would hand it to the app (percent-decoded path,
headers as given, repeats kept) without any URL normalisation, so path spellings such as
``/a/../b`` reach the gate and the real router exactly as typed.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from jwe_gate import Gate
from support.apps import flask_app, starlette_app
from support.results import RawClient, Result, make_result

BODY_CHUNK = 64 * 1024
"""The raw clients deliver a request body in chunks of this size (ASGI messages)."""


def _with_length(
    headers: Sequence[tuple[str, str]], body: bytes, content_length: bool
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

    def __call__(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        root_path: str = "",
        *,
        body: bytes = b"",
        client_addr: str = "127.0.0.1",
        content_length: bool = True,
    ) -> Result:
        return asyncio.run(
            self.arequest(
                method,
                target,
                headers,
                root_path,
                body=body,
                client_addr=client_addr,
                content_length=content_length,
            )
        )

    async def arequest(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        root_path: str = "",
        *,
        body: bytes = b"",
        client_addr: str = "127.0.0.1",
        content_length: bool = True,
    ) -> Result:
        """The same request on the running event loop (to overlap several)."""
        headers = _with_length(headers, body, content_length)
        pending = [
            {
                "type": "http.request",
                "body": body[i : i + BODY_CHUNK],
                "more_body": i + BODY_CHUNK < len(body),
            }
            for i in range(0, len(body), BODY_CHUNK)
        ]
        raw_path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": root_path + unquote(raw_path),
            "raw_path": (root_path + raw_path).encode(),
            "root_path": root_path,
            "query_string": query.encode(),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            "server": ("testserver", 80),
            "client": (client_addr, 50000),
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
        return make_result(start["status"], hdrs, body)


class WSGIClient:
    """Drives a WSGI app with one raw request. ``body`` is ``wsgi.input`` with CONTENT_LENGTH
    unless ``content_length`` is False (then ``wsgi.input_terminated``, as servers mark a
    chunked upload); ``client_addr`` is REMOTE_ADDR."""

    name = "wsgi"

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        root_path: str = "",
        *,
        body: bytes = b"",
        client_addr: str = "127.0.0.1",
        content_length: bool = True,
    ) -> Result:
        headers = _with_length(headers, body, content_length)
        raw_path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": root_path,
            # PEP 3333: PATH_INFO is the percent-decoded bytes, as latin-1.
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": client_addr,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
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
        return make_result(captured["status"], list(captured["headers"]), body)


def wrap(gate: Gate, adapter: str) -> RawClient:
    """A raw client for ``gate`` wrapping the real Starlette (``asgi``) or Flask (``wsgi``) app."""
    if adapter == "asgi":
        return ASGIClient(gate.asgi(starlette_app()))
    return WSGIClient(gate.wsgi(flask_app()))
