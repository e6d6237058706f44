"""SPEC §Rules (cross-origin browser apps) and §Transports: a page on one origin signs up, logs in
and calls a gated API on another origin, in headless Chromium.

The page (``tests/support/cross_origin.html``) is served by a static server at
``http://localhost:<A>``; each API runs under a real server on ``127.0.0.1:<B>``: Starlette and
FastAPI under uvicorn with Starlette's ``CORSMiddleware`` wrapped around the gated app, Django
under gunicorn with django-cors-headers. Servers and the browser start once per module. The
browser tests never skip: without Debian's ``chromium`` and ``chromium-driver`` they fail.

What a page's JavaScript can read is the point: a response without the CORS headers reaches the
page as a failed fetch (status 0), however right its status was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cross_origin import (
    django_server,
    fastapi_api,
    make_gate,
    page_server,
    starlette_cors_inside,
    starlette_cors_outside,
)
from support.servers import running_uvicorn

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "s3cret-pass1"

FRAMEWORKS = [
    pytest.param("starlette", id="starlette-uvicorn"),
    pytest.param("fastapi", id="fastapi-uvicorn"),
]
INSIDE = [
    pytest.param("starlette-inside", id="starlette-app-middleware"),
    pytest.param("django-wrapped", id="django-cors-headers-under-gate-wsgi"),
]

Results = dict[str, Any]


@pytest.fixture(scope="module")
def page() -> Iterator[str]:
    """The page's origin: ``localhost`` on its own port."""
    with page_server() as port:
        yield f"http://localhost:{port}"


@pytest.fixture(scope="module")
def apis(page: str) -> Iterator[dict[str, str]]:
    """Every API's origin (``127.0.0.1`` on its own port), each allowing only the page's."""
    with ExitStack() as stack:
        ports = {
            "starlette": stack.enter_context(
                running_uvicorn(starlette_cors_outside(make_gate(), page))
            ),
            "starlette-inside": stack.enter_context(
                running_uvicorn(starlette_cors_inside(make_gate(), page))
            ),
            "fastapi": stack.enter_context(running_uvicorn(fastapi_api(make_gate(), page))),
            "django-wrapped": stack.enter_context(django_server(page, wrapped=True)),
        }
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, page: str) -> Iterator[Any]:
    """Headless Chromium driven by selenium, on the page; missing Chromium is a failure,
    never a skip."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: install Debian's chromium and "
            "chromium-driver (apt-get install chromium chromium-driver; .ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(30)
    try:
        driver.get(page + "/")
        assert driver.title == "cross-origin page"
        yield driver
    finally:
        driver.quit()


class Flows:
    """Runs each of the page's flows once per API, on first use, and keeps what the page saw."""

    def __init__(self, browser: Any, apis: dict[str, str]) -> None:
        self.browser = browser
        self.apis = apis
        self._seen: dict[tuple[str, str], Results] = {}

    def run(self, flow: str, api: str) -> Results:
        if (flow, api) not in self._seen:
            email = f"{api}-{uuid.uuid4().hex[:8]}@example.com"
            script = f"{flow}(arguments[0], arguments[1], arguments[2]).then(arguments[3]);"
            results = self.browser.execute_async_script(script, self.apis[api], email, PASSWORD)
            results["email"] = email
            self._seen[flow, api] = results
        return self._seen[flow, api]

    def call(self, url: str, init: dict[str, Any]) -> Results:
        """One ``fetch`` from the page: what its JavaScript reads."""
        script = "call(arguments[0], arguments[1]).then(arguments[2]);"
        result: Results = self.browser.execute_async_script(script, url, init)
        return result


@pytest.fixture(scope="module")
def flows(browser: Any, apis: dict[str, str]) -> Flows:
    return Flows(browser, apis)


# -- bearer tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("api", FRAMEWORKS)
def test_bearer_signup_and_login_are_readable(flows: Flows, api: str) -> None:
    """The gate's own answers to signup and login reach the page's JavaScript with the tokens."""
    seen = flows.run("bearerFlow", api)
    for step in ("signup", "login"):
        assert seen[step]["status"] == 200, seen[step]
        assert set(seen[step]["body"]) == {"authToken", "refreshToken"}


@pytest.mark.parametrize("api", FRAMEWORKS)
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


@pytest.mark.parametrize("api", FRAMEWORKS)
def test_bearer_custom_header_goes_through_the_preflight(flows: Flows, api: str) -> None:
    """A header the CORS middleware allows passes the preflight and reaches the handler; one
    it does not allow fails the preflight, so the browser never sends the request."""
    seen = flows.run("bearerFlow", api)
    assert seen["custom"]["status"] == 200, seen["custom"]
    assert seen["custom"]["body"]["requestId"] == "r-42"
    assert seen["unlisted"]["status"] == 0
    assert "Failed to fetch" in seen["unlisted"]["error"]


@pytest.mark.parametrize("api", FRAMEWORKS)
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
    flows: Flows, apis: dict[str, str], api: str
) -> None:
    """With the CORS middleware in the app's own stack (inside the gate), a token obtained
    elsewhere works (the gate answers the preflight, the app's middleware marks the response),
    but the gate's own answers (signup, login, every refusal) carry no CORS headers: the page
    can read none of them."""
    url = apis[api]
    email = f"inside-{uuid.uuid4().hex[:8]}@example.com"
    signup = httpx.post(
        url + "/auth/signup", json={"name": "Ann", "email": email, "password": PASSWORD}
    )
    assert signup.status_code == 200, signup.text
    bearer = {"Authorization": f"Bearer {signup.json()['authToken']}"}
    got = flows.call(url + "/api/items", {"headers": bearer})
    assert got["status"] == 200, got
    assert got["body"]["user"] == email

    seen = flows.run("bearerFlow", api)
    for step in ("signup", "login", "anonymous", "badToken", "badLogin"):
        assert seen[step]["status"] == 0, (step, seen[step])


@pytest.mark.parametrize("api", FRAMEWORKS)
@pytest.mark.parametrize(
    "path", [pytest.param("/api/items", id="gated"), pytest.param("/auth/login", id="endpoint")]
)
def test_preflight_allows_only_the_pages_origin(
    apis: dict[str, str], page: str, api: str, path: str
) -> None:
    """The CORS middleware, outside the gate, answers preflights: the page's origin gets the
    allowed methods and headers, another origin gets no CORS grant at all."""
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-request-id",
    }
    with httpx.Client(base_url=apis[api], timeout=10) as client:
        ours = client.options(path, headers={"Origin": page, **asked})
        theirs = client.options(path, headers={"Origin": "http://evil.test", **asked})
    assert ours.status_code == 200, ours.text
    assert ours.headers["access-control-allow-origin"] == page
    assert "x-request-id" in ours.headers["access-control-allow-headers"].lower()
    assert "POST" in ours.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in ours.headers
    assert "access-control-allow-origin" not in theirs.headers
