"""SPEC §Transports, cookies, through both adapters (Starlette and Flask behind the gate) with a
browser-like cookie jar: the endpoints set, rotate and clear the cookies; the gate reads the
access cookie when no header token came, and asks every unsafe method for the CSRF token."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from support.apps import admins, users
from support.browser import Browser, set_cookies
from support.clients import wrap

from jwe_gate import Cookies, Gate, MemoryBackend, Table

PASSWORD = "correct horse 1"


def json_body(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture
def cookie_gate(make_auth_gate: Callable[..., Gate]) -> Gate:
    return make_auth_gate(cookies=Cookies(secure=False))


@pytest.fixture
def browser(cookie_gate: Gate, adapter: str) -> Browser:
    return Browser(wrap(cookie_gate, adapter))


def signed_in(browser: Browser, email: str = "carol@example.com") -> Browser:
    res = browser("POST", "/auth/signup", {"email": email, "password": PASSWORD})
    assert res.status == 200, res.json
    return browser


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        pytest.param("signup", {"email": "dan@example.com", "password": PASSWORD}, id="signup"),
        pytest.param("login", {"email": "carol@example.com", "password": PASSWORD}, id="login"),
        pytest.param("password", {"password": PASSWORD, "newPassword": "new pass 22"}, id="pw"),
        pytest.param("refresh", None, id="refresh"),
    ],
)
def test_token_answers_set_the_three_cookies(
    browser: Browser, endpoint: str, body: dict[str, Any] | None
) -> None:
    """Signup, login, password and refresh answer the JSON pair plus ``csrfToken``, and set the
    access, refresh and CSRF cookies, one ``Set-Cookie`` each, with their attributes."""
    signed_in(browser)
    res = browser("POST", f"/auth/{endpoint}", body, with_csrf=True)
    assert res.status == 200, res.json
    assert set(res.json) == {"authToken", "refreshToken", "csrfToken"}
    lines = [v for k, v in res.headers if k.lower() == "set-cookie"]
    assert len(lines) == 3
    cookies = set_cookies(res)
    access, refresh, csrf = (
        cookies[n] for n in ("jwe_access_user", "jwe_refresh_user", "jwe_csrf")
    )
    assert access.value == res.json["authToken"]
    assert refresh.value == res.json["refreshToken"]
    assert csrf.value == res.json["csrfToken"]
    assert access.attributes == {"max-age": "900", "path": "/", "httponly": "", "samesite": "Lax"}
    assert refresh.attributes == {
        "max-age": "2592000",
        "path": "/auth",
        "httponly": "",
        "samesite": "Lax",
    }
    assert csrf.attributes == {"max-age": "2592000", "path": "/", "samesite": "Lax"}


def test_the_cookie_alone_authenticates_a_get(browser: Browser) -> None:
    """After login no header is needed: the access cookie reaches the app as the user."""
    signed_in(browser)
    res = browser("GET", "/api/hello")
    assert res.status == 200
    assert res.handled
    assert res.json["record"]["email"] == "carol@example.com"
    me = browser("GET", "/auth/me")
    assert me.status == 200
    assert me.json["email"] == "carol@example.com"
    # The refresh cookie lives on the auth prefix: the app's own paths never receive it.
    assert "jwe_refresh_user" not in browser.header("/api/hello")
    assert "jwe_refresh_user" in browser.header("/auth/refresh")


@pytest.mark.parametrize(
    ("csrf", "status"),
    [
        pytest.param(None, 403, id="without"),
        pytest.param("wrong", 403, id="wrong"),
        pytest.param("", 403, id="empty"),
        pytest.param("{token}", 200, id="right"),
    ],
)
def test_an_unsafe_method_by_cookie_needs_the_csrf_header(
    browser: Browser, csrf: str | None, status: int
) -> None:
    """A cookie-authenticated POST passes only with the CSRF token echoed in its header."""
    signed_in(browser)
    headers = [] if csrf is None else [("X-CSRF-Token", csrf.format(token=browser.csrf))]
    res = browser("POST", "/api/hello", headers=headers)
    assert res.status == status
    assert res.handled is (status == 200)
    if status == 403:
        assert res.json["code"] == "ERROR_CODE_ACCESS_DENIED"


def test_a_header_token_beats_the_cookie_and_needs_no_csrf(
    browser: Browser, cookie_gate: Gate
) -> None:
    """With a header token the cookie is not read: the header's user, no CSRF asked."""
    signed_in(browser)
    header = [("Authorization", f"Bearer {cookie_gate.issue('user', 2)}")]
    res = browser("POST", "/api/hello", headers=header)
    assert res.status == 200
    assert res.json["record"]["id"] == 2


