"""§Integrations, Flask: ``current_user``, ``current_auth``, ``login_required``, ``requires`` and
``static_rules`` on an app with blueprints, behind the gate through ``install``.

Each behaviour is driven twice: through Flask's test client and over HTTP through waitress (a
real WSGI server, in a thread). ``examples/flask_app.py`` runs in ``tests/examples``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
from flask import Blueprint, Flask
from support.servers import running_waitress

from jwe_gate import (
    ConfigurationError,
    Cookies,
    Gate,
    Hasher,
    KeyRing,
    MemoryBackend,
    Rule,
    Table,
)
from jwe_gate._sansio import refusals
from jwe_gate._sansio.http import Refusal, Response, json_response, render_error
from jwe_gate.integrations.flask import (
    current_auth,
    current_user,
    install,
    login_required,
    requires,
    static_rules,
)

ANN = {"id": 1, "name": "Ann", "email": "ann@example.com", "password": "$argon2id$x"}
# What a refusal's response must carry as the gate sends it.
COMPARED = ("content-type", "content-length", "www-authenticate", "cache-control")


def whoami() -> dict[str, Any]:
    """What a view sees through the proxies."""
    return {
        "authenticated": current_user.is_authenticated,
        "name": current_user.display_name or None,
        "scopes": list(current_auth.scopes),
        "token": current_auth.token is not None,
    }


def build_app(static: Path) -> Flask:
    """An app with a static folder, a ``blog`` blueprint (own static folder, optional rule), a
    ``staff`` blueprint guarded as a whole, and an app-level view."""
    app = Flask("flask_integration", static_folder=str(static / "app"), static_url_path="/static")
    blog = Blueprint("blog", __name__, static_folder=str(static / "assets"))
    staff = Blueprint("staff", __name__)

    @blog.get("/posts")
    def posts() -> dict[str, Any]:
        return whoami()

    @blog.get("/drafts")
    @login_required
    def drafts() -> dict[str, Any]:
        return whoami()

    @blog.get("/async-drafts")
    @login_required
    async def async_drafts() -> dict[str, Any]:
        return whoami()

    @blog.get("/moderation")
    @requires("admin")
    def moderation() -> dict[str, Any]:
        return whoami()

    @staff.before_request
    @requires("admin")
    def staff_only() -> None:
        """Every view of the blueprint needs the admin scope."""

    @staff.get("/board")
    def board() -> dict[str, Any]:
        return whoami()

    @app.get("/api/me")
    def me() -> dict[str, Any]:
        return whoami()

    @app.get("/open/whoami")
    @login_required
    def open_whoami() -> dict[str, Any]:
        return whoami()

    app.register_blueprint(blog, url_prefix="/blog")
    app.register_blueprint(staff, url_prefix="/staff")
    return app


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


Send = Callable[..., Reply]


@dataclass
class Site:
    """The gated app, its gate, and a ``send(method, path, token=None)`` for one transport."""

    app: Flask
    gate: Gate
    send: Send

    def token(self, **extras: Any) -> str:
        return self.gate.issue("user", 1, extras=extras or None)


def _site(static: Path, keys: KeyRing) -> tuple[Flask, Gate]:
    for folder, name in (("app", "site.css"), ("assets", "blog.js")):
        (static / folder).mkdir(parents=True, exist_ok=True)
        (static / folder / name).write_text(f"/* {name} */\n")
    app = build_app(static)
    gate = Gate(
        keys=keys,
        tables=[Table("user", MemoryBackend([ANN]))],
        rules=[*static_rules(app), Rule("/blog/**", "optional"), Rule("/open/**", "public")],
    )
    install(app, gate)
    return app, gate


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="module", params=["test-client", "waitress"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: KeyRing
) -> Iterator[Site]:
    app, gate = _site(tmp_path_factory.mktemp("static"), keys)
    if request.param == "test-client":
        client = app.test_client()

        def send(method: str, path: str, token: str | None = None) -> Reply:
            with client.open(path, method=method, headers=_headers(token)) as r:
                return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.data)

        yield Site(app, gate, send)
        return
    with running_waitress(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:

        def send(method: str, path: str, token: str | None = None) -> Reply:
            r = c.request(method, path, headers=_headers(token))
            return Reply(r.status_code, dict(r.headers), r.content)

        yield Site(app, gate, send)


def same_as_gate(reply: Reply, refusal: Refusal, render: Callable[[Refusal], Response]) -> None:
    """``reply`` is ``refusal`` exactly as the gate renders it: status, body, headers."""
    rendered = render(refusal)
    assert (reply.status, reply.body) == (rendered.status, rendered.body)
    expected = {k: v for k, v in rendered.headers if k in COMPARED}
    assert {k: reply.headers.get(k) for k in expected} == expected


# -- current_user / current_auth ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "token", "seen"),
    [
        pytest.param(
            "/api/me",
            True,
            {"authenticated": True, "name": "Ann", "scopes": ["authenticated"], "token": True},
            id="required-with-token",
        ),
        pytest.param(
            "/blog/posts",
            True,
            {"authenticated": True, "name": "Ann", "scopes": ["authenticated"], "token": True},
            id="optional-with-token",
        ),
        pytest.param(
            "/blog/posts",
            False,
            {"authenticated": False, "name": None, "scopes": [], "token": False},
            id="optional-anonymous",
        ),
    ],
)
def test_current_user_and_auth(site: Site, path: str, token: bool, seen: dict[str, Any]) -> None:
    """current_user / current_auth are the user and auth the gate attached, anonymous when none."""
    reply = site.send("GET", path, site.token() if token else None)
    assert reply.status == 200
    assert httpx.Response(200, content=reply.body).json() == seen


# -- login_required ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/blog/drafts", id="blueprint-view"),
        pytest.param("/blog/async-drafts", id="async-view"),
    ],
)
def test_login_required(site: Site, path: str) -> None:
    """Under an optional rule, login_required answers the gate's own 401 to the anonymous and
    lets a token holder through."""
    same_as_gate(site.send("GET", path), refusals.MISSING, render_error)
    assert site.send("GET", path, site.token()).status == 200


def test_login_required_under_a_public_rule(site: Site) -> None:
    """Under a public rule the gate reads no token, so the view is refused even with one."""
    same_as_gate(site.send("GET", "/open/whoami", site.token()), refusals.MISSING, render_error)


def test_the_gate_refuses_before_the_decorator(site: Site) -> None:
    """On a required path an invalid token is the gate's 401 (the view never runs)."""
    same_as_gate(site.send("GET", "/api/me", "not-a-token"), refusals.INVALID, render_error)


