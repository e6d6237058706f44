"""The WSGI adapter: environ -> RequestView, decision -> start_response. No policy here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ._core import Allow, Decision, Lookup, RequestView
from ._handlers import BODY_TOO_LARGE, HandlerRequest
from ._http import Refusal, Response, body_fits
from ._user import AuthUser

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from ._core import Policy
    from ._gate import Gate

__all__ = ["GateWSGIMiddleware", "start"]


def start(resp: Response, start_response: StartResponse) -> Iterable[bytes]:
    """Send a complete :class:`Response` through ``start_response``."""
    start_response(f"{resp.status} {HTTPStatus(resp.status).phrase}", list(resp.headers))
    return [resp.body]


class GateWSGIMiddleware:
    """Wraps a WSGI app; the app finds ``environ["jwe_gate.user"]`` and ``["jwe_gate.auth"]``."""

    def __init__(self, app: WSGIApplication, gate: Gate, *, policy: Policy | None = None) -> None:
        self.app = app
        self.gate = gate
        self.policy: Policy = policy if policy is not None else gate.policy
        self.on_error = gate.on_error
        self.clock: Callable[[], float] = gate.clock
        # Header name -> CGI environ key, computed once.
        self._keys = tuple((n, "HTTP_" + n.upper().replace("-", "_"))
                           for n in self.policy.wanted_headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        # A WSGI server joins a repeated header with commas; the core refuses those.
        headers = {n: [environ[k]] for n, k in self._keys if k in environ}
        view = RequestView(environ.get("REQUEST_METHOD", "GET").upper(),
                           _route_path(environ), headers)
        decision: Decision = self.policy.decide(view, now=self.clock())
        if isinstance(decision, Lookup):
            record: Any
            try:
                record = decision.table.get(decision.claims.sub)
            except Exception as exc:  # the core decides what a failed lookup means
                record = exc
            decision = self.policy.conclude(decision, record)
        if isinstance(decision, Refusal):
            return start(self.on_error(decision), start_response)
        assert isinstance(decision, Allow)
        environ["jwe_gate.user"] = decision.user
        environ["jwe_gate.auth"] = decision.auth
        if decision.endpoint is not None:
            return start(self._serve(decision, environ), start_response)
        return self.app(environ, start_response)

    def _serve(self, decision: Allow, environ: WSGIEnvironment) -> Response:
        """Answer one of the gate's own auth endpoints."""
        assert decision.endpoint is not None
        table, endpoint = decision.endpoint
        body = read_body(environ, self.gate.max_body_bytes)
        if body is None:
            return self.on_error(BODY_TOO_LARGE)
        request = HandlerRequest(environ.get("REQUEST_METHOD", "GET").upper(), body,
                                 environ.get("REMOTE_ADDR"),
                                 decision.user if isinstance(decision.user, AuthUser) else None,
                                 decision.auth)
        try:
            return self.gate.auth_service(table).handle(endpoint, request)
        except Exception as exc:
            return self.on_error(self.policy.failed(f"auth endpoint {table}/{endpoint}", exc))


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
