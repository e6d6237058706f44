"""SPEC §Transports, cookies, over real clients and servers: the literal ``Set-Cookie`` lines
uvicorn and waitress send, httpx's and Werkzeug's own cookie jars, and Cross-Site WebSocket
Hijacking refused under a real uvicorn with the ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support.apps import starlette_app
from support.servers import running_uvicorn
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin
from werkzeug.test import Client

from jwe_gate import Cookies, Gate, KeyRing

PASSWORD = "correct horse 1"
SIGNUP = b'{"email":"eve@example.com","password":"correct horse 1"}'


# -- raw HTTP under real servers ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw(port: int, head: str, body: bytes = b"") -> tuple[int, list[str], bytes]:
    """One request as typed; the status, every header line as sent, the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        extra = f"\r\nContent-Length: {len(body)}" if body else ""
        sock.sendall(f"{head}{extra}\r\nConnection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    return int(lines[0].split(" ")[1]), lines[1:], rest


SERVERS = {
    "uvicorn": lambda p: [
        *(sys.executable, "-m", "uvicorn", "support.cookie_app:asgi_app"),
        *("--host", "127.0.0.1", "--port", str(p), "--log-level", "warning"),
    ],
    "waitress": lambda p: [
        *(sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{p}"),
        "support.cookie_app:wsgi_app",
    ],
}


@pytest.fixture(scope="module")
def server_keys() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture(params=sorted(SERVERS), scope="module")
def server(request: pytest.FixtureRequest, server_keys: KeyRing) -> Iterator[int]:
    """The cookie-mode apps under a real server (subprocess); yields its port."""
    tests = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "JWE_GATE_KEYS": server_keys.to_json(), "PYTHONPATH": tests}
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            SERVERS[request.param](port), env=env, cwd=tests, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, f"{request.param} exited"
                try:
                    if raw(port, "GET /health HTTP/1.1\r\nHost: app.test")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"{request.param} did not start"
                time.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


def test_real_servers_send_each_set_cookie_line(server: int) -> None:
    """uvicorn and waitress send the three cookies as three literal ``Set-Cookie`` lines, and
    the cookies then authenticate raw requests (CSRF asked on a POST)."""
    head = "POST /auth/signup HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json"
    status, lines, body = raw(server, head, SIGNUP.replace(b"eve", f"eve{server}".encode()))
    assert status == 200, body
    cookies = [
        line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("set-cookie:")
    ]
    assert len(cookies) == 3
    access, refresh, csrf = cookies
    assert access.startswith("jwe_access_user=ey")
    assert access.endswith("; Max-Age=900; Path=/; HttpOnly; SameSite=Lax")
    assert refresh.endswith("; Max-Age=2592000; Path=/auth; HttpOnly; SameSite=Lax")
    assert csrf.startswith("jwe_csrf=")
    assert csrf.endswith("; Max-Age=2592000; Path=/; SameSite=Lax")
    jar = "; ".join(c.split(";")[0] for c in (access, csrf))
    token = csrf.split(";")[0].partition("=")[2]
    get = raw(server, f"GET /api/hello HTTP/1.1\r\nHost: app.test\r\nCookie: {jar}")
    assert get[0] == 200
    post = f"POST /api/hello HTTP/1.1\r\nHost: app.test\r\nCookie: {jar}"
    assert raw(server, post)[0] == 403
    assert raw(server, f"{post}\r\nX-CSRF-Token: {token}")[0] == 200


_ACCOUNTS: dict[tuple[int, str], tuple[str, str, bytes]] = {}
"""One signup per server and name: the servers live for the module, and signups are
throttled per address."""


def _signed_up(port: int, name: str) -> tuple[str, str, bytes]:
    """``name`` signed up over raw HTTP (once per server): its access token and CSRF token,
    from the cookies, and its signup body (to log in again with)."""
    if (port, name) not in _ACCOUNTS:
        head = "POST /auth/signup HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json"
        body = SIGNUP.replace(b"eve", f"{name}{uuid.uuid4().hex[:8]}".encode())
        status, lines, answer = raw(port, head, body)
        assert status == 200, answer
        found = dict(
            line.split(":", 1)[1].strip().split(";")[0].split("=", 1)
            for line in lines
            if line.lower().startswith("set-cookie:")
        )
        _ACCOUNTS[port, name] = (found["jwe_access_user"], found["jwe_csrf"], body)
    return _ACCOUNTS[port, name]


@pytest.mark.parametrize(
    ("cookie", "status"),
    [
        pytest.param("jwe_access_user={a}", 200, id="the-cookie"),
        pytest.param("x=a,jwe_access_user={a}", 401, id="inside-another-value"),
        pytest.param("x=a, jwe_access_user={a}", 401, id="inside-another-value-spaced"),
        pytest.param("jwe_access_user={a}; x=a,jwe_access_user={b}", 200, id="beside-the-cookie"),
    ],
)
def test_a_comma_in_another_cookie_is_not_a_cookie(server: int, cookie: str, status: int) -> None:
    """Browsers keep commas in cookie values (a sibling subdomain's ``x=a,__Host-t=...``
    reaches the app as one cookie ``x``, as Werkzeug, Starlette and Django parse it): the gate
    never reads a credential cookie out of another cookie's value."""
    access, _, _ = _signed_up(server, "comma")
    other, _, _ = _signed_up(server, "other")
    jar = cookie.format(a=access, b=other)
    got = raw(server, f"GET /api/hello HTTP/1.1\r\nHost: app.test\r\nCookie: {jar}")
    assert got[0] == status, got[2]
    if status == 200:
        assert b"comma" in got[2]


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("post", id="lower-case"),
        pytest.param("PoSt", id="mixed-case"),
        pytest.param("PROPFIND", id="extension-method"),
        pytest.param("GETX", id="get-prefixed"),
    ],
)
def test_every_unsafe_spelling_needs_the_csrf_token(server: int, method: str) -> None:
    """However the method is spelled, anything but GET, HEAD, OPTIONS and TRACE that the
    cookie authenticates never reaches the app without the CSRF token (the gate's 403)."""
    access, _, _ = _signed_up(server, "method")
    head = f"{method} /api/hello HTTP/1.1\r\nHost: app.test\r\nCookie: jwe_access_user={access}"
    status, lines, body = raw(server, head)
    # The servers refuse some spellings themselves (400: lower case; GETX under httptools).
    assert status in (400, 403), body
    assert not [line for line in lines if line.lower().startswith("x-handled")]
    assert status == 400 or b"ERROR_CODE_ACCESS_DENIED" in body