# -- requires ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/blog/moderation", id="view-decorator"),
        pytest.param("/staff/board", id="blueprint-before-request"),
    ],
)
@pytest.mark.parametrize(
    ("extras", "refusal"),
    [
        pytest.param(None, refusals.MISSING, id="anonymous-401"),
        pytest.param({"role": "member"}, refusals.DENIED, id="member-403"),
        pytest.param({"role": "admin"}, None, id="admin-200"),
        pytest.param({"scopes": ["admin"]}, None, id="admin-scope-200"),
    ],
)
def test_requires(
    site: Site, path: str, extras: dict[str, Any] | None, refusal: Refusal | None
) -> None:
    """requires("admin"): 401 anonymous, 403 without the scope, the view with it; on a view and
    on a blueprint's before_request alike."""
    token = None if extras is None else site.token(**extras)
    if path.startswith("/staff") and extras is None:
        refusal = refusals.MISSING  # a required path: the gate itself refuses, same bytes
    reply = site.send("GET", path, token)
    if refusal is None:
        assert reply.status == 200
        assert b'"admin"' in reply.body
    else:
        same_as_gate(reply, refusal, render_error)


# -- static files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/static/site.css", 200, id="app-static"),
        pytest.param("HEAD", "/static/site.css", 200, id="app-static-head"),
        pytest.param("GET", "/blog/assets/blog.js", 200, id="blueprint-static"),
        pytest.param("GET", "/static/missing.css", 404, id="app-static-404"),
        pytest.param("POST", "/static/site.css", 401, id="post-not-opened"),
        pytest.param("GET", "/api/static/site.css", 401, id="elsewhere-still-required"),
    ],
)
def test_static_files_are_public(site: Site, method: str, path: str, status: int) -> None:
    """static_rules opens GET/HEAD of the app's and the blueprints' static files, nothing else."""
    assert site.send(method, path).status == status


def _bare(**kwargs: Any) -> Flask:
    return Flask("bare", **kwargs)


def _with(app: Flask, *blueprints: tuple[Blueprint, str | None]) -> Flask:
    for bp, prefix in blueprints:
        app.register_blueprint(bp, url_prefix=prefix)
    return app


