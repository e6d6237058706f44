"""Flask: the gate's user as ``current_user``, view decorators, and public static files.

The gate validates tokens; this module only reads what its WSGI adapter left in the environ
(``environ["jwe_gate.user"]``, ``environ["jwe_gate.auth"]``)::

    blog = Blueprint("blog", __name__)

    @blog.get("/drafts")
    @login_required                  # 401 for the anonymous readers /blog/** lets through
    def drafts() -> dict: return {"author": current_user.display_name}

    @blog.get("/moderation")
    @requires("admin")               # 401 anonymous, 403 without the scope
    def moderation() -> dict: ...

    app = Flask(__name__)
    app.register_blueprint(blog, url_prefix="/blog")   # before static_rules: it reads them
    gate = Gate(..., rules=[*static_rules(app), Rule("/blog/**", "optional")])
    install(app, gate)               # the gate wraps app.wsgi_app

The decorators answer with the gate's own refusals, rendered by the installed gate's renderer
(Xano's body by default).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from .._sansio import refusals
from .._sansio.http import Refusal, render_error
from .._sansio.http import Response as HTTPResponse
from .._sansio.rules import Rule
from .._sansio.user import ANONYMOUS, ANONYMOUS_AUTH, AnonymousUser, AuthInfo, AuthUser
from .._wsgi import GateWSGIMiddleware, answer_directly
from ..exceptions import ConfigurationError, MissingDependencyError

try:
    from flask import Blueprint, Flask, Response, current_app, request
    from werkzeug.exceptions import HTTPException
    from werkzeug.local import LocalProxy
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise MissingDependencyError("flask", "flask") from exc

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .._gate import Gate

__all__ = [
    "Refused",
    "current_auth",
    "current_user",
    "install",
    "login_required",
    "requires",
    "static_rules",
]

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("jwe_gate")
EXTENSION = "jwe_gate"
"""The key :func:`install` files the gate under in ``app.extensions``."""


class Refused(HTTPException):
    """A decorator's refusal, carrying the gate's rendered response (``refusal`` is the value).

    Flask answers it as any ``HTTPException``: an ``@app.errorhandler(Refused)`` (or
    ``HTTPException``) handler may replace the response."""

    def __init__(self, refusal: Refusal) -> None:
        gate = current_app.extensions.get(EXTENSION)
        rendered = (gate.render if gate is not None else render_error)(refusal)
        response = Response(rendered.body, status=rendered.status, headers=list(rendered.headers))
        super().__init__(refusal.message, response)
        self.code = refusal.status
        self.refusal = refusal


def _seen() -> tuple[AuthUser | AnonymousUser, AuthInfo]:
    """What the gate left in this request's environ."""
    environ = request.environ
    if "jwe_gate.user" not in environ:
        # Never guess "anonymous": an unwrapped app would let every protected view through.
        raise ConfigurationError(
            "jwe_gate.integrations.flask needs the app wrapped: install(app, gate)"
        )
    user, auth = environ["jwe_gate.user"], environ.get("jwe_gate.auth")
    if not isinstance(user, AuthUser):
        return ANONYMOUS, ANONYMOUS_AUTH
    return user, auth if isinstance(auth, AuthInfo) else ANONYMOUS_AUTH


current_user: AuthUser | AnonymousUser = LocalProxy(  # type: ignore[assignment]
    lambda: _seen()[0]
)
"""The request's user: the :class:`AuthUser` the gate attached, else ``AnonymousUser``."""
current_auth: AuthInfo = LocalProxy(lambda: _seen()[1])  # type: ignore[assignment]
"""The request's :class:`AuthInfo` (``scopes``, ``claims``, ``token``); empty when anonymous."""


def _check(scopes: tuple[str, ...]) -> None:
    """Raise :class:`Refused` unless the request's user is authenticated with every scope."""
    user, auth = _seen()
    if not isinstance(user, AuthUser):
        raise Refused(refusals.MISSING)  # the gate's own 401 for "no token"
    if not set(scopes) <= set(auth.scopes):
        raise Refused(refusals.DENIED)  # every scope named, as Starlette's @requires: not any


