"""``Gate``: the one object a user builds. It validates its settings once, builds the runtime
(codec, policy, endpoint services, stores), and is the one place a request is authenticated:
decide -> fetch -> conclude, once per colour. Adapters and integrations call it; nothing calls
back up into it."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._asgi import GateASGIMiddleware, not_found
from ._endpoints.liveness import Liveness
from ._endpoints.registry import LENIENT, AuthRoutes, endpoint_rules, served
from ._endpoints.service import AuthService
from ._endpoints.throttle import Throttle
from ._passwords import Hasher, PasswordPolicy
from ._resources import Resources
from ._sansio.cookies import Cookies, CookieTransport
from ._sansio.decision import Allow, Policy, ScopesFn, default_scopes
from ._sansio.http import ErrorRenderer, Refusal, Response, render_error
from ._sansio.recent import Recent
from ._sansio.request import HandlerRequest, RequestView
from ._sansio.rules import Mode, Rule, RuleSet
from ._sansio.transports import HeaderNames, Transport, XanoHeaders
from ._sansio.user import Claims
from ._screen import Screen
from ._settings import EndpointSettings, ExtrasFn, SessionSettings, TokenSettings, groups
from ._storage.bundle import Stores
from ._storage.memory import MemoryOneTimeStore, MemoryRefreshStore, MemoryThrottleStore
from ._storage.table import Table
from ._tokens import KeyRing, TokenCodec
from ._twins import twin
from ._workers import warn_if_memory_stores
from ._wsgi import GateWSGIMiddleware
from ._wsgi import not_found as wsgi_not_found
from .exceptions import ConfigurationError
from .openapi import for_gate
from .types import ASGIApp

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["AuthRoutes", "Gate"]  # AuthRoutes lives with the endpoint registry


class Gate(Resources):
    """Xano-style authentication in front of an ASGI or WSGI app.

    Args:
        keys: the key ring; its first key encrypts, every key decrypts.
        tables: the auth tables; the first is the default for rules without ``table``.
        rules: protected-path rules, first match wins.
        default: the mode for paths no rule matches, against the first table. ``required``
            unless you say otherwise: a path is opted out, never forgotten.
        auth_routes: ``{"/auth": "user", "/admin/auth": AuthRoutes("admin", ...)}``: the gate
            serves the auth endpoints (signup, login, refresh public; me, password required;
            logout with a token or a refresh token) under each prefix.
        tokens: ``TokenSettings`` (algorithms, issuer, audience, leeway, sizes, cache).
        sessions: ``SessionSettings`` (stores, refresh grace, throttle).
        endpoints: ``EndpointSettings`` (hasher, password policy, extras, body limit).
        headers: header names (Xano's by default).
        cookies: :class:`Cookies` turns the cookie transport on (with CSRF); None: off.
        scopes: derives ``auth.scopes`` (beside ``"authenticated"``) from a token's extras.
        on_error: renders refusals; Xano's JSON body by default.
        clock: the time source, seconds since the epoch.

    Each setting of the three groups is also accepted as a flat keyword (``leeway=5``,
    ``refresh_store=...``, ``token_cache_size=0`` for ``TokenSettings.cache_size``), as before
    the groups existed; giving a group and one of its keywords at once is refused.
    """

    def __init__(
        self,
        *,
        keys: KeyRing,
        tables: Sequence[Table],
        rules: Iterable[Rule] = (),
        default: Mode = "required",
        auth_routes: Mapping[str, str | AuthRoutes] | None = None,
        tokens: TokenSettings | None = None,
        sessions: SessionSettings | None = None,
        endpoints: EndpointSettings | None = None,
        headers: HeaderNames = HeaderNames(),  # noqa: B008 - frozen, shared safely
        cookies: Cookies | None = None,
        scopes: ScopesFn = default_scopes,
        on_error: ErrorRenderer = render_error,
        clock: Callable[[], float] = time.time,
        # The flat keywords of the settings groups (see above).
        algorithms: Iterable[str] | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float | None = None,
        max_token_bytes: int | None = None,
        compress: bool | None = None,
        token_cache_size: int | None = None,
        refresh_store: object | None = None,
        throttle_store: object | None = None,
        once_store: object | None = None,
        stores: Stores | None = None,
        refresh_grace: float | None = None,
        throttle: Throttle | None = None,
        check_sessions: bool | None = None,
        recheck_after: float | None = None,
        hasher: Hasher | None = None,
        password_policy: PasswordPolicy | None = None,
        extras: Mapping[str, ExtrasFn] | None = None,
        max_body_bytes: int | None = None,
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
        if stores is not None:
            if not isinstance(stores, Stores):
                raise ConfigurationError("stores must be a Stores (Stores.sqlite(path), ...)")
            if refresh_store is not None or throttle_store is not None or once_store is not None:
                raise ConfigurationError("give stores= or the single stores, not both")
            refresh_store, throttle_store, once_store = stores.refresh, stores.throttle, stores.once
        tok, ses, ends = groups(
            tokens,
            sessions,
            endpoints,
            dict(
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                leeway=leeway,
                max_token_bytes=max_token_bytes,
                compress=compress,
                token_cache_size=token_cache_size,
                refresh_store=refresh_store,
                throttle_store=throttle_store,
                once_store=once_store,
                refresh_grace=refresh_grace,
                check_sessions=check_sessions,
                recheck_after=recheck_after,
                throttle=throttle,
                hasher=hasher,
                password_policy=password_policy,
                extras=extras,
                max_body_bytes=max_body_bytes,
            ),
        )
        unknown = set(ends.extras) - set(by_name)
        if unknown:
            raise ConfigurationError(f"extras names unknown tables {sorted(unknown)}")
        self.tables: Mapping[str, Table] = by_name
        self.codec = TokenCodec(keys, **tok.codec_options())
        self.settings = (tok, ses, ends)
        self.render = on_error
        self.clock = clock
        self.max_body_bytes = ends.max_body_bytes
        if cookies is not None and not isinstance(cookies, Cookies):
            raise ConfigurationError("cookies must be a Cookies (or None)")
        self.transport: Transport = XanoHeaders(headers)
        self.cookies = (
            None
            if cookies is None
            else CookieTransport(
                cookies,
                keys.derive_secret(b"jwe_gate csrf v1"),
                self.transport,
                by_name,
                csrf_ttl=max(t.refresh_ttl for t in tables),
            )
        )
        self.transport = self.cookies or self.transport
        self._scopes = scopes
        self._first = tables[0].name
        self.auth_routes = routes = {
            prefix: self._served(r) for prefix, r in (auth_routes or {}).items()
        }
        served: list[tuple[Rule, str]] = []
        for prefix, r in routes.items():
            if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
                raise ConfigurationError(f"auth route prefix {prefix!r}: use '/auth' form")
            served += endpoint_rules(prefix, r)
        self.policy = self._policy(
            RuleSet(rules, Rule("/**", default), by_name, self._first, served)
        )
        # Built here, once: a pool created lazily by two racing first requests would double the
        # bound on concurrent hashes. Its threads start only when a hash is first asked for.
        self.hasher = Hasher() if ends.hasher is None else ends.hasher
        # `is None`, not `or`: a store may define __len__, and an empty one is falsy.
        self.refresh_store = (
            MemoryRefreshStore() if ses.refresh_store is None else ses.refresh_store
        )
        self.throttle_store = (
            MemoryThrottleStore() if ses.throttle_store is None else ses.throttle_store
        )
        self.once_store = MemoryOneTimeStore() if ses.once_store is None else ses.once_store
        warn_if_memory_stores((self.refresh_store, self.throttle_store, self.once_store))
        # Revocation reaches access tokens: each one minted for a session is checked against it.
        # A token let through is trusted for at most `recheck_after` seconds without the stores;
        # any revocation made here empties that memory at once.
        self._recent = Recent(ses.recheck_after)
        self._liveness = (
            Liveness(self.refresh_store, ttl=ses.recheck_after, on_forget=self._recent.forget)
            if ses.check_sessions
            else None
        )
        self._screen = Screen(self.policy, by_name, self._liveness, self._recent, clock)
        self._revoke_subject = twin(self.refresh_store, "revoke_subject")
        self._services = {
            name: AuthService(
                table,
                codec=self.codec,
                hasher=self.hasher,
                policy=ends.password_policy,
                refresh_store=self.refresh_store,
                throttle_store=self.throttle_store,
                once_store=self.once_store,
                throttle=ses.throttle,
                refresh_grace=float(ses.refresh_grace),
                liveness=self._liveness,
                render=on_error,
                clock=clock,
                extras=ends.extras.get(name),
                transport=self.transport,
            )
            for name, table in by_name.items()
        }

    def _served(self, routes: str | AuthRoutes) -> AuthRoutes:
        routes = AuthRoutes(routes) if isinstance(routes, str) else routes
        table = self.tables.get(routes.table)  # an unknown one: the RuleSet names it
        links = table.recovery.links if table is not None and table.recovery else {}
        return served(routes, links)

    def _policy(self, rules: RuleSet) -> Policy:
        return Policy(
            codec=self.codec,
            rules=rules,
            tables=self.tables,
            transport=self.transport,
            scopes=self._scopes,
            lenient=LENIENT,
            cookies=self.cookies,
        )

    # -- authenticating a request: see _screen.Screen ------------------------------------------

    def recall(self, key: Hashable) -> Allow | None:
        """The answer remembered for the request ``key`` stands for, or None. No I/O:
        adapters ask this before building a ``RequestView`` (``Screen.recall``)."""
        return self._screen.recall(key)

    def authenticate(
        self, view: RequestView, *, key: Hashable | None = None
    ) -> Allow | Refusal | Response:
        """Authenticate ``view`` with blocking I/O (WSGI, sync integrations).

        ``key`` stands for everything the decision reads of the request (``view.key()`` when
        None); an allowed answer is remembered under it for ``recheck_after`` seconds. Leave it
        to the adapters: a key that does not determine the view (two requests the gate tells
        apart sharing one) would let one request's answer serve the other.
        """
        return self._screen.authenticate(view, key=key)

    async def aauthenticate(
        self, view: RequestView, *, key: Hashable | None = None
    ) -> Allow | Refusal | Response:
        """Authenticate ``view`` without blocking the event loop (ASGI, async integrations)."""
        return await self._screen.aauthenticate(view, key=key)

    def revoke(self, table: str, id: Any) -> None:
        """End every session of record ``id`` of ``table``: its refresh tokens stop working at
        once, and every access token minted for those sessions within a second on every process
        sharing the refresh store (at once on this one)."""
        self._revoke_subject.fn(self.table(table).name, str(id))
        self._recent.forget()
        if self._liveness is not None:
            self._liveness.forget()

    async def arevoke(self, table: str, id: Any) -> None:
        """``revoke`` without blocking the event loop."""
        await self._revoke_subject.afn(self.table(table).name, str(id))
        self._recent.forget()
        if self._liveness is not None:
            self._liveness.forget()

    def serve(self, endpoint: tuple[str, str], request: HandlerRequest) -> Response:
        """Answer one of the gate's auth endpoints, ``(table, name)``, with blocking I/O."""
        return self._services[endpoint[0]].respond(endpoint[1], request)

    async def aserve(self, endpoint: tuple[str, str], request: HandlerRequest) -> Response:
        """Answer one of the gate's auth endpoints without blocking the event loop."""
        return await self._services[endpoint[0]].arespond(endpoint[1], request)

    # -- tokens ------------------------------------------------------------------------------

    @property
    def keys(self) -> KeyRing:
        return self.codec.keys

    def table(self, name: str) -> Table:
        """The table called ``name``."""
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigurationError(f"unknown table {name!r}") from None

    def auth_service(self, table: str) -> AuthService:
        """The framework-agnostic auth endpoints of ``table`` (``handle``/``ahandle``)."""
        self.table(table)  # a clear ConfigurationError for an unknown name
        return self._services[table]

    def issue(
        self,
        table: str,
        id: Any,
        *,
        extras: Mapping[str, Any] | None = None,
        ttl: float | None = None,
        now: float | None = None,
        session: str | None = None,
        password_stamp: float | None = None,
    ) -> str:
        """Mint an access token for record ``id`` of ``table`` (Xano's Create Authentication
        Token); ``ttl`` defaults to the table's ``access_ttl``. Without ``session`` (the ``sid``
        claim) the token belongs to no session: only its record revokes it (deleted, password
        changed); ``password_stamp`` is the ``pwc`` claim (see ``TokenCodec.mint``)."""
        t = self.table(table)
        return self.codec.mint(
            t.name,
            id,
            ttl=t.access_ttl if ttl is None else ttl,
            now=self.clock() if now is None else now,
            extras=extras,
            session=session,
            password_stamp=password_stamp,
        )

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        """Verify an access token's crypto, claims and times (not the record).

        Raises:
            TokenError: the token does not count (``ExpiredTokenError``, a subclass: expired).
        """
        return self.codec.decode(token, now=self.clock() if now is None else now)

    # -- wrapping apps ---------------------------------------------------------------------

    def asgi(self, app: ASGIApp) -> GateASGIMiddleware:
        """Wrap an ASGI 3 app (Starlette, FastAPI, ...)."""
        return GateASGIMiddleware(app, self)

    def wsgi(self, app: WSGIApplication) -> GateWSGIMiddleware:
        """Wrap a WSGI app (Flask, Django, ...)."""
        return GateWSGIMiddleware(app, self)

    def _standalone(self, routes: str | AuthRoutes) -> Gate:
        """This gate with a rule set of only ``routes``' endpoints, at the root; every other
        path public (it is the 404 app's). It shares everything else, resources included."""
        routes = self._served(routes)
        self.table(routes.table)
        scoped = object.__new__(Gate)
        scoped.__dict__.update(self.__dict__)
        scoped.policy = self._policy(
            RuleSet((), Rule("/**", "public"), self.tables, self._first, endpoint_rules("", routes))
        )
        # Its own screen on its own rules; it remembers nothing (only the endpoints, which
        # are never remembered, need a token there).
        scoped._screen = Screen(scoped.policy, self.tables, self._liveness, Recent(0), self.clock)
        return scoped

    def auth_asgi(self, routes: str | AuthRoutes) -> GateASGIMiddleware:
        """A table's auth endpoints as an ASGI app to mount (``Mount("/auth", app=...)``)."""
        return GateASGIMiddleware(not_found, self._standalone(routes))

    def auth_wsgi(self, routes: str | AuthRoutes) -> GateWSGIMiddleware:
        """The auth endpoints of a table as a WSGI app to mount yourself."""
        return GateWSGIMiddleware(wsgi_not_found, self._standalone(routes))

    def openapi(self, *, title: str = "jwe_gate auth", version: str = "1.0.0") -> dict[str, Any]:
        """The auth endpoints as an OpenAPI 3.1 document (see ``jwe_gate.openapi``)."""
        return for_gate(self, title=title, version=version)
