"""Django requests and responses as the gate reads and writes them: ``HttpRequest`` ->
:class:`~jwe_gate.types.RequestView`, the gate's :class:`Response` -> ``HttpResponse``."""

from __future__ import annotations

from collections.abc import Iterable
from http.cookies import CookieError, Morsel
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException

from ..._asgi import collect_headers
from ..._sansio.http import Response, body_fits
from ..._sansio.request import RequestView
from ..._wsgi import environ_headers, environ_keys

__all__ = ["HeaderReader", "read_body", "script_prefix", "to_django"]


class HeaderReader:
    """Builds the :class:`RequestView` of a Django request for a set of header names (those the
    gate's transports read), computed once."""

    __slots__ = ("_keys", "_wanted")

    def __init__(self, names: Iterable[str]) -> None:
        names = tuple(names)
        self._wanted = frozenset(n.encode("latin-1") for n in names)
        self._keys = environ_keys(names)

    def view(self, request: HttpRequest) -> RequestView:
        """The view of ``request`` on the path Django routes on.

        ``path_info`` is what Django's URL resolver matches (after ``SCRIPT_NAME`` or
        ``FORCE_SCRIPT_NAME`` is taken off); the core reads it every plausible way (case,
        ``;params``, ``//``, percent-decoding once more). ``request.path`` is not a reading:
        nothing in Django routes on it, and with a script prefix every path it spells would
        meet the default rule instead of the rules written for the routes.
        """
        scope = getattr(request, "scope", None)
        if isinstance(scope, dict) and "headers" in scope:
            # ASGI: the raw header list, so a repeated header is seen (Django's META joins
            # repeats with commas and drops names with underscores).
            headers = collect_headers(scope["headers"], self._wanted)
        else:
            headers = environ_headers(request.META, self._keys)
        meta = request.META
        return RequestView(
            # Upper-cased as Django compares it (a view's `require_GET` and the router alike).
            (request.method or "GET").upper(),
            request.path_info or "/",
            headers,
            str(meta.get("QUERY_STRING", "")),
            meta.get("REMOTE_ADDR") or None,
        )


def script_prefix(request: HttpRequest) -> str:
    """The prefix Django took off the path (``SCRIPT_NAME``, ``FORCE_SCRIPT_NAME``, ASGI
    ``root_path``): ``request.path`` without ``request.path_info``."""
    path, info = request.path or "", request.path_info or ""
    if info and len(path) > len(info) and path.endswith(info):
        return path[: -len(info)]
    return ""


def read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` bytes (read no further)."""
    length = request.META.get("CONTENT_LENGTH") or ""
    if length and not body_fits(str(length), limit):
        return None  # refused before reading a byte
    try:
        # request.body, not the stream: a middleware above may have read it already.
        body = bytes(request.body)
    except RawPostDataException:
        return b""  # consumed as a form upload: not a JSON body an endpoint could read
    return None if len(body) > limit else body


class _RawCookie(Morsel[str]):
    """A ``Set-Cookie`` line kept exactly as the gate wrote it. Django's handlers send every
    entry of ``response.cookies`` as its own header line with ``output()``, the only way an
    ``HttpResponse`` sends a header more than once."""

    _line: str

    @classmethod
    def of(cls, line: str) -> _RawCookie:
        morsel = cls()
        name, _, rest = line.partition("=")
        value = rest.split(";", 1)[0].strip()
        try:
            morsel.set(name.strip(), value, value)
        except CookieError:  # a name Python's cookies refuse: the line still goes out as is
            morsel.set("cookie", "", "")
        morsel._line = line
        return morsel

    def OutputString(self, attrs: Any = None) -> str:
        return self._line

    # Copied or pickled (Django's cache middleware pickles responses), it stays the same line.
    def copy(self) -> _RawCookie:
        return _RawCookie.of(self._line)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _RawCookie.of, (self._line,)


def to_django(resp: Response) -> HttpResponse:
    """The gate's response as an ``HttpResponse``, every header line kept: repeated
    ``Set-Cookie`` lines each become a cookie entry (sent as separate lines, never joined),
    other repeated headers are joined with ``, `` as RFC 9110 §5.3 allows."""
    out = HttpResponse(resp.body, status=resp.status)
    del out["Content-Type"]  # only the gate's own headers, no text/html default
    seen: set[str] = set()
    for name, value in resp.headers:
        lower = name.lower()
        if lower == "set-cookie":
            cookie = _RawCookie.of(value)
            key, n = cookie.key, 1
            while key in out.cookies:  # two lines for one name (two paths): keep both
                n += 1
                key = f"{cookie.key}#{n}"
            dict.__setitem__(out.cookies, key, cookie)
        elif lower in seen:
            out.headers[name] = f"{out.headers[name]}, {value}"
        else:
            seen.add(lower)
            out.headers[name] = value
    return out
