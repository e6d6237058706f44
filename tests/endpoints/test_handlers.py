"""§Handlers and §Errors through the gate's own endpoints, over both adapters (Starlette/ASGI and
Flask/WSGI): signup, login, me, refresh, logout, password; the error table; the login throttle;
bad input of every kind; the standalone mountable apps."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from support.apps import admins
from support.clients import ASGIClient, WSGIClient, wrap
from support.results import RawClient, Result
from support.spies import Clock, SpyHasher
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from jwe_gate import Gate, MemoryBackend, Table, Throttle
from jwe_gate._endpoints.throttle import client_bucket as _client_bucket

JSON = ("Content-Type", "application/json")
PASSWORD = "correct horse 1"
NEW_PASSWORD = "battery staple 2"
UNKNOWN_REFRESH = "A" * 43  # well-formed, never issued


# -- helpers ---------------------------------------------------------------------------------


def post(
    client: RawClient,
    path: str,
    data: Any = None,
    *,
    raw: bytes | None = None,
    token: str | None = None,
    addr: str = "127.0.0.1",
    headers: Sequence[tuple[str, str]] = (),
    content_length: bool = True,
) -> Result:
    """POST ``data`` as JSON (or ``raw`` bytes), with a bearer ``token`` when given."""
    body = raw if raw is not None else json.dumps(data).encode()
    hdrs = [JSON, *headers]
    if token is not None:
        hdrs.append(("Authorization", f"Bearer {token}"))
    return client("POST", path, hdrs, body=body, client_addr=addr, content_length=content_length)


def get(client: RawClient, path: str, token: str | None = None) -> Result:
    headers = [("Authorization", f"Bearer {token}")] if token is not None else []
    return client("GET", path, headers)


def signup(
    client: RawClient,
    email: str = "zoe@x.com",
    password: str = PASSWORD,
    name: str = "Zoe",
    prefix: str = "/auth",
) -> dict[str, str]:
    res = post(client, f"{prefix}/signup", {"name": name, "email": email, "password": password})
    assert res.status == 200, res.json
    return dict(res.json)


def login(
    client: RawClient,
    email: str = "zoe@x.com",
    password: str = PASSWORD,
    prefix: str = "/auth",
    addr: str = "127.0.0.1",
) -> Result:
    return post(client, f"{prefix}/login", {"email": email, "password": password}, addr=addr)


def refresh(client: RawClient, token: str, prefix: str = "/auth") -> Result:
    return post(client, f"{prefix}/refresh", {"refreshToken": token})


def assert_xano(
    res: Result, status: int, code: str, *, message: str | None = None, param: str | None = None
) -> None:
    """``res`` is a Xano error body with this status and code (and message / payload param)."""
    assert res.status == status, (res.status, res.json)
    assert (res.header("content-type") or "").startswith("application/json")
    assert isinstance(res.json, dict)
    assert set(res.json) == {"code", "message", "payload"}
    assert res.json["code"] == code
    assert isinstance(res.json["message"], str)
    assert res.json["message"]
    if message is not None:
        assert res.json["message"] == message
    if param is not None:
        assert res.json["payload"] == {"param": param}


def assert_token_pair(res: Result) -> tuple[str, str]:
    """``res`` is a 200 ``{"authToken", "refreshToken"}`` answer that no cache may keep."""
    assert res.status == 200, res.json
    assert set(res.json) == {"authToken", "refreshToken"}
    assert res.header("cache-control") == "no-store"
    assert res.header("pragma") == "no-cache"
    access, refresh_token = res.json["authToken"], res.json["refreshToken"]
    assert isinstance(access, str)
    assert access.count(".") == 4  # compact JWE
    assert isinstance(refresh_token, str)
    # Opaque, at least 256 bits: 43 base64url characters.
    assert len(refresh_token) == 43
    assert set(refresh_token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    return access, refresh_token


def user_backend(gate: Gate, table: str = "user") -> MemoryBackend:
    backend = gate.table(table).backend
    assert isinstance(backend, MemoryBackend)
    return backend


@pytest.fixture
def spy() -> SpyHasher:
    return SpyHasher()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gate(make_auth_gate: Callable[..., Gate], spy: SpyHasher, clock: Clock) -> Gate:
    """The auth gate of ``conftest`` with a spying hasher and a clock that moves when told."""
    return make_auth_gate(hasher=spy, clock=clock)


@pytest.fixture
def client(adapter: str, gate: Gate) -> RawClient:
    return wrap(gate, adapter)


# -- signup and login ------------------------------------------------------------------------


def test_signup_answers_200_with_the_token_pair(client: RawClient, gate: Gate) -> None:
    """Signup is 200 (not 201) with exactly authToken and refreshToken, for the new record."""
    res = post(client, "/auth/signup", {"name": "Zoe", "email": "zoe@x.com", "password": PASSWORD})
    access, _ = assert_token_pair(res)
    record = gate.table("user").find("zoe@x.com")
    assert record is not None
    claims = gate.verify(access)
    assert (claims.tbl, claims.sub) == ("user", str(record["id"]))
    assert claims.extras == {}
    # Stored as an argon2id hash, never as the password.
    assert record["password"].startswith("$argon2id$")
    assert PASSWORD not in json.dumps(record)


def test_login_answers_the_token_pair(client: RawClient, gate: Gate) -> None:
    """Login with the right password answers a fresh pair for that record."""
    first = signup(client)
    access, refresh_token = assert_token_pair(login(client))
    assert (access, refresh_token) != (first["authToken"], first["refreshToken"])
    record = gate.table("user").find("zoe@x.com")
    assert record is not None
    assert gate.verify(access).sub == str(record["id"])


def test_emails_are_normalized(client: RawClient, gate: Gate) -> None:
    """ " Ann@X.COM " signs up as ann@x.com; any spelling of it logs in and is already in use."""
    signup(client, email=" Ann@X.COM ")
    assert gate.table("user").find("ann@x.com") is not None
    assert gate.table("user").find(" Ann@X.COM ") is None
    assert_token_pair(login(client, email="ann@x.com"))
    assert_token_pair(login(client, email="  ANN@x.com"))
    again = post(client, "/auth/signup", {"email": "ann@x.com", "password": PASSWORD})
    assert_xano(again, 403, "ERROR_CODE_ACCESS_DENIED", message="This account is already in use.")


def test_signup_of_a_taken_email_is_403_without_hashing(
    client: RawClient, gate: Gate, spy: SpyHasher
) -> None:
    """A second signup with an email in use is refused before any hash, storing nothing."""
    signup(client)
    spy.reset()
    count = len(user_backend(gate))
    res = post(client, "/auth/signup", {"email": "ZOE@x.com", "password": "other pass 9"})
    assert_xano(res, 403, "ERROR_CODE_ACCESS_DENIED", message="This account is already in use.")
    assert (spy.calls, spy.work) == ([], [])
    assert len(user_backend(gate)) == count


def test_unknown_email_and_wrong_password_answer_alike(client: RawClient) -> None:
    """Unknown email and wrong password: the same 403 "Invalid Credentials.", byte for byte."""
    signup(client)
    unknown = login(client, email="nobody@x.com")
    wrong = login(client, password="wrong horse 1")
    for res in (unknown, wrong):
        assert_xano(res, 403, "ERROR_CODE_ACCESS_DENIED", message="Invalid Credentials.")
    assert unknown.body == wrong.body
    assert sorted(unknown.headers) == sorted(wrong.headers)


# -- me --------------------------------------------------------------------------------------


def test_me_returns_the_record_without_the_password(client: RawClient) -> None:
    """GET /auth/me answers the record: id, created_at, name, email -- never the hash."""
    tokens = signup(client, email="Zoe@X.com", name="Zoe")
    res = get(client, "/auth/me", tokens["authToken"])
    assert res.status == 200
    assert set(res.json) == {"id", "created_at", "name", "email", "email_verified"}
    assert res.json["email_verified"] is False
    assert (res.json["name"], res.json["email"]) == ("Zoe", "zoe@x.com")
    assert res.header("cache-control") == "no-store"


def test_me_hides_password_and_hidden_fields(client: RawClient, gate: Gate) -> None:
    """A seeded record with a hidden field: me shows neither it nor the password."""
    res = get(client, "/auth/me", gate.issue("user", 1))
    assert res.status == 200
    assert res.json == {"id": 1, "name": "Ann", "email": "ann@example.com"}


# -- refresh ---------------------------------------------------------------------------------


def test_refresh_returns_a_new_pair_and_spends_the_old(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Refresh answers a new pair; without grace, the spent token is a 401 that ends the family."""
    gate = make_auth_gate(refresh_grace=0)
    client = wrap(gate, adapter)
    tokens = signup(client)
    access, child = assert_token_pair(refresh(client, tokens["refreshToken"]))
    assert child != tokens["refreshToken"]
    assert access != tokens["authToken"]
    assert get(client, "/auth/me", access).json["email"] == "zoe@x.com"
    reused = refresh(client, tokens["refreshToken"])
    assert_xano(reused, 401, "ERROR_CODE_UNAUTHORIZED")
    assert reused.header("www-authenticate") == 'Bearer error="invalid_token"'
    assert_xano(refresh(client, child), 401, "ERROR_CODE_UNAUTHORIZED")


