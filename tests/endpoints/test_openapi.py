"""§Integrations: ``Gate.openapi()``, the auth endpoints as an OpenAPI 3.1 document."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from support.mailbox import Mailbox

from jwe_gate import Gate, KeyRing, MemoryBackend, PasswordPolicy, Recovery, Table
from jwe_gate._endpoints import inputs
from jwe_gate._endpoints.registry import ENDPOINTS, AuthRoutes
from jwe_gate.openapi import openapi_document

ADMIN = frozenset({"login", "me", "refresh", "logout", "password"})
RECOVERY = Recovery(
    Mailbox(),
    reset_url="https://app.example/reset?token={token}",
    verify_url="https://app.example/verify?token={token}",
    magic_url="https://app.example/magic?token={token}",
)


def make_gate(**options: Any) -> Gate:
    return Gate(
        keys=KeyRing.generate(),
        tables=[
            Table("user", MemoryBackend(), recovery=RECOVERY),
            Table("admin", MemoryBackend(), login_field="username"),
        ],
        auth_routes={"/auth": "user", "/admin/auth": AuthRoutes("admin", ADMIN)},
        **options,
    )


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document of a gate with a user prefix (every endpoint) and an admin one (no signup)."""
    return make_gate().openapi(title="Test", version="9.9")


def body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """openapi-spec-validator accepts the document as OpenAPI 3.1."""
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"] == {"title": "Test", "version": "9.9"}


def test_the_validator_refuses_a_broken_document(document: dict[str, Any]) -> None:
    """The validity test has teeth: a response without its description is refused."""
    broken = {**document, "paths": {"/auth/me": {"get": {"responses": {"200": {}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


@pytest.mark.parametrize(
    ("prefix", "names"),
    [
        pytest.param("/auth", set(ENDPOINTS), id="user-every-endpoint"),
        pytest.param("/admin/auth", set(ADMIN), id="admin-no-signup"),
    ],
)
def test_exactly_the_served_endpoints_per_prefix(
    document: dict[str, Any], prefix: str, names: set[str]
) -> None:
    """Each prefix lists exactly the endpoints served there, each with its own method."""
    listed = {
        p.removeprefix(prefix + "/"): ops
        for p, ops in document["paths"].items()
        if p.startswith(prefix + "/") and not (prefix == "/auth" and p.startswith("/admin/"))
    }
    assert set(listed) == names
    for name, ops in listed.items():
        assert set(ops) == {ENDPOINTS[name].method.lower()}


def test_the_paths_are_the_gates_rules(document: dict[str, Any]) -> None:
    """No path is listed that the gate does not serve: the two prefixes, nothing else."""
    assert len(document["paths"]) == len(ENDPOINTS) + len(ADMIN)


def test_a_gate_without_auth_routes_has_no_paths() -> None:
    """A gate that serves no auth endpoint documents none."""
    gate = Gate(keys=KeyRing.generate(), tables=[Table("user", MemoryBackend())])
    doc = gate.openapi()
    validate(doc)
    assert doc["paths"] == {}


@pytest.mark.parametrize(
    ("path", "required", "lengths"),
    [
        pytest.param(
            "/auth/signup",
            ["email", "password"],
            {"email": inputs.LOGIN_MAX, "password": 256, "name": inputs.NAME_MAX},
            id="signup",
        ),
        pytest.param(
            "/auth/login",
            ["email", "password"],
            {"email": inputs.LOGIN_MAX, "password": 256},
            id="login",
        ),
        pytest.param(
            "/admin/auth/login",
            ["username", "password"],
            {"username": inputs.LOGIN_MAX, "password": 256},
            id="admin-login-field",
        ),
        pytest.param(
            "/auth/password",
            ["password", "newPassword"],
            {"password": 256, "newPassword": 256},
            id="password",
        ),
        pytest.param("/auth/refresh", ["refreshToken"], {}, id="refresh"),
        pytest.param("/auth/logout", [], {}, id="logout"),
    ],
)
def test_request_bodies_carry_required_fields_and_lengths(
    document: dict[str, Any], path: str, required: list[str], lengths: dict[str, int]
) -> None:
    """Each body lists its required fields and the maximum lengths the inputs module enforces."""
    schema = body_schema(document, path)
    assert schema["type"] == "object"
    assert schema["required"] == required
    assert document["paths"][path]["post"]["requestBody"]["required"] is bool(required)
    for field, most in lengths.items():
        assert schema["properties"][field]["maxLength"] == most


def test_the_password_length_follows_the_gates_policy() -> None:
    """A gate with a longer password maximum documents it."""
    doc = make_gate(password_policy=PasswordPolicy(max_length=1000)).openapi()
    assert body_schema(doc, "/auth/login")["properties"]["password"]["maxLength"] == 1000


@pytest.mark.parametrize(
    ("path", "field", "new"),
    [
        pytest.param("/auth/signup", "password", True, id="signup-password-is-new"),
        pytest.param("/auth/password", "newPassword", True, id="new-password"),
        pytest.param("/auth/password", "password", False, id="current-password-is-old"),
        pytest.param("/auth/login", "password", False, id="login-password-is-old"),
    ],
)
def test_new_passwords_follow_the_policy(
    document: dict[str, Any], path: str, field: str, new: bool
) -> None:
    """A new password carries the policy's minimum and letter-and-digit pattern; an old one not."""
    schema = body_schema(document, path)["properties"][field]
    assert schema["minLength"] == (8 if new else 1)
    assert ("pattern" in schema) is new


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        pytest.param("abcdefg1", True, id="letter-then-digit"),
        pytest.param("1abcdefg", True, id="digit-then-letter"),
        pytest.param("abcdefgh", False, id="no-digit"),
        pytest.param("12345678", False, id="no-letter"),
    ],
)
def test_the_pattern_matches_the_policy(
    document: dict[str, Any], password: str, accepted: bool
) -> None:
    """What the schema's (unanchored) pattern allows, the default policy accepts, and back."""
    pattern = body_schema(document, "/auth/signup")["properties"]["password"]["pattern"]
    assert (re.search(pattern, password) is not None) is accepted
    assert (PasswordPolicy().problem(password) is None) is accepted


@pytest.mark.parametrize(
    ("policy", "pattern"),
    [
        pytest.param(PasswordPolicy(require_digit=False), "[A-Za-z]", id="letter-only"),
        pytest.param(PasswordPolicy(require_letter=False), "[0-9]", id="digit-only"),
        pytest.param(PasswordPolicy(require_letter=False, require_digit=False), None, id="neither"),
    ],
)
def test_the_pattern_follows_a_relaxed_policy(policy: PasswordPolicy, pattern: str | None) -> None:
    """A policy that asks for less gets a looser pattern, or none."""
    doc = openapi_document({"/auth": AuthRoutes("user")}, password_policy=policy)
    assert body_schema(doc, "/auth/signup")["properties"]["password"].get("pattern") == pattern


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        pytest.param(
            "/auth/signup", "post", {"200", "400", "403", "413", "429", "503"}, id="signup"
        ),
        pytest.param("/auth/login", "post", {"200", "400", "403", "413", "429", "503"}, id="login"),
        pytest.param("/auth/refresh", "post", {"200", "400", "401", "413", "503"}, id="refresh"),
        pytest.param("/auth/me", "get", {"200", "400", "401", "413", "503"}, id="me"),
        pytest.param("/auth/logout", "post", {"204", "400", "401", "413", "503"}, id="logout"),
        pytest.param(
            "/auth/password",
            "post",
            {"200", "400", "401", "403", "413", "429", "503"},
            id="password",
        ),
    ],
)
def test_responses_per_endpoint(
    document: dict[str, Any], path: str, method: str, statuses: set[str]
) -> None:
    """Each operation documents its success and every refusal it can answer."""
    assert set(document["paths"][path][method]["responses"]) == statuses


@pytest.mark.parametrize(
    ("path", "method", "schema"),
    [
        pytest.param("/auth/login", "post", "TokenPair", id="pair"),
        pytest.param("/auth/me", "get", "Record", id="record"),
    ],
)
def test_success_bodies(document: dict[str, Any], path: str, method: str, schema: str) -> None:
    """A token pair answers login; ``me`` answers the record."""
    ok = document["paths"][path][method]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}


