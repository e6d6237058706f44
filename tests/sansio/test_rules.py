"""Unit tables for §Rules: rule validation, pattern matching, path canonicalisation, and how the
two readings of a path (literal and lenient) are resolved into one rule."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import pytest

from jwe_gate import ConfigurationError, Rule
from jwe_gate._sansio.rules import (
    CompiledRule,
    PathSegments,
    RuleSet,
    casefold,
    path_readings,
    path_segments,
)
from jwe_gate._sansio.user import AuthUser

TABLES = ("user", "admin")


def ruleset(*rules: Rule, default: str = "required") -> RuleSet:
    """Rules over tables ``user`` (first) and ``admin``, as the Gate builds them."""
    return RuleSet(rules, Rule("/**", default), TABLES, "user")  # type: ignore[arg-type]


def lenient(path: str) -> tuple[str, ...]:
    """The lenient reading only (a plain tuple): what the pattern matcher itself does."""
    segments = path_segments(path)
    assert segments is not None
    return tuple(segments)


def both(path: str) -> PathSegments:
    """Both readings, as the gate passes them to the rule set."""
    segments = path_segments(path)
    assert segments is not None
    return segments


def owner(user: AuthUser) -> bool:
    return user.extras.get("role") == "owner"


# -- Rule validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"pattern": "/a", "mode": "protected"}, id="unknown-mode"),
        pytest.param({"pattern": "/a", "mode": "REQUIRED"}, id="mode-is-case-sensitive"),
        pytest.param({"pattern": "/a", "mode": ""}, id="empty-mode"),
        pytest.param({"pattern": "api"}, id="no-leading-slash"),
        pytest.param({"pattern": ""}, id="empty-pattern"),
        pytest.param({"pattern": "*"}, id="bare-star"),
        pytest.param({"pattern": "**"}, id="bare-double-star"),
        pytest.param({"pattern": b"/a"}, id="bytes-pattern"),
        pytest.param({"pattern": None}, id="none-pattern"),
        pytest.param({"pattern": "/a/**/b"}, id="double-star-not-last"),
        pytest.param({"pattern": "/**/a"}, id="double-star-first"),
        pytest.param({"pattern": "/a*"}, id="star-inside-segment"),
        pytest.param({"pattern": "/*a/b"}, id="star-prefix-in-segment"),
        pytest.param({"pattern": "/a/b**"}, id="double-star-glued-to-segment"),
        pytest.param({"pattern": "/a**"}, id="spring-cve-2023-20860-style-no-separator"),
        pytest.param({"pattern": "/a/***"}, id="triple-star"),
        pytest.param({"pattern": "/a/../b"}, id="dot-dot-segment"),
        pytest.param({"pattern": "/%61dmin/**"}, id="percent-encoded"),
        pytest.param({"pattern": "/a\\b"}, id="backslash"),
        pytest.param({"pattern": "/a\nb"}, id="control-character"),
        pytest.param({"pattern": "/a/./b"}, id="dot-segment"),
        pytest.param({"pattern": "/.."}, id="only-dot-dot"),
        pytest.param({"pattern": "/a;x/b"}, id="params-in-pattern"),
        pytest.param(
            {"pattern": "/a", "mode": "public", "when": {"role": "admin"}},
            id="public-with-condition",
        ),
        pytest.param({"pattern": "/a", "methods": "GET"}, id="methods-as-string"),
        pytest.param({"pattern": "/a", "methods": []}, id="methods-empty"),
        pytest.param({"pattern": "/a", "methods": ["G ET"]}, id="method-with-space"),
        pytest.param({"pattern": "/a", "methods": [""]}, id="method-empty-string"),
        pytest.param({"pattern": "/a", "methods": ["GET\n"]}, id="method-with-newline"),
        pytest.param({"pattern": "/a", "methods": ["GET", "P0ST"]}, id="method-with-digit"),
    ],
)
def test_invalid_rule_is_a_configuration_error(kwargs: dict[str, Any]) -> None:
    """A malformed mode, pattern, condition or method list fails when the Rule is built."""
    with pytest.raises(ConfigurationError):
        Rule(**kwargs)


def test_configuration_error_is_a_value_error() -> None:
    """A bad rule can be caught as a plain ValueError too."""
    with pytest.raises(ValueError, match="pattern"):
        Rule("api")


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"pattern": "/"}, id="root"),
        pytest.param({"pattern": "/**"}, id="everything"),
        pytest.param({"pattern": "/a/"}, id="trailing-slash"),
        pytest.param({"pattern": "/a/*/b"}, id="wildcard"),
        pytest.param({"pattern": "/a/*/**"}, id="wildcard-then-prefix"),
        pytest.param({"pattern": "/API/Hello"}, id="upper-case"),
        pytest.param({"pattern": "/a", "methods": ["get", "Post"]}, id="methods-any-case"),
        pytest.param({"pattern": "/a", "methods": ("GET",)}, id="methods-tuple"),
        pytest.param(
            {"pattern": "/a", "mode": "optional", "when": {"role": "x"}},
            id="optional-with-condition",
        ),
        pytest.param({"pattern": "/a", "when": owner}, id="callable-condition"),
    ],
)
def test_valid_rule_is_accepted(kwargs: dict[str, Any]) -> None:
    """Well-formed rules build, and compile into a rule set."""
    rule = Rule(**kwargs)
    assert ruleset(rule).rules[0].rule is rule


def test_rule_naming_unknown_table_is_refused() -> None:
    """A rule's table must be one of the gate's tables."""
    with pytest.raises(ConfigurationError, match="nope"):
        ruleset(Rule("/a", table="nope"))


def test_non_rule_in_rules_is_refused() -> None:
    """Rules must be Rule objects, not tuples or strings."""
    with pytest.raises(ConfigurationError):
        ruleset(("/a", "public"))  # type: ignore[arg-type]


def test_methods_are_upper_cased_and_get_implies_head() -> None:
    """``methods=["get"]`` compiles to GET and HEAD; HEAD alone does not imply GET."""
    rs = ruleset(Rule("/a", methods=["get", "post"]), Rule("/b", methods=["HEAD"]))
    assert rs.rules[0].methods == frozenset({"GET", "HEAD", "POST"})
    assert rs.rules[1].methods == frozenset({"HEAD"})


def test_rule_without_table_takes_the_first_table() -> None:
    """A rule without ``table`` and the default both use the gate's first table."""
    rs = ruleset(Rule("/a"), Rule("/b", table="admin"))
    assert [c.table for c in rs.rules] == ["user", "admin"]
    assert rs.default.table == "user"
    assert rs.default.mode == "required"


