"""§Integrations, Django: ``JWEGateMiddleware`` in a real Django handler stack (Django's test
``Client`` for the sync stack, ``AsyncClient`` for the async one, and Django's own WSGI and
ASGI handlers for the header lines): ``request.user`` and ``request.auth``, the SPEC's
refusals, the gate's endpoints (CSRF-exempt by construction), and the path Django routes on."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import argon2
import pytest
from support import django_env

django_env.configure()

from asgiref.sync import iscoroutinefunction  # noqa: E402
from asgiref.testing import ApplicationCommunicator  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import check_password  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import AsyncClient, Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from support.djangoapp import gates  # noqa: E402
from support.djangoapp.urls import COOKIE_LINES  # noqa: E402

from jwe_gate import Cookies, Gate, KeyRing, Rule, Table  # noqa: E402
from jwe_gate._sansio.http import Response  # noqa: E402
from jwe_gate.integrations.django import (  # noqa: E402
    DjangoBackend,
    JWEGateMiddleware,
    gate_from_settings,
    hasher,
    to_django,
)

User = get_user_model()
PASSWORD = "s3cret-pass1"
RULES = [
    Rule("/health", "public"),
    Rule("/cookies", "public"),
    Rule("/blog/**", "optional"),
]


@pytest.fixture
def gate() -> Iterator[Gate]:
    django_env.empty_database()
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", DjangoBackend())],
        rules=RULES,
        auth_routes={"/auth": "user"},
        hasher=hasher(parameters=argon2.profiles.CHEAPEST),
        max_body_bytes=4096,
    )
    with override_settings(JWE_GATE=gate):
        yield gate
    gate.close()
    django_env.empty_database()


Call = Callable[..., Any]


def sync_call(method: str, path: str, body: Any = None, **headers: str) -> Any:
    client = Client()
    if body is None:
        return getattr(client, method)(path, headers=headers)
    return getattr(client, method)(path, json.dumps(body), "application/json", headers=headers)


def async_call(method: str, path: str, body: Any = None, **headers: str) -> Any:
    # Headers per request: AsyncClient's default headers reach the scope as http-* names.
    async def run() -> Any:
        client = AsyncClient()
        if body is None:
            return await getattr(client, method)(path, headers=headers)
        return await getattr(client, method)(
            path, json.dumps(body), "application/json", headers=headers
        )

    return asyncio.run(run())


stacks = pytest.mark.parametrize(
    "call", [pytest.param(sync_call, id="sync"), pytest.param(async_call, id="async")]
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@stacks
def test_public_and_optional_paths_get_django_anonymous_user(gate: Gate, call: Call) -> None:
    """Without a token a public or optional path runs with Django's AnonymousUser and an
    empty request.auth."""
    for path in ("/health", "/blog/hello"):
        response = call("get", path)
        assert not response.has_header("Vary")  # no cookie transport: nothing to vary on
        body = response.json()
        assert body["class"] == "AnonymousUser"
        assert (body["authenticated"], body["anonymous"]) == (False, True)
        assert body["scopes"] == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-jwe"}, 401, id="garbage-token"),
        pytest.param({"X-Xano-Authorization": "Bearer x.y.z.w.v"}, 401, id="broken-jwe"),
    ],
)
@stacks
def test_protected_paths_refuse_as_the_spec_says(
    gate: Gate, call: Call, headers: dict[str, str], status: int
) -> None:
    """A protected path without a valid token gets the SPEC's 401 JSON body and
    WWW-Authenticate: Bearer, never the view."""
    response = call("get", "/api/me", **headers)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "ERROR_CODE_UNAUTHORIZED"
    assert "path_info" not in response.json()


@stacks
def test_request_user_carries_what_django_checks(gate: Gate, call: Call) -> None:
    """A valid token puts a GateUser on request.user: pk, username, flags from the record,
    permissions from the token's scopes, and the gate's AuthInfo on request.auth."""
    ann = User.objects.create_user("ann", "ann@example.com", PASSWORD, is_staff=True)
    token = gate.issue("user", ann.pk, extras={"scopes": ["blog.add_post"]})
    body = call("get", "/api/me", **bearer(token)).json()
    assert body == {
        "authenticated": True,
        "anonymous": False,
        "class": "GateUser",
        "pk": ann.pk,
        "id": ann.pk,
        "username": "ann",
        "str": "ann",
        "active": True,
        "staff": True,
        "superuser": False,
        "perm": True,
        "perms": False,
        "module": True,
        "scopes": ["authenticated", "blog.add_post"],
        "table": "user",
        "path_info": "/api/me",
    }
    assert call("get", "/staff", **bearer(token)).json() == {"staff": True}


@stacks
def test_superusers_have_every_permission_and_others_none(gate: Gate, call: Call) -> None:
    """As Django's ModelBackend: an active superuser has every permission; a user without
    scopes has none; a non-staff user is refused by the staff view."""
    boss = User.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    plain = User.objects.create_user("pat", "pat@example.com", PASSWORD)
    boss_body = call("get", "/api/me", **bearer(gate.issue("user", boss.pk))).json()
    assert (boss_body["perm"], boss_body["perms"], boss_body["module"]) == (True, True, True)
    plain_body = call("get", "/api/me", **bearer(gate.issue("user", plain.pk))).json()
    assert (plain_body["perm"], plain_body["perms"], plain_body["module"]) == (False, False, False)
    assert call("get", "/staff", **bearer(gate.issue("user", plain.pk))).status_code == 403


@stacks
def test_async_views_see_the_user(gate: Gate, call: Call) -> None:
    """An async view sees the same request.user."""
    ann = User.objects.create_user("ann", "ann@example.com", PASSWORD)
    body = call("get", "/api/async", **bearer(gate.issue("user", ann.pk))).json()
    assert (body["class"], body["pk"]) == ("GateUser", ann.pk)


@pytest.mark.parametrize(
    "path",
    [pytest.param("/guarded", id="sync-view"), pytest.param("/guarded-async", id="async-view")],
)
@stacks
def test_django_auth_decorators_see_the_gate_user(gate: Gate, call: Call, path: str) -> None:
    """login_required and permission_required (which await request.auser() and ahas_perms on
    async views) let a token with the permission's scope in, and refuse one without it."""
    ann = User.objects.create_user("ann", "ann@example.com", PASSWORD)
    allowed = gate.issue("user", ann.pk, extras={"scopes": ["blog.add_post"]})
    response = call("get", path, **bearer(allowed))
    assert (response.status_code, response.json()) == (200, {"user": "ann"})
    assert call("get", path, **bearer(gate.issue("user", ann.pk))).status_code == 403


