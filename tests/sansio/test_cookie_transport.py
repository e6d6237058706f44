"""SPEC §Transports, cookies, with no server: ``Cookies`` validation, cookie parsing, the signed
double-submit CSRF check, the WebSocket ``Origin`` check, the ``Set-Cookie`` lines written, and
``Policy.decide`` reading the access cookie only when no header token came."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from jwe_gate import ConfigurationError, Cookies, Gate, Refusal, RequestView, Response
from jwe_gate._sansio import refusals
from jwe_gate._sansio.cookies import CookieTransport, parse_cookies
from jwe_gate._sansio.decision import Lookup
from jwe_gate._sansio.transports import Issued, XanoHeaders

KEY = b"k" * 32
Headers = Mapping[str, Sequence[str]]


def transport(config: Cookies | None = None) -> CookieTransport:
    return CookieTransport(config or Cookies(), KEY, XanoHeaders(), ["user", "admin"])


def view(method: str = "GET", headers: Headers | None = None, **kw: Any) -> RequestView:
    return RequestView(method, kw.pop("path", "/api/x"), headers or {}, **kw)


# -- the settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"samesite": "loose"}, id="unknown-samesite"),
        pytest.param({"samesite": "none", "secure": False}, id="samesite-none-needs-secure"),
        pytest.param({"secure": "yes"}, id="secure-not-a-bool"),
        pytest.param({"access_cookie": "a b"}, id="name-with-space"),
        pytest.param({"csrf_cookie": "x;y"}, id="name-with-semicolon"),
        pytest.param({"csrf_header": ""}, id="empty-header"),
        pytest.param({"access_cookie": "same", "refresh_cookie": "same"}, id="names-collide"),
        pytest.param({"csrf_cookie": "csrf_{table}"}, id="csrf-per-table"),
        pytest.param({"path": "api"}, id="relative-path"),
        pytest.param({"path": "/a;b"}, id="path-with-semicolon"),
        pytest.param({"refresh_path": "/a b"}, id="refresh-path-with-space"),
        pytest.param({"domain": "exa mple.com"}, id="bad-domain"),
        pytest.param({"domain": "example.com;x"}, id="domain-injection"),
        pytest.param({"trusted_origins": ["app.example.com"]}, id="origin-without-scheme"),
        pytest.param({"trusted_origins": ["https://a.example/path"]}, id="origin-with-path"),
        pytest.param({"trusted_origins": "https://a.example"}, id="origins-a-string"),
        pytest.param({"access_cookie": "__Host-a", "secure": False}, id="host-prefix-insecure"),
        pytest.param({"access_cookie": "__Host-a", "domain": "x.io"}, id="host-prefix-domain"),
        pytest.param({"refresh_cookie": "__Host-r"}, id="host-prefix-on-refresh"),
        pytest.param({"csrf_cookie": "__Secure-c", "secure": False}, id="secure-prefix-insecure"),
    ],
)
def test_bad_settings_are_refused_when_built(kwargs: dict[str, Any]) -> None:
    """Every setting a browser would silently drop, or that could split a header, is refused."""
    with pytest.raises(ConfigurationError):
        Cookies(**kwargs)


def test_settings_are_normalized() -> None:
    """SameSite is case-insensitive; trusted origins are kept lower-cased without a slash."""
    c = Cookies(samesite="Strict", trusted_origins=["https://App.Example.com/"])
    assert c.samesite == "strict"
    assert c.trusted_origins == ("https://app.example.com",)
    assert c.names("admin") == ("jwe_access_admin", "jwe_refresh_admin")


def test_a_name_without_table_is_refused_with_two_tables(make_gate: Callable[..., Gate]) -> None:
    """One cookie name for two tables would let one login overwrite the other: refused."""
    with pytest.raises(ConfigurationError, match="table"):
        make_gate(cookies=Cookies(access_cookie="access"))


def test_cookies_must_be_a_cookies(make_gate: Callable[..., Gate]) -> None:
    """``Gate(cookies=...)`` takes a ``Cookies`` or None."""
    with pytest.raises(ConfigurationError):
        make_gate(cookies={"secure": False})


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([], {}, id="none"),
        pytest.param(["a=1; b=2"], {"a": ["1"], "b": ["2"]}, id="two"),
        pytest.param(["a=1", "b=2"], {"a": ["1"], "b": ["2"]}, id="two-headers"),
        pytest.param(["a=1, b=2"], {"a": ["1, b=2"]}, id="comma-is-in-the-value"),
        pytest.param(["a=1; a=2"], {"a": ["1", "2"]}, id="repeated-kept"),
        pytest.param(["junk; a = 1 ;"], {"a": ["1"]}, id="junk-skipped"),
        pytest.param(['a="x"'], {"a": ['"x"']}, id="quotes-kept"),
        pytest.param(["=1; a="], {"a": [""]}, id="no-name-skipped"),
    ],
)
def test_cookie_headers_are_parsed_with_repeats(
    headers: list[str], expected: dict[str, list[str]]
) -> None:
    """Every pair of every ``Cookie`` header, in order, repeats kept for the gate to judge."""
    assert parse_cookies(headers) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("x=a,jwe_access_user=t; y=1", id="comma-in-a-value"),
        pytest.param("x=a, __Host-t=v", id="host-prefix-in-a-value"),
        pytest.param("a=1; b=2,c=3", id="mixed"),
    ],
)
def test_cookie_names_are_the_frameworks(header: str) -> None:
    """The gate finds exactly the cookie names Starlette and Django find (Werkzeug, stricter,
    no more): a cookie hidden in another's value (browsers keep commas there) is not a
    credential to the gate."""
    from django.http.cookie import parse_cookie as django_cookies
    from starlette.requests import cookie_parser
    from werkzeug.http import parse_cookie

    names = set(parse_cookies([header]))
    assert names == set(cookie_parser(header)) == set(django_cookies(header))
    assert set(parse_cookie(header)) <= names


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        pytest.param(None, None, id="no-cookie-header"),
        pytest.param("other=1", None, id="other-cookies"),
        pytest.param("jwe_access_user=", None, id="empty-is-absent"),
        pytest.param("jwe_access_user=tok", "tok", id="the-cookie"),
        pytest.param("jwe_access_admin=tok", None, id="another-table"),
        pytest.param("jwe_access_user=tok; jwe_access_user=tok", "tok", id="same-value-twice"),
        pytest.param("jwe_access_user=a; jwe_access_user=b", "400", id="two-values-ambiguous"),
    ],
)
def test_the_access_cookie_of_the_rule_table(cookie: str | None, expected: str | None) -> None:
    """The rule's table's cookie; two different values are ambiguous (400 naming it)."""
    got = transport().access_token(view(headers={"cookie": [cookie]} if cookie else {}), "user")
    if expected == "400":
        assert isinstance(got, Refusal)
        assert (got.status, got.payload) == (400, {"param": "jwe_access_user"})
    else:
        assert got == expected


# -- CSRF and Origin -------------------------------------------------------------------------


def _csrf(t: CookieTransport, table: str = "user", session: str = "fam") -> str:
    return t.csrf_value(view(), table, session)


@pytest.mark.parametrize(
    ("header", "cookie", "session", "ok"),
    [
        pytest.param("{good}", "{good}", "fam", True, id="header-equals-cookie"),
        pytest.param(None, "{good}", "fam", False, id="no-header"),
        pytest.param("{good}", None, "fam", False, id="no-cookie"),
        pytest.param("{good}", "{good}", "other", False, id="another-session"),
        pytest.param("{good}", "{good}", None, False, id="token-without-session"),
        pytest.param("{admin}", "{admin}", "fam", False, id="another-table"),
        pytest.param("forged", "forged", "fam", False, id="planted-unsigned-pair"),
        pytest.param("{good}x", "{good}x", "fam", False, id="suffixed"),
        pytest.param("{both}", "{both}", "fam", True, id="two-tables-one-cookie"),
        pytest.param("{good}", "{both}", "fam", True, id="header-holds-its-entry-only"),
        pytest.param("{good}.{good}", "{good}", "fam", True, id="repeated-entry"),
        pytest.param("{long}", "{good}", "fam", False, id="oversized-header"),
    ],
)
def test_the_signed_double_submit(
    header: str | None, cookie: str | None, session: str | None, ok: bool
) -> None:
    """Header and cookie must both hold the entry signed for the table's session."""
    t = transport()
    good = _csrf(t)
    values = {
        "good": good,
        "admin": _csrf(t, "admin"),
        "both": f"{_csrf(t, 'admin')}.{good}",
        "long": ".".join([good] * 40),
    }
    headers: dict[str, list[str]] = {}
    if header is not None:
        headers["x-csrf-token"] = [header.format(**values)]
    if cookie is not None:
        headers["cookie"] = [f"jwe_csrf={cookie.format(**values)}"]
    assert t.csrf_ok(view("POST", headers), "user", session) is ok


