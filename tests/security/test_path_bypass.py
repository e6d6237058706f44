"""§Rules, the path-bypass matrix: no spelling of a path reaches a protected handler of a real
Starlette app or a real Flask app without what its rule demands.

Every case runs through both adapters (the ``client`` fixture) with the raw clients of conftest,
which hand the gate and the router the path exactly as a server would (percent-decoded, nothing
normalised). A handler that runs sets ``X-Handled``; ``Result.handled`` reads it.

Spellings come from §Rules and from published path-bypass advisories; each group names its
sources. Besides these, ``test_live_servers_*`` sends raw request lines to uvicorn and Werkzeug's
server over a socket, so that no client library touches the path either.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Route
from support.apps import DEFAULT_RULES, flask_app, starlette_app
from support.clients import ASGIClient, WSGIClient, wrap
from support.results import RawClient, Result
from support.servers import running_uvicorn
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from jwe_gate import Gate, Rule

Bearer = Callable[..., list[tuple[str, str]]]

GATE_CODES = {"ERROR_CODE_UNAUTHORIZED", "ERROR_CODE_BAD_REQUEST", "ERROR_CODE_ACCESS_DENIED"}


def assert_refused_by_gate(r: Result) -> None:
    """The gate itself answered with a 4xx refusal; no handler ran."""
    assert not r.handled, f"handler reached: {r.status} {r.body[:200]!r}"
    assert 400 <= r.status < 500, r.status
    assert r.json is not None, r.body[:200]
    assert r.json.get("code") in GATE_CODES, r.body[:200]


def assert_not_reached(r: Result) -> None:
    """No handler ran, and the answer is a 4xx (the gate's or the router's), never a 5xx."""
    assert not r.handled, f"handler reached: {r.status} {r.body[:200]!r}"
    assert 400 <= r.status < 500, r.status


# -- the spellings ------------------------------------------------------------------------------
# Targets are request targets as sent on the wire (percent-encoded where the attack needs it);
# the raw clients decode them once, as a server does.

SPELLINGS = [
    # §Rules: "//api, /api/../api, %2e%2e, /API, trailing slashes, ;params", plus %0a/NUL.
    pytest.param("/api/hello", id="spec-canonical-api"),
    pytest.param("/admin/stats", id="spec-canonical-admin"),
    pytest.param("//api/hello", id="spec-double-slash-api"),
    pytest.param("//admin/stats", id="spec-double-slash-admin"),
    pytest.param("/api/../api/hello", id="spec-dotdot-api"),
    pytest.param("/admin/../admin/stats", id="spec-dotdot-admin"),
    pytest.param("/api/%2e%2e/api/hello", id="spec-encoded-dotdot"),
    pytest.param("/admin/./stats", id="spec-dot"),
    pytest.param("/API/hello", id="spec-upper-api"),
    pytest.param("/ADMIN/stats", id="spec-upper-admin"),
    pytest.param("/Admin/Users/ann", id="spec-mixed-case-users"),
    pytest.param("/api/hello/", id="spec-trailing-slash-api"),
    pytest.param("/admin/stats/", id="spec-trailing-slash-admin"),
    pytest.param("/admin/users/ann/", id="spec-trailing-slash-users"),
    pytest.param("/api/hello;x", id="spec-params-last"),
    pytest.param("/api;x/hello", id="spec-params-first"),
    pytest.param("/admin;x=y/stats", id="spec-params-key-value"),
    pytest.param("/admin/stats%0a", id="spec-lf"),
    pytest.param("/admin/stats%0d%0a", id="spec-crlf"),
    pytest.param("/admin%0a/stats", id="spec-lf-mid"),
    pytest.param("/admin/stats%00", id="spec-nul"),
    pytest.param("/admin/stats%09", id="spec-tab"),
    pytest.param("/admin/stats%7f", id="spec-del"),
    pytest.param("/orgs/acme/billing", id="spec-canonical-billing"),
    pytest.param("/orgs/acme/billing/", id="spec-trailing-slash-billing"),
    pytest.param("/ORGS/acme/billing", id="spec-upper-billing"),
    # A public rule's prefix used as a springboard into a protected route.
    pytest.param("/public/../admin/stats", id="ride-public-dotdot"),
    pytest.param("/public/../../admin/stats", id="ride-public-dotdot-twice"),
    pytest.param("/public%2f..%2fadmin/stats", id="ride-public-encoded-slashes"),
    pytest.param("/public/%2e%2e/admin/stats", id="ride-public-encoded-dots"),
    pytest.param("/public/.%2e/admin/stats", id="ride-public-half-encoded-dots"),
    pytest.param("/public/%2e./admin/stats", id="ride-public-half-encoded-dots-2"),
    pytest.param("/public/%2e%2e%2fadmin%2fstats", id="ride-public-all-encoded"),
    pytest.param("/public/./../admin/stats", id="ride-public-dot-dotdot"),
    pytest.param("/public//../admin/stats", id="ride-public-empty-dotdot"),
    pytest.param("/PUBLIC/../admin/stats", id="ride-public-upper"),
    pytest.param("/health/../admin/stats", id="ride-health-dotdot"),
    pytest.param("/health%2f..%2fadmin%2fstats", id="ride-health-encoded"),
    pytest.param("/health;/../api/hello", id="ride-health-params-dotdot"),
    pytest.param("/health/..;/api/hello", id="ride-health-dotdot-params"),
    pytest.param("/health/..%00/admin/stats", id="ride-health-dotdot-nul"),
    pytest.param("/%2e%2e/admin/stats", id="ride-root-encoded-dotdot"),
    pytest.param("/public/../mounted/stats", id="ride-public-into-mount"),
    # Caddy PR #4407 (2021): doubled slashes and URL-encoded characters slipped past path
    # matchers guarding basicauth; Caddy issue #1859 (2017): "//members/1.jpg".
    pytest.param("/admin//stats", id="caddy-4407-inner-double-slash"),
    pytest.param("//admin//stats", id="caddy-1859-double-slashes"),
    pytest.param("/%61dmin/stats", id="caddy-4407-encoded-letter"),
    pytest.param("/admin/%73tats", id="caddy-4407-encoded-letter-2"),
    pytest.param("/admin%2fstats", id="caddy-4407-encoded-slash"),
    pytest.param("/%2fadmin/stats", id="caddy-4407-encoded-leading-slash"),
    # Caddy GHSA-g7pc-pc7g-h8jh (CVE-2026-27587): case changes beside %xx escapes.
    pytest.param("/%41DMIN/stats", id="caddy-27587-encoded-upper"),
    pytest.param("/aDmIn/StAtS", id="caddy-27587-mixed-case"),
    pytest.param("/%41dmin/%53tats", id="caddy-27587-encoded-mixed"),
    # Caddy GHSA-qrp7-cvwr-j2c6: a backslash the matcher keeps and the handler treats as '/'.
    pytest.param("/admin%5cstats", id="caddy-backslash"),
    pytest.param("%5cadmin%5cstats", id="caddy-backslash-leading"),
    pytest.param("/%5cadmin%5cstats", id="caddy-backslash-after-slash"),
    pytest.param("/public/..%5cadmin/stats", id="caddy-backslash-dotdot"),
    # Caddy GHSA-m8m5-v4jf-3wcm: an allow-listed prefix plus '..%2f' in one opaque segment.
    pytest.param("/public/..%2fadmin/stats", id="caddy-m8m5-encoded-slash-traversal"),
    pytest.param("/public/..%2f..%2fadmin/stats", id="caddy-m8m5-twice"),
    # Spring CVE-2016-5007: the router trimmed whitespace the security matcher kept.
    pytest.param("/admin%20/stats", id="spring-5007-trailing-space"),
    pytest.param("/%20admin/stats", id="spring-5007-leading-space"),
    pytest.param("/%0dadmin/stats", id="spring-5007-leading-cr"),
    pytest.param("/admin/stats%20", id="spring-5007-space-last"),
    pytest.param("/admin%09/stats", id="spring-5007-tab"),
    # Spring CVE-2016-9879 / CVE-2018-1199: path parameters, with encoded '/' or other
    # encodings, changed what the security constraint saw.
    pytest.param("/admin;%2f/stats", id="spring-9879-params-encoded-slash"),
    pytest.param("/public;%2f..%2f..%2fadmin/stats", id="spring-9879-params-traversal"),
    pytest.param("/admin;jsessionid=1/stats", id="spring-1199-jsessionid-mid"),
    pytest.param("/admin/stats;jsessionid=1", id="spring-1199-jsessionid-last"),
    pytest.param("/public;x/..;/admin/stats", id="spring-1199-params-dotdot"),
    pytest.param("/admin%252fstats", id="spring-firewall-double-encoded-slash"),
    # Quarkus CVE-2023-4853: several adjacent slashes skipped the HTTP security policy.
    pytest.param("///admin/stats", id="quarkus-4853-triple-slash"),
    pytest.param("///api/hello", id="quarkus-4853-triple-slash-api"),
    pytest.param("/mounted///stats", id="quarkus-4853-inner-slashes"),
    # Quarkus CVE-2026-39852: ';anything' (matrix parameters) stripped by the router only.
    pytest.param("/admin/stats;anything", id="quarkus-39852-matrix-last"),
    pytest.param("/admin;anything/stats", id="quarkus-39852-matrix-mid"),
    pytest.param("/api/hello;anything", id="quarkus-39852-matrix-api"),
    # Quarkus CVE-2026-50559: the same with %3B, and %2F / %5C decoded by one layer only.
    pytest.param("/admin%3banything/stats", id="quarkus-50559-encoded-semicolon"),
    pytest.param("/admin/stats%3Bx", id="quarkus-50559-encoded-semicolon-last"),
    pytest.param("/api%2Fhello", id="quarkus-50559-encoded-slash"),
    pytest.param("/admin%5C..%5Cadmin/stats", id="quarkus-50559-encoded-backslash"),
    # Jetty CVE-2021-28164 (GHSA-v7ff-8wcx-gmc5): encoded '.' segments reached WEB-INF.
    pytest.param("/%2e/admin/stats", id="jetty-28164-encoded-dot"),
    pytest.param("/admin/%2e/stats", id="jetty-28164-encoded-dot-mid"),
    pytest.param("/admin/%2e%2e/admin/stats", id="jetty-28164-encoded-dotdot"),
    # Jetty CVE-2021-34429 (GHSA-vjv5-gp2w-65vm): '%u002e' segments and '.%00'.
    pytest.param("/%u002e/admin/stats", id="jetty-34429-u002e"),
    pytest.param("/.%00/admin/stats", id="jetty-34429-dot-nul"),
    pytest.param("/admin/..%00/stats", id="jetty-34429-dotdot-nul"),
    # Jetty CVE-2025-11143: differential URI parsing (query and fragment look-alikes).
    pytest.param("/admin/stats?/../../health", id="jetty-11143-query-traversal"),
    pytest.param("/admin/stats#", id="fragment-marker"),
    pytest.param("/admin/stats%23", id="encoded-fragment-marker"),
    pytest.param("/admin/stats#/../../health", id="fragment-traversal"),
    # Next.js CVE-2024-51479 (locale query) and CVE-2026-44575 ('.rsc' variants of a page).
    pytest.param("/admin/stats?__nextLocale=x", id="nextjs-51479-locale-query"),
    pytest.param("/admin/stats?/health", id="nextjs-query-looks-public"),
    pytest.param("/admin/stats.rsc", id="nextjs-44575-rsc-variant"),
    pytest.param("/api/hello.json", id="nextjs-data-variant"),
    # Overlong UTF-8 dots and slashes (Tomcat CVE-2008-2938, IIS) and Unicode look-alikes.
    pytest.param("/%c0%ae%c0%ae/admin/stats", id="overlong-dotdot"),
    pytest.param("/admin/%c0%ae/stats", id="overlong-dot"),
    pytest.param("/%c0%afadmin/stats", id="overlong-slash"),
    pytest.param("/%e0%80%ae%e0%80%ae/admin/stats", id="overlong-3-byte-dotdot"),
    pytest.param("/%ef%bd%81dmin/stats", id="fullwidth-a"),
    pytest.param("/admin%ef%bc%8fstats", id="fullwidth-solidus"),
    pytest.param("/admin%e2%80%8b/stats", id="zero-width-space"),
    pytest.param("/admin%c2%a0/stats", id="nbsp"),
    pytest.param("/admin%ff/stats", id="invalid-utf8"),
    # Routes with parameters and the Starlette Mount.
    pytest.param("/admin/users/ann", id="users-canonical"),
    pytest.param("/admin/users/..%2fann", id="users-encoded-traversal"),
    pytest.param("/admin/users/ann;x", id="users-params"),
    pytest.param("/admin/users/%2e%2e", id="users-encoded-dotdot"),
    pytest.param("/mounted/stats", id="mount-canonical"),
    pytest.param("/mounted//stats", id="mount-double-slash"),
    pytest.param("/MOUNTED/stats", id="mount-upper"),
    pytest.param("/mounted/./stats", id="mount-dot"),
    pytest.param("/mounted;x/stats", id="mount-params"),
    pytest.param("/mounted/stats/", id="mount-trailing-slash"),
    pytest.param("/mounted%2fstats", id="mount-encoded-slash"),
    pytest.param("/mounted/stats%00", id="mount-nul"),
]


def _admin_area(target: str) -> bool:
    path = unquote(target.partition("?")[0]).lower()
    return "admin" in path or "mounted" in path


ADMIN_SPELLINGS = [p for p in SPELLINGS if _admin_area(str(p.values[0]))]

BILLING_SPELLINGS = [
    pytest.param("/orgs/acme/billing", id="canonical"),
    pytest.param("/orgs/;x/billing", id="params-only-segment"),
    pytest.param("/orgs/%3bx/billing", id="encoded-params-only-segment"),
    pytest.param("/orgs/;/billing", id="empty-params-segment"),
    pytest.param("/orgs/acme;x/billing", id="params-in-org"),
    pytest.param("/orgs/acme/billing;x", id="params-last"),
    pytest.param("/orgs;x/acme/billing", id="params-first"),
    pytest.param("/ORGS/acme/billing", id="upper"),
    pytest.param("/orgs/acme/BILLING", id="upper-last"),
    pytest.param("/orgs/acme/billing/", id="trailing-slash"),
    pytest.param("//orgs/acme/billing", id="leading-double-slash"),
    pytest.param("/orgs//acme/billing", id="inner-double-slash"),
    pytest.param("/orgs/acme//billing", id="inner-double-slash-2"),
    pytest.param("/orgs/acme%2fbilling", id="encoded-slash"),
    pytest.param("/orgs/acme/./billing", id="dot"),
    pytest.param("/orgs/x/../acme/billing", id="dotdot"),
    pytest.param("/orgs/%2e%2e/billing", id="encoded-dotdot-as-org"),
    pytest.param("/orgs/acme/billing%00", id="nul"),
]


# -- controls: the harness can see a handler run ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "who"),
    [
        pytest.param("GET", "/health", None, id="health"),
        pytest.param("GET", "/public/anything", None, id="public"),
        pytest.param("GET", "/api/hello", ("user", {}), id="api"),
        pytest.param("HEAD", "/api/hello", ("user", {}), id="api-head"),
        pytest.param("GET", "/admin/stats", ("admin", {}), id="admin"),
        pytest.param("GET", "/admin/users/ann", ("admin", {}), id="admin-users"),
        pytest.param("GET", "/mounted/stats", ("admin", {}), id="mounted"),
        pytest.param("GET", "/orgs/acme/billing", ("user", {"role": "owner"}), id="billing-owner"),
    ],
)
def test_control_canonical_requests_reach_their_handler(
    client: RawClient,
    bearer: Bearer,
    method: str,
    target: str,
    who: tuple[str, dict[str, Any]] | None,
) -> None:
    """With what each rule demands, the canonical path reaches its handler (the harness works)."""
    headers = [] if who is None else bearer(who[0], 1, extras=who[1])
    r = client(method, target, headers)
    assert r.status == 200
    assert r.handled


# -- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", SPELLINGS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_tokenless_spelling_is_refused_by_the_gate(
    client: RawClient, method: str, target: str
) -> None:
    """Without a token, no spelling of a protected path gets past the gate to any handler."""
    assert_refused_by_gate(client(method, target))


@pytest.mark.parametrize("target", ADMIN_SPELLINGS)
def test_user_token_never_reaches_admin_handler(
    client: RawClient, bearer: Bearer, target: str
) -> None:
    """A valid user-table token opens no spelling of an admin-table route."""
    assert_not_reached(client("GET", target, bearer("user", 1)))


@pytest.mark.parametrize("target", BILLING_SPELLINGS)
def test_condition_holds_for_every_spelling(client: RawClient, bearer: Bearer, target: str) -> None:
    """A user token failing the rule's condition (role owner) reaches no billing spelling."""
    assert_not_reached(client("GET", target, bearer("user", 1, extras={"role": "member"})))


