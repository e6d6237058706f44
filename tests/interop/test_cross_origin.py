"""SPEC §Rules (cross-origin browser apps) and §Transports: a page on one origin signs up, logs in
and calls a gated API on another origin, in headless Chromium.

The page (``tests/support/cross_origin.html``) is served by a static server on port A and
loaded as ``http://localhost:A``; each API runs under a real server on its own port B: Starlette
and FastAPI under uvicorn with Starlette's ``CORSMiddleware`` wrapped around the gated app,
Django under gunicorn with django-cors-headers' ``CorsMiddleware`` above the gate's
``JWEGateMiddleware``, Flask under waitress with the integration installed and flask-cors'
``CORS(app)``. Bearer APIs are called as
``http://127.0.0.1:B`` (another site, which headers do not care about); cookie APIs as
``http://localhost:B``, the same site as the page (cookies ignore ports), the way
``app.example.com`` calls ``api.example.com``; the cross-site cookie cases load the page as
``http://127.0.0.1:A``. Servers and the browser start once per module. The browser tests never
skip: without Debian's ``chromium`` and ``chromium-driver`` they fail.

What a page's JavaScript can read is the point: a response without the CORS headers reaches the
page as a failed fetch (status 0), however right its status was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from support.cross_origin import (
    PASSWORD,
    Api,
    Flows,
    chromium,
    django_server,
    fastapi_api,
    flask_api,
    make_gate,
    page_server,
    starlette_cors_inside,
    starlette_cors_outside,
)
from support.servers import running_uvicorn, running_waitress

from jwe_gate import Cookies

BEARER = [
    pytest.param("starlette", id="starlette-uvicorn"),
    pytest.param("fastapi", id="fastapi-uvicorn"),
    pytest.param("django", id="django-gunicorn"),
    pytest.param("flask", id="flask-waitress"),
]
COOKIES = [
    pytest.param("starlette-cookies", id="starlette-uvicorn"),
    pytest.param("fastapi-cookies", id="fastapi-uvicorn"),
    pytest.param("django-cookies", id="django-gunicorn"),
    pytest.param("flask-cookies", id="flask-waitress"),
]
INSIDE = [
    pytest.param("starlette-inside", id="starlette-app-middleware"),
    pytest.param("django-wrapped", id="django-cors-headers-under-gate-wsgi"),
]


@pytest.fixture(scope="module")
def page_port() -> Iterator[int]:
    """The page's port; ``http://localhost:<port>`` and ``http://127.0.0.1:<port>`` are two
    origins of two sites."""
    with page_server() as port:
        yield port


@pytest.fixture(scope="module")
def apis(page_port: int) -> Iterator[dict[str, Api]]:
    """Every API, each allowing exactly one page origin."""
    page = f"http://localhost:{page_port}"
    other_site = f"http://127.0.0.1:{page_port}"
    lax = Cookies(secure=False)
    none = Cookies(secure=True, samesite="none")  # Chromium takes Secure from http://localhost
    with ExitStack() as stack:

        def serve(app: Any) -> int:
            return int(stack.enter_context(running_uvicorn(app)))

        found = {
            "starlette": Api(
                f"http://127.0.0.1:{serve(starlette_cors_outside(make_gate(), page))}", page
            ),
            "fastapi": Api(f"http://127.0.0.1:{serve(fastapi_api(make_gate(), page))}", page),
            "starlette-inside": Api(
                f"http://127.0.0.1:{serve(starlette_cors_inside(make_gate(), page))}", page
            ),
            "django": Api(f"http://127.0.0.1:{stack.enter_context(django_server(page))}", page),
            "django-wrapped": Api(
                f"http://127.0.0.1:{stack.enter_context(django_server(page, wrapped=True))}",
                page,
            ),
            "django-cookies": Api(
                f"http://localhost:{stack.enter_context(django_server(page, credentials=True))}",
                page,
            ),
        }
        trusting = Cookies(secure=False, trusted_origins=[page])  # WebSockets from the page
        for name, gate, origin in (
            ("starlette-cookies", make_gate(cookies=trusting), page),
            ("starlette-cookies-untrusting", make_gate(cookies=lax), page),
            ("cross-site-lax", make_gate(cookies=lax), other_site),
            ("cross-site-none", make_gate(cookies=none), other_site),
        ):
            app = starlette_cors_outside(gate, origin, credentials=True)
            found[name] = Api(f"http://localhost:{serve(app)}", origin)
        app = fastapi_api(make_gate(cookies=lax), page, credentials=True)
        found["fastapi-cookies"] = Api(f"http://localhost:{serve(app)}", page)
        for name, host, gate, credentials in (
            ("flask", "127.0.0.1", make_gate(), False),
            ("flask-cookies", "localhost", make_gate(cookies=lax), True),
        ):
            app = flask_api(gate, page, credentials=credentials)
            port = stack.enter_context(running_waitress(app))
            found[name] = Api(f"http://{host}:{port}", page)
        yield found


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory, apis: dict[str, Api]) -> Iterator[Flows]:
    """The module's browser: Chromium as Debian ships it."""
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield Flows(driver, apis)
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def permissive_flows(
    tmp_path_factory: pytest.TempPathFactory, apis: dict[str, Api]
) -> Iterator[Flows]:
    """A second browser whose user allows third-party cookies (only for the cross-site
    cookie cases: Chromium's default blocks them)."""
    prefs = {"profile.cookie_controls_mode": 0, "profile.block_third_party_cookies": False}
    driver = chromium(tmp_path_factory.mktemp("chromium-3p"), prefs)
    try:
        yield Flows(driver, apis)
    finally:
        driver.quit()