# -- pattern matching (the lenient reading alone) ------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        # exact: case-insensitive, a trailing slash is the same path
        pytest.param("/auth/me", "/auth/me", True, id="exact"),
        pytest.param("/auth/me", "/auth/me/", True, id="exact-trailing-slash"),
        pytest.param("/auth/me/", "/auth/me", True, id="exact-pattern-trailing-slash"),
        pytest.param("/auth/me", "/AUTH/Me", True, id="exact-case"),
        pytest.param("/auth/me", "/auth", False, id="exact-shorter"),
        pytest.param("/auth/me", "/auth/me/x", False, id="exact-longer"),
        pytest.param("/auth/me", "/auth/mex", False, id="exact-not-a-string-prefix"),
        pytest.param("/auth/me", "/", False, id="exact-root"),
        # prefix: the prefix itself and everything below it, by segment
        pytest.param("/api/**", "/api", True, id="prefix-itself"),
        pytest.param("/api/**", "/api/", True, id="prefix-itself-slash"),
        pytest.param("/api/**", "/api/x", True, id="prefix-child"),
        pytest.param("/api/**", "/api/x/y/z", True, id="prefix-deep"),
        pytest.param("/api/**", "/API/X", True, id="prefix-case"),
        pytest.param("/api/**", "/apix", False, id="prefix-not-a-string-prefix"),
        pytest.param("/api/**", "/ap", False, id="prefix-shorter"),
        pytest.param("/api/**", "/x/api", False, id="prefix-elsewhere"),
        pytest.param("/api/**", "/", False, id="prefix-root"),
        # single-segment wildcard
        pytest.param("/orgs/*/billing", "/orgs/acme/billing", True, id="star"),
        pytest.param("/orgs/*/billing", "/orgs/ACME/billing/", True, id="star-case-slash"),
        pytest.param("/orgs/*/billing", "/orgs/billing", False, id="star-needs-a-segment"),
        pytest.param("/orgs/*/billing", "/orgs/a/b/billing", False, id="star-is-one-segment"),
        pytest.param("/orgs/*/billing", "/orgs/a/billing/x", False, id="star-exact-length"),
        pytest.param("/orgs/*/billing", "/orgs/a/invoices", False, id="star-literal-differs"),
        pytest.param("/*", "/x", True, id="top-star"),
        pytest.param("/*", "/", False, id="top-star-root"),
        pytest.param("/*", "/x/y", False, id="top-star-two"),
        pytest.param("/a/*/**", "/a", False, id="star-prefix-too-short"),
        pytest.param("/a/*/**", "/a/b", True, id="star-prefix-itself"),
        pytest.param("/a/*/**", "/a/b/c/d", True, id="star-prefix-deep"),
        # root and everything
        pytest.param("/", "/", True, id="root"),
        pytest.param("/", "/x", False, id="root-only"),
        pytest.param("/**", "/", True, id="all-root"),
        pytest.param("/**", "/any/thing/at/all", True, id="all-deep"),
    ],
)
def test_pattern_matching(pattern: str, path: str, hit: bool) -> None:
    """Exact, prefix and single-segment patterns match by whole segments, ignoring case."""
    rs = ruleset(Rule(pattern, "public"))
    matched = rs.match("GET", lenient(path))
    assert (matched is rs.rules[0]) is hit
    assert (matched is rs.default) is not hit


