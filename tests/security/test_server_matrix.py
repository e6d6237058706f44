"""§Rules under real routers and real servers: raw-socket requests (no client library that
normalizes paths) against Starlette, FastAPI, Litestar, Quart, Falcon and Django (ASGI) under
uvicorn (h11, httptools, and h11 with ``--root-path``), hypercorn, daphne and granian, and
Flask, Django and Falcon (WSGI) under gunicorn, waitress, Werkzeug's server and granian.

Every pair gets positive controls (the right token reaches the handler; public paths open) and
every attack spelling, sent with no token and with a token of the user table, must never reach
an admin handler. The servers and apps live in :mod:`support.matrix`; each server starts once
for the module. Under CI (``CI=true``) a server or framework that is missing or does not start
fails the suite; elsewhere it is skipped.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest
from support.apps import admins, users
from support.matrix import (
    ASGI_FRAMEWORKS,
    ASGI_SERVERS,
    MODULES,
    RULES,
    SERVERS,
    WSGI_FRAMEWORKS,
    WSGI_SERVERS,
    Fleet,
    Reply,
    running_fleet,
)

from jwe_gate import Gate, KeyRing, MemoryBackend, Table

IN_CI = os.environ.get("CI", "").lower() == "true"

PAIRS = [
    pytest.param(server, framework, id=f"{framework}-{server}")
    for servers, frameworks in ((ASGI_SERVERS, ASGI_FRAMEWORKS), (WSGI_SERVERS, WSGI_FRAMEWORKS))
    for server in servers
    for framework in frameworks
]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)  # CI must prove the whole matrix: nothing missing is skipped
    pytest.skip(reason)  # outside CI only: a machine missing one server still runs the rest


@pytest.fixture(scope="module")
def keys() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture(scope="module")
def minter(keys: KeyRing) -> Gate:
    """A gate with the servers' keys and tables, to mint their tokens."""
    return Gate(
        keys=keys,
        tables=[Table("user", MemoryBackend(users())), Table("admin", MemoryBackend(admins()))],
        rules=RULES,
    )


@pytest.fixture(scope="module")
def fleet(keys: KeyRing) -> Iterator[Fleet]:
    """Every installed server, started once for the module."""
    installed = [s for s in SERVERS if importlib.util.find_spec(MODULES[s]) is not None]
    with running_fleet(installed, {"JWE_GATE_KEYS": keys.to_json()}) as running:
        yield running


def _send(fleet: Fleet, server: str, framework: str, head: str) -> Reply:
    for name in (server, framework):
        if importlib.util.find_spec(MODULES[name]) is None:
            _unavailable(f"{name} is not installed (pip install -e '.[matrix]')")
    if server not in fleet.ports:
        _unavailable(f"{server} did not start: {fleet.failed.get(server, 'not installed')}")
    return fleet.send(server, framework, head)


def _bearer(minter: Gate, table: str) -> str:
    return f"\r\nAuthorization: Bearer {minter.issue(table, 1)}"


# -- positive controls ---------------------------------------------------------------------------


CONTROLS = [
    pytest.param("GET /admin/stats HTTP/1.1", "admin", "admin", id="admin-token-reaches-admin"),
    pytest.param("GET /health HTTP/1.1", None, "health", id="health-is-public"),
    pytest.param("GET /status/ HTTP/1.1", None, "status", id="trailing-slash-rule-opens-status/"),
    pytest.param("GET /api/hello HTTP/1.1", "user", "hello", id="user-token-reaches-hello"),
]


@pytest.mark.parametrize(("server", "framework"), PAIRS)
@pytest.mark.parametrize(("request_line", "table", "handler"), CONTROLS)
def test_the_right_request_reaches_its_handler(
    fleet: Fleet,
    minter: Gate,
    server: str,
    framework: str,
    request_line: str,
    table: str | None,
    handler: str,
) -> None:
    """Positive control: the right token (or none, on a public path) reaches the handler."""
    token = _bearer(minter, table) if table else ""
    reply = _send(fleet, server, framework, f"{request_line}\r\nHost: {{host}}{token}")
    if server == "uvicorn-root" and framework in ROUTES_ELSEWHERE_UNDER_A_SERVER_ROOT:
        assert (reply.status, reply.handled) == (404, None), reply  # passed by the gate
    else:
        assert (reply.status, reply.handled) == (200, handler), reply


ROUTES_ELSEWHERE_UNDER_A_SERVER_ROOT = {"falcon", "fastapi", "django"}
"""Under ``--root-path /srv`` these route ``/srv/admin/stats`` as it is (Falcon ignores
root_path; FastAPI and Django put their own ``/x`` in its place), so the request the gate lets
through finds no route: the app's 404."""


PREFLIGHT = "\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET"


