"""§Integrations, FastAPI: ``examples/fastapi_app.py`` under uvicorn, and the integration's parts.

The example is loaded once per module (with a fresh key ring in ``JWE_GATE_KEYS``), served by
uvicorn on a free port and driven with httpx: the docs routes are public, the schema lists the
auth endpoints and the bearer scheme, and the dependencies refuse exactly as the gate does.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from support.clients import ASGIClient
from support.servers import running_uvicorn

from jwe_gate import Gate, KeyRing, MemoryBackend, Rule, Table
from jwe_gate._sansio import refusals
from jwe_gate.integrations.fastapi import (
    CurrentUser,
    Refused,
    docs_rules,
    install,
    merge_openapi,
    requires,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"
PASSWORD = "s3cret-pass1"
# What a refusal's response must carry as the gate sends it.
COMPARED = ("content-type", "content-length", "www-authenticate", "cache-control")


@dataclass
class Example:
    """The loaded example module and the base URL of the uvicorn serving it."""

    module: Any
    url: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=15)


def load_example(db: Path) -> Any:
    """``examples/fastapi_app.py`` as a fresh module, its keys from ``JWE_GATE_KEYS`` and its
    SQLite file ``db`` from ``EXAMPLE_DB``."""
    spec = importlib.util.spec_from_file_location("example_fastapi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    settings = {"JWE_GATE_KEYS": KeyRing.generate().to_json(), "EXAMPLE_DB": str(db)}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        spec.loader.exec_module(module)
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    return module


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    module = load_example(tmp_path_factory.mktemp("fastapi") / "example.db")
    with running_uvicorn(module.app, lifespan="on") as port:
        yield Example(module, f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def ann(example: Example) -> dict[str, Any]:
    """Ann's signup answer (``authToken``, ``refreshToken``) and her record."""
    with example.client() as c:
        r = c.post(
            "/auth/signup", json={"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        pair = r.json()
        me = c.get("/auth/me", headers={"Authorization": f"Bearer {pair['authToken']}"})
        assert me.status_code == 200, me.text
    return {"token": pair["authToken"], "record": me.json()}


def same_refusal(a: httpx.Response, b: httpx.Response) -> None:
    """Two responses are the same refusal: status, body bytes and the gate's headers."""
    assert a.status_code == b.status_code
    assert a.content == b.content
    for name in COMPARED:
        assert a.headers.get(name) == b.headers.get(name), name


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/docs", id="swagger"),
        pytest.param("/redoc", id="redoc"),
        pytest.param("/openapi.json", id="schema"),
        pytest.param("/docs/oauth2-redirect", id="oauth2-redirect"),
        pytest.param("/health", id="health"),
    ],
)
def test_public_without_a_token(example: Example, path: str) -> None:
    """The docs routes (the preset) answer 200 without a token."""
    with example.client() as c:
        assert c.get(path).status_code == 200


def test_schema_lists_the_auth_endpoints(example: Example) -> None:
    """/openapi.json has /auth/signup with its request body, and the gate's components."""
    with example.client() as c:
        schema = c.get("/openapi.json").json()
    signup = schema["paths"]["/auth/signup"]["post"]
    body = signup["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"email", "password"} <= set(body["properties"])
    assert "200" in signup["responses"]
    assert {"Error", "TokenPair", "Record"} <= set(schema["components"]["schemas"])
    assert {"/auth/login", "/auth/me", "/auth/refresh", "/auth/logout"} <= set(schema["paths"])
    assert schema["paths"]["/api/me"]["get"]["responses"]["200"]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/me", id="current_user"),
        pytest.param("/blog/drafts", id="current_user-optional-rule"),
        pytest.param("/blog/posts", id="optional_user"),
        pytest.param("/api/admin", id="requires"),
    ],
)
def test_schema_shows_the_bearer_scheme(example: Example, path: str) -> None:
    """Routes using the dependencies carry the bearer and Xano schemes, both defined."""
    with example.client() as c:
        schema = c.get("/openapi.json").json()
    security = schema["paths"][path]["get"]["security"]
    assert {"bearer": []} in security
    assert {"xano": []} in security
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["xano"] == schemes["xano"] | {"in": "header", "name": "X-Xano-Authorization"}


def test_schema_leaves_other_routes_unsecured(example: Example) -> None:
    """A route without the dependencies shows no security."""
    with example.client() as c:
        schema = c.get("/openapi.json").json()
    assert "security" not in schema["paths"]["/health"]["get"]


@pytest.mark.parametrize(
    "path", [pytest.param("/api/me", id="required"), pytest.param("/blog/drafts", id="optional")]
)
def test_current_user_gets_the_record(example: Example, ann: dict[str, Any], path: str) -> None:
    """A signup token reaches a current_user route, which sees the record."""
    with example.client(ann["token"]) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    if path == "/api/me":
        assert r.json() == ann["record"]
        assert "password" not in r.json()
    else:
        assert r.json()["author"] == str(ann["record"]["id"])


@pytest.mark.parametrize(
    ("token", "reader"),
    [pytest.param(False, None, id="anonymous"), pytest.param(True, "Ann", id="ann")],
)
def test_optional_user(example: Example, ann: dict[str, Any], token: bool, reader: Any) -> None:
    """optional_user is None without a token, the user with one."""
    with example.client(ann["token"] if token else None) as c:
        r = c.get("/blog/posts")
    assert r.status_code == 200
    assert r.json()["reader"] == reader