# A public rule's own prefix with things that are not dot segments after it: the gate may let
# these through, but only to a route the bare router also calls public.
PUBLIC_RIDES = [
    pytest.param("/public/admin/stats", id="plain"),
    pytest.param("/public/%c0%ae%c0%ae/admin/stats", id="overlong-dots"),
    pytest.param("/public/%252e%252e/admin/stats", id="double-encoded-dots"),
    pytest.param("/public/..%252fadmin/stats", id="double-encoded-slash"),
    pytest.param("/public/%u002e%u002e/admin/stats", id="jetty-u002e"),
    pytest.param("/public/.../admin/stats", id="three-dots"),
    pytest.param("/public/%2fadmin/stats", id="encoded-slash"),
    pytest.param("/public;x/admin/stats", id="params-on-prefix"),
    pytest.param("/public/admin;x/stats", id="params-after-prefix"),
    pytest.param("/PUBLIC/admin/stats", id="upper-prefix"),
    pytest.param("//public/admin/stats", id="leading-double-slash"),
    pytest.param("/health/", id="health-trailing-slash"),
    pytest.param("/health;x", id="health-params"),
    pytest.param("/HEALTH", id="health-upper"),
    pytest.param("/health%20", id="health-space"),
]
PUBLIC_ROUTES = {"/health", "/public/{rest:path}", "/public/<path:rest>"}


