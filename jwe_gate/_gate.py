"""``Gate``: the one object a user builds. It validates everything once and hands the adapters a
ready :class:`~jwe_gate._core.Policy`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._asgi import GateASGIMiddleware
from ._core import HeaderNames, Policy, ScopesFn, default_scopes
from ._http import ErrorRenderer, render_error
from ._rules import Mode, Rule, RuleSet
from ._tables import Table
from ._tokens import DEFAULT_ALGORITHMS, Claims, KeyRing, TokenCodec
from ._types import ASGIApp
from ._wsgi import GateWSGIMiddleware
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["Gate"]


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
        first = tables[0].name
        ruleset = RuleSet(rules, Rule("/**", default), by_name, first)
        self.policy = Policy(codec=self.codec, rules=ruleset, tables=by_name, headers=headers,
                             scopes=scopes)
        self.on_error = on_error
        self.clock = clock

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
              ttl: float | None = None, now: float | None = None) -> str:
        """Mint an access token for record ``id`` of ``table`` (Xano's Create Authentication
        Token). ``ttl`` defaults to the table's ``access_ttl``."""
        t = self.table(table)
        lifetime = t.access_ttl if ttl is None else ttl
        if lifetime <= 0:
            raise ConfigurationError("ttl must be positive")
        if extras is not None and not isinstance(extras, Mapping):
            raise ConfigurationError("extras must be a mapping")
        issued = int(self.clock() if now is None else now)
        claims: dict[str, Any] = {
            "sub": str(id), "tbl": t.name, "iat": issued, "nbf": issued,
            "exp": issued + int(lifetime), "jti": secrets.token_urlsafe(16),
            "extras": dict(extras or {}),
        }
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
        return GateASGIMiddleware(app, self.policy, on_error=self.on_error, clock=self.clock)

    def wsgi(self, app: WSGIApplication) -> GateWSGIMiddleware:
        """Wrap a WSGI app (Flask, Django, ...)."""
        return GateWSGIMiddleware(app, self.policy, on_error=self.on_error, clock=self.clock)