# -- bearer tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("api", BEARER)
def test_bearer_signup_and_login_are_readable(flows: Flows, api: str) -> None:
    """The gate's own answers to signup and login reach the page's JavaScript with the tokens."""
    seen = flows.run("bearerFlow", api)
    for step in ("signup", "login"):
        assert seen[step]["status"] == 200, seen[step]
        assert set(seen[step]["body"]) == {"authToken", "refreshToken"}


@pytest.mark.parametrize("api", BEARER)
def test_bearer_get_and_post_a_gated_route(flows: Flows, api: str) -> None:
    """With the token in ``Authorization`` (a preflighted request), /auth/me, a gated GET and a
    gated JSON POST answer the page as the app wrote them."""
    seen = flows.run("bearerFlow", api)
    assert seen["me"]["status"] == 200, seen["me"]
    assert seen["me"]["body"]["email"] == seen["email"]
    assert seen["get"] == {
        "status": 200,
        "body": {"user": seen["email"], "requestId": None},
        "wwwAuthenticate": None,
    }
    assert seen["post"]["status"] == 201, seen["post"]
    assert seen["post"]["body"] == {"user": seen["email"], "requestId": None, "created": "pen"}


@pytest.mark.parametrize("api", BEARER)
def test_bearer_custom_header_goes_through_the_preflight(flows: Flows, api: str) -> None:
    """A header the CORS middleware allows passes the preflight and reaches the handler; one
    it does not allow fails the preflight, so the browser never sends the request."""
    seen = flows.run("bearerFlow", api)
    assert seen["custom"]["status"] == 200, seen["custom"]
    assert seen["custom"]["body"]["requestId"] == "r-42"
    assert seen["unlisted"]["status"] == 0
    assert "Failed to fetch" in seen["unlisted"]["error"]


@pytest.mark.parametrize("api", BEARER)
@pytest.mark.parametrize(
    ("step", "status", "code", "challenge"),
    [
        pytest.param("anonymous", 401, "ERROR_CODE_UNAUTHORIZED", "Bearer", id="no-token"),
        pytest.param(
            "badToken",
            401,
            "ERROR_CODE_UNAUTHORIZED",
            'Bearer error="invalid_token"',
            id="invalid-token",
        ),
        pytest.param("badLogin", 403, "ERROR_CODE_ACCESS_DENIED", None, id="wrong-password"),
    ],
)
def test_bearer_refusals_are_readable(
    flows: Flows, api: str, step: str, status: int, code: str, challenge: str | None
) -> None:
    """The gate's refusals carry the CORS headers: the page reads the status, Xano's body and
    (exposed) ``WWW-Authenticate``."""
    seen = flows.run("bearerFlow", api)[step]
    assert seen["status"] == status, seen
    assert seen["body"]["code"] == code
    assert seen["wwwAuthenticate"] == challenge


