"""The ASGI adapter: scope -> RequestView, decision -> ASGI messages. No policy here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ._core import Allow, Lookup, RequestView, errors
from ._http import ErrorRenderer, GateError, Response
from ._types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from ._core import Policy

__all__ = ["GateASGIMiddleware", "route_path"]

logger = logging.getLogger("jwe_gate")


def route_path(scope: Scope) -> str:
    """The path the app routes on: ``path`` minus ``root_path`` (as Starlette computes it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return "/"
    return path[len(root):] if path[len(root)] == "/" else path


def collect_headers(raw: Iterable[tuple[bytes, bytes]], wanted: frozenset[bytes]
                    ) -> dict[str, list[str]]:
    """The wanted headers' values, decoded, in order (repeats kept so the core can refuse)."""
    found: dict[str, list[str]] = {}
    for name, value in raw:
        if name in wanted:
            found.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return found


class GateASGIMiddleware:
    """Wraps an ASGI 3 app: HTTP and WebSocket requests pass the gate; lifespan passes through."""

    def __init__(self, app: ASGIApp, policy: Policy, *, on_error: ErrorRenderer,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.policy = policy
        self.on_error = on_error
        self.clock = clock
        self._wanted = frozenset(n.encode("latin-1") for n in policy.wanted_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope["method"].upper() if scope["type"] == "http" else "GET"
        view = RequestView(method, route_path(scope),
                           collect_headers(scope["headers"], self._wanted))
        decision = self.policy.decide(view, now=self.clock())
        if isinstance(decision, Lookup):
            try:
                record = await decision.table.aget(decision.claims.sub)
            except Exception:
                logger.exception("table %r lookup failed", decision.table.name)
                decision = errors.UNAVAILABLE
            else:
                decision = self.policy.conclude(decision, record)
        if isinstance(decision, GateError):
            await self._refuse(scope, receive, send, self.on_error(decision))
            return
        assert isinstance(decision, Allow)
        scope["user"] = decision.user
        scope["auth"] = decision.auth
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, resp: Response) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            await send({"type": "http.response.body", "body": resp.body})
            return
        # A refused WebSocket is never accepted: close it during the handshake, or answer it
        # with the real HTTP status when the server offers the http.response extension.
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": resp.status,
                        "headers": headers})
            await send({"type": "websocket.http.response.body", "body": resp.body})
        else:
            await send({"type": "websocket.close", "code": 1008})