PLAIN, FORM, JSON = "text/plain", "application/x-www-form-urlencoded", "application/json"


@pytest.mark.parametrize(
    ("endpoint", "origin", "content_type", "status"),
    [
        pytest.param("login", "http://evil.test", PLAIN, 403, id="login-from-another-site"),
        pytest.param("login", "http://evil.test", FORM, 403, id="login-urlencoded-form"),
        pytest.param("login", "null", PLAIN, 403, id="login-from-an-opaque-origin"),
        pytest.param("login", "http://sub.app.test", PLAIN, 403, id="login-from-a-sibling"),
        pytest.param("login", "http://app.test", PLAIN, 200, id="login-from-our-origin"),
        pytest.param("login", None, PLAIN, 200, id="login-without-origin"),
        pytest.param(
            "login", "http://ui.test", f"{JSON}; charset=utf-8", 200, id="login-json-preflighted"
        ),
        pytest.param("signup", "http://evil.test", PLAIN, 403, id="signup-from-another-site"),
        pytest.param("refresh", "http://evil.test", PLAIN, 403, id="body-refresh-another-site"),
        pytest.param("refresh", "http://app.test", PLAIN, 200, id="body-refresh-our-origin"),
        pytest.param(
            "refresh", "http://ui.test", f"{PLAIN}\r\nX-CSRF-Token: x", 200, id="preflighted-header"
        ),
    ],
)
def test_login_csrf_by_a_form_of_another_site_is_refused(
    server: int, endpoint: str, origin: str | None, content_type: str, status: int
) -> None:
    """Login CSRF: another site's ``<form enctype="text/plain">`` posting the attacker's
    credentials (or refresh token) as JSON would set the attacker's cookies in the victim's
    browser. In cookie mode the endpoints that set cookies without one refuse a foreign
    ``Origin`` (403, no ``Set-Cookie``) unless the body is declared JSON, which no form can
    send and another origin's script only after a CORS preflight the app allowed."""
    _, _, account = _signed_up(server, "victim")
    head = "POST /auth/login HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json"
    pair = raw(server, head, account)
    assert pair[0] == 200, pair[2]
    body = {
        "signup": account.replace(b"victim", b"new")[:-1] + b',"x":"="}',
        "login": account[:-1] + b',"x":"="}',
        "refresh": b'{"refreshToken":"%s","x":"="}' % json.loads(pair[2])["refreshToken"].encode(),
    }[endpoint]
    head = f"POST /auth/{endpoint} HTTP/1.1\r\nHost: app.test\r\nContent-Type: {content_type}"
    if origin is not None:
        head += f"\r\nOrigin: {origin}"
    got, lines, answer = raw(server, head, body)
    assert got == status, answer
    cookies = [line for line in lines if line.lower().startswith("set-cookie:")]
    assert len(cookies) == (3 if status == 200 else 0)


# -- the clients' own cookie jars ------------------------------------------------------------


