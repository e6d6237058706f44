"""The demo's two apps (Starlette for ASGI, Flask for WSGI) and the page they serve at ``/``.

The page is one static file with inline CSS and JavaScript (no build step, no external asset).
It learns how the server runs from a small JSON block the server fills in once, at start-up:
which app it talks to, which transport it uses (bearer headers, ``?authtoken=`` as well, or
cookies with a CSRF token) and where its mail goes. Without ``--smtp`` the apps also serve the
outbox (``GET /demo/outbox``): the demo's route, not one of the gate's endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal

from ._demo_mail import OUTBOX_PATH, outbox_json
from ._gate import Gate
from ._mail import OutboxMailer
from .exceptions import MissingDependencyError

__all__ = ["PageConfig", "flask_app", "render_page", "starlette_app"]

_CONFIG_BLOCK = '<script id="demo-config" type="application/json">{}</script>'
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class PageConfig:
    """What the page is told about its server (read by its script from ``#demo-config``)."""

    app: str
    """The app behind the gate, as the intro names it."""
    transport: Literal["headers", "cookies"] = "headers"
    query_token: bool = False
    """``/api/**`` also accepts ``?authtoken=``: the page offers a call that uses it."""
    csrf_cookie: str | None = None
    """Cookie mode: the readable cookie holding the CSRF token."""
    csrf_header: str | None = None
    """Cookie mode: the header that must echo it on unsafe methods."""
    mail: str = "none"
    """Where recovery mail goes: ``"outbox"`` (the page shows it), ``"console"``,
    ``"smtp HOST:PORT"``, or ``"none"`` (no recovery: the page hides its forms)."""


def render_page(config: PageConfig) -> tuple[bytes, dict[str, str]]:
    """The page with ``config`` filled in, and the headers to serve it with."""
    data = {
        "app": config.app,
        "transport": config.transport,
        "queryToken": config.query_token,
        "csrfCookie": config.csrf_cookie,
        "csrfHeader": config.csrf_header,
        "mail": config.mail,
    }
    # "<" escaped: no value can close the script element it sits in.
    block = json.dumps(data).replace("<", "\\u003c")
    text = files("jwe_gate").joinpath("demo.html").read_text(encoding="utf-8")
    if _CONFIG_BLOCK not in text:  # pragma: no cover - the packaged page always has it
        raise RuntimeError("demo.html lost its #demo-config block")
    text = text.replace(_CONFIG_BLOCK, _CONFIG_BLOCK.replace("{}", block))
    sources: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(text):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        sources[kind].append(f"'sha256-{digest}'")
    # The page runs only its own inline script and style (hashes, so an injected one would
    # not run), talks only to its own origin, and cannot be framed (clickjacking).
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {' '.join(sources['script'])}",
            f"style-src {' '.join(sources['style'])}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "content-security-policy": policy,
        # With --query-token a URL can hold a token: never send it on in Referer.
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }
    return text.encode(), headers


def _openapi(gate: Gate) -> dict[str, Any]:
    from importlib.metadata import version

    return gate.openapi(title="jwe_gate demo", version=version("jwe_gate"))


def starlette_app(
    gate: Gate, config: PageConfig | None = None, outbox: OutboxMailer | None = None
) -> Any:
    """The demo as a Starlette app wrapped in ``gate.asgi`` (serving ``outbox`` when given)."""
    try:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse
        from starlette.routing import Route
    except ImportError as exc:
        raise MissingDependencyError("starlette", "demo") from exc

    page, page_headers = render_page(config or PageConfig("Starlette app"))
    document = _openapi(gate)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers=page_headers)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse(
            {"message": f"Hello, {request.user.display_name}!", "id": request.user.identity}
        )

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse({"admin": request.user.display_name, "time": int(time.time())})

    routes = [
        Route("/", index),
        Route("/health", health),
        Route("/openapi.json", openapi),
        Route("/api/hello", hello),
        Route("/admin/stats", stats),
    ]
    if outbox is not None:
        kept = outbox

        async def mails(request: Request) -> JSONResponse:
            return JSONResponse(outbox_json(kept), headers={"cache-control": "no-store"})

        routes.append(Route(OUTBOX_PATH, mails))
    return gate.asgi(Starlette(routes=routes))


def flask_app(
    gate: Gate, config: PageConfig | None = None, outbox: OutboxMailer | None = None
) -> Any:
    """The same demo as a Flask app wrapped in ``gate.wsgi`` (serving ``outbox`` when given)."""
    try:
        from flask import Flask, Response, jsonify, request
    except ImportError as exc:
        raise MissingDependencyError("flask", "demo") from exc

    app = Flask("jwe_gate_demo")
    page, page_headers = render_page(config or PageConfig("Flask app"))
    document = _openapi(gate)

    @app.get("/")
    def index() -> Any:
        return Response(page, mimetype="text/html", headers=page_headers)

    @app.get("/health")
    def health() -> Any:
        return jsonify({"status": "ok"})

    @app.get("/openapi.json")
    def openapi() -> Any:
        return jsonify(document)

    @app.get("/api/hello")
    def hello() -> Any:
        user = request.environ["jwe_gate.user"]
        return jsonify({"message": f"Hello, {user.display_name}!", "id": user.identity})

    @app.get("/admin/stats")
    def stats() -> Any:
        user = request.environ["jwe_gate.user"]
        return jsonify({"admin": user.display_name, "time": int(time.time())})

    if outbox is not None:
        kept = outbox

        @app.get(OUTBOX_PATH)
        def mails() -> Any:
            response = jsonify(outbox_json(kept))
            response.headers["cache-control"] = "no-store"
            return response

    return gate.wsgi(app.wsgi_app)