def test_a_planted_csrf_cookie_beside_ours_neither_passes_nor_blocks() -> None:
    """Two CSRF cookies: the signed one counts; the unsigned one is no way in."""
    t = transport()
    good = _csrf(t)
    both = {"cookie": [f"jwe_csrf=evil; jwe_csrf={good}"]}
    assert t.csrf_ok(view("POST", {**both, "x-csrf-token": [good]}), "user", "fam")
    assert not t.csrf_ok(view("POST", {**both, "x-csrf-token": ["evil"]}), "user", "fam")


def test_csrf_entries_of_other_tables_are_kept_and_replaced() -> None:
    """A login keeps the other table's entry, replaces its own, and logout removes it."""
    t = transport()
    admin = _csrf(t, "admin", "a1")
    cookie = {"cookie": [f"jwe_csrf={admin}"]}
    user = t.csrf_value(view(headers=cookie), "user", "u1")
    assert user.split(".") == [admin, _csrf(t, "user", "u1")]
    again = t.csrf_value(view(headers={"cookie": [f"jwe_csrf={user}"]}), "user", "u2")
    assert again.split(".") == [admin, _csrf(t, "user", "u2")]
    assert t.csrf_value(view(headers={"cookie": [f"jwe_csrf={again}"]}), "user", None) == admin