def test_no_token_same_401_from_gate_and_dependency(example: Example) -> None:
    """The gate's 401 (required rule) and current_user's (optional rule) are the same bytes."""
    with example.client() as c:
        gate_401, dep_401 = c.get("/api/me"), c.get("/blog/drafts")
    same_refusal(gate_401, dep_401)
    assert gate_401.status_code == 401
    assert gate_401.headers["www-authenticate"] == "Bearer"
    assert gate_401.json() == {
        "code": "ERROR_CODE_UNAUTHORIZED",
        "message": "Unauthorized - Authentication Required",
        "payload": None,
    }


@pytest.mark.parametrize(
    ("extras", "status"),
    [
        pytest.param(None, 403, id="user"),
        pytest.param({"role": "member"}, 403, id="member"),
        pytest.param({"role": "admin"}, 200, id="admin"),
    ],
)
def test_requires_admin(
    example: Example, ann: dict[str, Any], extras: dict[str, str] | None, status: int
) -> None:
    """requires("admin"): 403 for a user token, 200 for a token whose extras say admin."""
    token = example.module.gate.issue("user", ann["record"]["id"], extras=extras)
    with example.client(token) as c:
        r = c.get("/api/admin")
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json() == {"role": "admin", "id": str(ann["record"]["id"])}
    else:
        assert r.json()["code"] == "ERROR_CODE_ACCESS_DENIED"


def test_requires_403_is_the_gates_403(example: Example, ann: dict[str, Any]) -> None:
    """requires' 403 is byte for byte the gate's own (a failed ``when``)."""
    with example.client(ann["token"]) as c:
        gate_403, dep_403 = c.get("/reports/daily"), c.get("/api/admin")
    assert gate_403.status_code == 403
    same_refusal(gate_403, dep_403)


def test_requires_anonymous_is_401() -> None:
    """requires on an optional rule without a token: the gate's 401."""
    app = FastAPI()
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend())],
        rules=[Rule("/open", "optional"), Rule("/closed")],
    )
    install(app, gate)

    @app.get("/open", dependencies=[Depends(requires("admin"))])
    async def open_() -> dict[str, str]:
        return {}

    @app.get("/closed")
    async def closed() -> dict[str, str]:
        return {}

    client = ASGIClient(gate.asgi(app))
    dep, own = client("GET", "/open"), client("GET", "/closed")
    assert dep.status == 401
    assert (dep.status, dep.body) == (own.status, own.body)
    for name in COMPARED:
        assert dep.header(name) == own.header(name), name


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {},
            ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"],
            id="defaults",
        ),
        pytest.param({"docs_url": None}, ["/openapi.json", "/redoc"], id="no-swagger"),
        pytest.param({"openapi_url": None}, [], id="no-schema"),
        pytest.param(
            {"openapi_url": "/schema", "docs_url": "/d", "redoc_url": None},
            ["/schema", "/d", "/docs/oauth2-redirect"],
            id="moved",
        ),
        pytest.param(
            {"root_path": "/x", "redoc_url": None},
            [
                "/openapi.json",
                "/docs",
                "/docs/oauth2-redirect",
                "/x/openapi.json",
                "/x/docs",
                "/x/docs/oauth2-redirect",
            ],
            id="root-path",
        ),
    ],
)
def test_docs_rules(settings: dict[str, Any], expected: list[str]) -> None:
    """docs_rules follows the app's own docs settings, root path included."""
    root_path = settings.pop("root_path", "")
    app = FastAPI(**settings)
    app.root_path = root_path  # FastAPI(root_path=...) warns: deprecated
    rules = docs_rules(app)
    assert rules == docs_rules(FastAPI(**settings), root_path=root_path)
    assert [r.pattern for r in rules] == expected
    assert {(r.mode, tuple(r.methods or ())) for r in rules} <= {("public", ("GET",))}


def test_merge_renames_a_clashing_component() -> None:
    """An app component of the gate's name keeps its name; the gate's refs follow the rename."""
    app_schema: dict[str, Any] = {
        "paths": {"/auth/me": {"delete": {"responses": {}}}},
        "components": {"schemas": {"Record": {"type": "string"}}},
    }
    auth = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend())],
        auth_routes={"/auth": "user"},
    ).openapi()
    merged = merge_openapi(app_schema, auth)
    schemas = merged["components"]["schemas"]
    assert schemas["Record"] == {"type": "string"}
    assert schemas["jwe_gate_Record"] == auth["components"]["schemas"]["Record"]
    me = merged["paths"]["/auth/me"]
    assert set(me) == {"delete", "get"}
    assert me["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/jwe_gate_Record"
    }


def test_openapi_is_cached(example: Example) -> None:
    """install's openapi() builds the schema once, as FastAPI does."""
    api = example.module.api
    assert api.openapi() is api.openapi()


def test_without_install_the_status_and_headers_stay() -> None:
    """Without install's handler a refusal is FastAPI's HTTPException: same status and header."""
    app = FastAPI()
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend())],
        rules=[Rule("/open", "optional")],
    )

    @app.get("/open")
    async def open_(user: CurrentUser) -> dict[str, str]:
        return {}

    r = ASGIClient(gate.asgi(app))("GET", "/open")
    assert r.status == 401
    assert r.header("www-authenticate") == "Bearer"
    assert json.loads(r.body) == {"detail": refusals.MISSING.message}
    assert issubclass(Refused, Exception)
