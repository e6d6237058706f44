"""Protected-path rules: patterns, compilation once, and first-match lookup per request."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._user import AuthUser

__all__ = ["Condition", "Mode", "Rule", "RuleSet", "path_segments"]

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
            Matching ignores case, empty segments and ``;params``, like the most lenient router.
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


def path_segments(path: str) -> tuple[str, ...] | None:
    """The matching form of a request path, or None when the path must be refused.

    Lower-cased, ``;params`` stripped from each segment, empty segments dropped. Dot segments
    (``.``/``..``, also as ``..;x``), control characters and backslashes give None: routers
    disagree on them, so no rule can be trusted to cover them.
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
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Pattern:
    segments: tuple[str, ...]
    prefix: bool
    wildcard: bool

    def matches(self, path: tuple[str, ...]) -> bool:
        n = len(self.segments)
        if self.prefix:
            if len(path) < n:
                return False
            path = path[:n]
        elif len(path) != n:
            return False
        if not self.wildcard:
            return path == self.segments
        return all(p == "*" or p == s for p, s in zip(self.segments, path, strict=True))


def _compile_pattern(pattern: str) -> _Pattern:
    parts = [p for p in pattern.lower().split("/") if p]
    prefix = bool(parts) and parts[-1] == "**"
    if prefix:
        parts.pop()
    for part in parts:
        if part in (".", "..") or "**" in part or (part != "*" and "*" in part) or ";" in part:
            raise ConfigurationError(
                f"invalid rule pattern {pattern!r}: use whole segments, '*' for one segment "
                "and a final '/**' for a prefix"
            )
    return _Pattern(tuple(parts), prefix, "*" in parts)


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

    __slots__ = ("default", "rules")

    def __init__(self, rules: Iterable[Rule], default: Rule, tables: Collection[str],
                 first_table: str, endpoints: Iterable[tuple[Rule, str]] = ()) -> None:
        # The gate's own endpoints come first: no user rule can shadow /auth/login.
        served = tuple(self._compile(r, tables, first_table, e) for r, e in endpoints)
        self.rules = served + tuple(self._compile(r, tables, first_table) for r in rules)
        self.default = self._compile(default, tables, first_table)

    @staticmethod
    def _compile(rule: Rule, tables: Collection[str], first_table: str,
                 endpoint: str | None = None) -> CompiledRule:
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

    def match(self, method: str, segments: tuple[str, ...]) -> CompiledRule:
        """The first rule covering ``method`` and the path, else the default."""
        for compiled in self.rules:
            if (compiled.methods is None or method in compiled.methods) and \
                    compiled.pattern.matches(segments):
                return compiled
        return self.default
