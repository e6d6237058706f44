"""A FastAPI app behind the gate (``jwe_gate.integrations.fastapi``); its /docs list the
auth endpoints.

Run it (``pip install 'jwe_gate[fastapi]' uvicorn``), then open http://127.0.0.1:8000/docs::

    export JWE_GATE_KEYS="$(jwe-gate keygen)"   # optional: without it, keys live until exit
    uvicorn examples.fastapi_app:app

Then sign up, and call a protected route with the token::

    curl -X POST localhost:8000/auth/signup -H 'content-type: application/json' \\
         -d '{"name": "Ann", "email": "ann@example.com", "password": "secret123"}'
    curl localhost:8000/api/me -H "Authorization: Bearer <authToken>"

Records live in the SQLite file named by ``EXAMPLE_DB`` (default ``example.db``).
"""

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from jwe_gate import AuthUser, Gate, KeyRing, Rule, SQLiteBackend, Table
from jwe_gate.integrations.fastapi import (
    CurrentUser,
    OptionalUser,
    docs_rules,
    install,
    requires,
)

api = FastAPI(title="jwe_gate FastAPI example")

# Keys from JWE_GATE_KEYS (`jwe-gate keygen`), or fresh ones: tokens then end with the process.
keys = KeyRing.from_env() if os.environ.get("JWE_GATE_KEYS") else KeyRing.generate()

gate = Gate(
    keys=keys,
    tables=[Table("user", SQLiteBackend(os.environ.get("EXAMPLE_DB", "example.db")))],
    rules=[
        *docs_rules(api),  # /openapi.json, /docs, /redoc, the OAuth2 redirect: public
        Rule("/health", "public"),
        Rule("/blog/**", "optional"),  # anonymous readers welcome
        Rule("/reports/**", when={"role": "admin"}),  # the gate itself checks the role
    ],  # everything else needs a user token
    auth_routes={"/auth": "user"},
)
install(api, gate)  # the auth endpoints in /openapi.json; refusals in Xano's body


@api.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@api.get("/api/me")
async def me(user: CurrentUser) -> dict[str, Any]:
    return dict(user.record)


@api.get("/blog/posts")
async def posts(user: OptionalUser) -> dict[str, Any]:
    return {"posts": [], "reader": user.display_name if user else None}


@api.get("/blog/drafts")
async def drafts(user: CurrentUser) -> dict[str, Any]:
    return {"drafts": [], "author": user.identity}


Admin = Annotated[AuthUser, Depends(requires("admin"))]


@api.get("/api/admin")
async def admin(user: Admin) -> dict[str, str]:
    return {"role": "admin", "id": user.identity}


@api.get("/reports/daily")
async def report() -> dict[str, str]:
    return {"report": "daily"}


app = gate.asgi(api)
