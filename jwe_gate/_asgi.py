"""The ASGI adapter: scope -> RequestView, decision -> ASGI messages. No policy here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._core import Allow, Lookup, RequestView
from ._handlers import BODY_TOO_LARGE, HandlerRequest
from ._http import Refusal, Response, body_fits
from ._types import ASGIApp, Receive, Scope, Send
from ._user import AuthUser

if TYPE_CHECKING:
    from ._core import Policy
    from ._gate import Gate

__all__ = ["GateASGIMiddleware", "route_path"]


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


def _raw_headers(resp: Response) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]


async def send_response(send: Send, resp: Response) -> None:
    """Send a complete :class:`Response`."""
    await send({"type": "http.response.start", "status": resp.status,
                "headers": _raw_headers(resp)})
    await send({"type": "http.response.body", "body": resp.body})


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it is over ``limit`` bytes (read no further)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and not body_fits(value.decode("latin-1"), limit):
            return None  # refused before reading a byte
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind a standalone auth-endpoint app: everything else is 404."""
    if scope["type"] == "http":
        await send_response(send, Response(404, (("content-type", "text/plain"),), b"Not Found"))
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1000})


class GateASGIMiddleware:
    """Wraps an ASGI 3 app: HTTP and WebSocket requests pass the gate; lifespan passes through."""

    def __init__(self, app: ASGIApp, gate: Gate, *, policy: Policy | None = None) -> None:
        self.app = app
        self.gate = gate
        self.policy: Policy = policy if policy is not None else gate.policy
        self.on_error = gate.on_error
        self.clock: Callable[[], float] = gate.clock
        self._wanted = frozenset(n.encode("latin-1") for n in self.policy.wanted_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # Upper-cased as routers compare it ("get" reaches a GET route); a WebSocket handshake
        # is a GET.
        method = scope["method"].upper() if scope["type"] == "http" else "GET"
        view = RequestView(method, route_path(scope),
                           collect_headers(scope["headers"], self._wanted))
        decision = self.policy.decide(view, now=self.clock())
        if isinstance(decision, Lookup):
            record: Any
            try:
                record = await decision.table.aget(decision.claims.sub)
            except Exception as exc:  # the core decides what a failed lookup means
                record = exc
            decision = self.policy.conclude(decision, record)
        if isinstance(decision, Refusal):
            await self._refuse(scope, receive, send, self.on_error(decision))
            return
        assert isinstance(decision, Allow)
        scope["user"] = decision.user
        scope["auth"] = decision.auth
        if decision.endpoint is not None and scope["type"] == "http":
            await self._serve(decision, scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _serve(self, decision: Allow, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one of the gate's own auth endpoints."""
        assert decision.endpoint is not None
        table, endpoint = decision.endpoint
        body = await read_body(scope, receive, self.gate.max_body_bytes)
        if body is None:
            await self._refuse(scope, receive, send, self.on_error(BODY_TOO_LARGE))
            return
        client = scope.get("client")
        request = HandlerRequest(scope["method"].upper(), body, client[0] if client else None,
                                 decision.user if isinstance(decision.user, AuthUser) else None,
                                 decision.auth)
        try:
            response = await self.gate.auth_service(table).ahandle(endpoint, request)
        except Exception as exc:
            response = self.on_error(self.policy.failed(f"auth endpoint {table}/{endpoint}", exc))
        await send_response(send, response)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, resp: Response) -> None:
        if scope["type"] == "http":
            await send_response(send, resp)
            return
        headers = _raw_headers(resp)
        # A refused WebSocket is never accepted: close it during the handshake, or answer it
        # with the real HTTP status when the server offers the http.response extension.
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            # 403, as servers answer a handshake closed before accept (SPEC §Rules); the body
            # still says why (ERROR_CODE_UNAUTHORIZED or ERROR_CODE_ACCESS_DENIED).
            await send({"type": "websocket.http.response.start", "status": 403,
                        "headers": headers})
            await send({"type": "websocket.http.response.body", "body": resp.body})
        else:
            await send({"type": "websocket.close", "code": 1008})