@pytest.mark.parametrize(("server", "framework"), PAIRS)
def test_a_preflight_on_a_protected_path_is_answered_by_the_gate(
    fleet: Fleet, server: str, framework: str
) -> None:
    """A CORS preflight on an admin path gets the gate's 200 with CORS headers, no handler."""
    head = f"OPTIONS /admin/stats HTTP/1.1\r\nHost: {{host}}{PREFLIGHT}"
    reply = _send(fleet, server, framework, head)
    assert reply.handled is None, reply
    assert reply.status == 200, reply
    assert reply.headers.get("access-control-allow-origin") == "https://app.example"
    assert reply.headers.get("access-control-allow-methods") == "GET"


# -- attacks -------------------------------------------------------------------------------------

ATTACKS = [
    pytest.param("GET /admin/stats HTTP/1.1", "", id="plain"),
    pytest.param("HEAD /admin/stats HTTP/1.1", "", id="head"),
    pytest.param("GET /ADMIN/stats HTTP/1.1", "", id="upper"),
    pytest.param("GET /admin/STATS HTTP/1.1", "", id="upper-tail"),
    pytest.param("GET /adm%C4%B1n/stats HTTP/1.1", "", id="dotless-i-U+0131"),
    pytest.param("GET /ADM%C4%B0N/stats HTTP/1.1", "", id="dotted-I-U+0130"),
    pytest.param("GET /admin/%C5%BFtats HTTP/1.1", "", id="long-s-U+017F"),
    pytest.param("GET /admin/%E2%84%AAeys HTTP/1.1", "", id="kelvin-U+212A"),
    pytest.param("GET /admin/stats/ HTTP/1.1", "", id="trailing-slash"),
    pytest.param("GET //admin/stats HTTP/1.1", "", id="leading-double-slash"),
    pytest.param("GET /admin//stats HTTP/1.1", "", id="inner-double-slash"),
    pytest.param("GET /admin;x/stats HTTP/1.1", "", id="params-segment"),
    pytest.param("GET /admin/stats;x HTTP/1.1", "", id="params-tail"),
    pytest.param("GET /%61dmin/stats HTTP/1.1", "", id="percent-encoded"),
    pytest.param("GET /%2561dmin/stats HTTP/1.1", "", id="double-encoded"),
    pytest.param("GET /public/../admin/stats HTTP/1.1", "", id="dot-dot"),
    pytest.param("GET /public/%2e%2e/admin/stats HTTP/1.1", "", id="encoded-dot-dot"),
    pytest.param("GET /./admin/stats HTTP/1.1", "", id="dot"),
    pytest.param("GET http://{host}/admin/stats HTTP/1.1", "", id="absolute-form"),
    pytest.param("GET https://evil.example/admin/stats HTTP/1.1", "", id="absolute-other-host"),
    pytest.param("GET admin/stats HTTP/1.1", "", id="no-leading-slash"),
    pytest.param("GET /x/admin/stats HTTP/1.1", "", id="app-root-path"),
    pytest.param("GET /x/ADMIN/stats HTTP/1.1", "", id="app-root-path-upper"),
    pytest.param("GET /xadmin/stats HTTP/1.1", "", id="app-root-path-no-boundary"),
    pytest.param("GET /health/admin/stats HTTP/1.1", "", id="public-prefix"),
    pytest.param(
        "GET /admin/stats HTTP/1.1", "\r\nDaphne-Root-Path: /admin", id="client-root-admin"
    ),
    pytest.param(
        "GET /health/admin/stats HTTP/1.1", "\r\nDaphne-Root-Path: /health", id="client-root-health"
    ),
    pytest.param(
        "GET /healthadmin/stats HTTP/1.1",
        "\r\nDaphne-Root-Path: /health",
        id="client-root-no-boundary",
    ),
    pytest.param(
        "GET /x/public/admin/stats HTTP/1.1",
        "\r\nDaphne-Root-Path: /public",
        id="client-root-anywhere",
    ),
    pytest.param("OPTIONS /admin/stats HTTP/1.1", PREFLIGHT, id="fake-preflight"),
    pytest.param(
        "DELETE /admin/stats HTTP/1.1",
        "\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: DELETE",
        id="preflight-headers-on-delete",
    ),
]


@pytest.mark.parametrize(("server", "framework"), PAIRS)
@pytest.mark.parametrize(("request_line", "extra"), ATTACKS)
def test_no_spelling_reaches_the_admin_handler_without_an_admin_token(
    fleet: Fleet, minter: Gate, server: str, framework: str, request_line: str, extra: str
) -> None:
    """Without a token, or with a user-table token, no spelling runs an admin handler."""
    reached = []
    for credential in ("", _bearer(minter, "user")):
        head = f"{request_line}\r\nHost: {{host}}{extra}{credential}"
        reply = _send(fleet, server, framework, head)
        if reply.handled == "admin":
            reached.append(("user token" if credential else "no token", reply.status))
    assert not reached, f"{request_line!r} reached the admin handler: {reached}"