def test_first_matching_rule_wins() -> None:
    """Rules are tried in the order given; a later, broader rule does not override."""
    specific, broad = Rule("/api/public", "public"), Rule("/api/**", table="admin")
    rs = ruleset(specific, broad)
    assert rule_of(rs.match("GET", lenient("/api/public"))) is specific
    assert rule_of(rs.match("GET", lenient("/api/other"))) is broad
    reversed_rs = ruleset(broad, specific)
    assert rule_of(reversed_rs.match("GET", lenient("/api/public"))) is broad


@pytest.mark.parametrize(
    ("methods", "method", "hit"),
    [
        pytest.param(["GET"], "GET", True, id="get"),
        pytest.param(["GET"], "HEAD", True, id="get-implies-head"),
        pytest.param(["get"], "HEAD", True, id="lower-case-get-implies-head"),
        pytest.param(["GET"], "POST", False, id="get-not-post"),
        pytest.param(["GET"], "OPTIONS", False, id="get-not-options"),
        pytest.param(["HEAD"], "GET", False, id="head-does-not-imply-get"),
        pytest.param(["POST"], "HEAD", False, id="post-not-head"),
        pytest.param(["POST", "DELETE"], "DELETE", True, id="second-method"),
        pytest.param(None, "PROPFIND", True, id="all-methods"),
    ],
)
def test_rule_methods(methods: Collection[str] | None, method: str, hit: bool) -> None:
    """A rule with methods covers only those (GET implying HEAD); others fall through."""
    rs = ruleset(Rule("/api/**", "public", methods=methods))
    matched = rs.match(method, both("/api/x"))
    assert (matched is rs.rules[0]) is hit
    assert (matched is rs.default) is not hit


