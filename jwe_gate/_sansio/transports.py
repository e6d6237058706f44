"""Transports: where a request carries its access token, and how a response carries tokens
back. Xano's headers are the first (and default) transport; the cookie and query transports
implement the same protocol.

A transport is sans-IO: it reads a ``RequestView`` and returns a token, nothing, or a
refusal (an ambiguous request); it never touches a socket.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from . import refusals
from .http import Refusal, Response
from .request import RequestView

__all__ = ["HeaderNames", "Issued", "QueryToken", "Transport", "XanoHeaders", "with_query"]

_TRUE = frozenset({"true", "1", "yes"})
_NONE: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Issued:
    """What an auth endpoint hands its transport to write into its response: the tokens it
    issued (both None: the session ended, as on logout), and for whom."""

    view: RequestView
    """The request answered (a transport may read what it sent, and where)."""
    table: str
    endpoint: str
    """The endpoint's name (``login``, ``refresh``, ...)."""
    access: str | None
    refresh: str | None
    session: str | None
    """The session (refresh family) the tokens belong to, when known."""
    access_ttl: int
    refresh_ttl: int


class Transport(Protocol):
    """Reads an access token from a request; writes issued tokens into a response."""

    @property
    def headers(self) -> frozenset[str]:
        """The request headers (lower-case) this transport reads: adapters collect only
        these."""
        ...

    def read(self, view: RequestView) -> str | Refusal | None:
        """The token this request carries, None for none, or a refusal (400) when the request
        is ambiguous."""
        ...

    def write(self, response: Response, issued: Issued) -> Response:
        """``response`` carrying the issued tokens (both None: clear them, as on logout)."""
        ...


@dataclass(frozen=True, slots=True)
class HeaderNames:
    """Which request headers carry the token (case-insensitive; these are the defaults)."""

    authorization: str = "authorization"
    xano: str = "x-xano-authorization"
    only: str = "x-xano-authorization-only"
    """With a true value (``true``/``1``/``yes``), read only ``xano``; leave
    ``Authorization`` to the app, unread."""

    def wanted(self) -> frozenset[str]:
        """Every header the gate reads, lower-cased (CORS preflight headers included)."""
        return frozenset(
            {
                self.authorization.lower(),
                self.xano.lower(),
                self.only.lower(),
                "origin",
                "access-control-request-method",
                # The gate's preflight answer echoes these (Authorization among them): without
                # them no browser sends a token to a protected path. It grants no credentials.
                "access-control-request-headers",
            }
        )


class XanoHeaders:
    """SPEC §Headers: ``X-Xano-Authorization`` (with the ``-Only`` override), else
    ``Authorization: Bearer``. Tokens go back in the JSON body, so ``write`` adds
    nothing."""

    __slots__ = ("_auth", "_only", "_xano", "headers")

    def __init__(self, names: HeaderNames = HeaderNames()) -> None:
        self._auth = names.authorization.lower()
        self._xano = names.xano.lower()
        self._only = names.only.lower()
        self.headers = names.wanted()

    def read(self, view: RequestView) -> str | Refusal | None:
        h: Mapping[str, Sequence[str]] = view.headers
        xano = h.get(self._xano, _NONE)
        # Two values (or a comma, how WSGI servers join repeated headers) are ambiguous: a
        # proxy and the app could each pick a different one.
        if len(xano) > 1 or (xano and "," in xano[0]):
            return refusals.duplicate_header(self._xano)
        only_values = h.get(self._only, _NONE)
        # Repeated, the override is as ambiguous as a repeated credential: one hop could read
        # Authorization while another does not.
        if len(only_values) > 1 or (only_values and "," in only_values[0]):
            return refusals.duplicate_header(self._only)
        only = bool(only_values) and only_values[0].strip().lower() in _TRUE
        if xano and xano[0].strip():
            return _parse(xano[0], bare=True)
        if only:
            return None  # Authorization belongs to the app: not read, not validated
        auth = h.get(self._auth, _NONE)
        # Count credentials, not commas: one "Digest a=1, b=2" line is another scheme's, not ours.
        if len(auth) > 1 or (
            auth and "," in auth[0] and sum(map(_starts_credentials, auth[0].split(","))) > 1
        ):
            return refusals.duplicate_header(self._auth)
        return _parse(auth[0], bare=False) if auth else None

    def write(self, response: Response, issued: Issued) -> Response:
        return response  # Xano's front ends read the tokens from the JSON body


class QueryToken:
    """SPEC §Transports: the bare token in ``?authtoken=`` (Xano parity), read only where a
    rule says ``query_token=True``.

    The token stays in the query string the app, the server's access log, proxies and the
    ``Referer`` of the page's outgoing links all see: prefer headers, and keep such tokens
    short-lived. An empty value counts as absent; a repeated parameter is ambiguous (400).
    """

    __slots__ = ("headers", "param")

    def __init__(self, param: str = "authtoken") -> None:
        self.param = param
        self.headers: frozenset[str] = frozenset()

    def read(self, view: RequestView) -> str | Refusal | None:
        if self.param not in view.query and "%" not in view.query:
            return None  # the common case, without parsing the query string
        values = view.params.get(self.param, _NONE)
        if len(values) > 1:
            return refusals.duplicate_param(self.param)
        token = values[0].strip() if values else ""
        return token or None

    def write(self, response: Response, issued: Issued) -> Response:
        return response  # tokens are never issued into a URL


QUERY = QueryToken()


def with_query(header: str | Refusal | None, view: RequestView) -> str | Refusal | None:
    """The token of a request whose rule also accepts ``QUERY``: the header's, or the
    query's; both at once are two credentials, ambiguous (400) even when they are equal."""
    if isinstance(header, Refusal):
        return header
    query = QUERY.read(view)
    if query is None or isinstance(query, Refusal):
        return header if query is None else query
    return query if header is None else refusals.TWO_TOKENS


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
