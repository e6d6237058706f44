"""The decision core: plain values in, a decision out. No asyncio, no WSGI, no I/O.

``Gate.authenticate`` (and its async twin) turns a ``RequestView`` into a decision with
``Policy.decide``; if the answer is a ``Lookup``, it fetches the record (its only I/O)
and finishes with ``Policy.conclude``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import ExpiredTokenError, TokenError
from . import refusals
from .http import Refusal, Response
from .paths import PathSegments, path_readings, path_segments
from .records import PASSWORD_STAMP, password_stamp
from .request import RequestView
from .rules import CompiledRule, RuleSet, admits
from .transports import Transport, with_query

if TYPE_CHECKING:
    from .cookies import CookieTransport
from .user import ANONYMOUS, ANONYMOUS_AUTH, AnonymousUser, AuthInfo, AuthUser, Claims

__all__ = [
    "Allow",
    "Decision",
    "Decoder",
    "Lookup",
    "Policy",
    "ScopesFn",
    "default_scopes",
    "unavailable",
]

logger = logging.getLogger("jwe_gate")

_ROUTE_CACHE = 4096
"""How many (method, path) -> rule answers a policy remembers."""
_ROUTE_CACHE_PATH = 2048
"""Longer spellings (path, server path, root and target together) are matched every time,
never remembered."""


class Decoder(Protocol):
    """What the core needs of the token codec: verify a token at a time."""

    @property
    def leeway(self) -> float: ...

    def decode(self, token: str, *, now: float) -> Claims: ...


class RecordView(Protocol):
    """What the core needs of a table: the record as the app may see it."""

    def public(self, record: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Allow:
    """Forward the request with this user and auth info."""

    user: AuthUser | AnonymousUser
    auth: AuthInfo
    endpoint: tuple[str, str] | None = None
    """``(table, endpoint)`` when the gate itself answers (``("user", "login")``)."""
    refused: Refusal | None = None
    """For an endpoint that answers without a valid access token (logout): why the token that
    came was refused, for the endpoint to answer with if nothing else lets it through."""
    vary: str | None = None
    """A request header the app's answer depends on beyond the token headers (``Cookie``, when
    the cookie transport was read): the adapters add it to the answer's ``Vary``."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """The token verified; fetch record ``claims.sub`` of ``table``, then ``conclude``."""

    table: str
    claims: Claims
    rule: CompiledRule
    token: str
    by_cookie: bool = False
    """The token came in a cookie (its CSRF check passed for this request only)."""

    @property
    def session(self) -> str | None:
        """The session (refresh family) the token was minted for, if any (``sid``)."""
        sid = self.claims.raw.get("sid")
        return sid if isinstance(sid, str) else None


Decision = Allow | Refusal | Lookup | Response
"""A ``Response`` is sent as it is: the gate's answer to a CORS preflight."""
ScopesFn = Callable[[Mapping[str, Any]], Iterable[str]]

ALLOW_ANONYMOUS = Allow(ANONYMOUS, ANONYMOUS_AUTH)


def default_scopes(extras: Mapping[str, Any]) -> Iterable[str]:
    """Scopes from extras: the ``role`` (a string) and ``scopes`` (a list of strings)."""
    role = extras.get("role")
    if isinstance(role, str):
        yield role
    scopes = extras.get("scopes")
    if isinstance(scopes, list | tuple):
        yield from (s for s in scopes if isinstance(s, str))