def bare_route(adapter: str, target: str) -> str | None:
    """The route the bare app (no gate) sends a GET for ``target`` to, if any."""
    path = unquote(target.partition("?")[0])
    if adapter == "asgi":
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        for route in starlette_app().router.routes:
            if route.matches(scope)[0] is Match.FULL:
                return str(route.path)  # type: ignore[attr-defined]
        return None
    urls = flask_app().url_map.bind("testserver")
    try:
        rule, _ = urls.match(path, method="GET", return_rule=True)
    except HTTPException:  # NotFound, and RequestRedirect for merged slashes
        return None
    return str(rule.rule)


@pytest.mark.parametrize("target", PUBLIC_RIDES)
def test_public_prefix_reaches_only_public_routes(
    client: RawClient, adapter: str, target: str
) -> None:
    """What a public rule lets through tokenless is only what the router itself calls public."""
    r = client("GET", target)
    if r.handled:
        assert bare_route(adapter, target) in PUBLIC_ROUTES
    else:
        assert r.status < 500


def test_public_prefix_oracle_can_tell_routes_apart() -> None:
    """The route oracle names protected routes as such (so the test above can fail)."""
    for adapter in ("asgi", "wsgi"):
        assert bare_route(adapter, "/admin/stats") not in PUBLIC_ROUTES
        assert bare_route(adapter, "/admin/stats") is not None
        assert bare_route(adapter, "/public/admin/stats") in PUBLIC_ROUTES


