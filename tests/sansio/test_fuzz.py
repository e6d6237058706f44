"""Property-based fuzzing (hypothesis): bad input gets a clear refusal, never a traceback, a 5xx
or a way past a rule (§Tokens, §Headers, §Rules, §Errors, §Handlers).

* the decision core, ``Policy.decide``, over arbitrary methods, paths and token headers, with
  every anonymous ``Allow`` (and every ``Allow`` of a plain user token) checked against what the
  real Starlette router and the real Werkzeug map would route the path to;
* the token codec over arbitrary strings and over mutations of genuinely minted tokens;
* the auth endpoints over arbitrary bodies, through both adapters;
* arbitrary header values (every byte 0x00-0xff), and Content-Length values, through both
  adapters.

Every property is derandomized (the same examples on every run, no example database) and sized so
the file runs in seconds. An input that once failed is pinned with ``@example``; one that fails
outside the modules this suite may fix is pinned as an expected failure and described there.
"""

from __future__ import annotations

import base64
import json
import os
import string
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.routing import Match
from support.apps import admins, flask_app, starlette_app, users
from support.clients import wrap
from support.results import RawClient, Result
from werkzeug.exceptions import HTTPException

from jwe_gate import Gate, KeyRing, MemoryBackend, Refusal, RequestView, Rule, Table, TokenError
from jwe_gate._sansio.decision import Allow, Lookup
from jwe_gate._sansio.http import Response
from jwe_gate._sansio.paths import path_readings
from jwe_gate._tokens import TokenCodec

FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


SCALE = float(os.environ.get("JWE_GATE_FUZZ_SCALE", "0") or 0)
"""Set (say to 20) for a longer, randomized search than the deterministic default."""


def fuzz(max_examples: int) -> Callable[[Any], Any]:
    """The settings of every property here: deterministic, no deadline, no database."""
    return settings(
        derandomize=not SCALE,
        database=None,
        deadline=None,
        max_examples=int(max_examples * (SCALE or 1)),
        suppress_health_check=FIXTURES_OK,
    )


# -- genuine tokens --------------------------------------------------------------------------

KEYS = KeyRing.generate()
NOW = time.time()
_MINT = Gate(
    keys=KEYS,
    tables=[Table("user", MemoryBackend(users())), Table("admin", MemoryBackend(admins()))],
)
GATE_TOKENS = (
    _MINT.issue("user", 1, ttl=3600),
    _MINT.issue("user", 2, ttl=3600, extras={"role": "owner"}),
    _MINT.issue("admin", 1, ttl=3600, extras={"role": ["admin"], "scopes": ["x", 1]}),
    _MINT.issue("user", 999, ttl=3600),  # no such record
    _MINT.issue("user", 1, ttl=60, now=NOW - 7200),  # expired
    _MINT.issue("user", 1, ttl=3600, session="family"),  # minted as if by the endpoints
)

PLAIN = TokenCodec(KEYS, cache_size=0)
ZIPPED = TokenCodec(KEYS, compress=True)  # with the verified-token cache
_CLAIMS = {
    "sub": "1",
    "tbl": "user",
    "iat": NOW,
    "nbf": int(NOW),
    "exp": NOW + 3600,
    "extras": {"role": "admin", "note": "é\u2028"},
}
PLAIN_TOKENS = tuple(PLAIN.encode({**_CLAIMS, "jti": f"p{i}"}) for i in range(3))
ZIPPED_TOKENS = tuple(ZIPPED.encode({**_CLAIMS, "jti": f"z{i}"}) for i in range(3))
ACCEPTABLE = {id(PLAIN): set(PLAIN_TOKENS), id(ZIPPED): set(PLAIN_TOKENS + ZIPPED_TOKENS)}
"""What each codec may accept: genuine tokens it can read, byte for byte, and nothing else."""

# -- mutations -------------------------------------------------------------------------------

B64 = string.ascii_letters + string.digits + "-_"
POS = st.integers(0, 1 << 12)
SEG = st.integers(0, 6)
ANY_CHAR = st.characters(exclude_categories=())  # surrogates too
ANY_TEXT = st.text(
    st.one_of(
        ANY_CHAR, st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
    ),
    max_size=40,
)


