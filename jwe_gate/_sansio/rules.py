"""Protected-path rules: patterns, compilation once, and first-match lookup per request over
every reading of a path (``.paths``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import ConfigurationError
from .paths import _BAD_PATH_CHARS, PathSegments, casefold, path_readings, path_segments
from .records import EMAIL_VERIFIED

if TYPE_CHECKING:
    from .user import AuthUser

__all__ = [
    "Condition",
    "Mode",
    "PathSegments",
    "Rule",
    "RuleSet",
    "admits",
    "casefold",
    "path_readings",
    "path_segments",
]

logger = logging.getLogger("jwe_gate")

Mode = Literal["required", "optional", "public"]
Condition = Mapping[str, Any] | Callable[["AuthUser"], bool]
"""A ``when=`` condition: ``{"role": "admin"}`` (each key must equal -- or, for a set, list or
tuple, be one of -- the value in the token's extras, else in the record), or a callable that gets
the authenticated user and returns True to allow."""

_MODES = ("required", "optional", "public")
_METHOD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True, slots=True)
class Rule:
    """One protected-path rule.

    Args:
        pattern: ``/auth/me`` (exact), ``/api/**`` (prefix:
            ``/api`` and everything below it) or ``/orgs/*/billing`` (``*`` is one segment).
            A trailing slash is meaningful as written: ``/health/`` opens ``/health/`` (Django's
            style), ``/health`` opens ``/health``. A request is read every way a router or
            server could (``path_readings``), each literally and leniently; when the
            readings pick different rules the strictest applies, and a path for which none is
            strictest (say, rules of two tables) is refused.
        mode: ``required`` (a valid token for ``table`` or 401), ``optional`` (no token is
            anonymous; a bad token is 401) or ``public`` (token headers are not read).
        methods: the HTTP methods this rule covers (all when omitted); ``GET`` implies ``HEAD``.
        table: the table whose tokens count; the gate's first table when omitted.
        when: an extra condition on the authenticated user; failing it is a 403.
        query_token: also accept the token as ``?authtoken=`` (SPEC §Transports). The token
            then appears in access logs and ``Referer``: keep it short-lived. A request with
            both a header token and a query token is refused (400).
        verified: the record's email must be verified (its ``email_verified`` is True), else
            403 ``ERROR_CODE_ACCESS_DENIED``.
    """

    pattern: str
    mode: Mode = "required"
    methods: Collection[str] | None = None
    table: str | None = None
    when: Condition | None = None
    query_token: bool = False
    verified: bool = False

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigurationError(f"rule mode must be one of {_MODES}, not {self.mode!r}")
        if not isinstance(self.pattern, str) or not self.pattern.startswith("/"):
            raise ConfigurationError(f"rule pattern must start with '/': {self.pattern!r}")
        if self.mode == "public" and self.when is not None:
            raise ConfigurationError("a public rule cannot have a 'when' condition")
        if self.query_token is not True and self.query_token is not False:
            raise ConfigurationError(f"query_token must be True or False: {self.query_token!r}")
        if self.verified is not True and self.verified is not False:
            raise ConfigurationError(f"verified must be True or False: {self.verified!r}")
        if self.mode == "public" and self.verified:
            raise ConfigurationError("a public rule reads no record: it cannot be verified=True")
        if self.mode == "public" and self.query_token:
            raise ConfigurationError("a public rule reads no token: it cannot have query_token")
        if self.methods is not None:
            if isinstance(self.methods, str):
                raise ConfigurationError("methods must be a collection, e.g. ['GET']")
            bad = [m for m in self.methods if not _METHOD.fullmatch(m)]
            if bad or not self.methods:
                raise ConfigurationError(f"invalid methods {list(self.methods)!r}")
        _compile_pattern(self.pattern)


@dataclass(frozen=True, slots=True)
class _Pattern:
    segments: tuple[str, ...]
    prefix: bool
    wildcard: bool
    literal: tuple[str, ...] = ()
    """The segments as written (case kept), for matching a literal path."""

    def matches(self, path: tuple[str, ...], *, literal: bool = False, start: int = 0) -> bool:
        """Whether ``path[start:]`` matches (``start`` spares a long path's tails a copy)."""
        want = self.literal if literal else self.segments
        n = len(want)
        if self.prefix:
            if len(path) - start < n:
                return False
        elif len(path) - start != n:
            return False
        path = path[start : start + n]
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
    parts = [casefold(p) for p in written]
    prefix = bool(parts) and parts[-1] == "**"
    if prefix:
        parts.pop()
        written.pop()
    elif written and pattern.endswith("/"):
        # A trailing slash is meaningful as written (SPEC §Rules): '/health/' is Django's
        # '/health/', not '/health'. The lenient form has none (it drops empty segments).
        written.append("")
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

    __slots__ = ("_heads", "default", "rules")

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
        # The user's rules, for the tails of a path (an app-set root path, see match), indexed
        # by the segment a tail must start with, so a long path costs O(segments), not
        # O(segments x rules): per reading, a segment -> the rules (in order) that can match.
        explicit = tuple(c for c in self.rules if c.endpoint is None)
        self._heads = (_index(explicit, literal=False), _index(explicit, literal=True))

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

    def match(
        self,
        method: str,
        segments: tuple[str, ...],
        others: Sequence[PathSegments] = (),
    ) -> CompiledRule | None:
        """The rule for ``method`` and a path read every plausible way, or None (refuse).

        ``segments`` is the path Starlette routes on; ``others`` the other readings of the
        request (``path_readings``). Each is matched literally, without its leading
        slashes and leniently; the strictest rule of all applies, and when none is strictest
        (two tables, two conditions) None: the path is ambiguous and must be refused.
        A bare tuple (unit tests of the patterns) is matched leniently only.
        """
        lenient = self._first(method, segments, literal=False)
        if not isinstance(segments, PathSegments):
            return lenient
        literal = self._first(method, segments.literal, literal=True)
        if literal.endpoint is not None:
            # The gate answers its own endpoint itself: no router reads this request.
            return literal
        # Leniency is safe for a rule that protects, not for one that exempts: '/api/status'
        # public must not exempt '/api/STATUS', '/api/status;x' or '/api/status/', which a
        # literal router sends to '/api/{rest}'; '/orgs/;x/billing' must keep its condition.
        picked: CompiledRule | None = _stricter(lenient, literal)
        for reading in (segments, *others):
            if picked is None:
                return None
            if reading is not segments:
                picked = _stricter(picked, self._first(method, reading, literal=False))
                if picked is not None:
                    picked = _stricter(picked, self._first(method, reading.literal, literal=True))
            if picked is not None and reading.stripped != reading.literal:
                # Werkzeug strips leading slashes: '//orgs/;/billing' is its
                # '/orgs/{org}/billing', which neither other reading matches.
                picked = _stricter(picked, self._first(method, reading.stripped, literal=True))
            if picked is not None:
                picked = self._tails(method, reading, picked)
        return picked

    def _tails(
        self, method: str, reading: PathSegments, picked: CompiledRule
    ) -> CompiledRule | None:
        """``picked``, made at least as strict as the user's rules for every tail of the path.

        An app may strip a root path of its own (``FastAPI(root_path=...)``, Django's
        ``FORCE_SCRIPT_NAME``) and route ``/x/admin/stats`` as ``/admin/stats``. The gate
        cannot know that prefix, so each tail is matched against the user's rules (never the
        default: the prefix is the app's, not the client's, choice).
        """
        found = picked
        for form, literal in ((tuple(reading), False), (reading.literal, True)):
            heads, anywhere = self._heads[literal]
            for start in range(1, len(form)):
                rules = heads.get(form[start], anywhere)
                if not rules:
                    continue
                rule = self._first(method, form, literal=literal, rules=rules, start=start)
                if rule is not self.default:
                    stricter = _stricter(found, rule)
                    if stricter is None:
                        return None
                    found = stricter
        return found

    def _first(
        self,
        method: str,
        segments: tuple[str, ...],
        *,
        literal: bool,
        rules: tuple[CompiledRule, ...] | None = None,
        start: int = 0,
    ) -> CompiledRule:
        for compiled in self.rules if rules is None else rules:
            if (
                compiled.methods is None or method in compiled.methods
            ) and compiled.pattern.matches(segments, literal=literal, start=start):
                return compiled
        return self.default


def _index(
    rules: tuple[CompiledRule, ...], *, literal: bool
) -> tuple[dict[str, tuple[CompiledRule, ...]], tuple[CompiledRule, ...]]:
    """``rules`` by the first segment a path must have to match them: for each first segment,
    the rules (in order) that can match a path starting with it; and the rules that can match
    whatever the first segment is (``/*/x``, ``/**``)."""

    def head(c: CompiledRule) -> str | None:
        segments = c.pattern.literal if literal else c.pattern.segments
        return segments[0] if segments and segments[0] != "*" else None

    anywhere = tuple(c for c in rules if head(c) is None)
    heads = {h: tuple(c for c in rules if head(c) in (h, None)) for h in map(head, rules) if h}
    return heads, anywhere


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
    if a.rule.query_token and not b.rule.query_token:
        return False  # a accepts a credential (the query's) that b refuses
    if b.rule.verified and not a.rule.verified:
        return False  # a lets an unverified email through where b refuses it
    return b.rule.when is None or a.rule.when is b.rule.when or a.rule.when == b.rule.when


def admits(rule: Rule, user: AuthUser) -> bool:
    """Whether ``rule``'s conditions hold for the authenticated ``user``: ``verified`` (the
    record's ``email_verified`` is exactly True) and ``when``."""
    if rule.verified and user.record.get(EMAIL_VERIFIED) is not True:
        return False
    return rule.when is None or _holds(rule.when, user)


def _holds(when: Any, user: AuthUser) -> bool:
    try:
        return bool(when(user)) if callable(when) else _matches(when, user)
    except Exception:
        # A failing condition denies: an error in user code (or an unhashable record value
        # tested against a set) must never grant access, nor escape as a 500.
        logger.exception("rule condition raised; access denied")
        return False


def _matches(when: Mapping[str, Any], user: AuthUser) -> bool:
    for key, expected in when.items():
        actual = user.extras[key] if key in user.extras else user.record.get(key)
        if isinstance(expected, set | frozenset | list | tuple):
            if actual not in expected:
                return False
        elif actual != expected:
            return False
    return True