@stacks
def test_the_gate_serves_its_endpoints(gate: Gate, call: Call) -> None:
    """signup, me, password, refresh and logout under /auth are answered by the gate: the
    SPEC's bodies, a Django user created, its password changed (Django's check_password
    verifies the new hash; the old token is revoked), its session ended by logout."""
    signup = call(
        "post", "/auth/signup", {"name": "Bo", "email": "bo@example.com", "password": PASSWORD}
    )
    assert signup.status_code == 200, signup.content
    pair = signup.json()
    assert User.objects.get(email="bo@example.com").first_name == "Bo"
    me = call("get", "/auth/me", **bearer(pair["authToken"]))
    assert me.status_code == 200
    assert me.json()["email"] == "bo@example.com"
    assert "password" not in me.json()
    again = call(
        "post", "/auth/signup", {"name": "X", "email": "BO@example.com", "password": PASSWORD}
    )
    assert (again.status_code, again.json()["code"]) == (403, "ERROR_CODE_ACCESS_DENIED")
    changed = call(
        "post",
        "/auth/password",
        {"password": PASSWORD, "newPassword": "n3w-password"},
        **bearer(pair["authToken"]),
    )
    assert changed.status_code == 200, changed.content
    assert check_password("n3w-password", User.objects.get(email="bo@example.com").password)
    assert call("get", "/auth/me", **bearer(pair["authToken"])).status_code == 401  # revoked
    pair = changed.json()
    fresh = call("post", "/auth/refresh", {"refreshToken": pair["refreshToken"]})
    assert fresh.status_code == 200
    token = fresh.json()["authToken"]
    assert call("post", "/auth/logout", {}, **bearer(token)).status_code == 204
    assert call("get", "/api/me", **bearer(token)).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b"{not json", 400, "ERROR_CODE_INPUT_ERROR", id="bad-json"),
        pytest.param(b'{"email": 1}', 400, "ERROR_CODE_INPUT_ERROR", id="bad-field"),
        pytest.param(b"x" * 5000, 413, "ERROR_CODE_INPUT_ERROR", id="too-large"),
    ],
)
@stacks
def test_bad_input_to_an_endpoint_gets_the_spec_answer(
    gate: Gate, call: Call, body: bytes, status: int, code: str
) -> None:
    """Malformed or oversized bodies get 400 / 413 with the SPEC's code, never a 500."""
    del call  # both stacks share read_body; the raw body needs the client directly
    for client in (Client(),):
        response = client.post("/auth/login", body, "application/json")
        assert (response.status_code, response.json()["code"]) == (status, code)
    response = asyncio.run(AsyncClient().post("/auth/login", body, "application/json"))
    assert (response.status_code, response.json()["code"]) == (status, code)