def copies(strategy: st.SearchStrategy[Any], n: int) -> list[st.SearchStrategy[Any]]:
    """``n`` copies of ``strategy`` for ``st.one_of`` (which drops repeats of one object), to
    weight a branch ``n`` times."""
    return [strategy.map(lambda x: x) for _ in range(n)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _flip_char(c: str, bit: int) -> str:
    return chr(ord(c) ^ (1 << bit))


def _char_op(s: str, op: tuple[Any, ...]) -> str:
    name, pos = op[0], op[1] % (len(s) + 1)
    if name == "insert":
        return s[:pos] + cast(str, op[2]) + s[pos:]
    if name == "delete":
        return s[:pos] + s[pos + op[2] :]
    if name == "truncate":
        return s[:pos]
    if pos == len(s):
        return s
    if name == "replace":
        return s[:pos] + cast(str, op[2]) + s[pos + 1 :]
    if name == "flip":
        return s[:pos] + _flip_char(s[pos], op[2]) + s[pos + 1 :]
    assert name == "swapcase"
    return s[:pos] + s[pos].swapcase() + s[pos + 1 :]


CHAR_OPS = st.one_of(
    st.tuples(
        st.just("insert"),
        POS,
        st.text(st.one_of(st.sampled_from(B64 + ".=+/ \t,"), ANY_CHAR), min_size=1, max_size=3),
    ),
    st.tuples(st.just("delete"), POS, st.integers(1, 4)),
    st.tuples(st.just("replace"), POS, st.one_of(st.sampled_from(B64 + ".=+/"), ANY_CHAR)),
    st.tuples(st.just("flip"), POS, st.integers(0, 7)),
    st.tuples(st.just("truncate"), POS),
    st.tuples(st.just("swapcase"), POS),
)


def _header_variant(segment: str, variant: int) -> str:
    """The protected header re-encoded: same meaning or a changed one, other bytes."""
    try:
        header = json.loads(_unb64(segment))
    except ValueError:
        return segment
    if not isinstance(header, dict):
        return segment
    if variant == 0:
        return _b64(json.dumps(header, indent=1).encode())
    if variant == 1:
        return _b64(json.dumps(dict(reversed(list(header.items())))).encode())
    if variant == 9:
        return _b64(json.dumps(header, separators=(",", ":")).encode()) + "="
    options: list[dict[str, Any]] = [
        {},
        {},
        {"kid": None},
        {"alg": "A128KW"},
        {"enc": "A256GCM"},
        {"zip": "DEF"},
        {"crit": ["exp"]},
        {"kid": "nope"},
        {"x": 1},
    ]
    changes = options[variant]
    header = {**header, **changes}
    if header.get("kid", 0) is None:
        del header["kid"]
    return _b64(json.dumps(header, separators=(",", ":")).encode())


def _segment_op(token: str, op: tuple[Any, ...], others: tuple[str, ...]) -> str:
    segs = token.split(".")
    name = op[0]
    if name == "header":
        segs[0] = _header_variant(segs[0], op[1])
        return ".".join(segs)
    i = op[1] % len(segs)
    if name == "swap":
        j = op[2] % len(segs)
        segs[i], segs[j] = segs[j], segs[i]
    elif name == "drop":
        del segs[i]
    elif name == "dup":
        segs.insert(i, segs[i])
    elif name == "empty":
        segs[i] = ""
    elif name == "pad":
        segs[i] += "=" * op[2]
    elif name == "std":
        segs[i] = segs[i].replace("-", "+").replace("_", "/")
    elif name == "noncanon":
        # The last character carries the trailing bits: flip its lowest one (a stray bit when
        # the segment length is 2 or 3 mod 4, a real bit otherwise).
        if segs[i] and segs[i][-1] in B64:
            segs[i] = segs[i][:-1] + B64[B64.index(segs[i][-1]) ^ 1]
    elif name == "byteflip":
        # A bit flipped in the decoded bytes, re-encoded canonically: reaches the crypto.
        try:
            raw = bytearray(_unb64(segs[i]))
        except ValueError:
            return token
        if raw:
            raw[op[2] % len(raw)] ^= 1 << op[3]
            segs[i] = _b64(bytes(raw))
    else:
        assert name == "splice"  # the same segment of another genuine token
        other = others[op[2] % len(others)].split(".")
        segs[i] = other[i % len(other)]
    return ".".join(segs)


SEGMENT_OPS = st.one_of(
    st.tuples(st.just("swap"), SEG, SEG),
    st.tuples(st.just("drop"), SEG),
    st.tuples(st.just("dup"), SEG),
    st.tuples(st.just("empty"), SEG),
    st.tuples(st.just("pad"), SEG, st.integers(1, 2)),
    st.tuples(st.just("std"), SEG),
    st.tuples(st.just("noncanon"), SEG),
    st.tuples(st.just("byteflip"), SEG, POS, st.integers(0, 7)),
    st.tuples(st.just("splice"), SEG, st.integers(0, 5)),
    st.tuples(st.just("header"), st.integers(0, 9)),
)
TOKEN_MUTATIONS = st.lists(st.one_of(CHAR_OPS, SEGMENT_OPS), min_size=1, max_size=4)
_SEGMENT_OP_NAMES = {
    "swap",
    "drop",
    "dup",
    "empty",
    "pad",
    "std",
    "noncanon",
    "byteflip",
    "splice",
    "header",
}


def mutate(token: str, ops: list[tuple[Any, ...]], others: tuple[str, ...]) -> str:
    for op in ops:
        token = (
            _segment_op(token, op, others) if op[0] in _SEGMENT_OP_NAMES else _char_op(token, op)
        )
    return token


# -- paths, methods, headers -----------------------------------------------------------------

WORDS = (
    "admin",
    "stats",
    "users",
    "ann",
    "api",
    "hello",
    "health",
    "public",
    "blog",
    "post",
    "orgs",
    "acme",
    "billing",
    "mounted",
    "echo",
    "requires-admin",
    "static",
    "ws",
    "auth",
    "login",
    "me",
)
ODD = (
    "",
    ".",
    "..",
    "..;",
    ".;x",
    ";",
    ";x",
    ";x=y",
    "%2e",
    "%2e%2e",
    "%2f",
    "%00",
    "%",
    "\\",
    "\\..",
    "\x00",
    "\t",
    "\n",
    "\r",
    " ",
    "\x7f",
    "\x85",
    "\xa0",
    "\u0130",
    "\u212a",
    "\u017f",
    "\uff0e",
    "\ufeff",
    "\u200b",
    "*",
    "**",
    "?x",
    "#x",
)
ROUTE_PATHS = (
    "/admin/stats",
    "/admin/users/ann",
    "/api/hello",
    "/api/x/y",
    "/orgs/acme/billing",
    "/mounted/stats",
    "/echo",
    "/requires-admin",
    "/static/x",
    "/health",
    "/public/x",
    "/blog/post",
    "/auth/me",
    "/auth/login",
    "/",
)


def _recase(word: str, mask: int) -> str:
    return "".join(c.upper() if mask >> i & 1 else c for i, c in enumerate(word))


WORD = st.one_of(
    st.sampled_from(WORDS),
    st.builds(_recase, st.sampled_from(WORDS), st.integers(0, (1 << 14) - 1)),
)
SEGMENT = st.one_of(
    WORD,
    st.sampled_from(ODD),
    st.builds(str.__add__, WORD, st.sampled_from(ODD)),
    st.builds(str.__add__, st.sampled_from(ODD), WORD),
    ANY_TEXT.map(lambda t: t[:6]),
)


def _spell(path: str, edits: list[tuple[int, str, str, int]], lead: str, tail: str) -> str:
    """Another spelling of a route's path: segments recased, decorated, replaced, inserted."""
    segs = [s for s in path.split("/") if s]
    for index, kind, piece, mask in edits:
        i = index % (len(segs) + 1)
        if kind == "insert" or i == len(segs):
            segs.insert(i, piece)
        elif kind == "recase":
            segs[i] = _recase(segs[i], mask)
        elif kind == "suffix":
            segs[i] += piece
        elif kind == "prefix":
            segs[i] = piece + segs[i]
        elif kind == "replace":
            segs[i] = piece
        else:
            segs.insert(i, "")  # a doubled slash
    return lead + "/".join(segs) + (tail if segs else "")


SPELLINGS = st.builds(
    _spell,
    st.sampled_from(ROUTE_PATHS),
    st.lists(
        st.tuples(
            st.integers(0, 7),
            st.sampled_from(
                ("recase", "recase", "suffix", "prefix", "insert", "replace", "double")
            ),
            st.one_of(st.sampled_from(ODD), WORD),
            st.integers(0, (1 << 14) - 1),
        ),
        max_size=3,
    ),
    st.sampled_from(["/", "/", "/", "//", ""]),
    st.sampled_from(["", "", "/", "//", ";x", "/.", "\\"]),
)
TEMPLATES = (
    "/admin/users/{}",
    "/orgs/{}/billing",
    "/api/{}",
    "/api/{}/{}",
    "/mounted/{}",
    "/static/{}",
    "/blog/{}",
    "/public/{}",
    "/admin/stats",
    "/api/hello",
    "/echo",
    "/requires-admin",
    "/health",
)
PARAMS = st.one_of(WORD, SEGMENT, st.lists(SEGMENT, min_size=1, max_size=3).map("/".join))
ROUTED = st.builds(
    # A route's template filled in as the router would accept it: most reach a protected route.
    lambda lead, template, params: lead + template.format(*params)[1:],
    st.sampled_from(["/", "/", "//"]),
    st.sampled_from(TEMPLATES),
    st.lists(PARAMS, min_size=2, max_size=2),
)
PATHS = st.one_of(
    *copies(ROUTED, 4),
    *copies(SPELLINGS, 2),  # most: a real route, or near one
    st.lists(SEGMENT, max_size=5).map(lambda segs: "/" + "/".join(segs)),
    st.builds(
        lambda path, ops: mutate(path, ops, ()),
        st.sampled_from(ROUTE_PATHS),
        st.lists(CHAR_OPS, min_size=1, max_size=3),
    ),
    ANY_TEXT,
)
METHODS = st.one_of(
    st.sampled_from(
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
    ),
    ANY_TEXT.map(lambda t: t[:8].upper()),
)
ROUTED_METHODS = st.one_of(*copies(st.sampled_from(["GET", "HEAD", "POST"]), 2), METHODS)
"""Mostly methods the routes take (the rest meet a 405 or a 404, never a handler)."""
GATE_HEADERS = (
    "authorization",
    "x-xano-authorization",
    "x-xano-authorization-only",
    "origin",
    "access-control-request-method",
)
TOKENISH = st.one_of(
    st.sampled_from(GATE_TOKENS),
    st.builds(
        lambda t, ops: mutate(t, ops, GATE_TOKENS), st.sampled_from(GATE_TOKENS), TOKEN_MUTATIONS
    ),
    ANY_TEXT,
)
HEADER_VALUES = st.one_of(
    ANY_TEXT,
    st.sampled_from(
        [
            "true",
            "1",
            "yes",
            "TRUE",
            " Yes ",
            "no",
            "0",
            "",
            " ",
            "Bearer",
            "Bearer ",
            "bearer  ",
            "Basic dXNlcjpwYXNz",
            "Digest a=1, b=2",
            "Bearer a, Bearer b",
            "Bearer a,realm=x",
            ",",
            "GET",
            "https://example.com",
        ]
    ),
    st.builds(
        lambda scheme, token, tail: scheme + token + tail,
        st.sampled_from(
            [
                "Bearer ",
                "bearer ",
                "BEARER  ",
                "Bearer\t",
                " Bearer ",
                "",
                "Token ",
                "Bearer Bearer ",
                "Basic ",
            ]
        ),
        TOKENISH,
        st.sampled_from(["", " ", ",", ", x", "\t", "\x00", "\r\n"]),
    ),
)
HEADER_DICTS = st.dictionaries(
    st.sampled_from(GATE_HEADERS), st.lists(HEADER_VALUES, max_size=3), max_size=5
)

# -- the decision core -----------------------------------------------------------------------


ROOTS = st.sampled_from(["", "/x", "/admin", "/health", "/public", "/api", "/x/"])


@fuzz(300)
@given(method=METHODS, path=PATHS, root=ROOTS, absolute=st.booleans())
@example(method="GET", path="/admin/stats", root="/admin", absolute=False)
@example(method="GET", path="/admin/stats", root="", absolute=True)
def test_no_reading_is_looser_than_the_decision(
    make_auth_gate: Callable[..., Gate], method: str, path: str, root: str, absolute: bool
) -> None:
    """With no token, a request any one of whose readings would be refused is refused: the
    strictest reading wins (root_path, server path and raw target all read)."""
    gate = make_auth_gate(keys=KEYS)
    full = root + path
    target = f"http://h{full}" if absolute else full
    routed = full[len(root) :] if root and full.startswith(root + "/") else full
    view = RequestView(method, routed or "/", root=root, server_path=full, target=target)
    decision = gate.policy.decide(view, now=time.time())
    if isinstance(decision, Response):
        assert method == "OPTIONS"
        return
    assert isinstance(decision, Allow | Refusal), decision
    if isinstance(decision, Refusal):
        assert decision.status in (400, 401)
        return
    if decision.endpoint is not None:
        return  # the gate answers its own endpoint: no router reads this request
    for reading in path_readings(full, root, target):
        alone = gate.policy.decide(RequestView(method, reading), now=time.time())
        assert not isinstance(alone, Refusal), (reading, alone)


GATE_CODES = {"ERROR_CODE_UNAUTHORIZED", "ERROR_CODE_BAD_REQUEST", "ERROR_CODE_ACCESS_DENIED"}


@fuzz(400)
@given(method=METHODS, path=PATHS, headers=HEADER_DICTS)
@example(method="GET", path="", headers={"authorization": []})
@example(method="GET", path="/auth/me", headers={"x-xano-authorization": [GATE_TOKENS[0]]})
@example(method="GET", path="/admin/stats", headers={"authorization": [f"Bearer {GATE_TOKENS[2]}"]})
def test_decide_answers_anything(
    make_auth_gate: Callable[..., Gate], method: str, path: str, headers: dict[str, list[str]]
) -> None:
    """Policy.decide (and conclude) answers any method, path and headers with a decision."""
    gate = make_auth_gate(keys=KEYS)
    decision = gate.policy.decide(RequestView(method, path, headers), now=time.time())
    assert isinstance(decision, Allow | Refusal | Lookup | Response)
    if isinstance(decision, Response):
        # SPEC §Rules: the gate itself answers a preflight on a path anonymous may not use.
        assert method == "OPTIONS"
        assert decision.status == 200
        assert not decision.body
    elif isinstance(decision, Refusal):
        assert decision.status in (400, 401, 403)
        assert decision.code in GATE_CODES
    elif isinstance(decision, Allow):
        assert not decision.user.is_authenticated
    else:
        assert decision.claims.tbl == decision.rule.table
        record = gate.table(decision.table).get(decision.claims.sub)
        concluded = gate.policy.conclude(decision, record)
        assert isinstance(concluded, Allow | Refusal)
        if isinstance(concluded, Allow):
            assert concluded.user.is_authenticated
            assert concluded.auth.table == decision.rule.table
        else:
            assert concluded.status in (401, 403)


_STARLETTE_ROUTES = starlette_app().router.routes
_WERKZEUG_MAP = flask_app().url_map


def starlette_route(method: str, path: str) -> str | None:
    """The route the real Starlette router sends ``method path`` to (a full match), if any."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in _STARLETTE_ROUTES:
        if route.matches(scope)[0] is Match.FULL:
            return str(route.path)  # type: ignore[attr-defined]
    return None


def werkzeug_route(method: str, path: str) -> str | None:
    """The rule the real Werkzeug map sends ``method path`` to, if any (a redirect is none)."""
    try:
        rule, _ = _WERKZEUG_MAP.bind("x").match(path, method=method, return_rule=True)
    except HTTPException:  # NotFound, MethodNotAllowed, RequestRedirect (merged slashes)
        return None
    return str(rule.rule)


_OPEN_ROUTES = {
    "/health",
    "/public/{rest:path}",
    "/public/<path:rest>",
    "/blog/{slug}",
    "/blog/<slug>",
}
_ADMIN_ROUTES = {
    "/api/{rest:path}",
    "/api/<path:rest>",
    "/admin/stats",
    "/admin/users/{name}",
    "/admin/users/<name>",
    "/orgs/{org}/billing",
    "/orgs/<org>/billing",
    "/mounted",
    "/mounted/stats",
}


def _protected_deny_by_default(route: str, method: str) -> bool:
    return route not in _OPEN_ROUTES


def _protected_allow_by_default(route: str, method: str) -> bool:
    return route in _ADMIN_ROUTES or (route == "/api/hello" and method not in ("GET", "HEAD"))


CONFIGS: dict[str, tuple[tuple[Rule, ...], str, Callable[[str, str], bool]]] = {
    # conftest's rules under the default default (required): everything but three areas.
    "deny-by-default": (
        (
            Rule("/health", "public"),
            Rule("/public/**", "public"),
            Rule("/blog/**", "optional"),
            Rule("/admin/**", "required", table="admin"),
            Rule("/orgs/*/billing", "required", when={"role": "owner"}),
            Rule("/mounted/**", "required", table="admin"),
        ),
        "required",
        _protected_deny_by_default,
    ),
    # A public default with protected areas, where a spelling that skips its rule is open.
    "allow-by-default": (
        (
            Rule("/api/hello", "public", methods=["GET"]),
            Rule("/api/**", "required"),
            Rule("/admin/**", "required", table="admin"),
            Rule("/orgs/*/billing", "required", when={"role": "owner"}),
            Rule("/mounted/**", "required", table="admin"),
        ),
        "public",
        _protected_allow_by_default,
    ),
}


@pytest.fixture(params=sorted(CONFIGS))
def configured(
    request: pytest.FixtureRequest, make_gate: Callable[..., Gate]
) -> tuple[Gate, Callable[[str, str], bool]]:
    """A gate under one of :data:`CONFIGS`, with its idea of a protected route."""
    rules, default, protected = CONFIGS[request.param]
    return make_gate(keys=KEYS, rules=rules, default=default), protected


@fuzz(1500)
@given(method=ROUTED_METHODS, path=PATHS, headers=HEADER_DICTS)
@example(method="GET", path="//admin/stats", headers={})
@example(method="GET", path="/ADMIN/stats", headers={})
@example(method="GET", path="/admin;x/stats", headers={})
@example(method="GET", path="/admin/stats\n", headers={})
@example(method="GET", path="/api/hello/", headers={})
@example(method="PUT", path="/api/hello", headers={})
@example(method="GET", path="admin/stats", headers={})
@example(method="GET", path="/public/../admin/stats", headers={})
@example(method="GET", path="//orgs/;/billing", headers={})  # was let through (Werkzeug)
def test_no_anonymous_allow_reaches_a_protected_route(
    configured: tuple[Gate, Callable[[str, str], bool]],
    method: str,
    path: str,
    headers: dict[str, list[str]],
) -> None:
    """No path the real Starlette or Werkzeug router sends to a protected route is let through
    anonymously (a CORS preflight aside)."""
    gate, protected = configured
    decision = gate.policy.decide(RequestView(method, path, headers), now=time.time())
    preflight = (
        method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers
    )
    routes = {"starlette": starlette_route(method, path), "werkzeug": werkzeug_route(method, path)}
    reaches = any(r is not None and protected(r, method) for r in routes.values())
    if preflight:
        return  # answered by the gate, or by the app where anonymous may pass: test_decision
    event(f"{type(decision).__name__}, {'a protected' if reaches else 'no protected'} route")
    if not isinstance(decision, Allow):
        return
    assert not decision.user.is_authenticated
    for router, route in routes.items():
        assert route is None or not protected(route, method), (
            f"{method} {path!r} allowed anonymously, and {router} routes it to {route}"
        )


_BEYOND_USER = {
    "/admin/stats",
    "/admin/users/{name}",
    "/admin/users/<name>",
    "/orgs/{org}/billing",
    "/orgs/<org>/billing",
    "/mounted",
    "/mounted/stats",
}
"""Routes whose rule (in both configurations) needs more than a plain user token: the admin
table, or the owner role."""
PLAIN_USER = {"authorization": [f"Bearer {GATE_TOKENS[0]}"]}


@fuzz(800)
@given(method=ROUTED_METHODS, path=PATHS)
@example(method="GET", path="/orgs/acme/billing")
@example(method="GET", path="//orgs/;/billing")  # skipped the owner condition (Werkzeug)
@example(method="GET", path="//orgs/;x/billing")
@example(method="GET", path="//admin/users/;")
def test_plain_user_token_reaches_no_admin_or_owner_route(
    configured: tuple[Gate, Callable[[str, str], bool]], method: str, path: str
) -> None:
    """A user token without a role is never let through to a path the real Starlette or
    Werkzeug router sends to a route of the admin table or one that needs the owner role."""
    gate, _ = configured
    decision = gate.policy.decide(RequestView(method, path, PLAIN_USER), now=time.time())
    if isinstance(decision, Lookup):
        record = gate.table(decision.table).get(decision.claims.sub)
        decision = gate.policy.conclude(decision, record)
    routes = {"starlette": starlette_route(method, path), "werkzeug": werkzeug_route(method, path)}
    beyond = any(r in _BEYOND_USER for r in routes.values())
    event(f"{type(decision).__name__}, {'an admin/owner' if beyond else 'no admin/owner'} route")
    if isinstance(decision, Allow):
        assert not beyond, f"{method} {path!r} let a plain user token through to {routes}"


def test_router_oracle_names_protected_routes() -> None:
    """The router oracle sees the protected routes (so the property above can fail)."""
    for path, starlette, werkzeug in (
        ("/admin/stats", "/admin/stats", "/admin/stats"),
        ("/api/x/y", "/api/{rest:path}", "/api/<path:rest>"),
        ("/orgs/a/billing", "/orgs/{org}/billing", "/orgs/<org>/billing"),
        ("/mounted/stats", "/mounted", "/mounted/stats"),
        ("//admin/stats", None, "/admin/stats"),
    ):  # Werkzeug strips leading slashes
        assert starlette_route("GET", path) == starlette
        assert werkzeug_route("GET", path) == werkzeug
        assert _protected_deny_by_default(str(werkzeug), "GET")
        assert _protected_allow_by_default(str(werkzeug), "GET")
    assert _protected_allow_by_default("/api/hello", "POST")
    assert not _protected_allow_by_default("/api/hello", "GET")


# -- the token codec -------------------------------------------------------------------------


def _decode_or_refuse(codec: TokenCodec, token: str) -> None:
    """Decode ``token``: a refusal is a TokenError; an acceptance must be a genuine token."""
    try:
        claims = codec.decode(token, now=NOW)
    except TokenError as exc:  # ExpiredTokenError included
        event(f"refused: {str(exc).split(':')[0][:40]}")
        return
    event("accepted")
    assert token in ACCEPTABLE[id(codec)], f"accepted a token that was never minted: {token!r}"
    assert claims.raw["sub"] == "1"
    assert claims.raw["jti"][0] in "pz"


@fuzz(800)
@given(which=st.integers(0, 5), ops=TOKEN_MUTATIONS)
@example(which=0, ops=[("header", 2)])  # the kid dropped (tried against every key)
@example(which=0, ops=[("noncanon", 4)])  # a stray trailing bit in the tag
@example(which=3, ops=[("splice", 1, 0)])  # another token's encrypted key
@example(which=0, ops=[("pad", 0, 1)])
@example(which=3, ops=[("header", 5)])  # zip added to a zipped codec's plain token
def test_mutated_tokens_are_refused(which: int, ops: list[tuple[Any, ...]]) -> None:
    """A genuine token, mutated (bits, bytes, truncation, segments, re-encoding), is refused with
    a TokenError unless it is still byte for byte a genuine token."""
    genuine = PLAIN_TOKENS + ZIPPED_TOKENS
    token = mutate(genuine[which], ops, genuine)
    for codec in (PLAIN, ZIPPED):
        _decode_or_refuse(codec, token)


ALGS = (
    "A256KW",
    "A128KW",
    "A256GCMKW",
    "dir",
    "RSA-OAEP",
    "ECDH-ES",
    "PBES2-HS256+A128KW",
    "none",
    "HS256",
    "A256CBC-HS512",
    "A256GCM",
    "A128CBC-HS256",
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
JWE_HEADERS = st.fixed_dictionaries(
    {
        "alg": st.one_of(st.sampled_from(ALGS), JSON_VALUES),
        "enc": st.one_of(st.sampled_from(ALGS), JSON_VALUES),
    },
    optional={
        "kid": st.one_of(st.sampled_from(KEYS.kids), JSON_VALUES),
        "zip": st.one_of(st.just("DEF"), JSON_VALUES),
        "crit": JSON_VALUES,
        "epk": JSON_VALUES,
        "p2c": st.integers(),
        "p2s": ANY_TEXT,
        "cty": JSON_VALUES,
        "typ": JSON_VALUES,
        "iv": ANY_TEXT,
        "tag": ANY_TEXT,
    },
)


def _json_b64(value: Any) -> str:
    return _b64(json.dumps(value).encode("utf-8", "surrogatepass"))


STRUCTURED_TOKENS = st.builds(
    lambda header, parts: ".".join([header, *parts]),
    st.one_of(
        JWE_HEADERS.map(_json_b64), JSON_VALUES.map(_json_b64), st.binary(max_size=40).map(_b64)
    ),
    st.tuples(
        st.one_of(st.binary(min_size=72, max_size=72), st.binary(max_size=80)).map(_b64),
        st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20)).map(_b64),
        st.binary(max_size=64).map(_b64),
        st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40)).map(_b64),
    ),
)
ARBITRARY_TOKENS = st.one_of(
    ANY_TEXT,
    st.text(st.sampled_from(B64 + ".=+/ "), max_size=200),
    STRUCTURED_TOKENS,
)


@fuzz(800)
@given(token=ARBITRARY_TOKENS)
@example(token="")
@example(token="a" * 9000)  # over max_token_bytes
@example(token=_b64(b"[" * 100_000) + ".a.aaaa.aaaa.aaaa")  # nesting past recursion
@example(token=_json_b64({"alg": ["A256KW"], "enc": "A256CBC-HS512"}) + ".a.aaaa.aaaa.aaaa")
@example(token=_json_b64({"alg": "A256KW", "enc": "A256CBC-HS512", "kid": {}}) + ".a.b.c.d")
@example(token=_json_b64({"alg": "A256KW", "enc": "A256CBC-HS512", "zip": []}) + ".a.b.c.d")
@example(token='{"protected":"e30","ciphertext":"","iv":"","tag":""}')  # JSON serialization
def test_arbitrary_strings_are_refused(token: str) -> None:
    """Any string that is not a genuine token is refused with a TokenError."""
    for codec in (PLAIN, ZIPPED):
        _decode_or_refuse(codec, token)


# -- the auth endpoints ----------------------------------------------------------------------

SESSION_LOGIN = {"email": "fuzz@example.com", "password": "fuzzpass123", "name": "Fuzz"}
PASSWORD, REFRESH = "<the current password>", "<the current refresh token>"
"""Placeholders in a well-formed body for the session's live password and refresh token."""


@pytest.fixture
def endpoints(
    adapter: str, make_auth_gate: Callable[..., Gate]
) -> tuple[RawClient, dict[str, str | None]]:
    """A client of a gate serving the endpoints (argon2's cheapest profile), and its state: the
    tokens to send (none, one from ``gate.issue`` without a session, and a signed-up user's
    session token), that user's current password and refresh token. The state carries over
    from one example to the next, as a client's would."""
    gate = make_auth_gate(keys=KEYS)
    client = wrap(gate, adapter)
    r = client("POST", "/auth/signup", body=json.dumps(SESSION_LOGIN).encode())
    assert r.status == 200, r.body
    return client, {
        "none": None,
        "issued": gate.issue("user", 1),
        "session": r.json["authToken"],
        "refresh": r.json["refreshToken"],
        "password": SESSION_LOGIN["password"],
    }


def assert_xano_answer(r: Result) -> None:
    """A 2xx, or a 4xx with Xano's JSON body; never a 5xx."""
    assert 200 <= r.status < 500, (r.status, r.body[:300])
    if r.status >= 400:
        assert (r.header("content-type") or "").startswith("application/json"), r.headers
        assert isinstance(r.json, dict), r.body
        assert set(r.json) == {"code", "message", "payload"}, r.body
        assert str(r.json["code"]).startswith("ERROR_CODE_"), r.body
        assert isinstance(r.json["message"], str), r.body
        assert r.json["message"], r.body
    elif r.status == 204:
        assert r.body == b""
    else:
        assert r.status == 200, r.body
        assert set(r.json) == {"authToken", "refreshToken"}, r.body


def _encode(value: Any, ensure_ascii: bool, encoding: str) -> bytes:
    return json.dumps(value, ensure_ascii=ensure_ascii).encode(encoding, "surrogatepass")


GOOD_PASSWORDS = st.from_regex(r"[A-Za-z]{4,9}[0-9]{1,4}", fullmatch=True)
FIELD_VALUES = {
    "email": st.one_of(
        st.emails(),
        st.sampled_from(
            [
                "ann@example.com",
                " ANN@Example.COM ",
                "a@b",
                "@",
                "a@b@c",
                "x" * 300 + "@e.co",
                "a b@c",
                "a@b\x00",
                "\u212a@e.co",
            ]
        ),
        JSON_VALUES,
    ),
    "password": st.one_of(
        GOOD_PASSWORDS,
        st.sampled_from([PASSWORD, "x" * 300 + "1", "abcdefg\x001", "pässwörd1", "\ud800abcdef1"]),
        JSON_VALUES,
    ),
    "newPassword": st.one_of(GOOD_PASSWORDS, JSON_VALUES),
    "name": st.one_of(ANY_TEXT, JSON_VALUES, st.just("n" * 201)),
    "refreshToken": st.one_of(
        st.just(REFRESH), st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True), JSON_VALUES
    ),
}
OBJECTS = st.builds(
    lambda fields, extra: {**extra, **fields},
    st.fixed_dictionaries({}, optional=FIELD_VALUES),
    st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=3),
)
WELL_FORMED = st.fixed_dictionaries(
    # What a real client sends (so the flows run to the end: hashing, stores, rotation).
    {
        "email": st.one_of(st.sampled_from(["fuzz@example.com", " Fuzz@Example.com"]), st.emails()),
        "password": st.one_of(st.just(PASSWORD), GOOD_PASSWORDS),
    },
    optional={
        "name": st.text(max_size=20),
        "newPassword": GOOD_PASSWORDS,
        "refreshToken": st.just(REFRESH),
    },
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.builds(
        _encode,
        st.one_of(OBJECTS, JSON_VALUES),
        st.booleans(),
        st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig"]),
    ),
    *copies(WELL_FORMED, 3),
)
ENDPOINTS = ("signup", "login", "refresh", "logout", "password")