def test_the_token_pair_and_error_schemas(document: dict[str, Any]) -> None:
    """The pair needs both tokens; the error body is Xano's {code, message, payload}."""
    schemas = document["components"]["schemas"]
    assert schemas["TokenPair"]["required"] == ["authToken", "refreshToken"]
    assert schemas["Error"]["required"] == ["code", "message", "payload"]


@pytest.mark.parametrize(
    ("response", "header"),
    [
        pytest.param("Unauthorized", "WWW-Authenticate", id="401"),
        pytest.param("TooManyRequests", "Retry-After", id="429"),
        pytest.param("Unavailable", "Retry-After", id="503"),
        pytest.param("MethodNotAllowed", "Allow", id="405"),
    ],
)
def test_error_responses_carry_their_headers(
    document: dict[str, Any], response: str, header: str
) -> None:
    """401 documents WWW-Authenticate, 429 and 503 Retry-After, 405 Allow, each required."""
    entry = document["components"]["responses"][response]
    assert entry["headers"][header]["required"] is True
    assert entry["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize(
    ("path", "method", "security"),
    [
        pytest.param("/auth/me", "get", [{"bearer": []}, {"xano": []}], id="me-required"),
        pytest.param(
            "/auth/password", "post", [{"bearer": []}, {"xano": []}], id="password-required"
        ),
        pytest.param(
            "/auth/logout", "post", [{}, {"bearer": []}, {"xano": []}], id="logout-optional"
        ),
        pytest.param("/auth/login", "post", [], id="login-public"),
    ],
)
def test_security_per_endpoint(
    document: dict[str, Any], path: str, method: str, security: list[dict[str, Any]]
) -> None:
    """me and password need a bearer token (either header); logout may not; login is public."""
    assert document["paths"][path][method]["security"] == security


def test_the_security_schemes(document: dict[str, Any]) -> None:
    """Bearer over Authorization (http bearer) and X-Xano-Authorization (apiKey in a header)."""
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWE"}
    assert schemes["xano"] == {"type": "apiKey", "in": "header", "name": "X-Xano-Authorization"}


def test_the_function_is_pure() -> None:
    """openapi_document builds the same document twice from the same routes, sharing nothing."""
    routes = {"/auth": AuthRoutes("user")}
    first, second = openapi_document(routes), openapi_document(routes)
    assert first == second
    first["paths"]["/auth/me"]["get"]["security"].clear()
    first["components"]["schemas"].clear()
    assert openapi_document(routes) == second
