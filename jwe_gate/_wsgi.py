"""The WSGI adapter: environ -> RequestView, decision -> start_response. No policy here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ._core import Allow, Lookup, RequestView, errors
from ._http import ErrorRenderer, GateError, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from ._core import Policy

__all__ = ["GateWSGIMiddleware", "start"]

logger = logging.getLogger("jwe_gate")


def start(resp: Response, start_response: StartResponse) -> Iterable[bytes]:
    """Send a complete :class:`Response` through ``start_response``."""
    start_response(f"{resp.status} {HTTPStatus(resp.status).phrase}", list(resp.headers))
    return [resp.body]


class GateWSGIMiddleware:
    """Wraps a WSGI app; the app finds ``environ["jwe_gate.user"]`` and ``["jwe_gate.auth"]``."""

    def __init__(self, app: WSGIApplication, policy: Policy, *, on_error: ErrorRenderer,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.policy = policy
        self.on_error = on_error
        self.clock = clock
        # Header name -> CGI environ key, computed once.
        self._keys = tuple((n, "HTTP_" + n.upper().replace("-", "_"))
                           for n in policy.wanted_headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        # A WSGI server joins a repeated header with commas; the core refuses those.
        headers = {n: [environ[k]] for n, k in self._keys if k in environ}
        view = RequestView(environ.get("REQUEST_METHOD", "GET").upper(),
                           environ.get("PATH_INFO", "") or "/", headers)
        decision: Any = self.policy.decide(view, now=self.clock())
        if isinstance(decision, Lookup):
            try:
                record = decision.table.get(decision.claims.sub)
            except Exception:
                logger.exception("table %r lookup failed", decision.table.name)
                decision = errors.UNAVAILABLE
            else:
                decision = self.policy.conclude(decision, record)
        if isinstance(decision, GateError):
            return start(self.on_error(decision), start_response)
        assert isinstance(decision, Allow)
        environ["jwe_gate.user"] = decision.user
        environ["jwe_gate.auth"] = decision.auth
        return self.app(environ, start_response)