class Policy:
    """Rules, headers and token checks, precomputed once; per request it only looks things up."""

    __slots__ = (
        "_routes",
        "_vary",
        "codec",
        "cookies",
        "lenient",
        "rules",
        "scopes",
        "tables",
        "transport",
    )

    def __init__(
        self,
        *,
        codec: Decoder,
        rules: RuleSet,
        tables: Mapping[str, RecordView],
        transport: Transport,
        scopes: ScopesFn = default_scopes,
        lenient: frozenset[str] = frozenset(),
        cookies: CookieTransport | None = None,
    ) -> None:
        self.codec = codec
        self.cookies = cookies
        """The cookie transport, when on: read only when no header (or query) token came."""
        # Where the cookie transport is read, the app's answer depends on the Cookie header: a
        # shared cache that ignored it would hand one user's page to another.
        self._vary = None if cookies is None else "Cookie"
        self.rules = rules
        self.tables = tables
        self.transport = transport
        self.scopes = scopes
        self.lenient = lenient
        """The gate's endpoints that answer without a valid access token (logout)."""
        # (method, path, server path, root, target) -> the answer.
        self._routes: dict[tuple[str | None, ...], CompiledRule | Refusal] = {}

    def decide(self, view: RequestView, *, now: float) -> Decision:
        """Everything that needs no record: the rule, the token's source, and the token."""
        h = view.headers
        rule = self._route(view.method, view.path, view.server_path, view.root, view.target)
        if view.method == "OPTIONS" and "origin" in h and "access-control-request-method" in h:
            if isinstance(rule, CompiledRule) and rule.mode != "required" and rule.endpoint is None:
                # Anonymous may run this path's handlers anyway: the app (its CORS middleware)
                # answers, and a preflight never carries credentials.
                return ALLOW_ANONYMOUS
            # A preflight carries no credentials, so no handler of a protected (or refused)
            # path may run for it, and the gate's own endpoints have none in the app: the gate
            # answers, and the real request meets the rules.
            return preflight(view)
        if isinstance(rule, Refusal):
            return rule
        if rule.mode == "public":
            return _anonymous(rule)  # token headers are not even read
        token = self.transport.read(view)
        if rule.rule.query_token:
            token = with_query(token, view)
        if isinstance(token, Refusal):
            return token
        by_cookie = False
        if token is None and self.cookies is not None:
            # A header (or query) token wins: it is what the client chose to send, and a
            # request carrying one cannot be forged cross-site, so it needs no CSRF token.
            token = self.cookies.access_token(view, rule.table)
            if isinstance(token, Refusal):
                return token
            by_cookie = token is not None
        if token is None:
            return _anonymous(rule, self._vary) if rule.mode == "optional" else refusals.MISSING
        try:
            claims = self.codec.decode(token, now=now)
        except ExpiredTokenError as exc:
            logger.info("token refused: %s", exc)
            return self._refuse_token(rule, refusals.EXPIRED)
        except TokenError as exc:
            # The client learns only "invalid" (no decryption oracle); the reason goes to logs.
            logger.info("token refused: %s", exc)
            return self._refuse_token(rule, refusals.INVALID)
        if claims.tbl != rule.table:
            # A token minted for one table never authenticates against another.
            logger.info("token refused: table %r where %r is required", claims.tbl, rule.table)
            return self._refuse_token(rule, refusals.INVALID)
        if by_cookie and self.cookies is not None:
            # The browser attaches a cookie to requests other sites make: an unsafe method must
            # also show the CSRF token signed for this session, a WebSocket our own Origin.
            sid = claims.raw.get("sid")
            refused = self.cookies.check(view, rule.table, sid if isinstance(sid, str) else None)
            if refused is not None:
                return refused
        return Lookup(rule.table, claims, rule, token, by_cookie)

    def _refuse_token(self, rule: CompiledRule, refusal: Refusal) -> Allow | Refusal:
        """``refusal`` for a token that does not count, unless the rule is an endpoint that
        answers without one: logout with an expired access token and its refresh token must
        still end the session, and then the token proves nothing (the request is anonymous)."""
        if rule.endpoint is not None and rule.endpoint in self.lenient:
            return Allow(ANONYMOUS, ANONYMOUS_AUTH, (rule.table, rule.endpoint), refusal)
        return refusal

    def _route(
        self,
        method: str,
        path: str,
        server_path: str | None = None,
        root: str = "",
        target: str | None = None,
    ) -> CompiledRule | Refusal:
        """The rule for a method and a path's spellings (``RequestView``): a pure function
        of them, so remembered. Bounded in entries and in length, and emptied when full: a flood
        of new or long paths costs at most ~10 MB, never more."""
        key = (method, path, server_path, root, target)
        if len(path) + len(server_path or "") + len(root) + len(target or "") > _ROUTE_CACHE_PATH:
            return self._match(*key)
        found = self._routes.get(key)
        if found is None:
            found = self._match(*key)
            if len(self._routes) >= _ROUTE_CACHE:
                self._routes.clear()
            self._routes[key] = found
        return found

    def _match(
        self,
        method: str,
        path: str,
        server_path: str | None = None,
        root: str = "",
        target: str | None = None,
    ) -> CompiledRule | Refusal:
        path = path or "/"
        segments = path_segments(path)
        others: list[PathSegments] = []
        for reading in path_readings(server_path or path, root, target):
            if reading != path:
                other = path_segments(reading)
                if other is None:
                    segments = None
                    break
                others.append(other)
        if segments is None:
            # Dot segments and control characters, in any reading, are resolved differently by
            # different routers, so no rule can be trusted to cover them.
            return refusals.BAD_PATH
        rule = self.rules.match(method, segments, others)
        if rule is None:
            # Its spellings name rules of which none is stricter (say "/ADMIN/x": admin table,
            # or the default's user table): no answer is safe.
            return refusals.BAD_PATH
        return rule

    def conclude(
        self,
        lookup: Lookup,
        record: Mapping[str, Any] | BaseException | None,
        *,
        live: bool | BaseException = True,
    ) -> Allow | Refusal:
        """Finish a ``Lookup`` once the record is known: the record, None (not found), or
        the exception the table raised; ``live``, whether the token's session is still live
        (or the exception the store raised)."""
        answer = self._conclude(lookup, record, live)
        if isinstance(answer, Refusal) and answer.status == 401:
            return self._refuse_token(lookup.rule, answer)
        return answer

    def _conclude(
        self,
        lookup: Lookup,
        record: Mapping[str, Any] | BaseException | None,
        live: bool | BaseException,
    ) -> Allow | Refusal:
        if isinstance(live, BaseException):
            return unavailable("session check", live)
        if not live:
            # Logout, reuse detection, a password change or gate.revoke ended the session:
            # every access token minted for it ends with it.
            logger.info("token refused: session of %s %s ended", lookup.table, lookup.claims.sub)
            return refusals.INVALID
        claims = lookup.claims
        if isinstance(record, BaseException):
            return unavailable(f"table {lookup.table!r} lookup", record)
        if record is None:
            logger.info("token refused: %s %s no longer exists", lookup.table, claims.sub)
            return refusals.INVALID
        created = record.get("created_at")
        if (
            isinstance(created, int)
            and not isinstance(created, bool)
            and claims.iat + self.codec.leeway < created / 1000
        ):
            # Minted before this record existed: a backend that reuses a deleted record's id
            # must not hand the old record's tokens to the new one. With the leeway: the
            # record's clock (a database server's, say) may run ahead of the gate's.
            logger.info("token refused: %s %s is newer than the token", lookup.table, claims.sub)
            return refusals.INVALID
        if _revoked_by_password_change(claims, password_stamp(record)):
            logger.info("token refused: issued before the password change of %s", claims.sub)
            return refusals.INVALID
        user = AuthUser(self.tables[lookup.table].public(record), lookup.table, claims.extras)
        if not admits(lookup.rule.rule, user):
            return refusals.DENIED  # a failed condition, or an email not verified
        try:
            scopes = ("authenticated", *self.scopes(claims.extras))
        except Exception:
            # A failing scopes function denies: an error in user code must never grant access.
            logger.exception("scopes function raised; access denied")
            return refusals.DENIED
        endpoint = None if lookup.rule.endpoint is None else (lookup.table, lookup.rule.endpoint)
        auth = AuthInfo(scopes, lookup.table, claims, claims.extras, lookup.token)
        return Allow(user, auth, endpoint, vary=self._vary)