def _named_static() -> Flask:
    app = _bare(static_folder=None)
    bp = Blueprint("reports", __name__)

    @bp.get("/reports/<path:filename>")
    def static(filename: str) -> str:  # a view merely named "static"
        return filename

    return _with(app, (bp, None))


def _nested() -> Flask:
    outer = Blueprint("outer", __name__)
    inner = Blueprint("inner", __name__, static_folder="files")
    outer.register_blueprint(inner, url_prefix="/inner")
    return _with(_bare(static_url_path="/s"), (outer, "/outer"))


@pytest.mark.parametrize(
    ("make", "patterns"),
    [
        pytest.param(lambda: _bare(), ["/static/**"], id="default"),
        pytest.param(lambda: _bare(static_folder=None), [], id="no-static-folder"),
        pytest.param(lambda: _bare(static_url_path="/assets/v1"), ["/assets/v1/**"], id="custom"),
        pytest.param(
            lambda: _with(_bare(), (Blueprint("b", __name__, static_folder="pub"), "/shop")),
            ["/static/**", "/shop/pub/**"],
            id="blueprint",
        ),
        pytest.param(
            lambda: _with(_bare(), (Blueprint("b", __name__, static_folder="pub"), "/<lang>/shop")),
            ["/static/**", "/*/shop/pub/**"],
            id="blueprint-variable-prefix",
        ),
        pytest.param(_nested, ["/s/**", "/outer/inner/files/**"], id="nested-blueprint"),
        pytest.param(_named_static, [], id="view-named-static"),
    ],
)
def test_static_rules(make: Callable[[], Flask], patterns: list[str]) -> None:
    """static_rules: one public GET rule per static route the app serves, read from its URL map."""
    rules = static_rules(make())
    assert [r.pattern for r in rules] == patterns
    assert all(r.mode == "public" and list(r.methods or ()) == ["GET"] for r in rules)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _bare(static_url_path=""), id="app-at-root"),
        pytest.param(
            lambda: _with(
                _bare(static_folder=None),
                (Blueprint("b", __name__, static_folder="x", static_url_path="/"), "/<lang>"),
            ),
            id="blueprint-at-variable-root",
        ),
        pytest.param(
            lambda: _with(
                _bare(static_folder=None),
                (Blueprint("b", __name__, static_folder="x"), "/<path:any>"),
            ),
            id="path-variable-prefix",
        ),
    ],
)
def test_static_rules_refuse_to_open_everything(make: Callable[[], Flask]) -> None:
    """A static route at the root (or under a prefix no pattern spells) is a ConfigurationError,
    never a rule that makes every path public."""
    with pytest.raises(ConfigurationError):
        static_rules(make())


# -- install -----------------------------------------------------------------------------------


def _problem(refusal: Refusal) -> Response:
    return json_response(refusal.status, {"title": refusal.message}, refusal.headers)


def test_decorators_render_with_the_installed_gates_renderer(keys: KeyRing) -> None:
    """With install, a decorator's refusal is rendered by the gate's on_error, as the gate's own."""
    app = Flask("renderer")

    @app.get("/blog/x")
    @login_required
    def view() -> str:
        return "x"

    gate = Gate(
        keys=keys,
        tables=[Table("user", MemoryBackend([ANN]))],
        rules=[Rule("/blog/**", "optional")],
        on_error=_problem,
    )
    install(app, gate)
    r = app.test_client().get("/blog/x")
    reply = Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.data)
    same_as_gate(reply, refusals.MISSING, _problem)


Hooked = Callable[..., tuple[Flask, list[str]]]


@pytest.fixture
def hooked(keys: KeyRing) -> Iterator[Hooked]:
    """``hooked(**gate_options)``: an app whose ``after_request`` marks every answer (as
    flask-cors does) and whose ``teardown_request`` counts, behind a gate with its endpoints
    at ``/auth``; the gates are closed after the test."""
    gates: list[Gate] = []

    def make(**options: Any) -> tuple[Flask, list[str]]:
        app, torn, gate = _hooked(keys, **options)
        gates.append(gate)
        return app, torn

    yield make
    for gate in gates:
        gate.close()


