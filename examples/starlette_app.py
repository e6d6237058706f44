"""A Starlette app behind the gate: Starlette's own ``request.user`` and ``@requires`` work.

Run it (``pip install 'jwe_gate[starlette]' uvicorn``)::

    export JWE_GATE_KEYS="$(jwe-gate keygen)"   # optional: without it, keys live until exit
    uvicorn examples.starlette_app:app

Then sign up, and call a protected route with the token::

    curl -X POST localhost:8000/auth/signup -H 'content-type: application/json' \\
         -d '{"name": "Ann", "email": "ann@example.com", "password": "secret123"}'
    curl localhost:8000/api/me -H "Authorization: Bearer <authToken>"

Records live in the SQLite file named by ``EXAMPLE_DB`` (default ``example.db``).
"""

import os

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwe_gate import Gate, KeyRing, Rule, SQLiteBackend, Table


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def me(request: Request) -> JSONResponse:
    # The gate set scope["user"] and scope["auth"]: Starlette reads them as request.user/.auth.
    return JSONResponse({"name": request.user.display_name, "scopes": request.auth.scopes})


@requires("admin")  # Starlette's decorator, on the scopes the gate derived (403 without)
async def admin_only(request: Request) -> JSONResponse:
    return JSONResponse({"role": "admin", "id": request.user.identity})


# Keys from JWE_GATE_KEYS (`jwe-gate keygen`), or fresh ones: tokens then end with the process.
keys = KeyRing.from_env() if os.environ.get("JWE_GATE_KEYS") else KeyRing.generate()

gate = Gate(
    keys=keys,
    tables=[Table("user", SQLiteBackend(os.environ.get("EXAMPLE_DB", "example.db")))],
    rules=[Rule("/health", "public")],  # everything else needs a user token
    auth_routes={"/auth": "user"},  # signup, login, me, refresh, logout, password
    # What the endpoints put in the tokens they mint: the record's role ("admin" -> scope).
    extras={"user": lambda record: {"role": record.get("role", "member")}},
)

# The gate wraps the whole ASGI app; uvicorn's lifespan shutdown closes it.
app = gate.asgi(
    Starlette(
        routes=[
            Route("/health", health),
            Route("/api/me", me),
            Route("/api/admin", admin_only),
        ]
    )
)
