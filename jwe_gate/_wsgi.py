"""The WSGI adapter: environ -> RequestView, the gate's answer -> start_response. No policy
here."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ._sansio import refusals
from ._sansio.http import Refusal, Response, body_fits, varies
from ._sansio.request import HandlerRequest, RequestView
from ._sansio.user import AuthUser
from .types import Gatekeeper

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "Answer",
    "GateWSGIMiddleware",
    "answer_directly",
    "environ_headers",
    "environ_keys",
    "not_found",
    "request_key",
    "start",
    "view_of",
    "with_vary",
]


def start(resp: Response, start_response: StartResponse) -> Iterable[bytes]:
    """Send a complete ``Response`` through ``start_response``."""
    start_response(f"{resp.status} {HTTPStatus(resp.status).phrase}", list(resp.headers))
    return [resp.body]


def with_vary(start_response: StartResponse, name: str) -> StartResponse:
    """``start_response``, adding request header ``name`` to the response's ``Vary`` unless it
    is there."""

    def starting(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if not varies([v for k, v in headers if k.lower() == "vary"], name):
            headers = [*headers, ("Vary", name)]
        return start_response(status, headers, exc_info)

    return starting


def environ_keys(names: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Header names paired with their CGI environ keys (``x-a`` -> ``HTTP_X_A``)."""
    # CGI (PEP 3333) keeps Content-Type as CONTENT_TYPE, without the HTTP_ prefix.
    return tuple(
        (n, "CONTENT_TYPE" if n == "content-type" else "HTTP_" + n.upper().replace("-", "_"))
        for n in names
    )


def environ_headers(
    environ: Mapping[str, Any], keys: Iterable[tuple[str, str]]
) -> dict[str, list[str]]:
    """The values of the headers ``keys`` names, as a :class:`RequestView` holds them."""
    # A WSGI server joins a repeated header with commas; the transports refuse those.
    return {n: [environ[k]] for n, k in keys if k in environ}


def view_of(environ: WSGIEnvironment, keys: Iterable[tuple[str, str]]) -> RequestView:
    """The ``RequestView`` of a WSGI environ; ``keys`` pairs header names with their CGI
    environ keys."""
    return RequestView(
        environ.get("REQUEST_METHOD", "GET").upper(),
        _route_path(environ),
        environ_headers(environ, keys),
        environ.get("QUERY_STRING", ""),
        environ.get("REMOTE_ADDR"),
    )


def request_key(environ: WSGIEnvironment, keys: Iterable[tuple[str, str]]) -> Hashable:
    """Everything ``view_of`` reads of ``environ``, as one hashable value: equal keys, equal
    views. Cheaper than the view itself, so a request the gate remembers costs no view."""
    return (
        environ.get("REQUEST_METHOD"),
        environ.get("PATH_INFO"),
        environ.get("QUERY_STRING"),
        environ.get("REMOTE_ADDR"),
        *[environ.get(k) for _, k in keys],
    )


Answer = Callable[["WSGIEnvironment", "StartResponse", Response], Iterable[bytes]]
"""Sends one of the gate's own answers (a refusal, an endpoint's, a preflight's)."""


def answer_directly(
    environ: WSGIEnvironment, start_response: StartResponse, resp: Response
) -> Iterable[bytes]:
    """The gate's answer as it is, without the app."""
    return start(resp, start_response)


class GateWSGIMiddleware:
    """Wraps a WSGI app; the app finds ``environ["jwe_gate.user"]`` and ``["jwe_gate.auth"]``.

    ``answer`` sends the gate's own answers; an integration passes one that runs them through
    its framework's response hooks (Flask's ``after_request``)."""

    def __init__(
        self, app: WSGIApplication, gate: Gatekeeper, *, answer: Answer = answer_directly
    ) -> None:
        self.app = app
        self.gate = gate
        self._answer = answer
        # Header name -> CGI environ key, computed once.
        self._keys = environ_keys(gate.transport.headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # A request the gate let through a moment ago is answered from memory (see
        # Gate.recall); only a new one is read into a view and decided.
        key = request_key(environ, self._keys)
        known = self.gate.recall(key)
        decision = (
            known
            if known is not None
            else self.gate.authenticate(view_of(environ, self._keys), key=key)
        )
        if isinstance(decision, Refusal):
            return self._answer(environ, start_response, self.gate.render(decision))
        if isinstance(decision, Response):
            # The gate's answer to a CORS preflight.
            return self._answer(environ, start_response, decision)
        environ["jwe_gate.user"] = decision.user
        environ["jwe_gate.auth"] = decision.auth
        if decision.endpoint is not None:
            body = read_body(environ, self.gate.max_body_bytes)
            if body is None:
                return self._answer(
                    environ, start_response, self.gate.render(refusals.BODY_TOO_LARGE)
                )
            user = decision.user if isinstance(decision.user, AuthUser) else None
            # The endpoint sees the mount point (SCRIPT_NAME, as an ASGI root_path), so the
            # refresh cookie's Path is the one the browser sees (/prefix/auth). Only here: the
            # rules were matched on PATH_INFO alone.
            view = replace(view_of(environ, self._keys), root=environ.get("SCRIPT_NAME", ""))
            response = self.gate.serve(
                decision.endpoint, HandlerRequest(view, body, user, decision.auth, decision.refused)
            )
            return self._answer(environ, start_response, response)
        if decision.vary is not None:
            start_response = with_vary(start_response, decision.vary)
        return self.app(environ, start_response)


def _route_path(environ: WSGIEnvironment) -> str:
    """PATH_INFO as the router reads it: PEP 3333 bytes-as-latin-1, decoded as UTF-8 the way
    Werkzeug does, so a non-ASCII rule matches the route it names."""
    path: str = environ.get("PATH_INFO", "")
    return path.encode("latin-1", "replace").decode("utf-8", "replace") or "/"


def read_body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` bytes (read no further)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH", "")
    if length:
        if not body_fits(length, limit):
            return None
        return bytes(stream.read(int(length)))
    if environ.get("wsgi.input_terminated"):  # chunked: the server marks the end of input
        body = bytes(stream.read(limit + 1))
        return None if len(body) > limit else body
    return b""


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The app behind a standalone auth-endpoint app: everything else is 404."""
    return start(Response(404, (("content-type", "text/plain"),), b"Not Found"), start_response)
