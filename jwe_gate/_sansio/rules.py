"""Protected-path rules: patterns, compilation once, and first-match lookup per request."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from .user import AuthUser

__all__ = ["Condition", "Mode", "PathSegments", "Rule", "RuleSet", "path_segments"]

Mode = Literal["required", "optional", "public"]
Condition = Mapping[str, Any] | Callable[["AuthUser"], bool]
"""A ``when=`` condition: ``{"role": "admin"}`` (each key must equal -- or, for a set, list or
tuple, be one of -- the value in the token's extras, else in the record), or a callable that gets
the authenticated user and returns True to allow."""

_MODES = ("required", "optional", "public")
_METHOD = re.compile(r"[A-Za-z]+")
# Control characters (a CR/LF smuggled as %0d%0a, NUL) and backslashes are spelled differently by
# different routers and servers; no legitimate route needs them.
_BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True, slots=True)
class Rule:
    """One protected-path rule.

    Args:
        pattern: ``/auth/me`` (exact; a trailing slash is the same path), ``/api/**`` (prefix:
            ``/api`` and everything below it) or ``/orgs/*/billing`` (``*`` is one segment).
            A path is read literally (as Starlette routes it, and without its leading slashes
            as Werkzeug does) and leniently (case folded, empty segments and ``;params``
            dropped, as the most lenient router would). When the readings pick different rules
            the strictest applies, and a path for which none is strictest (say, rules of two
            tables) is refused.
        mode: ``required`` (a valid token for ``table`` or 401), ``optional`` (no token is
            anonymous; a bad token is 401) or ``public`` (token headers are not read).
        methods: the HTTP methods this rule covers (all when omitted); ``GET`` implies ``HEAD``.
        table: the table whose tokens count; the gate's first table when omitted.
        when: an extra condition on the authenticated user; failing it is a 403.
    """

    pattern: str
    mode: Mode = "required"
    methods: Collection[str] | None = None
    table: str | None = None
    when: Condition | None = None

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigurationError(f"rule mode must be one of {_MODES}, not {self.mode!r}")
        if not isinstance(self.pattern, str) or not self.pattern.startswith("/"):
            raise ConfigurationError(f"rule pattern must start with '/': {self.pattern!r}")
        if self.mode == "public" and self.when is not None:
            raise ConfigurationError("a public rule cannot have a 'when' condition")
        if self.methods is not None:
            if isinstance(self.methods, str):
                raise ConfigurationError("methods must be a collection, e.g. ['GET']")
            bad = [m for m in self.methods if not _METHOD.fullmatch(m)]
            if bad or not self.methods:
                raise ConfigurationError(f"invalid methods {list(self.methods)!r}")
        _compile_pattern(self.pattern)


class PathSegments(tuple[str, ...]):
    """The lenient matching form of a path (the tuple itself), with its literal form beside it.

    ``literal`` is the path split on ``/`` as the router sees it: case kept, ``;params`` kept,
    empty segments (``//``, a trailing slash) kept; ``()`` for ``/``.
    """

    literal: tuple[str, ...]
    stripped: tuple[str, ...]
    """``literal`` without its leading empty segments, as Werkzeug routes ``//a/b`` (``/a/b``)."""

    def __new__(cls, lenient: Iterable[str], literal: tuple[str, ...]) -> PathSegments:
        self = super().__new__(cls, lenient)
        self.literal = literal
        lead = 0
        while lead < len(literal) and not literal[lead]:
            lead += 1
        self.stripped = literal[lead:]
        return self


def path_segments(path: str) -> PathSegments | None:
    """The matching forms of a request path, or None when the path must be refused.

    Leniently: lower-cased, ``;params`` stripped from each segment, empty segments dropped; and
    literally (:attr:`PathSegments.literal`). Dot segments (``.``/``..``, also as ``..;x``),
    control characters and backslashes give None: routers disagree on them, so no rule can be
    trusted to cover them.
    """
    if _BAD_PATH_CHARS.search(path):
        return None
    out = []
    for raw in path.lower().split("/"):
        seg = raw.split(";", 1)[0]
        if seg in (".", ".."):
            return None
        if seg:
            out.append(seg)
    literal = () if path == "/" else tuple(path.removeprefix("/").split("/"))
    return PathSegments(out, literal)


@dataclass(frozen=True, slots=True)
class _Pattern:
    segments: tuple[str, ...]
    prefix: bool
    wildcard: bool
    literal: tuple[str, ...] = ()
    """The segments as written (case kept), for matching a literal path."""

    def matches(self, path: tuple[str, ...], *, literal: bool = False) -> bool:
        want = self.literal if literal else self.segments
        n = len(want)
        if self.prefix:
            if len(path) < n:
                return False
            path = path[:n]
        elif len(path) != n:
            return False
        if not self.wildcard:
            return path == want
        # '*' is one non-empty segment, like a router's {param}: '/a//b' has no segment there.
        return all(bool(s) if p == "*" else p == s for p, s in zip(want, path, strict=True))


def _compile_pattern(pattern: str) -> _Pattern:
    if "%" in pattern or _BAD_PATH_CHARS.search(pattern):
        # Paths arrive percent-decoded and never hold these: such a rule would silently never
        # match, a hole under a public default.
        raise ConfigurationError(
            f"invalid rule pattern {pattern!r}: write it decoded, "
            "without '%', backslashes or control characters"
        )
    written = [p for p in pattern.split("/") if p]
    parts = [p.lower() for p in written]
    prefix = bool(parts) and parts[-1] == "**"
    if prefix:
        parts.pop()
        written.pop()
    for part in parts:
        if part in (".", "..") or "**" in part or (part != "*" and "*" in part) or ";" in part:
            raise ConfigurationError(
                f"invalid rule pattern {pattern!r}: use whole segments, '*' for one segment "
                "and a final '/**' for a prefix"
            )
    return _Pattern(tuple(parts), prefix, "*" in parts, tuple(written))


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with its table resolved and its pattern compiled."""

    rule: Rule
    table: str
    pattern: _Pattern
    methods: frozenset[str] | None
    endpoint: str | None = None
    """The auth endpoint the gate itself serves here (``login``, ``me``, ...), if any."""

    @property
    def mode(self) -> Mode:
        return self.rule.mode


class RuleSet:
    """The compiled rules, in order, plus the default for paths no rule matches."""

    __slots__ = ("_case_free", "default", "rules")

    def __init__(
        self,
        rules: Iterable[Rule],
        default: Rule,
        tables: Collection[str],
        first_table: str,
        endpoints: Iterable[tuple[Rule, str]] = (),
    ) -> None:
        # The gate's own endpoints come first: no user rule can shadow /auth/login.
        served = tuple(self._compile(r, tables, first_table, e) for r, e in endpoints)
        self.rules = served + tuple(self._compile(r, tables, first_table) for r in rules)
        self.default = self._compile(default, tables, first_table)
        # Lower-case patterns read the same literally and leniently: see match's fast path.
        self._case_free = all(c.pattern.literal == c.pattern.segments for c in self.rules)

    @staticmethod
    def _compile(
        rule: Rule, tables: Collection[str], first_table: str, endpoint: str | None = None
    ) -> CompiledRule:
        if not isinstance(rule, Rule):
            raise ConfigurationError(f"rules must be Rule objects, not {type(rule).__name__}")
        table = rule.table or first_table
        if table not in tables:
            raise ConfigurationError(f"rule {rule.pattern!r} names unknown table {table!r}")
        methods = None
        if rule.methods is not None:
            methods = frozenset(m.upper() for m in rule.methods)
            if "GET" in methods:
                methods |= {"HEAD"}  # routers answer HEAD with the GET handler
        return CompiledRule(rule, table, _compile_pattern(rule.pattern), methods, endpoint)

    def match(self, method: str, segments: tuple[str, ...]) -> CompiledRule | None:
        """The first rule covering ``method`` and the path, else the default.

        For :class:`PathSegments`, both readings of the path are matched; when they pick
        different rules, the stricter applies, and when neither is stricter (two tables, two
        conditions) None: the path is ambiguous and must be refused.
        """
        lenient = self._first(method, segments, literal=False)
        if not isinstance(segments, PathSegments):
            return lenient  # a bare tuple (unit tests of the patterns): the lenient reading only
        if self._case_free and segments.literal == segments:
            return lenient  # a canonical path: every reading is this one, no need to rescan
        strict = self._first(method, segments.literal, literal=True)
        # Leniency is safe for a rule that protects, not for one that exempts: '/api/status'
        # public must not exempt '/api/STATUS', '/api/status;x' or '/api/status/', which a
        # literal router sends to '/api/{rest}'; '/orgs/;x/billing' must keep its condition.
        picked = _stricter(lenient, strict)
        if picked is not None and segments.stripped != segments.literal:
            # Werkzeug strips leading slashes: '//orgs/;/billing' is its '/orgs/{org}/billing',
            # which neither other reading matches (the lenient one drops the ';' segment).
            picked = _stricter(picked, self._first(method, segments.stripped, literal=True))
        return picked

    def _first(self, method: str, segments: tuple[str, ...], *, literal: bool) -> CompiledRule:
        for compiled in self.rules:
            if (
                compiled.methods is None or method in compiled.methods
            ) and compiled.pattern.matches(segments, literal=literal):
                return compiled
        return self.default


_STRICTNESS = {"public": 0, "optional": 1, "required": 2}


def _stricter(a: CompiledRule, b: CompiledRule) -> CompiledRule | None:
    """The rule of ``a`` and ``b`` that refuses everything the other does (``a`` on a tie), or
    None when neither does (two tables, two conditions)."""
    if a is b or _covers(a, b):
        return a
    if _covers(b, a):
        return b
    return None


def _covers(a: CompiledRule, b: CompiledRule) -> bool:
    """Whether rule ``a`` refuses everything rule ``b`` refuses (``a`` is at least as strict)."""
    if b.mode == "public":
        return True
    if a.table != b.table or _STRICTNESS[a.mode] < _STRICTNESS[b.mode]:
        return False
    return b.rule.when is None or a.rule.when is b.rule.when or a.rule.when == b.rule.when
