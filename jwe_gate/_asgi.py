"""The ASGI adapter: scope -> RequestView, the gate's answer -> ASGI messages. No policy here."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable

from ._sansio import refusals
from ._sansio.decision import Allow
from ._sansio.http import Refusal, Response, body_fits, varies
from ._sansio.request import HandlerRequest, RequestView
from ._sansio.user import AuthUser
from .types import ASGIApp, Gatekeeper, Message, Receive, Scope, Send

__all__ = [
    "GateASGIMiddleware",
    "not_found",
    "request_key",
    "route_path",
    "view_of",
    "with_vary",
]


def route_path(scope: Scope) -> str:
    """The path the app routes on: ``path`` minus ``root_path`` (as Starlette computes it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return "/"
    return path[len(root) :] if path[len(root)] == "/" else path


def collect_headers(
    raw: Iterable[tuple[bytes, bytes]], wanted: frozenset[bytes]
) -> dict[str, list[str]]:
    """The wanted headers' values, decoded, in order (repeats kept so the core can refuse)."""
    found: dict[str, list[str]] = {}
    for name, value in raw:
        if name in wanted:
            found.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return found


def view_of(scope: Scope, wanted: frozenset[bytes]) -> RequestView:
    """The ``RequestView`` of an HTTP or WebSocket scope."""
    http = scope["type"] == "http"
    # Upper-cased as routers compare it ("get" reaches a GET route); a WebSocket handshake
    # is a GET.
    method = scope["method"].upper() if http else "GET"
    client = scope.get("client")
    raw = scope.get("raw_path")
    root: str = scope.get("root_path", "")
    path: str = scope["path"]
    return RequestView(
        method,
        route_path(scope) if root else path,
        collect_headers(scope["headers"], wanted),
        scope.get("query_string", b"").decode("latin-1"),
        client[0] if client else None,
        root,
        path,
        raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None,
        not http,
    )


def request_key(scope: Scope, wanted: frozenset[bytes]) -> Hashable:
    """Everything ``view_of`` reads of ``scope``, as one hashable value: equal keys, equal
    views. Cheaper than the view itself, so a request the gate remembers costs no view."""
    client = scope.get("client")
    return (
        scope["type"],
        scope.get("method"),
        scope["path"],
        scope.get("root_path", ""),
        scope.get("raw_path"),
        scope.get("query_string", b""),
        client[0] if client else None,
        # Every wanted header, in order, repeats kept: what the transports read.
        *[pair for pair in scope["headers"] if pair[0] in wanted],
    )


def _raw_headers(resp: Response) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]


async def send_response(send: Send, resp: Response) -> None:
    """Send a complete ``Response``."""
    await send(
        {"type": "http.response.start", "status": resp.status, "headers": _raw_headers(resp)}
    )
    await send({"type": "http.response.body", "body": resp.body})


def with_vary(send: Send, name: str) -> Send:
    """``send``, adding request header ``name`` to the response's ``Vary`` unless it is there."""
    field = name.encode("latin-1")

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not varies([v.decode("latin-1") for k, v in headers if k.lower() == b"vary"], name):
                message = {**message, "headers": [*headers, (b"vary", field)]}
        await send(message)

    return sending


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
    """Wraps an ASGI 3 app: HTTP and WebSocket requests pass the gate; lifespan passes through,
    and the gate is closed (``aclose``) when the app's lifespan has ended."""

    def __init__(self, app: ASGIApp, gate: Gatekeeper) -> None:
        self.app = app
        self.gate = gate
        self._wanted = frozenset(n.encode("latin-1") for n in gate.transport.headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Passed through untouched; once the app's lifespan has ended (after its shutdown),
            # the gate releases what it opened.
            await self.app(scope, receive, send)
            await self.gate.aclose()
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # A request the gate let through a moment ago is answered from memory (see
        # Gate.recall); only a new one is read into a view and decided.
        key = request_key(scope, self._wanted)
        known = self.gate.recall(key)
        decision = (
            known
            if known is not None
            else await self.gate.aauthenticate(view_of(scope, self._wanted), key=key)
        )
        if isinstance(decision, Refusal):
            await self._refuse(scope, receive, send, self.gate.render(decision))
            return
        if isinstance(decision, Response):
            await send_response(send, decision)  # the gate's answer to a CORS preflight
            return
        scope["user"] = decision.user
        scope["auth"] = decision.auth
        if decision.endpoint is not None and scope["type"] == "http":
            await self._serve(decision, view_of(scope, self._wanted), scope, receive, send)
            return
        if decision.vary is not None and scope["type"] == "http":
            send = with_vary(send, decision.vary)
        await self.app(scope, receive, send)

    async def _serve(
        self, decision: Allow, view: RequestView, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer one of the gate's own auth endpoints."""
        assert decision.endpoint is not None
        body = await read_body(scope, receive, self.gate.max_body_bytes)
        if body is None:
            await send_response(send, self.gate.render(refusals.BODY_TOO_LARGE))
            return
        user = decision.user if isinstance(decision.user, AuthUser) else None
        response = await self.gate.aserve(
            decision.endpoint, HandlerRequest(view, body, user, decision.auth, decision.refused)
        )
        await send_response(send, response)
        pending = getattr(response, "pending", None)
        if isinstance(pending, asyncio.Future):
            # Work after the answer (a recovery mail): the request's task waits for it, as
            # Starlette's background tasks do, so the server does not end it midway.
            await asyncio.wait([pending])

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
            await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": resp.body})
        else:
            await send({"type": "websocket.close", "code": 1008})