_PREFLIGHT_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def preflight(view: RequestView) -> Response:
    """The gate's answer to a CORS preflight on a path whose rule needs a token.

    It lets the browser send the real request, which the gate then authenticates like any
    other, and whose response the browser lets a page read only if the app's CORS middleware
    allows the origin. It never allows credentials (cookies): a cross-origin cookie app puts
    its CORS middleware outside the gate, which then answers preflights itself.
    """
    headers: list[tuple[str, str]] = [
        ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ("content-length", "0"),
        ("cache-control", "no-store"),
    ]
    origin = view.header("origin") or ""
    method = view.header("access-control-request-method") or ""
    asked = view.header("access-control-request-headers") or ""
    names = [n.strip() for n in asked.split(",") if n.strip()]
    # Only well-formed values are echoed: nothing the client sent can split a header.
    if _PREFLIGHT_ORIGIN.fullmatch(origin) and _PREFLIGHT_TOKEN.fullmatch(method):
        headers += [
            ("access-control-allow-origin", origin),
            ("access-control-allow-methods", method),
        ]
        if names and all(_PREFLIGHT_TOKEN.fullmatch(n) for n in names):
            headers.append(("access-control-allow-headers", ", ".join(names)))
    return Response(200, tuple(headers))


_PREFLIGHT_ORIGIN = re.compile(r"(?:null|[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.:\[\]-]+)")


def unavailable(what: str, exc: BaseException) -> Refusal:
    """The answer when I/O the gate depends on raised: a 503, the traceback to the log."""
    logger.error("%s failed", what, exc_info=exc)
    return refusals.UNAVAILABLE


def _revoked_by_password_change(claims: Claims, changed: float) -> bool:
    """Changing the password revokes every access token minted before it."""
    stamp = claims.raw.get(PASSWORD_STAMP)
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        # Minted by the endpoints with the record's stamp: exact, whatever the second.
        return bool(stamp != changed)
    # Minted by gate.issue without a stamp: iat has whole seconds, so compare whole seconds.
    return bool(claims.iat < math.floor(changed))


def _anonymous(rule: CompiledRule, vary: str | None = None) -> Allow:
    if rule.endpoint is None:
        return ALLOW_ANONYMOUS if vary is None else Allow(ANONYMOUS, ANONYMOUS_AUTH, vary=vary)
    return Allow(ANONYMOUS, ANONYMOUS_AUTH, (rule.table, rule.endpoint))