@pytest.mark.parametrize("api", INSIDE)
def test_cors_middleware_inside_the_gate_hides_the_gates_answers(
    flows: Flows, apis: dict[str, Api], api: str
) -> None:
    """With the CORS middleware in the app's own stack (inside the gate), a token obtained
    elsewhere works (the gate answers the preflight, the app's middleware marks the response),
    but the gate's own answers (signup, login, every refusal) carry no CORS headers: the page
    can read none of them."""
    url = apis[api].url
    email = f"inside-{uuid.uuid4().hex[:8]}@example.com"
    signup = httpx.post(
        url + "/auth/signup",
        json={"name": "Ann", "email": email, "password": PASSWORD},
        timeout=10,
    )
    assert signup.status_code == 200, signup.text
    bearer = {"Authorization": f"Bearer {signup.json()['authToken']}"}
    got = flows.call(api, "/api/items", {"headers": bearer})
    assert got["status"] == 200, got
    assert got["body"]["user"] == email

    seen = flows.run("bearerFlow", api)
    for step in ("signup", "login", "anonymous", "badToken", "badLogin"):
        assert seen[step]["status"] == 0, (step, seen[step])


# -- cookies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", COOKIES)
def test_cookie_login_keeps_the_tokens_from_the_page(flows: Flows, api: str) -> None:
    """Signup and login answer the page (with ``csrfToken``); the tokens are in HttpOnly
    cookies the page's scripts cannot see, the CSRF cookie is readable (page and API share the
    host name here; cookies ignore ports)."""
    seen = flows.run("cookieFlow", api)
    for step in ("signup", "login"):
        assert seen[step]["status"] == 200, seen[step]
        assert seen[step]["body"]["csrfToken"]
    cookies = seen["pageCookies"].split("; ")
    assert f"jwe_csrf={seen['login']['body']['csrfToken']}" in cookies
    assert not [c for c in cookies if c.startswith(("jwe_access", "jwe_refresh"))]


@pytest.mark.parametrize("api", COOKIES)
def test_cookie_get_and_post_a_gated_route(flows: Flows, api: str) -> None:
    """With ``credentials: "include"``, the cookie authenticates /auth/me, a gated GET, a
    preflighted GET with a custom header, and a JSON POST echoing the CSRF token."""
    seen = flows.run("cookieFlow", api)
    assert seen["me"]["status"] == 200, seen["me"]
    assert seen["me"]["body"]["email"] == seen["email"]
    assert seen["get"]["status"] == 200, seen["get"]
    assert seen["get"]["body"] == {"user": seen["email"], "requestId": None}
    assert seen["custom"]["status"] == 200, seen["custom"]
    assert seen["custom"]["body"]["requestId"] == "r-42"
    assert seen["post"]["status"] == 201, seen["post"]
    assert seen["post"]["body"]["created"] == "pen"


@pytest.mark.parametrize("api", COOKIES)
@pytest.mark.parametrize(
    ("step", "status", "code"),
    [
        pytest.param("postWithoutCsrf", 403, "ERROR_CODE_ACCESS_DENIED", id="json-no-csrf"),
        pytest.param("formPost", 403, "ERROR_CODE_ACCESS_DENIED", id="simple-form-post"),
        pytest.param("withoutCredentials", 401, "ERROR_CODE_UNAUTHORIZED", id="no-cookies"),
    ],
)
def test_cookie_refusals_are_readable(
    flows: Flows, api: str, step: str, status: int, code: str
) -> None:
    """An unsafe method by cookie without the CSRF header (preflighted JSON, or a simple form
    POST that needs no preflight) is refused 403 before the app runs, and a request without
    credentials 401; the page reads each."""
    seen = flows.run("cookieFlow", api)[step]
    assert seen["status"] == status, seen
    assert seen["body"]["code"] == code