@pytest.mark.parametrize(
    ("origin", "host", "trusted", "ok"),
    [
        pytest.param(["http://app.test"], ["app.test"], (), True, id="same-host"),
        pytest.param(["https://app.test:8443"], ["app.test:8443"], (), True, id="same-host-port"),
        pytest.param(["HTTP://APP.test"], ["app.TEST"], (), True, id="case-insensitive"),
        pytest.param(["http://evil.test"], ["app.test"], (), False, id="other-host"),
        pytest.param(["http://app.test:1"], ["app.test"], (), False, id="other-port"),
        pytest.param([], ["app.test"], (), False, id="no-origin"),
        pytest.param(["null"], ["app.test"], (), False, id="null-origin"),
        pytest.param(["http://app.test", "http://app.test"], ["app.test"], (), False, id="two"),
        pytest.param(["ftp://app.test"], ["app.test"], (), False, id="other-scheme"),
        pytest.param(["http://app.test"], [], (), False, id="no-host"),
        pytest.param(["http://app.test@evil.test"], ["app.test"], (), False, id="userinfo"),
        pytest.param(["http://evil.test@app.test"], ["app.test"], (), False, id="userinfo-host"),
        pytest.param(["http://app.test."], ["app.test"], (), False, id="trailing-dot"),
        pytest.param(["http://app.test/"], ["app.test"], (), True, id="trailing-slash"),
        pytest.param(["http://app.test"], ["app.test", "evil.test"], (), False, id="two-hosts"),
        pytest.param(
            ["http://b\u00fccher.test"], ["xn--bcher-kva.test"], (), False, id="idn-unencoded"
        ),
        pytest.param(["http://app.test:80"], ["app.test"], (), False, id="explicit-default-port"),
        pytest.param(
            ["https://ui.test"], ["api.test"], ("https://ui.test",), True, id="trusted-origin"
        ),
        pytest.param(
            ["http://ui.test"], ["api.test"], ("https://ui.test",), False, id="trusted-scheme"
        ),
    ],
)
def test_websocket_origin_check(
    origin: list[str], host: list[str], trusted: tuple[str, ...], ok: bool
) -> None:
    """A cookie-authenticated handshake needs one ``Origin`` naming its own host, or a trusted
    origin."""
    t = transport(Cookies(trusted_origins=trusted))
    v = view(headers={"origin": origin, "host": host}, websocket=True)
    assert t.origin_ok(v) is ok
    assert t.check(v, "user", "fam") == (None if ok else refusals.CROSS_ORIGIN)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_safe_methods_need_no_csrf(method: str) -> None:
    """RFC 9110's safe methods change nothing: no CSRF token asked."""
    assert transport().check(view(method), "user", "fam") is None


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
def test_unsafe_methods_need_csrf(method: str) -> None:
    """Every other method, known or not, needs the CSRF token: 403 without it."""
    assert transport().check(view(method), "user", "fam") == refusals.CSRF


# -- writing ----------------------------------------------------------------------------------


def _issued(access: str | None = "A", refresh: str | None = "R", **kw: Any) -> Issued:
    endpoint = kw.pop("endpoint", "login")
    v = kw.pop("view", view("POST", path=f"/auth/{endpoint}"))
    return Issued(v, "user", endpoint, access, refresh, "fam", 900, 86400)


