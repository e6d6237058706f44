"""The Django cross-origin API (:mod:`support.cross_origin`'s routes), with django-cors-headers.

This module is at once the settings module, the URLconf, the gate's home and the WSGI entry
point, for ``gunicorn support.cross_origin_django:application`` with ``DJANGO_SETTINGS_MODULE``
naming it. The page's origin comes from ``CROSS_ORIGIN_PAGE``, the key set from
``JWE_GATE_KEYS``. The documented setup puts ``CorsMiddleware`` first and the gate's
``JWEGateMiddleware`` after it; with ``CROSS_ORIGIN_WRAPPED`` set, the app is wrapped by
``gate.wsgi`` instead, which puts django-cors-headers inside the gate (the wrong order).
"""

from __future__ import annotations

import json
import os
from typing import Any

from corsheaders.defaults import default_methods

SECRET_KEY = "cross-origin-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = __name__
USE_TZ = True
WRAPPED = bool(os.environ.get("CROSS_ORIGIN_WRAPPED"))
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "corsheaders",
    *([] if WRAPPED else ["jwe_gate.integrations.django"]),
]
MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",  # first: outside the gate
    *([] if WRAPPED else ["jwe_gate.integrations.django.JWEGateMiddleware"]),
]
JWE_GATE = f"{__name__}.gate"

CORS_ALLOWED_ORIGINS = [os.environ.get("CROSS_ORIGIN_PAGE", "http://localhost")]
CORS_ALLOW_METHODS = list(default_methods)
CORS_ALLOW_HEADERS = ["authorization", "content-type", "x-request-id"]
CORS_EXPOSE_HEADERS = ["WWW-Authenticate"]
CORS_ALLOW_CREDENTIALS = bool(os.environ.get("CROSS_ORIGIN_CREDENTIALS"))
if CORS_ALLOW_CREDENTIALS:
    CORS_ALLOW_HEADERS.append("x-csrf-token")


def _items(request: Any) -> Any:
    from django.http import JsonResponse

    user = request.environ["jwe_gate.user"] if WRAPPED else request.user
    body: dict[str, Any] = {
        "user": user.record["email"] if WRAPPED else user.get_username(),
        "requestId": request.headers.get("x-request-id"),
    }
    if request.method == "POST":
        body["created"] = json.loads(request.body)["name"]
        return JsonResponse(body, status=201)
    return JsonResponse(body)


def _health(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"status": "ok"})


def __getattr__(name: str) -> Any:
    # The URLconf's patterns, built when Django first reads them (after setup).
    if name == "urlpatterns":
        from django.urls import path

        return [path("health", _health), path("api/items", _items)]
    raise AttributeError(name)


def _gate() -> Any:
    from jwe_gate import Cookies, KeyRing

    from .cross_origin import make_gate

    if CORS_ALLOW_CREDENTIALS:  # the cookie transport, over plain-HTTP localhost
        return make_gate(keys=KeyRing.from_env(), cookies=Cookies(secure=False))
    return make_gate(keys=KeyRing.from_env())


gate = _gate()


def _application() -> Any:
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    return gate.wsgi(app) if WRAPPED else app


application = _application()