def test_refresh_by_cookie_rotates_and_resets_the_cookies(browser: Browser) -> None:
    """An empty-body refresh with the CSRF header spends the refresh cookie: new access and
    refresh cookies, the same session's CSRF token, and the old access token's session live."""
    signed_in(browser)
    before = dict(browser.jar)
    assert browser("POST", "/auth/refresh").status == 403  # no CSRF header: nothing spent
    res = browser("POST", "/auth/refresh", with_csrf=True)
    assert res.status == 200
    new = set_cookies(res)
    assert new["jwe_refresh_user"].value != before[("jwe_refresh_user", "/auth")].value
    assert new["jwe_access_user"].value != before[("jwe_access_user", "/")].value
    assert new["jwe_csrf"].value == before[("jwe_csrf", "/")].value
    assert browser("GET", "/api/hello").status == 200


def test_reuse_of_a_spent_refresh_cookie_ends_the_session(browser: Browser) -> None:
    """The spent refresh cookie presented again (past the grace window) revokes the family:
    401 with the cookies cleared, and the rotated tokens die with it."""
    signed_in(browser)
    stolen = Browser(browser.client, dict(browser.jar), browser.csrf)
    assert browser("POST", "/auth/refresh", with_csrf=True).status == 200
    assert browser("POST", "/auth/refresh", with_csrf=True).status == 200  # the child spent too
    res = stolen("POST", "/auth/refresh", with_csrf=True)
    assert res.status == 401
    assert {c.attributes["max-age"] for c in set_cookies(res).values()} == {"0"}
    assert stolen.jar == {}
    assert browser("POST", "/auth/refresh", with_csrf=True).status == 401
    assert browser("GET", "/api/hello").status == 401


def test_a_body_refresh_token_needs_no_csrf_and_still_sets_cookies(browser: Browser) -> None:
    """``refreshToken`` in the body wins over the cookie, needs no CSRF, and the answer sets
    the cookies like any other."""
    res = signed_in(browser).last
    assert res is not None
    token = res.json["refreshToken"]
    ans = browser("POST", "/auth/refresh", {"refreshToken": token})
    assert ans.status == 200
    assert set(set_cookies(ans)) == {"jwe_access_user", "jwe_refresh_user", "jwe_csrf"}


def test_logout_by_cookie_clears_the_cookies_and_ends_the_session(browser: Browser) -> None:
    """Logout with the CSRF header: 204, the three cookies cleared, the session over."""
    signed_in(browser)
    kept = Browser(browser.client, dict(browser.jar), browser.csrf)
    assert browser("POST", "/auth/logout").status == 403  # no CSRF: nothing ended
    assert browser("GET", "/api/hello").status == 200
    res = browser("POST", "/auth/logout", with_csrf=True)
    assert res.status == 204
    cleared = set_cookies(res)
    assert set(cleared) == {"jwe_access_user", "jwe_refresh_user", "jwe_csrf"}
    assert {c.value for c in cleared.values()} == {""}
    assert cleared["jwe_refresh_user"].path == "/auth"
    assert browser.jar == {}
    assert kept("GET", "/api/hello").status == 401
    # The session was already ended: logging out again (idempotent) still clears the cookies.
    again = kept("POST", "/auth/logout", with_csrf=True)
    assert again.status == 204
    assert set(set_cookies(again)) == {"jwe_access_user", "jwe_refresh_user", "jwe_csrf"}
    assert kept.jar == {}


def test_logout_with_an_expired_access_cookie_uses_the_refresh_cookie(
    cookie_gate: Gate, adapter: str
) -> None:
    """An expired access cookie does not stop logout: the refresh cookie (with the CSRF
    header) ends the session and the cookies go."""
    now = [time.time()]
    gate = Gate(
        keys=cookie_gate.keys,
        tables=list(cookie_gate.tables.values()),
        auth_routes={"/auth": "user"},
        hasher=cookie_gate.hasher,
        cookies=Cookies(secure=False),
        clock=lambda: now[0],
    )
    browser = signed_in(Browser(wrap(gate, adapter)))
    now[0] += 3600
    assert browser("GET", "/api/hello").status == 401
    res = browser("POST", "/auth/logout", with_csrf=True)
    assert res.status == 204
    assert browser.jar == {}


