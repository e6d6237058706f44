"""Django: a middleware that puts the gate in front of every view, and a table backend on the
ORM and the project's user model that verifies Django's password hashes.

::

    # settings.py
    INSTALLED_APPS = [..., "django.contrib.auth", "jwe_gate.integrations.django"]
    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "jwe_gate.integrations.django.JWEGateMiddleware",
    ]
    JWE_GATE = "myproject.auth.gate"

    # myproject/auth.py
    from jwe_gate import Gate, KeyRing, Rule, Table
    from jwe_gate.integrations.django import DjangoBackend, hasher

    gate = Gate(
        keys=KeyRing.from_env(),
        tables=[Table("user", DjangoBackend())],      # get_user_model()
        rules=[Rule("/", "public"), Rule("/api/**", "required")],
        auth_routes={"/auth": "user"},
        hasher=hasher(),                              # verifies and upgrades Django's hashes
    )

Views then read ``request.user`` (a :class:`GateUser` or Django's ``AnonymousUser``) and
``request.auth`` (the gate's :class:`~jwe_gate.AuthInfo`). Needs Django 4.2 or later (the
``django`` extra).
"""

from __future__ import annotations

from ...exceptions import MissingDependencyError

try:
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise MissingDependencyError("django", "django") from exc

from .backend import DjangoBackend
from .hashers import django_hashes, hasher
from .http import to_django
from .middleware import JWEGateMiddleware, gate_from_settings
from .users import GateUser

__all__ = [
    "DjangoBackend",
    "GateUser",
    "JWEGateMiddleware",
    "django_hashes",
    "gate_from_settings",
    "hasher",
    "to_django",
]
