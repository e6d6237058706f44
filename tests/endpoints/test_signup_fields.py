"""§Handlers: a table's extra signup fields (``Table(signup_fields=...)``), typed and checked,
and ``Rule(verified=True)``'s settings."""

from __future__ import annotations

from typing import Any

import pytest
from support.clients import wrap
from support.recovery import PASSWORD, get, post

from jwe_gate import ConfigurationError, Gate, KeyRing, MemoryBackend, Rule, Table

FIELDS = {"company": str, "age": int, "score": float, "newsletter": bool}


def _client(adapter: str) -> tuple[Gate, Any]:
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend(), signup_fields=FIELDS)],
        auth_routes={"/auth": "user"},
    )
    return gate, wrap(gate, adapter)


def _signup(client: Any, **more: Any) -> Any:
    body = {"email": "zoe@x.com", "password": PASSWORD, "name": "Zoe", **more}
    return post(client, "/auth/signup", body)


def test_signup_stores_the_fields_the_table_allows(adapter: str) -> None:
    """Listed fields are stored with their types and shown by /auth/me; others are ignored."""
    _gate, client = _client(adapter)
    res = _signup(client, company="Acme", age=41, score=2, newsletter=True, role="admin", id=99)
    assert res.status == 200, res.json
    me = get(client, "/auth/me", res.json["authToken"]).json
    assert {k: me[k] for k in FIELDS} == {
        "company": "Acme",
        "age": 41,
        "score": 2,
        "newsletter": True,
    }
    assert "role" not in me
    assert me["id"] != 99
    assert me["email_verified"] is False


def test_absent_fields_store_nothing(adapter: str) -> None:
    """The extra fields are optional: absent (or null), nothing is stored."""
    _, client = _client(adapter)
    res = _signup(client, company=None)
    me = get(client, "/auth/me", res.json["authToken"]).json
    assert not set(FIELDS) & set(me)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("age", "41", id="int-as-string"),
        pytest.param("age", True, id="bool-as-int"),
        pytest.param("age", 4.5, id="float-as-int"),
        pytest.param("age", 2**60, id="int-too-large"),
        pytest.param("score", "1.5", id="float-as-string"),
        pytest.param("newsletter", 1, id="int-as-bool"),
        pytest.param("company", 7, id="number-as-str"),
        pytest.param("company", "x" * 1001, id="str-too-long"),
        pytest.param("company", "a\x00b", id="nul"),
        pytest.param("company", ["Acme"], id="list"),
    ],
)
def test_a_field_of_the_wrong_type_is_a_400_naming_it(adapter: str, field: str, value: Any) -> None:
    """A value of the wrong type is ERROR_CODE_INPUT_ERROR with payload.param the field, and no
    account is made."""
    gate, client = _client(adapter)
    res = _signup(client, **{field: value})
    assert res.status == 400
    assert res.json["code"] == "ERROR_CODE_INPUT_ERROR"
    assert res.json["payload"] == {"param": field}
    assert gate.table("user").find("zoe@x.com") is None


def test_openapi_lists_the_signup_fields() -> None:
    """The signup body schema of gate.openapi() holds each field with its JSON type."""
    gate, _ = _client("asgi")
    schema = gate.openapi()["paths"]["/auth/signup"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    types = {k: schema["properties"][k]["type"] for k in FIELDS}
    assert types == {
        "company": "string",
        "age": "integer",
        "score": "number",
        "newsletter": "boolean",
    }


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"email_verified": bool}, id="verification"),
        pytest.param({"password_changed_at": int}, id="stamp"),
        pytest.param({"password": str}, id="hash"),
        pytest.param({"email": str}, id="login"),
        pytest.param({"id": int}, id="id"),
        pytest.param({"created_at": int}, id="created"),
        pytest.param({"name": str}, id="name"),
        pytest.param({"company": list}, id="type"),
        pytest.param({"bad name": str}, id="identifier"),
        pytest.param(["company"], id="not-a-mapping"),
    ],
)
def test_signup_fields_are_checked_when_built(fields: Any) -> None:
    """A field the gate owns, an unknown type or a bad name is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        Table("user", MemoryBackend(), signup_fields=fields)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: Rule("/x", "public", verified=True), id="public"),
        pytest.param(lambda: Rule("/x", verified=1), id="not-bool"),  # type: ignore[arg-type]
    ],
)
def test_verified_rules_are_checked_when_built(build: Any) -> None:
    """verified=True on a public rule, or a non-bool, is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        build()


def test_a_verified_rule_is_stricter_than_a_plain_one(adapter: str) -> None:
    """Where a path's readings pick a verified rule and a plain one, the verified one applies:
    /API/verified/x (case folded by a lenient router) still needs a verified email."""
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend([{"id": 1, "email": "a@b.c"}]))],
        rules=[Rule("/api/verified/**", verified=True), Rule("/**", "required")],
    )
    client = wrap(gate, adapter)
    token = gate.issue("user", 1)
    for path in ("/api/verified/x", "/API/verified/x", "/api//verified/x"):
        res = get(client, path, token)
        assert res.status in (400, 403), (path, res.status)
    assert get(client, "/api/hello", token).status == 200
