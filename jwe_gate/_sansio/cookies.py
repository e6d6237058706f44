"""SPEC §Transports, cookies: the access and refresh tokens in HttpOnly cookies for browser
apps, a signed double-submit CSRF token for every unsafe method a cookie authenticates, and an
``Origin`` check for WebSockets a cookie authenticates.

Pure: it parses ``Cookie`` headers and writes ``Set-Cookie`` ones; the key that signs the CSRF
tokens is given to it (derived from the key ring by the gate).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..exceptions import ConfigurationError
from . import refusals
from .http import Refusal, Response
from .request import RequestView
from .transports import Issued, Transport

__all__ = ["SAFE_METHODS", "CookieTransport", "Cookies"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""RFC 9110 §9.2.1: every other method is unsafe and needs the CSRF token with a cookie."""

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: a cookie or header name
_PATH = re.compile(r"/[A-Za-z0-9/_.~!$&'()*+=:@%-]*")  # no ';', ',' or spaces: one attribute
_DOMAIN = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_TAG = 4
"""Characters of a CSRF entry naming its table (a keyed hash of the name)."""
_ENTRY = _TAG + 22
"""A CSRF entry: the table's tag, then 128 bits of HMAC over (table, session)."""
_ENTRY_CHARS = re.compile(rf"[A-Za-z0-9_-]{{{_ENTRY}}}")
_MAX_ENTRIES = 8
_MAX_CSRF = _MAX_ENTRIES * (_ENTRY + 1)


@dataclass(frozen=True, slots=True)
class Cookies:
    """The cookie transport's settings, checked once (``Gate(cookies=Cookies())``).

    Args:
        secure: mark every cookie ``Secure`` (sent over HTTPS only). ``False`` lets a
            plain-HTTP ``localhost`` work during development; never in production.
        samesite: ``lax`` (default), ``strict`` or ``none`` (``none`` requires ``secure``).
        domain: the cookies' ``Domain``; None (default) keeps them on the exact host, which a
            sibling subdomain cannot overwrite.
        path: the ``Path`` of the access and CSRF cookies.
        access_cookie: the access token cookie's name; ``{table}`` is replaced by the table's
            name, so a user and an admin signed in in one browser keep apart.
        refresh_cookie: the refresh token cookie's name; ``{table}`` as for ``access_cookie``.
        csrf_cookie: the double-submit cookie, readable by scripts (not HttpOnly).
        csrf_header: the header a page echoes the CSRF token in.
        refresh_path: the refresh cookie's ``Path``; None: the auth prefix that issued it.
        trusted_origins: origins (``https://app.example.com``) besides the request's own host
            allowed to open a WebSocket that a cookie authenticates.
    """

    secure: bool = True
    samesite: str = "lax"
    domain: str | None = None
    path: str = "/"
    access_cookie: str = "jwe_access_{table}"
    refresh_cookie: str = "jwe_refresh_{table}"
    csrf_cookie: str = "jwe_csrf"
    csrf_header: str = "X-CSRF-Token"
    refresh_path: str | None = None
    trusted_origins: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.secure is not True and self.secure is not False:
            raise ConfigurationError(f"Cookies.secure must be True or False: {self.secure!r}")
        samesite = str(self.samesite).lower()
        if samesite not in _SAMESITE:
            raise ConfigurationError(f"Cookies.samesite must be lax, strict or none: {samesite!r}")
        if samesite == "none" and not self.secure:
            # Browsers drop a SameSite=None cookie that is not Secure.
            raise ConfigurationError("Cookies(samesite='none') requires secure=True")
        object.__setattr__(self, "samesite", samesite)
        if self.domain is not None and not _DOMAIN.fullmatch(self.domain):
            raise ConfigurationError(f"invalid cookie domain {self.domain!r}")
        for name, value in (("path", self.path), ("refresh_path", self.refresh_path)):
            if value is not None and not _PATH.fullmatch(value):
                raise ConfigurationError(f"Cookies.{name} must be a URL path: {value!r}")
        names = (self.access_cookie, self.refresh_cookie, self.csrf_cookie, self.csrf_header)
        for name in names:
            if not isinstance(name, str) or not _TOKEN.fullmatch(name.replace("{table}", "t")):
                raise ConfigurationError(f"invalid cookie or header name {name!r}")
        if len({n.lower() for n in names[:3]}) < 3:
            raise ConfigurationError("the access, refresh and CSRF cookies need distinct names")
        if "{table}" in self.csrf_cookie:
            raise ConfigurationError("csrf_cookie is shared by the tables: no {table} in it")
        for name in names[:3]:
            self._check_prefix(name, name is self.refresh_cookie)
        origins = []
        for origin in self.trusted_origins if not isinstance(self.trusted_origins, str) else ():
            if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin.lower().rstrip("/")):
                raise ConfigurationError(f"trusted origin must be scheme://host[:port]: {origin!r}")
            origins.append(origin.lower().rstrip("/"))
        if isinstance(self.trusted_origins, str):
            raise ConfigurationError("trusted_origins must be a list of origins")
        object.__setattr__(self, "trusted_origins", tuple(origins))

    def _check_prefix(self, name: str, refresh: bool) -> None:
        # Browsers enforce the prefixes (RFC 6265bis §4.1.3): a cookie that breaks them is
        # dropped silently, so a wrong setting would look like a login that never sticks.
        lower = name.lower()
        if lower.startswith(("__secure-", "__host-")) and not self.secure:
            raise ConfigurationError(f"cookie {name!r}: its prefix requires secure=True")
        if lower.startswith("__host-") and (self.domain is not None or refresh or self.path != "/"):
            raise ConfigurationError(
                f"cookie {name!r}: __Host- requires path='/', no domain (and is not for the "
                "refresh cookie, whose path is the auth prefix)"
            )

    def names(self, table: str) -> tuple[str, str]:
        """The access and refresh cookie names of ``table``."""
        return (
            self.access_cookie.replace("{table}", table),
            self.refresh_cookie.replace("{table}", table),
        )