@fuzz(200)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=BODIES,
    auth=st.sampled_from(["none", "issued", "session"]),
    chunked=st.booleans(),
    client_addr=st.sampled_from([f"10.0.0.{i}" for i in range(8)]),
)
@example(endpoint="login", body=b"[" * 100_000, auth="none", chunked=False, client_addr="10.0.0.1")
@example(
    endpoint="signup",
    body=b'{"email": ' + b"9" * 5000 + b"}",
    auth="none",
    chunked=False,
    client_addr="10.0.0.1",
)
@example(
    endpoint="signup",
    body=b'{"email": "a@b.co", "password": "abcdefg1", "name": NaN}',
    auth="none",
    chunked=True,
    client_addr="10.0.0.1",
)
@example(
    endpoint="signup",
    body=b'{"email": "\\ud800@b.co", "password": "abcdefg1"}',
    auth="none",
    chunked=False,
    client_addr="10.0.0.1",
)
@example(
    endpoint="signup",
    body=b'{"email": "n@b.co", "password": "abcdefg1", "name": "\\udc00"}',
    auth="none",
    chunked=False,
    client_addr="10.0.0.1",
)
@example(
    endpoint="password",
    body=b'{"password": "abcdefg1", "newPassword": "\\ud800bcdefg1"}',
    auth="session",
    chunked=False,
    client_addr="10.0.0.1",
)
@example(endpoint="logout", body=b" ", auth="issued", chunked=False, client_addr="10.0.0.1")
@example(
    endpoint="logout",
    body=b'{"refreshToken": null}',
    auth="none",
    chunked=False,
    client_addr="10.0.0.1",
)
@example(
    endpoint="refresh",
    body=b'{"refreshToken": "' + b"A" * 43 + b'"}',
    auth="none",
    chunked=False,
    client_addr="10.0.0.1",
)
@example(
    endpoint="login",
    body=b"{}" + b" " * (64 * 1024),
    auth="none",
    chunked=True,
    client_addr="10.0.0.1",
)
def test_auth_endpoints_answer_any_body(
    endpoints: tuple[RawClient, dict[str, str | None]],
    endpoint: str,
    body: bytes | dict[str, Any],
    auth: str,
    chunked: bool,
    client_addr: str,
) -> None:
    """Any body posted to signup/login/refresh/logout/password, through either adapter, gets a
    2xx or a 4xx with Xano's code/message/payload body, never a 5xx."""
    client, state = endpoints
    sent = body
    if isinstance(body, dict):  # well-formed: fill in the session's live secrets
        live = {PASSWORD: state["password"], REFRESH: state["refresh"]}
        sent = {k: live.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
        body = json.dumps(sent).encode()
    token = state[auth]
    headers = [("Authorization", f"Bearer {token}")] if token else []
    r = client(
        "POST",
        f"/auth/{endpoint}",
        headers,
        body=body,
        content_length=not chunked,
        client_addr=client_addr,
    )
    event(f"{endpoint} {r.status} {r.json.get('code', '') if isinstance(r.json, dict) else ''}")
    assert_xano_answer(r)
    if (
        r.status == 200
        and isinstance(sent, dict)
        and (
            endpoint == "refresh"
            or (endpoint == "password" and auth == "session")
            or str(sent.get("email", "")).strip().lower() == SESSION_LOGIN["email"]
        )
    ):
        # The session user's new tokens (and password): the next examples use them.
        state.update(session=r.json["authToken"], refresh=r.json["refreshToken"])
        if endpoint == "password":
            state["password"] = sent["newPassword"]


# -- headers through the adapters ------------------------------------------------------------

TARGETS = (
    "/api/hello",
    "/health",
    "/blog/x",
    "/admin/stats",
    "/echo",
    "/requires-admin",
    "/orgs/acme/billing",
    "/auth/me",
    "/auth/logout",
    "/auth/login",
    "/auth/password",
)
HEADER_NAMES = (
    *GATE_HEADERS,
    "Authorization",
    "X-Xano-Authorization",
    "cookie",
    "accept",
    "content-type",
)
LATIN1 = st.binary(max_size=40).map(lambda b: b.decode("latin-1"))  # every byte 0x00-0xff
RAW_HEADER_VALUES = st.one_of(
    LATIN1,
    st.builds(
        lambda head, token, tail: head + token + tail,
        st.one_of(st.sampled_from(["Bearer ", "bearer\t", ""]), LATIN1),
        st.sampled_from(GATE_TOKENS),
        st.one_of(st.just(""), LATIN1),
    ),
    st.sampled_from([f"Bearer {t}" for t in GATE_TOKENS] + ["true", "1", "yes"]),
)


@pytest.fixture
def gated(adapter: str, make_auth_gate: Callable[..., Gate]) -> RawClient:
    """A client of a gate serving the endpoints, whose keys minted :data:`GATE_TOKENS`."""
    return wrap(make_auth_gate(keys=KEYS), adapter)


@fuzz(250)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "OPTIONS", "PUT"]),
    target=st.sampled_from(TARGETS),
    headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), RAW_HEADER_VALUES), max_size=6),
)
@example(
    method="GET",
    target="/echo",
    headers=[("authorization", "\x00\xff"), ("x-xano-authorization-only", "\xa0yes\x85")],
)
@example(
    method="GET", target="/auth/me", headers=[("x-xano-authorization", f"\x85{GATE_TOKENS[0]}\xa0")]
)
@example(
    method="OPTIONS",
    target="/admin/stats",
    headers=[("origin", "\x00"), ("access-control-request-method", "\xff")],
)
def test_arbitrary_header_values_never_5xx(
    gated: RawClient, method: str, target: str, headers: list[tuple[str, str]]
) -> None:
    """Any header values (every byte 0x00-0xff in ASGI, latin-1 strings in the WSGI environ),
    repeated or not, never produce a 5xx; a 401 or a gate refusal carries Xano's body."""
    r = gated(method, target, headers)
    event(f"{r.status} {'handled' if r.handled else 'refused'}")
    assert r.status < 500, (r.status, r.body[:300])
    if r.status == 401 or (not r.handled and isinstance(r.json, dict) and "code" in r.json):
        assert isinstance(r.json, dict), r.body
        assert set(r.json) == {"code", "message", "payload"}, r.body