def _hooked(keys: KeyRing, **options: Any) -> tuple[Flask, list[str], Gate]:
    app = Flask("hooked")
    torn: list[str] = []

    @app.after_request
    def mark(response: Any) -> Any:
        response.headers["X-After"] = "1"
        return response

    @app.teardown_request
    def count(exc: BaseException | None) -> None:
        torn.append("torn")

    @app.get("/api/me")
    def me() -> dict[str, Any]:
        return whoami()

    gate = Gate(
        keys=keys,
        tables=[Table("user", MemoryBackend())],
        auth_routes={"/auth": "user"},
        hasher=Hasher(argon2.profiles.CHEAPEST),
        **options,
    )
    install(app, gate)
    return app, torn, gate


PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        pytest.param("GET", "/api/me", {}, 401, id="refusal"),
        pytest.param(
            "POST",
            "/auth/signup",
            {"json": {"email": "bo@example.com", "password": "correct horse 1"}},
            200,
            id="endpoint",
        ),
        pytest.param("OPTIONS", "/auth/login", {"headers": PREFLIGHT}, 200, id="preflight"),
        pytest.param("OPTIONS", "/api/me", {"headers": PREFLIGHT}, 200, id="protected-preflight"),
    ],
)
def test_the_gates_answers_pass_after_request(
    hooked: Hooked, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    """The gate's own answers (a refusal, an endpoint's, a preflight's) pass the app's
    ``after_request`` and ``teardown_request`` functions, as an early ``before_request``
    answer does, without the gate's own CORS grant (the app's extension decides)."""
    app, torn = hooked()
    r = app.test_client().open(path, method=method, **kwargs)
    assert r.status_code == status, r.data
    assert r.headers["X-After"] == "1"
    assert "Access-Control-Allow-Origin" not in r.headers
    assert torn == ["torn"]


def test_the_cookies_survive_after_request(hooked: Hooked) -> None:
    """A login's three ``Set-Cookie`` lines reach the client one by one through Flask's
    response."""
    app, _ = hooked(cookies=Cookies(secure=False))
    body = {"email": "bo@example.com", "password": "correct horse 1"}
    r = app.test_client().post("/auth/signup", json=body)
    assert r.status_code == 200, r.data
    names = sorted(line.split("=", 1)[0] for line in r.headers.getlist("Set-Cookie"))
    assert names == ["jwe_access_user", "jwe_csrf", "jwe_refresh_user"]


@pytest.mark.parametrize(
    "hook",
    [pytest.param("after_request", id="after"), pytest.param("teardown_request", id="teardown")],
)
def test_a_failing_hook_leaves_the_gates_answer(
    hooked: Hooked, caplog: pytest.LogCaptureFixture, hook: str
) -> None:
    """An ``after_request`` or ``teardown_request`` that raises on the gate's answer is
    logged, and the gate's answer goes out as it is: never a 500 in place of a refusal."""
    app, _ = hooked()

    def broken(*_: Any) -> Any:
        raise RuntimeError("hook bug")

    getattr(app, hook)(broken)
    r = app.test_client().get("/api/me")
    assert (r.status_code, r.json) == (401, render_json(refusals.MISSING))
    assert "X-After" not in r.headers
    assert "failed on the gate's answer" in caplog.text


def render_json(refusal: Refusal) -> Any:
    return json.loads(render_error(refusal).body)


def test_install_twice_is_refused(keys: KeyRing) -> None:
    """A second install would wrap the app twice: ConfigurationError."""
    app = Flask("twice")
    gate = Gate(keys=keys, tables=[Table("user", MemoryBackend())])
    install(app, gate)
    with pytest.raises(ConfigurationError, match="already installed"):
        install(app, gate)


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda: current_user.is_authenticated, id="current_user"),
        pytest.param(lambda: current_auth.scopes, id="current_auth"),
    ],
)
def test_unwrapped_app_is_a_configuration_error(read: Callable[[], Any]) -> None:
    """Without the gate in front, reading the user raises instead of guessing anonymous."""
    with Flask("unwrapped").test_request_context("/"), pytest.raises(ConfigurationError):
        read()


def test_import_without_flask_names_the_extra() -> None:
    """Importing the integration without Flask raises MissingDependencyError naming the extra."""
    code = (
        "import sys; sys.modules['flask'] = None\n"
        "import jwe_gate\n"
        "try:\n"
        "    import jwe_gate.integrations.flask\n"
        "except jwe_gate.MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'jwe_gate[flask]'" in out.stdout
