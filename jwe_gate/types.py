"""Public type aliases: ASGI callables, rule modes and conditions, records, error renderers.
Only aliases live here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, MutableMapping
from typing import Any, Protocol

from ._sansio.decision import Allow
from ._sansio.http import ErrorRenderer, Refusal, Response
from ._sansio.request import HandlerRequest, RequestView
from ._sansio.rules import Condition, Mode
from ._sansio.transports import Transport

__all__ = [
    "ASGIApp",
    "Condition",
    "ErrorRenderer",
    "Gatekeeper",
    "Message",
    "Mode",
    "Receive",
    "Record",
    "Scope",
    "Send",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Record = dict[str, Any]
"""A table row as a plain dict; always has an ``id``."""


class Gatekeeper(Protocol):
    """What the ASGI and WSGI adapters (and the integrations) use of a ``Gate``: they receive
    this, never the settings or the stores behind it."""

    @property
    def transport(self) -> Transport: ...

    @property
    def max_body_bytes(self) -> int: ...

    def render(self, refusal: Refusal) -> Response: ...

    def recall(self, key: Hashable) -> Allow | None: ...

    def authenticate(
        self, view: RequestView, *, key: Hashable | None = None
    ) -> Allow | Refusal | Response: ...

    async def aauthenticate(
        self, view: RequestView, *, key: Hashable | None = None
    ) -> Allow | Refusal | Response: ...

    def serve(self, endpoint: tuple[str, str], request: HandlerRequest) -> Response: ...

    async def aserve(self, endpoint: tuple[str, str], request: HandlerRequest) -> Response: ...

    async def aclose(self) -> None: ...
