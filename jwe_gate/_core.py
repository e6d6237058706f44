"""The decision core: plain values in, a decision out. No asyncio, no WSGI, no I/O.

An adapter turns its request into a :class:`RequestView`, calls :meth:`Policy.decide`, and if the
answer is a :class:`Lookup`, fetches the record (its only I/O) and calls :meth:`Policy.conclude`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._http import Refusal
from ._rules import CompiledRule, RuleSet, path_segments
from ._tables import PASSWORD_STAMP, Table, password_stamp
from ._tokens import Claims, TokenCodec
from ._user import ANONYMOUS, ANONYMOUS_AUTH, AnonymousUser, AuthInfo, AuthUser
from .exceptions import ExpiredTokenError, TokenError

__all__ = [
    "Allow",
    "Decision",
    "HeaderNames",
    "Lookup",
    "Policy",
    "RequestView",
    "ScopesFn",
    "default_scopes",
    "errors",
]

logger = logging.getLogger("jwe_gate")

_TRUE = frozenset({"true", "1", "yes"})
_EMPTY_HEADERS: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HeaderNames:
    """Which request headers carry the token (case-insensitive; these are the defaults)."""

    authorization: str = "authorization"
    xano: str = "x-xano-authorization"
    only: str = "x-xano-authorization-only"
    """With a true value (``true``/``1``/``yes``), read only :attr:`xano`; leave
    ``Authorization`` to the app, unread."""

    def wanted(self) -> frozenset[str]:
        """Every header the core reads, lower-cased."""
        return frozenset({self.authorization.lower(), self.xano.lower(), self.only.lower(),
                          "origin", "access-control-request-method"})


@dataclass(frozen=True, slots=True)
class RequestView:
    """What the core needs of a request."""

    method: str
    """Upper-case method (``GET`` for a WebSocket handshake)."""
    path: str
    """The path the wrapped app routes on (ASGI ``path`` minus ``root_path``; WSGI
    ``PATH_INFO``)."""
    headers: Mapping[str, Sequence[str]]
    """The values of the headers in :meth:`HeaderNames.wanted`, lower-case names, in order."""


@dataclass(frozen=True, slots=True)
class Allow:
    """Forward the request with this user and auth info."""

    user: AuthUser | AnonymousUser
    auth: AuthInfo
    endpoint: tuple[str, str] | None = None
    """``(table, endpoint)`` when the gate itself answers (``("user", "login")``)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """The token verified; fetch record ``claims.sub`` from ``table``, then :meth:`conclude`."""

    table: Table
    claims: Claims
    rule: CompiledRule
    token: str


Decision = Allow | Refusal | Lookup
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


class errors:
    """The refusals of §Errors, built once."""

    MISSING = Refusal(401, "ERROR_CODE_UNAUTHORIZED", "Unauthorized - Authentication Required",
                        headers=(("www-authenticate", "Bearer"),))
    INVALID = Refusal(401, "ERROR_CODE_UNAUTHORIZED", "Invalid token.",
                        headers=(("www-authenticate", 'Bearer error="invalid_token"'),))
    EXPIRED = Refusal(401, "ERROR_CODE_UNAUTHORIZED", "Token expired.",
                        headers=(("www-authenticate", 'Bearer error="invalid_token", '
                                  'error_description="The access token expired"'),))
    DENIED = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "Access denied.",
                       headers=(("www-authenticate", 'Bearer error="insufficient_scope"'),))
    BAD_PATH = Refusal(400, "ERROR_CODE_BAD_REQUEST", "Malformed request path.")
    UNAVAILABLE = Refusal(503, "ERROR_FATAL", "Authentication backend unavailable.",
                            headers=(("retry-after", "5"),))

    @staticmethod
    def duplicate(header: str) -> Refusal:
        return Refusal(400, "ERROR_CODE_BAD_REQUEST",
                         f"The {header} header must appear once.", {"param": header})