@pytest.fixture
def both(make_auth_gate: Callable[..., Gate]) -> dict[str, RawClient]:
    """A client per adapter over one gate serving the endpoints."""
    gate = make_auth_gate(keys=KEYS)
    return {adapter: wrap(gate, adapter) for adapter in ("asgi", "wsgi")}


CONTENT_LENGTHS = st.one_of(
    st.from_regex(r"[0-9]{1,30}", fullmatch=True),
    LATIN1,
    st.sampled_from(["", " 1", "1 ", "+1", "-1", "0x10", "1_0", "1e3", "65537", "0" * 4300]),
)


@fuzz(150)
@given(case=st.tuples(st.sampled_from(["asgi", "wsgi"]), CONTENT_LENGTHS))
# int() refuses over 4300 digits, and "\xb2".isdigit() is True but int("\xb2") raises: both
# once reached a 500 through read_body.
@example(case=("asgi", "9" * 5000))
@example(case=("wsgi", "9" * 5000))
@example(case=("asgi", "0" * 4301))
@example(case=("wsgi", "\xb2"))
@example(case=("wsgi", "1\xb9"))
def test_content_length_values_never_5xx(both: dict[str, RawClient], case: tuple[str, str]) -> None:
    """Any Content-Length value on an endpoint is answered without a 5xx (413 or the
    endpoint's own answer)."""
    adapter, value = case
    r = both[adapter]("POST", "/auth/login", [("Content-Length", value)], body=b"{}")
    assert_xano_answer(r)
