"""A bare ASGI app (no framework) behind the gate: what any ASGI 3 callable sees.

Run it (``pip install jwe_gate uvicorn``)::

    export JWE_GATE_KEYS="$(jwe-gate keygen)"   # optional: without it, keys live until exit
    uvicorn examples.plain_asgi:app

Then sign up, and call a protected route with the token::

    curl -X POST localhost:8000/auth/signup -H 'content-type: application/json' \\
         -d '{"name": "Ann", "email": "ann@example.com", "password": "secret123"}'
    curl localhost:8000/api/me -H "Authorization: Bearer <authToken>"

Records live in the SQLite file named by ``EXAMPLE_DB`` (default ``example.db``).
"""

import json
import os
from typing import Any

from jwe_gate import Gate, KeyRing, Rule, SQLiteBackend, Table


async def respond(send: Any, status: int, data: Any) -> None:
    """Send ``data`` as a JSON response."""
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The app the gate wraps. A request reaches it only once the gate let it through."""
    if scope["type"] == "lifespan":  # the server's start and stop: nothing to set up here
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    # The gate put the user in the scope: an AuthUser, or AnonymousUser on public paths.
    user, auth = scope["user"], scope["auth"]
    if scope["path"] == "/health":
        await respond(send, 200, {"status": "ok"})
    elif scope["path"] == "/api/me":  # under the default rule: always an authenticated user
        await respond(send, 200, {"name": user.display_name, "scopes": list(auth.scopes)})
    else:
        await respond(send, 404, {"error": "not found"})


# Keys from JWE_GATE_KEYS (`jwe-gate keygen`), or fresh ones: tokens then end with the process.
keys = KeyRing.from_env() if os.environ.get("JWE_GATE_KEYS") else KeyRing.generate()

gate = Gate(
    keys=keys,
    tables=[Table("user", SQLiteBackend(os.environ.get("EXAMPLE_DB", "example.db")))],
    rules=[Rule("/health", "public")],  # everything else needs a user token
    auth_routes={"/auth": "user"},  # the gate answers /auth/signup, /auth/login, ... itself
)

# The ASGI callable to serve. After the lifespan's shutdown it closes the gate.
app = gate.asgi(inner)