def test_refresh_grace_repeats_the_child_then_reuse_revokes(
    client: RawClient, clock: Clock
) -> None:
    """In the 10 s grace the parent gets the same child again; after it, reuse ends the family."""
    tokens = signup(client)
    _, child = assert_token_pair(refresh(client, tokens["refreshToken"]))
    _, again = assert_token_pair(refresh(client, tokens["refreshToken"]))
    assert again == child
    clock.advance(11)
    assert_xano(refresh(client, tokens["refreshToken"]), 401, "ERROR_CODE_UNAUTHORIZED")
    assert_xano(refresh(client, child), 401, "ERROR_CODE_UNAUTHORIZED")


def _after_logout(client: RawClient, tokens: dict[str, str], clock: Clock) -> str:
    assert post(client, "/auth/logout", token=tokens["authToken"], raw=b"").status == 204
    return tokens["refreshToken"]


def _after_expiry(client: RawClient, tokens: dict[str, str], clock: Clock) -> str:
    clock.advance(30 * 24 * 3600 + 1)
    return tokens["refreshToken"]


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda c, t, k: UNKNOWN_REFRESH, id="unknown"),
        pytest.param(lambda c, t, k: t["refreshToken"][:-1], id="truncated"),
        pytest.param(lambda c, t, k: t["refreshToken"] + "A", id="too-long"),
        pytest.param(lambda c, t, k: t["refreshToken"][:-1] + "=", id="bad-character"),
        pytest.param(lambda c, t, k: t["authToken"], id="an-access-token"),
        pytest.param(_after_logout, id="revoked-by-logout"),
        pytest.param(_after_expiry, id="expired"),
    ],
)
def test_refresh_refuses_with_401(
    client: RawClient, clock: Clock, make_token: Callable[..., str]
) -> None:
    """An unknown, malformed, revoked or expired refresh token is a 401 with WWW-Authenticate."""
    tokens = signup(client)
    res = refresh(client, make_token(client, tokens, clock))
    assert_xano(res, 401, "ERROR_CODE_UNAUTHORIZED")
    assert res.header("www-authenticate") == 'Bearer error="invalid_token"'