def parse_cookies(values: Iterable[str]) -> dict[str, list[str]]:
    """Every cookie of ``Cookie`` header values, each name with all its values in order.

    Pairs are split on ``;`` only, as Werkzeug, Starlette and Django split them: a browser
    sends one ``Cookie`` header, and keeps commas in values. Pieces without ``=`` are skipped;
    nothing is unquoted."""
    found: dict[str, list[str]] = {}
    for header in values:
        # Not on ",": browsers store "x=a,__Host-t=v" (set by a sibling subdomain) as one cookie
        # x, and a split there would read a credential cookie no browser holds.
        for piece in header.split(";"):
            name, eq, value = piece.strip().partition("=")
            if eq and name:
                found.setdefault(name.strip(), []).append(value.strip())
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class CookieTransport:
    """The header transport, plus cookies. :meth:`read` is the header's token (a header wins);
    the policy asks :meth:`access_token` for the rule's table only when there is none.

    Args:
        config: the settings.
        key: the secret the CSRF tokens are signed with (derived from the key ring).
        base: the header transport whose tokens win over the cookie.
        tables: every table name, to check the cookie names are one table's each.
        csrf_ttl: the longest refresh-token lifetime of the tables, seconds (the CSRF cookie
            holding several tables' entries lives as long); 0: each table's own.
    """

    __slots__ = (
        "_base",
        "_csrf_ttl",
        "_key",
        "_names",
        "_tags",
        "config",
        "csrf_header",
        "headers",
    )

    def __init__(
        self,
        config: Cookies,
        key: bytes,
        base: Transport,
        tables: Iterable[str],
        *,
        csrf_ttl: float = 0,
    ) -> None:
        self.config = config
        self._csrf_ttl = int(csrf_ttl)
        self._key = key
        self._base = base
        self.csrf_header = config.csrf_header.lower()
        self._names = {t: config.names(t) for t in tables}
        self._tags = {self._entry(t, "")[:_TAG] for t in self._names}
        every = [n.lower() for pair in self._names.values() for n in pair]
        every.append(config.csrf_cookie.lower())
        if len(set(every)) < len(every):
            # One name for two tables: logging in to one would overwrite the other's cookie.
            raise ConfigurationError("with several tables, put {table} in the cookie names")
        self.headers = base.headers | {"cookie", self.csrf_header, "host", "origin", "content-type"}

    # -- reading ---------------------------------------------------------------------------

    def read(self, view: RequestView) -> str | Refusal | None:
        return self._base.read(view)

    def _cookie(self, view: RequestView, name: str) -> str | Refusal | None:
        values = parse_cookies(view.headers.get("cookie", ())).get(name, [])
        if len(set(values)) > 1:
            # Two different values: a stale cookie of another Path or Domain, or one a sibling
            # subdomain planted ("cookie tossing"). Which one the browser sent first says
            # nothing about which is genuine, so neither is guessed: 400, like a repeated header.
            return refusals.duplicate_cookie(name)
        return (values[0] or None) if values else None

    def access_token(self, view: RequestView, table: str) -> str | Refusal | None:
        """The access token in ``table``'s cookie, None, or 400 when it is ambiguous."""
        return self._cookie(view, self._names[table][0])

    def refresh_token(self, view: RequestView, table: str) -> str | Refusal | None:
        """The refresh token in ``table``'s cookie, None, or 400 when it is ambiguous."""
        return self._cookie(view, self._names[table][1])

    def check(self, view: RequestView, table: str, session: str | None) -> Refusal | None:
        """What a request authenticated by ``table``'s access cookie must also show: the CSRF
        token on an unsafe method, a same-origin (or trusted) ``Origin`` on a WebSocket."""
        if view.websocket:
            # A handshake is a GET no script can add a header to, and browsers send cookies
            # with cross-site WebSocket handshakes: the Origin is what stops hijacking.
            return None if self.origin_ok(view) else refusals.CROSS_ORIGIN
        if view.method in SAFE_METHODS:
            return None
        return None if self.csrf_ok(view, table, session) else refusals.CSRF

    def origin_ok(self, view: RequestView) -> bool:
        """Whether the request's single ``Origin`` is its own host or a trusted origin."""
        origins, hosts = view.headers.get("origin", ()), view.headers.get("host", ())
        if len(origins) != 1:
            return False  # none (not a browser's, or stripped) or several: not provably ours
        origin = origins[0].strip().lower().rstrip("/")
        if origin in self.config.trusted_origins:
            return True
        scheme, sep, netloc = origin.partition("://")
        # The scheme is not compared: behind a TLS proxy the server sees http for https.
        return (
            bool(sep)
            and scheme in ("http", "https")
            and len(hosts) == 1
            and netloc == hosts[0].strip().lower()
        )

    def may_sign_in(self, view: RequestView) -> bool:
        """Whether a request may have the endpoints set the cookies without a cookie credential
        (login, signup, a body's refresh token): no ``Origin`` (not a browser's), ours, or a
        JSON body or the CSRF header (which another origin can send only after a CORS preflight
        the app allowed)."""
        if "origin" not in view.headers or self.origin_ok(view) or self.csrf_header in view.headers:
            return True
        types = view.headers.get("content-type", ())
        media = types[0].partition(";")[0].strip().lower() if len(types) == 1 else ""
        # A form of another site can send text/plain, urlencoded or multipart, never JSON.
        return media == "application/json" or media.endswith("+json")

    def _entry(self, table: str, session: str) -> str:
        tag = hmac.new(self._key, b"tag\0" + table.encode(), hashlib.sha256).digest()
        mac = hmac.new(
            self._key, b"csrf\0" + table.encode() + b"\0" + session.encode(), hashlib.sha256
        ).digest()
        return _b64(tag)[:_TAG] + _b64(mac[:16])

    def csrf_ok(self, view: RequestView, table: str, session: str | None) -> bool:
        """The signed double submit (OWASP): the header and the CSRF cookie both hold the
        entry signed for ``table``'s ``session`` -- a value a page of another site (or a cookie
        a sibling subdomain planted) cannot know."""
        sent = view.headers.get(self.csrf_header, ())
        if session is None or len(sent) != 1 or len(sent[0]) > _MAX_CSRF:
            return False  # a token outside any session (gate.issue) cannot be bound to one
        expected = self._entry(table, session)
        cookies = parse_cookies(view.headers.get("cookie", ())).get(self.config.csrf_cookie, [])
        # Every CSRF cookie sent is tried: one planted beside ours cannot hold a signed entry
        # for this session, so it can neither pass nor (unlike an access cookie) mislead.
        return _holds(sent[0].strip(), expected) and any(_holds(c, expected) for c in cookies)

    # -- writing ---------------------------------------------------------------------------

    def csrf_value(self, view: RequestView, table: str, session: str | None) -> str:
        """The CSRF cookie after ``table`` issues ``session`` (None: ends it): the entries of
        the other tables signed in in this browser, kept, and this table's replaced."""
        tag = self._entry(table, "")[:_TAG]
        kept: list[str] = []
        for value in parse_cookies(view.headers.get("cookie", ())).get(self.config.csrf_cookie, []):
            for entry in value.split(".")[:_MAX_ENTRIES]:
                # Only entries of our other tables: junk a sibling host planted in a jwe_csrf
                # cookie is not copied into ours (which the page echoes in a header).
                ok = _ENTRY_CHARS.fullmatch(entry) and entry[:_TAG] in self._tags - {tag}
                if ok and entry not in kept:
                    kept.append(entry)
        if session is not None:
            kept.append(self._entry(table, session))
        return ".".join(kept[-_MAX_ENTRIES:])

    def _set(self, name: str, value: str, max_age: int, path: str, *, http_only: bool) -> str:
        c = self.config
        parts = [f"{name}={value}", f"Max-Age={max(0, max_age)}", f"Path={path}"]
        if c.domain is not None:
            parts.append(f"Domain={c.domain}")
        if c.secure:
            parts.append("Secure")
        if http_only:
            parts.append("HttpOnly")  # no script -- an XSS included -- can read the token
        parts.append(f"SameSite={_SAMESITE[c.samesite]}")
        return "; ".join(parts)

    def _csrf_age(self, csrf: str, ttl: int, *, mine: int = 0) -> int:
        # Holding other tables' entries too, the cookie must outlive their sessions: a shorter
        # table's login or logout would otherwise strand their refresh cookies (refresh and
        # logout by cookie need the token).
        return max(ttl, self._csrf_ttl) if csrf.count(".") + 1 > mine else ttl

    def refresh_path(self, issued: Issued) -> str:
        # The refresh cookie's Path is the auth prefix that issued it (or the configured
        # refresh_path): the browser then sends it only to that prefix's refresh and logout
        # (and its siblings), never with the app's own requests, where it could leak to logs.
        if self.config.refresh_path is not None:
            return self.config.refresh_path
        view, suffix = issued.view, "/" + issued.endpoint
        prefix = view.path[: -len(suffix)] if view.path.endswith(suffix) else ""
        path = (view.root.rstrip("/") + prefix) or "/"
        return path if _PATH.fullmatch(path) else "/"

    def write(self, response: Response, issued: Issued) -> Response:
        """Set (or, when ``issued.access`` is None, clear) the table's three cookies on
        ``response``; a token pair's JSON body also gets ``csrfToken``."""
        access_name, refresh_name = self._names[issued.table]
        path, rpath = self.config.path, self.refresh_path(issued)
        # Refresh and logout by cookie need the CSRF cookie too: it must reach the auth prefix
        # as well as ``path`` (their common parent; "/" unless both are under one prefix).
        cpath = _common_path(path, rpath)
        if issued.access is None or issued.refresh is None:
            csrf = self.csrf_value(issued.view, issued.table, None)
            cookies = [
                self._set(access_name, "", 0, path, http_only=True),
                self._set(refresh_name, "", 0, rpath, http_only=True),
                self._set(
                    self.config.csrf_cookie,
                    csrf,
                    self._csrf_age(csrf, issued.refresh_ttl) if csrf else 0,
                    cpath,
                    http_only=False,
                ),
            ]
            return replace(
                response, headers=(*response.headers, *(("set-cookie", c) for c in cookies))
            )
        csrf = self.csrf_value(issued.view, issued.table, issued.session)
        cookies = [
            self._set(access_name, issued.access, issued.access_ttl, path, http_only=True),
            self._set(refresh_name, issued.refresh, issued.refresh_ttl, rpath, http_only=True),
            # Readable by the page's scripts, which echo it in the CSRF header.
            self._set(
                self.config.csrf_cookie,
                csrf,
                self._csrf_age(csrf, issued.refresh_ttl, mine=1),
                cpath,
                http_only=False,
            ),
        ]
        headers = [h for h in response.headers if h[0] != "content-length"]
        body = response.body
        if response.status == 200 and body:
            # A page of another origin cannot read this origin's cookie: it gets the token here.
            data = json.loads(body)
            data["csrfToken"] = csrf
            body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        headers.append(("content-length", str(len(body))))
        headers += [("set-cookie", c) for c in cookies]
        return Response(response.status, tuple(headers), body)


def _common_path(a: str, b: str) -> str:
    """The longest path both ``a`` and ``b`` path-match (RFC 6265 §5.1.4), by whole segments."""
    common: list[str] = []
    for x, y in zip(a.rstrip("/").split("/"), b.rstrip("/").split("/"), strict=False):
        if x != y:
            break
        common.append(x)
    return "/".join(common) or "/"


def _holds(value: str, expected: str) -> bool:
    """Whether ``value`` (entries joined by dots) holds ``expected``, compared in constant
    time per entry (the number of entries is public: the value came from the client)."""
    found = False
    for entry in value.split(".")[:_MAX_ENTRIES]:
        found |= hmac.compare_digest(entry.encode(), expected.encode())
    return found
