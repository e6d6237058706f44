"""A Starlette app behind the gate: `uvicorn examples.starlette_app:app`.

Needs JWE_GATE_KEYS (create with `jwe-gate keygen`). Sign up with
`curl -X POST localhost:8000/auth/signup -H 'content-type: application/json'
 -d '{"name": "Ann", "email": "ann@example.com", "password": "secret123"}'`.
"""

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwe_gate import Gate, KeyRing, Rule, SQLiteBackend, Table


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": request.user.display_name})


@requires("admin")
async def admin_only(request: Request) -> JSONResponse:
    return JSONResponse({"role": "admin", "id": request.user.identity})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


gate = Gate(
    keys=KeyRing.from_env(),
    tables=[Table("user", SQLiteBackend("example.db"))],
    rules=[Rule("/health", "public")],  # everything else needs a user token
    auth_routes={"/auth": "user"},
    extras={"user": lambda record: {"role": record.get("role", "member")}},
)

app = gate.asgi(
    Starlette(
        routes=[
            Route("/health", health),
            Route("/api/hello", hello),
            Route("/api/admin", admin_only),
        ]
    )
)
