"""The real apps behind the gate (Starlette for ASGI, Flask for WSGI), and their data."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwe_gate import Rule

ADMIN_PATHS = ("/admin/stats", "/admin/users/<name>")


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
        return JSONResponse(
            {
                "authorization": request.headers.getlist("authorization"),
                **_user_info(request.user, request.auth),
            },
            headers={"X-Handled": "1"},
        )

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.user.identity})
        await websocket.close()

    inner = Starlette(routes=[Route("/stats", whoami)])
    return Starlette(
        routes=[
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
        ]
    )


def flask_app() -> Flask:
    app = Flask(__name__)

    def whoami(**_: Any) -> Any:
        resp = jsonify(
            _user_info(request.environ["jwe_gate.user"], request.environ["jwe_gate.auth"])
        )
        resp.headers["X-Handled"] = "1"
        return resp

    for i, rule in enumerate(
        (
            "/health",
            "/api/hello",
            "/api/<path:rest>",
            "/blog/<slug>",
            "/admin/stats",
            "/admin/users/<name>",
            "/orgs/<org>/billing",
            "/public/<path:rest>",
            "/mounted/stats",
        )
    ):
        app.add_url_rule(rule, f"r{i}", whoami, methods=["GET", "POST"])

    @app.route("/echo")
    def echo() -> Any:
        resp = jsonify(
            {
                "authorization": request.headers.getlist("Authorization"),
                **_user_info(request.environ["jwe_gate.user"], request.environ["jwe_gate.auth"]),
            }
        )
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


def users() -> list[dict[str, Any]]:
    return [
        {
            "id": 1,
            "name": "Ann",
            "email": "ann@example.com",
            "password": "$argon2id$x",
            "secret_note": "hidden",
        },
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

AUTH_ROUTES = {"/auth": "user", "/admin/auth": "admin"}
"""Where the auth gates serve the auth endpoints, per table."""