@pytest.mark.parametrize("api", COOKIES)
def test_cookie_refresh_and_logout(flows: Flows, api: str) -> None:
    """Refresh by cookie (with the CSRF header) answers a new token pair and the cookies keep
    working; logout answers 204 and clears them: /auth/me is then 401."""
    seen = flows.run("cookieFlow", api)
    assert seen["refresh"]["status"] == 200, seen["refresh"]
    assert seen["refresh"]["body"]["csrfToken"] == seen["login"]["body"]["csrfToken"]
    assert seen["afterRefresh"]["status"] == 200, seen["afterRefresh"]
    assert seen["logout"]["status"] == 204, seen["logout"]
    assert seen["afterLogout"]["status"] == 401, seen["afterLogout"]


@pytest.mark.parametrize(
    ("api", "accepted"),
    [
        pytest.param("starlette-cookies", True, id="trusted-origin"),
        pytest.param("starlette-cookies-untrusting", False, id="origin-not-trusted"),
    ],
)
def test_cookie_websocket_from_the_page(flows: Flows, api: str, accepted: bool) -> None:
    """CORS does not cover WebSockets: a handshake the access cookie authenticates is accepted
    from the page's origin only when ``Cookies(trusted_origins=...)`` lists it; otherwise the
    gate refuses it before accept (the browser sees 1006)."""
    seen = flows.run("socketFlow", api)
    assert seen["signup"]["status"] == 200, seen["signup"]
    expected = {"message": {"user": seen["email"]}} if accepted else {"closed": 1006}
    assert seen["socket"] == expected


@pytest.mark.parametrize(
    ("api", "permissive", "me"),
    [
        pytest.param("cross-site-lax", False, 401, id="lax"),
        pytest.param("cross-site-lax", True, 401, id="lax-third-party-cookies-allowed"),
        pytest.param("cross-site-none", False, 401, id="none-secure"),
        pytest.param("cross-site-none", True, 200, id="none-secure-third-party-cookies-allowed"),
    ],
)
def test_cookies_across_sites(
    request: pytest.FixtureRequest, api: str, permissive: bool, me: int
) -> None:
    """From a page of another site (``127.0.0.1`` calling ``localhost``), login answers, but
    its SameSite=Lax cookies never come back; SameSite=None; Secure cookies do only in a
    browser that allows third-party cookies, which Chromium by default does not."""
    flows: Flows = request.getfixturevalue("permissive_flows" if permissive else "flows")
    seen = flows.run("cookieFlow", api)
    assert seen["login"]["status"] == 200, seen["login"]
    assert seen["me"]["status"] == me, seen["me"]
    assert seen["get"]["status"] == me, seen["get"]


# -- preflights --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "credentials"),
    [
        *(pytest.param(p.values[0], False, id=f"bearer-{p.id}") for p in BEARER),
        *(pytest.param(p.values[0], True, id=f"cookies-{p.id}") for p in COOKIES),
    ],
)
@pytest.mark.parametrize(
    "path", [pytest.param("/api/items", id="gated"), pytest.param("/auth/login", id="endpoint")]
)
def test_preflight_allows_only_the_pages_origin(
    apis: dict[str, Api], api: str, credentials: bool, path: str
) -> None:
    """The CORS middleware, outside the gate, answers preflights: the page's origin gets the
    allowed methods and headers (and credentials, for a cookie API), another origin gets no
    CORS grant at all."""
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-request-id",
    }
    page = apis[api].page
    with httpx.Client(base_url=apis[api].url, timeout=10) as client:
        ours = client.options(path, headers={"Origin": page, **asked})
        theirs = client.options(path, headers={"Origin": "http://evil.test", **asked})
    assert ours.status_code == 200, ours.text
    assert ours.headers["access-control-allow-origin"] == page
    assert "x-request-id" in ours.headers["access-control-allow-headers"].lower()
    assert "POST" in ours.headers["access-control-allow-methods"]
    assert ours.headers.get("access-control-allow-credentials") == ("true" if credentials else None)
    assert "access-control-allow-origin" not in theirs.headers