@pytest.mark.parametrize(
    "prefix", [pytest.param("", id="at-root"), pytest.param("/prefix", id="force-script-name")]
)
@stacks
def test_the_cookie_transport_works_through_django(call: Call, prefix: str) -> None:
    """With Gate(cookies=...), login's three Set-Cookie lines reach the client one by one (the
    refresh cookie's Path is the prefix the browser sees plus /auth), the access cookie then
    authenticates (its answer varies on ``Cookie``), and an unsafe method needs the gate's CSRF
    header."""
    django_env.empty_database()
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", DjangoBackend())],
        auth_routes={"/auth": "user"},
        hasher=hasher(parameters=argon2.profiles.CHEAPEST),
        cookies=Cookies(secure=False),
    )
    User.objects.create_user("ann", "ann@example.com", PASSWORD)
    # Under WSGI a proxy's prefix is gone from PATH_INFO; under ASGI Django strips it itself.
    sent = prefix if call is async_call else ""
    try:
        with override_settings(JWE_GATE=gate, FORCE_SCRIPT_NAME=prefix or None):
            answer = call(
                "post", f"{sent}/auth/login", {"email": "ann@example.com", "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.content
            lines = [m.output(header="").strip() for m in answer.cookies.values()]
            paths = {line.split("=", 1)[0]: line for line in lines}
            assert sorted(paths) == ["jwe_access_user", "jwe_csrf", "jwe_refresh_user"]
            assert f"Path={prefix}/auth;" in paths["jwe_refresh_user"]
            assert "HttpOnly" in paths["jwe_access_user"]
            cookie = "; ".join(f"{m.key}={m.value}" for m in answer.cookies.values())
            me = call("get", f"{sent}/api/me", Cookie=cookie)
            assert (me.status_code, me.json()["username"]) == (200, "ann")
            assert "Cookie" in me["Vary"]  # a shared cache must not hand this page to another
            assert call("post", f"{sent}/api/post", {}, Cookie=cookie).status_code == 403
            csrf = answer.json()["csrfToken"]
            posted = call("post", f"{sent}/api/post", {}, Cookie=cookie, **{"X-CSRF-Token": csrf})
            assert posted.status_code == 200
    finally:
        gate.close()
        django_env.empty_database()


def test_gate_endpoints_pass_csrf_while_app_views_keep_it(gate: Gate) -> None:
    """With CSRF enforced, the gate's endpoints still answer (credentials are in the body or
    a bearer header, which a cross-site form cannot send); a project's own POST view keeps
    Django's CSRF check (mark token-only API views csrf_exempt)."""
    client = Client(enforce_csrf_checks=True)
    signup = client.post(
        "/auth/signup",
        json.dumps({"name": "Cy", "email": "cy@example.com", "password": PASSWORD}),
        "application/json",
    )
    assert signup.status_code == 200
    token = signup.json()["authToken"]
    assert (
        client.post("/api/post", "{}", "application/json", headers=bearer(token)).status_code == 403
    )
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_a_path_rewritten_below_the_gate_is_refused(gate: Gate) -> None:
    """If a middleware below the gate rewrites path_info (here /health, public, to /api/me),
    the router would match a path no rule was applied to: 400, never the view."""
    stack = [*django_env.MIDDLEWARE, "support.djangoapp.rewrite.RewriteHealthToApi"]
    with override_settings(MIDDLEWARE=stack):
        response = Client().get("/health")
    assert (response.status_code, response.json()["code"]) == (400, "ERROR_CODE_BAD_REQUEST")


@pytest.mark.parametrize(
    "handler", [pytest.param("wsgi", id="wsgi"), pytest.param("asgi", id="asgi")]
)
def test_repeated_set_cookie_lines_survive(gate: Gate, handler: str) -> None:
    """The gate's Response becomes an HttpResponse whose every Set-Cookie line goes out as its
    own header line, byte for byte (two for one name included), through Django's real WSGI
    and ASGI handlers; other repeated headers are joined."""
    if handler == "wsgi":
        captured: list[Any] = []
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/cookies",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "wsgi.input": __import__("io").BytesIO(b""),
            "wsgi.url_scheme": "http",
        }
        body = b"".join(WSGIHandler()(environ, lambda s, h: captured.extend(h)))
        headers = [(k.lower(), v.strip()) for k, v in captured]
    else:
        body, headers = asyncio.run(_asgi_get("/cookies"))
    assert body == b"ok"
    assert [v for k, v in headers if k == "set-cookie"] == list(COOKIE_LINES)
    assert [v for k, v in headers if k == "vary"] == ["Origin, Cookie"]


async def _asgi_get(path: str) -> tuple[bytes, list[tuple[str, str]]]:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    app: Any = ApplicationCommunicator(ASGIHandler(), scope)  # type: ignore[no-untyped-call]
    await app.send_input({"type": "http.request", "body": b""})
    start = await app.receive_output(10)
    chunks = [await app.receive_output(10)]
    while chunks[-1].get("more_body"):
        chunks.append(await app.receive_output(10))
    await app.wait(10)
    headers = [(k.decode().lower(), v.decode().strip()) for k, v in start["headers"]]
    return b"".join(c.get("body", b"") for c in chunks), headers


def test_cookie_lines_survive_copy_and_pickle() -> None:
    """A converted response's cookie lines come out the same after copy() and a pickle round
    trip (Django's cache middleware pickles responses)."""
    lines = tuple(("set-cookie", line) for line in COOKIE_LINES)
    response = to_django(Response(200, lines, b""))
    again = pickle.loads(pickle.dumps(response))  # noqa: S301 - our own bytes
    for cookies in (again.cookies, {k: m.copy() for k, m in response.cookies.items()}):
        assert [m.output(header="").strip() for m in cookies.values()] == list(COOKIE_LINES)


def test_the_middleware_follows_the_colour_of_its_stack(gate: Gate) -> None:
    """Given an async get_response it is a coroutine function (Django awaits it, no thread);
    given a sync one it is a plain callable."""

    async def async_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def sync_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert iscoroutinefunction(JWEGateMiddleware(async_view, gate=gate))
    assert not iscoroutinefunction(JWEGateMiddleware(sync_view, gate=gate))
    assert JWEGateMiddleware.sync_capable
    assert JWEGateMiddleware.async_capable


def test_jwe_gate_setting_takes_a_dotted_path(gate: Gate) -> None:
    """settings.JWE_GATE may name the gate by dotted path, or be the gate itself."""
    gates.current = gate
    try:
        with override_settings(JWE_GATE="support.djangoapp.gates.current"):
            assert gate_from_settings() is gate
    finally:
        gates.current = None
    assert gate_from_settings() is gate


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("os.path", id="not-a-gate"),
        pytest.param("support.djangoapp.gates.nothing", id="no-such-name"),
    ],
)
def test_a_bad_jwe_gate_setting_is_improperly_configured(value: str | None) -> None:
    """A missing or wrong JWE_GATE setting is Django's ImproperlyConfigured at start-up."""
    with override_settings(JWE_GATE=value), pytest.raises(ImproperlyConfigured):
        JWEGateMiddleware(lambda request: HttpResponse())
