"""``AuthService``: the auth endpoints of one table, wired from what they use (a table, a codec,
a hasher, stores, a clock) -- never from the ``Gate`` -- and driven by either colour."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .._passwords import Hasher, PasswordPolicy
from .._sansio import refusals
from .._sansio.cookies import CookieTransport
from .._sansio.decision import unavailable
from .._sansio.http import ErrorRenderer, Response
from .._sansio.request import HandlerRequest
from .._sansio.transports import Issued, Transport, XanoHeaders
from .._storage.memory import MemoryOneTimeStore
from .._storage.table import Table
from .._tokens import TokenCodec
from .._twins import run_async, run_sync
from ..exceptions import HasherBusyError
from . import later
from .account import Account
from .flow import Credentials, EndpointFlow, Later, Refused
from .liveness import Liveness
from .recovery import OnceTokens, RecoveryFlows
from .registry import ENDPOINTS
from .sessions import ExtrasFn, Sessions
from .throttle import Throttle, Throttler

__all__ = ["AuthService"]

_SIGN_IN = frozenset({"login", "signup", "refresh", "password/reset", "magic/login"})
"""The endpoints that set the cookies on a credential of the body's (a reset or sign-in link's
token included: another site's form posting its owner's token would sign the victim in)."""


class AuthService:
    """The auth endpoints of one table (``handle`` / ``ahandle``).

    Args:
        table: the table whose accounts these are.
        codec: mints the access tokens.
        hasher: the password hasher.
        policy: what a new password must satisfy.
        refresh_store: the sessions' store (sync, async, or both sides).
        throttle_store: the throttle's counters (sync, async, or both sides).
        throttle: the login throttle's limits.
        refresh_grace: seconds a just-spent refresh token may be presented again.
        render: turns a refusal into a response.
        clock: the time source.
        extras: ``fn(record) -> extras`` minted into the tokens.
        liveness: the per-request session check, told of what these endpoints revoke.
        transport: writes the tokens these endpoints issue (and their end) into the answers;
            the cookie transport also gives refresh and logout the refresh token's cookie.
        once_store: the one-time tokens' store (account recovery); in memory when None.
    """

    def __init__(
        self,
        table: Table,
        *,
        codec: TokenCodec,
        hasher: Hasher,
        policy: PasswordPolicy,
        refresh_store: object,
        throttle_store: object,
        throttle: Throttle,
        refresh_grace: float,
        render: ErrorRenderer,
        clock: Callable[[], float],
        extras: ExtrasFn | None = None,
        liveness: Liveness | None = None,
        transport: Transport | None = None,
        once_store: object | None = None,
    ) -> None:
        self.table = table
        self.render = render
        self.transport = XanoHeaders() if transport is None else transport
        cookies = transport if isinstance(transport, CookieTransport) else None
        self.sessions = Sessions(
            table,
            refresh_store,
            codec,
            grace=refresh_grace,
            clock=clock,
            extras=extras,
            liveness=liveness,
            cookies=cookies,
        )
        throttler = Throttler(
            table.name, throttle_store, throttle, hasher, table.password_field, clock
        )
        once = OnceTokens(
            table.name, MemoryOneTimeStore() if once_store is None else once_store, clock
        )
        account = Account(table, hasher, policy, self.sessions, throttler, clock, once)
        flows: dict[str, Callable[[HandlerRequest], EndpointFlow]] = {
            "signup": account.signup,
            "login": account.login,
            "me": account.me,
            "password": account.password,
            "refresh": self.sessions.refresh,
            "logout": self.sessions.logout,
        }
        if table.recovery is not None:
            flows |= RecoveryFlows(
                table,
                table.recovery,
                once,
                self.sessions,
                throttler,
                policy,
                account.hash_password,
                clock,
            ).flows()
        # A recovery purpose the table has no link for is not served (see registry.served).
        self._flows: Mapping[str, Callable[[HandlerRequest], EndpointFlow]] = flows

    def flow(self, endpoint: str, request: HandlerRequest) -> EndpointFlow:
        """The flow answering ``request`` at ``endpoint`` (one of ``ENDPOINTS``)."""
        if endpoint not in self._flows:
            return self._answer(refusals.NOT_SERVED)
        method = ENDPOINTS[endpoint].method
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            return self._answer(refusals.method_not_allowed(method))
        cookies = self.transport if isinstance(self.transport, CookieTransport) else None
        if endpoint in _SIGN_IN and cookies is not None and not cookies.may_sign_in(request.view):
            # Login CSRF: a form of another site (text/plain JSON needs no preflight) would set
            # the attacker's cookies in the victim's browser, signing it into their account.
            return self._answer(refusals.CROSS_SITE_LOGIN)
        return self._guard(endpoint, request)

    def _answer(self, refusal: Any) -> EndpointFlow:
        yield from ()
        return self.render(refusal)

    def _guard(self, endpoint: str, request: HandlerRequest) -> EndpointFlow:
        try:
            response: Response = yield from self._flows[endpoint](request)
        except Refused as refused:
            answer = self.render(refused.error)
            if refused.ended:
                return self._write(endpoint, request, Credentials(0, ()), answer)
            return answer
        except HasherBusyError:
            return self.render(refusals.busy(1))
        if isinstance(response, Credentials):
            return self._write(endpoint, request, response, response)
        return response

    def _write(
        self, endpoint: str, request: HandlerRequest, issued: Credentials, response: Response
    ) -> Response:
        """``response`` with the tokens ``issued`` (or their end) written by the transport."""
        plain = Response(response.status, response.headers, response.body)
        return self.transport.write(
            plain,
            Issued(
                request.view,
                self.table.name,
                endpoint,
                issued.access,
                issued.refresh,
                issued.session,
                int(self.table.access_ttl),
                int(self.table.refresh_ttl),
            ),
        )

    def handle(self, endpoint: str, request: HandlerRequest) -> Response:
        """Answer ``request`` with blocking I/O. A table, store or hasher failure raises (see
        ``respond`` for the answer a server gives). Work due after the answer (the mail of
        forgot and magic) is started in a worker thread: the response's ``pending``."""
        response = run_sync(self.flow(endpoint, request))
        if isinstance(response, Later) and response.job is not None:
            what = f"auth endpoint {self.table.name}/{endpoint}"
            return replace(response, job=None, pending=later.start(response.job, what))
        return response

    async def ahandle(self, endpoint: str, request: HandlerRequest) -> Response:
        """Answer ``request`` without blocking the event loop; failures raise, as in
        ``handle``. Work due after the answer is a task on the running loop (``pending``),
        which the ASGI adapter awaits once the response is sent."""
        response = await run_async(self.flow(endpoint, request))
        if isinstance(response, Later) and response.job is not None:
            what = f"auth endpoint {self.table.name}/{endpoint}"
            return replace(response, job=None, pending=later.astart(response.job, what))
        return response

    def respond(self, endpoint: str, request: HandlerRequest) -> Response:
        """``handle``, with a failure answered as the SPEC's 503 (the traceback goes to
        the log only): what a server sends."""
        try:
            return self.handle(endpoint, request)
        except Exception as exc:
            return self._failed(endpoint, exc)

    async def arespond(self, endpoint: str, request: HandlerRequest) -> Response:
        """``ahandle``, with a failure answered as the SPEC's 503."""
        try:
            return await self.ahandle(endpoint, request)
        except Exception as exc:
            return self._failed(endpoint, exc)

    def _failed(self, endpoint: str, exc: Exception) -> Response:
        return self.render(unavailable(f"auth endpoint {self.table.name}/{endpoint}", exc))
