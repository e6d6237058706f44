"""§Headers (items 1-4), §Rules modes and the §Errors bodies, as one table through both adapters.

Each row names a route, the request headers and the outcome. Header values are templates:
``{user}`` is a valid token for user 1, ``{owner}`` the same with ``extras={"role": "owner"}``,
``{admin}`` a valid token of the *admin* table, ``{expired}`` an expired user token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from support.apps import DEFAULT_RULES
from support.clients import wrap
from support.results import RawClient, Result

from jwe_gate import Gate, Rule

Outcome = Literal["ok", "anonymous", "missing", "invalid", "expired", "bad_request", "denied"]

ROUTES = {
    "required": "/echo",  # no rule: the default, required against table user
    "optional": "/blog/x",  # Rule("/blog/**", "optional")
    "public": "/echo",  # the same /echo on a gate where it is public
    "health": "/health",  # Rule("/health", "public")
    "owner": "/orgs/acme/billing",  # required, when={"role": "owner"}
}
BASIC = "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
DIGEST = 'Digest username="ann", realm="api", nonce="dcd98b", uri="/echo", response="6629fae4"'
GARBAGE = "Bearer not-a-token"


@dataclass(frozen=True)
class Case:
    route: str
    headers: tuple[tuple[str, str], ...]
    outcome: Outcome
    seen: str | None = None
    """The Authorization the app must receive (repeats joined by ","); checked on /echo."""


def case(
    route: str, outcome: Outcome, *headers: tuple[str, str], seen: str | None = None, id: str
) -> Any:
    return pytest.param(Case(route, headers, outcome, seen), id=id)


A = "Authorization"
X = "X-Xano-Authorization"
ONLY = "X-Xano-Authorization-Only"

MATRIX = [
    # -- no token --------------------------------------------------------------------------
    case("required", "missing", id="none-required"),
    case("optional", "anonymous", id="none-optional"),
    case("health", "anonymous", id="none-public"),
    # -- Authorization: Bearer, scheme case-insensitive ------------------------------------
    case("required", "ok", (A, "Bearer {user}"), seen="Bearer {user}", id="bearer"),
    case("required", "ok", (A, "bearer {user}"), id="bearer-lower"),
    case("required", "ok", (A, "BEARER {user}"), id="bearer-upper"),
    case("required", "ok", (A, "BeArEr {user}"), id="bearer-mixed"),
    case("required", "ok", (A, "  Bearer   {user}  "), id="bearer-extra-spaces"),
    case("optional", "ok", (A, "Bearer {user}"), id="bearer-optional"),
    case("required", "invalid", (A, GARBAGE), id="garbage-bearer"),
    case("required", "invalid", (A, "Bearer"), id="bearer-without-token"),
    case("required", "expired", (A, "Bearer {expired}"), id="expired"),
    case("required", "invalid", (A, "Bearer {admin}"), id="wrong-table"),
    # -- another scheme in Authorization is not ours ---------------------------------------
    case("required", "missing", (A, BASIC), id="basic-required"),
    case("optional", "anonymous", (A, BASIC), id="basic-optional"),
    case("public", "anonymous", (A, BASIC), seen=BASIC, id="basic-public-untouched"),
    case("required", "missing", (A, DIGEST), id="digest-with-commas-required"),
    case("optional", "anonymous", (A, DIGEST), id="digest-with-commas-optional"),
    # -- bare tokens: X-Xano-Authorization only ---------------------------------------------
    case("required", "missing", (A, "{user}"), id="bare-in-authorization"),
    case("optional", "anonymous", (A, "{user}"), id="bare-in-authorization-optional"),
    case("required", "ok", (X, "{user}"), id="bare-in-xano"),
    case("required", "ok", (X, "Bearer {user}"), id="bearer-in-xano"),
    case("required", "ok", (X, "bearer {user}"), id="bearer-lower-in-xano"),
    case("required", "invalid", (X, "not-a-token"), id="garbage-in-xano"),
    # -- X-Xano-Authorization wins over Authorization ---------------------------------------
    case(
        "required",
        "ok",
        (X, "{user}"),
        (A, GARBAGE),
        seen=GARBAGE,
        id="xano-valid-authorization-garbage",
    ),
    case(
        "required",
        "invalid",
        (X, "not-a-token"),
        (A, "Bearer {user}"),
        id="xano-garbage-authorization-valid",
    ),
    case(
        "required",
        "ok",
        (X, "{user}"),
        (A, BASIC),
        (A, BASIC),
        seen=f"{BASIC},{BASIC}",
        id="xano-wins-over-repeated-authorization",
    ),
    # -- X-Xano-Authorization-Only: Authorization neither read nor validated -----------------
    case(
        "required",
        "ok",
        (ONLY, "true"),
        (X, "{user}"),
        (A, GARBAGE),
        seen=GARBAGE,
        id="only-true-garbage-authorization",
    ),
    case(
        "required",
        "ok",
        (ONLY, "1"),
        (X, "Bearer {user}"),
        (A, BASIC),
        seen=BASIC,
        id="only-1-basic-authorization",
    ),
    case(
        "required",
        "ok",
        (ONLY, "yes"),
        (X, "{user}"),
        (A, GARBAGE),
        (A, BASIC),
        seen=f"{GARBAGE},{BASIC}",
        id="only-yes-repeated-authorization",
    ),
    case(
        "required",
        "ok",
        (ONLY, "TRUE"),
        (X, "{user}"),
        (A, "Bearer {admin}"),
        seen="Bearer {admin}",
        id="only-TRUE-other-table-token-untouched",
    ),
    case(
        "required",
        "missing",
        (ONLY, "true"),
        (A, "Bearer {user}"),
        id="only-without-xano-ignores-valid-authorization",
    ),
    case("optional", "anonymous", (ONLY, "Yes"), (A, GARBAGE), id="only-optional-anonymous"),
    case(
        "required",
        "invalid",
        (ONLY, "true"),
        (X, "not-a-token"),
        (A, "Bearer {user}"),
        id="only-garbage-xano",
    ),
    case(
        "public",
        "anonymous",
        (ONLY, "true"),
        (X, "not-a-token"),
        (A, BASIC),
        seen=BASIC,
        id="only-on-public-route",
    ),
    case("owner", "ok", (ONLY, "1"), (X, "{owner}"), (A, BASIC), id="only-on-protected-route"),
    # -- Only with a false value has no effect ----------------------------------------------
    case("required", "ok", (ONLY, "false"), (A, "Bearer {user}"), id="only-false"),
    case("required", "ok", (ONLY, "0"), (A, "Bearer {user}"), id="only-0"),
    case("required", "invalid", (ONLY, "false"), (A, GARBAGE), id="only-false-validates"),
    case("required", "missing", (ONLY, "no"), (A, BASIC), id="only-no-basic-is-no-token"),
    # -- a repeated header is ambiguous: 400 ---------------------------------------------------
    case(
        "required",
        "bad_request",
        (A, "Bearer {user}"),
        (A, "Bearer {user}"),
        id="repeated-authorization",
    ),
    case(
        "required",
        "bad_request",
        (A, "Bearer {user}"),
        (A, GARBAGE),
        id="repeated-authorization-valid-first",
    ),
    case(
        "optional",
        "bad_request",
        (A, "Bearer {user}"),
        (A, "Bearer {user}"),
        id="repeated-authorization-optional",
    ),
    case("required", "bad_request", (X, "{user}"), (X, "{user}"), id="repeated-xano"),
    case(
        "required",
        "bad_request",
        (ONLY, "true"),
        (X, "{user}"),
        (X, "{user}"),
        id="repeated-xano-with-only",
    ),
    case(
        "required",
        "bad_request",
        (X, "{user}"),
        (X, "{user}"),
        (A, "Bearer {user}"),
        id="repeated-xano-valid-authorization",
    ),
    # -- public routes read no token header at all ------------------------------------------------
    case("public", "anonymous", (A, GARBAGE), seen=GARBAGE, id="public-garbage-untouched"),
    case(
        "public",
        "anonymous",
        (A, "Bearer {user}"),
        (A, BASIC),
        seen=f"Bearer {{user}},{BASIC}",
        id="public-repeated-authorization-untouched",
    ),
    case("health", "anonymous", (X, "not-a-token"), id="public-garbage-xano"),
    # -- optional routes: a present token must be valid --------------------------------------------
    case("optional", "invalid", (A, GARBAGE), id="optional-invalid"),
    case("optional", "expired", (A, "Bearer {expired}"), id="optional-expired"),
    case("optional", "invalid", (X, "not-a-token"), id="optional-invalid-xano"),
    # -- a failed `when` condition is a 403 --------------------------------------------------------
    case("owner", "denied", (A, "Bearer {user}"), id="when-fails"),
    case("owner", "ok", (A, "Bearer {owner}"), id="when-holds"),
    case("owner", "missing", id="when-route-without-token"),
]


@pytest.fixture
def tokens(gate: Gate) -> dict[str, str]:
    return {
        "user": gate.issue("user", 1),
        "owner": gate.issue("user", 1, extras={"role": "owner"}),
        "admin": gate.issue("admin", 1),
        "expired": gate.issue("user", 1, now=time.time() - 3600),
    }


@pytest.fixture
def public_echo(make_gate: Callable[..., Gate], adapter: str) -> RawClient:
    """The same apps, with /echo public, to see what a public route receives."""
    return wrap(make_gate(rules=(Rule("/echo", "public"), *DEFAULT_RULES)), adapter)


def check_refusal(res: Result, status: int, code: str) -> None:
    assert res.status == status, res.body
    assert not res.handled
    assert res.header("content-type") == "application/json"
    assert res.json["code"] == code
    assert isinstance(res.json["message"], str)
    assert set(res.json) == {"code", "message", "payload"}


@pytest.mark.parametrize("c", MATRIX)
def test_header_matrix(
    client: RawClient, public_echo: RawClient, tokens: dict[str, str], c: Case
) -> None:
    """Each row of §Headers/§Rules gives its status, body, WWW-Authenticate and app view."""
    headers = [(k, v.format(**tokens)) for k, v in c.headers]
    res = (public_echo if c.route == "public" else client)("GET", ROUTES[c.route], headers)
    if c.outcome in ("ok", "anonymous"):
        assert res.status == 200, res.body
        assert res.handled
        assert res.json["authenticated"] is (c.outcome == "ok")
        assert res.json["identity"] == ("1" if c.outcome == "ok" else "")
        if c.seen is not None:
            assert ",".join(res.json["authorization"]) == c.seen.format(**tokens)
        elif ROUTES[c.route] == "/echo":
            # The gate never rewrites or strips Authorization.
            sent = [v.format(**tokens) for k, v in c.headers if k == A]
            assert ",".join(res.json["authorization"]) == ",".join(sent)
        return
    www = res.header("www-authenticate")
    if c.outcome == "missing":
        check_refusal(res, 401, "ERROR_CODE_UNAUTHORIZED")
        assert res.json == {
            "code": "ERROR_CODE_UNAUTHORIZED",
            "message": "Unauthorized - Authentication Required",
            "payload": None,
        }
        assert www == "Bearer"
    elif c.outcome in ("invalid", "expired"):
        check_refusal(res, 401, "ERROR_CODE_UNAUTHORIZED")
        assert www is not None
        assert www.startswith("Bearer ")
        assert 'error="invalid_token"' in www
        # The client learns "expired" (so it refreshes) or "invalid", nothing finer.
        assert ("expired" in res.json["message"].lower()) is (c.outcome == "expired")
    elif c.outcome == "bad_request":
        check_refusal(res, 400, "ERROR_CODE_BAD_REQUEST")
    else:
        check_refusal(res, 403, "ERROR_CODE_ACCESS_DENIED")


def test_every_401_carries_www_authenticate(client: RawClient, tokens: dict[str, str]) -> None:
    """Both kinds of 401 (no token, bad token) carry a Bearer challenge, nothing else does."""
    missing = client("GET", "/echo")
    bad = client("GET", "/echo", [(A, GARBAGE)])
    ok = client("GET", "/echo", [(A, f"Bearer {tokens['user']}")])
    assert missing.header("www-authenticate") == "Bearer"
    assert bad.header("www-authenticate") == 'Bearer error="invalid_token"'
    assert ok.header("www-authenticate") is None


def test_bad_request_names_the_repeated_header(client: RawClient, tokens: dict[str, str]) -> None:
    """The 400 for a repeated header says which header, in message and payload."""
    res = client("GET", "/echo", [(X, tokens["user"]), (X, tokens["user"])])
    check_refusal(res, 400, "ERROR_CODE_BAD_REQUEST")
    assert "x-xano-authorization" in res.json["message"].lower()
    assert res.json["payload"] == {"param": "x-xano-authorization"}


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(("true", "true"), id="true-twice"),
        pytest.param(("true", "false"), id="true-and-false"),
    ],
)
def test_repeated_only_override_is_400(
    client: RawClient, tokens: dict[str, str], values: tuple[str, str]
) -> None:
    """A repeated X-Xano-Authorization-Only is ambiguous: 400 on both adapters alike."""
    headers = [("X-Xano-Authorization-Only", v) for v in values]
    res = client("GET", "/echo", [*headers, (A, f"Bearer {tokens['user']}")])
    check_refusal(res, 400, "ERROR_CODE_BAD_REQUEST")
    assert res.json["payload"] == {"param": "x-xano-authorization-only"}


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(("authorization", "x-xano-authorization"), id="lower"),
        pytest.param(("AUTHORIZATION", "X-XANO-AUTHORIZATION"), id="upper"),
    ],
)
def test_header_names_are_case_insensitive(
    client: RawClient, tokens: dict[str, str], names: tuple[str, str]
) -> None:
    """Header names match in any case, as HTTP requires."""
    auth, xano = names
    assert client("GET", "/echo", [(auth, f"Bearer {tokens['user']}")]).status == 200
    assert client("GET", "/echo", [(xano, tokens["user"])]).status == 200