# -- exemptions never widen through leniency ----------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/api/STATUS", id="case"),
        pytest.param("/api/Status", id="capital"),
        pytest.param("/api/status;x", id="params"),
        pytest.param("/api/status%3bx", id="encoded-params"),
        pytest.param("/api//status", id="inner-double-slash"),
        pytest.param("//api/status", id="leading-double-slash"),
        pytest.param("/api/status/", id="trailing-slash"),
        pytest.param("/API/status", id="upper-prefix"),
        pytest.param("/api/status%20", id="trailing-space"),
    ],
)
def test_public_exact_rule_does_not_exempt_its_catch_all_neighbour(
    make_gate: Callable[..., Gate], adapter: str, target: str
) -> None:
    """``/api/status`` public leaves ``/api/{rest}`` protected for every other spelling."""
    gate = make_gate(rules=(Rule("/api/status", "public"), *DEFAULT_RULES))
    client = wrap(gate, adapter)
    assert client("GET", "/api/status").handled  # the exemption itself works
    assert_refused_by_gate(client("GET", target))


# -- root_path and mounted apps -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("root_path", "target"),
    [
        pytest.param("/prefix", "/admin/stats", id="prefixed"),
        pytest.param("/prefix", "/../admin/stats", id="prefixed-dotdot"),
        pytest.param("/prefix", "//admin/stats", id="prefixed-double-slash"),
        pytest.param("/prefix", "/ADMIN/stats", id="prefixed-upper"),
        pytest.param("/prefix", "/mounted/stats", id="prefixed-mount"),
        pytest.param("/prefix", "/public/../admin/stats", id="prefixed-ride"),
        # A root_path that itself looks public must not make the app's path public.
        pytest.param("/public", "/admin/stats", id="public-looking-root"),
        pytest.param("/health", "/admin/stats", id="health-looking-root"),
        pytest.param("/public", "/../admin/stats", id="public-root-dotdot"),
        pytest.param("/public", "/api/hello", id="public-root-api"),
        # A root_path that looks protected: the app's path is what counts.
        pytest.param("/api", "/hello", id="api-looking-root"),
        pytest.param("/admin", "/stats", id="admin-looking-root"),
    ],
)
def test_root_path_spellings_are_refused(client: RawClient, root_path: str, target: str) -> None:
    """Behind a root_path (ASGI) or SCRIPT_NAME (WSGI), the gate matches the app's own path."""
    assert_not_reached(client("GET", target, root_path=root_path))