def test_httpx_cookie_jar_through_the_asgi_adapter(make_auth_gate: Callable[..., Gate]) -> None:
    """httpx (ASGITransport) keeps the cookies by their attributes: login, then a GET with
    no header, a POST with the CSRF header, and a refresh on the refresh cookie alone."""
    gate = make_auth_gate(cookies=Cookies(secure=False))
    app = gate.asgi(starlette_app())

    async def story() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as c:
            res = await c.post("/auth/signup", json={"email": "h@x.io", "password": PASSWORD})
            assert res.status_code == 200
            csrf = res.json()["csrfToken"]
            assert (await c.get("/api/hello")).json()["record"]["email"] == "h@x.io"
            assert (await c.post("/api/hello")).status_code == 403
            assert (await c.post("/api/hello", headers={"X-CSRF-Token": csrf})).status_code == 200
            old = c.cookies.get("jwe_refresh_user", path="/auth")
            res = await c.post("/auth/refresh", headers={"X-CSRF-Token": c.cookies["jwe_csrf"]})
            assert res.status_code == 200
            assert c.cookies.get("jwe_refresh_user", path="/auth") not in (None, old)
            res = await c.post("/auth/logout", headers={"X-CSRF-Token": csrf})
            assert res.status_code == 204
            assert not c.cookies
            assert (await c.get("/api/hello")).status_code == 401

    asyncio.run(story())


def test_werkzeug_cookie_jar_through_the_wsgi_adapter(
    make_auth_gate: Callable[..., Gate],
) -> None:
    """Werkzeug's test client, with its cookie jar, through the WSGI adapter."""
    from support.apps import flask_app

    gate = make_auth_gate(cookies=Cookies(secure=False))
    c = Client(gate.wsgi(flask_app()))
    res = c.post("/auth/signup", json={"email": "w@x.io", "password": PASSWORD})
    assert res.status_code == 200
    assert len(res.headers.getlist("Set-Cookie")) == 3
    csrf = res.json["csrfToken"]  # type: ignore[index]
    assert c.get("/api/hello").json["record"]["email"] == "w@x.io"  # type: ignore[index]
    assert c.post("/api/hello").status_code == 403
    assert c.post("/api/hello", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.post("/auth/refresh", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert c.get_cookie("jwe_access_user") is None
    assert c.get("/api/hello").status_code == 401


# -- WebSockets: Cross-Site WebSocket Hijacking -------------------------------------------------


@pytest.fixture
def ws_server(make_auth_gate: Callable[..., Gate]) -> Iterator[tuple[Gate, str]]:
    gate = make_auth_gate(cookies=Cookies(secure=False, trusted_origins=["https://ui.test"]))
    app = gate.asgi(starlette_app())
    with running_uvicorn(app, ws="websockets-sansio") as port:
        yield gate, f"127.0.0.1:{port}"


def _cookie(gate: Gate) -> str:
    return f"jwe_access_user={gate.issue('user', 1)}"


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("http://{host}", id="same-origin"),
        pytest.param("https://ui.test", id="trusted-origin"),
    ],
)
def test_a_cookie_websocket_from_our_origin_is_accepted(
    ws_server: tuple[Gate, str], origin: str
) -> None:
    """A browser WebSocket carrying the access cookie, from our own (or a trusted) origin."""
    gate, host = ws_server
    with connect(
        f"ws://{host}/ws",
        origin=Origin(origin.format(host=host)),
        additional_headers={"Cookie": _cookie(gate)},
        open_timeout=5,
    ) as ws:
        assert ws.recv(timeout=5) == '{"user":"1"}'


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("http://evil.test", id="other-origin"),
        pytest.param(None, id="no-origin"),
        pytest.param("null", id="null-origin"),
        pytest.param("http://{host}@evil.test", id="userinfo"),
        pytest.param("http://evil.test@{host}", id="userinfo-host"),
        pytest.param("http://sub.{host}", id="subdomain"),
    ],
)
def test_a_cookie_websocket_from_elsewhere_is_refused(
    ws_server: tuple[Gate, str], origin: str | None
) -> None:
    """Cross-Site WebSocket Hijacking: the cookie with a foreign or missing ``Origin`` is
    refused before accept (403, ``ERROR_CODE_ACCESS_DENIED``)."""
    gate, host = ws_server
    with (
        pytest.raises(InvalidStatus) as info,
        connect(
            f"ws://{host}/ws",
            origin=None if origin is None else Origin(origin.format(host=host)),
            # What a proxy would say: the gate never takes the host from it.
            additional_headers={"Cookie": _cookie(gate), "X-Forwarded-Host": "evil.test"},
            open_timeout=5,
        ),
    ):
        pytest.fail("the WebSocket was accepted")  # pragma: no cover
    assert info.value.response.status_code == 403
    assert b"ERROR_CODE_ACCESS_DENIED" in info.value.response.body


def test_a_header_token_websocket_needs_no_origin(ws_server: tuple[Gate, str]) -> None:
    """A WebSocket with its token in a header (no browser can be tricked into that) is
    unaffected by the Origin check."""
    gate, host = ws_server
    with connect(
        f"ws://{host}/ws",
        origin=Origin("http://evil.test"),
        additional_headers={"Authorization": f"Bearer {gate.issue('user', 1)}"},
        open_timeout=5,
    ) as ws:
        assert ws.recv(timeout=5) == '{"user":"1"}'
