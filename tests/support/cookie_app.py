"""The gated Starlette and Flask apps in cookie mode, for real servers in subprocesses: the
key set comes from ``JWE_GATE_KEYS`` so the test process can mint tokens."""

from __future__ import annotations

import argon2

from jwe_gate import Cookies, Gate, Hasher, KeyRing, MemoryBackend, Table
from support.apps import AUTH_ROUTES, DEFAULT_RULES, admins, flask_app, starlette_app, users


def cookie_gate() -> Gate:
    return Gate(
        keys=KeyRing.from_env(),
        tables=[Table("user", MemoryBackend(users())), Table("admin", MemoryBackend(admins()))],
        rules=DEFAULT_RULES,
        auth_routes=AUTH_ROUTES,
        hasher=Hasher(argon2.profiles.CHEAPEST),
        cookies=Cookies(secure=False),
    )


asgi_app = cookie_gate().asgi(starlette_app())
wsgi_app = cookie_gate().wsgi(flask_app())
