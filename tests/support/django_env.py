"""Django, configured once per test process: settings (``settings.configure`` can run only
once), a database migrated; each test empties it again.

The database is SQLite in a temporary folder, unless ``JWE_GATE_DJANGO_DB`` names a real server's
database as ``postgresql/<name>`` or ``mysql/<name>`` (see ``support.django_databases``, which
creates that database, runs a test module in a process of its own on it, and drops it)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import django
from django.conf import settings

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jwe_gate.integrations.django.JWEGateMiddleware",
]


ENV = "JWE_GATE_DJANGO_DB"
SERVERS = {
    "postgresql": {"HOST": "127.0.0.1", "PORT": 5432, "USER": "postgres"},
    "mysql": {"HOST": "127.0.0.1", "PORT": 3306, "USER": "root", "OPTIONS": {"charset": "utf8mb4"}},
}


def database(spec: str) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` for ``spec`` (``""``, ``postgresql/<name>`` or
    ``mysql/<name>``)."""
    if not spec:
        folder = Path(tempfile.mkdtemp(prefix="jwe-gate-django-"))
        atexit.register(shutil.rmtree, folder, True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(folder / "db.sqlite3"),
            # IMMEDIATE: a writer waits for the lock (timeout) instead of failing when a
            # concurrent transaction upgrades first.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
        }
    engine, _, name = spec.partition("/")
    if engine == "mysql":
        import pymysql  # type: ignore[import-untyped]

        # Django's MySQL backend imports MySQLdb (mysqlclient, a C build); PyMySQL stands in.
        pymysql.install_as_MySQLdb()
    return {"ENGINE": f"django.db.backends.{engine}", "NAME": name, **SERVERS[engine]}


def configure() -> None:
    """Configure and set up Django for this process, once."""
    if settings.configured:
        return
    settings.configure(
        SECRET_KEY="tests-only-not-secret",
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "jwe_gate.integrations.django",
            "support.djangoapp",
        ],
        DATABASES={"default": database(os.environ.get(ENV, ""))},
        USE_TZ=True,
        ROOT_URLCONF="support.djangoapp.urls",
        MIDDLEWARE=MIDDLEWARE,
        # Django's default first hasher (PBKDF2), with fewer iterations: the tests prove the
        # scheme, not its cost.
        PASSWORD_HASHERS=[
            "support.djangoapp.hashers.FastPBKDF2",
            "django.contrib.auth.hashers.Argon2PasswordHasher",
        ],
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def empty_database() -> None:
    """Delete every row the tests make: users, staff and the gate's record data."""
    from django.contrib.auth.models import User

    from jwe_gate.integrations.django.models import RecordData
    from support.djangoapp.models import Staff

    for model in (User, Staff, RecordData):
        model.objects.all().delete()