@pytest.mark.parametrize("root_path", ["/prefix", "/api", "/admin"])
def test_control_root_path_is_stripped_like_the_app_does(
    make_gate: Callable[..., Gate], adapter: str, root_path: str
) -> None:
    """Behind any root_path, /health is public once the rules also open the full path, which a
    router ignoring root_path (Falcon) routes (SPEC §Rules, revised: strictest reading)."""
    gate = make_gate(rules=(Rule(f"{root_path}/health", "public"), *DEFAULT_RULES))
    r = wrap(gate, adapter)("GET", "/health", root_path=root_path)
    assert r.status == 200
    assert r.handled


@pytest.mark.parametrize("root_path", ["/prefix", "/api", "/admin"])
def test_root_path_ignoring_reading_keeps_its_rule(
    client: RawClient, adapter: str, root_path: str
) -> None:
    """ASGI: the full path (root_path kept) is a plausible route too, so /health alone does not
    open it; WSGI routers all route PATH_INFO, which the server already stripped."""
    r = client("GET", "/health", root_path=root_path)
    if adapter == "asgi":
        assert_refused_by_gate(r)
    else:
        assert (r.status, r.handled) == (200, True)


@pytest.mark.parametrize("target", ["/mounted/stats", "/mounted//stats", "/MOUNTED/stats"])
def test_mounted_app_needs_an_admin_token(client: RawClient, bearer: Bearer, target: str) -> None:
    """The Starlette Mount (a plain route under Flask) is admin-only in every spelling."""
    assert_not_reached(client("GET", target, bearer("user", 1)))
    assert_refused_by_gate(client("GET", target))


