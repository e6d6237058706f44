"""FastAPI: the gate's user as dependencies, its endpoints in the app's OpenAPI, public docs.

The gate validates tokens; these dependencies only read what it left in the scope
(``scope["user"]``, ``scope["auth"]``):

```python
api = FastAPI()
gate = Gate(..., rules=[*docs_rules(api), Rule("/blog/**", "optional")])
install(api, gate)          # the auth endpoints in /openapi.json; Xano error bodies

@api.get("/me")
async def me(user: CurrentUser) -> dict: ...   # Annotated[AuthUser, Depends(current_user)]

@api.get("/admin", dependencies=[Depends(requires("admin"))])
async def admin() -> dict: ...

app = gate.asgi(api)
```

The security sub-dependencies (``bearer``: HTTP bearer, ``xano``: ``X-Xano-Authorization``) read
nothing: they only put the schemes on the routes in the app's OpenAPI (the gate's default
header names).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from .._sansio import refusals
from .._sansio.http import Refusal
from .._sansio.rules import Rule
from .._sansio.user import AuthInfo, AuthUser
from ..exceptions import ConfigurationError, MissingDependencyError

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import HTTPException
    from fastapi.security import APIKeyHeader, HTTPBearer
    from starlette.responses import Response
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise MissingDependencyError("fastapi", "fastapi") from exc

if TYPE_CHECKING:
    from .._gate import Gate

__all__ = [
    "CurrentUser",
    "OptionalUser",
    "Refused",
    "current_user",
    "docs_rules",
    "install",
    "merge_openapi",
    "optional_user",
    "requires",
]

_bearer = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWE",
    description="An access token in `Authorization: Bearer ...` (the gate validates it).",
    auto_error=False,
)
_xano = APIKeyHeader(
    name="X-Xano-Authorization",
    scheme_name="xano",
    description="An access token in `X-Xano-Authorization` (Xano's header).",
    auto_error=False,
)
_Schemes = Annotated[Any, Depends(_bearer)]
_Xano = Annotated[Any, Depends(_xano)]


class Refused(HTTPException):
    """A dependency's refusal. ``install``'s handler answers it exactly as the gate would
    (its renderer, its headers); without the handler FastAPI answers the same status and
    headers with ``{"detail": message}``."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.status, refusal.message, dict(refusal.headers))
        self.refusal = refusal


def _seen(request: Request) -> tuple[AuthUser | None, AuthInfo]:
    """The user the gate set (None when anonymous) and its auth info."""
    if "user" not in request.scope:
        raise ConfigurationError(
            "jwe_gate's FastAPI dependencies need the app wrapped by gate.asgi"
        )
    user, auth = request.scope["user"], request.scope.get("auth")
    if not isinstance(user, AuthUser):
        return None, AuthInfo()
    return user, auth if isinstance(auth, AuthInfo) else AuthInfo()


async def optional_user(request: Request, _b: _Schemes = None, _x: _Xano = None) -> AuthUser | None:
    """The authenticated user, or None when the gate let the request through anonymously."""
    return _seen(request)[0]


async def current_user(request: Request, _b: _Schemes = None, _x: _Xano = None) -> AuthUser:
    """The authenticated user; anonymous (an optional or public rule): the gate's own 401."""
    user = _seen(request)[0]
    if user is None:
        raise Refused(refusals.MISSING)
    return user


CurrentUser = Annotated[AuthUser, Depends(current_user)]
"""``user: CurrentUser`` in a route: ``current_user``."""
OptionalUser = Annotated[AuthUser | None, Depends(optional_user)]
"""``user: OptionalUser`` in a route: ``optional_user``."""


def requires(*scopes: str) -> Callable[..., Awaitable[AuthUser]]:
    """A dependency: the user when ``auth.scopes`` holds every one of ``scopes``; anonymous:
    401, a scope missing: 403 ``ERROR_CODE_ACCESS_DENIED`` (the gate's refusals)."""
    wanted = tuple(scopes)

    async def dependency(request: Request, _b: _Schemes = None, _x: _Xano = None) -> AuthUser:
        user, auth = _seen(request)
        if user is None:
            raise Refused(refusals.MISSING)
        if not set(wanted) <= set(auth.scopes):
            raise Refused(refusals.DENIED)
        return user

    dependency.__name__ = f"requires_{'_'.join(wanted) or 'nothing'}"
    return dependency


def docs_rules(app: FastAPI, *, root_path: str | None = None) -> list[Rule]:
    """Public ``GET`` rules for the docs routes ``app`` serves (``openapi_url``, ``docs_url``,
    ``redoc_url``, the Swagger UI OAuth2 redirect), as the app is set. Under a root path
    (``root_path``, else the app's own ``root_path``) each also with it in front: the path
    clients send (README §Rules, behind a root path)."""
    if not app.openapi_url:  # FastAPI serves no docs without a schema
        return []
    paths = [app.openapi_url, app.docs_url, app.redoc_url]
    if app.docs_url:
        paths.append(app.swagger_ui_oauth2_redirect_url)
    root = (app.root_path if root_path is None else root_path).rstrip("/")
    spelled = [p for p in paths if p]
    if root:
        spelled += [root + p for p in spelled]
    return [Rule(p, "public", methods=["GET"]) for p in dict.fromkeys(spelled)]


def _renamed(doc: Any, names: dict[str, str]) -> Any:
    """``doc`` with every ``$ref`` to a renamed component pointing at its new name."""
    text = json.dumps(doc)
    for ref, new in names.items():
        text = text.replace(json.dumps(ref), json.dumps(new))
    return json.loads(text)


def merge_openapi(schema: dict[str, Any], auth: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (the app's) with ``auth``'s (``gate.openapi()``) paths and components added.

    A component of the same name and value is shared; of another value, the gate's is renamed
    ``jwe_gate_<name>``. A method the app already has on a path is the app's."""
    mine = schema.setdefault("components", {})
    names: dict[str, str] = {}
    for section, entries in auth.get("components", {}).items():
        for name, value in entries.items():
            if name in mine.get(section, {}) and mine[section][name] != value:
                if section == "securitySchemes":
                    continue  # same scheme name, the app's description of it
                names[f"#/components/{section}/{name}"] = f"#/components/{section}/jwe_gate_{name}"
    auth = _renamed(auth, names)
    for section, entries in auth.get("components", {}).items():
        for name, value in entries.items():
            ref = f"#/components/{section}/{name}"
            key = names[ref].rsplit("/", 1)[1] if ref in names else name
            mine.setdefault(section, {}).setdefault(key, value)
    paths = schema.setdefault("paths", {})
    for path, operations in auth.get("paths", {}).items():
        for method, op in operations.items():
            paths.setdefault(path, {}).setdefault(method, op)
    return schema


def install(app: FastAPI, gate: Gate) -> None:
    """Make ``app`` show and answer like the gate: its OpenAPI gains the gate's auth endpoints
    (``gate.openapi()``, merged once and cached as FastAPI caches its own), and the
    dependencies' refusals are rendered by the gate's renderer (Xano's body by default)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = merge_openapi(generate(), gate.openapi())
        return app.openapi_schema

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        rendered = gate.render(exc.refusal)
        return Response(
            rendered.body,
            status_code=rendered.status,
            headers=dict(rendered.headers),
        )

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(Refused, refused)