def test_a_password_change_resets_the_cookies(browser: Browser) -> None:
    """The change answers a new session in new cookies; the old refresh cookie is dead."""
    signed_in(browser)
    old = Browser(browser.client, dict(browser.jar), browser.csrf)
    body = {"password": PASSWORD, "newPassword": "another pass 3"}
    assert browser("POST", "/auth/password", body).status == 403  # no CSRF header
    res = browser("POST", "/auth/password", body, with_csrf=True)
    assert res.status == 200
    assert set(set_cookies(res)) == {"jwe_access_user", "jwe_refresh_user", "jwe_csrf"}
    assert browser.csrf != old.csrf
    assert browser("POST", "/api/hello", with_csrf=True).status == 200
    assert old("POST", "/auth/refresh", with_csrf=True).status == 401


def test_a_user_and_an_admin_in_one_browser(cookie_gate: Gate, adapter: str) -> None:
    """Per-table cookies and one CSRF cookie holding each table's entry: both stay signed in,
    and the CSRF token a page got before the other login still works."""
    cookie_gate.tables["admin"].create(
        {"email": "boss@example.com", "password": cookie_gate.hasher.hash(PASSWORD)}
    )
    browser = signed_in(Browser(wrap(cookie_gate, adapter)))
    user_csrf = browser.csrf
    login = browser(
        "POST", "/admin/auth/login", {"email": "boss@example.com", "password": PASSWORD}
    )
    assert login.status == 200
    assert browser.cookie("jwe_access_user")
    assert browser.cookie("jwe_access_admin")
    assert browser("GET", "/admin/stats").status == 200
    assert browser("POST", "/api/hello", with_csrf=True).status == 200
    assert browser("POST", "/api/hello", headers=[("X-CSRF-Token", str(user_csrf))]).status == 200
    assert browser("POST", "/admin/auth/logout", with_csrf=True).status == 204
    assert browser.cookie("jwe_access_admin") is None
    assert browser("POST", "/api/hello", with_csrf=True).status == 200


def test_the_csrf_cookie_outlives_every_session_it_serves(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """An admin (1-hour sessions) signing in and out beside a user (30 days) leaves the CSRF
    cookie, which holds the user's entry, as long-lived as the user's refresh cookie: else the
    user's refresh and logout by cookie would be refused (403) once it expired."""
    gate = make_auth_gate(
        cookies=Cookies(secure=False),
        tables=[
            Table("user", MemoryBackend(users())),
            Table("admin", MemoryBackend(admins()), refresh_ttl=3600),
        ],
    )
    gate.tables["admin"].create({"email": "b@example.com", "password": gate.hasher.hash(PASSWORD)})
    browser = signed_in(Browser(wrap(gate, adapter)))
    month = str(30 * 24 * 3600)
    login = browser("POST", "/admin/auth/login", {"email": "b@example.com", "password": PASSWORD})
    assert login.status == 200
    assert set_cookies(login)["jwe_refresh_admin"].attributes["max-age"] == "3600"
    assert set_cookies(login)["jwe_csrf"].attributes["max-age"] == month
    logout = browser("POST", "/admin/auth/logout", with_csrf=True)
    assert logout.status == 204
    assert set_cookies(logout)["jwe_csrf"].attributes["max-age"] == month


def test_a_narrow_cookie_path_still_lets_refresh_and_logout_work(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """``Cookies(path="/api")``: the CSRF cookie still reaches the auth prefix (its path is
    the common parent of both), so refresh and logout by cookie work and logout clears it."""
    gate = make_auth_gate(cookies=Cookies(secure=False, path="/api"))
    browser = signed_in(Browser(wrap(gate, adapter)))
    assert browser.last is not None
    assert set_cookies(browser.last)["jwe_access_user"].path == "/api"
    assert browser("POST", "/api/hello", with_csrf=True).status == 200
    res = browser("POST", "/auth/refresh", with_csrf=True)
    assert res.status == 200, res.json
    res = browser("POST", "/auth/logout", with_csrf=True)
    assert res.status == 204, res.json
    assert browser.jar == {}


def test_under_a_mount_point_the_refresh_cookie_carries_it(cookie_gate: Gate, adapter: str) -> None:
    """Served under a mount point (ASGI ``root_path``, WSGI ``SCRIPT_NAME``), the refresh
    cookie's ``Path`` is the auth prefix the browser sees, the mount point included."""
    client = wrap(cookie_gate, adapter)
    body = json_body({"email": "erin@example.com", "password": PASSWORD})
    res = client("POST", "/auth/signup", [("Content-Type", "application/json")], "/srv", body=body)
    assert res.status == 200, res.json
    assert set_cookies(res)["jwe_refresh_user"].path == "/srv/auth"


def test_two_different_access_cookies_are_ambiguous(browser: Browser, cookie_gate: Gate) -> None:
    """Two values of the access cookie (another Path or Domain, or planted) are a 400 naming
    it; the same value twice is one cookie."""
    signed_in(browser)
    token = browser.cookie("jwe_access_user")
    other = cookie_gate.issue("user", 2)
    res = browser.client(
        "GET", "/api/hello", [("Cookie", f"jwe_access_user={other}; jwe_access_user={token}")]
    )
    assert res.status == 400
    assert res.json["payload"] == {"param": "jwe_access_user"}
    same = browser.client(
        "GET", "/api/hello", [("Cookie", f"jwe_access_user={token}; jwe_access_user={token}")]
    )
    assert same.status == 200


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param("Z" * 26, id="no-table-tag"),
        pytest.param('a b"c<d>e\\f' + "x" * 15, id="not-base64url"),
        pytest.param("\u00e9" * 26, id="not-ascii"),
    ],
)
def test_a_planted_csrf_entry_is_not_kept(browser: Browser, planted: str) -> None:
    """A ``jwe_csrf`` cookie another host planted, with an entry of no table of ours, is not
    copied into the CSRF cookie a login sets (which a page echoes in its header)."""
    body = json_body({"email": "pl@example.com", "password": PASSWORD})
    headers = [("Cookie", f"jwe_csrf={planted}"), ("Content-Type", "application/json")]
    res = browser.client("POST", "/auth/signup", headers, body=body)
    assert res.status == 200, res.json
    assert set_cookies(res)["jwe_csrf"].value == res.json["csrfToken"]
    assert "." not in res.json["csrfToken"]