@pytest.mark.parametrize("default", ["required", "optional", "public"])
def test_default_rule_applies_when_none_matches(default: str) -> None:
    """A path no rule matches gets the configured default, against the first table."""
    rs = ruleset(Rule("/api/**", table="admin"), default=default)
    matched = rs.match("GET", both("/elsewhere"))
    assert matched is rs.default
    assert (matched.mode, matched.table) == (default, "user")


# -- path canonicalisation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        pytest.param("/", (), id="root"),
        pytest.param("/a/b", ("a", "b"), id="plain"),
        pytest.param("/A/Bc", ("a", "bc"), id="case-folded"),
        pytest.param("/ÄDMIN", ("ädmin",), id="unicode-case-folded"),
        pytest.param("/a/b/", ("a", "b"), id="trailing-slash"),
        pytest.param("//a///b//", ("a", "b"), id="empty-segments-dropped"),
        pytest.param("", (), id="empty-path"),
        pytest.param("/a;x=1/b;y", ("a", "b"), id="params-stripped"),
        pytest.param("/a;/b;", ("a", "b"), id="empty-params-stripped"),
        pytest.param("/;x/a", ("a",), id="params-only-segment-dropped"),
        pytest.param("/a;b;c", ("a",), id="several-params"),
        pytest.param("/a.b/c..d/...", ("a.b", "c..d", "..."), id="dots-inside-names"),
        pytest.param("/%2e%2e/a", ("%2e%2e", "a"), id="already-decoded-percent-is-text"),
        pytest.param("/a b/c", ("a b", "c"), id="space-kept"),
        pytest.param("/admin/stats#", ("admin", "stats#"), id="hash-is-text"),
    ],
)
def test_path_segments_canonicalisation(path: str, segments: tuple[str, ...]) -> None:
    """The lenient form: case folded, ``;params`` stripped, empty segments dropped."""
    assert path_segments(path) == segments


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/a/../b", id="dot-dot"),
        pytest.param("/a/./b", id="dot"),
        pytest.param("/..", id="only-dot-dot"),
        pytest.param("/.", id="only-dot"),
        pytest.param("/a/..", id="trailing-dot-dot"),
        pytest.param("/a/..;x/b", id="dot-dot-with-params"),
        pytest.param("/a/.;/b", id="dot-with-empty-params"),
        pytest.param("/A/..;JSESSIONID=1/B", id="dot-dot-params-upper"),
        pytest.param("/a\\b", id="backslash"),
        pytest.param("/a\\..\\b", id="backslash-traversal"),
        pytest.param("/a\x00", id="nul"),
        pytest.param("/a\n/b", id="lf"),
        pytest.param("/a\r", id="cr"),
        pytest.param("/a\tb", id="tab"),
        pytest.param("/a\x1b", id="escape"),
        pytest.param("/a\x7f", id="del"),
        pytest.param("/.\x00/a", id="jetty-dot-nul"),
    ],
)
def test_path_segments_refuses(path: str) -> None:
    """Dot segments, control characters and backslashes make the path unmatchable (None)."""
    assert path_segments(path) is None


@pytest.mark.parametrize(
    ("path", "literal"),
    [
        pytest.param("/", (), id="root"),
        pytest.param("/a", ("a",), id="one"),
        pytest.param("/A//b;x/", ("A", "", "b;x", ""), id="kept-as-written"),
        pytest.param("//a", ("", "a"), id="leading-double-slash"),
    ],
)
def test_path_segments_keep_the_literal_reading(path: str, literal: tuple[str, ...]) -> None:
    """Beside the lenient form, the path as a router splits it: case, params, empties kept."""
    assert both(path).literal == literal


# -- the two readings ---------------------------------------------------------------------------

PUBLIC_STATUS = Rule("/api/status", "public")
OWNER_BILLING = Rule("/orgs/*/billing", when=owner)
ADMIN_AREA = Rule("/admin/**", table="admin")
BLOG = Rule("/blog/**", "optional")
API_REQUIRED = Rule("/api/**")
ME = Rule("/auth/me")
HEALTH = Rule("/health", "public")
UPPER_PUBLIC = Rule("/API/**", "public")
KIOSK = Rule("/kiosk", "public")