def _cookies(resp: Response) -> list[str]:
    return [v for k, v in resp.headers if k == "set-cookie"]


PAIR = Response(200, (("content-type", "application/json"), ("content-length", "2")), b"{}")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            Cookies(),
            [
                "jwe_access_user=A; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax",
                "jwe_refresh_user=R; Max-Age=86400; Path=/auth; Secure; HttpOnly; SameSite=Lax",
                "jwe_csrf={csrf}; Max-Age=86400; Path=/; Secure; SameSite=Lax",
            ],
            id="defaults",
        ),
        pytest.param(
            Cookies(secure=False, samesite="strict", domain="example.com", path="/app"),
            [
                "jwe_access_user=A; Max-Age=900; Path=/app; Domain=example.com; HttpOnly; "
                "SameSite=Strict",
                "jwe_refresh_user=R; Max-Age=86400; Path=/auth; Domain=example.com; HttpOnly; "
                "SameSite=Strict",
                # Path=/, not /app: the CSRF cookie must reach the auth prefix too.
                "jwe_csrf={csrf}; Max-Age=86400; Path=/; Domain=example.com; SameSite=Strict",
            ],
            id="insecure-strict-domain-path",
        ),
        pytest.param(
            Cookies(samesite="none", refresh_path="/api/auth", access_cookie="__Host-a_{table}"),
            [
                "__Host-a_user=A; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=None",
                "jwe_refresh_user=R; Max-Age=86400; Path=/api/auth; Secure; HttpOnly; "
                "SameSite=None",
                "jwe_csrf={csrf}; Max-Age=86400; Path=/; Secure; SameSite=None",
            ],
            id="none-refresh-path-host-prefix",
        ),
    ],
)
def test_issued_tokens_become_three_cookies(config: Cookies, expected: list[str]) -> None:
    """Access (HttpOnly, its lifetime), refresh (HttpOnly, on the auth prefix, its lifetime)
    and CSRF (readable) cookies, one ``Set-Cookie`` each; the body gains ``csrfToken``."""
    t = transport(config)
    resp = t.write(PAIR, _issued())
    csrf = _csrf(t)
    assert _cookies(resp) == [line.format(csrf=csrf) for line in expected]
    assert resp.body == b'{"csrfToken":"' + csrf.encode() + b'"}'
    assert ("content-length", str(len(resp.body))) in resp.headers


@pytest.mark.parametrize(
    ("path", "root", "endpoint", "expected"),
    [
        pytest.param("/auth/login", "", "login", "Path=/auth;", id="prefix"),
        pytest.param("/admin/auth/refresh", "", "refresh", "Path=/admin/auth;", id="admin"),
        pytest.param("/login", "", "login", "Path=/;", id="standalone-at-root"),
        pytest.param("/login", "/auth", "login", "Path=/auth;", id="mounted-under-root-path"),
        pytest.param("/auth/login", "/srv", "login", "Path=/srv/auth;", id="server-root-path"),
        pytest.param("/auth/login", "/a b", "login", "Path=/;", id="odd-root-path-falls-back"),
    ],
)
def test_the_refresh_cookie_lives_on_the_auth_prefix(
    path: str, root: str, endpoint: str, expected: str
) -> None:
    """The refresh cookie's ``Path`` is the prefix that issued it (under any root path)."""
    t = transport()
    resp = t.write(PAIR, _issued(view=view("POST", path=path, root=root), endpoint=endpoint))
    assert expected in _cookies(resp)[1]


def test_ending_clears_the_three_cookies() -> None:
    """Logout: each cookie again with ``Max-Age=0`` and the same attributes, no body change."""
    t = transport(Cookies(domain="example.com"))
    resp = t.write(Response(204, ()), _issued(None, None, endpoint="logout"))
    assert resp.body == b""
    assert _cookies(resp) == [
        "jwe_access_user=; Max-Age=0; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax",
        "jwe_refresh_user=; Max-Age=0; Path=/auth; Domain=example.com; Secure; HttpOnly; "
        "SameSite=Lax",
        "jwe_csrf=; Max-Age=0; Path=/; Domain=example.com; Secure; SameSite=Lax",
    ]