# -- logout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "with_token",
    [
        pytest.param(True, id="access-token"),
        pytest.param(False, id="refresh-token-only"),
    ],
)
def test_logout_revokes_that_session_only(client: RawClient, with_token: bool) -> None:
    """Logout by token or by refreshToken alone: 204, that session revoked, the others kept."""
    mine = signup(client)
    _, other_refresh = assert_token_pair(login(client))
    if with_token:
        res = post(client, "/auth/logout", token=mine["authToken"], raw=b"")
    else:
        res = post(client, "/auth/logout", {"refreshToken": mine["refreshToken"]})
    assert res.status == 204
    assert res.body == b""
    assert res.header("cache-control") == "no-store"
    assert_xano(refresh(client, mine["refreshToken"]), 401, "ERROR_CODE_UNAUTHORIZED")
    assert_token_pair(refresh(client, other_refresh))


def test_logout_with_a_rotated_token_ends_the_family(client: RawClient) -> None:
    """Logout with the access token of a refreshed session ends the family's newest token."""
    tokens = signup(client)
    access, child = assert_token_pair(refresh(client, tokens["refreshToken"]))
    assert post(client, "/auth/logout", token=access, raw=b"").status == 204
    assert_xano(refresh(client, child), 401, "ERROR_CODE_UNAUTHORIZED")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty-body"),
        pytest.param(b"{}", id="no-refresh-token"),
        pytest.param(json.dumps({"refreshToken": UNKNOWN_REFRESH}).encode(), id="unknown"),
    ],
)
def test_logout_without_a_session_is_401(client: RawClient, body: bytes) -> None:
    """Logout with neither a token nor a known refresh token is a 401 with WWW-Authenticate."""
    res = post(client, "/auth/logout", raw=body)
    assert_xano(res, 401, "ERROR_CODE_UNAUTHORIZED")
    assert (res.header("www-authenticate") or "").startswith("Bearer")


def test_logout_with_a_sessionless_token_is_204(client: RawClient, gate: Gate) -> None:
    """A valid token minted by gate.issue (no refresh session) logs out with nothing to end."""
    res = post(client, "/auth/logout", raw=b"", token=gate.issue("user", 1))
    assert res.status == 204
    assert res.body == b""


# -- password change -------------------------------------------------------------------------


def test_password_change(client: RawClient, clock: Clock, gate: Gate) -> None:
    """Password change: new tokens, other sessions revoked, older access tokens refused."""
    here = signup(client)
    _, there_refresh = assert_token_pair(login(client))
    there_access = login(client).json["authToken"]
    clock.advance(1)
    res = post(
        client,
        "/auth/password",
        {"password": PASSWORD, "newPassword": NEW_PASSWORD},
        token=here["authToken"],
    )
    access, new_refresh = assert_token_pair(res)
    for old in (here["authToken"], there_access):
        refused = get(client, "/auth/me", old)
        assert_xano(refused, 401, "ERROR_CODE_UNAUTHORIZED")
        assert refused.header("www-authenticate") == 'Bearer error="invalid_token"'
    for old in (here["refreshToken"], there_refresh):
        assert_xano(refresh(client, old), 401, "ERROR_CODE_UNAUTHORIZED")
    me = get(client, "/auth/me", access)
    assert me.status == 200
    assert "password_changed_at" not in me.json
    assert "password" not in me.json
    assert_token_pair(refresh(client, new_refresh))
    assert_xano(login(client), 403, "ERROR_CODE_ACCESS_DENIED", message="Invalid Credentials.")
    assert_token_pair(login(client, password=NEW_PASSWORD))


def test_password_change_with_a_wrong_password_changes_nothing(
    client: RawClient, gate: Gate, clock: Clock
) -> None:
    """A wrong current password is the login 403; the hash, the sessions and tokens stay."""
    tokens = signup(client)
    stored = gate.table("user").find("zoe@x.com")
    clock.advance(1)
    res = post(
        client,
        "/auth/password",
        {"password": "wrong horse 1", "newPassword": NEW_PASSWORD},
        token=tokens["authToken"],
    )
    assert_xano(res, 403, "ERROR_CODE_ACCESS_DENIED", message="Invalid Credentials.")
    assert gate.table("user").find("zoe@x.com") == stored
    assert get(client, "/auth/me", tokens["authToken"]).status == 200
    assert_token_pair(refresh(client, tokens["refreshToken"]))


# -- the error table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/auth/me", id="me"),
        pytest.param("POST", "/auth/password", id="password"),
        pytest.param("GET", "/admin/auth/me", id="admin-me"),
    ],
)
def test_missing_token_is_401(client: RawClient, method: str, path: str) -> None:
    """No token on me / password: 401 "Authentication Required" with WWW-Authenticate: Bearer."""
    res = client(method, path, [JSON], body=b"{}")
    assert_xano(
        res, 401, "ERROR_CODE_UNAUTHORIZED", message="Unauthorized - Authentication Required"
    )
    assert res.header("www-authenticate") == "Bearer"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/auth/me", id="me"),
        pytest.param("POST", "/auth/password", id="password"),
        pytest.param("POST", "/auth/logout", id="logout"),
    ],
)
@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-token", id="garbage"),
        pytest.param("a.b.c.d.e", id="five-segments"),
    ],
)
def test_invalid_token_is_401(client: RawClient, method: str, path: str, token: str) -> None:
    """An invalid token on an endpoint that reads one: 401 with error="invalid_token"."""
    res = client(method, path, [JSON, ("Authorization", f"Bearer {token}")], body=b"{}")
    assert_xano(res, 401, "ERROR_CODE_UNAUTHORIZED")
    assert res.header("www-authenticate") == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    ("method", "endpoint", "allowed"),
    [
        pytest.param("GET", "signup", "POST", id="GET-signup"),
        pytest.param("PUT", "login", "POST", id="PUT-login"),
        pytest.param("GET", "refresh", "POST", id="GET-refresh"),
        pytest.param("DELETE", "logout", "POST", id="DELETE-logout"),
        pytest.param("POST", "me", "GET", id="POST-me"),
        pytest.param("GET", "password", "POST", id="GET-password"),
    ],
)
def test_wrong_method_is_405(
    client: RawClient, gate: Gate, method: str, endpoint: str, allowed: str
) -> None:
    """Each endpoint answers a wrong method with 405 and Allow (token given where required)."""
    headers = [JSON, ("Authorization", f"Bearer {gate.issue('user', 1)}")]
    res = client(method, f"/auth/{endpoint}", headers, body=b"{}")
    assert res.status == 405
    assert res.header("allow") == allowed
    assert set(res.json) == {"code", "message", "payload"}