DEFAULT = "default"
REFUSE = "refuse"


@pytest.mark.parametrize(
    ("rules", "default", "path", "expected"),
    [
        # An exemption applies only to its literal spelling: a literal router (Starlette,
        # Werkzeug) sends '/api/STATUS' etc. to a catch-all '/api/{rest}', which is not exempt.
        pytest.param(
            [PUBLIC_STATUS], "required", "/api/status", PUBLIC_STATUS, id="exempt-literal"
        ),
        pytest.param([PUBLIC_STATUS], "required", "/api/STATUS", DEFAULT, id="exempt-case"),
        pytest.param([PUBLIC_STATUS], "required", "/api/status;x", DEFAULT, id="exempt-params"),
        pytest.param([PUBLIC_STATUS], "required", "/api//status", DEFAULT, id="exempt-empty-seg"),
        pytest.param([PUBLIC_STATUS], "required", "//api/status", DEFAULT, id="exempt-lead-slash"),
        pytest.param([PUBLIC_STATUS], "required", "/api/status/", DEFAULT, id="exempt-trailing"),
        pytest.param([KIOSK], "required", "/\u212aiosk", DEFAULT, id="exempt-kelvin-sign-folds"),
        pytest.param([HEALTH], "required", "/health/", DEFAULT, id="public-exact-trailing"),
        pytest.param([UPPER_PUBLIC], "required", "/API/x", UPPER_PUBLIC, id="pattern-case-kept"),
        pytest.param([UPPER_PUBLIC], "required", "/api/x", DEFAULT, id="pattern-case-literal"),
        # A condition survives a segment that only the lenient reading drops.
        pytest.param(
            [OWNER_BILLING],
            "required",
            "/orgs/;x/billing",
            OWNER_BILLING,
            id="condition-params-segment",
        ),
        pytest.param(
            [OWNER_BILLING], "required", "/ORGS/x/billing", OWNER_BILLING, id="condition-case"
        ),
        pytest.param(
            [OWNER_BILLING], "required", "/orgs/x;y/billing;z", OWNER_BILLING, id="condition-params"
        ),
        # A protection applies to every spelling (the lenient reading is stricter).
        pytest.param([API_REQUIRED], "public", "/API/x", API_REQUIRED, id="protect-case"),
        pytest.param([API_REQUIRED], "public", "//api/x", API_REQUIRED, id="protect-lead-slash"),
        pytest.param([API_REQUIRED], "public", "/api;x/y", API_REQUIRED, id="protect-params"),
        pytest.param([BLOG], "required", "/BLOG/x", DEFAULT, id="optional-vs-required"),
        # Same demands either way: the lenient rule stands (the gate's own endpoints rely on it).
        pytest.param([ME], "required", "/auth/me/", ME, id="equivalent-trailing"),
        pytest.param([HEALTH], "public", "/HEALTH", HEALTH, id="equivalent-public"),
        pytest.param([ADMIN_AREA], "required", "/admin/stats/", ADMIN_AREA, id="prefix-trailing"),
        pytest.param([ADMIN_AREA], "required", "/admin//stats", ADMIN_AREA, id="prefix-empty-seg"),
        # Two tables, neither stricter: ambiguous, refused (400) whatever the token.
        pytest.param([ADMIN_AREA], "required", "/ADMIN/stats", REFUSE, id="tables-case"),
        pytest.param([ADMIN_AREA], "required", "//admin/stats", REFUSE, id="tables-lead-slash"),
        pytest.param([ADMIN_AREA], "required", "/admin;x/stats", REFUSE, id="tables-params"),
    ],
)
def test_two_readings_resolve_to_the_stricter_rule(
    rules: list[Rule], default: str, path: str, expected: Rule | str
) -> None:
    """When the literal and lenient readings pick different rules, the stricter one applies."""
    rs = ruleset(*rules, default=default)
    matched = rs.match("GET", both(path))
    if expected == DEFAULT:
        assert matched is rs.default
    elif expected == REFUSE:
        assert_refuses(matched, rs)
    else:
        assert rule_of(matched) is expected


