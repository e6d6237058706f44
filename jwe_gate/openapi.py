"""The auth endpoints as an OpenAPI 3.1 document, built from the endpoint registry.

``openapi_document`` is pure: the served routes (prefix -> ``AuthRoutes``), each
table's login field and the password policy go in, a JSON-ready ``dict`` comes
out. ``Gate.openapi`` calls it with the gate's own settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ._endpoints import inputs
from ._endpoints.registry import ENDPOINTS, AuthRoutes, Endpoint
from ._passwords import PasswordPolicy

if TYPE_CHECKING:
    from ._sansio.cookies import Cookies, CookieTransport
    from ._settings import EndpointSettings
    from ._storage.table import Table

__all__ = ["for_gate", "openapi_document"]

_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "required": [{"bearer": []}, {"xano": []}],
    "optional": [{}, {"bearer": []}, {"xano": []}],
}
_RESPONSES: dict[int, tuple[str, str, tuple[str, ...]]] = {
    # status: (component name, description, headers it always carries)
    400: ("BadRequest", "Bad input (`payload.param` names the field) or an ambiguous header.", ()),
    401: ("Unauthorized", "No credential, or a refused one.", ("WWW-Authenticate",)),
    403: ("Forbidden", "Invalid credentials, an account in use, or access denied.", ()),
    405: ("MethodNotAllowed", "Another method than the endpoint's own.", ("Allow",)),
    413: ("PayloadTooLarge", "The request body is over the gate's limit.", ()),
    429: ("TooManyRequests", "Throttled, or the hashing queue is full.", ("Retry-After",)),
    503: ("Unavailable", "A table or store is unreachable.", ("Retry-After",)),
}
_HEADERS = {
    "WWW-Authenticate": "The bearer challenge (RFC 6750 §3).",
    "Retry-After": "Seconds to wait before trying again.",
    "Allow": "The endpoint's method.",
}


def _new_password(policy: PasswordPolicy) -> dict[str, Any]:
    """A password the policy accepts: its lengths, and a letter and a digit where it asks."""
    schema: dict[str, Any] = {
        "type": "string",
        "minLength": policy.min_length,
        "maxLength": policy.max_length,
    }
    # Unanchored JSON Schema patterns: "contains". ASCII classes: stricter than the policy's
    # str.isalpha / str.isdigit, so whatever the schema allows the policy accepts.
    if policy.require_letter and policy.require_digit:
        schema["pattern"] = "[A-Za-z][\\s\\S]*[0-9]|[0-9][\\s\\S]*[A-Za-z]"
    elif policy.require_letter or policy.require_digit:
        schema["pattern"] = "[A-Za-z]" if policy.require_letter else "[0-9]"
    return schema


def _field(name: str, login_field: str, policy: PasswordPolicy, new: bool) -> dict[str, Any]:
    """The JSON schema of one input, with the lengths ``inputs`` enforces."""
    if name == "all":
        return {"type": "boolean", "description": "End every session of the record."}
    if name in ("refreshToken", "token"):
        return {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"}
    if name == "name":
        return {"type": "string", "maxLength": inputs.NAME_MAX}
    if name == "newPassword" or (name == "password" and new):
        return _new_password(policy)
    if name == "password":
        return {"type": "string", "minLength": 1, "maxLength": policy.max_length}
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": inputs.LOGIN_MAX}
    if login_field == "email":
        schema["format"] = "email"
    return schema


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _body(
    endpoint: Endpoint,
    login_field: str,
    policy: PasswordPolicy,
    extra: Mapping[str, type] | None = None,
) -> dict[str, Any]:
    def rename(name: str) -> str:  # a table's login field stands where the registry says email
        return login_field if name == "email" else name

    properties = {
        rename(n): _field(rename(n), login_field, policy, endpoint.name == "signup")
        for n in endpoint.inputs
    }
    if endpoint.name == "signup":
        for name, kind in (extra or {}).items():  # the table's signup_fields
            field: dict[str, Any] = {"type": _JSON_TYPES[kind]}
            if kind is str:
                field["maxLength"] = inputs.FIELD_MAX
            properties[name] = field
    schema = {
        "type": "object",
        "properties": properties,
        "required": [rename(n) for n in endpoint.required],
    }
    return {
        "required": bool(endpoint.required),
        "content": {"application/json": {"schema": schema}},
    }


def _cookie_security(endpoint: Endpoint, table: str) -> list[dict[str, list[str]]]:
    """The cookie transport's ways in: the access cookie (with the CSRF header on a POST), and
    for refresh and logout the refresh cookie with the CSRF header."""
    ways: list[dict[str, list[str]]] = []
    if endpoint.mode != "public":
        access: dict[str, list[str]] = {f"cookie_{table}": []}
        ways.append(access if endpoint.method == "GET" else {**access, "csrf": []})
    if endpoint.name in ("refresh", "logout"):
        ways.append({f"refresh_cookie_{table}": [], "csrf": []})
    return ways


def _operation(
    prefix: str,
    endpoint: Endpoint,
    routes: AuthRoutes,
    login_field: str,
    policy: PasswordPolicy,
    cookies: Cookies | None = None,
    extra: Mapping[str, type] | None = None,
) -> dict[str, Any]:
    if endpoint.answer == "none":
        ok: dict[str, Any] = {"204": {"description": "Done."}}
    elif endpoint.answer == "accepted":
        ok = {
            "202": {
                "description": endpoint.summary,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}
                },
            }
        }
    else:
        ref = "TokenPair" if endpoint.answer == "pair" else "Record"
        ok = {
            "200": {
                "description": endpoint.summary,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}
                },
            }
        }
    responses = ok | {
        str(s): {"$ref": f"#/components/responses/{_RESPONSES[s][0]}"} for s in endpoint.refusals
    }
    op: dict[str, Any] = {
        "operationId": (prefix.strip("/").replace("/", "_") or "root")
        + "_"
        + endpoint.name.replace("/", "_"),
        "summary": endpoint.summary,
        "tags": [routes.table],
        "security": [{k: list(v) for k, v in s.items()} for s in _SECURITY.get(endpoint.mode, [])],
        "responses": responses,
    }
    if endpoint.inputs:
        op["requestBody"] = _body(endpoint, login_field, policy, extra)
    if cookies is not None:
        if endpoint.method == "POST":
            # Cookie mode: a missing CSRF token, or another site's Origin at sign-in, is a 403.
            responses.setdefault("403", {"$ref": f"#/components/responses/{_RESPONSES[403][0]}"})
        ways = _cookie_security(endpoint, routes.table)
        if ways:
            op["security"] = (op["security"] or [{}]) + ways
        if endpoint.name == "refresh":
            # The refresh cookie may stand in for the body's refreshToken.
            op["requestBody"]["required"] = False
            op["requestBody"]["content"]["application/json"]["schema"]["required"] = []
    return op


def _components(cookies: Cookies | None = None, tables: tuple[str, ...] = ()) -> dict[str, Any]:
    error = {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "payload": {},
        },
        "required": ["code", "message", "payload"],
    }
    token = {"type": "string", "minLength": 1}
    responses = {
        name: {
            "description": description,
            "headers": {
                h: {"description": _HEADERS[h], "required": True, "schema": {"type": "string"}}
                for h in headers
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for name, description, headers in _RESPONSES.values()
    }
    pair: dict[str, Any] = {"authToken": token, "refreshToken": token}
    schemes: dict[str, Any] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWE"},
        "xano": {"type": "apiKey", "in": "header", "name": "X-Xano-Authorization"},
    }
    if cookies is not None:
        pair["csrfToken"] = {
            "type": "string",
            "description": "Cookie mode: echo it in the CSRF header on unsafe requests.",
        }
        for table in tables:
            access, refresh = cookies.names(table)
            schemes[f"cookie_{table}"] = {"type": "apiKey", "in": "cookie", "name": access}
            schemes[f"refresh_cookie_{table}"] = {
                "type": "apiKey",
                "in": "cookie",
                "name": refresh,
            }
        schemes["csrf"] = {
            "type": "apiKey",
            "in": "header",
            "name": cookies.csrf_header,
            "description": f"The {cookies.csrf_cookie} cookie's value (or csrfToken).",
        }
    return {
        "schemas": {
            "Error": error,
            "TokenPair": {
                "type": "object",
                "properties": pair,
                "required": ["authToken", "refreshToken"],
            },
            "Accepted": {
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
            },
            "Record": {
                "type": "object",
                "description": "The table's record, without its password or hidden fields.",
                "properties": {"id": {"type": ["integer", "string"]}},
                "required": ["id"],
            },
        },
        "responses": responses,
        "securitySchemes": schemes,
    }


def openapi_document(
    routes: Mapping[str, AuthRoutes],
    *,
    login_fields: Mapping[str, str] | None = None,
    password_policy: PasswordPolicy | None = None,
    title: str = "jwe_gate auth",
    version: str = "1.0.0",
    cookies: Cookies | None = None,
    signup_fields: Mapping[str, Mapping[str, type]] | None = None,
) -> dict[str, Any]:
    """An OpenAPI 3.1 document of the endpoints ``routes`` serves under each prefix.

    ``login_fields`` maps a table to its login field (``email`` when absent);
    ``password_policy`` (the default one when absent) bounds the passwords; ``cookies`` (the
    cookie transport's settings, when on) adds its cookies, the CSRF header and
    ``csrfToken``; ``signup_fields`` maps a table to its extra signup fields."""
    policy = password_policy or PasswordPolicy()
    paths: dict[str, Any] = {}
    for prefix, r in routes.items():
        login_field = (login_fields or {}).get(r.table, "email")
        for name in sorted(r.endpoints):
            endpoint = ENDPOINTS[name]
            extra = (signup_fields or {}).get(r.table)
            op = _operation(prefix, endpoint, r, login_field, policy, cookies, extra)
            paths[f"{prefix}/{name}"] = {endpoint.method.lower(): op}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": _components(cookies, tuple(dict.fromkeys(r.table for r in routes.values()))),
    }


class Documented(Protocol):
    """What ``for_gate`` reads of a gate (a protocol: this module never imports the gate)."""

    @property
    def auth_routes(self) -> Mapping[str, AuthRoutes]: ...
    @property
    def tables(self) -> Mapping[str, Table]: ...
    @property
    def settings(self) -> tuple[Any, Any, EndpointSettings]: ...
    @property
    def cookies(self) -> CookieTransport | None: ...


def for_gate(gate: Documented, *, title: str, version: str) -> dict[str, Any]:
    """``openapi_document`` of ``gate``'s auth routes, tables and password policy."""
    return openapi_document(
        gate.auth_routes,
        login_fields={name: t.login_field for name, t in gate.tables.items()},
        signup_fields={name: t.signup_fields for name, t in gate.tables.items()},
        password_policy=gate.settings[2].password_policy,
        title=title,
        version=version,
        cookies=None if gate.cookies is None else gate.cookies.config,
    )