@pytest.mark.parametrize(
    "content_length",
    [
        pytest.param(True, id="content-length"),
        pytest.param(False, id="chunked"),
    ],
)
def test_body_limit_boundary(
    make_auth_gate: Callable[..., Gate], adapter: str, content_length: bool
) -> None:
    """A body of exactly max_body_bytes is read; one byte more is a 413 naming the body."""
    gate = make_auth_gate(max_body_bytes=200)
    client = wrap(gate, adapter)
    body = json.dumps({"email": "zoe@x.com", "password": PASSWORD}).encode()
    at_limit = body + b" " * (200 - len(body))
    res = post(client, "/auth/signup", raw=at_limit + b" ", content_length=content_length)
    assert_xano(res, 413, "ERROR_CODE_INPUT_ERROR", param="body")
    assert len(user_backend(gate)) == 2
    assert_token_pair(post(client, "/auth/signup", raw=at_limit, content_length=content_length))


def test_error_bodies_are_json_and_not_cached(client: RawClient) -> None:
    """The Xano error body is application/json and marked no-store."""
    res = login(client, email="nobody@x.com")
    assert res.header("content-type") == "application/json"
    assert res.header("cache-control") == "no-store"
    assert json.loads(res.body) == res.json


# -- tables ----------------------------------------------------------------------------------


def test_username_login_field_end_to_end(make_auth_gate: Callable[..., Gate], adapter: str) -> None:
    """A table whose login field is "username": signup, login, me, refresh, password, logout."""
    gate = make_auth_gate(
        tables=[
            Table("user", MemoryBackend(), login_field="username"),
            Table("admin", MemoryBackend(admins())),
        ]
    )
    client = wrap(gate, adapter)
    missing = post(client, "/auth/signup", {"email": "zoe@x.com", "password": PASSWORD})
    assert_xano(missing, 400, "ERROR_CODE_INPUT_ERROR", param="username")
    tokens = assert_token_pair(
        post(client, "/auth/signup", {"username": "Zoe_99", "password": PASSWORD, "name": "Zoe"})
    )
    me = get(client, "/auth/me", tokens[0])
    assert set(me.json) == {"id", "created_at", "name", "username", "email_verified"}
    assert me.json["username"] == "Zoe_99"
    logged = post(client, "/auth/login", {"username": " Zoe_99 ", "password": PASSWORD})
    access, refresh_token = assert_token_pair(logged)
    wrong = post(client, "/auth/login", {"username": "Zoe_99", "password": "wrong horse 1"})
    assert_xano(wrong, 403, "ERROR_CODE_ACCESS_DENIED", message="Invalid Credentials.")
    access, refresh_token = assert_token_pair(refresh(client, refresh_token))
    changed = post(
        client, "/auth/password", {"password": PASSWORD, "newPassword": NEW_PASSWORD}, token=access
    )
    access, _ = assert_token_pair(changed)
    assert post(client, "/auth/logout", token=access, raw=b"").status == 204
    assert_token_pair(post(client, "/auth/login", {"username": "Zoe_99", "password": NEW_PASSWORD}))


@pytest.fixture
def both(client: RawClient) -> dict[str, dict[str, str]]:
    """A user's and an admin's token pairs (both signed up through their own prefix)."""
    return {
        "user": signup(client, email="zoe@x.com"),
        "admin": signup(client, email="boss@x.com", prefix="/admin/auth"),
    }


@pytest.mark.parametrize(
    ("method", "path", "owner"),
    [
        pytest.param("GET", "/auth/me", "admin", id="admin-token-on-user-me"),
        pytest.param("GET", "/admin/auth/me", "user", id="user-token-on-admin-me"),
        pytest.param("POST", "/auth/password", "admin", id="admin-token-on-user-password"),
        pytest.param("POST", "/admin/auth/password", "user", id="user-token-on-admin-password"),
        pytest.param("POST", "/auth/logout", "admin", id="admin-token-on-user-logout"),
        pytest.param("POST", "/admin/auth/logout", "user", id="user-token-on-admin-logout"),
    ],
)
def test_access_tokens_never_cross_tables(
    client: RawClient, both: dict[str, dict[str, str]], method: str, path: str, owner: str
) -> None:
    """An access token of one table is a 401 invalid_token on the other table's endpoints."""
    body = json.dumps({"password": PASSWORD, "newPassword": NEW_PASSWORD}).encode()
    headers = [JSON, ("Authorization", f"Bearer {both[owner]['authToken']}")]
    res = client(method, path, headers, body=body)
    assert_xano(res, 401, "ERROR_CODE_UNAUTHORIZED")
    assert res.header("www-authenticate") == 'Bearer error="invalid_token"'
    own = "/auth/me" if owner == "user" else "/admin/auth/me"
    assert get(client, own, both[owner]["authToken"]).status == 200


