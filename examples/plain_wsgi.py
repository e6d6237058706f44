"""A bare WSGI app (no framework) behind the gate: what any WSGI callable sees.

Run it (``pip install jwe_gate gunicorn``, or waitress)::

    export JWE_GATE_KEYS="$(jwe-gate keygen)"   # needed with several workers: one key set
    gunicorn -b 127.0.0.1:8000 examples.plain_wsgi:app
    # or: waitress-serve --listen=127.0.0.1:8000 examples.plain_wsgi:app

Then sign up, and call a protected route with the token::

    curl -X POST localhost:8000/auth/signup -H 'content-type: application/json' \\
         -d '{"name": "Ann", "email": "ann@example.com", "password": "secret123"}'
    curl localhost:8000/api/me -H "Authorization: Bearer <authToken>"

Records live in the SQLite file named by ``EXAMPLE_DB`` (default ``example.db``).
"""

import atexit
import json
import os
from collections.abc import Iterable
from typing import Any

from jwe_gate import Gate, KeyRing, Rule, SQLiteBackend, Table


def respond(start_response: Any, status: str, data: Any) -> Iterable[bytes]:
    """``data`` as a JSON response."""
    body = json.dumps(data).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def inner(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """The app the gate wraps. A request reaches it only once the gate let it through."""
    # The gate put the user in the environ: an AuthUser, or AnonymousUser on public paths.
    user, auth = environ["jwe_gate.user"], environ["jwe_gate.auth"]
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        return respond(start_response, "200 OK", {"status": "ok"})
    if path == "/api/me":  # under the default rule: always an authenticated user
        data = {"name": user.display_name, "scopes": list(auth.scopes)}
        return respond(start_response, "200 OK", data)
    return respond(start_response, "404 Not Found", {"error": "not found"})


# Keys from JWE_GATE_KEYS (`jwe-gate keygen`), or fresh ones: tokens then end with the process
# (and each worker process would have its own).
keys = KeyRing.from_env() if os.environ.get("JWE_GATE_KEYS") else KeyRing.generate()

gate = Gate(
    keys=keys,
    tables=[Table("user", SQLiteBackend(os.environ.get("EXAMPLE_DB", "example.db")))],
    rules=[Rule("/health", "public")],  # everything else needs a user token
    auth_routes={"/auth": "user"},  # the gate answers /auth/signup, /auth/login, ... itself
)
atexit.register(gate.close)  # WSGI has no shutdown event: release the gate's threads at exit

# The WSGI callable to serve.
app = gate.wsgi(inner)