# -- methods: HEAD and OPTIONS ------------------------------------------------------------------

PROTECTED_GET_ROUTES = [
    "/api/hello",
    "/api/other",
    "/admin/stats",
    "/admin/users/ann",
    "/orgs/acme/billing",
    "/mounted/stats",
]


@pytest.mark.parametrize("target", PROTECTED_GET_ROUTES)
@pytest.mark.parametrize("method", ["HEAD", "head", "Get"])
def test_head_and_odd_method_case_follow_the_rules(
    client: RawClient, method: str, target: str
) -> None:
    """HEAD (answered by the GET handler) and odd method casing are refused without a token."""
    assert_refused_by_gate(client(method, target))


@pytest.mark.parametrize("method", ["HEAD", "head", "GET", "get"])
def test_get_only_rule_also_covers_head(
    make_gate: Callable[..., Gate], adapter: str, method: str
) -> None:
    """A rule for GET alone also guards HEAD, which routers answer with the GET handler."""
    gate = make_gate(rules=(Rule("/api/**", "required", methods=["GET"]),), default="public")
    client = wrap(gate, adapter)
    assert client("POST", "/api/hello").handled  # other methods fall to the public default
    assert_refused_by_gate(client(method, "/api/hello"))


PREFLIGHT = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")]


@pytest.mark.parametrize("target", PROTECTED_GET_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="bare"),
        pytest.param(PREFLIGHT[:1], id="origin-only"),
        pytest.param(PREFLIGHT[1:], id="request-method-only"),
        pytest.param(
            [("Access-Control-Request-Headers", "authorization")], id="request-headers-only"
        ),
    ],
)
def test_options_without_preflight_headers_follows_the_rules(
    client: RawClient, target: str, headers: list[tuple[str, str]]
) -> None:
    """OPTIONS that is not a CORS preflight is refused like any other method: 401."""
    r = client("OPTIONS", target, headers)
    assert_refused_by_gate(r)
    assert r.status == 401