@pytest.mark.parametrize(
    ("method", "path", "cookie", "csrf", "expected"),
    [
        pytest.param("GET", "/blog/x", None, False, "anonymous", id="optional-no-cookie"),
        pytest.param("GET", "/blog/x", "junk", False, 401, id="optional-bad-cookie-401"),
        pytest.param("GET", "/blog/x", "ended", False, 401, id="optional-ended-session-401"),
        pytest.param("GET", "/blog/x", "live", False, "user", id="optional-cookie-get"),
        pytest.param("POST", "/blog/x", "live", False, 403, id="optional-post-needs-csrf"),
        pytest.param("POST", "/blog/x", "live", True, "through", id="optional-post-with-csrf"),
        pytest.param("GET", "/health", "junk", False, "anonymous", id="public-ignores-cookie"),
        pytest.param("POST", "/public/x", "live", False, "through", id="public-post-no-csrf"),
    ],
)
def test_optional_and_public_rules_by_cookie(
    browser: Browser, method: str, path: str, cookie: str | None, csrf: bool, expected: Any
) -> None:
    """SPEC §Rules with cookies: on ``optional`` no cookie is anonymous, a present but invalid
    (or ended) one is 401, an unsafe method still needs the CSRF token; ``public`` reads none."""
    signed_in(browser)
    live, token = browser.cookie("jwe_access_user"), browser.csrf
    if cookie == "ended":
        assert browser("POST", "/auth/logout", with_csrf=True).status == 204
    value = {"junk": "junk", "ended": live}.get(cookie or "")
    jar = browser.header(path) if cookie == "live" else f"jwe_access_user={value}"
    headers = [("Cookie", jar)] if cookie else []
    if csrf:
        headers.append(("X-CSRF-Token", str(token)))
    res = browser.client(method, path, headers)
    if isinstance(expected, int):
        assert (res.status, res.handled) == (expected, False)
    elif expected == "through":  # the gate let it pass (Starlette's routes may 405 a POST)
        assert res.status in (200, 405)
    else:
        assert res.status == 200
        assert res.json["authenticated"] is (expected == "user")


