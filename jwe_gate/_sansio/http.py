"""Sans-IO HTTP values: a response as plain data, and the Xano error body.

The adapters turn a ``Response`` into ASGI messages or a WSGI ``start_response`` call;
nothing here knows which.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ErrorRenderer",
    "Refusal",
    "Response",
    "body_fits",
    "json_response",
    "render_error",
    "varies",
]


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal the gate or a handler answers with (rendered by an ``ErrorRenderer``).

    A value, not an exception: the core returns it, it is never raised."""

    status: int
    code: str
    message: str
    payload: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers: ``WWW-Authenticate``, ``Retry-After``."""


ErrorRenderer = Callable[[Refusal], Response]
"""Turns a ``Refusal`` into a ``Response``; replace it for RFC 9457 problem+json."""


def json_response(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(
        status,
        (("content-type", "application/json"), ("content-length", str(len(body))), *headers),
        body,
    )


def render_error(error: Refusal) -> Response:
    """Xano's error body: ``{"code": ..., "message": ..., "payload": ...}``."""
    return json_response(
        error.status,
        {"code": error.code, "message": error.message, "payload": error.payload},
        # An error about credentials is about this request only: no cache may keep it.
        (*error.headers, ("cache-control", "no-store")),
    )


def body_fits(content_length: str, limit: int) -> bool:
    """Whether a ``Content-Length`` value is a plain decimal of at most ``limit`` bytes."""
    # ASCII digits only ("²".isdigit() is true), and few of them: int() of thousands of digits
    # raises, and no body the gate reads is that large.
    return (
        content_length.isascii()
        and content_length.isdigit()
        and len(content_length) <= 18
        and int(content_length) <= limit
    )


def varies(values: Iterable[str], name: str) -> bool:
    """Whether the ``Vary`` field values of a response already cover request header ``name``
    (it is listed, or ``*`` is)."""
    wanted = name.lower()
    return any(
        item.strip().lower() in (wanted, "*") for value in values for item in value.split(",")
    )
