"""The Django middleware: every request meets the gate on the path Django routes on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.utils.module_loading import import_string

from ..._sansio import refusals
from ..._sansio.decision import Allow
from ..._sansio.http import Refusal, Response
from ..._sansio.request import HandlerRequest, RequestView
from ..._sansio.user import AuthUser
from ...types import Gatekeeper
from .http import HeaderReader, read_body, script_prefix, to_django
from .users import GateUser

__all__ = ["JWEGateMiddleware", "gate_from_settings"]

_CHECKED = "_jwe_gate_path"
"""The request attribute holding the path the gate checked (see ``process_view``)."""


def _varied(response: HttpResponseBase, decision: Allow) -> HttpResponseBase:
    """``response`` with the request header ``decision`` says the answer depends on (the
    cookie transport's ``Cookie``) in its ``Vary``."""
    if decision.vary is not None:
        patch_vary_headers(response, (decision.vary,))
    return response


async def _same(user: Any) -> Any:
    return user


def gate_from_settings() -> Gatekeeper:
    """The gate ``settings.JWE_GATE`` names: a dotted path to it (``"myproject.auth.gate"``)
    or the gate itself."""
    value = getattr(settings, "JWE_GATE", None)
    if value is None:
        raise ImproperlyConfigured(
            "JWEGateMiddleware needs settings.JWE_GATE: the dotted path of a jwe_gate.Gate"
        )
    try:
        gate = import_string(value) if isinstance(value, str) else value
    except ImportError as exc:
        raise ImproperlyConfigured(f"settings.JWE_GATE: {exc}") from exc
    if not callable(getattr(gate, "authenticate", None)):
        raise ImproperlyConfigured(f"settings.JWE_GATE is not a jwe_gate.Gate: {gate!r}")
    return gate  # type: ignore[no-any-return]


class JWEGateMiddleware:
    """Authenticates every request with the gate, sync or async as the stack around it runs.

    Put it after ``django.contrib.auth.middleware.AuthenticationMiddleware`` (which would
    otherwise replace ``request.user``) and after any middleware that rewrites
    ``request.path_info``. It:

    * answers a refusal itself, with the gate's status and JSON body (401, 403, 400, 503);
    * sets ``request.user`` (a :class:`GateUser`, or Django's ``AnonymousUser`` where the
      rule lets anonymous requests in) and ``request.auth`` (the gate's
      :class:`~jwe_gate.AuthInfo`);
    * answers the gate's auth endpoints (``/auth/login``, ...) itself.

    The gate comes from the ``gate`` argument, else a subclass's ``default_gate``, else
    ``settings.JWE_GATE`` (see :func:`gate_from_settings`).
    """

    sync_capable = True
    async_capable = True

    default_gate: ClassVar[Gatekeeper | None] = None
    """Set in a subclass to name the gate in code rather than in settings."""

    def __init__(
        self,
        get_response: Callable[[HttpRequest], Any],
        gate: Gatekeeper | None = None,
    ) -> None:
        self.get_response = get_response
        chosen = gate if gate is not None else type(self).default_gate
        self.gate: Gatekeeper = chosen if chosen is not None else gate_from_settings()
        self._headers = HeaderReader(self.gate.transport.headers)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            # Django then awaits this middleware instead of running it in a thread.
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        view = self._headers.view(request)
        decision = self._admit(request, view, self.gate.authenticate(view))
        if isinstance(decision, HttpResponseBase):
            return decision
        if decision.endpoint is not None:
            served = self._handler_request(request, view, decision)
            if isinstance(served, HttpResponseBase):
                return served
            return to_django(self.gate.serve(decision.endpoint, served))
        return _varied(self.get_response(request), decision)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        view = self._headers.view(request)
        decision = self._admit(request, view, await self.gate.aauthenticate(view))
        if isinstance(decision, HttpResponseBase):
            return decision
        if decision.endpoint is not None:
            served = self._handler_request(request, view, decision)
            if isinstance(served, HttpResponseBase):
                return served
            return to_django(await self.gate.aserve(decision.endpoint, served))
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return _varied(await response, decision)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        """Refuse (400) a request whose ``path_info`` changed after the gate checked it: the
        router matched a path no rule was applied to (a middleware below this one rewrote it)."""
        checked = getattr(request, _CHECKED, None)
        if checked is not None and checked != (request.path_info or "/"):
            return to_django(self.gate.render(refusals.BAD_PATH))
        return None

    # -- shared by both colours ------------------------------------------------------------

    def _admit(
        self, request: HttpRequest, view: RequestView, decision: Allow | Refusal | Response
    ) -> HttpResponseBase | Allow:
        """The response that ends the request here (a refusal, a preflight answer), or the
        decision to go on, after putting the user and the auth info on the request."""
        if isinstance(decision, Refusal):
            return to_django(self.gate.render(decision))
        if isinstance(decision, Response):
            return to_django(decision)  # the gate's answer to a CORS preflight
        user: Any
        if isinstance(decision.user, AuthUser):
            user = GateUser(decision.user, decision.auth)
        else:
            # Imported here: the package is an installed app, loaded before models may be.
            from django.contrib.auth.models import AnonymousUser

            user = AnonymousUser()
        request.user = user
        # Django's async code (login_required on an async view) awaits request.auser(), which
        # AuthenticationMiddleware points at the session's user: it must answer the same.
        request.auser = partial(_same, user)
        request.auth = decision.auth
        setattr(request, _CHECKED, view.path)
        return decision

    def _handler_request(
        self, request: HttpRequest, view: RequestView, decision: Allow
    ) -> HandlerRequest | HttpResponseBase:
        """What one of the gate's own endpoints reads, or the 413 for a body over the limit.

        The endpoints answer here, before any view: Django's ``CsrfViewMiddleware`` checks in
        ``process_view``, so it never sees them. That is right: they take credentials in the
        JSON body or a bearer header, which a cross-site form cannot send; with the cookie
        transport the gate applies its own double-submit check.
        """
        body = read_body(request, self.gate.max_body_bytes)
        if body is None:
            return to_django(self.gate.render(refusals.BODY_TOO_LARGE))
        user = decision.user if isinstance(decision.user, AuthUser) else None
        # The endpoint sees the prefix Django took off (as an ASGI root_path), so the cookies
        # it sets carry the path the browser sees (the refresh cookie: /prefix/auth). Only
        # here: the rules were matched on path_info alone.
        served = replace(view, root=script_prefix(request))
        return HandlerRequest(served, body, user, decision.auth, decision.refused)