@pytest.mark.parametrize(
    "target", [*PROTECTED_GET_ROUTES, "/public/../admin/stats", "//admin/stats", "/admin/stats%00"]
)
def test_cors_preflight_passes_to_the_app_without_a_token(client: RawClient, target: str) -> None:
    """A real preflight (OPTIONS, Origin, Access-Control-Request-Method) gets no gate error and
    runs no handler: on these protected paths the gate itself answers it (SPEC §Rules)."""
    r = client("OPTIONS", target, PREFLIGHT)
    assert not (r.json and str(r.json.get("code", "")).startswith("ERROR_CODE_")), r.body
    assert r.status != 401
    assert not r.handled  # no route here handles OPTIONS: the router answered (405 / 200 Allow)


@pytest.mark.parametrize(
    ("asked", "allowed"),
    [
        pytest.param("authorization", "authorization", id="authorization"),
        pytest.param("Authorization, X-Request-Id", "Authorization, X-Request-Id", id="two"),
        pytest.param("x-a\r\nx-b: c", None, id="crlf-not-echoed"),
    ],
)
def test_gates_preflight_allows_the_requested_headers(
    client: RawClient, asked: str, allowed: str | None
) -> None:
    """Through both adapters, the gate's own preflight answer on a protected path echoes the
    requested headers (without ``Authorization`` allowed, no browser sends a token there)."""
    r = client("OPTIONS", "/admin/stats", [*PREFLIGHT, ("Access-Control-Request-Headers", asked)])
    assert r.status == 200
    assert not r.handled
    assert r.header("access-control-allow-origin") == "https://app.example"
    assert r.header("access-control-allow-headers") == allowed


def test_cors_middleware_answers_the_preflight_behind_the_gate(gate: Gate) -> None:
    """With Starlette's CORSMiddleware behind the gate, a preflight for an admin route still
    succeeds for the browser (the gate answers it: no handler may run) and the real request
    meets the rules."""
    app = CORSMiddleware(
        starlette_app(),
        allow_origins=["https://app.example"],
        allow_methods=["GET"],
        allow_headers=["authorization"],
    )
    client = ASGIClient(gate.asgi(app))
    r = client(
        "OPTIONS", "/admin/stats", [*PREFLIGHT, ("Access-Control-Request-Headers", "authorization")]
    )
    assert r.status == 200
    assert r.header("access-control-allow-origin") == "https://app.example"
    assert not r.handled
    assert_refused_by_gate(client("GET", "/admin/stats", PREFLIGHT[:1]))


@pytest.mark.parametrize(
    "headers",
    [
        # Next.js CVE-2025-29927: an internal header, sent by a client, skipped the middleware.
        pytest.param(
            [("x-middleware-subrequest", "middleware:middleware:middleware")],
            id="nextjs-29927-subrequest",
        ),
        pytest.param([("x-middleware-subrequest", "src/middleware")], id="nextjs-29927-src"),
        pytest.param([("X-Original-URL", "/health")], id="x-original-url"),
        pytest.param([("X-Rewrite-URL", "/health")], id="x-rewrite-url"),
        pytest.param([("X-Forwarded-Prefix", "/public")], id="x-forwarded-prefix"),
        pytest.param(PREFLIGHT, id="preflight-headers-on-get"),
        pytest.param([*PREFLIGHT, ("X-HTTP-Method-Override", "OPTIONS")], id="method-override"),
    ],
)
def test_request_headers_cannot_switch_the_gate_off(
    client: RawClient, headers: list[tuple[str, str]]
) -> None:
    """No header (middleware-internal, URL-rewrite, preflight look-alike) skips the rules."""
    assert_refused_by_gate(client("GET", "/admin/stats", headers))


