"""The quick start's app (docs/quickstart.md): `uvicorn examples.quickstart:app`.

Needs JWE_GATE_KEYS (create with `jwe-gate keygen`). Records, sessions and the throttle's
counters live in one SQLite file, `quickstart.db`.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwe_gate import Gate, KeyRing, Rule, SQLiteBackend, Stores, Table


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def posts(request: Request) -> JSONResponse:
    reader = request.user.display_name if request.user.is_authenticated else None
    return JSONResponse({"posts": [], "reader": reader})


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": request.user.display_name, "id": request.user.identity})


gate = Gate(
    keys=KeyRing.from_env(),  # JWE_GATE_KEYS: the JWK Set `jwe-gate keygen` printed
    tables=[Table("user", SQLiteBackend("quickstart.db"))],
    rules=[
        Rule("/health", "public"),  # no token read at all
        Rule("/blog/**", "optional"),  # anonymous welcome; a bad token is still a 401
    ],  # every other path: a valid "user" token, or 401
    auth_routes={"/auth": "user"},  # signup, login, me, refresh, logout, password
    stores=Stores.sqlite("quickstart.db"),  # sessions and the throttle, shared by workers
)

app = gate.asgi(
    Starlette(
        routes=[
            Route("/health", health),
            Route("/blog/posts", posts),
            Route("/api/hello", hello),
        ]
    )
)