@pytest.mark.parametrize(
    ("endpoint", "owner"),
    [
        pytest.param("/auth/refresh", "admin", id="admin-refresh-on-user-refresh"),
        pytest.param("/admin/auth/refresh", "user", id="user-refresh-on-admin-refresh"),
        pytest.param("/auth/logout", "admin", id="admin-refresh-on-user-logout"),
        pytest.param("/admin/auth/logout", "user", id="user-refresh-on-admin-logout"),
    ],
)
def test_refresh_tokens_never_cross_tables(
    client: RawClient, both: dict[str, dict[str, str]], endpoint: str, owner: str
) -> None:
    """A refresh token of one table is a 401 on the other table's refresh and logout."""
    res = post(client, endpoint, {"refreshToken": both[owner]["refreshToken"]})
    assert_xano(res, 401, "ERROR_CODE_UNAUTHORIZED")


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("/auth/refresh", id="refresh"),
        pytest.param("/auth/logout", id="logout"),
    ],
)
def test_a_refresh_token_on_the_wrong_table_is_left_alone(
    client: RawClient, both: dict[str, dict[str, str]], endpoint: str
) -> None:
    """An admin refresh token posted to the user endpoints is neither spent nor revoked."""
    token = both["admin"]["refreshToken"]
    assert_xano(post(client, endpoint, {"refreshToken": token}), 401, "ERROR_CODE_UNAUTHORIZED")
    assert_token_pair(refresh(client, token, prefix="/admin/auth"))


def test_credentials_never_cross_tables(client: RawClient, both: dict[str, dict[str, str]]) -> None:
    """An admin's email and password do not log in to the user table, and vice versa."""
    assert_xano(login(client, email="boss@x.com"), 403, "ERROR_CODE_ACCESS_DENIED")
    assert_xano(
        login(client, email="zoe@x.com", prefix="/admin/auth"), 403, "ERROR_CODE_ACCESS_DENIED"
    )
    assert_token_pair(login(client, email="boss@x.com", prefix="/admin/auth"))


