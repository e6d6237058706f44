"""Settings: the gate's middleware after Django's AuthenticationMiddleware, the ORM backend's
app installed, SQLite. Environment: JWE_GATE_KEYS (required), EXAMPLE_DB (the SQLite file),
FORCE_SCRIPT_NAME (serve under a prefix), DJANGO_SECRET_KEY."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-change-me")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    # The model the ORM backend keeps the gate's own fields in (`python manage.py migrate`).
    "jwe_gate.integrations.django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After AuthenticationMiddleware, which would otherwise replace request.user.
    "jwe_gate.integrations.django.JWEGateMiddleware",
]

# The gate, by dotted path: built once, when Django loads the middleware.
JWE_GATE = "exampleproject.auth.gate"

ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB", str(BASE_DIR / "example.sqlite3")),
        # Writers wait for SQLite's lock instead of failing when two signups race.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}

# Served under a prefix by a proxy (e.g. /app): Django routes on the path after it.
FORCE_SCRIPT_NAME = os.environ.get("FORCE_SCRIPT_NAME") or None

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