def rule_of(matched: CompiledRule | None) -> Rule:
    """The rule a match found (typed: a refused match has none)."""
    assert matched is not None, "no rule matched"
    return matched.rule


def assert_refuses(matched: CompiledRule | None, rs: RuleSet) -> None:
    assert matched is None, matched  # ambiguous: the gate answers 400 before any token work


def test_plain_tuple_is_matched_leniently_only() -> None:
    """Without a literal reading (a plain tuple) the rule set matches the lenient form alone."""
    rs = ruleset(PUBLIC_STATUS)
    assert rule_of(rs.match("GET", ("api", "status"))) is PUBLIC_STATUS
    assert rs.match("GET", both("/api/STATUS")) is rs.default


# -- a pattern's trailing slash (SPEC §Rules, revised) -----------------------------------------

DJANGO_HEALTH = Rule("/health/", "public")


@pytest.mark.parametrize(
    ("rule", "path", "opened"),
    [
        pytest.param(DJANGO_HEALTH, "/health/", True, id="slash-pattern-opens-slash-path"),
        pytest.param(DJANGO_HEALTH, "/health", False, id="slash-pattern-keeps-bare-path"),
        pytest.param(DJANGO_HEALTH, "/health//", False, id="slash-pattern-keeps-double-slash"),
        pytest.param(DJANGO_HEALTH, "/HEALTH/", False, id="slash-pattern-keeps-case"),
        pytest.param(HEALTH, "/health", True, id="bare-pattern-opens-bare-path"),
        pytest.param(HEALTH, "/health/", False, id="bare-pattern-keeps-slash-path"),
        pytest.param(Rule("/", "public"), "/", True, id="root-pattern-opens-root"),
        pytest.param(Rule("/api/**", "public"), "/api/", True, id="prefix-opens-its-slash"),
    ],
)
def test_a_patterns_trailing_slash_is_meaningful(rule: Rule, path: str, opened: bool) -> None:
    """``/health/`` opens ``/health/`` (Django's style) and ``/health`` opens ``/health``."""
    rs = ruleset(rule)
    matched = rs.match("GET", both(path))
    assert (rule_of(matched) is rule) is opened


# -- case folding as re.IGNORECASE does --------------------------------------------------------


@pytest.mark.parametrize(
    ("spelled", "folded"),
    [
        pytest.param("\u0131", "i", id="dotless-i"),
        pytest.param("\u0130", "i", id="dotted-capital-I"),
        pytest.param("\u017f", "s", id="long-s"),
        pytest.param("\u212a", "k", id="kelvin"),
        pytest.param("ADMIN", "admin", id="ascii"),
        pytest.param("\u00c4", "\u00e4", id="a-umlaut"),
    ],
)
def test_casefold_folds_as_re_ignorecase(spelled: str, folded: str) -> None:
    """The lenient reading folds U+0131, U+017F and the Kelvin sign to ASCII, as ``(?i)`` does."""
    assert casefold(spelled) == casefold(folded)
    assert re.fullmatch(re.escape(folded), spelled, re.IGNORECASE)