def test_ending_one_table_keeps_the_others_csrf_entry() -> None:
    """Logging out of one table leaves the CSRF entry of another signed in beside it."""
    t = transport()
    admin = _csrf(t, "admin", "a1")
    jar = f"jwe_csrf={admin}.{_csrf(t)}"
    v = view("POST", {"cookie": [jar]}, path="/auth/logout")
    resp = t.write(Response(204, ()), _issued(None, None, view=v, endpoint="logout"))
    assert _cookies(resp)[2] == f"jwe_csrf={admin}; Max-Age=86400; Path=/; Secure; SameSite=Lax"


# -- the decision ----------------------------------------------------------------------------


@pytest.fixture
def cgate(make_gate: Callable[..., Gate]) -> Gate:
    return make_gate(cookies=Cookies())


def _decide(gate: Gate, method: str, path: str, headers: dict[str, list[str]], **kw: Any) -> Any:
    return gate.policy.decide(RequestView(method, path, headers, **kw), now=gate.clock())


def _jar(gate: Gate, table: str = "user", session: str = "fam") -> tuple[str, str]:
    assert gate.cookies is not None
    token = gate.issue(table, 1, session=session)
    csrf = gate.cookies.csrf_value(RequestView("GET", "/"), table, session)
    return f"{gate.cookies.config.names(table)[0]}={token}; jwe_csrf={csrf}", csrf


@pytest.mark.parametrize(
    ("method", "path", "extra", "expected"),
    [
        pytest.param("GET", "/api/x", {}, "lookup", id="get-by-cookie"),
        pytest.param("POST", "/api/x", {}, "csrf", id="post-without-csrf"),
        pytest.param("POST", "/api/x", {"x-csrf-token": ["{csrf}"]}, "lookup", id="post-csrf"),
        pytest.param("DELETE", "/api/x", {"x-csrf-token": ["nope"]}, "csrf", id="wrong-csrf"),
        pytest.param(
            "POST", "/api/x", {"authorization": ["Bearer {header}"]}, "header", id="header-wins"
        ),
        pytest.param("GET", "/health", {}, "anonymous", id="public-reads-no-cookie"),
        pytest.param("GET", "/admin/stats", {}, "missing", id="other-table-cookie-unread"),
        pytest.param("POST", "/blog/x", {}, "csrf", id="optional-rule-still-checks"),
    ],
)
def test_decide_reads_the_cookie_after_the_headers(
    cgate: Gate, method: str, path: str, extra: dict[str, list[str]], expected: str
) -> None:
    """The rule's table's cookie counts only without a header token; unsafe methods need the
    CSRF token, and a header-token request none."""
    jar, csrf = _jar(cgate)
    header = cgate.issue("user", 2)
    headers = {"cookie": [jar]} | {
        k: [v.format(csrf=csrf, header=header) for v in vs] for k, vs in extra.items()
    }
    got = _decide(cgate, method, path, headers)
    if expected == "lookup":
        assert isinstance(got, Lookup)
        assert got.claims.sub == "1"
    elif expected == "header":
        assert isinstance(got, Lookup)
        assert got.claims.sub == "2"
    elif expected == "csrf":
        assert got == refusals.CSRF
    elif expected == "missing":
        assert got == refusals.MISSING
    else:
        assert not isinstance(got, Lookup | Refusal)


def test_decide_checks_the_origin_of_a_cookie_websocket(cgate: Gate) -> None:
    """A cookie on a WebSocket handshake counts only with a same-host ``Origin``."""
    jar, _ = _jar(cgate)
    base = {"cookie": [jar], "host": ["app.test"]}
    good = _decide(cgate, "GET", "/ws", {**base, "origin": ["https://app.test"]}, websocket=True)
    assert isinstance(good, Lookup)
    bad = _decide(cgate, "GET", "/ws", {**base, "origin": ["https://evil.test"]}, websocket=True)
    assert bad == refusals.CROSS_ORIGIN
    assert _decide(cgate, "GET", "/ws", base, websocket=True) == refusals.CROSS_ORIGIN
    by_header = {"authorization": [f"Bearer {cgate.issue('user', 1)}"]}
    assert isinstance(_decide(cgate, "GET", "/ws", by_header, websocket=True), Lookup)


def test_cookie_mode_off_reads_no_cookie(make_gate: Callable[..., Gate]) -> None:
    """Without ``cookies=`` a cookie is no credential, and the adapters never collect it."""
    gate = make_gate()
    jar, _ = _jar(make_gate(cookies=Cookies()))
    assert _decide(gate, "GET", "/api/x", {"cookie": [jar]}) == refusals.MISSING
    assert "cookie" not in gate.transport.headers
    assert {"cookie", "x-csrf-token", "host", "origin"} <= make_gate(
        cookies=Cookies()
    ).transport.headers