# -- non-ASCII paths ----------------------------------------------------------------------------


def _cafe_apps() -> tuple[Starlette, Flask]:
    async def secret(request: Request) -> PlainTextResponse:
        return PlainTextResponse("secret", headers={"X-Handled": "1"})

    flask = Flask(__name__)

    @flask.route("/café/secret")
    def flask_secret() -> Any:
        return "secret", 200, {"X-Handled": "1"}

    return Starlette(routes=[Route("/café/secret", secret)]), flask


@pytest.mark.parametrize(
    "adapter_name",
    [
        pytest.param("asgi", id="asgi"),
        pytest.param("wsgi", id="wsgi"),
    ],
)
def test_non_ascii_protected_rule_covers_its_route(
    make_gate: Callable[..., Gate], adapter_name: str
) -> None:
    """A protected rule spelled with non-ASCII text guards its route under a public default."""
    gate = make_gate(rules=(Rule("/café/**", "required"),), default="public")
    starlette, flask = _cafe_apps()
    client: RawClient = (
        ASGIClient(gate.asgi(starlette)) if adapter_name == "asgi" else WSGIClient(gate.wsgi(flask))
    )
    assert_refused_by_gate(client("GET", "/caf%C3%A9/secret"))


# -- live servers: raw request lines over a socket ----------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@pytest.fixture
def live_servers(gate: Gate) -> Iterator[dict[str, int]]:
    """uvicorn serving the gated Starlette app and Werkzeug serving the gated Flask app."""
    wsgi: BaseWSGIServer = make_server(
        "127.0.0.1", 0, gate.wsgi(flask_app()), request_handler=_QuietHandler
    )
    wsgi_thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    wsgi_thread.start()
    try:
        with running_uvicorn(
            gate.asgi(starlette_app()), log_level="critical", lifespan="off", ws="none", http="h11"
        ) as port:
            yield {"uvicorn": port, "werkzeug": wsgi.server_port}
    finally:
        wsgi.shutdown()
        wsgi.server_close()
        wsgi_thread.join(5)


def send_raw(port: int, request_line: str, headers: Sequence[str] = ()) -> tuple[int, bool]:
    """Send one request line as typed; return the status and whether X-Handled came back."""
    lines = [request_line, "Host: 127.0.0.1", *headers, "Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    handled = any(h.lower().startswith("x-handled:") for h in head[1:])
    return status, handled


LIVE_ATTACKS = [
    "GET /public/../admin/stats HTTP/1.1",
    "GET //admin/stats HTTP/1.1",
    "GET ///admin/stats HTTP/1.1",
    "GET /admin/stats%2f.. HTTP/1.1",
    "GET /public/%2e%2e/admin/stats HTTP/1.1",
    "GET /public/..%2fadmin/stats HTTP/1.1",
    "GET /health/../admin/stats HTTP/1.1",
    "GET /public/..\\admin/stats HTTP/1.1",
    "GET /admin/./stats HTTP/1.1",
    "GET /ADMIN/stats HTTP/1.1",
    "GET /admin;x/stats HTTP/1.1",
    "GET /admin/stats%00 HTTP/1.1",
    "GET /orgs/;x/billing HTTP/1.1",
    "GET /mounted/../mounted/stats HTTP/1.1",
    "GET http://127.0.0.1/public/../admin/stats HTTP/1.1",
    "HEAD /admin/stats HTTP/1.1",
    "OPTIONS /admin/stats HTTP/1.1",
]


def test_live_servers_refuse_raw_bypass_request_lines(live_servers: dict[str, int]) -> None:
    """Over real sockets to uvicorn and Werkzeug, raw bypass request lines reach no handler."""
    for name, port in live_servers.items():
        assert send_raw(port, "GET /health HTTP/1.1") == (200, True), name  # control
        for line in LIVE_ATTACKS:
            status, handled = send_raw(port, line)
            assert not handled, (name, line)
            assert 400 <= status < 500, (name, line, status)