def test_casefold_agrees_with_re_on_the_whole_bmp() -> None:
    """For every BMP character, the fold is a spelling ``re.IGNORECASE`` takes for it, and two
    characters fold alike exactly when ``re`` matches one with the other (ASCII letters)."""
    for code in range(0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        assert re.fullmatch(re.escape(casefold(char)), char, re.IGNORECASE), hex(code)
        if casefold(char).isascii() and casefold(char).isalpha():
            assert re.fullmatch(re.escape(char), casefold(char), re.IGNORECASE), hex(code)


def test_dotless_i_reaches_the_admin_rule() -> None:
    """``/adm\u0131n/stats`` is the admin area for a ``(?i)`` router: the admin rule holds."""
    rs = ruleset(ADMIN_AREA)
    assert rs.match("GET", both("/adm\u0131n/stats")) is None  # admin (lenient) vs user: 400
    assert rule_of(ruleset(ADMIN_AREA, default="public").match("GET", both("/ADM\u0130N/x"))) is (
        ADMIN_AREA
    )


# -- every plausible reading ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "root", "target", "expected"),
    [
        pytest.param("/a/b", "", None, ("/a/b",), id="plain"),
        pytest.param("/x/a", "/x", None, ("/a", "/x/a"), id="root-stripped-or-ignored"),
        pytest.param("/xa/b", "/x", None, ("a/b", "/xa/b"), id="root-without-boundary"),
        pytest.param("/p/x/a", "/x", None, ("/a", "/p/x/a"), id="root-anywhere-litestar"),
        pytest.param("/a", "/x", None, ("/a",), id="root-not-in-path-daphne"),
        pytest.param("/x", "/x", None, ("/", "/x"), id="path-is-root"),
        pytest.param("http://h/admin", "", None, ("http://h/admin", "/admin"), id="absolute-form"),
        pytest.param("/%61dmin", "", None, ("/%61dmin", "/admin"), id="double-decoding"),
        pytest.param("/a", "", "/%61?q=1", ("/a",), id="target-decoded-once"),
        pytest.param("", "", None, ("/",), id="empty"),
    ],
)
def test_path_readings(path: str, root: str, target: str | None, expected: tuple[str, ...]) -> None:
    """The paths routers and servers could route a request on, each once."""
    assert set(path_readings(path, root, target)) == set(expected)


def readings(path: str, root: str = "", target: str | None = None) -> list[PathSegments]:
    out = []
    for reading in path_readings(path, root, target):
        segments = path_segments(reading)
        assert segments is not None
        out.append(segments)
    return out


@pytest.mark.parametrize(
    ("rules", "default", "path", "root", "expected"),
    [
        # root_path ignored (Falcon): the full path's rule holds too.
        pytest.param([ADMIN_AREA], "public", "/admin/stats", "/admin", ADMIN_AREA, id="ignored"),
        pytest.param([HEALTH], "required", "/x/health", "/x", DEFAULT, id="ignored-default"),
        # root_path stripped without a boundary (Quart, Django) or anywhere (Litestar).
        pytest.param([ADMIN_AREA], "public", "/xadmin/s", "/x", ADMIN_AREA, id="no-boundary"),
        pytest.param([ADMIN_AREA], "public", "/p/x/admin", "/x", ADMIN_AREA, id="anywhere"),
        # An app-set root path (FastAPI(root_path=...)): a tail names a stricter user rule.
        pytest.param([ADMIN_AREA], "public", "/x/admin/stats", "", ADMIN_AREA, id="app-root"),
        pytest.param([ADMIN_AREA], "required", "/x/admin/stats", "", REFUSE, id="app-root-2t"),
        pytest.param([HEALTH], "required", "/x/health", "", DEFAULT, id="tail-never-opens"),
        pytest.param([ADMIN_AREA], "public", "http://h/admin/x", "", ADMIN_AREA, id="absolute"),
        pytest.param([ADMIN_AREA], "public", "/%61dmin/x", "", ADMIN_AREA, id="double-decoded"),
    ],
)
def test_every_reading_resolves_to_the_strictest_rule(
    rules: list[Rule], default: str, path: str, root: str, expected: Rule | str
) -> None:
    """Readings of root_path, app root paths, absolute-form and encodings: strictest rule."""
    rs = ruleset(*rules, default=default)
    primary, *others = readings(path, root)
    matched = rs.match("GET", primary, others)
    if expected == DEFAULT:
        assert matched is rs.default
    elif expected == REFUSE:
        assert_refuses(matched, rs)
    else:
        assert rule_of(matched) is expected
