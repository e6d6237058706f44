"""SPEC §Transports, the query parameter: ``QueryToken.read``, its combination with the header
token, ``Rule(query_token=...)``, and ``Policy.decide`` on rules with and without it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import pytest

from jwe_gate import ConfigurationError, Gate, Refusal, RequestView, Rule
from jwe_gate._sansio import refusals
from jwe_gate._sansio.decision import Lookup
from jwe_gate._sansio.paths import path_segments
from jwe_gate._sansio.rules import RuleSet
from jwe_gate._sansio.transports import QUERY, with_query

Headers = Mapping[str, Sequence[str]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("", None, id="no-query"),
        pytest.param("page=2", None, id="other-params"),
        pytest.param("authtoken=abc.def", "abc.def", id="token"),
        pytest.param("page=2&authtoken=abc&x=1", "abc", id="among-others"),
        pytest.param("authtoken=", None, id="empty-is-absent"),
        pytest.param("authtoken", None, id="bare-name-is-absent"),
        pytest.param("authtoken=%20", None, id="blank-is-absent"),
        pytest.param("authtoken=a%2Eb%5Fc", "a.b_c", id="percent-encoded"),
        pytest.param("auth%74oken=abc", "abc", id="percent-encoded-name"),
        pytest.param("authtoken=Bearer%20abc", "Bearer abc", id="bearer-is-not-a-scheme-here"),
        pytest.param("AuthToken=abc", None, id="name-is-case-sensitive"),
        pytest.param("xauthtoken=abc", None, id="another-name"),
    ],
)
def test_query_token_reads_one_bare_value(query: str, expected: str | None) -> None:
    """One ``authtoken`` value, percent-decoded and bare; empty counts as absent."""
    assert QUERY.read(RequestView("GET", "/api/x", query=query)) == expected


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("authtoken=a&authtoken=b", id="two-values"),
        pytest.param("authtoken=a&authtoken=a", id="same-value-twice"),
        pytest.param("authtoken=a&authtoken=", id="second-empty"),
        pytest.param("authtoken=a&auth%74oken=b", id="second-percent-encoded-name"),
    ],
)
def test_a_repeated_query_token_is_refused(query: str) -> None:
    """A repeated ``authtoken`` is ambiguous: 400, the parameter named."""
    refusal = QUERY.read(RequestView("GET", "/api/x", query=query))
    assert isinstance(refusal, Refusal)
    assert refusal.status == 400
    assert refusal.payload == {"param": "authtoken"}


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [
        pytest.param(None, "", None, id="neither"),
        pytest.param("h", "", "h", id="header-only"),
        pytest.param(None, "authtoken=q", "q", id="query-only"),
        pytest.param("h", "authtoken=q", refusals.TWO_TOKENS, id="both"),
        pytest.param("q", "authtoken=q", refusals.TWO_TOKENS, id="both-equal"),
        pytest.param("", "authtoken=q", refusals.TWO_TOKENS, id="empty-bearer-and-query"),
        pytest.param("h", "authtoken=", "h", id="header-and-empty-query"),
        pytest.param(
            refusals.duplicate_header("authorization"),
            "authtoken=q",
            refusals.duplicate_header("authorization"),
            id="header-refusal-first",
        ),
        pytest.param(
            None, "authtoken=a&authtoken=b", refusals.duplicate_param("authtoken"), id="repeated"
        ),
    ],
)
def test_header_and_query_tokens_combine(
    header: str | Refusal | None, query: str, expected: str | Refusal | None
) -> None:
    """The header's token or the query's; both at once are two credentials: 400."""
    assert with_query(header, RequestView("GET", "/api/x", query=query)) == expected


def test_a_public_rule_cannot_accept_a_query_token() -> None:
    """A public rule reads no token, so ``query_token=True`` on it is a configuration error."""
    with pytest.raises(ConfigurationError, match="query_token"):
        Rule("/x", "public", query_token=True)


def test_query_token_must_be_a_bool() -> None:
    """A truthy non-bool (a string from a config file) is refused, not guessed."""
    with pytest.raises(ConfigurationError, match="query_token"):
        Rule("/x", "required", query_token="no")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "mode", [pytest.param("required", id="required"), pytest.param("optional", id="optional")]
)
def test_rules_that_read_tokens_accept_query_token(mode: str) -> None:
    """``required`` and ``optional`` rules may enable the query transport; off by default."""
    assert Rule("/x", mode, query_token=True).query_token  # type: ignore[arg-type]
    assert not Rule("/x", mode).query_token  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/api/x", "/API/**", id="literal-reading-without-query-token-wins"),
        pytest.param("/API/x", "/API/**", id="only-the-strict-rule-matches"),
    ],
)
def test_a_rule_without_query_token_is_stricter(path: str, expected: str) -> None:
    """Where readings of a path pick rules differing only in ``query_token``, the one that
    refuses the query token applies: leniency never adds a credential."""
    rules = RuleSet(
        [Rule("/API/**", "required"), Rule("/api/**", "required", query_token=True)],
        Rule("/**", "required"),
        {"user"},
        "user",
    )
    segments = path_segments(path)
    assert segments is not None
    picked = rules.match("GET", segments)
    assert picked is not None
    assert picked.rule.pattern == expected
    assert not picked.rule.query_token


QUERY_RULES = [
    Rule("/api/**", "required", query_token=True),
    Rule("/blog/**", "optional", query_token=True),
    Rule("/health", "public"),
]


@pytest.mark.parametrize(
    ("path", "query", "headers", "outcome"),
    [
        pytest.param("/api/x", "authtoken={user}", {}, "lookup", id="required-query"),
        pytest.param("/api/x", "", {"authorization": ["Bearer {user}"]}, "lookup", id="header"),
        pytest.param("/api/x", "", {}, "missing", id="required-none"),
        pytest.param("/api/x", "authtoken=", {}, "missing", id="required-empty"),
        pytest.param("/api/x", "authtoken=junk", {}, "invalid", id="required-garbage"),
        pytest.param("/api/x", "authtoken={expired}", {}, "expired", id="required-expired"),
        pytest.param("/api/x", "authtoken={admin}", {}, "invalid", id="other-table"),
        pytest.param("/api/x", "authtoken={user}&authtoken={user}", {}, "repeated", id="repeated"),
        pytest.param(
            "/api/x",
            "authtoken={user}",
            {"authorization": ["Bearer {user}"]},
            "two",
            id="header-and-query",
        ),
        pytest.param(
            "/api/x",
            "authtoken={user}",
            {"x-xano-authorization": ["{user}"]},
            "two",
            id="xano-header-and-query",
        ),
        pytest.param(
            "/api/x",
            "authtoken={user}",
            {"authorization": ["Basic YWxhZGRpbjpvcGVuc2VzYW1l"]},
            "lookup",
            id="basic-is-not-ours-query-used",
        ),
        pytest.param("/blog/x", "authtoken={user}", {}, "lookup", id="optional-query"),
        pytest.param("/blog/x", "", {}, "anonymous", id="optional-none"),
        pytest.param("/blog/x", "authtoken=junk", {}, "invalid", id="optional-garbage"),
        pytest.param("/echo", "authtoken={user}", {}, "missing", id="disabled-ignored"),
        pytest.param(
            "/echo", "authtoken=a&authtoken=b", {}, "missing", id="disabled-repeat-ignored"
        ),
        pytest.param(
            "/echo",
            "authtoken=junk",
            {"authorization": ["Bearer {user}"]},
            "lookup",
            id="disabled-header-wins",
        ),
        pytest.param("/health", "authtoken=junk", {}, "anonymous", id="public-not-read"),
    ],
)
def test_decide_reads_the_query_token_only_where_enabled(
    make_gate: Callable[..., Gate], path: str, query: str, headers: Headers, outcome: str
) -> None:
    """Each rule reads ``?authtoken=`` only with ``query_token=True``; results match headers."""
    gate = make_gate(rules=QUERY_RULES)
    tokens = {
        "user": gate.issue("user", 1),
        "admin": gate.issue("admin", 1),
        "expired": gate.issue("user", 1, ttl=1, now=time.time() - 3600),
    }
    view = RequestView(
        "GET",
        path,
        {k: [v.format(**tokens) for v in vs] for k, vs in headers.items()},
        query=query.format(**tokens),
    )
    decision = gate.policy.decide(view, now=time.time())
    expected: object = {
        "missing": refusals.MISSING,
        "invalid": refusals.INVALID,
        "expired": refusals.EXPIRED,
        "repeated": refusals.duplicate_param("authtoken"),
        "two": refusals.TWO_TOKENS,
    }.get(outcome)
    if outcome == "lookup":
        assert isinstance(decision, Lookup)
        assert decision.claims.sub == "1"
    elif outcome == "anonymous":
        assert not isinstance(decision, Refusal | Lookup)
        assert not decision.user.is_authenticated  # type: ignore[union-attr]
    else:
        assert decision == expected