def _guarded(view: Callable[P, R], scopes: tuple[str, ...]) -> Callable[P, R]:
    """``view`` checked first; a coroutine function stays one (Flask's async views)."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def guarded_async(*args: P.args, **kwargs: P.kwargs) -> Any:
            _check(scopes)
            return await view(*args, **kwargs)

        return cast("Callable[P, R]", guarded_async)

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        _check(scopes)
        return view(*args, **kwargs)

    return guarded


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """A view decorator: anonymous requests (let through by an ``optional`` or ``public`` rule)
    get the gate's 401; authenticated ones reach ``view``. On a blueprint's
    ``before_request`` function it guards the whole blueprint."""
    return _guarded(view, ())


def requires(*scopes: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A view decorator: the view runs when ``current_auth.scopes`` holds every one of
    ``scopes``; anonymous: 401, a scope missing: 403 ``ERROR_CODE_ACCESS_DENIED``."""
    wanted = tuple(scopes)

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        return _guarded(view, wanted)

    return decorate


_VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>")


def _static_prefix(rule: str) -> str:
    """The URL prefix of a static route (``/static/<path:filename>`` -> ``/static``), with each
    variable segment of a blueprint's prefix (``/<lang>/shop``) as ``*``."""
    segments = rule.rsplit("/", 1)[0].split("/")
    for i, segment in enumerate(segments):
        if "<" not in segment:
            continue
        match = _VARIABLE.fullmatch(segment)
        if match is None or match.group(1) == "path":
            # A variable spanning segments or part of one: no pattern is as narrow as the route.
            raise ConfigurationError(f"no rule pattern spells the static route {rule!r}")
        segments[i] = "*"
    return "/".join(segments)


def _serves_static(app: Flask, endpoint: str) -> bool:
    """Whether ``endpoint`` is Flask's static view: the app's or a blueprint's
    ``send_static_file`` (never a view of the app's that is merely named ``static``)."""
    if endpoint == "static":
        return app.has_static_folder  # the app's own: Flask registers it as a lambda
    view = app.view_functions.get(endpoint)
    owner = getattr(view, "__self__", None)
    return isinstance(owner, Blueprint) and getattr(view, "__name__", "") == "send_static_file"


def static_rules(app: Flask) -> list[Rule]:
    """Public ``GET`` rules for the static routes ``app`` serves: the app's own
    (``static_url_path``) and every registered blueprint's static folder, with the prefix it was
    registered under. They are read from the app's URL map: call it after registering the
    blueprints.

    Raises:
        ConfigurationError: a static route at the root (``static_url_path=""``), which would
            make every path public, or one whose prefix no rule pattern can spell.
    """
    paths: list[str] = []
    for route in app.url_map.iter_rules():
        # Another spelling of the static route stays under the other rules (deny by default).
        if not route.rule.endswith("/<path:filename>") or not _serves_static(app, route.endpoint):
            continue
        prefix = _static_prefix(route.rule)
        if not prefix.strip("/*"):
            # "/**" public would open every route of the app, not just its files.
            raise ConfigurationError(
                f"the static route {route.rule!r} is at the root: open its files one by one"
            )
        paths.append(prefix + "/**")
    return [Rule(p, "public", methods=["GET"]) for p in dict.fromkeys(paths)]


def install(app: Flask, gate: Gate) -> None:
    """Put ``gate`` in front of ``app`` (around ``app.wsgi_app``, as ``gate.wsgi`` does, so the
    Flask object keeps its decorators, CLI and test client) and let the decorators render
    refusals with the gate's renderer (``on_error``). The gate's own answers (refusals, its
    endpoints, preflights) pass the app's ``after_request`` functions, so ``CORS(app)``
    (flask-cors) reaches them too."""
    if EXTENSION in app.extensions:
        raise ConfigurationError("a gate is already installed on this app")  # wrapped twice
    app.extensions[EXTENSION] = gate
    app.wsgi_app = GateWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, gate, answer=functools.partial(_through_flask, app)
    )


def _through_flask(
    app: Flask, environ: WSGIEnvironment, start_response: StartResponse, answer: HTTPResponse
) -> Iterable[bytes]:
    """Send one of the gate's own answers (a refusal, an endpoint's, a preflight's) through
    the app's ``after_request`` functions, as Flask does for a ``before_request`` that answers
    early, so an extension that decorates every answer (flask-cors) decorates these too."""
    # The app's CORS extension alone grants origins, here as on its own answers: the grant the
    # gate puts on a preflight for a plain WSGI app would stand beside (or against) its own.
    headers = [(k, v) for k, v in answer.headers if not k.lower().startswith("access-control-")]
    try:
        with app.request_context(environ):
            out = app.process_response(app.response_class(answer.body, answer.status, headers))
    except Exception:
        # The app's hook failed: its answer would be a 500 that hides the gate's (a refusal, a
        # login's tokens); the gate's own answer goes out undecorated.
        logger.exception("the app's after_request or teardown_request failed on the gate's answer")
        return answer_directly(environ, start_response, answer)
    return out(environ, start_response)