def test_cookie_mode_off_ignores_cookies(make_auth_gate: Callable[..., Gate], adapter: str) -> None:
    """Without ``cookies=``: no ``Set-Cookie``, no ``csrfToken``, and a cookie is no
    credential (401), nor is refresh read from one."""
    browser = signed_in(Browser(wrap(make_auth_gate(), adapter)))
    res = browser.last
    assert res is not None
    assert set(res.json) == {"authToken", "refreshToken"}
    assert set_cookies(res) == {}
    jar = f"jwe_access_user={res.json['authToken']}; jwe_refresh_user={res.json['refreshToken']}"
    assert browser.client("GET", "/api/hello", [("Cookie", jar)]).status == 401
    refresh = browser.client("POST", "/auth/refresh", [("Cookie", jar)], body=b"{}")
    assert refresh.status == 400
    assert refresh.json["payload"] == {"param": "refreshToken"}


def test_refresh_without_any_credential_is_400(browser: Browser) -> None:
    """Cookie mode, no body and no refresh cookie: the missing ``refreshToken`` (400)."""
    res = browser("POST", "/auth/refresh")
    assert res.status == 400
    assert res.json["payload"] == {"param": "refreshToken"}


def test_logout_with_an_unknown_refresh_cookie_is_401_and_clears(
    browser: Browser, cookie_gate: Gate
) -> None:
    """A refresh cookie naming no session (with its valid CSRF token): 401, cookies cleared."""
    from jwe_gate._endpoints.sessions import _family_of
    from jwe_gate._sansio.request import RequestView

    assert cookie_gate.cookies is not None
    token = "A" * 43
    csrf = cookie_gate.cookies.csrf_value(RequestView("GET", "/"), "user", _family_of(token))
    jar = f"jwe_refresh_user={token}; jwe_csrf={csrf}"
    res = browser.client("POST", "/auth/logout", [("Cookie", jar), ("X-CSRF-Token", csrf)])
    assert res.status == 401
    assert res.json["message"] == "Invalid refresh token."
    assert {c.attributes["max-age"] for c in set_cookies(res).values()} == {"0"}
    # The same cookie without the CSRF header: 403, and nothing cleared (no logout CSRF).
    bare = browser.client("POST", "/auth/logout", [("Cookie", jar)])
    assert bare.status == 403
    assert set_cookies(bare) == {}


def test_openapi_documents_the_cookie_transport() -> None:
    """With cookies on, the document (still valid OpenAPI 3.1) names each table's cookies and
    the CSRF header as security schemes, lets refresh go without a body, and adds the
    optional ``csrfToken``; with cookies off none of it appears."""
    from openapi_spec_validator import validate

    from jwe_gate import KeyRing, MemoryBackend, Table

    def document(cookies: Cookies | None) -> dict[str, Any]:
        return Gate(
            keys=KeyRing.generate(),
            tables=[Table("user", MemoryBackend()), Table("admin", MemoryBackend())],
            auth_routes={"/auth": "user", "/admin/auth": "admin"},
            cookies=cookies,
        ).openapi()

    on = document(Cookies(csrf_header="X-My-CSRF"))
    validate(on)
    schemes = on["components"]["securitySchemes"]
    assert schemes["cookie_admin"] == {"type": "apiKey", "in": "cookie", "name": "jwe_access_admin"}
    assert schemes["refresh_cookie_user"]["name"] == "jwe_refresh_user"
    assert schemes["csrf"]["name"] == "X-My-CSRF"
    assert on["paths"]["/auth/me"]["get"]["security"][-1] == {"cookie_user": []}
    assert {"cookie_user": [], "csrf": []} in on["paths"]["/auth/password"]["post"]["security"]
    refresh = on["paths"]["/admin/auth/refresh"]["post"]
    assert refresh["security"] == [{}, {"refresh_cookie_admin": [], "csrf": []}]
    assert refresh["requestBody"]["required"] is False
    # A missing CSRF token, or another site's Origin at sign-in: 403 on every POST.
    assert all(
        "403" in on["paths"][f"/auth/{e}"]["post"]["responses"] for e in ("refresh", "logout")
    )
    pair = on["components"]["schemas"]["TokenPair"]
    assert "csrfToken" in pair["properties"]
    assert "csrfToken" not in pair["required"]
    off = document(None)
    assert "csrf" not in off["components"]["securitySchemes"]
    assert "csrfToken" not in off["components"]["schemas"]["TokenPair"]["properties"]