def test_extras_are_minted_into_handler_tokens(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Gate(extras={"admin": fn}): fn's extras are in every handler-minted admin token."""
    gate = make_auth_gate(extras={"admin": lambda r: {"role": "admin", "name": r["name"]}})
    client = wrap(gate, adapter)
    expected = {"role": "admin", "name": "Boss"}
    tokens = signup(client, email="boss@x.com", name="Boss", prefix="/admin/auth")
    assert gate.verify(tokens["authToken"]).extras == expected
    logged = login(client, email="boss@x.com", prefix="/admin/auth").json
    assert gate.verify(logged["authToken"]).extras == expected
    refreshed = refresh(client, logged["refreshToken"], prefix="/admin/auth").json
    assert gate.verify(refreshed["authToken"]).extras == expected
    seen = get(client, "/admin/stats", refreshed["authToken"])
    assert seen.status == 200
    assert seen.json["extras"] == expected
    assert "admin" in seen.json["scopes"]
    assert gate.verify(signup(client)["authToken"]).extras == {}


# -- the login throttle ----------------------------------------------------------------------


def test_eleventh_failure_is_429_until_the_window_ends(
    client: RawClient, clock: Clock, spy: SpyHasher
) -> None:
    """The 11th login in the window is a 429 with Retry-After, unhashed; after it, 200."""
    signup(client)
    for _ in range(10):
        assert login(client, password="wrong horse 1").status == 403
    spy.reset()
    for password in ("wrong horse 1", PASSWORD):
        res = login(client, password=password)
        assert_xano(res, 429, "ERROR_CODE_TOO_MANY_REQUESTS")
        assert 1 <= int(res.header("retry-after") or "0") <= 15 * 60 + 1
    assert (spy.calls, spy.work) == ([], [])
    clock.advance(15 * 60 + 1)
    assert_token_pair(login(client))


def test_a_strangers_failures_do_not_lock_out_the_owner(client: RawClient) -> None:
    """A stranger's 10 failures lock the stranger out of that account, not the owner's login,
    and not the stranger's address for other accounts (the per-address limit is larger)."""
    signup(client)
    signup(client, email="amy@x.com")
    for _ in range(10):
        assert login(client, password="wrong horse 1", addr="203.0.113.66").status == 403
    assert login(client, password="wrong horse 1", addr="203.0.113.66").status == 429
    assert login(client, addr="203.0.113.66").status == 429
    assert_token_pair(login(client, email="amy@x.com", addr="203.0.113.66"))
    assert_token_pair(login(client, addr="198.51.100.1"))
    assert_token_pair(login(client, email="amy@x.com", addr="198.51.100.2"))


def test_one_address_spraying_many_accounts_is_throttled(client: RawClient) -> None:
    """Failures against 100 different accounts from one address lock that address."""
    for i in range(100):
        assert login(client, email=f"user{i}@x.com", addr="203.0.113.7").status == 403
    assert login(client, email="user999@x.com", addr="203.0.113.7").status == 429
    assert login(client, email="user999@x.com", addr="203.0.113.8").status == 403


@pytest.mark.parametrize(
    ("succeed", "third"),
    [
        pytest.param(True, 403, id="success-resets"),
        pytest.param(False, 429, id="no-success-control"),
    ],
)
def test_a_success_resets_the_accounts_count(
    make_auth_gate: Callable[..., Gate], adapter: str, succeed: bool, third: int
) -> None:
    """A successful login clears the account's failure count for that address."""
    clock = Clock()
    gate = make_auth_gate(clock=clock)
    client = wrap(gate, adapter)
    signup(client)
    # The address's own window starts first and ends first, isolating the account's count.
    assert login(client, email="other@x.com", password="wrong horse 1").status == 403
    clock.advance(100)
    for _ in range(8):
        assert login(client, password="wrong horse 1").status == 403
    clock.advance(801)  # the address window has ended; the account's has not
    if succeed:
        assert_token_pair(login(client))
    statuses = [login(client, password="wrong horse 1").status for _ in range(3)]
    assert statuses == [403, 403, third]


def test_a_success_forgives_the_owners_own_failures(client: RawClient) -> None:
    """After a success the owner's own typos stop counting against their address too."""
    signup(client)
    for _ in range(9):
        assert login(client, password="wrong horse 1").status == 403
    assert_token_pair(login(client))
    assert [login(client, password="wrong horse 1").status for _ in range(9)] == [403] * 9


def test_a_success_on_ones_own_account_does_not_forgive_guesses(client: RawClient) -> None:
    """Guesses at another account stay counted when the guesser logs in to their own."""
    signup(client)
    signup(client, email="amy@x.com")
    for _ in range(9):
        assert (
            login(client, email="amy@x.com", password="wrong horse 1", addr="203.0.113.9").status
            == 403
        )
    assert_token_pair(login(client, addr="203.0.113.9"))
    statuses = [
        login(client, email="amy@x.com", password="wrong horse 1", addr="203.0.113.9").status
        for _ in range(2)
    ]
    assert statuses == [403, 429]


def test_throttle_limits_are_configurable(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Throttle(max_failures=3): the 4th attempt is the 429."""
    client = wrap(make_auth_gate(throttle=Throttle(max_failures=3)), adapter)
    signup(client)
    assert [login(client, password="wrong horse 1").status for _ in range(4)] == [
        403,
        403,
        403,
        429,
    ]


def test_successes_do_not_count_against_the_limit(client: RawClient) -> None:
    """Each attempt is counted before its check, and a success gives its count back: twelve
    right logins in a row from one address are all 200."""
    signup(client)
    for _ in range(12):
        assert_token_pair(login(client))


def test_locked_out_attempts_are_given_back(
    make_auth_gate: Callable[..., Gate], adapter: str, clock: Clock, spy: SpyHasher
) -> None:
    """While strangers hold the account-wide counter, the owner's refused attempts count
    nowhere: once it ends, the owner's own address is not locked out."""
    gate = make_auth_gate(
        hasher=spy, clock=clock, throttle=Throttle(account_max_failures=3, account_window=60)
    )
    client = wrap(gate, adapter)
    signup(client)
    for i in range(3):
        assert login(client, password="wrong horse 1", addr=f"203.0.113.{i}").status == 403
    spy.reset()
    for _ in range(15):
        assert login(client, addr="198.51.100.1").status == 429
    assert (spy.calls, spy.work) == ([], [])
    clock.advance(61)
    assert_token_pair(login(client, addr="198.51.100.1"))


def test_ipv6_clients_are_counted_by_their_64(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Ten addresses of one IPv6 /64 share one address count; the next /64 has its own."""
    client = wrap(make_auth_gate(throttle=Throttle(address_max_failures=10)), adapter)
    signup(client)
    for i in range(10):
        assert login(client, email=f"user{i}@x.com", addr=f"2001:db8::{i + 1:x}").status == 403
    assert login(client, addr="2001:db8:0:0:ffff:ffff:ffff:ffff").status == 429
    assert login(client, email="user99@x.com", addr="2001:db8:0:1::1").status == 403
    assert_token_pair(login(client, addr="2001:db8:0:1::2"))


@pytest.mark.parametrize(
    ("client", "bucket"),
    [
        pytest.param("2001:db8::1", "2001:db8::/64", id="ipv6"),
        pytest.param("2001:DB8:0:0:ffff:ffff:ffff:ffff", "2001:db8::/64", id="ipv6-same-64"),
        pytest.param("2001:db8:0:1::1", "2001:db8:0:1::/64", id="ipv6-next-64"),
        pytest.param("fe80::1%eth0", "fe80::/64", id="ipv6-scoped"),
        pytest.param("::ffff:203.0.113.9", "203.0.113.9", id="ipv4-mapped"),
        pytest.param("203.0.113.9", "203.0.113.9", id="ipv4"),
        pytest.param("testclient", "testclient", id="not-an-address"),
        pytest.param(None, "-", id="none"),
        pytest.param("", "-", id="empty"),
    ],
)
def test_throttle_address_buckets(client: str | None, bucket: str) -> None:
    """IPv6 addresses are counted by /64, IPv4 (mapped or not) as is, anything else as given."""
    assert _client_bucket(client) == bucket


def test_extras_never_see_the_password_hash(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """The extras function gets the record as the app sees it: no hash, no password stamp."""
    seen: list[dict[str, Any]] = []

    def extras(record: Any) -> dict[str, Any]:
        seen.append(dict(record))
        return {}

    client = wrap(make_auth_gate(extras={"user": extras}), adapter)
    tokens = signup(client)
    assert_token_pair(login(client))
    assert_token_pair(refresh(client, tokens["refreshToken"]))
    assert len(seen) == 3
    for record in seen:
        assert record["email"] == "zoe@x.com"
        assert "password" not in record
        assert "password_changed_at" not in record


# -- bad input to every handler --------------------------------------------------------------


BASES: dict[str, dict[str, Any]] = {
    "signup": {"name": "New", "email": "new@x.com", "password": PASSWORD},
    "login": {"email": "ann@example.com", "password": PASSWORD},
    "refresh": {"refreshToken": UNKNOWN_REFRESH},
    "logout": {"refreshToken": UNKNOWN_REFRESH},
    "password": {"password": PASSWORD, "newPassword": NEW_PASSWORD},
}
"""A well-formed body per endpoint; each case below spoils one thing of it."""

_MISSING = object()
WRONG_TYPES = [
    pytest.param(_MISSING, id="missing"),
    pytest.param(None, id="null"),
    pytest.param(42, id="int"),
    pytest.param(4.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param([], id="empty-list"),
    pytest.param(["x@y.z"], id="list"),
    pytest.param({"$ne": ""}, id="object"),
    pytest.param("", id="empty-string"),
]
BAD_SECRETS = [
    pytest.param("   ", id="blank"),
    pytest.param("abc\x00defg123", id="nul"),
    pytest.param("abc\ud800defg123", id="lone-surrogate"),
    pytest.param("a1" * 129, id="over-max-length"),
]
WEAK = [
    pytest.param("abc123", id="too-short"),
    pytest.param("abcdefghij", id="no-digit"),
    pytest.param("1234567890", id="no-letter"),
]
BAD_EMAILS = [
    pytest.param("not-an-email", id="no-at"),
    pytest.param("a@b@c", id="two-ats"),
    pytest.param("a b@x.com", id="space"),
    pytest.param("a\x01b@x.com", id="control"),
    pytest.param("ann\x00@x.com", id="nul"),
    pytest.param("ann\ud800@x.com", id="lone-surrogate"),
    pytest.param("a" * 250 + "@x.com", id="over-254"),
    pytest.param("   ", id="blank"),
]
BAD_NAMES = [
    pytest.param(42, id="int"),
    pytest.param(["Zoe"], id="list"),
    pytest.param({"first": "Zoe"}, id="object"),
    pytest.param(False, id="bool"),
    pytest.param("Zoe\x00", id="nul"),
    pytest.param("Zoe\udfff", id="lone-surrogate"),
    pytest.param("Z" * 201, id="over-200"),
]
BAD_REFRESH_FORMS = [
    pytest.param("abc", id="short"),
    pytest.param("   ", id="blank"),
    pytest.param("A" * 42 + "\x00", id="nul"),
    pytest.param("A" * 42 + "\ud800", id="lone-surrogate"),
    pytest.param("A" * 10_000, id="long"),
]


def _spoiled(endpoint: str, field: str, value: Any, status: int, param: str | None) -> Any:
    body = dict(BASES[endpoint])
    if value is _MISSING:
        del body[field]
    else:
        body[field] = value
    return (endpoint, json.dumps(body).encode(), status, param)


def _field_cases() -> list[Any]:
    cases: list[Any] = []

    def add(
        endpoint: str,
        field: str,
        values: list[Any],
        status: int,
        param: str | None,
        skip: tuple[str, ...] = (),
    ) -> None:
        for p in values:
            if p.id in skip:
                continue
            case = _spoiled(endpoint, field, p.values[0], status, param)
            cases.append(pytest.param(*case, id=f"{endpoint}-{field}-{p.id}"))

    for endpoint in ("signup", "login"):
        add(endpoint, "email", WRONG_TYPES + BAD_EMAILS, 400, "email")
        add(endpoint, "password", WRONG_TYPES + BAD_SECRETS, 400, "password")
    add("signup", "password", WEAK, 400, "password")
    add("signup", "name", BAD_NAMES, 400, "name")
    add("password", "password", WRONG_TYPES + BAD_SECRETS, 400, "password")
    add("password", "newPassword", WRONG_TYPES + BAD_SECRETS + WEAK, 400, "newPassword")
    add("refresh", "refreshToken", WRONG_TYPES, 400, "refreshToken")
    add("refresh", "refreshToken", BAD_REFRESH_FORMS, 401, None)
    # Logout without any refreshToken is "no session" (401); one of the wrong type is a 400.
    add("logout", "refreshToken", WRONG_TYPES, 400, "refreshToken", skip=("missing",))
    add("logout", "refreshToken", BAD_REFRESH_FORMS, 401, None)
    return cases


RAW_BODIES = [
    pytest.param(b"email=a%40x.com&password=abc12345", id="form-encoded"),
    pytest.param(b'{"email": "a@x.com", "password": ', id="truncated-json"),
    pytest.param(b'[{"email": "a@x.com", "password": "abc12345"}]', id="json-array"),
    pytest.param(b'"a@x.com"', id="json-string"),
    pytest.param(b"null", id="json-null"),
    pytest.param(b"12345", id="json-number"),
    pytest.param(b"true", id="json-true"),
    pytest.param(b'{"email": "\xff\xfe@x.com"}', id="invalid-utf8"),
    pytest.param(b'{"email"\x00: "a@x.com"}', id="raw-nul-byte"),
    pytest.param(b"[" * 20_000 + b"]" * 20_000, id="deeply-nested"),
    pytest.param(b'{"email": ' + b"9" * 50_000 + b"}", id="huge-integer"),
    pytest.param(b"{" + b'"a": 1, ' * 7_000 + b"}", id="many-keys-invalid"),
]


def _raw_cases() -> list[Any]:
    cases: list[Any] = []
    for endpoint in BASES:
        for p in RAW_BODIES:
            cases.append(pytest.param(endpoint, p.values[0], 400, "body", id=f"{endpoint}-{p.id}"))
        # An empty body is no JSON; to logout it is "no session" (401).
        empty = (401, None) if endpoint == "logout" else (400, "body")
        cases.append(pytest.param(endpoint, b"", *empty, id=f"{endpoint}-empty"))
        cases.append(
            pytest.param(
                endpoint, b"x" * (64 * 1024 + 1), 413, "body", id=f"{endpoint}-over-body-limit"
            )
        )
    return cases


CODES = {
    400: "ERROR_CODE_INPUT_ERROR",
    401: "ERROR_CODE_UNAUTHORIZED",
    413: "ERROR_CODE_INPUT_ERROR",
}


@pytest.mark.parametrize(("endpoint", "body", "status", "param"), _field_cases() + _raw_cases())
def test_bad_input_is_refused_before_any_work(
    client: RawClient,
    gate: Gate,
    spy: SpyHasher,
    endpoint: str,
    body: bytes,
    status: int,
    param: str | None,
) -> None:
    """Malformed input to any handler: a 4xx naming the field, no hash, nothing stored."""
    users, admins_ = user_backend(gate), user_backend(gate, "admin")
    counts = (len(users), len(admins_))
    before = gate.table("user").get("1")
    token = gate.issue("user", 1) if endpoint == "password" else None
    res = post(client, f"/auth/{endpoint}", raw=body, token=token)
    assert_xano(res, status, CODES[status], param=param)
    if status == 401:
        assert (res.header("www-authenticate") or "").startswith("Bearer")
    assert (spy.calls, spy.work) == ([], [])
    assert (len(users), len(admins_)) == counts
    assert gate.table("user").get("1") == before


@pytest.mark.parametrize(
    ("endpoint", "status", "calls"),
    [
        pytest.param("signup", 200, ["hash"], id="signup"),
        pytest.param("login", 403, ["verify"], id="login"),
        pytest.param("password", 403, ["verify"], id="password"),
        pytest.param("refresh", 401, [], id="refresh"),
        pytest.param("logout", 401, [], id="logout"),
    ],
)
def test_the_unspoiled_bodies_pass_the_input_checks(
    client: RawClient, gate: Gate, spy: SpyHasher, endpoint: str, status: int, calls: list[str]
) -> None:
    """Control: each base body passes the input checks and reaches the hasher when it needs it."""
    token = gate.issue("user", 1) if endpoint == "password" else None
    res = post(client, f"/auth/{endpoint}", BASES[endpoint], token=token)
    assert res.status == status
    assert [c.removeprefix("a") for c in spy.calls] == calls
    assert bool(spy.work) == bool(calls)


TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        pytest.param("signup", "password", id="signup"),
        pytest.param("login", "password", id="login"),
        pytest.param("password", "password", id="password-old"),
        pytest.param("password", "newPassword", id="password-new"),
    ],
)
@pytest.mark.parametrize(
    ("limit", "status", "param"),
    [
        pytest.param(None, 413, "body", id="default-body-limit"),
        pytest.param(TEN_MB + 1024, 400, None, id="raised-body-limit"),
    ],
)
@pytest.mark.parametrize(
    "content_length",
    [
        pytest.param(True, id="content-length"),
        pytest.param(False, id="chunked"),
    ],
)
def test_ten_megabyte_password(
    make_auth_gate: Callable[..., Gate],
    adapter: str,
    endpoint: str,
    field: str,
    limit: int | None,
    status: int,
    param: str | None,
    content_length: bool,
) -> None:
    """A 10 MB password: 413 at the default body limit, else 400 (max length); no hash."""
    spy = SpyHasher()
    gate = make_auth_gate(hasher=spy, **({} if limit is None else {"max_body_bytes": limit}))
    client = wrap(gate, adapter)
    body = dict(BASES[endpoint])
    body[field] = "a1" * (TEN_MB // 2)
    token = gate.issue("user", 1) if endpoint == "password" else None
    res = post(client, f"/auth/{endpoint}", body, token=token, content_length=content_length)
    assert_xano(res, status, "ERROR_CODE_INPUT_ERROR", param=param or field)
    assert (spy.calls, spy.work) == ([], [])
    assert len(user_backend(gate)) == 2


# -- the standalone apps ---------------------------------------------------------------------


def _mounted_asgi(gate: Gate) -> RawClient:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("home")

    app = Starlette(routes=[Route("/", home), Mount("/auth", app=gate.auth_asgi("user"))])
    return ASGIClient(app)


def _mounted_wsgi(gate: Gate) -> RawClient:
    base = Flask(__name__)
    base.add_url_rule("/", "home", lambda: "home")
    return WSGIClient(DispatcherMiddleware(base, {"/auth": gate.auth_wsgi("user")}))


@pytest.mark.parametrize(
    "mount",
    [
        pytest.param(_mounted_asgi, id="starlette-Mount"),
        pytest.param(_mounted_wsgi, id="werkzeug-DispatcherMiddleware"),
    ],
)
def test_standalone_auth_apps(
    make_auth_gate: Callable[..., Gate], mount: Callable[[Gate], RawClient]
) -> None:
    """auth_asgi in Starlette's Mount, auth_wsgi in DispatcherMiddleware: the endpoints work."""
    gate = make_auth_gate(auth_routes=None)
    client = mount(gate)
    home = client("GET", "/")
    assert (home.status, home.body) == (200, b"home")
    tokens = signup(client)
    access, refresh_token = assert_token_pair(login(client))
    me = get(client, "/auth/me", access)
    assert (me.status, me.json["email"]) == (200, "zoe@x.com")
    missing = get(client, "/auth/me")
    assert_xano(missing, 401, "ERROR_CODE_UNAUTHORIZED")
    assert missing.header("www-authenticate") == "Bearer"
    assert_xano(get(client, "/auth/me", gate.issue("admin", 1)), 401, "ERROR_CODE_UNAUTHORIZED")
    assert_token_pair(refresh(client, refresh_token))
    assert post(client, "/auth/logout", token=tokens["authToken"], raw=b"").status == 204
    assert client("GET", "/auth/nope").status == 404