class Policy:
    """Rules, headers and token checks, precomputed once; per request it only looks things up."""

    __slots__ = ("_auth", "_only", "_xano", "codec", "rules", "scopes", "tables",
                 "wanted_headers")

    def __init__(self, *, codec: TokenCodec, rules: RuleSet, tables: Mapping[str, Table],
                 headers: HeaderNames, scopes: ScopesFn = default_scopes) -> None:
        self.codec = codec
        self.rules = rules
        self.tables = tables
        self.scopes = scopes
        self._auth = headers.authorization.lower()
        self._xano = headers.xano.lower()
        self._only = headers.only.lower()
        self.wanted_headers = headers.wanted()

    def decide(self, view: RequestView, *, now: float) -> Decision:
        """Everything that needs no record: the rule, the token's source, and the token."""
        h = view.headers
        if view.method == "OPTIONS" and "origin" in h and "access-control-request-method" in h:
            # A CORS preflight never carries credentials; let the CORS middleware answer it.
            return ALLOW_ANONYMOUS
        segments = path_segments(view.path or "/")
        if segments is None:
            # Dot segments and control characters are resolved differently by different
            # routers, so no rule can be trusted to cover them.
            return errors.BAD_PATH
        rule = self.rules.match(view.method, segments)
        if rule is None:
            # Its literal and lenient spellings name rules of which neither is stricter (say
            # "/ADMIN/x": admin table, or the default's user table): no answer is safe.
            return errors.BAD_PATH
        if rule.mode == "public":
            return _anonymous(rule)  # token headers are not even read
        token = self._token(h)
        if isinstance(token, Refusal):
            return token
        if token is None:
            return _anonymous(rule) if rule.mode == "optional" else errors.MISSING
        try:
            claims = self.codec.decode(token, now=now)
        except ExpiredTokenError as exc:
            logger.info("token refused: %s", exc)
            return errors.EXPIRED
        except TokenError as exc:
            # The client learns only "invalid" (no decryption oracle); the reason goes to logs.
            logger.info("token refused: %s", exc)
            return errors.INVALID
        if claims.tbl != rule.table:
            # A token minted for one table never authenticates against another.
            logger.info("token refused: table %r where %r is required", claims.tbl, rule.table)
            return errors.INVALID
        return Lookup(self.tables[rule.table], claims, rule, token)

    def _token(self, h: Mapping[str, Sequence[str]]) -> str | Refusal | None:
        """The token per §Headers, or None, or a 400 for an ambiguous (repeated) header."""
        xano = h.get(self._xano, _EMPTY_HEADERS)
        # Two values (or a comma, how WSGI servers join repeated headers) are ambiguous: a
        # proxy and the app could each pick a different one.
        if len(xano) > 1 or (xano and "," in xano[0]):
            return errors.duplicate(self._xano)
        only_values = h.get(self._only, _EMPTY_HEADERS)
        # Repeated, the override is as ambiguous as a repeated credential: one hop could read
        # Authorization while another does not.
        if len(only_values) > 1 or (only_values and "," in only_values[0]):
            return errors.duplicate(self._only)
        only = bool(only_values) and only_values[0].strip().lower() in _TRUE
        if xano and xano[0].strip():
            return _parse(xano[0], bare=True)
        if only:
            return None  # Authorization belongs to the app: not read, not validated
        auth = h.get(self._auth, _EMPTY_HEADERS)
        # Count credentials, not commas: one "Digest a=1, b=2" line is another scheme's, not ours.
        if len(auth) > 1 or (auth and "," in auth[0]
                             and sum(map(_starts_credentials, auth[0].split(","))) > 1):
            return errors.duplicate(self._auth)
        return _parse(auth[0], bare=False) if auth else None

    def conclude(self, lookup: Lookup,
                 record: Mapping[str, Any] | BaseException | None) -> Allow | Refusal:
        """Finish a :class:`Lookup` once the record is known: the record, None (not found), or
        the exception the table raised."""
        claims = lookup.claims
        if isinstance(record, BaseException):
            return self.failed(f"table {lookup.table.name!r} lookup", record)
        if record is None:
            logger.info("token refused: %s %s no longer exists", lookup.table.name, claims.sub)
            return errors.INVALID
        created = record.get("created_at")
        if isinstance(created, int) and not isinstance(created, bool) and \
                claims.iat + self.codec.leeway < created / 1000:
            # Minted before this record existed: a backend that reuses a deleted record's id
            # must not hand the old record's tokens to the new one. With the leeway: the
            # record's clock (a database server's, say) may run ahead of the gate's.
            logger.info("token refused: %s %s is newer than the token", lookup.table.name,
                        claims.sub)
            return errors.INVALID
        if _revoked_by_password_change(claims, password_stamp(record)):
            logger.info("token refused: issued before the password change of %s", claims.sub)
            return errors.INVALID
        user = AuthUser(lookup.table.public(record), lookup.table.name, claims.extras)
        when = lookup.rule.rule.when
        if when is not None and not _holds(when, user):
            return errors.DENIED
        try:
            scopes = ("authenticated", *self.scopes(claims.extras))
        except Exception:
            # A failing scopes function denies: an error in user code must never grant access.
            logger.exception("scopes function raised; access denied")
            return errors.DENIED
        endpoint = None if lookup.rule.endpoint is None else (lookup.table.name,
                                                              lookup.rule.endpoint)
        return Allow(user, AuthInfo(scopes, lookup.table.name, claims, claims.extras,
                                    lookup.token), endpoint)

    @staticmethod
    def failed(what: str, exc: BaseException) -> Refusal:
        """The answer when I/O the gate depends on raised: a 503, the traceback to the log."""
        logger.error("%s failed", what, exc_info=exc)
        return errors.UNAVAILABLE


def _revoked_by_password_change(claims: Claims, changed: float) -> bool:
    """Changing the password revokes every access token minted before it."""
    stamp = claims.raw.get(PASSWORD_STAMP)
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        # Minted by the endpoints with the record's stamp: exact, whatever the second.
        return bool(stamp != changed)
    # Minted by gate.issue without a stamp: iat has whole seconds, so compare whole seconds.
    return bool(claims.iat < math.floor(changed))


def _anonymous(rule: CompiledRule) -> Allow:
    if rule.endpoint is None:
        return ALLOW_ANONYMOUS
    return Allow(ANONYMOUS, ANONYMOUS_AUTH, (rule.table, rule.endpoint))


# RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]. A comma-joined
# piece that starts credentials is a scheme (or a bare token) optionally followed by more; a
# piece that continues them is an auth-param ("realm=..."), which has "=" right after its name.
_CREDENTIALS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]+[^=\s].*)?", re.DOTALL)


def _starts_credentials(piece: str) -> bool:
    return _CREDENTIALS.fullmatch(piece.strip()) is not None


def _parse(value: str, *, bare: bool) -> str | None:
    """``Bearer <token>`` (scheme case-insensitive); a bare token only where ``bare``."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()  # "Bearer" with nothing after it is a present, invalid token
    if bare:
        return value
    return None  # another scheme (Basic ...) in Authorization is not ours


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
