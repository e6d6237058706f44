"""The one view of a request that the gate, the transports and the endpoints read.

Adapters build it from an ASGI scope or a WSGI environ; tests build it from plain values
(as Werkzeug's ``sansio.Request``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .http import Refusal
    from .user import AuthInfo, AuthUser

__all__ = ["HandlerRequest", "RequestView"]

_NO_HEADERS: Mapping[str, Sequence[str]] = {}


@dataclass(frozen=True, slots=True)
class RequestView:
    """What the gate needs of a request, as plain values."""

    method: str
    """Upper-case method (``GET`` for a WebSocket handshake)."""
    path: str
    """The path the wrapped app routes on (ASGI ``path`` minus ``root_path``; WSGI
    ``PATH_INFO``)."""
    headers: Mapping[str, Sequence[str]] = field(default_factory=lambda: _NO_HEADERS)
    """The values of the headers the transports read (lower-case names), in order; a repeated
    header keeps every value so the gate can refuse it."""
    query: str = ""
    """The raw query string, without the ``?``."""
    client: str | None = None
    """The client address (for the throttle), when the server gives one."""
    root: str = ""
    """ASGI ``root_path`` (which a server may take from a client header): routers strip it in
    different ways or ignore it, so the gate reads ``server_path`` every way."""
    server_path: str | None = None
    """ASGI ``path`` as the server gave it (``root_path`` included or not); None: ``path``."""
    target: str | None = None
    """The raw request target (ASGI ``raw_path``), still percent-encoded, when the
    server gives it; it may be absolute-form (``http://host/admin``)."""
    websocket: bool = False
    """A WebSocket handshake (an ASGI ``websocket`` scope)."""

    def key(self) -> Hashable:
        """Everything the gate's decision reads of this request, as one hashable value: two
        views with equal keys get the same answer (at the same time)."""
        return (
            self.method,
            self.path,
            tuple((name, *values) for name, values in self.headers.items()),
            self.query,
            self.client,
            self.root,
            self.server_path,
            self.target,
            self.websocket,
        )

    def header(self, name: str) -> str | None:
        """The single value of header ``name`` (lower-case), or None when absent."""
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def cookies(self) -> Mapping[str, str]:
        """The request's cookies (empty unless a transport asked for the ``cookie`` header);
        an unparsable header counts as no cookies."""
        cookie = SimpleCookie()
        for value in self.headers.get("cookie", ()):
            try:
                cookie.load(value)
            except CookieError:
                return {}
        return {name: morsel.value for name, morsel in cookie.items()}

    @property
    def params(self) -> Mapping[str, Sequence[str]]:
        """The query string's parameters, every value of a repeated one kept."""
        return parse_qs(self.query, keep_blank_values=True)


@dataclass(frozen=True, slots=True)
class HandlerRequest:
    """What an endpoint reads: the request's view, its body, and who the gate let in."""

    view: RequestView
    body: bytes = b""
    user: AuthUser | None = None
    """The authenticated record, when the request carried a valid token."""
    auth: AuthInfo | None = None
    refused: Refusal | None = None
    """Why the access token that came was refused, for an endpoint that answers without one
    (logout): it answers with this if nothing else lets the request through."""

    @property
    def method(self) -> str:
        return self.view.method

    @property
    def client(self) -> str | None:
        return self.view.client
