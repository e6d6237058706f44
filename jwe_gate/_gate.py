"""``Gate``: the one object a user builds. It validates everything once and hands the adapters a
ready :class:`~jwe_gate._core.Policy`."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _asgi, _wsgi
from ._asgi import GateASGIMiddleware
from ._core import HeaderNames, Policy, ScopesFn, default_scopes
from ._handlers import ENDPOINTS, AuthService, Throttle
from ._http import ErrorRenderer, render_error
from ._passwords import Hasher, PasswordPolicy
from ._rules import Mode, Rule, RuleSet
from ._stores import RefreshStore, ThrottleStore
from ._stores.memory import MemoryRefreshStore, MemoryThrottleStore
from ._tables import PASSWORD_STAMP, Table
from ._tokens import DEFAULT_ALGORITHMS, Claims, KeyRing, TokenCodec
from ._types import ASGIApp
from ._wsgi import GateWSGIMiddleware
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["AuthRoutes", "Gate"]


@dataclass(frozen=True, slots=True)
class AuthRoutes:
    """Which auth endpoints the gate serves for ``table`` under a prefix (all by default)."""

    table: str
    endpoints: frozenset[str] = frozenset(ENDPOINTS)

    def __post_init__(self) -> None:
        unknown = set(self.endpoints) - set(ENDPOINTS)
        if unknown or not self.endpoints:
            raise ConfigurationError(f"unknown auth endpoints {sorted(unknown)}; "
                                     f"choose from {sorted(ENDPOINTS)}")


class Gate:
    """Xano-style authentication in front of an ASGI or WSGI app.

    Args:
        keys: the key ring; its first key encrypts, every key decrypts.
        tables: the auth tables; the first is the default for rules without ``table``.
        rules: protected-path rules, first match wins.
        default: the mode for paths no rule matches, against the first table. ``required``
            unless you say otherwise: a path is opted out, never forgotten.
        algorithms: the accepted JWE ``alg``/``enc`` names; the first of each kind is issued.
            Default: only ``A256KW`` + ``A256CBC-HS512``.
        issuer, audience: when set, minted into ``iss``/``aud`` and required on decode.
        leeway: seconds of clock skew tolerated on ``exp``/``nbf``/``iat``.
        max_token_bytes: longer tokens are refused unread.
        compress: mint ``zip: DEF`` tokens (as Xano does) and accept them; off by default.
        headers: header names (Xano's by default).
        scopes: derives ``auth.scopes`` (beside ``"authenticated"``) from a token's extras.
        on_error: renders refusals; Xano's JSON body by default.
        token_cache_size: how many verified tokens to remember (skips repeated decryption;
            expiry and the record are still checked every time). 0 turns it off.
        clock: the time source, seconds since the epoch.
        auth_routes: ``{"/auth": "user", "/admin/auth": AuthRoutes("admin", ...)}``: the gate
            serves the auth endpoints (signup, login, refresh public; me, password required;
            logout with a token or a refresh token) under each prefix.
        hasher: the argon2id :class:`Hasher` (production profile, bounded pool by default).
        password_policy: what a new password must satisfy.
        refresh_store, throttle_store: shared state; in process memory by default -- use the
            SQLite/SQLAlchemy/Redis stores when several workers serve one app.
        refresh_grace: seconds during which a just-spent refresh token may be presented again
            (two tabs refreshing at once) and gets the same child; 0 turns it off.
        throttle: login throttling limits.
        extras: ``{table: fn(record) -> extras}``: extras minted into tokens by the handlers.
        max_body_bytes: larger auth-endpoint bodies are a 413.
    """

    def __init__(
        self,
        *,
        keys: KeyRing,
        tables: Sequence[Table],
        rules: Iterable[Rule] = (),
        default: Mode = "required",
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        max_token_bytes: int = 8192,
        compress: bool = False,
        headers: HeaderNames = HeaderNames(),  # noqa: B008 - frozen, shared safely
        scopes: ScopesFn = default_scopes,
        on_error: ErrorRenderer = render_error,
        token_cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
        auth_routes: Mapping[str, str | AuthRoutes] | None = None,
        hasher: Hasher | None = None,
        password_policy: PasswordPolicy = PasswordPolicy(),  # noqa: B008 - frozen
        refresh_store: RefreshStore | None = None,
        throttle_store: ThrottleStore | None = None,
        refresh_grace: float = 10.0,
        throttle: Throttle = Throttle(),  # noqa: B008 - frozen
        extras: Mapping[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]] | None = None,
        max_body_bytes: int = 64 * 1024,
    ) -> None:
        if not isinstance(keys, KeyRing):
            raise ConfigurationError("keys must be a KeyRing")
        if not tables:
            raise ConfigurationError("a Gate needs at least one table")
        by_name: dict[str, Table] = {}
        for table in tables:
            if not isinstance(table, Table):
                raise ConfigurationError(f"tables must be Table objects, not {table!r}")
            if table.name in by_name:
                raise ConfigurationError(f"duplicate table name {table.name!r}")
            by_name[table.name] = table
        self.tables: Mapping[str, Table] = by_name
        self.codec = TokenCodec(keys, algorithms=algorithms, issuer=issuer, audience=audience,
                                leeway=leeway, max_token_bytes=max_token_bytes,
                                compress=compress, cache_size=token_cache_size)
        self.headers = headers
        self.scopes = scopes
        self.on_error = on_error
        self.clock = clock
        self.routes = {prefix: AuthRoutes(r) if isinstance(r, str) else r
                       for prefix, r in (auth_routes or {}).items()}
        endpoint_rules: list[tuple[Rule, str]] = []
        for prefix, routes in self.routes.items():
            if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
                raise ConfigurationError(f"auth route prefix {prefix!r}: use '/auth' form")
            endpoint_rules += _endpoint_rules(prefix, routes)
        self._first = tables[0].name
        self.policy = self._policy(RuleSet(rules, Rule("/**", default), by_name, self._first,
                                           endpoint_rules))
        if refresh_grace < 0 or max_body_bytes < 1:
            raise ConfigurationError("refresh_grace must be >= 0 and max_body_bytes >= 1")
        unknown = set(extras or {}) - set(by_name)
        if unknown:
            raise ConfigurationError(f"extras names unknown tables {sorted(unknown)}")
        self.max_body_bytes = max_body_bytes
        # Built here, once: a pool created lazily by two racing first requests would double the
        # bound on concurrent hashes. Its threads start only when a hash is first asked for.
        self.hasher = hasher or Hasher()
        self.refresh_store = refresh_store or MemoryRefreshStore()
        self.throttle_store = throttle_store or MemoryThrottleStore()
        self._services = {
            name: AuthService(self, table, hasher=self.hasher, policy=password_policy,
                              refresh_store=self.refresh_store,
                              throttle_store=self.throttle_store,
                              throttle=throttle, refresh_grace=float(refresh_grace),
                              render=on_error, extras=(extras or {}).get(name))
            for name, table in by_name.items()}

    def _policy(self, rules: RuleSet) -> Policy:
        return Policy(codec=self.codec, rules=rules, tables=self.tables, headers=self.headers,
                      scopes=self.scopes)

    def auth_service(self, table: str) -> AuthService:
        """The framework-agnostic auth endpoints of ``table`` (``handle``/``ahandle``)."""
        self.table(table)  # a clear ConfigurationError for an unknown name
        return self._services[table]

    @property
    def keys(self) -> KeyRing:
        return self.codec.keys

    def table(self, name: str) -> Table:
        """The table called ``name``."""
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigurationError(f"unknown table {name!r}") from None

    def issue(self, table: str, id: Any, *, extras: Mapping[str, Any] | None = None,
              ttl: float | None = None, now: float | None = None,
              session: str | None = None, password_stamp: float | None = None) -> str:
        """Mint an access token for record ``id`` of ``table`` (Xano's Create Authentication
        Token). ``ttl`` defaults to the table's ``access_ttl``.

        The endpoints also pass ``session`` (the refresh family: the ``sid`` claim, so logout
        can end that session) and ``password_stamp`` (the record's ``password_changed_at``, 0 if
        never changed: the ``pwc`` claim, which must still match the record for the token to
        count -- exact revocation on a password change)."""
        t = self.table(table)
        lifetime = t.access_ttl if ttl is None else ttl
        if lifetime <= 0:
            raise ConfigurationError("ttl must be positive")
        if extras is not None and not isinstance(extras, Mapping):
            raise ConfigurationError("extras must be a mapping")
        if not str(id):
            raise ConfigurationError("the record id must not be empty")
        issued = self.clock() if now is None else now
        claims: dict[str, Any] = {
            # Whole seconds: JOSE libraries round "now" down, and a fractional iat would look
            # issued in the future to them for the rest of its second.
            "sub": str(id), "tbl": t.name, "iat": int(issued), "nbf": int(issued),
            "exp": int(issued) + math.ceil(lifetime), "jti": secrets.token_urlsafe(16),
            "extras": dict(extras or {}),
        }
        if password_stamp is not None:
            claims[PASSWORD_STAMP] = password_stamp
        if session is not None:
            claims["sid"] = session
        if self.codec.issuer is not None:
            claims["iss"] = self.codec.issuer
        if self.codec.audience is not None:
            claims["aud"] = self.codec.audience
        return self.codec.encode(claims)

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        """Verify an access token's crypto, claims and times (not the record).

        Raises:
            ExpiredTokenError, TokenError
        """
        return self.codec.decode(token, now=self.clock() if now is None else now)

    def asgi(self, app: ASGIApp) -> GateASGIMiddleware:
        """Wrap an ASGI 3 app (Starlette, FastAPI, ...)."""
        return GateASGIMiddleware(app, self)

    def wsgi(self, app: WSGIApplication) -> GateWSGIMiddleware:
        """Wrap a WSGI app (Flask, Django, ...)."""
        return GateWSGIMiddleware(app, self)

    def _standalone(self, routes: str | AuthRoutes) -> Policy:
        routes = AuthRoutes(routes) if isinstance(routes, str) else routes
        self.table(routes.table)
        # Only the endpoints live here; any other path is the 404 app's, so public.
        return self._policy(RuleSet((), Rule("/**", "public"), self.tables, self._first,
                                    _endpoint_rules("", routes)))

    def auth_asgi(self, routes: str | AuthRoutes) -> GateASGIMiddleware:
        """The auth endpoints of a table as an ASGI app to mount yourself
        (``Mount("/auth", app=gate.auth_asgi("user"))``)."""
        return GateASGIMiddleware(_asgi.not_found, self, policy=self._standalone(routes))

    def auth_wsgi(self, routes: str | AuthRoutes) -> GateWSGIMiddleware:
        """The auth endpoints of a table as a WSGI app to mount yourself."""
        return GateWSGIMiddleware(_wsgi.not_found, self, policy=self._standalone(routes))


def _endpoint_rules(prefix: str, routes: AuthRoutes) -> list[tuple[Rule, str]]:
    return [(Rule(f"{prefix}/{name}", ENDPOINTS[name][1], table=routes.table), name)
            for name in sorted(routes.endpoints)]
